"""GeoReport v2: discovery, GET services, GET service definition, and what every call
shares (formats, jurisdiction_id, errors)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.concerns.models import Category
from apps.open311 import selectors
from apps.open311.tests.helpers import (
    BASE,
    as_text,
    assert_errors,
    json_body,
    spark,
    url,
    xml_root,
)

pytestmark = pytest.mark.django_db

FORMATS = ["json", "xml"]


# --- discovery ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_names_the_v2_endpoint_and_both_formats(stranger, fmt):
    response = stranger.client.get(url("discovery", fmt))
    assert response.status_code == 200
    body = json_body(response) if fmt == "json" else spark(xml_root(response))
    if fmt == "xml":
        assert xml_root(response).tag == "discovery"
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    assert body["contact"] and body["key_service"]
    assert "api_key" in body["key_service"]
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["changeset"] == body["changeset"]


def test_discovery_xml_and_json_carry_the_same_document(stranger):
    as_json = json_body(stranger.client.get(url("discovery", "json")))
    as_xml = spark(xml_root(stranger.client.get(url("discovery", "xml"))))
    assert as_text(as_json) == as_xml


def test_endpoint_root_serves_discovery_as_xml(stranger):
    response = stranger.client.get(f"{BASE}/")
    assert response.status_code == 200
    assert xml_root(response).tag == "discovery"


# --- GET services -------------------------------------------------------------------------


def test_services_json_lists_active_categories(stranger, graffiti):
    Category.objects.filter(code="other").update(active=False)
    response = stranger.client.get(url("services", "json"))
    assert response.status_code == 200
    services = json_body(response)
    assert isinstance(services, list)
    codes = [service["service_code"] for service in services]
    assert codes == [category.code for category in Category.objects.filter(active=True)]
    assert "other" not in codes
    for service in services:
        assert list(service) == [
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        ]
        assert isinstance(service["service_code"], str)
        assert service["type"] == "realtime"
        assert isinstance(service["metadata"], bool)
    by_code = {service["service_code"]: service for service in services}
    assert by_code["graffiti"] == {
        "service_code": "graffiti",
        "service_name": "Graffiti",
        "description": "Paint or tags on public property.",
        "metadata": True,
        "type": "realtime",
        "keywords": "graffiti, tag, paint",
        "group": "Environment",
    }
    assert by_code["infrastructure"]["metadata"] is False  # no attributes: no definition needed
    assert by_code["roads"]["metadata"] is True


def test_services_xml_matches_json(stranger, graffiti):
    root = xml_root(stranger.client.get(url("services", "xml")))
    assert root.tag == "services"
    assert {child.tag for child in root} == {"service"}
    graffiti_xml = next(child for child in root if child.findtext("service_code") == "graffiti")
    assert graffiti_xml.findtext("metadata") == "true"
    assert graffiti_xml.findtext("keywords") == "graffiti, tag, paint"
    assert spark(root) == as_text(json_body(stranger.client.get(url("services", "json"))))


def test_without_a_suffix_the_answer_is_xml(stranger):
    response = stranger.client.get(f"{BASE}/services")
    assert response.status_code == 200
    assert xml_root(response).tag == "services"


def test_an_unknown_format_is_400_in_xml(stranger):
    response = stranger.client.get(f"{BASE}/services.csv")
    errors = assert_errors(response, 400, "xml")
    assert "format" in errors[0]["description"]


# --- GET service definition --------------------------------------------------------------


def test_service_definition_json(stranger, graffiti):
    response = stranger.client.get(url("services/graffiti", "json"))
    assert response.status_code == 200
    definition = json_body(response)
    assert set(definition) == {"service_code", "attributes"}
    assert definition["service_code"] == "graffiti"
    attributes = definition["attributes"]
    # Sorted by the configured order, then renumbered 1..n without gaps or repeats.
    assert [attribute["code"] for attribute in attributes] == [
        "colours",
        "surface",
        "area_m2",
        "seen_at",
        "tag_text",
        "notes",
        "info",
    ]
    assert [attribute["order"] for attribute in attributes] == [1, 2, 3, 4, 5, 6, 7]
    for attribute in attributes:
        assert list(attribute)[:7] == [
            "variable",
            "code",
            "datatype",
            "required",
            "datatype_description",
            "order",
            "description",
        ]
        assert attribute["datatype_description"]
    surface = attributes[1]
    assert surface == {
        "variable": True,
        "code": "surface",
        "datatype": "singlevaluelist",
        "required": True,
        "datatype_description": surface["datatype_description"],
        "order": 2,
        "description": "What is painted on?",
        "values": [{"key": "wall", "name": "A wall"}, {"key": "sign", "name": "A traffic sign"}],
    }
    assert attributes[0]["datatype"] == "multivaluelist" and len(attributes[0]["values"]) == 3
    assert "values" not in attributes[2]  # only list datatypes have values
    assert attributes[5]["datatype_description"] == "A few sentences."  # configured wins
    info = attributes[6]
    assert info["variable"] is False and info["required"] is False


def test_service_definition_xml_matches_json(stranger, graffiti):
    root = xml_root(stranger.client.get(url("services/graffiti", "xml")))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "graffiti"
    attributes = root.find("attributes")
    assert attributes is not None and {child.tag for child in attributes} == {"attribute"}
    values = attributes[1].find("values")
    assert values is not None
    assert [(value.findtext("key"), value.findtext("name")) for value in values] == [
        ("wall", "A wall"),
        ("sign", "A traffic sign"),
    ]
    assert spark(root) == as_text(json_body(stranger.client.get(url("services/graffiti", "json"))))


def test_service_without_attributes_has_an_empty_definition(stranger):
    assert json_body(stranger.client.get(url("services/infrastructure", "json"))) == {
        "service_code": "infrastructure",
        "attributes": [],
    }
    root = xml_root(stranger.client.get(url("services/infrastructure", "xml")))
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0


def test_malformed_admin_attributes_are_normalised(db):
    category = Category.objects.create(
        code="odd",
        name="Odd",
        attributes=[
            "not an object",
            {"datatype": "string"},  # no code
            {"code": "a", "datatype": "colour", "required": "true", "order": 5},
            {"code": "a", "datatype": "text"},  # repeated code
            {"code": "b", "datatype": "singlevaluelist", "values": [{"key": 1}, {"name": "no key"}, {"key": 1}]},
        ],
    )
    attributes = selectors.service_attributes(category=category)
    # "a" asks for place 5 and "b" stands 5th: equal ranks keep the stored order.
    assert [(a.code, a.datatype, a.required, a.order) for a in attributes] == [
        ("a", "string", True, 1),
        ("b", "singlevaluelist", False, 2),
    ]
    assert [(value.key, value.name) for value in attributes[1].values] == [("1", "1")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_is_404(stranger, fmt):
    errors = assert_errors(stranger.client.get(url("services/no_such_service", fmt)), 404, fmt)
    assert errors == [{"code": 404, "description": "service_code 'no_such_service' was not found."}]


def test_inactive_service_is_404(stranger):
    Category.objects.filter(code="roads").update(active=False)
    assert_errors(stranger.client.get(url("services/roads", "json")), 404)


# --- jurisdiction_id, unknown resources, methods, failures -------------------------------

RESOURCES = ["discovery", "services", "services/roads", "requests", "requests/TRK-2026-000001", "tokens/abc"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("resource", RESOURCES)
def test_wrong_jurisdiction_is_404_everywhere(stranger, resource, fmt):
    response = stranger.client.get(url(resource, fmt, jurisdiction_id="elsewhere.gov"))
    errors = assert_errors(response, 404, fmt)
    assert "jurisdiction_id" in errors[0]["description"]


@pytest.mark.parametrize("resource", ["discovery", "services", "services/roads", "requests"])
def test_our_jurisdiction_or_none_is_accepted(stranger, resource):
    assert stranger.client.get(url(resource, "json", jurisdiction_id="citizenai.local")).status_code == 200
    assert stranger.client.get(url(resource, "json", jurisdiction_id="")).status_code == 200
    assert stranger.client.get(url(resource, "json")).status_code == 200


@override_settings(OPEN311_JURISDICTION_ID="city.example.gov")
def test_jurisdiction_comes_from_settings(stranger):
    assert stranger.client.get(url("services", "json", jurisdiction_id="city.example.gov")).status_code == 200
    assert_errors(stranger.client.get(url("services", "json", jurisdiction_id="citizenai.local")), 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_resource_is_an_open311_404(stranger, fmt):
    response = stranger.client.get(f"{BASE}/no/such/thing.{fmt}")
    assert_errors(response, 404, fmt)


def test_unlisted_method_is_405_with_allow(stranger):
    response = stranger.client.delete(url("services", "json"))
    assert_errors(response, 405)
    assert response["Allow"] == "GET"
    response = stranger.client.put(url("requests", "xml"))
    assert_errors(response, 405, "xml")
    assert response["Allow"] == "GET, POST"


def test_every_view_declares_its_callers():
    from apps.open311 import urls, views

    for pattern in urls.urlpatterns:
        view_class = pattern.callback.view_class
        assert issubclass(view_class, views.Open311View)
        assert view_class.method_permissions, view_class
    assert views.RequestListView.api_key_methods == {"POST"}


def test_head_is_answered_like_get(stranger):
    response = stranger.client.head(url("services", "json"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unexpected_failure_is_500_without_a_trace(stranger, monkeypatch, fmt):
    def broken() -> None:
        raise RuntimeError("postgres://user:secret@db/citizenai is down")

    monkeypatch.setattr(selectors, "service_list", broken)
    response = stranger.client.get(url("services", fmt))
    errors = assert_errors(response, 500, fmt)
    assert errors[0]["code"] == 500
    assert b"secret" not in response.content
    assert b"Traceback" not in response.content


def test_reads_are_rate_limited_per_address(stranger, settings):
    settings.RATE_LIMITS_PER_MINUTE = {**settings.RATE_LIMITS_PER_MINUTE, "anonymous": 2}
    first = stranger.client.get(url("services", "json"))
    assert first.status_code == 200
    assert first["X-RateLimit-Limit"] == "2"
    assert stranger.client.get(url("services", "json")).status_code == 200
    response = stranger.client.get(url("services", "xml"))
    assert_errors(response, 429, "xml")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        (url("services", "json"), {"jurisdiction_id": "other.gov"}, 404),
        ("/open311/v2/services.csv", {}, 400),
    ],
)
def test_answers_refused_before_the_caller_was_counted_carry_the_headers(stranger, settings, path, query, status):
    settings.RATE_LIMITS_PER_MINUTE = {**settings.RATE_LIMITS_PER_MINUTE, "anonymous": 2}
    responses = [stranger.client.get(path, query) for _ in range(3)]
    assert [r.status_code for r in responses] == [status, status, 429]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
