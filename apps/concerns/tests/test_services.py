"""Concern services: events, possible duplicates, tracking numbers and all-or-nothing writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.concerns import services
from apps.concerns.duplicates import DUPLICATE_RADIUS_M, distance_m, similarity
from apps.concerns.models import Attachment, Concern, ConcernUpdate, DuplicateLink, Status
from apps.concerns.tests.helpers import (
    CONCERNS,
    SEED_BODY,
    assert_error,
    assert_field_error,
    assert_ok,
    concern_url,
    counts,
    make_concern,
    media_files,
    png_bytes,
    recorded_events,
    upload,
)

pytestmark = pytest.mark.django_db

# Two points ~50 m apart and one ~1.1 km away (1e-5 degrees of latitude is ~1.11 m).
CITY_HALL = (40.712800, -74.006000)
ACROSS_THE_STREET = (40.713250, -74.006000)
FAR_AWAY = (40.722800, -74.006000)


@pytest.fixture
def events() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    with recorded_events() as recorded:
        yield recorded


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


# -- events ----------------------------------------------------------------------------------


class TestEvents:
    def test_create_publishes_concern_created(self, citizen: Any, events: list) -> None:
        data = assert_ok(citizen.post(CONCERNS, SEED_BODY), 201)
        assert names(events) == ["concern.created"]
        payload = events[0][1]
        assert payload["concern_id"] == data["id"]
        assert payload["tracking_number"] == data["tracking_number"]
        assert payload["title"] == SEED_BODY["title"]
        assert payload["category"] == "infrastructure"
        assert payload["priority"] == "high"
        assert payload["status"] == "submitted"
        assert payload["submitted_by"] == str(citizen.user.pk)
        assert payload["assigned_to"] is None
        # Events go to webhooks: never contact data.
        assert "resident@example.org" not in str(payload)
        assert "Robin Resident" not in str(payload)

    def test_each_update_publishes_concern_updated(self, citizen: Any, staff_member: Any, events: list) -> None:
        data = assert_ok(citizen.post(CONCERNS, SEED_BODY), 201)
        events.clear()
        url = concern_url(data["id"])
        assert_ok(staff_member.put(url, {"status": "in_progress", "message": "On it."}))
        assert_ok(staff_member.put(url, {"priority": "emergency"}))
        assert_ok(staff_member.put(url, {"assigned_to": "staff"}))
        assert_ok(staff_member.put(url, {"status": "resolved", "message": "Done."}))
        assert names(events) == ["concern.updated"] * 4

        first, second, third, fourth = (payload for _, payload in events)
        assert first["concern_id"] == data["id"]
        assert first["tracking_number"] == data["tracking_number"]
        assert first["status"] == "in_progress"
        assert first["previous_status"] == "submitted"
        assert first["message"] == "On it."
        assert "status" in first["changes"]
        assert second["priority"] == "emergency"
        assert "priority" in second["changes"]
        assert "estimated_resolution" in second["changes"]
        assert second["previous_status"] == second["status"] == "in_progress"
        assert third["assigned_to"] == str(staff_member.user.pk)
        assert third["changes"] == ["assigned_to"]
        assert fourth["status"] == "resolved"
        assert fourth["previous_status"] == "in_progress"
        assert fourth["message"] == "Done."

    def test_internal_notes_change_publishes_without_timeline_entry(self, staff_member: Any, events: list) -> None:
        concern = make_concern()
        events.clear()
        services.concern_update(concern=concern, actor=staff_member.user, internal_notes="Private.")
        assert names(events) == ["concern.updated"]
        assert events[0][1]["changes"] == ["internal_notes"]
        assert "Private." not in str(events[0][1])
        assert ConcernUpdate.objects.filter(concern=concern).count() == 1

    def test_update_that_changes_nothing_publishes_nothing(self, staff_member: Any, events: list) -> None:
        concern = make_concern()
        events.clear()
        services.concern_update(concern=concern, actor=staff_member.user, status=Status.SUBMITTED)
        assert events == []
        assert ConcernUpdate.objects.filter(concern=concern).count() == 1

    def test_invalid_transition_publishes_nothing(self, staff_member: Any, events: list) -> None:
        concern = make_concern()
        events.clear()
        response = staff_member.put(concern_url(concern.pk), {"status": "closed"})
        assert_field_error(response, "status")
        assert events == []

    def test_failing_create_publishes_nothing(self, citizen: Any, events: list) -> None:
        before = counts()
        body = {
            "title": "Broken street light",
            "description": "Dark at night",
            "category": "street_lighting",
            "attachments": [upload("photo.png", png_bytes()), upload("photo2.png", b"not an image at all")],
        }
        response = citizen.client.post(CONCERNS, body, format="multipart")
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert events == []
        assert counts() == before

    def test_invalid_body_publishes_nothing(self, citizen: Any, events: list) -> None:
        assert_field_error(citizen.post(CONCERNS, {**SEED_BODY, "title": ""}), "title")
        assert events == []

    def test_failing_subscriber_rolls_the_create_back(self, citizen: Any) -> None:
        def refuse(event: str, data: dict[str, Any]) -> None:
            raise RuntimeError("outbox unavailable")

        from apps.core.events import event_subscribe, event_unsubscribe

        before = counts()
        event_subscribe(refuse)
        try:
            with pytest.raises(RuntimeError):
                make_concern(submitted_by=citizen.user, files=[upload("a.png", png_bytes())])
        finally:
            event_unsubscribe(refuse)
        assert counts() == before
        assert media_files() == []


# -- duplicates ------------------------------------------------------------------------------


class TestDuplicates:
    def test_nearby_open_concern_of_the_same_category_is_linked(self) -> None:
        first = make_concern(
            title="Lamp post leaning",
            description="Might fall over",
            latitude=CITY_HALL[0],
            longitude=CITY_HALL[1],
            category_code="street_lighting",
        )
        second = make_concern(
            title="Light not working",
            description="Dark corner at night",
            latitude=ACROSS_THE_STREET[0],
            longitude=ACROSS_THE_STREET[1],
            category_code="street_lighting",
        )
        link = DuplicateLink.objects.get(concern=second)
        assert link.duplicate_of == first
        assert link.reason == "nearby"
        assert link.distance_m == pytest.approx(50, abs=2)
        assert link.distance_m <= DUPLICATE_RADIUS_M
        assert not DuplicateLink.objects.filter(concern=first).exists()

    def test_far_concern_is_not_linked(self) -> None:
        make_concern(
            title="Lamp post leaning",
            description="Might fall over",
            latitude=CITY_HALL[0],
            longitude=CITY_HALL[1],
            category_code="street_lighting",
        )
        far = make_concern(
            title="Light not working",
            description="Dark corner at night",
            latitude=FAR_AWAY[0],
            longitude=FAR_AWAY[1],
            category_code="street_lighting",
        )
        assert distance_m(*CITY_HALL, *FAR_AWAY) > 1000
        assert not DuplicateLink.objects.filter(concern=far).exists()

    def test_just_outside_the_radius_is_not_linked(self) -> None:
        make_concern(
            title="Bin A", description="Full", latitude=CITY_HALL[0], longitude=CITY_HALL[1], category_code="sanitation"
        )
        # 0.00095 degrees of latitude is ~105.6 m: inside the bounding box, outside the circle.
        outside = make_concern(
            title="Bin B",
            description="Smelly",
            latitude=CITY_HALL[0] + 0.00095,
            longitude=CITY_HALL[1],
            category_code="sanitation",
        )
        assert not DuplicateLink.objects.filter(concern=outside).exists()

    def test_similar_text_in_the_same_category_is_linked(self) -> None:
        first = make_concern(
            title="Huge pothole on Elm Street",
            description="A huge pothole on Elm Street near the school damages cars.",
            category_code="roads",
        )
        second = make_concern(
            title="Pothole on Elm Street",
            description="Huge pothole on Elm Street near the school, damages cars.",
            category_code="roads",
        )
        link = DuplicateLink.objects.get(concern=second)
        assert link.duplicate_of == first
        assert link.reason == "similar_text"
        assert link.similarity is not None and link.similarity >= 0.6
        assert link.distance_m is None

    def test_dissimilar_text_is_not_linked(self) -> None:
        make_concern(title="Huge pothole on Elm Street", description="Damages cars.", category_code="roads")
        other = make_concern(
            title="Faded road markings", description="Lines at the crossing are gone.", category_code="roads"
        )
        assert similarity("Huge pothole on Elm Street Damages cars.", "Faded road markings Lines gone") < 0.6
        assert not DuplicateLink.objects.filter(concern=other).exists()

    def test_different_category_is_not_linked(self) -> None:
        make_concern(
            title="Water on Elm Street",
            description="Water everywhere on Elm Street.",
            latitude=CITY_HALL[0],
            longitude=CITY_HALL[1],
            category_code="water",
        )
        other = make_concern(
            title="Water on Elm Street",
            description="Water everywhere on Elm Street.",
            latitude=CITY_HALL[0],
            longitude=CITY_HALL[1],
            category_code="roads",
        )
        assert not DuplicateLink.objects.filter(concern=other).exists()

    @pytest.mark.parametrize("path", [["in_progress", "resolved"], ["in_progress", "resolved", "closed"]])
    def test_concerns_no_longer_open_are_not_linked(self, staff_member: Any, path: list[str]) -> None:
        first = make_concern(
            title="Water on Elm Street",
            description="Water everywhere on Elm Street.",
            latitude=CITY_HALL[0],
            longitude=CITY_HALL[1],
            category_code="water",
        )
        for status in path:
            services.concern_update(concern=first, actor=staff_member.user, status=status)
        other = make_concern(
            title="Water on Elm Street",
            description="Water everywhere on Elm Street.",
            latitude=CITY_HALL[0],
            longitude=CITY_HALL[1],
            category_code="water",
        )
        assert not DuplicateLink.objects.filter(concern=other).exists()

    def test_deleted_concerns_are_not_linked(self, administrator: Any) -> None:
        first = make_concern(
            title="Water on Elm Street", description="Water everywhere on Elm Street.", category_code="water"
        )
        services.concern_delete(concern=first, actor=administrator.user)
        other = make_concern(
            title="Water on Elm Street", description="Water everywhere on Elm Street.", category_code="water"
        )
        assert not DuplicateLink.objects.filter(concern=other).exists()

    def test_in_progress_concern_is_still_linked(self, staff_member: Any) -> None:
        first = make_concern(
            title="Water on Elm Street", description="Water everywhere on Elm Street.", category_code="water"
        )
        services.concern_update(concern=first, actor=staff_member.user, status="in_progress")
        other = make_concern(
            title="Water on Elm Street", description="Water everywhere on Elm Street.", category_code="water"
        )
        assert DuplicateLink.objects.get(concern=other).duplicate_of == first

    def test_staff_detail_shows_possible_duplicates(self, citizen: Any, staff_member: Any, stranger: Any) -> None:
        body = {**SEED_BODY, "category": "street_lighting", "latitude": CITY_HALL[0], "longitude": CITY_HALL[1]}
        first = assert_ok(citizen.post(CONCERNS, body), 201)
        second_body = {
            **body,
            "title": "Lamp dark",
            "description": "Nothing works here",
            "latitude": ACROSS_THE_STREET[0],
            "longitude": ACROSS_THE_STREET[1],
        }
        second = assert_ok(citizen.post(CONCERNS, second_body), 201)
        assert "possible_duplicates" not in second  # the owner's view

        staff = assert_ok(staff_member.get(concern_url(second["tracking_number"])))
        assert len(staff["possible_duplicates"]) == 1
        duplicate = staff["possible_duplicates"][0]
        assert duplicate["id"] == first["id"]
        assert duplicate["tracking_number"] == first["tracking_number"]
        assert duplicate["reason"] == "nearby"
        assert duplicate["distance_m"] == pytest.approx(50, abs=2)
        # The older concern shows the link too: staff may be working from either.
        [back] = assert_ok(staff_member.get(concern_url(first["id"])))["possible_duplicates"]
        assert (back["id"], back["tracking_number"], back["reason"]) == (
            second["id"],
            second["tracking_number"],
            "nearby",
        )
        assert back["distance_m"] == duplicate["distance_m"]
        assert "possible_duplicates" not in assert_ok(citizen.get(concern_url(second["id"])))
        assert "possible_duplicates" not in assert_ok(stranger.get(concern_url(second["id"])))
        services.concern_delete(concern=Concern.objects.get(pk=second["id"]), actor=staff_member.user)
        assert assert_ok(staff_member.get(concern_url(first["id"])))["possible_duplicates"] == []


# -- tracking numbers and atomic writes ------------------------------------------------------


def test_tracking_numbers_are_counted_per_year() -> None:
    with transaction.atomic():
        assert services.tracking_number_next(year=2030) == "TRK-2030-000001"
        assert services.tracking_number_next(year=2030) == "TRK-2030-000002"
        assert services.tracking_number_next(year=2031) == "TRK-2031-000001"
        assert services.tracking_number_next(year=2030) == "TRK-2030-000003"


def test_a_failed_create_gives_its_number_back(monkeypatch: Any) -> None:
    """A create that fails after taking its number rolls the sequence back with it: no gaps."""
    year = timezone.now().year
    first = make_concern()
    taken: list[str] = []

    def explode(concern: Concern) -> list:
        taken.append(concern.tracking_number)
        raise RuntimeError("late failure")

    with monkeypatch.context() as patch:
        patch.setattr(services, "find_duplicates", explode)
        with pytest.raises(RuntimeError):
            make_concern()
    assert taken == [f"TRK-{year}-000002"]
    second = make_concern()
    assert [first.tracking_number, second.tracking_number] == [f"TRK-{year}-000001", f"TRK-{year}-000002"]


def test_failure_after_files_were_stored_leaves_nothing_behind(monkeypatch: Any) -> None:
    def explode(concern: Concern) -> list:
        # By now the concern, its timeline entry and both files have been written.
        assert Attachment.objects.filter(concern=concern).count() == 2
        assert len(media_files()) == 2
        raise RuntimeError("duplicate search failed")

    monkeypatch.setattr(services, "find_duplicates", explode)
    before = counts()
    with pytest.raises(RuntimeError, match="duplicate search failed"):
        make_concern(files=[upload("a.png", png_bytes()), upload("b.png", png_bytes((4, 4)))])
    assert counts() == before
    assert media_files() == []


def test_update_locks_and_rereads_the_row(staff_member: Any) -> None:
    concern = make_concern()
    stale = Concern.objects.get(pk=concern.pk)
    services.concern_update(concern=concern, actor=staff_member.user, status="in_progress")
    # The stale copy still says "submitted"; the service must check the stored status.
    services.concern_update(concern=stale, actor=staff_member.user, status="resolved")
    assert Concern.objects.get(pk=concern.pk).status == "resolved"


def test_update_locks_only_the_concern_row(staff_member: Any) -> None:
    """The category row is shared by every concern of the category: updates must not lock it."""
    concern = make_concern()
    with CaptureQueriesContext(connection) as context:
        services.concern_update(concern=concern, actor=staff_member.user, status="in_progress")
    locking = [q["sql"] for q in context.captured_queries if "FOR UPDATE" in q["sql"]]
    if connection.features.has_select_for_update:
        assert len(locking) == 1, locking
        assert locking[0].rstrip().endswith('FOR UPDATE OF "concerns_concern"'), locking[0]
    else:  # SQLite serialises writers with BEGIN IMMEDIATE instead
        assert locking == []
