from __future__ import annotations

from typing import Any

from apps.concerns.models import Concern


def concern_event_payload(concern: Concern) -> dict[str, Any]:
    """The public facts of a concern carried by concern.* events (no contact data)."""
    return {
        "concern_id": str(concern.pk),
        "tracking_number": concern.tracking_number,
        "title": concern.title,
        "category": concern.category.code,
        "priority": concern.priority,
        "status": concern.status,
        "submitted_by": str(concern.submitted_by_id) if concern.submitted_by_id else None,
        "assigned_to": str(concern.assigned_to_id) if concern.assigned_to_id else None,
        "last_updated": concern.last_updated.isoformat().replace("+00:00", "Z"),
    }
