"""Fixtures of the real-time tests: a fresh channel layer for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """Each test gets its own layer object: no groups or buffers left by another test
    (whose event loop is gone). On Redis the run's own prefix is flushed afterwards."""
    channel_layers.backends.clear()
    yield
    layer = channel_layers.backends.get("default")
    channel_layers.backends.clear()
    if layer is not None and hasattr(layer, "flush") and layer.__class__.__module__.startswith("channels_redis"):
        from asgiref.sync import async_to_sync

        async_to_sync(layer.flush)()
