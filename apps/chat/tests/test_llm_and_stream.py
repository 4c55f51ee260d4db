"""The optional LLM provider (a local server speaking the streaming protocol) and its
fallback; the SSE event order through the API."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.chat.models import Conversation, Message
from apps.chat.tests.fake_llm import fake_llm
from apps.core.models import IdempotencyKey
from apps.knowledge.content import ARTICLES
from apps.knowledge.models import Article
from conftest import PASSWORD, Api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def knowledge_base(db: None) -> None:
    for item in ARTICLES:
        Article.objects.get_or_create(title=item["title"], defaults=item)


def llm_settings(base_url: str, **extra):
    return override_settings(LLM_BASE_URL=base_url, LLM_MODEL="city-model", LLM_API_KEY="sk-test", **extra)


def ask(persona, message="What are your office hours?", session="llm-1"):
    response = persona.post("/api/v1/chat/message", {"message": message, "session_id": session})
    assert response.status_code == 200
    return response.json()["data"]


def test_llm_writes_the_answer_grounded_in_passages(citizen):
    with fake_llm(tokens=["City Hall ", "opens ", "at 8:30."]) as llm, llm_settings(llm.base_url):
        data = ask(citizen)
    assert data["response"] == "City Hall opens at 8:30."
    assert data["metadata"]["engine"] == "llm:city-model"
    request = llm.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["stream"] is True
    system = request["body"]["messages"][0]["content"]
    assert "City Hall office hours" in system and "8:30 am to 5:00 pm" in system
    assert request["body"]["messages"][-1]["content"] == "What are your office hours?"


def test_llm_error_falls_back_to_the_embedded_engine(citizen):
    with fake_llm(tokens=[], status=503) as llm, llm_settings(llm.base_url):
        data = ask(citizen)
    assert data["metadata"]["engine"] == "embedded"
    assert "503" in data["metadata"]["fallback_reason"]
    assert "8:30" in data["response"]


def test_llm_timeout_falls_back(citizen):
    with fake_llm(tokens=["late"], delay=2.5) as llm, llm_settings(llm.base_url, LLM_TIMEOUT_SECONDS=1):
        data = ask(citizen)
    assert data["metadata"]["engine"] == "embedded"
    assert "8:30" in data["response"]


def test_unreachable_llm_falls_back(citizen):
    with llm_settings("http://127.0.0.1:9/v1"):
        data = ask(citizen)
    assert data["metadata"]["engine"] == "embedded"


def test_llm_is_not_asked_without_passages(citizen):
    with fake_llm(tokens=["made up"]) as llm, llm_settings(llm.base_url):
        data = ask(citizen, "Explain the offside rule in football")
    assert llm.requests == []
    assert data["metadata"]["engine"] == "embedded"


def events_of(response) -> list[dict]:
    body = b"".join(response).decode()  # an async stream, collected by the sync test client
    return [json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")]


def test_sse_events_in_seed_order(citizen):
    response = citizen.client.post(
        "/api/v1/chat/stream", {"message": "What are your office hours?", "session_id": "sse-1"}, format="json"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = events_of(response)
    types = [event["type"] for event in events]
    assert types[:4] == ["start", "detecting", "intent", "agent_selected"]
    assert types[-1] == "complete"
    assert set(types[4:-1]) == {"chunk"}
    assert events[2]["intent"] == "office_hours"
    assert events[3]["agent_id"] == "guide"
    text = "".join(event["content"] for event in events if event["type"] == "chunk")
    assert "8:30" in text
    assert events[-1]["suggested_actions"]
    history = citizen.get("/api/v1/chat/history?session_id=sse-1").json()["data"]["messages"]
    assert history[0]["response"] == text


def test_sse_chunks_carry_the_whole_last_sentence(citizen):
    response = citizen.client.post(
        "/api/v1/chat/stream", {"message": "What are your office hours?", "session_id": "sse-whole"}, format="json"
    )
    text = "".join(event["content"] for event in events_of(response) if event["type"] == "chunk")
    assert text.split("\n\n")[0].endswith("Phone lines (311) are staffed Monday to Saturday, 7:00 am to 9:00 pm.")


def test_a_pending_report_is_mentioned_after_the_llm_answer(citizen):
    ask(citizen, "I want to report a pothole", session="llm-intake")  # the intake: no LLM involved
    with fake_llm(tokens=["City Hall ", "opens at 8:30."]) as llm, llm_settings(llm.base_url):
        data = ask(citizen, "Actually, what are your office hours?", session="llm-intake")
        response = citizen.client.post(
            "/api/v1/chat/stream",
            {"message": "And what services are available for new residents?", "session_id": "llm-intake"},
            format="json",
        )
        events = events_of(response)
    assert data["metadata"]["engine"] == "llm:city-model"
    assert data["response"].startswith("City Hall opens at 8:30.\n\nI haven't filed your report about roads")
    assert data["suggested_actions"][:2] == ["continue_report", "cancel"]
    chunks = [event["content"] for event in events if event["type"] == "chunk"]
    assert chunks[:2] == ["City Hall ", "opens at 8:30."]
    assert chunks[2].startswith("\n\nI haven't filed your report about roads and potholes")
    assert events[-1]["suggested_actions"][:2] == ["continue_report", "cancel"]


def test_a_stream_under_an_idempotency_key_is_answered_once_and_replayed(citizen):
    """The retry of a stream that was sent whole replays it, without asking again; a key used
    with another message is a 409 as anywhere else."""
    body = {"message": "What are your office hours?", "session_id": "sse-idem"}
    first = citizen.client.post("/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    sent = b"".join(first)
    assert first.status_code == 200 and [e["type"] for e in events_of([sent])][-1] == "complete"
    retry = citizen.client.post("/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert retry.status_code == 200 and retry["Idempotent-Replayed"] == "true"
    assert retry["Content-Type"] == "text/event-stream"
    assert retry.content == sent
    assert Message.objects.filter(conversation_id="sse-idem").count() == 2  # one question, one answer
    other = {**body, "message": "hello"}
    conflict = citizen.client.post("/api/v1/chat/stream", other, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert conflict.status_code == 409


@pytest.fixture
def answer_fails_midway(monkeypatch):
    """The answer breaks after its first piece, once the question is stored."""
    from apps.chat import services

    def failing(prepared, **kwargs):
        yield "City Hall "
        raise RuntimeError("a fault inside the answer")

    monkeypatch.setattr(services, "answer_chunks", failing)


def test_a_stream_that_fails_after_storing_its_question_keeps_its_key_as_a_409(citizen, answer_fails_midway):
    """Sending it again would ask twice: the retry is told to read the conversation, in a
    replay that carries the first request's id as every replay does."""
    body = {"message": OFFICE_HOURS, "session_id": "fails-idem"}
    first = citizen.client.post(
        "/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-f", HTTP_X_REQUEST_ID="req-first"
    )
    assert [e["type"] for e in events_of(first)][-1] == "error"
    retry = citizen.client.post(
        "/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-f", HTTP_X_REQUEST_ID="req-retry"
    )
    assert retry.status_code == 409 and retry["Idempotent-Replayed"] == "true"
    assert "history" in retry.json()["error"]["message"]
    assert retry.json()["metadata"]["request_id"] == "req-first"
    assert Message.objects.filter(conversation_id="fails-idem", role="user").count() == 1


def test_a_long_stream_renews_its_claim_so_no_retry_asks_again(citizen, monkeypatch):
    from apps.core import idempotency

    renewals: list[object] = []
    renew = idempotency._renew
    monkeypatch.setattr(idempotency, "CLAIM_LEASE_SECONDS", 0.9)
    monkeypatch.setattr(idempotency, "_renew", lambda record: (renewals.append(record), renew(record)))
    body = {"message": OFFICE_HOURS, "session_id": "long"}
    with fake_llm(tokens=["City ", "Hall ", "opens ", "at 8:30."], gap=0.4) as llm, llm_settings(llm.base_url):
        first = citizen.client.post("/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-l")
        sent = b"".join(first)
    assert renewals
    retry = citizen.client.post("/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-l")
    assert retry["Idempotent-Replayed"] == "true" and retry.content == sent


def test_an_answer_whose_claim_was_taken_over_is_still_answered(citizen, monkeypatch):
    """A request that ran past its lease: a retry may have taken the key over. Its own
    answer is sent, not kept (the retry's is), and it is no 500."""
    from apps.chat import services

    exchange = services.conversation_exchange

    def slow(**kwargs):
        IdempotencyKey.objects.all().delete()  # the lease ran out and a retry took the key
        return exchange(**kwargs)

    monkeypatch.setattr(services, "conversation_exchange", slow)
    body = {"message": OFFICE_HOURS, "session_id": "taken"}
    response = citizen.client.post("/api/v1/chat/message", body, format="json", HTTP_IDEMPOTENCY_KEY="k-t")
    assert response.status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_a_stream_that_fails_before_storing_anything_releases_its_key(citizen, monkeypatch):
    from apps.chat import services

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "exchange_prepare", broken)
    body = {"message": OFFICE_HOURS, "session_id": "fails-early"}
    first = citizen.client.post("/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-e")
    assert [e["type"] for e in events_of(first)][-1] == "error"
    assert not IdempotencyKey.objects.filter(key="k-e").exists()


def test_a_claim_that_never_settles_frees_its_key_within_minutes(citizen):
    """A request that never finishes (its process died, its client left before the stream
    began) holds its key for the claim's lease, not for a day."""
    from apps.core.idempotency import CLAIM_LEASE_SECONDS

    body = {"message": OFFICE_HOURS, "session_id": "never"}
    response = citizen.client.post("/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-n")
    claim = IdempotencyKey.objects.get(key="k-n")  # the stream has not been read yet
    assert claim.status_code is None
    assert claim.expires_at <= timezone.now() + timedelta(seconds=CLAIM_LEASE_SECONDS)
    IdempotencyKey.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    again = citizen.client.post("/api/v1/chat/stream", body, format="json", HTTP_IDEMPOTENCY_KEY="k-n")
    assert "Idempotent-Replayed" not in again
    assert [e["type"] for e in events_of(again)][-1] == "complete"
    response.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},
        {"HTTP_SEC_FETCH_SITE": "none"},  # a link opened from a mail or chat program
        {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_SEC_FETCH_MODE": "navigate"},  # opened as a page
        {"HTTP_ORIGIN": "https://evil.example"},  # a browser without Fetch Metadata
        {"HTTP_REFERER": "https://evil.example/page"},  # nor Origin, as on a GET navigation
        {},  # nothing shows where it came from: a link followed with no-referrer
    ],
)
def test_another_site_cannot_start_a_stream_with_a_visitors_cookies(citizen, headers):
    """A link on another site would otherwise write (a report, an escalation) as the signed-in
    visitor: their SameSite=Lax cookie goes with a top-level GET, which no CSRF check covers."""
    browser = Api()
    browser.force_login(citizen.user)
    query = {"message": "I want to speak to a person", "session_id": "evil-1"}
    response = browser.get("/api/v1/chat/stream", query, **headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    visitor = Api()
    visitor.cookies["sessionid"] = "an anonymous visitor's session"
    assert visitor.get("/api/v1/chat/stream", {**query, "session_id": "evil-2"}, **headers).status_code == 403
    assert not Conversation.objects.exists()
    token = access_token(citizen)  # a credential of the caller's own: nothing to forge
    with_token = Api().get("/api/v1/chat/stream", {**query, "session_id": "tok", "token": token}, **headers)
    assert with_token.status_code == 200
    b"".join(with_token)


@override_settings(CSRF_TRUSTED_ORIGINS=["https://*.city.example"])
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_SEC_FETCH_MODE": "cors"},  # the widget's EventSource
        {"HTTP_ORIGIN": "http://testserver"},
        {"HTTP_REFERER": "http://testserver/assistant/"},
        {"HTTP_ORIGIN": "https://www.city.example"},  # a trusted origin, by its wildcard
    ],
)
def test_this_sites_pages_stream_with_cookies(citizen, headers):
    browser = Api()
    browser.force_login(citizen.user)
    response = browser.get("/api/v1/chat/stream", {"message": "hello", "session_id": "mine"}, **headers)
    assert response.status_code == 200, headers
    assert [event["type"] for event in events_of(response)][-1] == "complete"


def test_a_first_visit_without_cookies_has_nothing_to_forge(db):
    response = Api().get("/api/v1/chat/stream", {"message": "hello", "session_id": "first"})
    assert response.status_code == 200
    assert [event["type"] for event in events_of(response)][-1] == "complete"


def test_head_does_not_start_an_exchange(citizen):
    response = citizen.client.head("/api/v1/chat/stream", {"message": "I want to speak to a person", "session_id": "h"})
    assert response.status_code == 405
    assert not Conversation.objects.exists()


def test_sse_get_edits_a_message_as_post_does(citizen):
    first = citizen.post("/api/v1/chat/message", {"message": "hello", "session_id": "sse-edit"}).json()["data"]
    citizen.post("/api/v1/chat/message", {"message": "What are your office hours?", "session_id": "sse-edit"})
    query = {"message": "Good morning", "session_id": "sse-edit", "user_message_id": first["user_message_id"]}
    events = events_of(citizen.client.get("/api/v1/chat/stream", query))
    assert events[-1]["user_message_id"] == first["user_message_id"]
    contents = list(
        Message.objects.filter(conversation_id="sse-edit").order_by("created_at").values_list("content", flat=True)
    )
    assert len(contents) == 2 and contents[0] == "Good morning"


def test_sse_get_for_event_source(stranger):
    response = stranger.client.get("/api/v1/chat/stream", {"message": "hello", "session_id": "sse-get"})
    types = [event["type"] for event in events_of(response)]
    assert types[0] == "start" and types[-1] == "complete"


def test_sse_accepts_the_event_source_accept_header(stranger):
    # EventSource always sends `Accept: text/event-stream`; DRF's negotiation used to answer 406.
    # (And Sec-Fetch-Site, as every browser does: the second request carries the session cookie.)
    browser = {"HTTP_ACCEPT": "text/event-stream", "HTTP_SEC_FETCH_SITE": "same-origin"}
    response = stranger.client.get("/api/v1/chat/stream", {"message": "hello", "session_id": "sse-accept"}, **browser)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert [event["type"] for event in events_of(response)][-1] == "complete"
    refused = stranger.client.get("/api/v1/chat/stream", {"session_id": "sse-accept"}, **browser)
    assert refused.status_code == 422  # the usual JSON envelope, whatever the client accepts
    assert refused.json()["error"]["code"]


def access_token(persona) -> str:
    data = Api().post("/api/v1/auth/login", {"username": persona.user.username, "password": PASSWORD}, format="json")
    return data.json()["data"]["access_token"]


def test_sse_get_takes_an_access_token_parameter_for_event_source(citizen):
    """EventSource cannot send Authorization: ?token= (an access token) makes the stream its
    owner's, so the conversation is theirs to read."""
    secret = access_token(citizen)
    response = Api().get("/api/v1/chat/stream", {"message": "hello", "session_id": "sse-token", "token": secret})
    assert response.status_code == 200
    assert [event["type"] for event in events_of(response)][-1] == "complete"
    assert Conversation.objects.get(pk="sse-token").owner == citizen.user
    history = Api().get("/api/v1/chat/history?session_id=sse-token", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert history.status_code == 200 and len(history.json()["data"]["messages"]) == 1


def test_an_api_key_in_the_url_is_refused_without_being_used(citizen):
    """A URL ends up in logs and browser history: a long-lived API key must not go there."""
    query = {"message": "hello", "session_id": "sse-key", "token": citizen.secret}
    response = Api().get("/api/v1/chat/stream", query)
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["code"], error["details"]["reason"]) == ("INVALID_API_KEY", "not_an_access_token")
    assert citizen.secret not in response.content.decode()
    citizen.api_key.refresh_from_db()
    assert citizen.api_key.last_used_at is None
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed"),
        ("   ", "malformed"),
        ("x" * 513, "malformed"),
        ("caé_x", "malformed"),
        ("cat_unknown", "unknown"),
    ],
)
def test_a_bad_token_parameter_is_refused_not_anonymous(db, token, reason):
    response = Api().get("/api/v1/chat/stream", {"message": "hello", "session_id": "sse-bad", "token": token})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_API_KEY"
    assert response.json()["error"]["details"]["reason"] == reason
    assert not Conversation.objects.exists()


def test_a_revoked_token_parameter_is_refused(citizen):
    secret = access_token(citizen)
    Api().post("/api/v1/auth/logout", HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = Api().get("/api/v1/chat/stream", {"message": "hello", "session_id": "sse-rev", "token": secret})
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == "revoked"


def test_the_token_parameter_is_only_for_the_stream(citizen):
    """Elsewhere (and on POST) a secret in the URL counts for nothing: the caller is anonymous."""
    secret = access_token(citizen)
    assert Api().get("/api/v1/auth/validate", {"token": secret}).status_code == 401
    body = {"message": "hi", "session_id": "p"}
    response = Api().post(f"/api/v1/chat/stream?token={secret}", body, format="json")
    assert response.status_code == 200
    b"".join(response)
    assert Conversation.objects.get(pk="p").owner is None


def test_the_token_parameter_never_reaches_a_log_line(citizen, caplog):
    secret = access_token(citizen)
    with caplog.at_level(logging.DEBUG):
        query = {"message": "hello", "session_id": "sse-log", "token": secret}
        b"".join(Api().get("/api/v1/chat/stream", query))
    assert any(record.name == "apps.access" for record in caplog.records)
    assert all(secret not in f"{record.getMessage()} {record.__dict__}" for record in caplog.records)


def test_sse_streams_llm_tokens(citizen):
    with fake_llm(tokens=["One ", "two ", "three."]) as llm, llm_settings(llm.base_url):
        response = citizen.client.post(
            "/api/v1/chat/stream", {"message": "What are your office hours?", "session_id": "sse-llm"}, format="json"
        )
        events = events_of(response)
    assert [e["content"] for e in events if e["type"] == "chunk"] == ["One ", "two ", "three."]
    assert events[-1]["metadata"]["engine"] == "llm:city-model"


def test_sse_rejects_bad_input_before_streaming(citizen):
    response = citizen.client.post("/api/v1/chat/stream", {"message": ""}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_sse_refuses_someone_elses_message_before_streaming(citizen, staff_member):
    """Edit mode with a message of another conversation: the 404 of /chat/message, not a
    stream that starts and then reports an error in-band (and leaves an empty thread)."""
    theirs = staff_member.post("/api/v1/chat/message", {"message": "hello", "session_id": "staff-1"}).json()["data"]
    for body in (
        {"message": "x", "user_message_id": theirs["user_message_id"]},
        {"message": "x", "user_message_id": theirs["user_message_id"], "session_id": "mine-new"},
        {"message": "x", "user_message_id": theirs["message_id"], "session_id": "staff-1"},  # an answer
    ):
        response = citizen.client.post("/api/v1/chat/stream", body, format="json")
        assert response.status_code == 404, body
        assert response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert list(Conversation.objects.values_list("pk", flat=True)) == ["staff-1"]
    assert Message.objects.get(pk=theirs["user_message_id"]).content == "hello"


# --- A provider that misbehaves ---------------------------------------------------------------

OFFICE_HOURS = "What are your office hours?"


def stream(persona, message=OFFICE_HOURS, session="llm-stream"):
    response = persona.client.post("/api/v1/chat/stream", {"message": message, "session_id": session}, format="json")
    assert response.status_code == 200
    return events_of(response)


def stored_answer(session: str) -> Message:
    return Message.objects.filter(conversation_id=session, role="assistant").latest("created_at")


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/event-stream"])
def test_provider_text_is_utf8_whatever_its_content_type_says(citizen, content_type):
    """No Content-Type made requests hand over bytes (a 500); one without a charset made it
    decode ISO-8859-1. Server-sent events are UTF-8."""
    tokens = ["Câmara ", "abre às 8h — ", "café."]
    with fake_llm(tokens=tokens, content_type=content_type) as llm, llm_settings(llm.base_url):
        data = ask(citizen)
        events = stream(citizen)
    assert data["response"] == "Câmara abre às 8h — café."
    assert data["metadata"]["engine"] == "llm:city-model"
    assert "".join(e["content"] for e in events if e["type"] == "chunk") == "Câmara abre às 8h — café."


def test_an_answer_ended_by_finish_reason_is_whole(citizen):
    with fake_llm(tokens=["Open ", "at 8:30."], end="stop") as llm, llm_settings(llm.base_url):
        data = ask(citizen)
    assert (data["response"], data["metadata"]["engine"]) == ("Open at 8:30.", "llm:city-model")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"end": ""}, "end marker"),  # the body just ends
        ({"break_after": 2}, "end marker"),  # the connection is cut
        ({"raw": b"data: {not json\n\n"}, "malformed"),
        ({"raw": b'data: {"choices": [{"delta": {"content": 7}}]}\n\n'}, "malformed"),
        ({"end": "length"}, "LLM_MAX_TOKENS"),
    ],
)
def test_an_answer_cut_short_is_not_taken_as_whole(citizen, fault, reason):
    """POST /chat/message showed nobody the part that came, so the whole embedded answer
    replaces it; the stream had shown it, so it ends marked as interrupted."""
    with fake_llm(tokens=["City Hall ", "opens ", "at 8:30."], **fault) as llm, llm_settings(llm.base_url):
        data = ask(citizen)
        events = stream(citizen)
    assert data["metadata"]["engine"] == "embedded"
    assert reason in data["metadata"]["fallback_reason"]
    assert "8:30 am to 5:00 pm" in data["response"]
    complete = events[-1]
    assert complete["type"] == "complete"
    assert complete["metadata"]["engine"] == "llm:city-model (interrupted)"
    assert "".join(e["content"] for e in events if e["type"] == "chunk").endswith(" …")
    assert stored_answer("llm-stream").content.startswith("City Hall ")


def test_a_blank_answer_is_no_answer(citizen):
    with fake_llm(tokens=["   ", "\n  "]) as llm, llm_settings(llm.base_url):
        data = ask(citizen)
        events = stream(citizen)
    assert data["metadata"]["engine"] == "embedded"
    assert "8:30 am to 5:00 pm" in data["response"]
    chunks = [e["content"] for e in events if e["type"] == "chunk"]
    assert chunks and all(chunk.strip() for chunk in chunks[:1])  # the embedded answer, no blank first
    assert events[-1]["metadata"]["engine"] == "embedded"


def test_leading_blanks_are_dropped_not_the_answer(citizen):
    with fake_llm(tokens=["\n", " Open", " at 8:30."]) as llm, llm_settings(llm.base_url):
        data = ask(citizen)
    assert (data["response"], data["metadata"]["engine"]) == ("Open at 8:30.", "llm:city-model")


def test_a_trickling_provider_gets_llm_answer_seconds_in_all(citizen):
    """LLM_TIMEOUT_SECONDS bounds each wait; a provider sending a token every 0.4 s would
    otherwise hold the request for as long as it liked."""
    tokens = [f"word{i} " for i in range(8)]
    with fake_llm(tokens=tokens, gap=0.4) as llm, llm_settings(llm.base_url, LLM_ANSWER_SECONDS=1):
        data = ask(citizen)
    assert data["metadata"]["engine"] == "embedded"
    assert "LLM_ANSWER_SECONDS" in data["metadata"]["fallback_reason"]


def test_the_answer_length_is_asked_for_and_enforced(citizen):
    tokens = ["abcdefghij"] * 20
    with (
        fake_llm(tokens=tokens) as llm,
        llm_settings(llm.base_url, LLM_MAX_TOKENS=77, LLM_MAX_ANSWER_CHARS=50),
    ):
        data = ask(citizen)
        events = stream(citizen)
    assert llm.requests[0]["body"]["max_tokens"] == 77
    assert data["metadata"]["engine"] == "embedded"
    assert "LLM_MAX_ANSWER_CHARS" in data["metadata"]["fallback_reason"]
    streamed = "".join(e["content"] for e in events if e["type"] == "chunk")
    assert streamed == "abcdefghij" * 5 + " …"
    assert stored_answer("llm-stream").content == streamed


def test_a_provider_failure_is_logged_for_operators(citizen, caplog):
    with fake_llm(tokens=[], status=401) as llm, llm_settings(llm.base_url), caplog.at_level("WARNING"):
        ask(citizen)
    assert any("HTTP 401" in record.getMessage() for record in caplog.records)
    assert all("sk-test" not in record.getMessage() for record in caplog.records)


def test_a_slow_answer_does_not_bring_back_a_report_filed_meanwhile(citizen):
    """The LLM path commits the question and the answer apart. The answer's half wrote back
    the conversation state it had read before the provider answered, so a report filed in
    between came back pending and a second "yes" filed it twice."""
    from apps.chat import services
    from apps.concerns.models import Concern

    session = "slow-race"
    with fake_llm(tokens=["Open ", "at 8:30."]) as llm, llm_settings(llm.base_url):
        ask(citizen, "I want to report a broken street light", session)
        ask(citizen, "yes", session)
        ask(citizen, "Outside 42 Elm Street, near the bus stop", session)
        assert "shall i submit" in ask(citizen, "The lamp has been off for three nights", session)["response"].lower()
        slow = services.exchange_prepare(
            conversation=Conversation.objects.get(pk=session), user=citizen.user, text=OFFICE_HOURS
        )
        ask(citizen, "yes", session)  # while the provider is still writing: continue the report
        filed = ask(citizen, "yes please", session)
        assert Concern.objects.count() == 1
        for _ in services.answer_chunks(slow):
            pass
        services.exchange_finish(prepared=slow)
        again = [ask(citizen, "yes", session), ask(citizen, "yes", session)]
    assert Concern.objects.count() == 1
    linked = Conversation.objects.get(pk=session).concern
    assert linked.tracking_number == filed["metadata"]["concern"]["tracking_number"]
    assert all("concern" not in answer["metadata"] for answer in again)


def test_an_abandoned_stream_still_stores_its_answer(citizen):
    """services.exchange_finish_abandoned: the embedded answer is known in full; an LLM
    answer is kept as far as it was sent."""
    from apps.chat import services

    conversation = Conversation.objects.create(id="left-1", owner=citizen.user)
    embedded = services.exchange_prepare(conversation=conversation, user=citizen.user, text=OFFICE_HOURS)
    answer = services.exchange_finish_abandoned(prepared=embedded, sent="City Hall is")
    assert "8:30 am to 5:00 pm" in answer.content and answer.metadata["engine"] == "embedded"
    with fake_llm(tokens=["x"]) as llm, llm_settings(llm.base_url):
        written = services.exchange_prepare(conversation=conversation, user=citizen.user, text=OFFICE_HOURS)
        written.engine = "llm:city-model"  # as answer_chunks sets it at the provider's first piece
        answer = services.exchange_finish_abandoned(prepared=written, sent="City Hall opens")
    assert answer.content == "City Hall opens …"
    assert answer.metadata["engine"] == "llm:city-model (interrupted)"
    assert answer.reply_to == written.user_message


def test_a_stream_that_fails_reports_in_band_and_keeps_the_request_id(citizen, monkeypatch):
    from apps.chat import services
    from apps.core.context import current_request_id

    seen: list[str] = []

    def failing(prepared, **kwargs):
        seen.append(current_request_id())
        yield "City Hall "
        raise RuntimeError("a fault inside the answer")

    monkeypatch.setattr(services, "answer_chunks", failing)
    response = citizen.client.post(
        "/api/v1/chat/stream", {"message": OFFICE_HOURS, "session_id": "fails"}, format="json"
    )
    events = events_of(response)
    assert [e["type"] for e in events][-2:] == ["chunk", "error"]
    assert seen == [response["X-Request-ID"]]
    answer = stored_answer("fails")  # the question is not left without an answer
    assert "8:30 am to 5:00 pm" in answer.content


def test_the_answer_deadline_holds_within_a_line():
    """A provider dripping bytes without a newline was only checked once a line was whole."""
    import time as clock

    from apps.chat.engine import llm

    def drip():
        while True:
            clock.sleep(0.2)
            yield b"d"

    started = clock.monotonic()
    with pytest.raises(llm.LLMError, match="LLM_ANSWER_SECONDS"):
        list(llm._lines(drip(), clock.monotonic() + 0.5))
    assert clock.monotonic() - started < 5
    with pytest.raises(llm.LLMError, match="longer than any"):
        list(llm._lines(iter([b"x" * (llm.MAX_LINE_BYTES + 1)]), clock.monotonic() + 60))
    assert list(llm._lines(iter([b"data: a\r\nda", b"ta: b\n\n", b"tail"]), clock.monotonic() + 60)) == [
        b"data: a",
        b"data: b",
        b"",
        b"tail",
    ]


def test_a_chunk_without_choices_is_skipped(citizen):
    """Azure OpenAI's first chunk carries only content-filter results."""
    first = b'data: {"choices": [], "prompt_filter_results": []}\n\n'
    with fake_llm(tokens=["Open ", "at 8:30."], first=first) as llm, llm_settings(llm.base_url):
        data = ask(citizen)
    assert (data["response"], data["metadata"]["engine"]) == ("Open at 8:30.", "llm:city-model")


def test_an_answer_at_the_length_limit_sends_no_empty_chunk(citizen):
    with fake_llm(tokens=["abcde", "fghij", "klm"]) as llm, llm_settings(llm.base_url, LLM_MAX_ANSWER_CHARS=10):
        events = stream(citizen)
    chunks = [e["content"] for e in events if e["type"] == "chunk"]
    assert "" not in chunks
    assert "".join(chunks) == "abcdefghij …"


def test_an_abandoned_stream_keeps_a_whole_answer_and_adds_none_twice(citizen):
    from apps.chat import services

    conversation = Conversation.objects.create(id="left-2", owner=citizen.user)
    with fake_llm(tokens=["City Hall opens at 8:30."]) as llm, llm_settings(llm.base_url):
        whole = services.exchange_prepare(conversation=conversation, user=citizen.user, text=OFFICE_HOURS)
        sent = "".join(services.answer_chunks(whole))  # all of it went out, then the client left
    answer = services.exchange_finish_abandoned(prepared=whole, sent=sent)
    assert (answer.content, answer.metadata["engine"]) == ("City Hall opens at 8:30.", "llm:city-model")
    again = services.exchange_finish_abandoned(prepared=whole, sent=sent)  # a finish that ran on after all
    assert again.pk == answer.pk
    assert Message.objects.filter(reply_to=whole.user_message).count() == 1
