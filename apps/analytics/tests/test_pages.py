"""The staff dashboard page: who may see it, what it shows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.analytics.tests.helpers import concern_make, conversation_make, exchange_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_data() -> dict:
    now = timezone.now()
    conversation_make(at=now - timedelta(days=1))
    exchange_make(at=now - timedelta(hours=3), sentiment="negative")
    return {
        "late_low": concern_make(at=now - timedelta(days=5), priority="low", eta=now - timedelta(days=1)),
        "new_emergency": concern_make(at=now - timedelta(hours=1), priority="emergency", eta=now + timedelta(hours=2)),
        "old_emergency": concern_make(at=now - timedelta(hours=5), priority="emergency", eta=now + timedelta(hours=2)),
        "medium": concern_make(at=now - timedelta(days=2), priority="medium", eta=now + timedelta(days=2)),
        "done": concern_make(at=now - timedelta(days=2), status="resolved"),
    }


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/staff/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/sign-in/")


def test_citizen_is_refused(client, citizen):
    client.force_login(citizen.user)
    assert client.get("/staff/").status_code == 403


def test_staff_sees_cards_charts_queue_and_exports(client, staff_member, page_data):
    client.force_login(staff_member.user)
    response = client.get("/staff/?date_range=7d")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Staff dashboard</h1>" in html
    for chart in ("chart-conversations", "chart-concerns", "chart-sentiment"):
        assert f'id="{chart}"' in html
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
    assert re.search(r'<rect class="s-conversations"[^>]*data-value="\d+"', html)
    assert 'data-series="negative" data-value="100"' in html
    assert "<caption>" in html
    # the triage queue: overdue first, then priority, then age; resolved ones absent
    order = [page_data[key].tracking_number for key in ("late_low", "old_emergency", "new_emergency", "medium")]
    positions = [html.index(number) for number in order]
    assert positions == sorted(positions)
    assert page_data["done"].tracking_number not in html
    assert f"/admin/concerns/concern/{page_data['late_low'].pk}/change/" in html
    for fmt in ("csv", "json", "xlsx", "pdf"):
        assert f"/api/v1/analytics/export?format={fmt}&amp;" in html
    assert 'data-live-counter="concern.created"' in html and "js/analytics" in html and "js/realtime" in html
    assert 'href="/admin/chat/conversation/?status__exact=escalated"' in html  # staff may open it


def test_custom_range_and_bad_range(client, staff_member):
    client.force_login(staff_member.user)
    ok = client.get("/staff/?date_range=custom&start_date=2025-01-01&end_date=2025-01-10")
    assert ok.status_code == 200
    assert 'data-points="10"' in ok.content.decode()
    bad = client.get("/staff/?date_range=custom&start_date=2025-01-10&end_date=2025-01-01")
    assert bad.status_code == 400
    assert "The date range could not be used" in bad.content.decode()
