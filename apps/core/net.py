from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The caller's address. X-Forwarded-For is believed only for the number of proxies
    the deployment says it has, so a client cannot pick its own rate-limit bucket."""
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) >= proxies:
        return forwarded[-proxies]
    return remote


def claims_bearer(header: bytes) -> bool:
    """Whether an Authorization header (or its first word) is meant as bearer credentials:
    it starts with "bearer", in any case. BearerAuthentication answers or refuses every
    such header, never leaving the caller anonymous, which is what lets is_program_read
    skip the session for it."""
    return header[:6].lower() == b"bearer"
