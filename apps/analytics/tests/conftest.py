from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.core.events import event_subscribe, event_unsubscribe


@pytest.fixture
def captured_events() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every event published while the test runs; unsubscribed afterwards."""
    events: list[tuple[str, dict[str, Any]]] = []

    def capture(event: str, data: dict[str, Any]) -> None:
        events.append((event, data))

    event_subscribe(capture)
    try:
        yield events
    finally:
        event_unsubscribe(capture)
