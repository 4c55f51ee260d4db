"""The API's JSON: orjson writes what DRF's JSONRenderer wrote, and DRF's renderer writes
what orjson refuses."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.core.renderers import EnvelopeRenderer, api_json

MOMENT = datetime.datetime(2026, 12, 4, 3, 26, 2, 497858, tzinfo=datetime.UTC)

SAMPLES = [
    pytest.param({"when": MOMENT, "day": MOMENT.date(), "at": MOMENT.time()}, id="datetimes"),
    pytest.param({"amount": decimal.Decimal("12.50"), "ratio": 0.1, "big": 2**62}, id="numbers"),
    pytest.param({"id": uuid.UUID("12345678-1234-5678-1234-567812345678")}, id="uuid"),
    pytest.param({"label": gettext_lazy("Pothole"), "raw": b"bytes", "pair": (1, 2)}, id="lazy-bytes-tuple"),
    pytest.param({"text": "Straße \u00e9 \u2028 line \u2029 paragraph", "nested": [{"a": None}]}, id="unicode"),
]


@pytest.mark.parametrize("body", SAMPLES)
def test_api_json_writes_what_drf_wrote(body):
    ours = api_json(body)
    drf = JSONRenderer().render(body, "application/json", {})
    assert ours == drf


def test_line_and_paragraph_separators_are_escaped():
    raw = api_json({"text": "a\u2028b\u2029c"})
    assert raw == b'{"text":"a\\u2028b\\u2029c"}'
    assert json.loads(raw) == {"text": "a\u2028b\u2029c"}


@pytest.mark.parametrize("body", [{1: "int key"}, {"huge": 2**70}], ids=["non-str-key", "int-over-64-bits"])
def test_what_orjson_refuses_is_left_to_drf(body):
    assert api_json(body) is None
    renderer = EnvelopeRenderer()
    raw = renderer.render(body, "application/json", {"response": Response(body)})
    assert json.loads(raw)["data"] == json.loads(JSONRenderer().render(body, "application/json", {}))


@pytest.mark.parametrize("refused", [{1: "int key"}, 2**70], ids=["non-str-key", "int-over-64-bits"])
def test_what_orjson_had_converted_before_it_gave_up_is_not_converted_again(refused):
    """An iterator orjson read (through DRF's default) before refusing something later in
    the body is not read a second time, empty, by DRF's renderer; nor is a query run twice."""
    queries = []

    class Query:
        def __iter__(self):
            queries.append(1)
            return iter([{"n": 1}])

    body = {"items": (x for x in [1, 2, 3]), "rows": Query(), "later": refused}
    raw = EnvelopeRenderer().render(body, "application/json", {"response": Response(body)})
    data = json.loads(raw)["data"]
    assert data["items"] == [1, 2, 3]
    assert data["rows"] == [{"n": 1}]
    assert len(queries) == 1


def test_an_unknown_type_still_fails_as_with_drf():
    with pytest.raises(TypeError):
        EnvelopeRenderer().render({"x": object()}, "application/json", {"response": Response({})})


def test_indentation_asked_for_is_drfs():
    response = Response({"a": 1})
    raw = EnvelopeRenderer().render({"a": 1}, "application/json; indent=2", {"response": response})
    assert raw.startswith(b'{\n  "success": true')
    plain = EnvelopeRenderer().render({"a": 1}, "application/json", {"response": response})
    assert plain.startswith(b'{"success":true,"data":{"a":1}')
