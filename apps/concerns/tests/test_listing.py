"""Concern list pages from SQL prepared once per shape (apps/concerns/listing.py) answer
exactly what the ordinary queryset answers, for every filter and every value, including a
later request of the same shape with other values; filters that cannot be prepared take the
ordinary way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.concerns import listing, services
from apps.concerns.models import Concern
from apps.concerns.tests.helpers import CONCERNS, make_concern

pytestmark = pytest.mark.django_db

SPECS = [  # title, category, priority, status steps, days ago
    ("Deep pothole on Elm Street", "roads", "high", [], 9),
    ("Pothole by the school", "roads", "low", ["in_progress"], 8),
    ("Lamp out on Oak Avenue", "street_lighting", "low", ["in_progress"], 7),
    ("Overflowing bin", "sanitation", "emergency", ["in_progress", "resolved"], 6),
    ("Broken bench in the park", "parks", "medium", [], 5),
    ("Stop sign bent", "traffic", "medium", ["in_progress", "resolved", "closed"], 4),
    ("Noisy pump at night", "noise", "high", [], 3),
    ("Leaking hydrant", "water", "emergency", ["in_progress"], 2),
]

REQUESTS: list[dict[str, Any]] = [
    {},
    {"limit": 3},
    {"limit": 3, "offset": 3},
    {"page": 2, "per_page": 2},
    {"status": "submitted"},
    {"status": "in_progress"},
    {"status": ["submitted", "in_progress"]},
    {"status": ["resolved", "closed", "in_progress"]},
    {"category": "roads"},
    {"category": "parks"},
    {"category": ["roads", "water"]},
    {"status": "submitted", "category": "roads"},
    {"status": "in_progress", "category": "roads"},
    {"priority": "emergency"},
    {"priority": ["low", "high"], "sort": "priority", "order": "asc"},
    {"sort": "status"},
    {"sort": "title", "order": "asc", "limit": 4},
    {"q": "pothole"},
    {"q": "hydrant"},
    {"q": "pothole school"},
    {"q": " pothole "},
    {"overdue": "false"},
    {"assigned_to": "none"},
]


@pytest.fixture
def concerns(citizen: Any, staff_member: Any) -> list[Concern]:
    made = []
    now = timezone.now()
    for title, code, priority, steps, days in SPECS:
        concern = make_concern(submitted_by=citizen.user, category_code=code, priority=priority, title=title)
        for step in steps:
            services.concern_update(concern=concern, actor=staff_member.user, status=step)
        Concern.objects.filter(pk=concern.pk).update(submitted_at=now - timedelta(days=days))
        made.append(concern)
    return made


def pages(persona: Any, params: dict[str, Any]) -> dict[str, Any]:
    body = persona.get(CONCERNS, params).json()
    assert body["success"], body
    return {"rows": body["data"]["concerns"], "pagination": body["pagination"]}


def ordinary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing.ConcernListing, "_prepared_page", lambda self, offset, limit: None)


@pytest.mark.parametrize("params", REQUESTS, ids=[repr(p) for p in REQUESTS])
def test_a_prepared_page_is_the_ordinary_page(params, staff_member, citizen, concerns, monkeypatch):
    prepared = [pages(persona, params) for persona in (staff_member, citizen, staff_member)]
    ordinary(monkeypatch)
    expected = [pages(persona, params) for persona in (staff_member, citizen)]
    assert prepared == [*expected, expected[0]]  # the third from SQL prepared by the first


def test_the_same_shape_with_other_values_answers_for_those_values(staff_member, concerns):
    def titles(**params: Any) -> list[str]:
        return [row["title"] for row in pages(staff_member, params)["rows"]]

    assert titles(status="closed") == ["Stop sign bent"]
    assert titles(status="resolved") == ["Overflowing bin"]
    assert titles(category="noise", priority="high") == ["Noisy pump at night"]
    assert titles(category="roads", priority="low") == ["Pothole by the school"]
    assert titles(q="hydrant") == ["Leaking hydrant"]
    assert titles(q="bench") == ["Broken bench in the park"]
    since = timezone.now() - timedelta(days=2, hours=12)
    assert titles(start_date=since.isoformat()) == ["Leaking hydrant"]
    since -= timedelta(days=1)
    assert titles(start_date=since.isoformat()) == ["Leaking hydrant", "Noisy pump at night"]


def test_a_tracking_number_search_is_not_prepared_as_text(staff_member, concerns):
    assert [row["title"] for row in pages(staff_member, {"q": "pothole"})["rows"]]  # prepares the text shape
    wanted = concerns[4]
    rows = pages(staff_member, {"q": wanted.tracking_number.lower()})["rows"]
    assert [row["tracking_number"] for row in rows] == [wanted.tracking_number]


def test_a_prepared_page_sends_one_statement(staff_member, concerns, monkeypatch):
    answers: list[Any] = []
    real_rows = listing._shapes.rows
    monkeypatch.setattr(listing._shapes, "rows", lambda *a, **k: answers.append(real_rows(*a, **k)) or answers[-1])
    params = {"status": "submitted", "category": "roads", "limit": 2}
    pages(staff_member, params)
    with CaptureQueriesContext(connection) as captured:
        rows = pages(staff_member, {**params, "category": "noise"})["rows"]
    assert [row["title"] for row in rows] == ["Noisy pump at night"]
    concern_reads = [q["sql"] for q in captured if 'FROM "concerns_concern"' in q["sql"]]
    assert len(concern_reads) == 1
    assert len(answers) == 2 and all(answer is not None for answer in answers)  # both prepared


def test_a_text_search_is_prepared_on_postgresql_only(staff_member, concerns, monkeypatch):
    answers: list[Any] = []
    real_rows = listing._shapes.rows
    monkeypatch.setattr(listing._shapes, "rows", lambda *a, **k: answers.append(real_rows(*a, **k)) or answers[-1])
    assert [row["title"] for row in pages(staff_member, {"q": "hydrant"})["rows"]] == ["Leaking hydrant"]
    # Elsewhere the search is LIKE '%word%', a transformed value: the ordinary way.
    assert (answers[0] is not None) == (connection.vendor == "postgresql")


def test_a_filter_that_cannot_be_prepared_takes_the_ordinary_way(staff_member, concerns, monkeypatch):
    calls: list[Any] = []
    real_rows = listing._shapes.rows

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_rows(*args, **kwargs)

    monkeypatch.setattr(listing._shapes, "rows", spy)
    assert pages(staff_member, {"overdue": "true"})["rows"] == []
    assert pages(staff_member, {"assigned_to": "me"})["rows"] == []
    assert calls == []
    pages(staff_member, {"status": "submitted"})
    assert len(calls) == 1


def test_citizens_share_a_shape_and_each_sees_only_their_own(citizen, concerns, monkeypatch):
    from conftest import make_persona

    neighbour = make_persona("neighbour", "citizen")
    theirs = make_concern(submitted_by=neighbour.user, category_code="roads", title="Neighbour's pothole")
    answers: list[Any] = []
    real_rows = listing._shapes.rows
    monkeypatch.setattr(listing._shapes, "rows", lambda *a, **k: answers.append(real_rows(*a, **k)) or answers[-1])
    mine = {concern.tracking_number for concern in concerns if concern.category.code == "roads"}
    for persona, expected in ((citizen, mine), (neighbour, {theirs.tracking_number}), (citizen, mine)):
        rows = pages(persona, {"category": "roads"})["rows"]
        assert {row["tracking_number"] for row in rows} == expected
    # On PostgreSQL the owner's id is a marked parameter, so one SQL serves both citizens;
    # SQLite stores UUIDs as text (a transformed value): the ordinary way there.
    assert all((answer is not None) == (connection.vendor == "postgresql") for answer in answers)
