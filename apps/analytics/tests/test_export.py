"""GET /api/v1/analytics/export: files opened with the libraries their users would use."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from openpyxl import load_workbook
from pypdf import PdfReader

from apps.analytics import exports
from apps.analytics.definitions import Period
from apps.analytics.tests.helpers import EXPORT, concern_make, conversation_make, exchange_make

pytestmark = pytest.mark.django_db

RANGE = "&start_date=2025-01-10&end_date=2025-01-12"


@pytest.fixture
def rows() -> list:
    concerns = [
        concern_make(at=datetime(2025, 1, 10, 9, tzinfo=UTC), status="resolved", category="water"),
        concern_make(at=datetime(2025, 1, 11, 9, tzinfo=UTC)),
        concern_make(at=datetime(2025, 1, 11, 10, tzinfo=UTC), priority="emergency"),
    ]
    concern_make(at=datetime(2025, 1, 13, 9, tzinfo=UTC))  # outside
    conversation_make(at=datetime(2025, 1, 12, 9, tzinfo=UTC))
    exchange_make(at=datetime(2025, 1, 12, 9, tzinfo=UTC), sentiment="negative")
    return concerns


def download(persona, query: str):
    response = persona.get(EXPORT + query)
    assert response.status_code == 200, response.content[:500]
    assert response.streaming
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return response, b"".join(response.streaming_content)


def test_csv(staff_member, rows):
    response, body = download(staff_member, "?format=csv" + RANGE)
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="citizenai-analytics-2025-01-10-to-2025-01-12.csv"' in response["Content-Disposition"]
    sections = body.decode().split("\r\n\r\n")
    assert len(sections) == 2
    summary = list(csv.reader(io.StringIO(sections[0])))
    assert summary[0] == ["section", "name", "value"]
    assert ["concerns", "total", "3"] in summary
    assert ["summary", "resolution_rate", "33.3"] in summary
    assert ["sentiment", "negative", "100"] in summary
    daily = list(csv.DictReader(io.StringIO(sections[1])))
    assert [row["date"] for row in daily] == ["2025-01-10", "2025-01-11", "2025-01-12"]
    assert [row["concerns_submitted"] for row in daily] == ["1", "2", "0"]
    assert [row["conversations"] for row in daily] == ["0", "0", "2"]
    assert [row["negative"] for row in daily] == ["0", "0", "1"]


def test_csv_with_details_lists_every_concern(staff_member, rows):
    _, body = download(staff_member, "?format=csv&include_details=true" + RANGE)
    sections = body.decode().split("\r\n\r\n")
    assert len(sections) == 3
    details = list(csv.DictReader(io.StringIO(sections[2])))
    assert [row["tracking_number"] for row in details] == [concern.tracking_number for concern in rows]
    assert details[0]["category"] == "water"
    assert details[0]["submitted_at"] == "2025-01-10T09:00:00Z"
    assert details[2]["priority"] == "emergency"
    assert "contact_email" not in details[0]


def test_metrics_choose_the_columns(staff_member, rows):
    _, body = download(staff_member, "?format=csv&metrics=sentiment" + RANGE)
    header = body.decode().split("\r\n\r\n")[1].splitlines()[0]
    assert header == "date,messages,positive,neutral,negative"


def test_json(staff_member, rows):
    response, body = download(staff_member, "?format=json&include_details=true" + RANGE)
    assert response["Content-Type"] == "application/json"
    data = json.loads(body)
    assert data["period"] == {"start_date": "2025-01-10", "end_date": "2025-01-12", "days": 3}
    assert data["dashboard"]["concerns"]["total"] == 3
    assert data["daily"]["columns"][0] == "date"
    assert len(data["daily"]["rows"]) == 3
    assert [item["tracking_number"] for item in data["concerns"]] == [concern.tracking_number for concern in rows]
    without = json.loads(download(staff_member, "?format=json" + RANGE)[1])
    assert "concerns" not in without


def test_json_with_no_concerns_is_valid(staff_member):
    data = json.loads(download(staff_member, "?format=json&include_details=true" + RANGE)[1])
    assert data["concerns"] == []


def test_xlsx(staff_member, rows):
    _, body = download(staff_member, "?format=xlsx&include_details=true" + RANGE)
    workbook = load_workbook(io.BytesIO(body), read_only=True)
    assert workbook.sheetnames == ["Summary", "Daily", "Concerns"]
    daily = list(workbook["Daily"].iter_rows(values_only=True))
    assert daily[0][:2] == ("date", "conversations")
    assert len(daily) == 4
    details = list(workbook["Concerns"].iter_rows(values_only=True))
    assert details[0][1] == "tracking_number"
    assert [row[1] for row in details[1:]] == [concern.tracking_number for concern in rows]
    assert details[1][2] == datetime(2025, 1, 10, 9)
    summary = list(workbook["Summary"].iter_rows(values_only=True))
    assert ("concerns", "total", 3) in summary


def test_pdf_has_the_tables_and_a_chart(staff_member, rows):
    response, body = download(staff_member, "?format=pdf&include_details=true" + RANGE)
    assert response["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    for heading in (
        "CitizenAI analytics",
        "Summary",
        "Daily figures",
        "date",
        "conversations",
        "concerns submitted",
        "Per day",
        "Tracking number",
        "Priority",
        rows[0].tracking_number,
    ):
        assert heading in text, heading


def test_pdf_caps_the_details(staff_member, rows, monkeypatch):
    monkeypatch.setattr(exports, "PDF_DETAIL_LIMIT", 2)
    _, body = download(staff_member, "?format=pdf&include_details=true" + RANGE)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    assert "The first 2 of 3 concerns" in text
    assert rows[2].tracking_number not in text


def test_under_asgi_the_chunks_come_from_an_async_iterator(rows):
    period = Period(start=datetime(2025, 1, 10).date(), end=datetime(2025, 1, 12).date())
    sync = exports.export_response(fmt="csv", period=period, metrics=("concerns",), include_details=True, asgi=False)
    expected = b"".join(sync.streaming_content)
    response = exports.export_response(fmt="csv", period=period, metrics=("concerns",), include_details=True, asgi=True)
    assert response.is_async

    async def consume() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    assert async_to_sync(consume)() == expected


def test_details_come_in_chunks(rows):
    from apps.analytics.selectors import concern_details_iter

    period = Period(start=datetime(2025, 1, 10).date(), end=datetime(2025, 1, 12).date())
    chunks = list(concern_details_iter(period=period, chunk_size=2))
    assert [len(chunk) for chunk in chunks] == [2, 1]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("", 400, "format"),
        ("?format=docx", 400, "format"),
        ("?format=csv&date_range=1y", 400, "date_range"),
        ("?format=csv&include_details=maybe", 400, "include_details"),
        ("?format=csv&start_date=2025-01-02&end_date=2025-01-01", 400, "end_date"),
        ("?format=csv&metrics=everything", 400, "metrics"),
    ],
)
def test_bad_input(staff_member, query, status, field):
    response = staff_member.get(EXPORT + query)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()["error"]["details"]


def test_permissions(citizen, stranger, staff_member):
    assert stranger.get(EXPORT + "?format=csv").status_code == 401
    assert citizen.get(EXPORT + "?format=csv").status_code == 403
    assert staff_member.get(EXPORT + "?format=csv").status_code == 200


def test_the_session_cookie_works_for_staff_pages_links(client, staff_member):
    client.force_login(staff_member.user)
    response = client.get(EXPORT + "?format=json&date_range=7d")
    assert response.status_code == 200
    assert json.loads(b"".join(response.streaming_content))["period"]["days"] == 7
