"""GeoReport v2: GET Service Requests, GET Service Request, GET service_request_id from a
token, and the extensions (paging, detailed_status, notes)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.concerns.models import Category, Concern
from apps.concerns.services import attachment_add, concern_delete, concern_update
from apps.open311.tests.helpers import (
    REQUEST_FIELDS,
    W3_DATETIME,
    as_text,
    assert_errors,
    json_body,
    make_concern,
    pdf_upload,
    png_upload,
    spark,
    url,
    xml_root,
)

pytestmark = pytest.mark.django_db

CONTACT = {"name": "Zebedee Quibble", "email": "zebedee.quibble@example.org", "phone": "+31 555 0199"}


def requests_json(client, **query):
    response = client.get(url("requests", "json", **query))
    assert response.status_code == 200, response.content[:500]
    return json_body(response)


def ids(items):
    return [item["service_request_id"] for item in items]


def age(concern: Concern, days: float) -> None:
    Concern.objects.filter(pk=concern.pk).update(submitted_at=timezone.now() - timedelta(days=days))


# --- shape ------------------------------------------------------------------------------


def test_request_list_json_fields(stranger, citizen):
    concern = make_concern(
        user=citizen.user, location="8TH AVE and JUDAH ST", latitude=37.762221815, longitude=-122.4651145
    )
    [item] = requests_json(stranger.client)
    assert list(item) == REQUEST_FIELDS
    assert item["service_request_id"] == concern.tracking_number
    assert item["status"] == "open"
    assert item["status_notes"] == "Concern received."
    assert item["service_name"] == "Roads and potholes"
    assert item["service_code"] == "roads"
    assert item["description"] == "A pothole in the road"
    assert item["address"] == "8TH AVE and JUDAH ST"
    assert item["lat"] == pytest.approx(37.762221815)
    assert item["long"] == pytest.approx(-122.4651145)
    for field in ("agency_responsible", "service_notice", "address_id", "zipcode", "media_url"):
        assert item[field] is None
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3_DATETIME.match(item[field]), item[field]
    assert item["requested_datetime"].endswith("Z")
    concern.refresh_from_db()
    assert item["expected_datetime"] == concern.estimated_resolution.isoformat(timespec="seconds").replace(
        "+00:00", "Z"
    )


def test_request_list_xml_matches_json(stranger, citizen):
    make_concern(user=citizen.user, location="Main St & 1st", latitude=0.00001, longitude=5.0)
    make_concern(user=citizen.user, code="noise", description='Music <loud> & "late"')
    root = xml_root(stranger.client.get(url("requests", "xml")))
    assert root.tag == "service_requests"
    assert [child.tag for child in root] == ["request", "request"]
    assert [child.tag for child in root[0]] == REQUEST_FIELDS
    assert root[0].findtext("description") == 'Music <loud> & "late"'  # escaped, parsed back
    assert root[1].findtext("lat") == "0.00001"  # never 1e-05
    assert spark(root) == as_text(requests_json(stranger.client))


def test_datetimes_carry_the_site_offset(stranger, citizen):
    make_concern(user=citizen.user)
    with override_settings(TIME_ZONE="America/New_York"):
        [item] = requests_json(stranger.client)
    assert W3_DATETIME.match(item["requested_datetime"])
    assert item["requested_datetime"][-6:] in {"-05:00", "-04:00"}


def test_characters_xml_cannot_carry_are_dropped(stranger, citizen):
    make_concern(user=citizen.user, description="Bell\x07 and tab\tand é")
    root = xml_root(stranger.client.get(url("requests", "xml")))
    assert root[0].findtext("description") == "Bell and tab\tand é"
    assert requests_json(stranger.client)[0]["description"] == "Bell and tab\tand é"


@pytest.mark.parametrize(
    ("status", "shown"),
    [("submitted", "open"), ("in_progress", "open"), ("resolved", "closed"), ("closed", "closed")],
)
def test_status_mapping(stranger, citizen, staff_member, status, shown):
    concern = make_concern(user=citizen.user)
    path = {"in_progress": ["in_progress"], "resolved": ["in_progress", "resolved"]}
    path["closed"] = [*path["resolved"], "closed"]
    for step in path.get(status, []):
        concern_update(concern=concern, actor=staff_member.user, status=step, message=f"Now {step}.")
    [item] = requests_json(stranger.client, extensions="true")
    assert item["status"] == shown
    assert item["detailed_status"] == status.upper()
    if status != "submitted":
        assert item["status_notes"] == f"Now {status}."


# --- filters -----------------------------------------------------------------------------


def test_status_filter(stranger, citizen, staff_member):
    open_one = make_concern(user=citizen.user, description="Open pothole")
    closed_one = make_concern(user=citizen.user, code="noise", description="Quiet now")
    for step in ("in_progress", "resolved"):
        concern_update(concern=closed_one, actor=staff_member.user, status=step)
    assert ids(requests_json(stranger.client, status="open")) == [open_one.tracking_number]
    assert ids(requests_json(stranger.client, status="closed")) == [closed_one.tracking_number]
    assert len(requests_json(stranger.client, status="open,closed")) == 2
    assert len(requests_json(stranger.client, status=["open", "closed"])) == 2
    assert len(requests_json(stranger.client, status="")) == 2  # empty is absent


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_status_is_400(stranger, fmt):
    errors = assert_errors(stranger.client.get(url("requests", fmt, status="pending")), 400, fmt)
    assert "status" in errors[0]["description"]


def test_service_code_filter(stranger, citizen):
    road = make_concern(user=citizen.user)
    noise = make_concern(user=citizen.user, code="noise", description="Barking dog")
    make_concern(user=citizen.user, code="water", description="Burst pipe")
    assert ids(requests_json(stranger.client, service_code="roads")) == [road.tracking_number]
    assert set(ids(requests_json(stranger.client, service_code="roads,noise"))) == {
        road.tracking_number,
        noise.tracking_number,
    }
    assert len(requests_json(stranger.client, service_code=["roads", "water"])) == 2
    assert requests_json(stranger.client, service_code="nonexistent") == []


def test_service_request_id_filter_overrides_everything_else(stranger, citizen):
    old = make_concern(user=citizen.user, description="Old pothole")
    age(old, 400)
    recent = make_concern(user=citizen.user, code="noise", description="Loud")
    make_concern(user=citizen.user, code="water", description="Leak")
    found = requests_json(
        stranger.client,
        service_request_id=f"{old.tracking_number},{recent.tracking_number.lower()},TRK-1999-000001,junk",
        status="closed",
        service_code="water",
        start_date="2001-01-01T00:00:00Z",
        end_date="2001-01-02T00:00:00Z",
    )
    assert ids(found) == [recent.tracking_number, old.tracking_number]


def test_date_range_filter(stranger, citizen):
    concerns = [make_concern(user=citizen.user, description=f"Hole number {n}") for n in range(3)]
    for concern, days in zip(concerns, (10, 20, 30), strict=True):
        age(concern, days)
    now = timezone.now()
    start = (now - timedelta(days=25)).isoformat()
    end = (now - timedelta(days=15)).isoformat()
    assert ids(requests_json(stranger.client, start_date=start, end_date=end)) == [concerns[1].tracking_number]
    assert ids(requests_json(stranger.client, start_date=start)) == [c.tracking_number for c in concerns[:2]]
    # One end alone spans 90 days from it.
    assert ids(requests_json(stranger.client, end_date=end)) == [c.tracking_number for c in concerns[1:]]
    later_start = (now - timedelta(days=15)).isoformat()
    assert ids(requests_json(stranger.client, start_date=later_start)) == [concerns[0].tracking_number]


def test_offsets_and_an_unencoded_plus_are_understood(stranger, citizen):
    concern = make_concern(user=citizen.user)
    Concern.objects.filter(pk=concern.pk).update(submitted_at=timezone.now().replace(year=2024, month=6, day=1))
    query = "start_date=2024-05-20T00:00:00+02:00&end_date=2024-06-20T00:00:00-05:00"  # "+" arrives as a space
    response = stranger.client.get(f"{url('requests', 'json')}?{query}")
    assert ids(json_body(response)) == [concern.tracking_number]


@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "2024-01-01"},  # a date, not a datetime
        {"start_date": "2024-01-01T00:00:00"},  # no time zone
        {"end_date": "yesterday"},
        {"end_date": "2024-02-30T00:00:00Z"},
        {"start_date": "2024-03-01T00:00:00Z", "end_date": "2024-02-01T00:00:00Z"},  # reversed
        {"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-04-01T00:00:01Z"},  # more than 90 days
    ],
)
def test_bad_dates_are_400(stranger, query):
    for fmt in ("json", "xml"):
        errors = assert_errors(stranger.client.get(url("requests", fmt, **query)), 400, fmt)
        assert "date" in errors[0]["description"]


def test_all_query_problems_at_once(stranger):
    response = stranger.client.get(url("requests", "json", status="maybe", start_date="soon", page="0"))
    assert len(assert_errors(response, 400)) == 3


def test_extensions_flag_must_be_boolean(stranger):
    assert_errors(stranger.client.get(url("requests", "json", extensions="perhaps")), 400)


# --- volume: 90 days, 1000 results, paging -----------------------------------------------


def test_default_window_is_the_last_90_days(stranger, citizen):
    inside = make_concern(user=citizen.user, description="Recent enough")
    outside = make_concern(user=citizen.user, code="noise", description="Too old")
    age(inside, 89)
    age(outside, 91)
    assert ids(requests_json(stranger.client)) == [inside.tracking_number]
    # Still reachable by id, and by an explicit range.
    start = (timezone.now() - timedelta(days=100)).isoformat()
    assert ids(requests_json(stranger.client, start_date=start)) == [inside.tracking_number, outside.tracking_number]
    [item] = json_body(stranger.client.get(url(f"requests/{outside.tracking_number}", "json")))
    assert item["service_request_id"] == outside.tracking_number


def test_default_answer_stops_at_1000(stranger):
    category = Category.objects.get(code="roads")
    now = timezone.now()
    Concern.objects.bulk_create(
        Concern(
            tracking_number=f"TRK-2000-{n:06d}",
            title=f"Bulk {n}",
            description=f"Bulk {n}",
            category=category,
            submitted_at=now - timedelta(seconds=n),
            last_updated=now,
        )
        for n in range(1, 1006)
    )
    items = requests_json(stranger.client)
    assert len(items) == 1000
    assert items[0]["service_request_id"] == "TRK-2000-000001"  # newest first
    assert items[-1]["service_request_id"] == "TRK-2000-001000"
    assert ids(requests_json(stranger.client, page="2")) == [f"TRK-2000-{n:06d}" for n in range(1001, 1006)]


def test_paging(stranger, citizen):
    concerns = [make_concern(user=citizen.user, description=f"Problem {n}") for n in range(5)]
    for n, concern in enumerate(concerns):
        age(concern, n)  # concerns[0] is the newest
    pages = [ids(requests_json(stranger.client, page=str(page), page_size="2")) for page in (1, 2, 3, 4)]
    expected = [c.tracking_number for c in concerns]
    assert pages == [expected[0:2], expected[2:4], expected[4:5], []]
    assert ids(requests_json(stranger.client, page_size="3")) == expected[:3]


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": "-1"}, {"page": "x"}, {"page_size": "1001"}])
def test_bad_paging_is_400(stranger, query):
    assert_errors(stranger.client.get(url("requests", "json", **query)), 400)


def test_the_list_costs_the_same_few_queries_for_any_size(stranger, citizen, staff_member):
    make_concern(user=citizen.user)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert stranger.client.get(url("requests", "json", extensions="true")).status_code == 200
        return len(queries)

    few = count()
    for n in range(6):
        concern = make_concern(user=citizen.user, code="noise", description=f"Noise {n}")
        concern_update(concern=concern, actor=staff_member.user, status="in_progress")
        attachment_add(concern=concern, upload=png_upload(), actor=citizen.user)
    assert count() == few


# --- privacy and deletion ----------------------------------------------------------------


def test_contact_data_and_internal_notes_never_appear(stranger, citizen, staff_member):
    concern = make_concern(user=citizen.user, contact=CONTACT)
    concern_update(
        concern=concern,
        actor=staff_member.user,
        status="in_progress",
        message="Crew scheduled.",
        internal_notes="Caller Zebedee is a known complainer",
        assigned_to=staff_member.user,
    )
    bodies = []
    for fmt in ("json", "xml"):
        for resource in ("requests", f"requests/{concern.tracking_number}"):
            for extensions in ("false", "true"):
                response = stranger.client.get(url(resource, fmt, extensions=extensions))
                assert response.status_code == 200
                bodies.append(response.content.decode())
    for body in bodies:
        for secret in ("Zebedee", "Quibble", "zebedee.quibble", "555 0199", "complainer", staff_member.user.email):
            assert secret not in body


def test_deleted_concerns_are_gone(stranger, citizen, administrator):
    kept = make_concern(user=citizen.user)
    deleted = make_concern(user=citizen.user, code="noise", description="Deleted one")
    concern_delete(concern=deleted, actor=administrator.user)
    assert ids(requests_json(stranger.client)) == [kept.tracking_number]
    assert requests_json(stranger.client, service_request_id=deleted.tracking_number) == []
    assert_errors(stranger.client.get(url(f"requests/{deleted.tracking_number}", "json")), 404)
    assert_errors(stranger.client.get(url(f"tokens/{deleted.pk}", "json")), 404)


# --- media_url ---------------------------------------------------------------------------


def test_media_url_is_the_first_image(stranger, citizen):
    concern = make_concern(user=citizen.user)
    attachment_add(concern=concern, upload=pdf_upload(), actor=citizen.user)
    first_image = attachment_add(concern=concern, upload=png_upload("first.png"), actor=citizen.user)
    attachment_add(concern=concern, upload=png_upload("second.png"), actor=citizen.user)
    [item] = requests_json(stranger.client)
    media_url = item["media_url"]
    assert media_url == f"http://testserver/api/v1/concerns/{concern.pk}/attachments/{first_image.pk}"
    root = xml_root(stranger.client.get(url("requests", "xml")))
    assert root[0].findtext("media_url") == media_url
    image = stranger.client.get(urlparse(media_url).path)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")


def test_a_pdf_is_not_media(stranger, citizen):
    concern = make_concern(user=citizen.user)
    attachment_add(concern=concern, upload=pdf_upload(), actor=citizen.user)
    assert requests_json(stranger.client)[0]["media_url"] is None


# --- extensions --------------------------------------------------------------------------


def test_extensions_add_detailed_status_and_the_timeline_as_notes(stranger, citizen, staff_member):
    concern = make_concern(user=citizen.user)
    concern_update(concern=concern, actor=staff_member.user, status="in_progress", message="Crew on the way.")
    concern_update(concern=concern, actor=staff_member.user, message="Asphalt ordered.")
    concern_update(concern=concern, actor=staff_member.user, status="resolved", message="Filled.")
    concern_update(concern=concern, actor=staff_member.user, status="in_progress", message="It opened again.")

    plain = requests_json(stranger.client)[0]
    assert "notes" not in plain and "detailed_status" not in plain

    [item] = requests_json(stranger.client, extensions="true")
    assert list(item) == [*REQUEST_FIELDS, "detailed_status", "notes"]
    assert item["detailed_status"] == "IN_PROGRESS"
    assert item["status_notes"] == "It opened again."
    notes = item["notes"]
    assert [(note["type"], note["description"]) for note in notes] == [
        ("submitted", "Concern received."),
        ("in_progress", "Crew on the way."),
        ("activity", "Asphalt ordered."),
        ("resolved", "Filled."),
        ("reopened", "It opened again."),
    ]
    for note in notes:
        assert list(note) == ["datetime", "description", "type"]
        assert W3_DATETIME.match(note["datetime"])

    root = xml_root(stranger.client.get(url("requests", "xml", extensions="true")))
    request = root[0]
    assert request.findtext("detailed_status") == "IN_PROGRESS"
    xml_notes = request.find("notes")
    assert xml_notes is not None and [note.tag for note in xml_notes] == ["note"] * 5
    assert spark(root) == as_text(requests_json(stranger.client, extensions="true"))


def test_extensions_on_a_single_request(stranger, citizen, staff_member):
    concern = make_concern(user=citizen.user)
    for step in ("in_progress", "resolved", "closed"):
        concern_update(concern=concern, actor=staff_member.user, status=step)
    [item] = json_body(stranger.client.get(url(f"requests/{concern.tracking_number}", "json", extensions="true")))
    assert item["status"] == "closed"
    assert item["detailed_status"] == "CLOSED"
    assert [note["type"] for note in item["notes"]] == ["submitted", "in_progress", "resolved", "closed"]
    assert item["notes"][-1]["description"] == "Status changed to closed."


# --- a single request and tokens ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_single_request(stranger, citizen, fmt):
    concern = make_concern(user=citizen.user)
    make_concern(user=citizen.user, code="noise", description="Not this one")
    response = stranger.client.get(url(f"requests/{concern.tracking_number}", fmt))
    assert response.status_code == 200
    if fmt == "json":
        [item] = json_body(response)
    else:
        root = xml_root(response)
        assert root.tag == "service_requests"
        [item] = spark(root)
    assert list(item) == REQUEST_FIELDS
    assert item["service_request_id"] == concern.tracking_number
    assert item["status"] == "open"


def test_single_request_id_is_case_insensitive(stranger, citizen):
    concern = make_concern(user=citizen.user)
    response = stranger.client.get(url(f"requests/{concern.tracking_number.lower()}", "json"))
    assert ids(json_body(response)) == [concern.tracking_number]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("request_id", ["TRK-2020-999999", "638344", "not-an-id"])
def test_unknown_request_is_404(stranger, fmt, request_id):
    errors = assert_errors(stranger.client.get(url(f"requests/{request_id}", fmt)), 404, fmt)
    assert request_id in errors[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_token_resolves_to_the_service_request_id(stranger, citizen, fmt):
    concern = make_concern(user=citizen.user)
    response = stranger.client.get(url(f"tokens/{concern.pk}", fmt))
    assert response.status_code == 200
    if fmt == "json":
        body = json_body(response)
    else:
        root = xml_root(response)
        assert root.tag == "service_requests" and [child.tag for child in root] == ["request"]
        body = spark(root)
    assert body == [{"service_request_id": concern.tracking_number, "token": str(concern.pk)}]


@pytest.mark.parametrize("token", ["5f0c1a52-8d1e-4d38-9b7a-2f4c7e9a1b00", "12345"])
def test_unknown_token_is_404(stranger, token):
    assert_errors(stranger.client.get(url(f"tokens/{token}", "json")), 404)


def test_posted_request_can_be_read_back(stranger, citizen):
    from apps.open311.tests.helpers import post_form

    form = {
        "api_key": citizen.secret,
        "service_code": "roads",
        "address_string": "Stationsplein 1",
        "lat": "52.37",
        "long": "4.89",
        "description": "Deep pothole",
        "email": "reporter@example.org",
        "first_name": "Private",
        "attribute[size]": "small",
    }
    [created] = json_body(post_form(stranger.client, "requests", form))
    [item] = json_body(stranger.client.get(url(f"requests/{created['service_request_id']}", "json")))
    assert item["service_code"] == "roads"
    assert item["address"] == "Stationsplein 1"
    assert (item["lat"], item["long"]) == (52.37, 4.89)
    assert item["description"].startswith("Deep pothole")
    assert "reporter@example.org" not in str(item) and "Private" not in str(item)
