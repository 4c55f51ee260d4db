"""The assistant through its REST API: each agent, multi-turn intake, tracking, escalation,
edit mode, privacy and validation."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from apps.chat.models import Conversation, Message
from apps.concerns.models import Concern
from apps.core.events import event_subscribe, event_unsubscribe
from apps.knowledge.content import ARTICLES
from apps.knowledge.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def knowledge_base(db: None) -> None:
    for item in ARTICLES:
        Article.objects.get_or_create(title=item["title"], defaults=item)


@pytest.fixture
def published():
    events: list[tuple[str, dict]] = []

    def record(event: str, data: dict) -> None:
        events.append((event, data))

    event_subscribe(record)
    yield events
    event_unsubscribe(record)


def say(persona, message: str, session_id: str = "session_123", **extra):
    response = persona.post("/api/v1/chat/message", {"message": message, "session_id": session_id, **extra})
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_seed_example_answers_from_the_knowledge_base(citizen):
    data = say(citizen, "What are your office hours?")
    assert data["session_id"] == data["conversation_id"] == "session_123"
    assert data["intent"] == "office_hours"
    assert 0 <= data["confidence"] <= 1
    assert data["sentiment"] in {"positive", "neutral", "negative"}
    assert data["agent_id"] == "guide"
    assert data["agent_name"] == "Services Guide"
    assert "8:30" in data["response"]
    assert data["metadata"]["sources"][0]["title"] == "City Hall office hours"
    assert data["metadata"]["engine"] == "embedded"
    assert data["metadata"]["processing_time_ms"] >= 0
    assert isinstance(data["suggested_actions"], list) and data["suggested_actions"]
    assert Message.objects.filter(conversation_id="session_123").count() == 2


def test_services_question_cites_sources(citizen):
    data = say(citizen, "What services are available for new residents?")
    assert data["intent"] == "services_inquiry"
    assert any(source["title"] == "Services for new residents" for source in data["metadata"]["sources"])


def test_unknown_topic_is_answered_honestly(citizen):
    data = say(citizen, "Can you explain the rules of cricket to me?")
    assert data["metadata"]["sources"] == []
    assert "couldn't find" in data["response"]
    assert "talk_to_human" in data["suggested_actions"]


def test_greeting_and_goodbye(citizen, published):
    hello = say(citizen, "Hello there!")
    assert hello["intent"] == "greeting" and hello["agent_id"] == "assistant"
    bye = say(citizen, "Thanks, bye!")
    assert bye["intent"] in {"goodbye", "feedback"}
    if bye["intent"] == "goodbye":
        assert Conversation.objects.get(pk="session_123").status == "closed"
        assert "chat.completed" in [event for event, _ in published]


def test_multi_turn_intake_files_a_real_concern(citizen, published):
    first = say(citizen, "I want to report a broken street light", session_id="intake-1")
    assert first["intent"] == "report_concern"
    assert first["agent_id"] == "intake"
    assert "street lighting" in first["response"].lower()
    assert first["requires_input"] == {"confirm": "yes or no"}
    second = say(citizen, "yes", session_id="intake-1")
    assert second["agent_id"] == "intake"
    assert "where" in second["response"].lower()
    third = say(citizen, "Outside 42 Elm Street, near the bus stop", session_id="intake-1")
    assert "describe" in third["response"].lower()
    fourth = say(citizen, "The lamp has been off for three nights and the corner is very dark", session_id="intake-1")
    assert "shall i submit" in fourth["response"].lower()
    assert Concern.objects.count() == 0
    fifth = say(citizen, "yes please", session_id="intake-1")
    concern = Concern.objects.get()
    assert concern.tracking_number in fifth["response"]
    assert fifth["metadata"]["concern"]["tracking_number"] == concern.tracking_number
    assert concern.category.code == "street_lighting"
    assert concern.location == "Outside 42 Elm Street, near the bus stop"
    assert concern.submitted_by == citizen.user
    assert concern.source == "chat"
    assert Conversation.objects.get(pk="intake-1").concern == concern
    assert "concern.created" in [event for event, _ in published]


def test_intake_infers_location_and_description_from_the_first_message(citizen):
    first = say(citizen, "There is a huge pothole on Oak Street that damaged my tyre yesterday", session_id="i2")
    assert first["agent_id"] == "intake"
    assert "roads" in first["response"].lower() or "pothole" in first["response"].lower()
    second = say(citizen, "yes", session_id="i2")
    assert "shall i submit" in second["response"].lower()
    assert "Oak Street" in second["response"]


def test_intake_can_be_cancelled(citizen):
    say(citizen, "I need to report graffiti", session_id="i3")
    data = say(citizen, "cancel", session_id="i3")
    assert "won't file" in data["response"]
    assert Concern.objects.count() == 0
    assert "intake" not in Conversation.objects.get(pk="i3").state


def test_tracker_reports_status_public_or_own(citizen, stranger):
    from apps.concerns.models import Category
    from apps.concerns.services import concern_create

    concern = concern_create(
        title="Broken bench",
        description="The bench in the park is broken",
        category=Category.objects.get(code="parks"),
        submitted_by=citizen.user,
        contact={"email": "private@example.org"},
    )
    own = say(citizen, f"What's the status of {concern.tracking_number}?", session_id="t1")
    assert own["agent_id"] == "tracker"
    assert own["intent"] == "track_concern"
    assert "Your report" in own["response"] and "submitted" in own["response"]
    other = say(stranger, f"status of {concern.tracking_number.lower()} please", session_id="t2")
    assert other["agent_id"] == "tracker"
    assert concern.tracking_number in other["response"] and "Your report" not in other["response"]
    assert "private@example.org" not in other["response"]
    missing = say(stranger, "any update on TRK-1999-000001?", session_id="t3")
    assert "couldn't find" in missing["response"]


def test_tracker_asks_for_a_number(stranger):
    data = say(stranger, "Any update on my report?", session_id="t4")
    assert data["agent_id"] == "tracker"
    assert data["requires_input"] == {"tracking_number": "TRK-YYYY-NNNNNN"}


def test_escalation_on_request(citizen, published):
    data = say(citizen, "I want to talk to a real person please", session_id="e1")
    assert data["agent_id"] == "human_handoff"
    assert data["escalated"] is True
    assert Conversation.objects.get(pk="e1").status == "escalated"
    escalations = [payload for event, payload in published if event == "chat.escalated"]
    assert escalations and escalations[0]["reason"] == "requested" and escalations[0]["session_id"] == "e1"
    again = say(citizen, "hello? anyone?", session_id="e1")
    assert len([e for e, _ in published if e == "chat.escalated"]) == 1
    assert again["escalated"] is True


def test_escalation_after_two_negative_messages(citizen, published):
    say(citizen, "This is ridiculous, the pothole has been there for weeks and nobody cares", session_id="e2")
    data = say(citizen, "Your service is useless and terrible, I am furious", session_id="e2")
    assert data["agent_id"] == "human_handoff"
    assert [p["reason"] for e, p in published if e == "chat.escalated"] == ["negative_sentiment"]


@override_settings(CHAT_LOW_CONFIDENCE=0.99)
def test_escalation_after_two_unsure_turns(citizen, published):
    say(citizen, "blorp", session_id="e3")
    data = say(citizen, "zzzq fnord", session_id="e3")
    assert data["agent_id"] == "human_handoff"
    assert [p["reason"] for e, p in published if e == "chat.escalated"] == ["low_confidence"]


def test_complaint_is_met_with_care(citizen):
    data = say(citizen, "I'm really unhappy, the street cleaning never happens on my road", session_id="c1")
    assert data["intent"] in {"complaint", "report_concern"}
    if data["intent"] == "complaint":
        assert data["agent_id"] == "care"
        assert "sorry" in data["response"].lower()


def test_edit_mode_replaces_the_message_and_drops_later_ones(citizen):
    message_id = str(uuid.uuid4())
    first = say(citizen, "What are your office hours?", session_id="edit", user_message_id=message_id)
    assert first["user_message_id"] == message_id
    say(citizen, "And on Saturdays?", session_id="edit")
    assert Message.objects.filter(conversation_id="edit").count() == 4
    edited = say(citizen, "How do I apply for a building permit?", session_id="edit", user_message_id=message_id)
    assert edited["user_message_id"] == message_id
    messages = list(Message.objects.filter(conversation_id="edit").order_by("created_at"))
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "How do I apply for a building permit?"
    assert "permit" in messages[1].content.lower()


def test_thread_id_alias_and_optimistic_ids(citizen):
    thread = str(uuid.uuid4())
    response = citizen.post("/api/v1/chat/message", {"content": "hello", "thread_id": thread})
    assert response.status_code == 200
    assert response.json()["data"]["thread_id"] == thread
    detail = citizen.get(f"/api/v1/chat/threads/{thread}").json()["data"]
    assert detail["message_count"] == 2
    messages = citizen.get(f"/api/v1/chat/threads/{thread}/messages?page=1&page_size=1").json()
    assert len(messages["data"]) == 1 and messages["meta"]["total"] == 2
    assert messages["data"][0]["role"] == "user"
    threads = citizen.get("/api/v1/chat/threads").json()
    assert [t["id"] for t in threads["data"]] == [thread]


def test_sessions_are_private(citizen, stranger):
    say(citizen, "hello", session_id="mine")
    from tests.conftest_helpers import other_citizen

    intruder = other_citizen()
    assert intruder.post("/api/v1/chat/message", {"message": "hi", "session_id": "mine"}).status_code == 404
    assert intruder.get("/api/v1/chat/history?session_id=mine").status_code == 404
    assert intruder.get("/api/v1/chat/threads/mine").status_code == 404
    assert stranger.get("/api/v1/chat/history?session_id=mine").status_code == 404
    assert intruder.get("/api/v1/chat/threads").json()["data"] == []


def test_history_pairs_messages_with_responses(citizen):
    for text in ["hello", "What are your office hours?", "thanks"]:
        say(citizen, text, session_id="h1")
    body = citizen.get("/api/v1/chat/history?session_id=h1&limit=2").json()
    items = body["data"]["messages"]
    assert [item["message"] for item in items] == ["hello", "What are your office hours?"]
    assert all(item["response"] for item in items)
    assert {"id", "message", "response", "timestamp", "intent", "sentiment"} <= set(items[0])
    assert body["data"]["session_info"]["message_count"] == 6
    assert body["pagination"]["total"] == 3
    cursor = citizen.get("/api/v1/chat/history?session_id=h1&limit=2&cursor=").json()
    assert cursor["pagination"]["has_more"] is True


def test_session_endpoint_and_anonymous_widget_use(stranger):
    created = stranger.post("/api/v1/chat/session", {"session_id": "widget-1"})
    assert created.status_code == 201
    assert created.json()["data"]["session_id"] == "widget-1"
    data = say(stranger, "What are your office hours?", session_id="widget-1")
    assert data["agent_id"] == "guide"
    fresh = stranger.post("/api/v1/chat/session", {}).json()["data"]["session_id"]
    assert fresh and fresh != "widget-1"


def test_feedback_rates_an_answer(citizen):
    answer = say(citizen, "What are your office hours?", session_id="f1")
    response = citizen.post("/api/v1/chat/feedback", {"message_id": answer["message_id"], "rating": 5})
    assert response.status_code == 201
    assert citizen.post("/api/v1/chat/feedback", {"message_id": answer["message_id"], "rating": 6}).status_code == 422
    assert (
        citizen.post("/api/v1/chat/feedback", {"message_id": answer["user_message_id"], "rating": 3}).status_code == 404
    )
    from tests.conftest_helpers import other_citizen

    assert (
        other_citizen().post("/api/v1/chat/feedback", {"message_id": answer["message_id"], "rating": 1}).status_code
        == 404
    )


def test_agents_are_listed(stranger):
    agents = stranger.get("/api/v1/chat/agents").json()["data"]["agents"]
    assert {"guide", "intake", "tracker", "human_handoff"} <= {agent["id"] for agent in agents}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({}, "message"),
        ({"message": 42}, "message"),
        ({"message": ["hi"]}, "message"),
        ({"message": "x" * 1001}, "message"),
        ({"message": "hi", "session_id": "bad id!"}, "session_id"),
        ({"message": "hi", "session_id": "x" * 65}, "session_id"),
        ({"message": "hi", "user_message_id": "not-a-uuid"}, "user_message_id"),
        ({"message": "hi", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_422(citizen, body, field):
    response = citizen.post("/api/v1/chat/message", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["details"]


@override_settings(CHAT_MAX_MESSAGE_LENGTH=10)
def test_message_length_is_configurable(citizen):
    assert citizen.post("/api/v1/chat/message", {"message": "x" * 11}).status_code == 422


def test_malformed_json_is_400(citizen):
    response = citizen.client.post("/api/v1/chat/message", data="{", content_type="application/json")
    assert response.status_code == 400


def test_chat_message_event_is_published(citizen, published):
    say(citizen, "hello", session_id="ev")
    events = [payload for event, payload in published if event == "chat.message"]
    assert events and events[0]["session_id"] == "ev" and events[0]["intent"] == "greeting"
