"""Recording an event in the outbox: the event row and one delivery per active endpoint whose
patterns match, exactly as apps.webhooks.catalog.matches decides. On PostgreSQL this is one
statement (apps/webhooks/statements.py); elsewhere the ORM does it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core.events import event_publish
from apps.webhooks import dispatch
from apps.webhooks.catalog import matches
from apps.webhooks.models import Delivery, DeliveryStatus, Endpoint, Event
from conftest import Persona

pytestmark = pytest.mark.django_db

PATTERNS: list[list[str]] = [
    ["*"],
    ["chat.message"],
    ["chat.*"],
    ["concern.*"],
    ["concern.created", "chat.escalated"],
    [],
    ["chat"],
    [".*"],
    ["chat.message.more"],
    ["chat.messages"],
    ["c*"],
    ["concern.*", "chat.*"],
    [1, None, "chat.message"],  # never stored through the API: odd elements are skipped
]
EVENTS = ["chat.message", "chat.escalated", "concern.created", "concern.updated", "webhook.ping"]


def _endpoint(owner: Persona, events: object, *, active: bool = True) -> Endpoint:
    return Endpoint.objects.create(
        owner=owner.user, url="https://receiver.example.org/hook", events=events, secret_encrypted="x", active=active
    )


def _record(event: str, data: dict[str, object]) -> Event:
    with transaction.atomic():
        event_publish(event=event, data=data)
    return Event.objects.filter(type=event).latest("created_at")


@pytest.mark.parametrize("event", EVENTS)
def test_deliveries_go_to_the_matching_active_endpoints(staff_member: Persona, event: str) -> None:
    endpoints = [_endpoint(staff_member, patterns) for patterns in PATTERNS]
    _endpoint(staff_member, ["*"], active=False)
    record = _record(event, {"n": 1, "text": "ünïcode"})
    expected = {endpoint.pk for endpoint, patterns in zip(endpoints, PATTERNS, strict=True) if matches(patterns, event)}
    deliveries = list(Delivery.objects.filter(event=record))
    assert {delivery.endpoint_id for delivery in deliveries} == expected
    assert len({delivery.pk for delivery in deliveries}) == len(deliveries)
    for delivery in deliveries:
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.attempt_count == 0
        assert delivery.next_attempt_at == delivery.enqueued_at == delivery.created_at == record.created_at
        assert delivery.lease_until is None and delivery.completed_at is None and delivery.last_error == ""
    assert record.data == {"n": 1, "text": "ünïcode"}


def test_the_deliveries_made_are_queued_after_commit(
    staff_member: Persona, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    endpoints = [_endpoint(staff_member, ["chat.*"]), _endpoint(staff_member, ["*"]), _endpoint(staff_member, [])]
    queued: list[list[uuid.UUID]] = []
    monkeypatch.setattr(dispatch, "enqueue", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        record = _record("chat.message", {"n": 5})
    deliveries = Delivery.objects.filter(event=record)
    assert {d.endpoint_id for d in deliveries} == {endpoints[0].pk, endpoints[1].pk}
    assert len(queued) == 1 and sorted(queued[0]) == sorted(d.pk for d in deliveries)
    assert all(isinstance(delivery_id, uuid.UUID) for delivery_id in queued[0])


def test_an_event_nobody_wants_is_still_recorded(staff_member: Persona) -> None:
    _endpoint(staff_member, {"not": "a list"})  # never stored through the API; must not break publishing
    _endpoint(staff_member, "*")
    record = _record("chat.message", {"n": 2})
    assert record.data == {"n": 2}
    assert not Delivery.objects.filter(event=record).exists()


def test_recording_is_one_statement_on_postgresql(staff_member: Persona) -> None:
    _endpoint(staff_member, ["chat.*"])
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        event_publish(event="chat.message", data={"n": 3})
    written = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN"))]
    assert len(written) == (1 if connection.vendor == "postgresql" else 3), written
    assert Delivery.objects.filter(event__type="chat.message").count() == 1


def test_a_rolled_back_change_records_nothing(staff_member: Persona) -> None:
    _endpoint(staff_member, ["*"])
    with pytest.raises(RuntimeError), transaction.atomic():
        event_publish(event="chat.message", data={"n": 4})
        raise RuntimeError("the change failed")
    assert not Event.objects.exists() and not Delivery.objects.exists()
