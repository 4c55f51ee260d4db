from __future__ import annotations

import math

from rest_framework import exceptions

from apps.core.exceptions import ApiError


class LoginFailed(ApiError):
    status_code = 401
    error_code = "AUTHENTICATION_REQUIRED"
    default_detail = "Invalid username or password."


class AccountLocked(exceptions.Throttled):
    """Too many failed sign-ins for one account name: a 429 with Retry-After."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait=wait)
        self.envelope_message = f"Too many failed sign-in attempts; try again in {_duration(wait)}."


def _duration(seconds: float) -> str:
    if seconds > 90:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minutes"
    whole = max(1, math.ceil(seconds))
    return f"{whole} second{'s' if whole != 1 else ''}"


class RefreshFailed(ApiError):
    status_code = 401
    error_code = "AUTHENTICATION_REQUIRED"
    default_detail = "The refresh token is invalid, expired or revoked."


class RefreshReused(RefreshFailed):
    default_detail = (
        "This refresh token was already used, so a copy of it may be in someone else's hands: "
        "the session has been signed out. Sign in again."
    )
