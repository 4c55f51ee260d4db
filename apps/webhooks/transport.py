"""An HTTP client for webhook deliveries that cannot be pointed at the inside network.

The host is resolved here and every address checked before connecting; the connection goes
to the checked address (with the original Host header and TLS server name), so a DNS
answer that changes between check and connect cannot sneak past. Redirects are never
followed. Connections are kept alive per thread and target.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

EXCERPT_BYTES = 1024
MAX_READ_BYTES = 64 * 1024


class BlockedDestination(Exception):
    """The URL is not allowed: wrong scheme, unresolvable, or a non-public address."""


@dataclass(frozen=True)
class Result:
    status_code: int | None
    latency_ms: float
    excerpt: str
    error: str
    retry_after: float | None = None


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(url: str, *, allow_private: bool | None = None) -> tuple[str, str, int, list[str]]:
    """(scheme, host, port, allowed addresses) or BlockedDestination."""
    allow = settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS if allow_private is None else allow_private
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise BlockedDestination("Only http and https URLs are allowed.")
    if not parts.hostname:
        raise BlockedDestination("The URL has no host.")
    if parts.username or parts.password:
        raise BlockedDestination("Credentials in the URL are not allowed; use the signing secret.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedDestination("The URL has an invalid port.") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise BlockedDestination(f"The host {parts.hostname} does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow:
        blocked = [address for address in addresses if not address_is_public(address)]
        if blocked:
            raise BlockedDestination(
                f"The host {parts.hostname} resolves to a private, loopback, link-local or reserved address."
            )
    return parts.scheme, parts.hostname, port, addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, address: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a checked address but verifies the certificate for the real host name."""

    def __init__(self, address: str, port: int, timeout: float, server_hostname: str) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_hostname = server_hostname

    def connect(self) -> None:
        # The plain HTTP connect: TCP to the checked address with TCP_NODELAY, which
        # http.client sets and a bare socket lacks (without it the body, sent after the
        # headers, can wait for a delayed ACK: up to 40 ms per delivery on Linux).
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_hostname)  # type: ignore[attr-defined]


_local = threading.local()


def _connections() -> dict[tuple[str, str, int, str], http.client.HTTPConnection]:
    if not hasattr(_local, "connections"):
        _local.connections = {}
    return _local.connections


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None) -> Result:
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS if timeout is None else timeout
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 2)

    try:
        scheme, host, port, addresses = resolve(url)
    except BlockedDestination as exc:
        return Result(None, elapsed(), "", f"blocked: {exc}")
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    address = addresses[0]
    key = (scheme, host, port, address)
    pool = _connections()
    host_header = host if parts.port is None else f"{host}:{port}"
    for attempt in (1, 2):  # a kept-alive connection may have been closed by the peer
        conn = pool.pop(key, None)
        reused = conn is not None
        if conn is None:
            conn = (
                _PinnedHTTPSConnection(address, port, timeout, host)
                if scheme == "https"
                else _PinnedHTTPConnection(address, port, timeout)
            )
        try:
            conn.timeout = timeout
            conn.request("POST", path, body=body, headers={**headers, "Host": host_header})
            response = conn.getresponse()
            content = response.read(MAX_READ_BYTES)
            if response.will_close or len(content) == MAX_READ_BYTES:
                conn.close()
            else:
                pool[key] = conn
            return Result(
                response.status,
                elapsed(),
                content[:EXCERPT_BYTES].decode("utf-8", "replace"),
                "",
                _retry_after(response.getheader("Retry-After")),
            )
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            if reused and attempt == 1:
                continue
            return Result(None, elapsed(), "", f"connection error: {type(exc).__name__}")
        except TimeoutError:
            conn.close()
            return Result(None, elapsed(), "", f"timeout after {timeout:g}s")
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return Result(None, elapsed(), "", f"connection error: {type(exc).__name__}: {exc}"[:500])
    return Result(None, elapsed(), "", "connection error")
