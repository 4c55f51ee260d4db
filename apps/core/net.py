from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

# Fetch Metadata values of a request this site made itself, or the user did (typed, bookmarked).
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


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


def is_cross_site(request: HttpRequest) -> bool:
    """Whether a browser made this request for another site (a link, a form, an image): by
    its Sec-Fetch-Site header, or, from a browser too old to send one, by an Origin that is
    neither this site's nor in CSRF_TRUSTED_ORIGINS. A request with neither header is no
    browser's, so it cannot have been forged with someone's cookies."""
    site = request.META.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site.lower() not in _OWN_FETCH_SITES
    origin = request.META.get("HTTP_ORIGIN")
    if not origin:
        return False
    return origin != f"{request.scheme}://{request.get_host()}" and origin not in settings.CSRF_TRUSTED_ORIGINS
