"""Endpoint secrets must be readable to sign deliveries, so they cannot be hashed; they are
encrypted at rest with a key derived from CREDENTIAL_HASH_KEY instead."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    key = hashlib.sha256(f"webhook-secrets:{settings.CREDENTIAL_HASH_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def secret_generate() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("The webhook secret cannot be decrypted; was CREDENTIAL_HASH_KEY changed?") from None
