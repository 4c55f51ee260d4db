"""Idempotency-Key handling for POST requests (SPEC §2).

The first request with a key claims it by inserting a row; its response is stored there
and replayed to every retry with the same key and body. A different body under the same
key, or a retry while the first is still running, is a 409. Only a success is kept: an
error (a 422 for a field, a 404, a 5xx) changed nothing, every write being one transaction,
so it releases the key and the client may send the corrected request under the same key.
Keys belong to the caller and expire after IDEMPOTENCY_KEY_TTL. A streamed answer (POST
/chat/stream) is kept once the whole of it has been sent, and replayed as one body; a stream
the client left halfway releases the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from rest_framework.request import Request

from apps.core.exceptions import BadRequest, Conflict
from apps.core.models import IdempotencyKey
from apps.core.ratelimit import caller_bucket

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255


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
                expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL),
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
    _keep(record, response.status_code, _redacted(content, redact) if redact else content, response)


def _keep(record: IdempotencyKey, status: int, content: bytes, response: Any) -> None:
    record.status_code = status
    record.response_body = content
    record.content_type = response.get("Content-Type", "application/json")
    record.save(update_fields=["status_code", "response_body", "content_type"])


def _kept_once_sent(record: IdempotencyKey, response: StreamingHttpResponse) -> Any:
    """The response's stream, unchanged; what it sent is kept once it has all been sent, and
    the key is released if it ends before (the client left, the server stopped)."""
    source, status = response.streaming_content, response.status_code

    def settle(sent: list[bytes], whole: bool) -> None:
        if whole:
            _keep(record, status, b"".join(sent), response)
        else:
            record.delete()

    if response.is_async:

        async def relay() -> AsyncIterator[bytes]:
            sent: list[bytes] = []
            whole = False
            try:
                async with aclosing(source) as parts:  # type: ignore[type-var]
                    async for part in parts:
                        sent.append(part)
                        yield part
                whole = True
            finally:
                # Shielded: a client that left cancels the task that runs this.
                await asyncio.shield(sync_to_async(settle)(sent, whole))

        return relay()

    def relay_sync() -> Iterator[bytes]:
        sent: list[bytes] = []
        whole = False
        try:
            for part in source:  # type: ignore[union-attr]
                sent.append(part)
                yield part
            whole = True
        finally:
            settle(sent, whole)

    return relay_sync()


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
