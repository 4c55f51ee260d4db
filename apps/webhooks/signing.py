"""Payload and signatures: seed 000's body signature, X-CitizenAI-Signature over the exact
body bytes, and the Standard Webhooks headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def build_body(*, secret: str, event: str, data: dict[str, Any], timestamp: str) -> bytes:
    """``{event, data, timestamp, signature}``; ``signature`` signs the canonical JSON of the
    other three, so a receiver can check a stored payload without the raw bytes."""
    unsigned = {"event": event, "data": data, "timestamp": timestamp}
    signature = "sha256=" + hmac_hex(secret.encode(), canonical_json(unsigned))
    return canonical_json({**unsigned, "signature": signature})


def standard_webhooks_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :])
    return secret.encode()


def signature_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_webhooks_key(secret), signed, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "CitizenAI-Webhooks/1.0",
        "X-CitizenAI-Signature": "sha256=" + hmac_hex(secret.encode(), body),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
