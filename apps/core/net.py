from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import is_same_domain


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


def is_from_this_site(request: HttpRequest) -> bool:
    """Whether a browser shows that a page of this site made the request: by Fetch Metadata
    (Sec-Fetch-Site same-origin, and not a navigation: a link that opens the URL as a page,
    even from this site, or "none" for one opened from a mail or chat program, are not a
    page's own request), or from browsers without it by Origin, else by Referer. None of
    them (an old browser following a link with no-referrer, or no browser at all) proves
    nothing: False."""
    site = request.META.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site.lower() == "same-origin" and request.META.get("HTTP_SEC_FETCH_MODE", "").lower() != "navigate"
    origin = request.META.get("HTTP_ORIGIN")
    if origin and origin != "null":
        return _is_own_origin(request, origin)
    referer = urlsplit(request.META.get("HTTP_REFERER", ""))
    return bool(referer.netloc) and _is_own_origin(request, f"{referer.scheme}://{referer.netloc}")


def _is_own_origin(request: HttpRequest, origin: str) -> bool:
    """This site's origin, or one of CSRF_TRUSTED_ORIGINS (``https://*.city.example``
    admitting its subdomains), as Django's CSRF check reads them."""
    if origin == f"{request.scheme}://{request.get_host()}":
        return True
    parsed = urlsplit(origin)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        allowed = urlsplit(trusted)
        if parsed.scheme == allowed.scheme and (
            parsed.netloc == allowed.netloc
            or (allowed.netloc.startswith("*") and is_same_domain(parsed.netloc, allowed.netloc[1:]))
        ):
            return True
    return False
