"""The concerns API: create, visibility, list filters, updates and soft delete."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts.roles import Role
from apps.concerns import services
from apps.concerns.models import SLA_FACTORS, Category, Concern, ConcernUpdate, Status, TrackingSequence
from apps.concerns.tests.helpers import (
    CONCERN_KEYS,
    CONCERNS,
    PRIVATE_KEYS,
    SEED_BODY,
    assert_error,
    assert_field_error,
    assert_ok,
    category,
    concern_url,
    counts,
    make_concern,
)
from conftest import make_persona, make_user

pytestmark = pytest.mark.django_db


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ids(data: dict[str, Any]) -> list[str]:
    return [row["id"] for row in data["concerns"]]


@pytest.fixture
def other_citizen(db: None) -> Any:
    return make_persona("neighbour", Role.CITIZEN)


# -- create ----------------------------------------------------------------------------------


class TestCreate:
    def test_seed_example_creates_a_submitted_concern(self, citizen: Any) -> None:
        before = timezone.now()
        response = citizen.post(CONCERNS, SEED_BODY)
        data = assert_ok(response, 201)

        year = timezone.now().year
        assert data["tracking_number"] == f"TRK-{year}-000001"
        assert re.fullmatch(r"TRK-\d{4}-\d{6}", data["tracking_number"])
        assert data["title"] == "Broken street light"
        assert data["description"] == "Street light on Main St is not working"
        assert data["category"] == "infrastructure"
        assert data["priority"] == "high"
        assert data["status"] == "submitted"
        assert data["location"] == "Main St and 3rd Ave"
        assert data["contact"] == SEED_BODY["contact"]
        assert data["anonymous"] is False
        assert data["attachments"] == []
        assert "internal_notes" not in data

        submitted = parse_time(data["submitted_at"])
        assert before <= submitted <= timezone.now()
        assert data["created_at"] == data["submitted_at"]
        # Infrastructure's SLA (from the data migration) scaled by the high-priority factor.
        sla = timedelta(hours=category("infrastructure").sla_hours * SLA_FACTORS["high"])
        assert sla == timedelta(hours=60)
        assert parse_time(data["estimated_resolution"]) == submitted + sla

        assert len(data["updates"]) == 1
        update = data["updates"][0]
        assert update["status"] == "submitted"
        assert update["updated_by"] == "citizen"
        assert update["message"]
        assert set(update) == {"id", "timestamp", "status", "message", "updated_by"}

        concern = Concern.objects.get(pk=data["id"])
        assert concern.submitted_by == citizen.user
        assert concern.contact_email == "resident@example.org"
        assert concern.updates.count() == 1

    def test_minimal_body_gets_defaults(self, citizen: Any) -> None:
        body = {"title": "Pothole", "description": "Deep pothole", "category": "roads"}
        data = assert_ok(citizen.post(CONCERNS, body), 201)
        assert data["priority"] == "medium"
        assert data["location"] == ""
        assert data["anonymous"] is False
        submitted = parse_time(data["submitted_at"])
        assert parse_time(data["estimated_resolution"]) == submitted + timedelta(hours=category("roads").sla_hours)

    @pytest.mark.parametrize("priority", ["low", "medium", "high", "emergency"])
    def test_estimated_resolution_scales_with_priority(self, citizen: Any, priority: str) -> None:
        data = assert_ok(citizen.post(CONCERNS, {**SEED_BODY, "priority": priority}), 201)
        hours = category("infrastructure").sla_hours * SLA_FACTORS[priority]
        expected = parse_time(data["submitted_at"]) + timedelta(hours=hours)
        assert parse_time(data["estimated_resolution"]) == expected

    def test_tracking_numbers_are_sequential(self, citizen: Any) -> None:
        year = timezone.now().year
        numbers = [assert_ok(citizen.post(CONCERNS, SEED_BODY), 201)["tracking_number"] for _ in range(3)]
        assert numbers == [f"TRK-{year}-{n:06d}" for n in (1, 2, 3)]
        assert TrackingSequence.objects.get(year=year).last_value == 3

    def test_tracking_number_continues_the_sequence_of_the_year(self, citizen: Any) -> None:
        year = timezone.now().year
        TrackingSequence.objects.create(year=year, last_value=41)
        data = assert_ok(citizen.post(CONCERNS, SEED_BODY), 201)
        assert data["tracking_number"] == f"TRK-{year}-000042"

    def test_wrapped_body_is_accepted(self, citizen: Any) -> None:
        response = citizen.post(CONCERNS, {"data": SEED_BODY, "metadata": {"client": "sdk"}})
        data = assert_ok(response, 201)
        assert data["title"] == SEED_BODY["title"]
        assert data["priority"] == "high"

    def test_coordinates_are_stored(self, citizen: Any) -> None:
        data = assert_ok(citizen.post(CONCERNS, {**SEED_BODY, "latitude": 40.7128, "longitude": -74.006}), 201)
        assert data["latitude"] == pytest.approx(40.7128)
        assert data["longitude"] == pytest.approx(-74.006)

    def test_staff_may_submit_too(self, staff_member: Any) -> None:
        data = assert_ok(staff_member.post(CONCERNS, SEED_BODY), 201)
        assert data["possible_duplicates"] == []

    def test_stranger_cannot_create(self, stranger: Any) -> None:
        before = counts()
        assert_error(stranger.post(CONCERNS, SEED_BODY), 401, "AUTHENTICATION_REQUIRED")
        assert counts() == before

    def test_malformed_json_is_400(self, citizen: Any) -> None:
        before = counts()
        response = citizen.client.post(CONCERNS, b'{"title": "x", ', content_type="application/json")
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert "body" in error["details"]
        assert counts() == before

    @pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
    def test_json_that_is_not_an_object_is_422_as_everywhere(self, citizen: Any, body: bytes) -> None:
        before = counts()
        response = citizen.client.post(CONCERNS, body, content_type="application/json")
        error = assert_error(response, 422, "VALIDATION_ERROR")
        assert list(error["details"]) == ["non_field_errors"]
        said = error["details"]["non_field_errors"][0]
        assert said.startswith("Expected an object, got ") and "NoneType" not in said and "list" not in said
        assert counts() == before


def _without(field: str) -> Any:
    def change(body: dict[str, Any]) -> None:
        body.pop(field)

    return change


def _set(field: str, value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        body[field] = value

    return change


def _set_contact(field: str, value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        body["contact"] = {**body["contact"], field: value}

    return change


INVALID_BODIES = [
    ("missing title", _without("title"), "title"),
    ("missing description", _without("description"), "description"),
    ("missing category", _without("category"), "category"),
    ("blank title", _set("title", "   "), "title"),
    ("title too long", _set("title", "x" * 101), "title"),
    ("description too long", _set("description", "x" * 2001), "description"),
    ("unknown category", _set("category", "unicorns"), "category"),
    ("bad priority", _set("priority", "urgent"), "priority"),
    ("title as number", _set("title", 12345), "title"),
    ("title as list", _set("title", ["Broken", "light"]), "title"),
    ("description as number", _set("description", 3.5), "description"),
    ("category as object", _set("category", {"code": "infrastructure"}), "category"),
    ("location as list", _set("location", ["Main St"]), "location"),
    ("anonymous maybe", _set("anonymous", "maybe"), "anonymous"),
    ("latitude out of range", _set("latitude", 200), "latitude"),
    ("longitude out of range", _set("longitude", -181), "longitude"),
    ("latitude as text", _set("latitude", "north"), "latitude"),
    ("contact as text", _set("contact", "call me"), "contact"),
    ("bad contact email", _set_contact("email", "not-an-email"), "contact.email"),
    ("bad contact phone", _set_contact("phone", "call me maybe"), "contact.phone"),
    ("unknown contact field", _set_contact("fax", "123"), "contact.fax"),
    ("unknown field", _set("colour", "red"), "colour"),
]


@pytest.mark.parametrize(("change", "field"), [case[1:] for case in INVALID_BODIES], ids=[c[0] for c in INVALID_BODIES])
def test_invalid_create_is_422_naming_the_field(citizen: Any, change: Any, field: str) -> None:
    body = copy.deepcopy(SEED_BODY)
    change(body)
    before = counts()
    assert_field_error(citizen.post(CONCERNS, body), field)
    assert counts() == before
    assert not TrackingSequence.objects.filter(last_value__gt=0).exists()


def test_latitude_without_longitude_is_422(citizen: Any) -> None:
    before = counts()
    details = assert_field_error(citizen.post(CONCERNS, {**SEED_BODY, "latitude": 40.7}), "longitude")
    assert "latitude" in details["longitude"][0].lower()
    assert counts() == before


def test_inactive_category_is_422(citizen: Any) -> None:
    Category.objects.filter(code="noise").update(active=False)
    before = counts()
    assert_field_error(citizen.post(CONCERNS, {**SEED_BODY, "category": "noise"}), "category")
    assert counts() == before


def test_inactive_category_is_refused_by_the_service_too(citizen: Any) -> None:
    noise = Category.objects.get(code="noise")
    noise.active = False
    noise.save()
    with pytest.raises(ValidationError, match="not accepting"):
        services.concern_create(title="Loud", description="Music", category=noise, submitted_by=citizen.user)
    assert Concern.all_objects.count() == 0


class TestIdempotency:
    def test_replay_returns_the_same_concern(self, citizen: Any) -> None:
        first = citizen.post(CONCERNS, SEED_BODY, HTTP_IDEMPOTENCY_KEY="create-1")
        data = assert_ok(first, 201)
        again = citizen.post(CONCERNS, SEED_BODY, HTTP_IDEMPOTENCY_KEY="create-1")
        replayed = assert_ok(again, 201)
        assert replayed["id"] == data["id"]
        assert replayed["tracking_number"] == data["tracking_number"]
        assert again["Idempotent-Replayed"] == "true"
        assert Concern.objects.count() == 1
        assert ConcernUpdate.objects.count() == 1

    def test_same_key_with_another_body_is_409(self, citizen: Any) -> None:
        assert_ok(citizen.post(CONCERNS, SEED_BODY, HTTP_IDEMPOTENCY_KEY="create-2"), 201)
        response = citizen.post(CONCERNS, {**SEED_BODY, "title": "Another"}, HTTP_IDEMPOTENCY_KEY="create-2")
        assert_error(response, 409, "CONFLICT")
        assert Concern.objects.count() == 1

    def test_different_keys_create_two(self, citizen: Any) -> None:
        a = assert_ok(citizen.post(CONCERNS, SEED_BODY, HTTP_IDEMPOTENCY_KEY="k-a"), 201)
        b = assert_ok(citizen.post(CONCERNS, SEED_BODY, HTTP_IDEMPOTENCY_KEY="k-b"), 201)
        assert a["id"] != b["id"]
        assert Concern.objects.count() == 2


# -- visibility ------------------------------------------------------------------------------


class TestVisibility:
    @pytest.fixture
    def concern(self, citizen: Any) -> Concern:
        concern = make_concern(
            submitted_by=citizen.user,
            contact={"email": "owner@example.org", "phone": "555 0101", "name": "Owner"},
        )
        Concern.objects.filter(pk=concern.pk).update(internal_notes="Call the contractor")
        return concern

    def test_owner_sees_own_concern_with_contact_but_no_internal_notes(self, citizen: Any, concern: Concern) -> None:
        data = assert_ok(citizen.get(concern_url(concern.pk)))
        assert data["contact"] == {"email": "owner@example.org", "phone": "555 0101", "name": "Owner"}
        assert data["anonymous"] is False
        assert "internal_notes" not in data
        assert "possible_duplicates" not in data
        assert set(data) == CONCERN_KEYS | {"contact", "anonymous", "assigned_to", "attributes"}

    @pytest.mark.parametrize("by", ["id", "tracking_number", "lowercase_tracking_number"])
    def test_other_citizen_gets_public_view(self, other_citizen: Any, concern: Concern, by: str) -> None:
        identifier = {
            "id": str(concern.pk),
            "tracking_number": concern.tracking_number,
            "lowercase_tracking_number": concern.tracking_number.lower(),
        }[by]
        data = assert_ok(other_citizen.get(concern_url(identifier)))
        assert data["id"] == str(concern.pk)
        assert data["tracking_number"] == concern.tracking_number
        assert PRIVATE_KEYS.isdisjoint(data), data.keys()
        assert set(data) == CONCERN_KEYS
        assert "owner@example.org" not in str(data)

    @pytest.mark.parametrize("by", ["id", "tracking_number"])
    def test_stranger_gets_public_view(self, stranger: Any, concern: Concern, by: str) -> None:
        identifier = str(concern.pk) if by == "id" else concern.tracking_number
        data = assert_ok(stranger.get(concern_url(identifier)))
        assert set(data) == CONCERN_KEYS
        assert len(data["updates"]) == 1

    def test_the_timeline_names_the_submitter_and_staff_to_staff_only(
        self, stranger: Any, other_citizen: Any, staff_member: Any, citizen: Any, concern: Concern
    ) -> None:
        jane = make_user("jane.doe.staff", "staff")
        services.concern_update(concern=concern, actor=jane, status="in_progress", message="On it.")
        services.concern_update(concern=concern, actor=None, message="Crew scheduled.")
        for persona in (stranger, other_citizen):
            updates = assert_ok(persona.get(concern_url(concern.tracking_number)))["updates"]
            assert [u["updated_by"] for u in updates] == ["submitter", "city staff", "system"]
        own = assert_ok(citizen.get(concern_url(concern.pk)))["updates"]
        assert [u["updated_by"] for u in own] == ["citizen", "city staff", "system"]
        staff = assert_ok(staff_member.get(concern_url(concern.pk)))["updates"]
        assert [u["updated_by"] for u in staff] == ["citizen", "jane.doe.staff", "system"]

    def test_anonymous_concern_public_view_names_nobody(self, citizen: Any, stranger: Any) -> None:
        created = assert_ok(citizen.post(CONCERNS, {**SEED_BODY, "anonymous": True}), 201)
        public = assert_ok(stranger.get(concern_url(created["tracking_number"])))
        assert set(public) == CONCERN_KEYS
        assert public["updates"][0]["updated_by"] == "submitter"
        assert "resident@example.org" not in str(public)

    def test_staff_sees_everything(self, staff_member: Any, concern: Concern) -> None:
        data = assert_ok(staff_member.get(concern_url(concern.tracking_number)))
        assert data["contact"]["email"] == "owner@example.org"
        assert data["internal_notes"] == "Call the contractor"
        assert data["possible_duplicates"] == []
        assert data["submitted_by"] == "citizen"
        assert data["assigned_to"] is None
        assert data["attributes"] == {}

    def test_anonymous_concern_hides_contact_from_its_owner(self, citizen: Any, staff_member: Any) -> None:
        body = {**SEED_BODY, "anonymous": True}
        created = assert_ok(citizen.post(CONCERNS, body), 201)
        assert created["contact"] is None
        assert "resident@example.org" not in str(created)
        own = assert_ok(citizen.get(concern_url(created["id"])))
        assert own["anonymous"] is True
        assert own["contact"] is None
        assert "resident@example.org" not in str(own)
        staff = assert_ok(staff_member.get(concern_url(created["id"])))
        assert staff["contact"]["email"] == "resident@example.org"

    def test_anonymous_concern_is_hidden_from_owner_list_too(self, citizen: Any) -> None:
        assert_ok(citizen.post(CONCERNS, {**SEED_BODY, "anonymous": True}), 201)
        data = assert_ok(citizen.get(CONCERNS))
        assert len(data["concerns"]) == 1
        assert "resident@example.org" not in str(data)

    def test_list_citizen_sees_only_own(self, citizen: Any, other_citizen: Any, concern: Concern) -> None:
        other = make_concern(submitted_by=other_citizen.user, title="Other's concern")
        mine = assert_ok(citizen.get(CONCERNS))
        assert ids(mine) == [str(concern.pk)]
        assert "internal_notes" not in mine["concerns"][0]
        assert "assigned_to" not in mine["concerns"][0]
        theirs = assert_ok(other_citizen.get(CONCERNS))
        assert ids(theirs) == [str(other.pk)]

    def test_list_staff_sees_all(self, staff_member: Any, citizen: Any, other_citizen: Any, concern: Concern) -> None:
        other = make_concern(submitted_by=other_citizen.user)
        anonymous = make_concern(submitted_by=None)
        response = staff_member.get(CONCERNS)
        data = assert_ok(response)
        assert set(ids(data)) == {str(concern.pk), str(other.pk), str(anonymous.pk)}
        assert response.json()["pagination"]["total"] == 3
        assert {"assigned_to", "anonymous"} <= set(data["concerns"][0])

    def test_list_needs_authentication(self, stranger: Any, concern: Concern) -> None:
        assert_error(stranger.get(CONCERNS), 401, "AUTHENTICATION_REQUIRED")

    def test_unknown_id_is_404(self, citizen: Any) -> None:
        assert_error(citizen.get(concern_url("7d3c0a52-4b8e-4f0e-9b1a-8f3f2a8e0c11")), 404, "RESOURCE_NOT_FOUND")
        assert_error(citizen.get(concern_url("not-an-id")), 404, "RESOURCE_NOT_FOUND")

    def test_unknown_tracking_number_is_404(self, citizen: Any, concern: Concern) -> None:
        assert_error(citizen.get(concern_url("TRK-1999-000001")), 404, "RESOURCE_NOT_FOUND")


# -- list filters ----------------------------------------------------------------------------


class TestListFilters:
    @pytest.fixture
    def world(self, citizen: Any, staff_member: Any) -> dict[str, Concern]:
        """Five concerns with distinct statuses, categories, priorities and dates."""
        base = timezone.now() - timedelta(days=10)
        specs = {
            "pothole": ("roads", "high", "Deep pothole on Elm Street", "Cars swerve around the hole."),
            "light": ("street_lighting", "low", "Lamp out", "The lamp at the corner is dark at night."),
            "bin": ("sanitation", "emergency", "Overflowing bin", "Rubbish everywhere near the school."),
            "bench": ("parks", "medium", "Broken bench", "A slat of the bench is missing."),
            "sign": ("traffic", "medium", "Stop sign bent", "Somebody drove into the stop sign."),
        }
        world: dict[str, Concern] = {}
        for index, (name, (code, priority, title, description)) in enumerate(specs.items()):
            concern = make_concern(
                submitted_by=citizen.user, category_code=code, priority=priority, title=title, description=description
            )
            Concern.objects.filter(pk=concern.pk).update(
                submitted_at=base + timedelta(days=index * 2), last_updated=base + timedelta(days=9 - index)
            )
            world[name] = Concern.objects.get(pk=concern.pk)
        services.concern_update(concern=world["light"], actor=staff_member.user, status="in_progress")
        services.concern_update(
            concern=world["bin"], actor=staff_member.user, status="in_progress", assigned_to=staff_member.user.username
        )
        services.concern_update(concern=world["bin"], actor=staff_member.user, status="resolved")
        return {name: Concern.objects.get(pk=concern.pk) for name, concern in world.items()}

    def listing(self, persona: Any, **params: Any) -> list[str]:
        return ids(assert_ok(persona.get(CONCERNS, params)))

    def test_default_order_is_newest_first(self, staff_member: Any, world: dict[str, Concern]) -> None:
        assert self.listing(staff_member) == [str(world[n].pk) for n in ("sign", "bench", "bin", "light", "pothole")]

    def test_status(self, staff_member: Any, world: dict[str, Concern]) -> None:
        assert self.listing(staff_member, status="in_progress") == [str(world["light"].pk)]
        assert set(self.listing(staff_member, status=["submitted", "resolved"])) == {
            str(world[n].pk) for n in ("pothole", "bench", "sign", "bin")
        }
        assert self.listing(staff_member, status="closed") == []

    def test_category(self, staff_member: Any, world: dict[str, Concern]) -> None:
        assert self.listing(staff_member, category="roads") == [str(world["pothole"].pk)]
        assert set(self.listing(staff_member, category=["parks", "traffic"])) == {
            str(world["bench"].pk),
            str(world["sign"].pk),
        }

    def test_priority(self, staff_member: Any, world: dict[str, Concern]) -> None:
        assert set(self.listing(staff_member, priority="medium")) == {str(world["bench"].pk), str(world["sign"].pk)}
        assert self.listing(staff_member, priority="emergency") == [str(world["bin"].pk)]

    def test_assigned_to(self, staff_member: Any, world: dict[str, Concern]) -> None:
        assert self.listing(staff_member, assigned_to="staff") == [str(world["bin"].pk)]
        assert self.listing(staff_member, assigned_to="me") == [str(world["bin"].pk)]
        unassigned = self.listing(staff_member, assigned_to="none")
        assert len(unassigned) == 4
        assert str(world["bin"].pk) not in unassigned
        assert self.listing(staff_member, assigned_to="nobody-by-this-name") == []

    def test_date_range(self, staff_member: Any, world: dict[str, Concern]) -> None:
        start = world["bin"].submitted_at  # the third of five, two days apart
        end = world["bench"].submitted_at
        iso = {"start_date": start.isoformat(), "end_date": end.isoformat()}
        assert self.listing(staff_member, **iso) == [str(world["bench"].pk), str(world["bin"].pk)]
        assert set(self.listing(staff_member, start_date=start.isoformat())) == {
            str(world[n].pk) for n in ("bin", "bench", "sign")
        }
        assert set(self.listing(staff_member, end_date=start.isoformat())) == {
            str(world[n].pk) for n in ("pothole", "light", "bin")
        }

    def test_date_only_end_date_includes_that_day(self, staff_member: Any, world: dict[str, Concern]) -> None:
        day = world["bin"].submitted_at.date().isoformat()
        found = self.listing(staff_member, start_date=day, end_date=day)
        assert found == [str(world["bin"].pk)]

    def test_text_search(self, staff_member: Any, world: dict[str, Concern]) -> None:
        assert self.listing(staff_member, q="pothole") == [str(world["pothole"].pk)]
        assert self.listing(staff_member, q="bench") == [str(world["bench"].pk)]
        assert self.listing(staff_member, q="school") == [str(world["bin"].pk)]  # in the description
        assert self.listing(staff_member, q="pothole Elm") == [str(world["pothole"].pk)]
        assert self.listing(staff_member, q="volcano") == []
        assert self.listing(staff_member, search="pothole") == [str(world["pothole"].pk)]
        assert self.listing(staff_member, search="volcano") == []

    def test_text_search_by_tracking_number(self, staff_member: Any, world: dict[str, Concern]) -> None:
        number = world["bench"].tracking_number
        assert self.listing(staff_member, q=number) == [str(world["bench"].pk)]
        assert self.listing(staff_member, q=number.lower()) == [str(world["bench"].pk)]

    def test_filters_combine(self, staff_member: Any, world: dict[str, Concern]) -> None:
        assert self.listing(staff_member, status="submitted", priority="medium", category="parks") == [
            str(world["bench"].pk)
        ]

    @pytest.mark.parametrize(
        ("sort", "order", "expected"),
        [
            ("title", "asc", ["bench", "pothole", "light", "bin", "sign"]),
            ("title", "desc", ["sign", "bin", "light", "pothole", "bench"]),
            ("submitted_at", "asc", ["pothole", "light", "bin", "bench", "sign"]),
            ("created_at", "desc", ["sign", "bench", "bin", "light", "pothole"]),
            ("tracking_number", "asc", ["pothole", "light", "bin", "bench", "sign"]),
            ("last_updated", "asc", None),
            ("estimated_resolution", "asc", None),
            ("priority", "desc", None),
            ("status", "asc", None),
        ],
    )
    def test_sort_and_order(
        self, staff_member: Any, world: dict[str, Concern], sort: str, order: str, expected: list[str] | None
    ) -> None:
        rows = assert_ok(staff_member.get(CONCERNS, {"sort": sort, "order": order}))["concerns"]
        assert len(rows) == 5
        if expected is not None:
            assert [row["id"] for row in rows] == [str(world[name].pk) for name in expected]
        if sort in {"last_updated", "estimated_resolution"}:
            values = [parse_time(row[sort]) for row in rows]
            assert values == sorted(values)
        if sort == "priority":
            ranks = {"low": 0, "medium": 1, "high": 2, "emergency": 3}
            priorities = [row["priority"] for row in rows]
            assert priorities[0] == "emergency"
            assert [ranks[p] for p in priorities] == sorted((ranks[p] for p in priorities), reverse=True)
        if sort == "status":
            ranks = {"submitted": 0, "in_progress": 1, "resolved": 2, "closed": 3}
            statuses = [row["status"] for row in rows]
            assert [ranks[s] for s in statuses] == sorted(ranks[s] for s in statuses)

    def test_overdue(self, staff_member: Any, world: dict[str, Concern]) -> None:
        past = timezone.now() - timedelta(hours=1)
        Concern.objects.filter(pk__in=[world["pothole"].pk, world["bin"].pk]).update(estimated_resolution=past)
        # The bin concern is resolved: late, but no longer overdue.
        overdue = assert_ok(staff_member.get(CONCERNS, {"overdue": "true"}))["concerns"]
        assert [row["id"] for row in overdue] == [str(world["pothole"].pk)]
        assert overdue[0]["overdue"] is True
        not_overdue = assert_ok(staff_member.get(CONCERNS, {"overdue": "false"}))["concerns"]
        assert len(not_overdue) == 4
        assert all(row["overdue"] is False for row in not_overdue)

    def test_limit_and_offset(self, staff_member: Any, world: dict[str, Concern]) -> None:
        everything = self.listing(staff_member)
        response = staff_member.get(CONCERNS, {"limit": 2, "offset": 2})
        assert ids(assert_ok(response)) == everything[2:4]
        assert response.json()["pagination"] == {"page": 2, "per_page": 2, "total": 5, "pages": 3}

    def test_page_and_per_page(self, staff_member: Any, world: dict[str, Concern]) -> None:
        everything = self.listing(staff_member)
        response = staff_member.get(CONCERNS, {"page": 3, "per_page": 2})
        assert ids(assert_ok(response)) == everything[4:]
        assert response.json()["pagination"] == {"page": 3, "per_page": 2, "total": 5, "pages": 3}

    def test_cursor_traversal_visits_every_concern_once(self, staff_member: Any, world: dict[str, Concern]) -> None:
        extra = [make_concern(title=f"Extra concern {n}") for n in range(4)]
        expected = [str(c.pk) for c in sorted([*world.values(), *extra], key=lambda c: (c.submitted_at, c.pk))]
        expected.reverse()
        seen: list[str] = []
        cursor = ""
        pages = 0
        while True:
            response = staff_member.get(CONCERNS, {"cursor": cursor, "limit": 2})
            data = assert_ok(response)
            pagination = response.json()["pagination"]
            seen.extend(ids(data))
            pages += 1
            assert pages <= 10
            if not pagination["has_more"]:
                assert pagination["next_cursor"] is None
                break
            assert len(data["concerns"]) == 2
            cursor = pagination["next_cursor"]
        assert seen == expected
        assert len(set(seen)) == 9
        assert pages == 5

    def test_prev_cursor_goes_back(self, staff_member: Any, world: dict[str, Concern]) -> None:
        first = staff_member.get(CONCERNS, {"cursor": "", "limit": 2})
        second = staff_member.get(CONCERNS, {"cursor": first.json()["pagination"]["next_cursor"], "limit": 2})
        prev_cursor = second.json()["pagination"]["prev_cursor"]
        assert prev_cursor
        back = staff_member.get(CONCERNS, {"cursor": prev_cursor, "limit": 2})
        assert ids(assert_ok(back)) == ids(assert_ok(first))

    def test_cursor_with_filters(self, staff_member: Any, world: dict[str, Concern]) -> None:
        response = staff_member.get(CONCERNS, {"cursor": "", "limit": 10, "status": "submitted"})
        assert set(ids(assert_ok(response))) == {str(world[n].pk) for n in ("pothole", "bench", "sign")}
        assert response.json()["pagination"]["has_more"] is False

    @pytest.mark.parametrize("size", ["per_page", "page_size", "limit"])
    def test_cursor_pages_take_every_page_size_name(
        self, staff_member: Any, world: dict[str, Concern], size: str
    ) -> None:
        response = staff_member.get(CONCERNS, {"cursor": "", size: 2})
        assert len(ids(assert_ok(response))) == 2
        assert response.json()["pagination"]["per_page"] == 2

    def test_cursor_pages_refuse_an_order_they_cannot_keep(self, staff_member: Any, world: dict[str, Concern]) -> None:
        response = staff_member.get(CONCERNS, {"cursor": "", "order": "asc", "limit": 2})
        assert response.status_code == 400
        assert list(response.json()["error"]["details"]) == ["cursor"]
        assert staff_member.get(CONCERNS, {"cursor": "", "order": "desc"}).status_code == 200

    @pytest.mark.parametrize("name", ["status", "category", "priority", "sort", "order", "start_date"])
    def test_an_empty_filter_is_no_filter(self, staff_member: Any, world: dict[str, Concern], name: str) -> None:
        """What an HTML form sends for an empty select or field."""
        assert sorted(self.listing(staff_member, **{name: ""})) == sorted(self.listing(staff_member))

    def test_an_empty_value_beside_a_real_one_is_dropped(self, staff_member: Any, world: dict[str, Concern]) -> None:
        response = staff_member.get(f"{CONCERNS}?status=&status=in_progress")
        assert ids(assert_ok(response)) == [str(world["light"].pk)]

    def test_citizen_filters_stay_within_own(self, citizen: Any, other_citizen: Any, world: dict[str, Concern]) -> None:
        make_concern(submitted_by=other_citizen.user, category_code="roads", title="Another pothole")
        assert self.listing(citizen, category="roads") == [str(world["pothole"].pk)]
        assert self.listing(other_citizen, category="parks") == []

    @pytest.mark.parametrize(
        ("params", "name"),
        [
            ({"status": "done"}, "status"),
            ({"category": "unicorns"}, "category"),
            ({"priority": "urgent"}, "priority"),
            ({"start_date": "yesterday"}, "start_date"),
            ({"end_date": "2025-13-45"}, "end_date"),
            ({"overdue": "maybe"}, "overdue"),
            ({"sort": "colour"}, "sort"),
            ({"order": "sideways"}, "order"),
            ({"limit": "0"}, "limit"),
            ({"limit": "1000"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"offset": "-1"}, "offset"),
            ({"page": "0"}, "page"),
            ({"per_page": "many"}, "per_page"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": "", "sort": "title"}, "cursor"),
        ],
    )
    def test_bad_values_are_400_naming_the_parameter(
        self, staff_member: Any, world: dict[str, Concern], params: dict[str, str], name: str
    ) -> None:
        error = assert_error(staff_member.get(CONCERNS, params), 400, "VALIDATION_ERROR")
        assert name in error["details"], error


# -- update and delete -----------------------------------------------------------------------


class TestUpdate:
    @pytest.fixture
    def concern(self, citizen: Any) -> Concern:
        return make_concern(submitted_by=citizen.user, priority="medium")

    def put(self, persona: Any, concern: Concern, body: dict[str, Any], status: int = 200) -> Any:
        response = persona.put(concern_url(concern.pk), body)
        if status == 200:
            data = assert_ok(response)
            assert response.json()["message"] == "Concern updated successfully"
            return data
        return response

    def test_workflow_with_reopening(self, staff_member: Any, citizen: Any, concern: Concern) -> None:
        steps = [
            ("in_progress", "Crew dispatched."),
            ("resolved", "Fixed the slab."),
            ("in_progress", "Reopened: it cracked again."),
            ("resolved", "Replaced the slab."),
            ("closed", "Confirmed by the resident."),
        ]
        for status, text in steps:
            data = self.put(staff_member, concern, {"status": status, "message": text})
            assert data["status"] == status
            assert data["updates"][-1]["status"] == status
            assert data["updates"][-1]["message"] == text
            assert data["updates"][-1]["updated_by"] == "staff"
            stored = Concern.objects.get(pk=concern.pk)
            assert stored.status == status
            assert (stored.resolved_at is not None) == (status in {"resolved", "closed"})
        timeline = assert_ok(citizen.get(concern_url(concern.pk)))["updates"]
        assert [u["status"] for u in timeline] == ["submitted", *(s for s, _ in steps)]
        assert [u["message"] for u in timeline[1:]] == [text for _, text in steps]
        assert all(u["updated_by"] == "city staff" for u in timeline[1:])  # the citizen's view
        assert ConcernUpdate.objects.filter(concern=concern).count() == 6
        timestamps = [parse_time(u["timestamp"]) for u in timeline]
        assert timestamps == sorted(timestamps)

    def test_status_change_without_message_describes_itself(self, staff_member: Any, concern: Concern) -> None:
        data = self.put(staff_member, concern, {"status": "in_progress"})
        assert data["updates"][-1]["message"]
        assert data["updates"][-1]["updated_by"] == "staff"

    def test_message_alone_adds_a_timeline_entry(self, staff_member: Any, concern: Concern) -> None:
        data = self.put(staff_member, concern, {"message": "We are looking into it."})
        assert data["status"] == "submitted"
        assert data["updates"][-1]["message"] == "We are looking into it."
        assert len(data["updates"]) == 2

    def test_last_updated_moves(self, staff_member: Any, concern: Concern) -> None:
        data = self.put(staff_member, concern, {"status": "in_progress"})
        assert parse_time(data["last_updated"]) > concern.last_updated

    @pytest.mark.parametrize(
        ("path", "target"),
        [
            ([], "resolved"),
            ([], "closed"),
            (["in_progress"], "closed"),
            (["in_progress"], "submitted"),
            (["in_progress", "resolved", "closed"], "in_progress"),
            (["in_progress", "resolved", "closed"], "resolved"),
            (["in_progress", "resolved", "closed"], "submitted"),
        ],
    )
    def test_invalid_transition_is_422(self, staff_member: Any, concern: Concern, path: list[str], target: str) -> None:
        for status in path:
            self.put(staff_member, concern, {"status": status})
        before = ConcernUpdate.objects.filter(concern=concern).count()
        response = self.put(staff_member, concern, {"status": target, "message": "try"}, status=422)
        details = assert_field_error(response, "status")
        assert target in details["status"][0]
        stored = Concern.objects.get(pk=concern.pk)
        assert stored.status == (path[-1] if path else "submitted")
        assert ConcernUpdate.objects.filter(concern=concern).count() == before

    def test_unknown_status_value_is_422(self, staff_member: Any, concern: Concern) -> None:
        assert_field_error(self.put(staff_member, concern, {"status": "done"}, status=422), "status")

    def test_priority_change_recomputes_estimated_resolution(self, staff_member: Any, concern: Concern) -> None:
        data = self.put(staff_member, concern, {"priority": "emergency"})
        hours = category("infrastructure").sla_hours * SLA_FACTORS["emergency"]
        assert parse_time(data["estimated_resolution"]) == concern.submitted_at + timedelta(hours=hours)
        assert data["priority"] == "emergency"
        assert data["updates"][-1]["updated_by"] == "staff"
        assert "emergency" in data["updates"][-1]["message"]
        data = self.put(staff_member, concern, {"priority": "low"})
        hours = category("infrastructure").sla_hours * SLA_FACTORS["low"]
        assert parse_time(data["estimated_resolution"]) == concern.submitted_at + timedelta(hours=hours)

    def test_estimated_resolution_change_alone_is_on_the_timeline(self, staff_member: Any, concern: Concern) -> None:
        target = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
        data = self.put(staff_member, concern, {"estimated_resolution": target.isoformat()})
        assert parse_time(data["estimated_resolution"]) == target
        assert len(data["updates"]) == 2
        assert data["updates"][-1]["updated_by"] == "staff"
        assert target.strftime("%Y-%m-%d") in data["updates"][-1]["message"]

    def test_explicit_estimated_resolution_wins(self, staff_member: Any, concern: Concern) -> None:
        target = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
        body = {"priority": "high", "estimated_resolution": target.isoformat()}
        data = self.put(staff_member, concern, body)
        assert parse_time(data["estimated_resolution"]) == target

    def test_a_date_set_by_hand_stays_when_the_priority_changes(self, staff_member: Any, concern: Concern) -> None:
        """Only the date the SLA gave follows the priority; one staff promised stays."""
        target = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
        self.put(staff_member, concern, {"estimated_resolution": target.isoformat()})
        data = self.put(staff_member, concern, {"priority": "emergency"})
        assert data["priority"] == "emergency"
        assert parse_time(data["estimated_resolution"]) == target

    def test_assign_to_staff_and_unassign(self, staff_member: Any, concern: Concern) -> None:
        data = self.put(staff_member, concern, {"assigned_to": "staff"})
        assert data["assigned_to"] == "staff"
        assert len(data["updates"]) == 2
        assert Concern.objects.get(pk=concern.pk).assigned_to == staff_member.user
        data = self.put(staff_member, concern, {"assigned_to": None})
        assert data["assigned_to"] is None
        assert len(data["updates"]) == 3

    def test_assign_to_an_administrator(self, staff_member: Any, administrator: Any, concern: Concern) -> None:
        assert self.put(staff_member, concern, {"assigned_to": "admin"})["assigned_to"] == "admin"

    @pytest.mark.parametrize("who", ["citizen", "ghost", "retired"])
    def test_assignee_must_be_active_staff(self, staff_member: Any, concern: Concern, who: str) -> None:
        make_user("retired", Role.STAFF, is_active=False)
        response = self.put(staff_member, concern, {"assigned_to": who}, status=422)
        assert_field_error(response, "assigned_to")
        assert Concern.objects.get(pk=concern.pk).assigned_to is None
        assert ConcernUpdate.objects.filter(concern=concern).count() == 1

    def test_internal_notes_only_for_staff(self, staff_member: Any, citizen: Any, concern: Concern) -> None:
        data = self.put(staff_member, concern, {"internal_notes": "Contractor booked."})
        assert data["internal_notes"] == "Contractor booked."
        assert "internal_notes" not in assert_ok(citizen.get(concern_url(concern.pk)))

    def test_citizen_cannot_update(self, citizen: Any, concern: Concern) -> None:
        assert_error(citizen.put(concern_url(concern.pk), {"status": "in_progress"}), 403, "PERMISSION_DENIED")
        assert Concern.objects.get(pk=concern.pk).status == "submitted"

    def test_stranger_cannot_update(self, stranger: Any, concern: Concern) -> None:
        assert_error(stranger.put(concern_url(concern.pk), {"status": "in_progress"}), 401, "AUTHENTICATION_REQUIRED")

    def test_empty_body_is_422(self, staff_member: Any, concern: Concern) -> None:
        response = staff_member.put(concern_url(concern.pk), {})
        error = assert_error(response, 422, "VALIDATION_ERROR")
        assert error["details"]
        assert ConcernUpdate.objects.filter(concern=concern).count() == 1

    def test_unknown_field_is_422(self, staff_member: Any, concern: Concern) -> None:
        assert_field_error(self.put(staff_member, concern, {"colour": "blue"}, status=422), "colour")

    def test_wrong_types_are_422(self, staff_member: Any, concern: Concern) -> None:
        assert_field_error(self.put(staff_member, concern, {"message": 5}, status=422), "message")
        assert_field_error(
            self.put(staff_member, concern, {"estimated_resolution": "soon"}, status=422), ("estimated_resolution")
        )

    def test_update_by_tracking_number(self, staff_member: Any, concern: Concern) -> None:
        response = staff_member.put(concern_url(concern.tracking_number), {"status": "in_progress"})
        assert assert_ok(response)["status"] == "in_progress"

    def test_update_unknown_is_404(self, staff_member: Any) -> None:
        assert_error(
            staff_member.put(concern_url("TRK-2000-000009"), {"status": "in_progress"}), 404, ("RESOURCE_NOT_FOUND")
        )


class TestDelete:
    def test_staff_cannot_delete(self, staff_member: Any, citizen: Any) -> None:
        concern = make_concern(submitted_by=citizen.user)
        assert_error(staff_member.delete(concern_url(concern.pk)), 403, "PERMISSION_DENIED")
        assert_error(citizen.delete(concern_url(concern.pk)), 403, "PERMISSION_DENIED")
        assert Concern.objects.filter(pk=concern.pk).exists()

    def test_administrator_soft_deletes(
        self, administrator: Any, staff_member: Any, citizen: Any, stranger: Any
    ) -> None:
        concern = make_concern(submitted_by=citizen.user)
        kept = make_concern(submitted_by=citizen.user, title="Still here")
        response = administrator.delete(concern_url(concern.tracking_number))
        assert assert_ok(response)["message"] == "Concern deleted successfully"

        row = Concern.all_objects.get(pk=concern.pk)
        assert row.deleted_at is not None
        assert row.deleted_by == administrator.user
        assert ConcernUpdate.objects.filter(concern_id=concern.pk).count() == 1  # kept for audit
        assert not Concern.objects.filter(pk=concern.pk).exists()

        for persona in (administrator, staff_member, citizen, stranger):
            assert_error(persona.get(concern_url(concern.pk)), 404, "RESOURCE_NOT_FOUND")
            assert_error(persona.get(concern_url(concern.tracking_number)), 404, "RESOURCE_NOT_FOUND")
        assert ids(assert_ok(staff_member.get(CONCERNS))) == [str(kept.pk)]
        assert ids(assert_ok(citizen.get(CONCERNS))) == [str(kept.pk)]
        assert_error(staff_member.put(concern_url(concern.pk), {"status": "in_progress"}), 404, "RESOURCE_NOT_FOUND")
        assert_error(administrator.delete(concern_url(concern.pk)), 404, "RESOURCE_NOT_FOUND")

    def test_stranger_cannot_delete(self, stranger: Any, citizen: Any) -> None:
        concern = make_concern(submitted_by=citizen.user)
        assert_error(stranger.delete(concern_url(concern.pk)), 401, "AUTHENTICATION_REQUIRED")
        assert Concern.objects.get(pk=concern.pk).deleted_at is None


def test_statuses_in_the_model_match_the_workflow() -> None:
    # Guards the parametrised transition tests above against a silently changed enum.
    assert {s.value for s in Status} == {"submitted", "in_progress", "resolved", "closed"}
