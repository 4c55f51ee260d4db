"""What a concern read asks the database: ?category= is checked against a cached map of
category codes, not a query per request (a change to the categories, the admin's included,
applies to the very next request; in other processes a new code at once, a removed or
renamed one within CATEGORY_IDS_LOCAL_SECONDS); a detail reads only the usernames of its
users."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.concerns.models import Category
from apps.concerns.selectors import CATEGORY_IDS_KEY, category_ids_by_code
from apps.concerns.tests.helpers import CONCERNS, assert_error, assert_ok, make_concern

pytestmark = pytest.mark.django_db


def listed(persona: Any, **params: Any) -> list[str]:
    return [row["tracking_number"] for row in assert_ok(persona.get(CONCERNS, params))["concerns"]]


def test_filtering_by_category_asks_the_database_only_for_concerns(staff_member, citizen):
    roads = make_concern(submitted_by=citizen.user, category_code="roads")
    make_concern(submitted_by=citizen.user, category_code="parks")
    assert listed(staff_member, category="roads") == [roads.tracking_number]  # fills the cache
    with CaptureQueriesContext(connection) as captured:
        assert listed(staff_member, category="roads") == [roads.tracking_number]
    assert [q["sql"] for q in captured if 'FROM "concerns_category"' in q["sql"]] == []


def test_a_new_category_is_filterable_at_once(staff_member):
    assert_ok(staff_member.get(CONCERNS, {"category": "roads"}))  # the map is cached now
    Category.objects.create(code="graffiti", name="Graffiti", sla_hours=72)
    assert listed(staff_member, category="graffiti") == []


def test_a_deleted_category_is_refused_at_once(staff_member):
    Category.objects.create(code="kiosks", name="Kiosks", sla_hours=72)
    assert listed(staff_member, category="kiosks") == []
    Category.objects.filter(code="kiosks").get().delete()
    error = assert_error(staff_member.get(CONCERNS, {"category": "kiosks"}), 400, "VALIDATION_ERROR")
    assert "category" in error["details"]


def test_another_process_new_category_is_filterable_at_once(staff_member):
    assert_ok(staff_member.get(CONCERNS, {"category": "roads"}))  # this process keeps the map now
    # Another process adds a category: its signal forgets the shared map, not this copy.
    Category.objects.bulk_create([Category(code="benches", name="Benches", sla_hours=72)])
    cache.delete(CATEGORY_IDS_KEY)
    assert listed(staff_member, category="benches") == []


def test_the_shared_map_is_read_once_per_local_period(staff_member, monkeypatch):
    from apps.concerns import selectors

    reads: list[str] = []
    real_get = cache.get

    def counted_get(key: str, *args: Any, **kwargs: Any) -> Any:
        if CATEGORY_IDS_KEY in key:
            reads.append(key)
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(cache, "get", counted_get)
    for _ in range(3):
        assert_ok(staff_member.get(CONCERNS, {"category": "roads"}))
    assert len(reads) == 1
    later = selectors.time.time() + selectors.CATEGORY_IDS_LOCAL_SECONDS + 1
    monkeypatch.setattr(selectors, "time", type("Clock", (), {"time": staticmethod(lambda: later)}))
    assert_ok(staff_member.get(CONCERNS, {"category": "roads"}))
    assert len(reads) == 2


def test_inactive_categories_still_filter_their_old_concerns(staff_member, citizen):
    parks = make_concern(submitted_by=citizen.user, category_code="parks")
    Category.objects.filter(code="parks").update(active=False)
    assert listed(staff_member, category="parks") == [parks.tracking_number]


def test_an_unreachable_cache_reads_the_codes_from_the_database(staff_member, citizen, monkeypatch):
    roads = make_concern(submitted_by=citizen.user, category_code="roads")

    def broken(*args: object, **kwargs: object) -> object:
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_or_set", broken)
    assert listed(staff_member, category="roads") == [roads.tracking_number]
    assert_error(staff_member.get(CONCERNS, {"category": "unicorns"}), 400, "VALIDATION_ERROR")


def test_the_map_holds_every_category(db):
    cache.delete(CATEGORY_IDS_KEY)
    assert category_ids_by_code() == dict(Category.objects.values_list("code", "id"))


def test_the_detail_reads_nothing_of_its_users_but_their_usernames(staff_member, citizen):
    from apps.concerns import services
    from apps.concerns.tests.helpers import concern_url

    concern = make_concern(submitted_by=citizen.user)
    services.concern_update(concern=concern, actor=staff_member.user, assigned_to=staff_member.user.username)
    with CaptureQueriesContext(connection) as captured:
        data = assert_ok(staff_member.get(concern_url(concern.tracking_number)))
    assert (data["assigned_to"], data["submitted_by"]) == (staff_member.user.username, citizen.user.username)
    selected = " ".join(q["sql"] for q in captured if 'FROM "concerns_concern"' in q["sql"])
    assert '"username"' in selected
    assert '"password"' not in selected and '"email"' not in selected


def test_a_map_read_while_a_change_commits_is_not_put_back(db, monkeypatch):
    from apps.concerns.selectors import category_ids_forget

    cache.delete(CATEGORY_IDS_KEY)
    real_get = cache.get

    def racing_get(key: str, *args: Any, **kwargs: Any) -> Any:
        found = real_get(key, *args, **kwargs)  # nothing cached: this request will read the table
        category_ids_forget()  # meanwhile a change commits and forgets the map
        return found

    monkeypatch.setattr(cache, "get", racing_get)
    category_ids_by_code()
    monkeypatch.undo()
    assert not isinstance(cache.get(CATEGORY_IDS_KEY), dict)  # the map it read was not cached
    Category.objects.create(code="benches", name="Benches", sla_hours=72)
    assert "benches" in category_ids_by_code()


def test_the_category_filter_is_documented_as_an_array_of_codes(staff_member):
    schema = staff_member.client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    [parameter] = [p for p in schema["paths"]["/api/v1/concerns"]["get"]["parameters"] if p["name"] == "category"]
    assert parameter["schema"] == {"type": "array", "items": {"type": "string"}}


def _concern_with_everything(citizen: Any, staff_member: Any) -> Any:
    from apps.concerns import services
    from apps.concerns.models import Attachment, DuplicateLink

    concern = make_concern(submitted_by=citizen.user, latitude=52.37, longitude=4.89)
    older = make_concern(submitted_by=citizen.user, title="Lifting slab")
    services.concern_update(concern=concern, actor=staff_member.user, status="in_progress", message="Crew booked")
    services.concern_update(concern=concern, actor=staff_member.user, status="resolved", message="Relaid")
    for name in ("before.png", "after.pdf"):
        Attachment.objects.create(
            concern=concern, file=f"concerns/{name}", filename=name, content_type="image/png", size=1234,
            uploaded_by=citizen.user,
        )  # fmt: skip
    DuplicateLink.objects.filter(concern__in=[concern, older]).delete()  # the automatic ones
    DuplicateLink.objects.create(concern=concern, duplicate_of=older, reason="nearby", distance_m=12.5, similarity=0.75)
    return concern


@pytest.mark.parametrize("who", ["staff_member", "citizen", "stranger"])
def test_a_detail_is_one_query_on_postgresql_and_shows_what_prefetching_shows(who, request, monkeypatch):
    from apps.concerns import inlined
    from apps.concerns.tests.helpers import concern_url

    concern = _concern_with_everything(request.getfixturevalue("citizen"), request.getfixturevalue("staff_member"))
    persona = request.getfixturevalue(who)
    url = concern_url(concern.tracking_number)
    with CaptureQueriesContext(connection) as captured:
        shown = assert_ok(persona.get(url))
    concern_queries = [q for q in captured if 'FROM "concerns_' in q["sql"]]
    # Staff also get the newer concerns that link to this one: one more query.
    later_links = 1 if who == "staff_member" else 0
    assert len(concern_queries) == (1 if connection.vendor == "postgresql" else 4) + later_links
    assert [u["message"] for u in shown["updates"]][-2:] == ["Crew booked", "Relaid"]
    assert [a["filename"] for a in shown["attachments"]] == ["before.png", "after.pdf"]
    if who == "staff_member":
        assert [(d["reason"], d["distance_m"], d["similarity"]) for d in shown["possible_duplicates"]] == [
            ("nearby", 12.5, 0.75)
        ]
    monkeypatch.setattr(inlined, "inlining", lambda: False)
    assert assert_ok(persona.get(url)) == shown  # exactly what the prefetched concern shows


def test_written_out_representations_are_what_drf_fields_give(citizen, staff_member):
    """The timeline and attachment entries and the list row skip DRF's field machinery
    (serializers.timeline_entry, attachment_entry, concern_row_data); DRF's own fields must
    give the same."""
    from rest_framework import serializers as drf

    from apps.concerns.api import serializers as s
    from apps.concerns.models import Attachment, Concern, ConcernUpdate
    from apps.concerns.selectors import ConcernRow, concern_get

    class Timeline(drf.ModelSerializer):
        updated_by = drf.CharField(source="updated_by_name")

        class Meta:
            model = ConcernUpdate
            fields = s.TimelineSerializer.Meta.fields

    class Attachments(drf.ModelSerializer):
        url = drf.SerializerMethodField()

        class Meta:
            model = Attachment
            fields = s.AttachmentSerializer.Meta.fields

        def get_url(self, attachment: Attachment) -> str:
            return s.attachment_entry(attachment, str)["url"]

    class Row(drf.ModelSerializer):
        category = drf.CharField(source="category.code")
        overdue = drf.BooleanField(source="is_overdue")

        class Meta:
            model = Concern
            fields = s.ConcernListSerializer.Meta.fields

    concern = concern_get(identifier=str(_concern_with_everything(citizen, staff_member).pk))
    write = s.datetime_writer()
    updates, attachments = concern.updates.all(), concern.attachments.all()
    assert [s.timeline_entry(update, write) for update in updates] == Timeline(updates, many=True).data
    assert [s.attachment_entry(item, write) for item in attachments] == Attachments(attachments, many=True).data
    assert s.concern_row_data(ConcernRow.of(concern), write) == Row(concern).data
