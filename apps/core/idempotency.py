"""Idempotency-Key handling for POST requests (SPEC §2).

The first request with a key claims it by inserting a row; its response is stored there
and replayed to every retry with the same key and body. A different body under the same
key, or a retry while the first is still running, is a 409. Only a success is kept: an
error (a 422 for a field, a 404, a 5xx) changed nothing, every write being one transaction,
so it releases the key and the client may send the corrected request under the same key.
Keys belong to the caller and expire after IDEMPOTENCY_KEY_TTL. While the first request
runs, its claim holds for CLAIM_LEASE_SECONDS only, so a request that never finishes (the
process died, the client left before a stream began) frees its key within minutes.

A streamed answer (POST /chat/stream) says how far it got (StreamProgress): one that
completed is kept as sent and replayed as one body; one that stopped after it had written
something (the client left, a failure in-band) is kept as a 409 pointing at the
conversation, since sending it again would ask twice; one that wrote nothing releases the
key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from rest_framework.request import Request

from apps.core.context import current_request_id
from apps.core.envelope import error_body
from apps.core.exceptions import BadRequest, Conflict
from apps.core.models import IdempotencyKey
from apps.core.ratelimit import caller_bucket

logger = logging.getLogger(__name__)

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255
CLAIM_LEASE_SECONDS = 300  # longer than any request here runs, LLM answers included


@dataclass
class StreamProgress:
    """Set by a streaming view as its stream goes: ``committed`` once it has written
    something a retry must not write again, ``complete`` once all of it was sent."""

    committed: bool = False
    complete: bool = False


class Replay(Exception):
    def __init__(self, record: IdempotencyKey) -> None:
        self.record = record


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str, separators=(",", ":"))
    raw = f"{request.method} {request.path}\n{body}"
    # Keyed, because bodies may hold passwords: a database dump must not allow guessing them.
    return hmac.new(settings.CREDENTIAL_HASH_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()


def idempotency_claim(*, request: Request) -> IdempotencyKey | None:
    """Claim the request's key, or raise Replay / Conflict. None when no key was sent."""
    django_request = request._request  # DRF's attribute proxy costs an exception per miss
    key = django_request.META.get(HEADER)
    if django_request.method != "POST" or key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(details={"Idempotency-Key": [f"Must be 1 to {MAX_KEY_LENGTH} characters."]})
    _, principal = caller_bucket(request)
    fingerprint = _fingerprint(request)
    now = timezone.now()
    IdempotencyKey.objects.filter(principal=principal, key=key, expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                principal=principal,
                key=key,
                method=request.method,
                path=request.path[:500],
                fingerprint=fingerprint,
                expires_at=now + timedelta(seconds=min(CLAIM_LEASE_SECONDS, settings.IDEMPOTENCY_KEY_TTL)),
            )
    except IntegrityError:
        existing = IdempotencyKey.objects.filter(principal=principal, key=key).first()
        if existing is None:  # released by a failing first request in the meantime
            raise Conflict("A request with this Idempotency-Key is being retried; try again.") from None
    if existing.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was used with a different request.",
            {"Idempotency-Key": ["Reused with a different method, path or body."]},
        )
    if existing.status_code is None:
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    raise Replay(existing)


def _redacted(content: bytes, redact: tuple[str, ...]) -> bytes:
    try:
        body = json.loads(content)
    except ValueError:
        return content
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not any(name in data for name in redact):
        return content
    for name in redact:
        if name in data:
            data[name] = None
    body["message"] = "This is a replay: secrets are shown only in the first response."
    return json.dumps(body, separators=(",", ":")).encode()


def idempotency_store(*, record: IdempotencyKey, response: Any, redact: tuple[str, ...] = ()) -> None:
    if response.status_code >= 400:
        record.delete()
        return
    if isinstance(response, StreamingHttpResponse):
        response.streaming_content = _kept_once_sent(record, response)
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    content = bytes(response.content)
    content_type = response.get("Content-Type", "application/json")
    _keep(record, response.status_code, _redacted(content, redact) if redact else content, content_type)


def _keep(record: IdempotencyKey, status: int, content: bytes, content_type: str) -> None:
    """Stores the answer on the claim, if the claim is still this request's: one that ran
    past its lease may have been taken over by a retry, whose answer is the one to keep."""
    kept = IdempotencyKey.objects.filter(pk=record.pk, status_code__isnull=True).update(
        status_code=status,
        response_body=content,
        content_type=content_type,
        expires_at=timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL),
    )
    if not kept:
        logger.warning("An Idempotency-Key claim ran past its lease; its answer is not kept")


def _renew(record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk, status_code__isnull=True).update(
        expires_at=timezone.now() + timedelta(seconds=CLAIM_LEASE_SECONDS)
    )


def _interrupted(request_id: str) -> bytes:
    body = error_body(
        "CONFLICT",
        "The first request with this Idempotency-Key stopped after its message was stored; "
        "read the conversation's history instead of sending it again.",
    )
    body["metadata"]["request_id"] = request_id  # the first request's, as every replay has
    return json.dumps(body, separators=(",", ":")).encode()


def _kept_once_sent(record: IdempotencyKey, response: StreamingHttpResponse) -> Any:
    """The response's stream, unchanged, settling the key when it ends (the module's
    docstring says how) and renewing the claim while it runs. A stream from a sync iterator
    (none here) releases it at once."""
    if not response.is_async:
        record.delete()
        return response.streaming_content
    source, status = response.streaming_content, response.status_code
    content_type = response.get("Content-Type", "text/event-stream")
    progress: StreamProgress | None = getattr(response, "stream_progress", None)
    request_id = current_request_id()  # gone from the context by the time the stream ends

    def settle(sent: list[bytes], whole: bool) -> None:
        # Without a StreamProgress, a stream is taken to have written something from the start.
        complete, committed = (progress.complete, progress.committed) if progress else (whole, True)
        if complete:
            _keep(record, status, b"".join(sent), content_type)
        elif committed:
            _keep(record, 409, _interrupted(request_id), "application/json")
        else:
            record.delete()

    async def relay() -> AsyncIterator[bytes]:
        sent: list[bytes] = []
        whole = False
        renewed = time.monotonic()
        try:
            async with aclosing(source) as parts:  # type: ignore[type-var]
                async for part in parts:
                    sent.append(part)
                    if time.monotonic() - renewed > CLAIM_LEASE_SECONDS / 3:
                        renewed = time.monotonic()
                        await sync_to_async(_renew)(record)
                    yield part
            whole = True
        finally:
            # Shielded: a client that left cancels the task that runs this.
            await asyncio.shield(sync_to_async(settle)(sent, whole))

    return relay()


def idempotency_replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.status_code or 200,
        content_type=record.content_type or "application/json",
    )
    response["Idempotent-Replayed"] = "true"
    return response


def idempotency_purge_expired() -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
