"""Strict parsing of environment variables.

Every setting that comes from the environment goes through one of these readers, so a
malformed value stops the process at startup with a message naming the variable, instead
of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_INTEGER = re.compile(r"-?[0-9]+")  # int() would also take "1_000", "+5" and "١٢"
# Beyond this an integer setting is a typo, and it would overflow a date or a database column.
INT_MAXIMUM = 2**31 - 1


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def is_set(self, name: str) -> bool:
        return self._raw(name) is not None

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            if required or default is None:
                raise ImproperlyConfigured(f"Environment variable {name} is required.")
            return default
        return value

    def optional_str(self, name: str) -> str | None:
        return self._raw(name)

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(
            f"Environment variable {name} must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}."
        )

    def int(self, name: str, default: int, *, minimum: int | None = None, maximum: int = INT_MAXIMUM) -> int:
        value = self._raw(name)
        if value is None:
            return default
        return self._integer(name, value, minimum, maximum)

    @staticmethod
    def _integer(name: str, value: str, minimum: int | None, maximum: int) -> int:
        if not _INTEGER.fullmatch(value):
            raise ImproperlyConfigured(f"Environment variable {name} must be an integer, got {value[:40]!r}.")
        if len(value.lstrip("-")) > 18:  # int() refuses thousands of digits, without naming the variable
            raise ImproperlyConfigured(f"Environment variable {name} must be at most {maximum}, got {value[:40]}….")
        number = int(value)
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"Environment variable {name} must be at least {minimum}, got {number}.")
        if number > maximum:
            raise ImproperlyConfigured(f"Environment variable {name} must be at most {maximum}, got {value[:40]}.")
        return number

    def list(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self._raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def int_list(self, name: str, default: list[int]) -> list[int]:
        value = self._raw(name)
        if value is None:
            return list(default)
        items = [item.strip() for item in value.split(",")]
        if not all(_INTEGER.fullmatch(item) for item in items):  # an empty item is a typo too
            raise ImproperlyConfigured(
                f"Environment variable {name} must be a comma-separated list of integers, got {value[:80]!r}."
            )
        return [self._integer(name, item, 0, INT_MAXIMUM) for item in items]

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value not in choices:
            raise ImproperlyConfigured(
                f"Environment variable {name} must be one of {', '.join(choices)}, got {value!r}."
            )
        return value

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in schemes:
            raise ImproperlyConfigured(
                f"Environment variable {name} must be a URL with scheme {' or '.join(schemes)}, "
                f"got scheme {parsed.scheme or '(none)'!r}."
            )
        if parsed.scheme not in {"sqlite"} and not parsed.hostname:
            raise ImproperlyConfigured(f"Environment variable {name} must name a host.")
        try:
            parsed.port  # noqa: B018 (urlparse checks the port only when it is read)
        except ValueError:
            # Name the variable, which urlparse's own message does not; dj_database_url would
            # otherwise fail later with no hint of where the bad port came from.
            raise ImproperlyConfigured(f"Environment variable {name} has an invalid port.") from None
        if parsed.scheme.startswith("postgres") and parsed.path.strip("/") == "":
            raise ImproperlyConfigured(f"Environment variable {name} must name a database (…:5432/name).")
        if parsed.scheme.startswith("redis") and not re.fullmatch(r"/?|/[0-9]+", parsed.path):
            raise ImproperlyConfigured(f"Environment variable {name} must end in a database number (…:6379/0).")
        return value


env = Env()
