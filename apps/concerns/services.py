"""Writes for concerns: creation with tracking numbers, the status workflow, attachments,
soft delete. Every change records a timeline entry and publishes its event in the same
transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.concerns import attachments as attachment_checks
from apps.concerns.duplicates import find_duplicates
from apps.concerns.events import concern_event_payload
from apps.concerns.models import (
    TRANSITIONS,
    Attachment,
    Category,
    Concern,
    ConcernUpdate,
    DuplicateLink,
    Status,
    TrackingSequence,
)
from apps.core.events import event_publish

MAX_ATTACHMENTS_PER_CONCERN = 10


def tracking_number_next(*, year: int) -> str:
    """The next TRK-YYYY-NNNNNN of the year. Must run inside the creating transaction:
    the sequence row stays locked until it commits, so numbers are unique and gapless."""
    TrackingSequence.objects.get_or_create(year=year)  # no-op after the first create of a year
    sequence = TrackingSequence.objects.select_for_update().get(year=year)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return f"TRK-{year}-{sequence.last_value:06d}"


def _author_name(user: User | None) -> str:
    return user.username if user is not None else "system"


def _timeline(*, concern: Concern, status: str, message: str, actor: User | None, at: datetime) -> ConcernUpdate:
    return ConcernUpdate.objects.create(
        concern=concern,
        status=status,
        message=message,
        updated_by=actor,
        updated_by_name=_author_name(actor),
        timestamp=at,
    )


def concern_create(
    *,
    title: str,
    description: str,
    category: Category,
    priority: str = "medium",
    location: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    contact: dict[str, str] | None = None,
    anonymous: bool = False,
    submitted_by: User | None = None,
    source: str = "api",
    files: list[UploadedFile] | None = None,
    attributes: dict[str, Any] | None = None,
) -> Concern:
    if not category.active:
        raise ValidationError({"category": ["This category is not accepting new concerns."]})
    files = files or []
    if len(files) > MAX_ATTACHMENTS_PER_CONCERN:
        raise ValidationError({"attachments": [f"At most {MAX_ATTACHMENTS_PER_CONCERN} files per concern."]})
    checked = [attachment_checks.check_upload(upload) for upload in files]  # 413/415 before any write
    contact = contact or {}
    now = timezone.now()
    for attempt in range(3):
        try:
            with attachment_checks.files_removed_on_error() as saved, transaction.atomic():
                concern = Concern.objects.create(
                    tracking_number=tracking_number_next(year=now.year),
                    title=title,
                    description=description,
                    category=category,
                    priority=priority,
                    location=location,
                    latitude=latitude,
                    longitude=longitude,
                    contact_name=contact.get("name", ""),
                    contact_email=contact.get("email", ""),
                    contact_phone=contact.get("phone", ""),
                    anonymous=anonymous,
                    submitted_by=submitted_by,
                    source=source,
                    attributes=attributes or {},
                    submitted_at=now,
                    last_updated=now,
                    estimated_resolution=now + category.sla_for(priority),
                )
                _timeline(
                    concern=concern, status=Status.SUBMITTED, message="Concern received.", actor=submitted_by, at=now
                )
                for upload, content_type in checked:
                    _attachment_save(
                        concern=concern, upload=upload, content_type=content_type, actor=submitted_by, saved=saved
                    )
                for match in find_duplicates(concern):
                    DuplicateLink.objects.create(
                        concern=concern,
                        duplicate_of=match.concern,
                        reason=match.reason,
                        distance_m=match.distance_m,
                        similarity=match.similarity,
                    )
                event_publish(event="concern.created", data=concern_event_payload(concern))
                return concern
        except IntegrityError:
            # Two first-of-the-year creates raced to insert the sequence row; the loser retries.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _resolve_assignee(value: Any) -> User | None:
    if value in (None, ""):
        return None
    if isinstance(value, User):
        user: User | None = value
    else:
        text = str(value)
        user = User.objects.filter(username=text).first()
        if user is None:
            try:
                user = User.objects.filter(pk=text).first()
            except (ValueError, ValidationError):
                user = None
    if user is None:
        raise ValidationError({"assigned_to": [f"No user {value!r}."]})
    if user.role not in (Role.STAFF, Role.ADMINISTRATOR) or not user.is_active:
        raise ValidationError({"assigned_to": ["Concerns can only be assigned to active staff."]})
    return user


_UNSET: Any = object()


@transaction.atomic
def concern_update(
    *,
    concern: Concern,
    actor: User | None,
    status: str | None = None,
    priority: str | None = None,
    message: str = "",
    estimated_resolution: datetime | None = None,
    assigned_to: Any = _UNSET,
    internal_notes: str | None = None,
) -> Concern:
    """Apply a staff update. The row is locked so concurrent updates see each other's
    status; an invalid transition is a ValidationError naming ``status``."""
    # of=("self",): lock the concern only, not its category row (which every update would share).
    concern = Concern.objects.select_for_update(of=("self",)).select_related("category").get(pk=concern.pk)
    old_status = concern.status
    changed: list[str] = []
    if status is not None and status != concern.status:
        if status not in TRANSITIONS.get(concern.status, frozenset()):
            allowed = ", ".join(sorted(TRANSITIONS.get(concern.status, ()))) or "none"
            raise ValidationError({"status": [f"Cannot move from {concern.status} to {status}; allowed: {allowed}."]})
        concern.status = status
        concern.resolved_at = (
            timezone.now() if status == Status.RESOLVED else (concern.resolved_at if status == Status.CLOSED else None)
        )
        changed.append("status")
    if priority is not None and priority != concern.priority:
        # A date staff set by hand stays; only the one the SLA gave follows the new priority.
        from_sla = concern.estimated_resolution == concern.submitted_at + concern.category.sla_for(concern.priority)
        concern.priority = priority
        changed.append("priority")
        if estimated_resolution is None and (from_sla or concern.estimated_resolution is None):
            concern.estimated_resolution = concern.submitted_at + concern.category.sla_for(priority)
            changed.append("estimated_resolution")
    if estimated_resolution is not None:
        concern.estimated_resolution = estimated_resolution
        changed.append("estimated_resolution")
    if assigned_to is not _UNSET:
        assignee = _resolve_assignee(assigned_to)
        if assignee != concern.assigned_to:
            concern.assigned_to = assignee
            changed.append("assigned_to")
    if internal_notes is not None and internal_notes != concern.internal_notes:
        concern.internal_notes = internal_notes
        changed.append("internal_notes")
    if not changed and not message:
        return concern
    now = timezone.now()
    concern.last_updated = now
    concern.save()
    # Every public change goes on the timeline (SPEC §4); internal notes stay off it.
    if message or set(changed) - {"internal_notes"}:
        _timeline(
            concern=concern, status=concern.status, message=message or _describe(changed, concern), actor=actor, at=now
        )
    payload = concern_event_payload(concern)
    payload.update({"previous_status": old_status, "changes": sorted(set(changed)), "message": message})
    event_publish(event="concern.updated", data=payload)
    return concern


def _describe(changed: list[str], concern: Concern) -> str:
    if "status" in changed:
        return f"Status changed to {concern.get_status_display().lower()}."
    if "priority" in changed:
        return f"Priority set to {concern.get_priority_display().lower()}."
    if "assigned_to" in changed:
        return "Assigned to a staff member." if concern.assigned_to_id else "Assignment removed."
    if "estimated_resolution" in changed and concern.estimated_resolution is not None:
        return f"Estimated resolution set to {concern.estimated_resolution:%Y-%m-%d %H:%M} UTC."
    return ""


@transaction.atomic
def concern_delete(*, concern: Concern, actor: User) -> None:
    """Soft delete: hidden everywhere, kept for audit, restorable in the admin."""
    Concern.all_objects.filter(pk=concern.pk).update(deleted_at=timezone.now(), deleted_by=actor)


@transaction.atomic
def concern_restore(*, concern: Concern) -> None:
    Concern.all_objects.filter(pk=concern.pk).update(deleted_at=None, deleted_by=None)


def _attachment_save(
    *, concern: Concern, upload: UploadedFile, content_type: str, actor: User | None, saved: list[str]
) -> Attachment:
    attachment = Attachment(
        concern=concern,
        filename=attachment_checks.clean_filename(upload.name or "upload"),
        content_type=content_type,
        size=upload.size or 0,
        uploaded_by=actor,
    )
    attachment.file.save(attachment_checks.storage_name(attachment.id, content_type), upload, save=False)
    saved.append(attachment.file.name)
    attachment.save()
    return attachment


def attachment_add(*, concern: Concern, upload: UploadedFile, actor: User | None) -> Attachment:
    upload, content_type = attachment_checks.check_upload(upload)
    with attachment_checks.files_removed_on_error() as saved, transaction.atomic():
        locked = Concern.objects.select_for_update().get(pk=concern.pk)
        if locked.attachments.count() >= MAX_ATTACHMENTS_PER_CONCERN:
            raise ValidationError({"file": [f"At most {MAX_ATTACHMENTS_PER_CONCERN} files per concern."]})
        attachment = _attachment_save(
            concern=locked, upload=upload, content_type=content_type, actor=actor, saved=saved
        )
        Concern.objects.filter(pk=concern.pk).update(last_updated=timezone.now())
    return attachment
