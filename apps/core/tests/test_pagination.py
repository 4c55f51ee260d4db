"""SPEC §2 pagination: limit/offset, page/per_page and keyset cursors, on the users list."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import User
from conftest import make_user

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users"


@pytest.fixture
def population(administrator):
    """The administrator plus 11 citizens joined earlier, three of them in the same
    instant so the cursor must break ties by id. Newest first, as the list orders them."""
    base = timezone.now() - timedelta(days=30)
    for index in range(11):
        user = make_user(f"resident{index:02d}", "citizen")
        joined = base if index in (4, 5, 6) else base + timedelta(hours=index)
        User.objects.filter(pk=user.pk).update(date_joined=joined)
    ordered = User.objects.order_by("-date_joined", "-id")
    return [str(pk) for pk in ordered.values_list("id", flat=True)]


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["data"]["users"]]


def test_limit_offset_gives_pagination_block(administrator, population):
    response = administrator.get(USERS, {"limit": 5, "offset": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"page": 2, "per_page": 5, "total": 12, "pages": 3}
    assert ids(response) == population[5:10]


def test_page_per_page_gives_pagination_block(administrator, population):
    response = administrator.get(USERS, {"page": 3, "per_page": 5})
    assert response.status_code == 200
    assert response.json()["pagination"] == {"page": 3, "per_page": 5, "total": 12, "pages": 3}
    assert ids(response) == population[10:]


def test_default_limit_is_the_views(administrator, population):
    body = administrator.get(USERS).json()
    assert body["pagination"] == {"page": 1, "per_page": 50, "total": 12, "pages": 1}
    assert [row["id"] for row in body["data"]["users"]] == population


def test_page_past_the_end_is_empty_not_an_error(administrator, population):
    response = administrator.get(USERS, {"page": 9, "per_page": 5})
    assert response.status_code == 200
    assert ids(response) == []
    assert response.json()["pagination"]["total"] == 12


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"page": 0}, "page"),
        ({"page": "first"}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"offset": 10**30}, "offset"),
        ({"page": 10**30, "per_page": 10}, "page"),
    ],
)
def test_bad_pagination_params_are_400_naming_the_parameter(administrator, population, params, name):
    response = administrator.get(USERS, params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [name]


@pytest.mark.parametrize(
    ("params", "expected", "window"),
    [
        ({"page": 2, "limit": 5}, {"page": 2, "per_page": 5}, slice(5, 10)),
        ({"offset": 3, "per_page": 4}, {"page": 1, "per_page": 4}, slice(3, 7)),
        ({"page": 3, "page_size": 5}, {"page": 3, "per_page": 5}, slice(10, 12)),
        ({"limit": 5, "per_page": 5, "offset": 5}, {"page": 2, "per_page": 5}, slice(5, 10)),
    ],
)
def test_mixed_pagination_parameters_are_honoured(administrator, population, params, expected, window):
    response = administrator.get(USERS, params)
    assert response.status_code == 200, response.content
    assert response.json()["pagination"] == {**expected, "total": 12, "pages": -(-12 // expected["per_page"])}
    assert ids(response) == population[window]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"limit": 3, "per_page": 5}, ["limit", "per_page"]),
        ({"page_size": 3, "limit": 4}, ["limit", "page_size"]),
        ({"page": 2, "offset": 10}, ["offset", "page"]),
    ],
)
def test_pagination_parameters_that_disagree_are_400_naming_both(administrator, population, params, names):
    response = administrator.get(USERS, params)
    assert response.status_code == 400, response.content
    assert sorted(response.json()["error"]["details"]) == names


def walk(persona, first_params: dict, key: str) -> list[dict]:
    pages = [persona.get(USERS, first_params).json()]
    while pages[-1]["pagination"][key]:
        response = persona.get(USERS, {"cursor": pages[-1]["pagination"][key], "limit": first_params["limit"]})
        assert response.status_code == 200, response.content
        pages.append(response.json())
        assert len(pages) < 20, "the cursor walk does not end"
    return pages


def test_cursor_walk_visits_every_row_once_in_order(administrator, population):
    pages = walk(administrator, {"cursor": "", "limit": 5}, "next_cursor")
    seen = [row["id"] for page in pages for row in page["data"]["users"]]
    assert seen == population
    assert [len(page["data"]["users"]) for page in pages] == [5, 5, 2]
    assert [page["pagination"]["has_more"] for page in pages] == [True, True, False]
    assert pages[0]["pagination"]["prev_cursor"] is None
    assert pages[-1]["pagination"]["next_cursor"] is None
    assert set(pages[0]["pagination"]) == {"per_page", "next_cursor", "prev_cursor", "has_more"}


def test_cursor_walk_with_a_page_size_that_divides_evenly(administrator, population):
    pages = walk(administrator, {"cursor": "", "limit": 4}, "next_cursor")
    seen = [row["id"] for page in pages for row in page["data"]["users"]]
    assert seen == population
    assert pages[-1]["pagination"]["has_more"] is False


def test_prev_cursor_walks_back_to_the_start(administrator, population):
    forward = walk(administrator, {"cursor": "", "limit": 5}, "next_cursor")
    last = forward[-1]
    back = [last]
    while back[-1]["pagination"]["prev_cursor"]:
        response = administrator.get(USERS, {"cursor": back[-1]["pagination"]["prev_cursor"], "limit": 5})
        assert response.status_code == 200
        back.append(response.json())
        assert len(back) < 20
    assert [[row["id"] for row in page["data"]["users"]] for page in back] == [
        population[10:],
        population[5:10],
        population[0:5],
    ]
    # Going back from the second page and forward again lands on the same second page.
    second = back[1]
    again = administrator.get(USERS, {"cursor": second["pagination"]["next_cursor"], "limit": 5}).json()
    assert [row["id"] for row in again["data"]["users"]] == population[10:]


def test_cursors_are_opaque_base64(administrator, population):
    cursor = administrator.get(USERS, {"cursor": "", "limit": 5}).json()["pagination"]["next_cursor"]
    padded = cursor + "=" * (-len(cursor) % 4)
    assert isinstance(json.loads(base64.urlsafe_b64decode(padded)), dict)


def _b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "bm90IGpzb24",  # "not json"
        base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(),  # too deep for the decoder
        _b64([1, 2]),
        _b64({"t": "yesterday", "i": "x"}),
        _b64({"t": 12, "i": "x"}),
        _b64({"t": "2024-01-01T00:00:00+00:00", "i": "not-a-uuid"}),
        _b64({"t": "2024-01-01T00:00:00+00:00", "i": "7d1f3c2e-0000-4000-8000-000000000000", "d": "sideways"}),
        _b64({"t": "2024-01-01T00:00:00+00:00", "i": "7d1f3c2e-0000-4000-8000-000000000000", "d": ["next"]}),
        # A naive time, and one that leaves datetime's range in UTC.
        _b64({"t": "2025-01-19T12:00:00", "i": "7d1f3c2e-0000-4000-8000-000000000000"}),
        _b64({"t": "9999-12-31T23:00:00-05:00", "i": "7d1f3c2e-0000-4000-8000-000000000000"}),
    ],
)
def test_garbage_cursor_is_400(administrator, population, cursor):
    response = administrator.get(USERS, {"cursor": cursor})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "cursor" in error["details"]


@pytest.mark.parametrize("offset", ["+20:00", "-23:00", "+05:30"])
def test_a_cursor_time_with_any_offset_is_read_in_utc(administrator, population, offset):
    """PostgreSQL takes offsets up to ±15:59 only: a hand-made cursor beyond was a 500 there
    (so this can fail only on PostgreSQL, as CI runs the suite too)."""
    cursor = _b64({"t": f"2999-01-19T12:00:00{offset}", "i": "7d1f3c2e-0000-4000-8000-000000000000"})
    response = administrator.get(USERS, {"cursor": cursor})
    assert response.status_code == 200, response.content
    assert ids(response) == population  # everyone joined before 2999


@pytest.mark.parametrize("start", [{"offset": 5}, {"page": 2}, {"offset": 0, "page": 1}])
def test_a_cursor_with_another_start_is_400(administrator, population, start):
    response = administrator.get(USERS, {"cursor": "", **start})
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"cursor", *start}


def test_cursor_limit_is_validated(administrator, population):
    response = administrator.get(USERS, {"cursor": "", "limit": 0})
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["details"]


@pytest.mark.parametrize(("params", "name"), [({"role": "wizard"}, "role"), ({"active": "maybe"}, "active")])
def test_bad_filter_value_is_400_naming_the_parameter(administrator, population, params, name):
    response = administrator.get(USERS, params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [name]


def test_filters_and_pagination_combine(administrator, population):
    body = administrator.get(USERS, {"role": "citizen", "limit": 4}).json()
    assert body["pagination"] == {"page": 1, "per_page": 4, "total": 11, "pages": 3}
    assert all(row["role"] == "citizen" for row in body["data"]["users"])


@pytest.mark.parametrize(("value", "expected"), [("false", 1), ("true", 11), ("", 12)])
def test_boolean_filter_accepts_its_spellings(administrator, population, value, expected):
    User.objects.filter(username="resident03").update(is_active=False)
    response = administrator.get(USERS, {"active": value})
    assert response.status_code == 200, response.content
    assert response.json()["pagination"]["total"] == expected
