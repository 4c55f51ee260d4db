"""`Authorization: Bearer <API key or access token>` and the browser session cookie."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from apps.accounts import selectors, services
from apps.accounts.credentials import ACCESS_TOKEN_PREFIX
from apps.accounts.models import ApiKey, AuthSession, User
from apps.core.exceptions import InvalidCredentials
from apps.core.net import claims_bearer


def authenticate_bearer(secret: str) -> tuple[User, ApiKey | AuthSession]:
    """The user and credential for a bearer secret, or InvalidCredentials (401)."""
    return _checked(secret, selectors.bearer_credential_get(secret=secret))


def _checked(secret: str, credential: ApiKey | AuthSession | None) -> tuple[User, ApiKey | AuthSession]:
    if isinstance(credential, AuthSession):
        if credential.revoked_at is not None:
            raise InvalidCredentials("The access token has been revoked.", "revoked")
        if not selectors.auth_session_is_current(credential):
            raise InvalidCredentials("The access token has expired; refresh it or sign in again.", "expired")
    elif isinstance(credential, ApiKey):
        if credential.revoked_at is not None:
            raise InvalidCredentials("The API key has been revoked.", "revoked")
        if credential.expires_at is not None and credential.expires_at <= timezone.now():
            raise InvalidCredentials("The API key has expired.", "expired")
        services.api_key_touch(api_key=credential)
    elif secret.startswith(ACCESS_TOKEN_PREFIX):
        raise InvalidCredentials("The access token is invalid.", "unknown")
    else:
        raise InvalidCredentials("The API key is invalid.", "unknown")
    if not credential.user.is_active:
        raise InvalidCredentials("The account for this credential is disabled.", "inactive")
    return credential.user, credential


class BearerAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        # From META: DRF's get_authorization_header() builds request.headers, every header of
        # the request, about a twentieth of a cached, authenticated request's CPU.
        header = request._request.META.get("HTTP_AUTHORIZATION", b"")
        try:
            parts = (header if isinstance(header, bytes) else header.encode("latin-1")).split()
        except UnicodeEncodeError:
            raise InvalidCredentials("Malformed Authorization header.", "malformed") from None
        if not parts or not claims_bearer(parts[0]):
            return None  # another scheme, or none: not ours to judge
        if len(parts) != 2 or len(parts[0]) != 6:  # e.g. "Bearer\xa0<key>": no ASCII space
            raise InvalidCredentials("Malformed Authorization header; use 'Bearer <key>'.", "malformed")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise InvalidCredentials("Malformed Authorization header.", "malformed") from None
        return authenticate_bearer(secret)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


TOKEN_MAX_LENGTH = 512  # a secret sent in a URL (?token=) longer than this is malformed


def sent_secret(value: Any) -> str | None:
    """A secret as a client sent it outside the Authorization header (``?token=``, a
    WebSocket's auth message), trimmed; None when it is no secret's shape (empty, too long,
    not ASCII, not text)."""
    if not isinstance(value, str):
        return None
    secret = value.strip()
    return secret if secret and len(secret) <= TOKEN_MAX_LENGTH and secret.isascii() else None


class QueryTokenAuthentication(BaseAuthentication):
    """``?token=<access token>`` on a GET, for the one client that cannot send an
    Authorization header: a browser's EventSource (GET /chat/stream). Only views that list
    it accept it, after the header and before the cookie. Only an access token, which expires
    (ACCESS_TOKEN_TTL): a URL ends up in proxies' logs and browsers' history, where a
    long-lived API key must not (one sent there is refused, without being looked up). Daphne
    runs without its own access log, which writes query strings (Makefile, compose file)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if request.method != "GET" or "token" not in request.query_params:
            return None
        secret = sent_secret(request.query_params.getlist("token")[-1])
        if secret is None:
            raise InvalidCredentials("The token parameter is empty or malformed.", "malformed")
        if not secret.startswith(ACCESS_TOKEN_PREFIX):
            raise InvalidCredentials(
                "Only an access token may be sent as ?token=; send an API key in the Authorization header.",
                "not_an_access_token",
            )
        return authenticate_bearer(secret)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class CsrfSessionAuthentication(SessionAuthentication):
    """The browser's session cookie, with Django's CSRF check on unsafe methods."""
