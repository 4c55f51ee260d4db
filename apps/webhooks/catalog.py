"""The events an endpoint may subscribe to (SPEC §8 and seed 004)."""

from __future__ import annotations

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "concern.created",
        "concern.updated",
        "chat.escalated",
        "chat.message",
        "chat.completed",
        "analytics.threshold",
        "document.created",
        "document.updated",
        "file.uploaded",
        "file.processed",
        "knowledge.added",
        "investigation.completed",
    }
)
PING = "webhook.ping"


def pattern_is_valid(pattern: str) -> bool:
    """An event name, ``group.*`` for a whole group, or ``*`` for everything."""
    if pattern == "*" or pattern in EVENT_TYPES:
        return True
    if pattern.endswith(".*"):
        group = pattern[:-2]
        return any(name.startswith(group + ".") for name in EVENT_TYPES)
    return False


def matches(patterns: list[str], event: str) -> bool:
    if not isinstance(patterns, list):  # as the SQL of apps/webhooks/statements.py: only a list subscribes
        return False
    for pattern in patterns:
        if not isinstance(pattern, str):
            continue
        if pattern == "*" or pattern == event:
            return True
        if pattern.endswith(".*") and event.startswith(pattern[:-1]):
            return True
    return False
