"""How BearerAuthentication reads `Authorization: Bearer <secret>` from the raw header: the
scheme in any case, ASCII whitespace between the parts, and every malformed header a 401 in
the envelope (never a 500). A header of another scheme means no bearer credentials at all."""

from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.services import auth_session_create
from apps.accounts.tests.helpers import VALIDATE, assert_error, assert_ok
from conftest import Api, Persona

pytestmark = pytest.mark.django_db

HEALTH = "/api/v1/system/health"
MALFORMED = "Malformed Authorization header."
MALFORMED_PARTS = "Malformed Authorization header; use 'Bearer <key>'."
CHALLENGE = 'Bearer realm="api"'


def validate(header: str) -> Any:
    return Api().get(VALIDATE, HTTP_AUTHORIZATION=header)


def assert_accepted(response: Any, persona: Persona, auth_type: str = "api_key") -> None:
    assert persona.user is not None
    data = assert_ok(response)
    assert data["valid"] is True
    assert data["user"]["id"] == str(persona.user.pk)
    assert data["auth_type"] == auth_type


def assert_malformed(response: Any, message: str = MALFORMED) -> None:
    error = assert_error(response, 401, "INVALID_API_KEY")
    assert error["message"] == message
    assert error["details"] == {"reason": "malformed"}
    assert response["WWW-Authenticate"] == CHALLENGE


def assert_no_credentials(response: Any) -> None:
    error = assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert error["details"] == {}
    assert response["WWW-Authenticate"] == CHALLENGE


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "Bearer {}",
        "bearer {}",
        "BEARER {}",
        "bEaReR {}",
        "Bearer  {}",  # bytes.split(): any run of ASCII whitespace separates
        "Bearer \t {}",
        "  Bearer {}  ",  # surrounding whitespace is no part
        "Bearer {}\r\n",
    ],
    ids=["canonical", "lower", "upper", "mixed", "two-spaces", "tab", "surrounding-spaces", "trailing-crlf"],
)
def test_the_scheme_in_any_case_and_ascii_whitespace_are_accepted(citizen: Persona, template: str) -> None:
    assert citizen.secret is not None
    assert_accepted(validate(template.format(citizen.secret)), citizen)


def test_an_access_token_is_read_the_same_way(citizen: Persona) -> None:
    assert citizen.user is not None
    issued = auth_session_create(user=citizen.user)
    assert_accepted(validate(f"bearer  {issued.access_token}"), citizen, auth_type="access_token")


# --- malformed bearer headers: 401 INVALID_API_KEY, reason "malformed" ------------------


@pytest.mark.parametrize("header", ["Bearer", "bearer", "Bearer ", "  BEARER\t"], ids=["alone", "lower", "space", "ws"])
def test_the_scheme_alone_is_malformed(header: str) -> None:
    assert_malformed(validate(header), MALFORMED_PARTS)


def test_three_parts_are_malformed(citizen: Persona) -> None:
    assert_malformed(validate("Bearer a b"), MALFORMED_PARTS)
    assert_malformed(validate(f"Bearer {citizen.secret} extra"), MALFORMED_PARTS)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cz_é",  # latin-1: arrives as the byte 0xE9, not ASCII
        "Bearer cz_é…",  # the ellipsis is not even latin-1
        "Bearer cai_日本",
    ],
    ids=["latin-1", "beyond-latin-1", "cjk"],
)
def test_a_non_ascii_secret_is_malformed_never_500(header: str) -> None:
    assert_malformed(validate(header))


def test_a_non_breaking_space_after_the_key_is_part_of_it(citizen: Persona) -> None:
    assert_malformed(validate(f"Bearer {citizen.secret}\xa0"))


def test_a_non_ascii_secret_is_refused_on_a_public_endpoint_too() -> None:
    """Bad credentials are refused wherever they are sent, not ignored."""
    assert_malformed(Api().get(HEALTH, HTTP_AUTHORIZATION="Bearer cz_é…"))


# --- not bearer credentials: as if none were sent -----------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer\xa0", "Bearer:", "Bearerx ", "BEARER\xa0\xa0"])
def test_a_word_that_only_starts_with_bearer_is_malformed(citizen: Persona, scheme: str) -> None:
    """`Bearer\\xa0<key>` (a non-breaking space is no separator) or `Bearer:<key>` was meant
    as bearer credentials: saying none were sent would mislead."""
    assert_malformed(validate(f"{scheme}{citizen.secret}"), MALFORMED_PARTS)
    assert_malformed(Api().get(HEALTH, HTTP_AUTHORIZATION=f"{scheme}{citizen.secret}"), MALFORMED_PARTS)


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Bear"])
def test_another_scheme_means_no_bearer_credentials(citizen: Persona, scheme: str) -> None:
    response = validate(f"{scheme} {citizen.secret}")
    assert_no_credentials(response)


@pytest.mark.parametrize("header", ["", " ", "\t"], ids=["empty", "space", "tab"])
def test_an_empty_header_means_no_credentials(header: str) -> None:
    assert_no_credentials(validate(header))


def test_another_scheme_on_a_public_endpoint_is_anonymous() -> None:
    response = Api().get(HEALTH, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "30"  # the anonymous budget


# --- well formed, unknown ------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    ["cai_deadbeef_nope", "cat_nope", "something-else", "cai_\x00nul", "cai_" + "x" * 5000],
    ids=["api-key", "access-token", "no-prefix", "nul", "long"],
)
def test_an_unknown_ascii_secret_is_invalid_never_500(secret: str) -> None:
    error = assert_error(validate(f"Bearer {secret}"), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "unknown"}


def test_the_secret_is_case_sensitive(citizen: Persona) -> None:
    assert citizen.secret is not None
    at = next(index for index in range(len(citizen.secret) - 1, -1, -1) if citizen.secret[index].isalpha())
    changed = citizen.secret[:at] + citizen.secret[at].swapcase() + citizen.secret[at + 1 :]
    assert changed != citizen.secret and changed.lower() == citizen.secret.lower()
    error = assert_error(validate(f"Bearer {changed}"), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "unknown"}
