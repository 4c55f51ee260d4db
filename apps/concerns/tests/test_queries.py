"""The concern list and detail run a fixed number of queries, however much data there is."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.concerns import services
from apps.concerns.tests.helpers import CONCERNS, assert_ok, concern_url, make_concern, png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def queries_for(persona: Any, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Queries of one request, after a first one has warmed per-key state (last-used stamps)."""
    assert_ok(persona.get(path, params))
    with CaptureQueriesContext(connection) as context:
        response = persona.get(path, params)
    data = assert_ok(response)
    return len(context.captured_queries), data


def add_concerns(count: int, *, owner: Any, staff: Any) -> None:
    for n in range(count):
        concern = make_concern(
            submitted_by=owner,
            title=f"Concern number {n}",
            description=f"Distinct description {n} of a concern",
            latitude=40.0 + n * 0.01,
            longitude=-74.0,
        )
        if n % 2:
            services.concern_update(concern=concern, actor=staff, status="in_progress", assigned_to=staff.username)


@pytest.mark.parametrize("who", ["staff_member", "citizen"])
def test_list_queries_do_not_grow_with_rows(request: pytest.FixtureRequest, who: str) -> None:
    persona = request.getfixturevalue(who)
    citizen = request.getfixturevalue("citizen")
    staff = request.getfixturevalue("staff_member")
    params = {"limit": 50}

    add_concerns(3, owner=citizen.user, staff=staff.user)
    few, data = queries_for(persona, CONCERNS, params)
    assert len(data["concerns"]) == 3

    add_concerns(27, owner=citizen.user, staff=staff.user)
    many, data = queries_for(persona, CONCERNS, params)
    assert len(data["concerns"]) == 30
    if who == "staff_member":
        assert {row["assigned_to"] for row in data["concerns"]} == {None, "staff"}
    assert many == few, (few, many)


@pytest.mark.parametrize("who", ["staff_member", "citizen"])
def test_cursor_list_queries_do_not_grow_with_rows(request: pytest.FixtureRequest, who: str) -> None:
    persona = request.getfixturevalue(who)
    citizen = request.getfixturevalue("citizen")
    staff = request.getfixturevalue("staff_member")
    params = {"cursor": "", "limit": 50}

    add_concerns(3, owner=citizen.user, staff=staff.user)
    few, _ = queries_for(persona, CONCERNS, params)
    add_concerns(27, owner=citizen.user, staff=staff.user)
    many, data = queries_for(persona, CONCERNS, params)
    assert len(data["concerns"]) == 30
    assert many == few, (few, many)


def _grow(concern: Any, *, citizen: Any, staff: Any, extra: int) -> None:
    """Adds ``extra`` timeline entries, attachments and duplicate links to the concern."""
    for n in range(extra):
        services.concern_update(concern=concern, actor=staff, message=f"Note {n}")
        services.attachment_add(concern=concern, upload=upload(f"p{n}.png", png_bytes()), actor=citizen)
        make_concern(
            submitted_by=citizen,
            title="Water leak on Elm Street",
            description="Water leaking everywhere on Elm Street",
            category_code="water",
        )


@pytest.mark.parametrize("who", ["staff_member", "citizen", "stranger"])
def test_detail_queries_do_not_grow_with_updates_and_attachments(request: pytest.FixtureRequest, who: str) -> None:
    persona = request.getfixturevalue(who)
    citizen = request.getfixturevalue("citizen").user
    staff = request.getfixturevalue("staff_member").user

    small = make_concern(
        submitted_by=citizen, title="Water leak on Elm Street", description="Leaking on Elm", category_code="water"
    )
    _grow(small, citizen=citizen, staff=staff, extra=0)
    services.attachment_add(concern=small, upload=upload("only.png", png_bytes()), actor=citizen)
    few, data = queries_for(persona, concern_url(small.pk))
    assert (len(data["updates"]), len(data["attachments"])) == (1, 1)

    big = make_concern(
        submitted_by=citizen, title="Water leak on Elm Street", description="Leaking on Elm", category_code="water"
    )
    _grow(big, citizen=citizen, staff=staff, extra=4)
    services.attachment_add(concern=big, upload=upload("last.png", png_bytes()), actor=citizen)
    many, data = queries_for(persona, concern_url(big.tracking_number))
    assert (len(data["updates"]), len(data["attachments"])) == (5, 5)
    if who == "staff_member":
        assert len(data["possible_duplicates"]) >= 1
    assert many == few, (few, many)
