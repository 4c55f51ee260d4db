"""SPEC §2 Idempotency-Key on POST: a retry gets the first response, a different body under
the same key is a 409, keys belong to their caller and expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.concerns.models import Concern
from apps.core.models import IdempotencyKey
from apps.core.tests.urls import EchoView

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.core.tests.urls")]

ECHO = "/api/v1/test/echo"


@pytest.fixture(autouse=True)
def echo_calls(monkeypatch):
    monkeypatch.setattr(EchoView, "calls", 0)


def post(persona, body, key: str | None = "key-1", **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return persona.post(ECHO, body, **extra)


def test_retry_returns_the_first_response_byte_for_byte(citizen):
    first = post(citizen, {"title": "pothole", "n": 1})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    retry = post(citizen, {"n": 1, "title": "pothole"})  # same body, other key order
    assert retry.status_code == 201
    assert retry.content == first.content
    assert retry["Content-Type"] == first["Content-Type"]
    assert retry["Idempotent-Replayed"] == "true"
    assert EchoView.calls == 1
    assert IdempotencyKey.objects.count() == 1


def test_without_a_key_every_post_runs(citizen):
    post(citizen, {"a": 1}, key=None)
    post(citizen, {"a": 1}, key=None)
    assert EchoView.calls == 2
    assert IdempotencyKey.objects.count() == 0


def test_wrapped_and_bare_bodies_are_the_same_request(citizen):
    first = post(citizen, {"title": "x"})
    retry = post(citizen, {"data": {"title": "x"}, "metadata": {"request_id": "req_2"}})
    assert retry.content == first.content
    assert EchoView.calls == 1


def test_same_key_with_a_different_body_is_409(citizen):
    post(citizen, {"title": "first"})
    response = post(citizen, {"title": "second"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "CONFLICT"
    assert "Idempotency-Key" in error["details"]
    assert EchoView.calls == 1


def test_same_key_on_another_endpoint_is_409(administrator):
    post(administrator, {"title": "x"})
    response = administrator.post(
        "/api/v1/users",
        {"username": "u1", "email": "u1@example.org", "password": "a long enough password 7", "role": "citizen"},
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"


def test_keys_belong_to_their_caller(citizen, staff_member, stranger):
    mine = post(citizen, {"who": "citizen"})
    theirs = post(staff_member, {"who": "staff"})
    anonymous = post(stranger, {"who": "stranger"})
    assert [mine.status_code, theirs.status_code, anonymous.status_code] == [201, 201, 201]
    assert EchoView.calls == 3
    assert mine.json()["data"]["received"] == {"who": "citizen"}
    assert theirs.json()["data"]["received"] == {"who": "staff"}
    assert anonymous.json()["data"]["received"] == {"who": "stranger"}
    # Each caller's retry replays its own first response.
    assert post(staff_member, {"who": "staff"}).content == theirs.content
    assert EchoView.calls == 3


def test_server_error_releases_the_key(citizen):
    failed = post(citizen, {"fail": True})
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "INTERNAL_ERROR"
    assert IdempotencyKey.objects.count() == 0
    again = post(citizen, {"fail": True})
    assert again.status_code == 500
    assert EchoView.calls == 2  # the retry really ran
    fixed = post(citizen, {"fail": False})
    assert fixed.status_code == 201
    assert EchoView.calls == 3
    assert post(citizen, {"fail": False}).content == fixed.content


def test_a_refused_request_releases_the_key_for_the_corrected_one(citizen):
    """A 422 changed nothing: the client fixes the field and sends again under the same
    key (a 409 there made it invent a new key, and lose the retry protection it wanted)."""
    concerns = "/api/v1/concerns"
    refused = citizen.post(concerns, {"title": "Pothole", "category": "roads"}, HTTP_IDEMPOTENCY_KEY="report-1")
    assert refused.status_code == 422
    assert IdempotencyKey.objects.count() == 0
    body = {"title": "Pothole", "description": "Deep pothole", "category": "roads"}
    created = citizen.post(concerns, body, HTTP_IDEMPOTENCY_KEY="report-1")
    assert created.status_code == 201
    replayed = citizen.post(concerns, body, HTTP_IDEMPOTENCY_KEY="report-1")
    assert replayed.content == created.content and replayed["Idempotent-Replayed"] == "true"
    assert Concern.objects.count() == 1


def test_unreadable_body_does_not_claim_the_key(citizen):
    first = citizen.client.post(ECHO, data="[1, 2", content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == 400
    assert IdempotencyKey.objects.count() == 0
    assert post(citizen, {"title": "x"}).status_code == 201
    assert EchoView.calls == 1


def test_expired_key_can_be_reused(citizen):
    post(citizen, {"title": "old"})
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = post(citizen, {"title": "new"})
    assert response.status_code == 201
    assert response.json()["data"]["received"] == {"title": "new"}
    assert EchoView.calls == 2
    record = IdempotencyKey.objects.get()
    assert record.expires_at > timezone.now()


def test_keys_expire_after_the_configured_ttl(citizen):
    before = timezone.now()
    post(citizen, {"title": "x"})
    record = IdempotencyKey.objects.get()
    ttl = timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL)
    assert before + ttl <= record.expires_at <= timezone.now() + ttl
    assert settings.IDEMPOTENCY_KEY_TTL == 86400
    assert record.principal == f"key:{citizen.api_key.pk}"


@pytest.mark.parametrize("key", ["x" * 256, "   "])
def test_bad_key_is_400(citizen, key):
    response = post(citizen, {"title": "x"}, key=key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "Idempotency-Key" in error["details"]
    assert EchoView.calls == 0


def test_key_of_255_characters_is_accepted(citizen):
    key = "k" * 255
    first = post(citizen, {"title": "x"}, key=key)
    assert first.status_code == 201
    assert post(citizen, {"title": "x"}, key=key).content == first.content
    assert EchoView.calls == 1


def test_purge_task_deletes_expired_keys(citizen):
    from apps.core.tasks import purge_idempotency_keys

    post(citizen, {"n": 1}, key="old-1")
    post(citizen, {"n": 2}, key="old-2")
    post(citizen, {"n": 3}, key="fresh")
    IdempotencyKey.objects.filter(key__startswith="old").update(expires_at=timezone.now() - timedelta(minutes=1))
    assert purge_idempotency_keys() == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    # Beat runs it by this name.
    schedule = settings.CELERY_BEAT_SCHEDULE["purge-expired-idempotency-keys"]
    assert schedule["task"] == purge_idempotency_keys.name


def test_duplicate_while_the_first_is_in_progress_is_409(citizen):
    post(citizen, {"title": "slow"})
    # What the row looks like while the first request is still running.
    IdempotencyKey.objects.update(status_code=None, response_body=None)
    response = post(citizen, {"title": "slow"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert "still being processed" in response.json()["error"]["message"]
    assert EchoView.calls == 1


def test_in_progress_row_written_by_another_process_is_409(stranger):
    IdempotencyKey.objects.create(
        principal="ip:127.0.0.1",
        key="in-flight",
        method="POST",
        path=ECHO,
        fingerprint="0" * 64,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    response = post(stranger, {"title": "x"}, key="in-flight")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert EchoView.calls == 0


def test_get_ignores_the_header(stranger):
    response = stranger.get("/api/v1/system/health", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 200
    assert IdempotencyKey.objects.count() == 0
