"""Generating and hashing secrets: API keys, access and refresh tokens.

Secrets are random, shown once and stored only as an HMAC-SHA256 keyed with
CREDENTIAL_HASH_KEY, so neither the database nor a dump of it can authenticate anyone.
A prefix tells the kinds apart at a glance (and to secret scanners).
"""

from __future__ import annotations

import hmac
import secrets

from apps.core.conf import hot_settings

API_KEY_PREFIX = "cai_"
ACCESS_TOKEN_PREFIX = "cat_"  # noqa: S105 (a prefix, not a secret)
REFRESH_TOKEN_PREFIX = "crt_"  # noqa: S105


def credential_hash(secret: str) -> str:
    return hmac.digest(hot_settings.CREDENTIAL_HASH_KEY.encode(), secret.encode(), "sha256").hex()


def new_api_key() -> tuple[str, str]:
    """(full key, public prefix). The prefix identifies the key in lists and logs."""
    public = secrets.token_hex(4)
    return f"{API_KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}", f"{API_KEY_PREFIX}{public}"


def new_access_token() -> str:
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
