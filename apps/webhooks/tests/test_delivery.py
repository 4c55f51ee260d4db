"""Delivery against a real local HTTP receiver: signatures, retries, 410, redirects, timeouts."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.core.events import event_publish
from apps.webhooks import services, signing
from apps.webhooks.models import Delivery, DeliveryStatus, Endpoint
from tests.receiver import Reply, running_receiver

# Real commits: deliveries start from transaction.on_commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def make_endpoint(owner, url: str, events: list[str] | None = None, secret: str | None = None) -> tuple[Endpoint, str]:
    return services.endpoint_create(owner=owner, url=url, events=events or ["concern.*"], secret=secret)


def publish(data: dict | None = None, event: str = "concern.created") -> None:
    with transaction.atomic():
        event_publish(event=event, data=data or {"concern_id": "c1", "status": "submitted"})


def make_due(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_delivery_is_signed_three_ways(staff_member):
    with running_receiver() as receiver:
        endpoint, secret = make_endpoint(staff_member.user, receiver.url)
        publish({"concern_id": "c1", "title": "Broken light"})
    assert len(receiver.received) == 1
    request = receiver.received[0]
    body = json.loads(request.body)
    assert body["event"] == "concern.created"
    assert body["data"] == {"concern_id": "c1", "title": "Broken light"}
    # 1. seed 000's signature over the canonical JSON of event, data, timestamp
    unsigned = {k: body[k] for k in ("event", "data", "timestamp")}
    assert body["signature"] == "sha256=" + signing.hmac_hex(secret.encode(), signing.canonical_json(unsigned))
    # 2. X-CitizenAI-Signature over the exact body bytes
    assert request.headers["x-citizenai-signature"] == "sha256=" + signing.hmac_hex(secret.encode(), request.body)
    # 3. Standard Webhooks, verified by the reference package
    assert Webhook(secret).verify(request.body, request.headers)["event"] == "concern.created"
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert request.headers["webhook-id"] == delivery.message_id
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts.count() == 1


def test_plain_secret_signs_with_its_utf8_bytes(staff_member):
    with running_receiver() as receiver:
        _, secret = make_endpoint(staff_member.user, receiver.url, secret="webhook_secret_key_123")
        publish()
    request = receiver.received[0]
    ts, msg_id = request.headers["webhook-timestamp"], request.headers["webhook-id"]
    expected = signing.signature_headers(secret=secret, message_id=msg_id, timestamp=int(ts), body=request.body)
    assert request.headers["webhook-signature"] == expected["webhook-signature"]


def test_nothing_is_sent_when_the_transaction_rolls_back(staff_member):
    with running_receiver() as receiver:
        make_endpoint(staff_member.user, receiver.url)
        with pytest.raises(RuntimeError), transaction.atomic():
            event_publish(event="concern.created", data={"concern_id": "gone"})
            raise RuntimeError("the change failed")
    assert receiver.received == []
    assert Delivery.objects.count() == 0


def test_only_subscribed_active_endpoints_get_the_event(staff_member):
    with running_receiver() as receiver:
        make_endpoint(staff_member.user, receiver.url, events=["chat.escalated"])
        inactive, _ = make_endpoint(staff_member.user, receiver.url, events=["*"])
        Endpoint.objects.filter(pk=inactive.pk).update(active=False)
        publish()
    assert receiver.received == []


def test_500_then_success_retries_with_the_same_webhook_id(staff_member):
    replies = iter([Reply(500, b"boom"), Reply(200)])
    with running_receiver(lambda request: next(replies)) as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        publish()
        delivery = Delivery.objects.get(endpoint=endpoint)
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.attempt_count == 1
        assert delivery.last_status_code == 500
        # The default schedule waits about 5 seconds before the second attempt.
        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        assert 3.5 <= wait <= 6
        assert services.deliveries_sweep() == 0  # not due yet
        make_due(delivery)
        assert services.deliveries_sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [a.status_code for a in delivery.attempts.all()] == [500, 200]
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


@override_settings(WEBHOOK_RETRY_SCHEDULE=[0, 1, 1])
def test_gives_up_after_the_schedule(staff_member):
    with running_receiver(lambda request: Reply(500)) as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        publish()
        delivery = Delivery.objects.get(endpoint=endpoint)
        for _ in range(2):
            make_due(delivery)
            services.deliveries_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == 3
    assert len(receiver.received) == 3


def test_410_disables_the_endpoint_and_tells_the_owner(staff_member, mailoutbox):
    with running_receiver(lambda request: Reply(410)) as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        publish()
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert "410" in endpoint.disabled_reason
    assert Delivery.objects.get(endpoint=endpoint).status == DeliveryStatus.FAILED
    assert mailoutbox and staff_member.user.email in mailoutbox[0].to


def test_redirect_is_not_followed(staff_member):
    with (
        running_receiver() as target,
        running_receiver(lambda request: Reply(302, headers={"Location": target.url})) as receiver,
    ):
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        publish()
    assert target.received == []
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING
    assert "redirect" in delivery.last_error


@override_settings(WEBHOOK_TIMEOUT_SECONDS=1)
def test_timeout_is_a_failed_attempt(staff_member):
    with running_receiver(lambda request: Reply(200, delay=2.5)) as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        publish()
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING
    assert "timeout" in delivery.last_error
    assert delivery.attempts.get().latency_ms >= 900


def test_connection_refused_is_a_failed_attempt(staff_member):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint, _ = make_endpoint(staff_member.user, f"http://127.0.0.1:{port}/hook")
    publish()
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING
    assert "Connection" in delivery.last_error or "refused" in delivery.last_error.lower()


def test_retry_after_is_honoured_on_429(staff_member):
    with running_receiver(lambda request: Reply(429, headers={"Retry-After": "120"})) as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        publish()
    delivery = Delivery.objects.get(endpoint=endpoint)
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 110 <= wait <= 121


def test_endpoint_failing_for_five_days_is_disabled(staff_member):
    with running_receiver(lambda request: Reply(500)) as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
        publish()
    endpoint.refresh_from_db()
    assert endpoint.active is False


def test_orphaned_delivery_is_resent_by_the_sweep(staff_member):
    """A task lost with a killed worker or a broker restart leaves a pending delivery with an
    old enqueued_at; the sweep sends it."""
    with running_receiver() as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        with override_settings(WEBHOOK_DISPATCH="celery"), transaction.atomic():
            # Recorded but its task never runs: simulate by not committing through on_commit.
            from apps.webhooks.models import Event

            event = Event.objects.create(type="concern.created", data={"concern_id": "lost"})
            old = timezone.now() - timedelta(minutes=5)
            delivery = Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=old, enqueued_at=old)
        assert services.deliveries_sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(receiver.received) == 1


def test_a_held_delivery_is_not_sent_twice(staff_member):
    with running_receiver() as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        with override_settings(WEBHOOK_DISPATCH="celery"):
            from apps.webhooks.models import Event

            event = Event.objects.create(type="concern.created", data={})
            delivery = Delivery.objects.create(
                endpoint=endpoint, event=event, lease_until=timezone.now() + timedelta(seconds=30)
            )
        assert services.delivery_attempt(delivery_id=delivery.pk) == "skipped"
    assert receiver.received == []


def _queued_delivery(endpoint: Endpoint) -> Delivery:
    from apps.webhooks.models import Event

    event = Event.objects.create(type="concern.created", data={"concern_id": "c9", "title": "Pothole"})
    return Delivery.objects.create(endpoint=endpoint, event=event)


def test_a_successful_delivery_costs_a_fixed_number_of_statements(staff_member):
    """On PostgreSQL a worker claims and loads in one statement and records the success in
    another (apps/webhooks/statements.py); elsewhere the ORM takes four
    (in two transactions)."""
    with running_receiver() as receiver:
        endpoint, secret = make_endpoint(staff_member.user, receiver.url)
        delivery = _queued_delivery(endpoint)
        with CaptureQueriesContext(connection) as queries:
            assert services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    statements = [q["sql"] for q in queries if q["sql"] not in ("BEGIN IMMEDIATE", "COMMIT")]
    assert len(statements) == (2 if connection.vendor == "postgresql" else 4), statements
    body = json.loads(receiver.received[0].body)
    assert body["data"] == {"concern_id": "c9", "title": "Pothole"}  # the event came back decoded
    assert Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert delivery.lease_until is None and delivery.completed_at is not None
    [attempt] = delivery.attempts.all()
    assert attempt.status_code == 200 and attempt.error == "" and attempt.latency_ms > 0


def test_a_delivery_inside_a_transaction_leaves_its_commit_durable(staff_member):
    """The asynchronous commit of a worker's bookkeeping must not leak into a caller's
    transaction (whose outbox rows need full durability)."""
    with running_receiver() as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        delivery = _queued_delivery(endpoint)
        with transaction.atomic(), connection.cursor() as cursor:
            assert services.delivery_attempt(delivery_id=delivery.pk) == "succeeded"
            if connection.vendor == "postgresql":
                cursor.execute("SHOW synchronous_commit")
                assert cursor.fetchone()[0] == "on"
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SUCCEEDED


def test_redeliver_sends_again_under_the_same_id(staff_member):
    with running_receiver() as receiver:
        endpoint, _ = make_endpoint(staff_member.user, receiver.url)
        publish()
        delivery = Delivery.objects.get(endpoint=endpoint)
        services.delivery_redeliver(delivery=delivery)
    assert len(receiver.received) == 2
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    assert Delivery.objects.get(pk=delivery.pk).attempts.count() == 2


def test_secret_is_encrypted_at_rest(staff_member):
    endpoint, secret = make_endpoint(staff_member.user, "http://127.0.0.1:9/hook")
    stored = Endpoint.objects.values_list("secret_encrypted", flat=True).get(pk=endpoint.pk)
    assert secret not in stored
    assert services.endpoint_secret(endpoint) == secret


def test_concern_creation_reaches_the_receiver(citizen, staff_member):
    with running_receiver() as receiver:
        make_endpoint(staff_member.user, receiver.url, events=["concern.created"])
        response = citizen.post(
            "/api/v1/concerns",
            {"title": "Pothole", "description": "Deep pothole on Oak Street", "category": "roads"},
        )
        assert response.status_code == 201
    assert len(receiver.received) == 1
    body = json.loads(receiver.received[0].body)
    assert body["data"]["tracking_number"] == response.json()["data"]["tracking_number"]
    assert "contact" not in json.dumps(body["data"]).lower() or body["data"].get("contact") is None
