"""Writes for webhooks: endpoints, the outbox, and delivery attempts with their retry schedule."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.core.exceptions import Conflict
from apps.webhooks import dispatch, signing, statements, transport
from apps.webhooks.catalog import PING, matches, pattern_is_valid
from apps.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Event
from apps.webhooks.secrets_box import secret_decrypt, secret_encrypt, secret_generate

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 86400
DISABLE_AFTER = timedelta(days=5)

# --- endpoints -------------------------------------------------------------------------


def _check_url(url: str) -> None:
    try:
        transport.resolve(url)
    except transport.BlockedDestination as exc:
        raise ValidationError({"url": [str(exc)]}) from None


def _check_events(events: list[str]) -> list[str]:
    unknown = [name for name in events if not pattern_is_valid(name)]
    if unknown:
        raise ValidationError({"events": [f"Unknown event: {name}." for name in unknown]})
    if not events:
        raise ValidationError({"events": ["Subscribe to at least one event."]})
    return list(dict.fromkeys(events))


def endpoint_create(
    *, owner: User, url: str, events: list[str], secret: str | None = None, description: str = ""
) -> tuple[Endpoint, str]:
    """The endpoint and its signing secret (generated as ``whsec_...`` when not given)."""
    _check_url(url)
    secret = secret or secret_generate()
    endpoint = Endpoint.objects.create(
        owner=owner,
        url=url,
        events=_check_events(events),
        description=description,
        secret_encrypted=secret_encrypt(secret),
    )
    return endpoint, secret


def endpoint_update(*, endpoint: Endpoint, data: dict[str, Any]) -> Endpoint:
    if "url" in data:
        _check_url(data["url"])
        endpoint.url = data["url"]
    if "events" in data:
        endpoint.events = _check_events(data["events"])
    if "description" in data:
        endpoint.description = data["description"]
    if "active" in data:
        endpoint.active = data["active"]
        if data["active"]:
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
    endpoint.updated_at = timezone.now()
    endpoint.save()
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint, secret: str | None = None) -> str:
    secret = secret or secret_generate()
    endpoint.secret_encrypted = secret_encrypt(secret)
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    return secret


def endpoint_delete(*, endpoint: Endpoint) -> None:
    endpoint.delete()


def endpoint_secret(endpoint: Endpoint) -> str:
    return secret_decrypt(endpoint.secret_encrypted)


# --- the outbox ------------------------------------------------------------------------


def _queue_after_commit(ids: list[uuid.UUID]) -> None:
    if ids:
        transaction.on_commit(lambda: dispatch.enqueue(ids))


def event_record(event: str, data: dict[str, Any]) -> Event:
    """Subscriber of apps.core.events: runs inside the publisher's transaction, so the event
    and its deliveries commit (or vanish) with the change; sending starts after commit."""
    now = timezone.now()
    if statements.available():
        record = Event(type=event, data=data, created_at=now)
        template = Delivery(event=record, next_attempt_at=now, enqueued_at=now, created_at=now)
        _queue_after_commit(statements.event_record(record=record, delivery=template))
        record._state.adding, record._state.db = False, connection.alias
        return record
    record = Event.objects.create(type=event, data=data, created_at=now)
    deliveries = [
        Delivery(endpoint=endpoint, event=record, next_attempt_at=now, enqueued_at=now, created_at=now)
        for endpoint in Endpoint.objects.filter(active=True).only("id", "events")
        if matches(endpoint.events, event)
    ]
    Delivery.objects.bulk_create(deliveries)
    _queue_after_commit([delivery.id for delivery in deliveries])
    return record


@transaction.atomic
def _refuse_if_inactive(endpoint: Endpoint) -> None:
    """A disabled endpoint (switched off, or by a 410 from its receiver) is sent nothing: a
    delivery queued for it would only turn 'failed' without an attempt."""
    if not endpoint.active:
        raise Conflict("This webhook is disabled; set active to true to send to it again.")


def endpoint_ping(*, endpoint: Endpoint) -> Delivery:
    _refuse_if_inactive(endpoint)
    now = timezone.now()
    record = Event.objects.create(
        type=PING, data={"endpoint_id": str(endpoint.pk), "message": "Test event from CitizenAI"}, created_at=now
    )
    delivery = Delivery.objects.create(endpoint=endpoint, event=record, next_attempt_at=now, enqueued_at=now)
    _queue_after_commit([delivery.id])
    return delivery


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send again from a fresh schedule, under the same webhook-id."""
    _refuse_if_inactive(delivery.endpoint)
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING,
        attempt_count=0,
        next_attempt_at=now,
        enqueued_at=now,
        lease_until=None,
        completed_at=None,
    )
    _queue_after_commit([delivery.id])
    delivery.refresh_from_db()
    return delivery


# --- sending ---------------------------------------------------------------------------


def retry_delay(*, attempts_made: int) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failures, None when done."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts_made >= len(schedule):
        return None
    base = schedule[attempts_made]
    return base * random.uniform(0.9, 1.1) if base else 0.0


@contextmanager
def _bookkeeping() -> Iterator[None]:
    """One transaction for a worker's own writes (lease, attempt, outcome). On PostgreSQL it
    commits without waiting for the WAL flush: a commit lost in a database crash only means
    the delivery is sent again, which at-least-once allows; the outbox itself (Event and
    Delivery rows, written in the publisher's transaction) keeps full durability."""
    asynchronous = statements.available() and not connection.in_atomic_block
    with transaction.atomic():
        if asynchronous:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def _claim(delivery_id: uuid.UUID) -> Delivery | None:
    """The delivery with its endpoint and event, leased to this worker, if it is due and
    nobody else holds it."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    if statements.available():
        return statements.delivery_claim(delivery_id=delivery_id, now=now, lease=lease)
    with _bookkeeping():
        claimed = (
            Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=lease)
        )
        return Delivery.objects.select_related("endpoint", "event").get(pk=delivery_id) if claimed else None


def delivery_attempt(*, delivery_id: uuid.UUID) -> str:
    """Try one delivery once if it is due and nobody else holds it. Returns the outcome."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.active:
        with _bookkeeping():
            _finish(delivery, DeliveryStatus.FAILED, error="endpoint disabled")
        return "failed"
    secret = endpoint_secret(endpoint)
    timestamp = event.created_at.isoformat().replace("+00:00", "Z")
    body = signing.build_body(secret=secret, event=event.type, data=event.data, timestamp=timestamp)
    headers = signing.signature_headers(
        secret=secret, message_id=delivery.message_id, timestamp=int(time.time()), body=body
    )
    result = transport.post(endpoint.url, body, headers)
    attempt = Attempt(
        delivery=delivery,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        response_excerpt=result.excerpt,
        error=result.error[:500],
    )
    if _succeeded(result) and endpoint.failing_since is None and statements.available():
        # The common case, in one statement; anything that touches the endpoint goes below.
        changes = _finished(delivery, DeliveryStatus.SUCCEEDED, code=result.status_code)
        statements.delivery_record(delivery=delivery, attempt=attempt, changes=changes)
        return "succeeded"
    with _bookkeeping():  # the attempt and its outcome commit together
        attempt.save(force_insert=True)
        return _record_outcome(delivery, endpoint, result)


def _succeeded(result: transport.Result) -> bool:
    return result.status_code is not None and 200 <= result.status_code < 300


def _record_outcome(delivery: Delivery, endpoint: Endpoint, result: transport.Result) -> str:
    code = result.status_code
    if _succeeded(result):
        _finish(delivery, DeliveryStatus.SUCCEEDED, code=code)
        if endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return "succeeded"
    if code == 410:
        _finish(delivery, DeliveryStatus.FAILED, code=code, error="410 Gone: endpoint disabled")
        _endpoint_disable(endpoint, "The receiver answered 410 Gone.")
        return "failed"
    return _schedule_retry(delivery, endpoint, result)


def _finished(delivery: Delivery, status: str, *, code: int | None = None, error: str = "") -> dict[str, Any]:
    """The changes that close a delivery."""
    return {
        "status": status,
        "attempt_count": delivery.attempt_count + (0 if error == "endpoint disabled" else 1),
        "last_status_code": code,
        "last_error": error[:500],
        "completed_at": timezone.now(),
        "next_attempt_at": None,
        "lease_until": None,
        "enqueued_at": None,
    }


def _finish(delivery: Delivery, status: str, *, code: int | None = None, error: str = "") -> None:
    Delivery.objects.filter(pk=delivery.pk).update(**_finished(delivery, status, code=code, error=error))


def _schedule_retry(delivery: Delivery, endpoint: Endpoint, result: transport.Result) -> str:
    now = timezone.now()
    attempts = delivery.attempt_count + 1
    delay = retry_delay(attempts_made=attempts)
    if delay is not None and result.status_code in (429, 503) and result.retry_after is not None:
        delay = min(max(result.retry_after, 1.0), MAX_RETRY_AFTER_SECONDS)
    error = result.error or f"HTTP {result.status_code}"
    if result.status_code is not None and 300 <= result.status_code < 400:
        error = f"HTTP {result.status_code}: redirects are not followed"
    if delay is None:
        _finish(delivery, DeliveryStatus.FAILED, code=result.status_code, error=error)
        outcome = "failed"
    else:
        Delivery.objects.filter(pk=delivery.pk).update(
            attempt_count=attempts,
            last_status_code=result.status_code,
            last_error=error[:500],
            next_attempt_at=now + timedelta(seconds=delay),
            lease_until=None,
            enqueued_at=None,
        )
        outcome = "retrying"
        if delay <= settings.WEBHOOK_INLINE_RETRY_SECONDS:
            pk = delivery.pk
            transaction.on_commit(lambda: dispatch.enqueue_later([pk], delay))
    if endpoint.failing_since is None:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    elif now - endpoint.failing_since >= DISABLE_AFTER:
        _endpoint_disable(endpoint, "Every attempt failed for 5 days.")
    return outcome


def _endpoint_disable(endpoint: Endpoint, reason: str) -> None:
    updated = Endpoint.objects.filter(pk=endpoint.pk, active=True).update(active=False, disabled_reason=reason)
    if not updated:
        return
    logger.warning("Webhook endpoint %s disabled: %s", endpoint.pk, reason, extra={"endpoint_id": str(endpoint.pk)})
    owner = User.objects.filter(pk=endpoint.owner_id).first()
    if owner is not None and owner.email:
        transaction.on_commit(
            lambda: send_mail(
                subject="CitizenAI: a webhook endpoint was disabled",
                message=f"Your webhook endpoint {endpoint.url} was disabled. {reason}\n"
                "Fix the receiver, then re-enable it (PUT /api/v1/webhooks/{id} with active=true) "
                "and redeliver what it missed.",
                from_email=None,
                recipient_list=[owner.email],
                fail_silently=True,
            )
        )


def deliveries_sweep(*, limit: int = 5000) -> int:
    """Queue due deliveries that no task holds: retries whose time has come and anything a
    lost task or broker outage left behind. Returns how many were queued.

    A delivery queued longer than WEBHOOK_ORPHAN_SECONDS ago counts as orphaned only while
    the broker holds no backlog: when tasks still wait there, it is most likely among them,
    and queuing it again would only add a duplicate task behind it. (Without this, a backlog
    that takes longer than that to drain got every waiting delivery queued again every
    WEBHOOK_ORPHAN_SECONDS; the queue grew faster than the workers could skip the copies.)"""
    now = timezone.now()
    orphaned = now - timedelta(seconds=settings.WEBHOOK_ORPHAN_SECONDS)
    unqueued = Q(enqueued_at__isnull=True)
    if not dispatch.backlog():
        unqueued |= Q(enqueued_at__lt=orphaned)
    ids = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(unqueued)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    if ids:
        Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
        dispatch.enqueue(ids)
    return len(ids)


def events_purge(*, older_than_days: int = 30) -> int:
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).exclude(deliveries__status=DeliveryStatus.PENDING).delete()
    return deleted
