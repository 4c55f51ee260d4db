"""The one function every capability calls to publish a domain event.

It is called inside the database transaction that made the change, so subscribers that
record the event (the webhooks outbox) commit or roll back with it. Subscribers register
in their AppConfig.ready(); anything that must only happen after commit (sockets, tasks)
uses transaction.on_commit itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Subscriber = Callable[[str, dict[str, Any]], None]

_subscribers: list[Subscriber] = []


def event_subscribe(subscriber: Subscriber) -> None:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def event_unsubscribe(subscriber: Subscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def event_publish(*, event: str, data: dict[str, Any]) -> None:
    for subscriber in list(_subscribers):
        subscriber(event, data)
