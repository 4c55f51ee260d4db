"""GeoReport v2: POST Service Request."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.concerns.models import Category, Concern
from apps.open311.tests.helpers import (
    FORM,
    assert_errors,
    json_body,
    png_upload,
    post_form,
    url,
    xml_root,
)

pytestmark = pytest.mark.django_db


def pothole(secret: str, **extra: str) -> dict[str, str]:
    return {
        "api_key": secret,
        "jurisdiction_id": "citizenai.local",
        "service_code": "roads",
        "lat": "37.76524078",
        "long": "-122.4212043",
        "address_string": "1234 5th street",
        "email": "smith@example.org",
        "device_id": "tt222111",
        "account_id": "123456",
        "first_name": "John",
        "last_name": "Smith",
        "phone": "111111111",
        "description": "A large sinkhole is destroying the street",
        "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
        "attribute[size]": "large",
        **extra,
    }


def graffiti_form(secret: str, **extra: str) -> dict[str, str]:
    return {"api_key": secret, "service_code": "graffiti", "address_string": "Town hall", **extra}


# --- success -------------------------------------------------------------------------------


def test_post_json_creates_a_concern_and_returns_its_id(stranger, citizen):
    response = post_form(stranger.client, "requests", pothole(citizen.secret))
    assert response.status_code == 201
    [created] = json_body(response)
    assert list(created) == ["service_request_id", "service_notice", "account_id"]
    assert "token" not in created  # realtime: the id, never both
    concern = Concern.objects.get(tracking_number=created["service_request_id"])
    assert isinstance(created["service_request_id"], str)
    assert created["service_request_id"].startswith(f"TRK-{timezone.now().year}-")
    assert concern.category.code == "roads"
    assert concern.title == "A large sinkhole is destroying the street"
    assert concern.description.startswith("A large sinkhole is destroying the street\n\n")
    assert concern.attributes == {"size": "large"}
    assert "Photo (Open311 media_url): http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg" in (
        concern.description
    )
    assert "tt222111" not in concern.description  # the device id is not published
    assert concern.location == "1234 5th street"
    assert concern.latitude == pytest.approx(37.76524078)
    assert concern.longitude == pytest.approx(-122.4212043)
    assert (concern.contact_name, concern.contact_email, concern.contact_phone) == (
        "John Smith",
        "smith@example.org",
        "111111111",
    )
    assert concern.anonymous is False
    assert concern.source == "open311"
    assert concern.submitted_by == citizen.user
    assert concern.status == "submitted"
    assert concern.updates.count() == 1  # the timeline entry concern_create writes


def test_post_xml_answers_service_requests(stranger, citizen):
    response = post_form(stranger.client, "requests", pothole(citizen.secret), fmt="xml")
    assert response.status_code == 201
    root = xml_root(response)
    assert root.tag == "service_requests"
    [request] = list(root)
    assert request.tag == "request"
    assert [child.tag for child in request] == ["service_request_id", "service_notice", "account_id"]
    assert Concern.objects.filter(tracking_number=request.findtext("service_request_id")).exists()


def test_minimal_post_with_only_a_service_and_coordinates(stranger, citizen):
    response = post_form(
        stranger.client, "requests", {"api_key": citizen.secret, "service_code": "noise", "lat": "0", "long": "0"}
    )
    assert response.status_code == 201
    concern = Concern.objects.get()
    assert concern.title == "Noise"  # no description: the service name
    assert concern.description == "Noise"
    assert concern.location == ""
    assert (concern.latitude, concern.longitude) == (0.0, 0.0)
    assert concern.anonymous is True  # no contact given
    assert concern.estimated_resolution is not None


def test_address_id_alone_is_a_location(stranger, citizen):
    response = post_form(
        stranger.client, "requests", {"api_key": citizen.secret, "service_code": "noise", "address_id": "545483"}
    )
    assert response.status_code == 201
    assert Concern.objects.get().location == "Address ID 545483"


def test_a_long_description_makes_a_shortened_title(stranger, citizen):
    description = "Broken   glass\neverywhere " + "x" * 200
    post_form(stranger.client, "requests", pothole(citizen.secret, description=description))
    concern = Concern.objects.get()
    assert len(concern.title) == 100
    assert concern.title.startswith("Broken glass everywhere x")
    assert concern.title.endswith("…")
    assert concern.description.startswith(description)


def test_every_datatype_is_accepted_and_recorded(stranger, citizen, graffiti):
    form = graffiti_form(
        citizen.secret,
        **{
            "attribute[surface]": "sign",
            "attribute[area_m2]": "2.5",
            "attribute[seen_at]": "2024-05-01T14:30:00Z",
            "attribute[tag_text]": "KILROY",
            "attribute[notes]": "Two layers\nof paint",
        },
    )
    body = urlencode(form) + "&attribute[colours][]=red&attribute[colours][]=blue"
    response = stranger.client.post(url("requests", "json"), body, content_type=FORM)
    assert response.status_code == 201, response.content
    concern = Concern.objects.get()
    assert concern.attributes == {
        "colours": ["red", "blue"],
        "surface": "sign",
        "area_m2": "2.5",
        "seen_at": "2024-05-01T14:30:00Z",
        "tag_text": "KILROY",
        "notes": "Two layers\nof paint",
    }
    assert "KILROY" not in concern.description  # answers are data, not text to parse


def test_multipart_media_is_attached(stranger, citizen):
    data = {**pothole(citizen.secret), "media": png_upload()}
    response = stranger.client.post(url("requests", "json"), data)  # multipart
    assert response.status_code == 201, response.content
    [request_id] = [item["service_request_id"] for item in json_body(response)]
    attachment = Concern.objects.get(tracking_number=request_id).attachments.get()
    assert attachment.content_type == "image/png"
    shown = json_body(stranger.client.get(url(f"requests/{request_id}", "json")))[0]
    assert shown["media_url"].endswith(f"/attachments/{attachment.pk}")


def test_media_that_is_not_an_image_is_400(stranger, citizen):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {**pothole(citizen.secret), "media": SimpleUploadedFile("x.png", b"not an image", "image/png")}
    errors = assert_errors(stranger.client.post(url("requests", "json"), data), 400)
    assert errors[0]["description"].startswith("media:")
    assert not Concern.objects.exists()


def test_bearer_header_works_instead_of_api_key(stranger, citizen):
    form = pothole(citizen.secret)
    del form["api_key"]
    response = post_form(stranger.client, "requests", form, HTTP_AUTHORIZATION=f"Bearer {citizen.secret}")
    assert response.status_code == 201


def test_no_csrf_token_is_needed(citizen):
    client = Client(enforce_csrf_checks=True)
    assert post_form(client, "requests", pothole(citizen.secret)).status_code == 201


# --- api_key -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_missing_api_key_is_403(stranger, citizen, fmt):
    form = pothole(citizen.secret)
    del form["api_key"]
    errors = assert_errors(post_form(stranger.client, "requests", form, fmt=fmt), 403, fmt)
    assert "api_key" in errors[0]["description"]
    assert not Concern.objects.exists()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_invalid_api_key_is_403(stranger, fmt):
    response = post_form(stranger.client, "requests", pothole("cai_deadbeef_not-a-real-key"), fmt=fmt)
    errors = assert_errors(response, 403, fmt)
    assert errors[0]["description"].startswith("Invalid api_key")
    assert not Concern.objects.exists()


def test_revoked_api_key_is_403(stranger, citizen):
    citizen.api_key.revoked_at = timezone.now()
    citizen.api_key.save()
    assert_errors(post_form(stranger.client, "requests", pothole(citizen.secret)), 403)


def test_a_session_cookie_is_not_an_api_key(citizen):
    client = Client()
    client.force_login(citizen.user)
    form = pothole(citizen.secret)
    del form["api_key"]
    assert_errors(post_form(client, "requests", form), 403)


def test_posts_are_rate_limited_per_key(stranger, citizen, settings):
    settings.RATE_LIMITS_PER_MINUTE = {**settings.RATE_LIMITS_PER_MINUTE, "standard": 1}
    first = post_form(stranger.client, "requests", pothole(citizen.secret))
    assert first.status_code == 201
    assert first["X-RateLimit-Limit"] == "1"
    response = post_form(stranger.client, "requests", pothole(citizen.secret, description="Another hole"))
    assert_errors(response, 429)
    assert response["Retry-After"]
    other_key = api_key_create(user=citizen.user, name="second")[1]
    assert post_form(stranger.client, "requests", pothole(other_key)).status_code == 201


def test_bad_keys_are_rate_limited_per_address(stranger, settings):
    settings.RATE_LIMITS_PER_MINUTE = {**settings.RATE_LIMITS_PER_MINUTE, "anonymous": 2}
    for _ in range(2):
        assert_errors(post_form(stranger.client, "requests", pothole("cai_guess_1")), 403)
    assert_errors(post_form(stranger.client, "requests", pothole("cai_guess_2")), 429)


# --- request validation ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["description", "address_string", "first_name", "attribute[size]"])
def test_a_null_character_is_400_and_stores_nothing(stranger, citizen, field):
    """PostgreSQL refuses NUL in text (a 500 there); the REST API and the web form refuse it."""
    response = post_form(stranger.client, "requests", pothole(citizen.secret, **{field: "nul\x00char"}))
    errors = assert_errors(response, 400)
    assert "null characters" in errors[0]["description"]
    assert not Concern.objects.exists()


def test_a_json_body_is_400_with_the_headers(stranger, citizen):
    response = stranger.client.post(url("requests", "json"), {"service_code": "roads"}, content_type="application/json")
    assert_errors(response, 400)
    assert response["X-RateLimit-Limit"] == "30"


def test_missing_service_code_is_400(stranger, citizen):
    form = pothole(citizen.secret)
    del form["service_code"]
    errors = assert_errors(post_form(stranger.client, "requests", form), 400)
    assert errors == [{"code": 400, "description": "service_code was not provided."}]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_code_is_404(stranger, citizen, fmt):
    response = post_form(stranger.client, "requests", pothole(citizen.secret, service_code="unicorns"), fmt=fmt)
    assert_errors(response, 404, fmt)


def test_inactive_service_is_404(stranger, citizen):
    Category.objects.filter(code="roads").update(active=False)
    assert_errors(post_form(stranger.client, "requests", pothole(citizen.secret)), 404)


def test_wrong_jurisdiction_is_404(stranger, citizen):
    response = post_form(stranger.client, "requests", pothole(citizen.secret, jurisdiction_id="elsewhere.gov"))
    assert_errors(response, 404)


def test_missing_location_is_400(stranger, citizen):
    form = {"api_key": citizen.secret, "service_code": "noise", "description": "Loud party"}
    errors = assert_errors(post_form(stranger.client, "requests", form), 400)
    assert "location" in errors[0]["description"]


@pytest.mark.parametrize(
    ("lat", "long", "message"),
    [
        ("91", "4", "lat must be a number from -90 to 90"),
        ("-90.5", "4", "lat must be a number from -90 to 90"),
        ("52", "180.01", "long must be a number from -180 to 180"),
        ("north", "4", "lat must be a number"),
        ("nan", "4", "lat must be a number"),
        ("52", "inf", "long must be a number"),
        ("52", "", "lat and long must both be sent"),
        ("", "4", "lat and long must both be sent"),
    ],
)
def test_invalid_lat_long_is_400(stranger, citizen, lat, long, message):
    form = {"api_key": citizen.secret, "service_code": "noise", "lat": lat, "long": long, "address_string": "Main St"}
    errors = assert_errors(post_form(stranger.client, "requests", form), 400)
    assert errors[0]["description"].startswith(message)
    assert not Concern.objects.exists()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_missing_required_attribute_is_400(stranger, citizen, graffiti, fmt):
    errors = assert_errors(post_form(stranger.client, "requests", graffiti_form(citizen.secret), fmt=fmt), 400, fmt)
    assert errors == [{"code": 400, "description": "attribute[surface] is required (What is painted on?)."}]
    assert not Concern.objects.exists()


@pytest.mark.parametrize(
    ("field", "answer", "message"),
    [
        ("attribute[surface]", "bridge", "attribute[surface] has no value 'bridge'."),
        ("attribute[colours][]", "purple", "attribute[colours] has no value 'purple'."),
        ("attribute[area_m2]", "lots", "attribute[area_m2] must be a number."),
        ("attribute[area_m2]", "NaN", "attribute[area_m2] must be a number."),
        ("attribute[seen_at]", "last tuesday", "attribute[seen_at] must be an ISO 8601 date or date and time."),
        ("attribute[seen_at]", "2024-13-45", "attribute[seen_at] must be an ISO 8601 date or date and time."),
        ("attribute[tag_text]", "two\nlines", "attribute[tag_text] must be a single line."),
        ("attribute[tag_text]", "x" * 501, "attribute[tag_text] may be at most 500 characters."),
        ("attribute[paint]", "yes", "attribute[paint] is not an attribute of service graffiti."),
    ],
)
def test_attribute_values_are_checked_against_the_definition(stranger, citizen, graffiti, field, answer, message):
    form = graffiti_form(citizen.secret, **{"attribute[surface]": "wall"})
    form[field] = answer
    errors = assert_errors(post_form(stranger.client, "requests", form), 400)
    assert [error["description"] for error in errors] == [message]


def test_single_value_attributes_take_one_value(stranger, citizen, graffiti):
    body = urlencode(graffiti_form(citizen.secret)) + "&attribute[surface][]=wall&attribute[surface][]=sign"
    errors = assert_errors(stranger.client.post(url("requests", "json"), body, content_type=FORM), 400)
    assert errors[0]["description"] == "attribute[surface] takes a single value."


def test_answers_to_informational_attributes_are_ignored(stranger, citizen, graffiti):
    form = graffiti_form(citizen.secret, **{"attribute[surface]": "wall", "attribute[info]": "whatever"})
    assert post_form(stranger.client, "requests", form).status_code == 201
    assert "whatever" not in Concern.objects.get().description


def test_every_problem_is_reported_at_once(stranger, citizen, graffiti):
    form = {
        "api_key": citizen.secret,
        "service_code": "graffiti",
        "lat": "100",
        "long": "0",
        "email": "not-an-email",
        "phone": "call me maybe",
        "media_url": "ftp://example.org/x.jpg",
        "attribute[area_m2]": "big",
    }
    errors = assert_errors(post_form(stranger.client, "requests", form, fmt="xml"), 400, "xml")
    descriptions = [error["description"] for error in errors]
    assert len(descriptions) == 6, descriptions
    assert all(error["code"] == 400 for error in errors)
    assert any("lat" in text for text in descriptions)
    assert any("email" in text for text in descriptions)
    assert any("phone" in text for text in descriptions)
    assert any("media_url" in text for text in descriptions)
    assert "attribute[surface] is required (What is painted on?)." in descriptions
    assert "attribute[area_m2] must be a number." in descriptions


def test_description_longer_than_we_store_is_400(stranger, citizen):
    errors = assert_errors(post_form(stranger.client, "requests", pothole(citizen.secret, description="x" * 2001)), 400)
    assert "2000" in errors[0]["description"]


def test_a_json_body_is_400(stranger, citizen):
    response = stranger.client.post(
        url("requests", "json"), {"api_key": citizen.secret, "service_code": "roads"}, content_type="application/json"
    )
    errors = assert_errors(response, 400)
    assert "x-www-form-urlencoded" in errors[0]["description"]


@override_settings(API_MAX_JSON_BYTES=2048)
def test_an_oversized_form_is_400(stranger, citizen):
    response = post_form(stranger.client, "requests", pothole(citizen.secret, description="x" * 3000))
    errors = assert_errors(response, 400)
    assert "exceeds" in errors[0]["description"]


def test_attribute_answers_reach_staff_and_owner_but_not_the_public(stranger, citizen, staff_member, graffiti):
    form = graffiti_form(citizen.secret, **{"attribute[surface]": "sign", "attribute[tag_text]": "KILROY"})
    response = stranger.client.post(url("requests", "json"), urlencode(form), content_type=FORM)
    assert response.status_code == 201, response.content
    concern = Concern.objects.get()
    path = f"/api/v1/concerns/{concern.tracking_number}"
    staff_view = staff_member.client.get(path).json()["data"]
    assert staff_view["attributes"]["surface"] == "sign"
    assert staff_view["attributes"]["tag_text"] == "KILROY"
    owner_view = citizen.client.get(path).json()["data"]
    assert owner_view["attributes"] == staff_view["attributes"]
    assert "attributes" not in stranger.client.get(path).json()["data"]
