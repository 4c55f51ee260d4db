"""The /api/v1/webhooks surface: who may call it, validation, secrets, logs, redelivery."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from apps.webhooks.models import Delivery, Endpoint
from tests.receiver import Reply, running_receiver

# Real commits: deliveries start from transaction.on_commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def create(persona, url: str, **extra):
    return persona.post("/api/v1/webhooks", {"url": url, "events": ["concern.created", "concern.updated"], **extra})


def test_create_generates_a_whsec_secret_shown_once(staff_member):
    response = create(staff_member, "http://127.0.0.1:9/hook")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["secret"].startswith("whsec_")
    assert data["events"] == ["concern.created", "concern.updated"]
    detail = staff_member.get(f"/api/v1/webhooks/{data['id']}").json()["data"]
    assert "secret" not in detail
    listing = staff_member.get("/api/v1/webhooks").json()
    assert [item["id"] for item in listing["data"]["webhooks"]] == [data["id"]]
    assert "secret" not in listing["data"]["webhooks"][0]


def test_create_with_own_secret(staff_member):
    response = create(staff_member, "http://127.0.0.1:9/hook", secret="webhook_secret_key_long")
    assert response.json()["data"]["secret"] == "webhook_secret_key_long"


def test_seed_004_event_names_are_accepted(staff_member):
    response = staff_member.post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/h", "events": ["chat.message", "document.created", "file.uploaded", "file.*"]},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "http://127.0.0.1:9/h", "events": ["concern.exploded"]}, "events"),
        ({"url": "http://127.0.0.1:9/h", "events": []}, "events"),
        ({"url": "http://127.0.0.1:9/h", "events": "concern.created"}, "events"),
        ({"url": "not a url", "events": ["concern.created"]}, "url"),
        ({"events": ["concern.created"]}, "url"),
        ({"url": "http://127.0.0.1:9/h", "events": ["concern.created"], "secret": "short"}, "secret"),
        ({"url": "http://127.0.0.1:9/h", "events": ["concern.created"], "secret": 12345678901234567890}, "secret"),
        ({"url": "http://127.0.0.1:9/h", "events": [5]}, "events.0"),
        ({"url": "http://127.0.0.1:9/h", "events": ["concern.created"], "description": 5}, "description"),
        ({"url": "http://127.0.0.1:9/h", "events": ["concern.created"], "colour": "red"}, "colour"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(staff_member, body, field):
    response = staff_member.post("/api/v1/webhooks", body)
    assert response.status_code == 422
    assert field in response.json()["error"]["details"]


def test_who_may_call(citizen, stranger, staff_member, administrator):
    assert stranger.get("/api/v1/webhooks").status_code == 401
    assert citizen.get("/api/v1/webhooks").status_code == 403
    assert create(citizen, "http://127.0.0.1:9/h").status_code == 403
    mine = create(staff_member, "http://127.0.0.1:9/h").json()["data"]["id"]
    # Administrators see every endpoint; another staff member sees none of them.
    assert administrator.get(f"/api/v1/webhooks/{mine}").status_code == 200
    from tests.conftest_helpers import other_staff

    other = other_staff()
    assert other.get(f"/api/v1/webhooks/{mine}").status_code == 404
    assert other.get("/api/v1/webhooks").json()["data"]["webhooks"] == []


def test_unknown_id_is_404(staff_member):
    assert staff_member.get("/api/v1/webhooks/00000000-0000-0000-0000-000000000000").status_code == 404
    assert staff_member.get("/api/v1/webhooks/not-a-uuid").status_code == 404


def test_update_and_delete(staff_member):
    endpoint_id = create(staff_member, "http://127.0.0.1:9/h").json()["data"]["id"]
    response = staff_member.put(f"/api/v1/webhooks/{endpoint_id}", {"active": False, "events": ["chat.escalated"]})
    assert response.status_code == 200
    assert response.json()["data"]["active"] is False
    assert response.json()["data"]["events"] == ["chat.escalated"]
    assert staff_member.put(f"/api/v1/webhooks/{endpoint_id}", {"events": ["nope"]}).status_code == 422
    assert staff_member.delete(f"/api/v1/webhooks/{endpoint_id}").status_code == 200
    assert not Endpoint.objects.filter(pk=endpoint_id).exists()


def test_ping_delivery_log_and_redeliver(staff_member):
    replies = iter([Reply(500), Reply(200), Reply(200)])
    with running_receiver(lambda request: next(replies)) as receiver:
        created = create(staff_member, receiver.url).json()["data"]
        ping = staff_member.post(f"/api/v1/webhooks/{created['id']}/test")
        assert ping.status_code == 202
        assert ping.json()["data"]["event"] == "webhook.ping"
        log = staff_member.get(f"/api/v1/webhooks/{created['id']}/deliveries?cursor=").json()
        delivery = log["data"]["deliveries"][0]
        assert delivery["status"] == "pending"
        assert delivery["attempts"][0]["status_code"] == 500
        assert log["pagination"]["has_more"] is False
        again = staff_member.post(f"/api/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver")
        assert again.status_code == 202
        assert again.json()["data"]["status"] == "succeeded"
        assert [a["status_code"] for a in again.json()["data"]["attempts"]] == [500, 200]
    assert Webhook(created["secret"]).verify(receiver.received[-1].body, receiver.received[-1].headers)


def test_delivery_log_cursor_walks_every_delivery(staff_member):
    from apps.core.events import event_publish

    with running_receiver() as receiver:
        endpoint_id = create(staff_member, receiver.url).json()["data"]["id"]
        for index in range(5):
            event_publish(event="concern.created", data={"n": index})
    seen: list[str] = []
    cursor = ""
    while True:
        page = staff_member.get(f"/api/v1/webhooks/{endpoint_id}/deliveries?limit=2&cursor={cursor}").json()
        seen += [item["id"] for item in page["data"]["deliveries"]]
        if not page["pagination"]["has_more"]:
            break
        cursor = page["pagination"]["next_cursor"]
    assert len(seen) == len(set(seen)) == 5 == Delivery.objects.filter(endpoint_id=endpoint_id).count()


def test_rotate_secret(staff_member):
    created = create(staff_member, "http://127.0.0.1:9/h").json()["data"]
    rotated = staff_member.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json()["data"]["secret"]
    assert rotated.startswith("whsec_") and rotated != created["secret"]


def test_redeliver_unknown_delivery_is_404(staff_member):
    endpoint_id = create(staff_member, "http://127.0.0.1:9/h").json()["data"]["id"]
    response = staff_member.post(
        f"/api/v1/webhooks/{endpoint_id}/deliveries/00000000-0000-0000-0000-000000000000/redeliver"
    )
    assert response.status_code == 404


def test_a_disabled_webhook_refuses_a_ping_and_a_redelivery_with_409(staff_member):
    """Queued, they would only turn 'failed' without an attempt; turned on again, both work."""
    with running_receiver() as receiver:
        created = create(staff_member, receiver.url).json()["data"]
        url = f"/api/v1/webhooks/{created['id']}"
        delivery = staff_member.post(f"{url}/test").json()["data"]
        Endpoint.objects.filter(pk=created["id"]).update(active=False)  # as a 410 from the receiver does
        before = Delivery.objects.count()
        for path in (f"{url}/test", f"{url}/deliveries/{delivery['id']}/redeliver"):
            response = staff_member.post(path)
            assert response.status_code == 409, path
            assert response.json()["error"]["code"] == "CONFLICT"
        assert Delivery.objects.count() == before
        assert staff_member.put(url, {"active": True}).status_code == 200
        assert staff_member.post(f"{url}/test").status_code == 202
