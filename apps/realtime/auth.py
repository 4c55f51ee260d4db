"""Who is on the other end of a socket: the session cookie, ``?token=`` (an API key or an
access token), a first ``{"type": "auth", "token"}`` message, or nobody.

Every database look-up goes through ``database_sync_to_async``; secrets are never logged.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.utils.functional import LazyObject, empty

from apps.accounts.authentication import authenticate_bearer, sent_secret
from apps.accounts.models import ApiKey
from apps.chat.services import Principal, anonymous_owner_key
from apps.core.exceptions import InvalidCredentials
from apps.core.permissions import user_has
from apps.core.ratelimit import credential_bucket

ASGIApp = Any


class Refused(Exception):
    """The socket must close with ``close_code`` after an error frame with ``code``."""

    def __init__(self, close_code: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class Identity:
    """The caller of one socket. ``secret`` is kept (never logged) to re-check it later."""

    user: Any = None
    credential: Any = None
    method: str = "anonymous"  # "token", "cookie" or "anonymous"
    secret: str | None = field(default=None, repr=False)

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    def has(self, permission: str) -> bool:
        return user_has(self.user, permission)

    def principal(self, anonymous_key: str = "") -> Principal:
        if isinstance(self.credential, ApiKey):
            return Principal(user=self.user, api_key=self.credential)
        if self.user is not None:
            return Principal(user=self.user)
        return Principal(anonymous_key=anonymous_key)

    def rate_bucket(self, client_ip: str) -> tuple[str, str]:
        """(tier, identity) of the shared REST budget (apps.core.ratelimit)."""
        if self.user is not None:
            return credential_bucket(self.user, self.credential)
        return "anonymous", f"ip:{client_ip}"


ANONYMOUS = Identity()


def query_token(scope: dict[str, Any]) -> str | None:
    """The ``token`` query parameter; ``""`` when present but empty, None when absent."""
    raw = scope.get("query_string", b"")
    values = parse_qs(raw.decode("latin1"), keep_blank_values=True).get("token")
    return values[-1].strip() if values else None


def _unwrap(user: Any) -> Any:
    if isinstance(user, LazyObject):
        wrapped = user._wrapped
        return None if wrapped is empty else wrapped
    return user


async def authenticate_secret(sent: Any) -> Identity:
    """An API key (cai_...) or access token (cat_...), or Refused(4401)."""
    secret = sent_secret(sent)
    if secret is None:
        raise Refused(4401, "INVALID_API_KEY", "The token is missing or malformed.", {"reason": "malformed"})
    try:
        user, credential = await database_sync_to_async(authenticate_bearer)(secret)
    except InvalidCredentials as exc:
        raise Refused(4401, "INVALID_API_KEY", str(exc.detail), dict(exc.details)) from None
    return Identity(user=user, credential=credential, method="token", secret=secret)


async def identify(scope: dict[str, Any]) -> Identity:
    """The caller at connect time: ``?token=`` wins over the cookie session; neither is
    anonymous. A token that does not check out is Refused(4401), never anonymity."""
    token = query_token(scope)
    if token is not None:
        return await authenticate_secret(token)
    user = _unwrap(scope.get("user"))
    if user is not None and user.is_authenticated and user.is_active:
        return Identity(user=user, method="cookie")
    return ANONYMOUS


async def still_valid(identity: Identity, scope: dict[str, Any]) -> bool:
    """Whether the credential a socket opened with still holds (not revoked, expired,
    logged out or disabled)."""
    if identity.method == "token" and identity.secret:
        try:
            renewed = await authenticate_secret(identity.secret)
        except Refused:
            return False
        return renewed.user.pk == identity.user.pk
    if identity.method == "cookie":
        key = getattr(scope.get("session"), "session_key", None)
        if not key:
            return False
        # A fresh store: the one in the scope caches the data it loaded at connect time.
        store = import_module(settings.SESSION_ENGINE).SessionStore(key)
        user = await get_user({"session": store})
        return bool(user.is_authenticated and user.is_active and user.pk == identity.user.pk)
    return True


async def anonymous_key(scope: dict[str, Any]) -> str:
    """The owner key of an anonymous caller's conversations: the same one the REST API
    derives from the browser session, when the cookie names a live session; otherwise a
    random key that lives as long as this socket."""
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    if key and await database_sync_to_async(session.exists)(key):
        return anonymous_owner_key(key)
    return hashlib.sha256(f"chat:ws:{secrets.token_hex(32)}".encode()).hexdigest()


def client_ip(scope: dict[str, Any]) -> str:
    """The caller's address, trusting X-Forwarded-For only for TRUSTED_PROXY_COUNT proxies
    (the rule of apps.core.net.client_ip)."""
    client = scope.get("client") or ("unknown", 0)
    remote = str(client[0] or "unknown")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    forwarded: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            forwarded += [part.strip() for part in value.decode("latin1").split(",") if part.strip()]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote


class OriginValidator:
    """Origins are validated: a handshake that carries an Origin header (every browser's
    does) must come from an allowed host, else it is refused (HTTP 403). A handshake
    without one (SDKs, servers, command-line clients) is let in without its cookies, so
    only a token or anonymity can authenticate it: no other site can ride a signed-in
    browser's session (cross-site WebSocket hijacking)."""

    def __init__(self, application: ASGIApp) -> None:
        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = scope.get("headers", [])
        if scope["type"] == "websocket" and not any(name == b"origin" for name, _ in headers):
            scope = dict(scope, headers=[(name, value) for name, value in headers if name != b"cookie"])
            return await self.application(scope, receive, send)
        return await self.checked(scope, receive, send)


def websocket_stack(application: ASGIApp) -> ASGIApp:
    """Origin check, then the session cookie, then ``application`` (the URL router)."""
    from channels.auth import AuthMiddlewareStack

    return OriginValidator(AuthMiddlewareStack(application))
