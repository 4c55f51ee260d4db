"""Open311 errors: a list of ``{code, description}`` with the HTTP status the spec asks for
(404 for resources that do not exist, 403 for a missing or wrong api_key, 400 otherwise)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorItem:
    code: int
    description: str


class Open311Error(Exception):
    """One or more errors answered with one HTTP status."""

    def __init__(self, status: int, *descriptions: str, headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.errors = [ErrorItem(code=status, description=text) for text in descriptions]
        self.headers = headers or {}


def bad_request(*descriptions: str) -> Open311Error:
    return Open311Error(400, *descriptions)


def forbidden(description: str) -> Open311Error:
    return Open311Error(403, description)


def not_found(description: str) -> Open311Error:
    return Open311Error(404, description)
