"""The assistant through its REST API: each agent, multi-turn intake, tracking, escalation,
edit mode, privacy and validation."""

from __future__ import annotations

import re
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


def test_knowledge_answer_ends_with_a_whole_sentence(citizen):
    data = say(citizen, "What are your office hours?", session_id="whole")
    passage = data["response"].split("\n\n")[0]
    # The article's last sentence used to be cut at 320 characters: "...before closing. Phone…"
    assert passage.endswith("Phone lines (311) are staffed Monday to Saturday, 7:00 am to 9:00 pm.")


def test_a_long_article_is_answered_in_whole_sentences(citizen):
    sentences = [f"Rule {n} of the swimming pool keeps everyone in the water safe and happy." for n in range(1, 21)]
    body = " ".join(sentences)
    Article.objects.create(title="Swimming pool rules", body=body, category="parks", tags=["pool", "swimming"])
    data = say(citizen, "What are the swimming pool rules?", session_id="long")
    assert data["metadata"]["sources"][0]["title"] == "Swimming pool rules"
    passage = data["response"].split("\n\n")[0].removeprefix("From \u201cSwimming pool rules\u201d: ")
    assert 0 < len(passage) < len(body)
    assert set(re.split(r"(?<=\.) ", passage)) <= set(sentences)  # nothing but whole sentences


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


@pytest.mark.parametrize("place", ["Maple Avenue near number 12", "the bus shelter by the old mill"])
def test_an_answer_to_where_that_is_only_a_place_is_not_the_description(citizen, place):
    """No address or capitalised place found in it: the whole answer is the place as said,
    and what is wrong is still asked (it was filed with the place as its description)."""
    say(citizen, "report a broken street light", session_id="where")
    say(citizen, "yes", session_id="where")
    asked = say(citizen, place, session_id="where")
    assert "describe" in asked["response"].lower()
    described = say(citizen, "The lamp has been dark for three nights now", session_id="where")
    assert "shall i submit" in described["response"].lower()
    say(citizen, "yes", session_id="where")
    concern = Concern.objects.get()
    assert (concern.location, concern.description) == (place, "The lamp has been dark for three nights now")


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


def intake_state(session_id: str) -> dict:
    return Conversation.objects.get(pk=session_id).state.get("intake", {})


def test_intake_keeps_the_guessed_category_when_the_answer_is_the_location(citizen):
    first = say(citizen, "I want to report a pothole", session_id="guess")
    assert "roads and potholes. is that right?" in first["response"].lower()
    second = say(citizen, "It is on Elm Street near number 42", session_id="guess")
    assert second["agent_id"] == "intake"
    assert "what kind of problem" not in second["response"].lower()
    assert "roads and potholes" in second["response"].lower()  # the guess is still pending
    assert "Elm Street near number 42" in second["response"]  # and the location noted
    assert second["requires_input"] == {"confirm": "yes or no"}
    third = say(citizen, "yes", session_id="guess")  # confirms the pending guess
    assert "describe" in third["response"].lower()
    assert "where" not in third["response"].lower()  # the location is not asked again
    say(citizen, "It is about a metre wide and very deep, cars swerve around it", session_id="guess")
    filed = say(citizen, "yes", session_id="guess")
    concern = Concern.objects.get()
    assert concern.tracking_number in filed["response"]
    assert concern.category.code == "roads"
    assert concern.location == "Elm Street near number 42"


def test_intake_takes_a_second_answer_without_yes_or_no_as_acceptance(citizen):
    texts = ["I want to report a pothole", "It is on Elm Street near number 42", "hmm"]
    replies = [say(citizen, text, session_id="implicit")["response"] for text in texts]
    assert "I'll take it that it's a problem with roads and potholes" in replies[2]
    assert "describe" in replies[2].lower()
    assert len(set(replies)) == len(replies)  # never the same question again
    state = intake_state("implicit")
    assert state["category"] == "roads" and state["category_confirmed"] is True


def test_intake_yes_with_a_location_confirms_and_notes_it(citizen):
    say(citizen, "I want to report a pothole", session_id="yes-and")
    data = say(citizen, "yes, it's outside 42 Elm Street", session_id="yes-and")
    assert "describe" in data["response"].lower()
    state = intake_state("yes-and")
    assert state["category_confirmed"] is True and state["location"] == "outside 42 Elm Street"


@pytest.mark.parametrize(
    "answer, category",
    [("no, it's a water leak", "water"), ("Actually it's a broken street light", "street_lighting")],
)
def test_intake_answer_naming_another_category_replaces_the_guess(citizen, answer, category):
    say(citizen, "I want to report a pothole", session_id="other-category")
    data = say(citizen, answer, session_id="other-category")
    assert "where" in data["response"].lower()
    state = intake_state("other-category")
    assert state["category"] == category and state["category_confirmed"] is True


def test_intake_rejected_guess_asks_for_the_category(citizen):
    say(citizen, "I want to report a pothole", session_id="rejected")
    data = say(citizen, "no", session_id="rejected")  # "no" alone reads as goodbye to the classifier
    assert data["agent_id"] == "intake"
    assert "what kind of problem" in data["response"].lower()
    data = say(citizen, "water and drainage", session_id="rejected")
    assert "where" in data["response"].lower()
    assert intake_state("rejected")["category"] == "water"


def test_intake_without_a_recognisable_category_files_under_other(citizen):
    first = say(citizen, "I want to report a problem", session_id="unknown")
    assert "what kind of problem" in first["response"].lower()
    second = say(citizen, "It is on Elm Street near number 42", session_id="unknown")
    assert "Elm Street near number 42" in second["response"]
    third = say(citizen, "yes", session_id="unknown")  # no guess to confirm: not a category
    assert "\u201cOther\u201d" in third["response"]
    assert "describe" in third["response"].lower()  # the location was kept: not asked again
    assert len({first["response"], second["response"], third["response"]}) == 3
    say(citizen, "The fountain in the square smells of sewage", session_id="unknown")
    say(citizen, "yes", session_id="unknown")
    concern = Concern.objects.get()
    assert concern.category.code == "other" and concern.location == "Elm Street near number 42"


def test_intake_does_not_store_a_yes_as_the_location(citizen):
    say(citizen, "I want to report a pothole", session_id="yes-yes")
    say(citizen, "yes", session_id="yes-yes")
    data = say(citizen, "yes", session_id="yes-yes")
    assert "still need to know where" in data["response"]
    assert intake_state("yes-yes")["location"] is None


def test_a_new_topic_during_intake_is_answered_and_the_report_kept(citizen):
    say(citizen, "I want to report a pothole", session_id="switch")
    answer = say(citizen, "Actually, what are your office hours?", session_id="switch")
    assert answer["intent"] == "office_hours" and answer["confidence"] >= 0.8
    assert answer["agent_id"] == "guide"
    assert "8:30" in answer["response"]
    assert "what kind of problem" not in answer["response"].lower()
    assert "haven't filed your report about roads and potholes" in answer["response"]
    assert answer["suggested_actions"][:2] == ["continue_report", "cancel"]
    assert "report_concern" not in answer["suggested_actions"]
    assert intake_state("switch")["category"] == "roads"
    back = say(citizen, "yes", session_id="switch")  # answers "Would you like to continue it?"
    assert back["agent_id"] == "intake"
    assert "carry on" in back["response"] and "roads and potholes. is that right?" in back["response"].lower()
    assert intake_state("switch")["category_confirmed"] is False
    confirmed = say(citizen, "yes", session_id="switch")
    assert "where" in confirmed["response"].lower()


def test_ok_after_a_new_topic_does_not_submit_the_pending_report(citizen):
    say(citizen, "There is a huge pothole on Oak Street that damaged my tyre yesterday", session_id="switch-ok")
    summary = say(citizen, "yes", session_id="switch-ok")
    assert "shall i submit" in summary["response"].lower()
    say(citizen, "What services are available for new residents?", session_id="switch-ok")
    data = say(citizen, "ok", session_id="switch-ok")
    assert "shall i submit" in data["response"].lower()
    assert Concern.objects.count() == 0
    say(citizen, "yes", session_id="switch-ok")
    assert Concern.objects.get().location == "Oak Street"


@pytest.mark.parametrize(
    "message, agent",
    [
        ("What services are available for new residents?", "guide"),
        ("Any update on TRK-2026-000001?", "tracker"),
        ("I want to talk to a real person please", "human_handoff"),
        ("hello?", "assistant"),
        ("bye", "assistant"),
    ],
)
def test_other_topics_leave_the_report_to_come_back_to(citizen, message, agent):
    say(citizen, "I want to report a pothole", session_id="topics")
    say(citizen, "yes", session_id="topics")
    answer = say(citizen, message, session_id="topics")
    assert answer["agent_id"] == agent
    assert "haven't filed your report about roads and potholes" in answer["response"]
    assert "continue_report" in answer["suggested_actions"]
    back = say(citizen, "back to my report", session_id="topics")  # track_concern to the classifier
    assert back["agent_id"] == "intake"
    assert "where is it?" in back["response"].lower()


def test_a_pending_report_can_be_dropped_after_a_new_topic(citizen):
    say(citizen, "I want to report a pothole", session_id="switch-no")
    say(citizen, "What are your office hours?", session_id="switch-no")
    data = say(citizen, "no thanks", session_id="switch-no")
    assert data["agent_id"] == "intake"
    assert "dropped the report" in data["response"]
    assert "intake" not in Conversation.objects.get(pk="switch-no").state
    after = say(citizen, "What are your office hours?", session_id="switch-no")
    assert "haven't filed" not in after["response"]
    assert "continue_report" not in after["suggested_actions"]


def test_intake_answers_are_not_taken_for_a_new_topic(citizen):
    say(citizen, "I want to report a pothole", session_id="answers")
    say(citizen, "yes", session_id="answers")
    place = say(citizen, "in front of City Hall", session_id="answers")
    assert place["intent"] == "office_hours"  # but not confidently: an answer to "Where is it?"
    assert place["agent_id"] == "intake"
    assert intake_state("answers")["location"] == "in front of City Hall"
    complaint = "I'm really unhappy, it's been broken for two weeks"
    description = say(citizen, complaint, session_id="answers")
    assert description["intent"] == "complaint"  # confidently, but the problem being described
    assert description["agent_id"] == "intake"
    assert intake_state("answers")["description"] == complaint


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


def test_tracker_says_your_report_only_to_its_submitter(citizen, staff_member):
    from apps.concerns.models import Category
    from apps.concerns.services import concern_create
    from tests.conftest_helpers import other_citizen

    parks = Category.objects.get(code="parks")
    concern = concern_create(
        title="Broken bench", description="The bench is broken", category=parks, submitted_by=citizen.user
    )
    number = concern.tracking_number
    staff = say(staff_member, f"What's the status of {number}?", session_id="t5")
    assert staff["agent_id"] == "tracker"
    assert f"Report {number}" in staff["response"] and "Your report" not in staff["response"]
    neighbour = say(other_citizen(), f"What's the status of {number}?", session_id="t6")
    assert f"Report {number}" in neighbour["response"] and "Your report" not in neighbour["response"]
    own = say(citizen, f"What's the status of {number}?", session_id="t7")
    assert f"Your report {number}" in own["response"]
    filed_by_staff = concern_create(
        title="Dark lamp", description="Lamp out", category=parks, submitted_by=staff_member.user
    )
    staff_own = say(staff_member, f"What's the status of {filed_by_staff.tracking_number}?", session_id="t8")
    assert f"Your report {filed_by_staff.tracking_number}" in staff_own["response"]


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


def test_questions_about_paying_are_answered_not_escalated(citizen, published):
    """VADER reads "pay" as negative: three tax questions in a row were taken for sustained
    anger and handed to a person, unanswered."""
    for question in (
        "How do I pay my property tax?",
        "Can I pay the tax by bank transfer?",
        "What happens if I pay my tax late?",
    ):
        data = say(citizen, question, session_id="pay")
        assert data["agent_id"] == "guide", (question, data["response"])
        assert data["sentiment"] == "neutral"
    assert not [event for event, _ in published if event == "chat.escalated"]


def test_anger_twice_in_the_middle_of_a_report_goes_to_a_person_and_keeps_the_report(citizen, published):
    """Replies to the intake are not judged for mood, except a plain complaint about the
    service: two in a row went on as answers, the second taken as agreement."""
    say(citizen, "I want to report a pothole", session_id="angry-intake")
    first = say(
        citizen,
        "This is ridiculous, I've reported this three times already and nobody cares!",
        session_id="angry-intake",
    )
    assert first["agent_id"] == "intake"  # once is a description of the trouble
    second = say(citizen, "I'm furious, this is the worst service ever, useless!", session_id="angry-intake")
    assert second["agent_id"] == "human_handoff"
    assert [p["reason"] for e, p in published if e == "chat.escalated"] == ["negative_sentiment"]
    conversation = Conversation.objects.get(pk="angry-intake")
    assert conversation.status == "escalated"
    assert "intake" in conversation.state  # the report is kept for when they come back to it
    assert not Concern.objects.exists()


def test_angry_descriptions_of_the_problem_in_a_report_are_not_taken_for_anger(citizen, published):
    say(citizen, "I want to report a broken street light", session_id="described")
    say(citizen, "the light has been out for weeks, nobody fixed it", session_id="described")
    data = say(citizen, "the lamp post is dark every night and nobody fixed it, terrible", session_id="described")
    assert data["agent_id"] == "intake"
    assert not [e for e, _ in published if e == "chat.escalated"]


def test_a_calm_reply_between_complaints_in_a_report_starts_the_count_again(citizen, published):
    say(citizen, "I want to report a pothole", session_id="calm-intake")
    say(citizen, "This is ridiculous, nobody ever fixes anything here!", session_id="calm-intake")
    say(citizen, "yes", session_id="calm-intake")
    data = say(citizen, "I'm furious, this is the worst service ever, useless!", session_id="calm-intake")
    assert data["agent_id"] == "intake"
    assert not [e for e, _ in published if e == "chat.escalated"]


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


def test_editing_a_reply_in_a_report_goes_back_to_that_point_not_the_start(citizen):
    """The category confirmed before the edited message stands, and the next question is the
    one that followed the edited message the first time."""
    say(citizen, "I want to report a broken street light", session_id="edit-intake")
    say(citizen, "yes", session_id="edit-intake")
    place = say(citizen, "outside 42 Maple Avenue", session_id="edit-intake")
    asked_then = place["response"]
    edited = say(citizen, "outside 44 Maple Avenue", session_id="edit-intake", user_message_id=place["user_message_id"])
    assert edited["agent_id"] == "intake"
    assert edited["response"] == asked_then.replace("42", "44")
    assert "what kind of problem" not in edited["response"].lower()
    intake = Conversation.objects.get(pk="edit-intake").state["intake"]
    assert "44 Maple Avenue" in intake["location"]


def test_a_message_from_which_a_report_was_filed_cannot_be_edited(citizen):
    """The report is a concern now: editing the conversation that led to it would take it up
    again, or file it twice. Messages after the filing can still be edited."""
    say(citizen, "There's a huge hole in the road on 8 Baker Street", session_id="edit-filed")
    confirmed = say(citizen, "yes", session_id="edit-filed")
    filed = say(citizen, "yes", session_id="edit-filed")
    tracking = filed["metadata"]["concern"]["tracking_number"]
    for message in (confirmed, filed):
        body = {"message": "yes please", "session_id": "edit-filed", "user_message_id": message["user_message_id"]}
        response = citizen.post("/api/v1/chat/message", body)
        assert response.status_code == 409
        assert tracking in response.json()["error"]["message"]
        stream = citizen.client.post("/api/v1/chat/stream", body, format="json")
        assert stream.status_code == 409  # refused before the stream starts
    assert Concern.objects.count() == 1
    assert Message.objects.filter(conversation_id="edit-filed").count() == 6
    after = say(citizen, "What are your office hours?", session_id="edit-filed")
    edited = say(citizen, "hello", session_id="edit-filed", user_message_id=after["user_message_id"])
    assert edited["user_message_id"] == after["user_message_id"]


def test_thread_id_alias_and_optimistic_ids(citizen):
    thread = str(uuid.uuid4())
    response = citizen.post("/api/v1/chat/message", {"content": "hello", "thread_id": thread})
    assert response.status_code == 200
    assert response.json()["data"]["thread_id"] == thread
    # Seed 003's response names the episode, as the thread's assistant message does.
    answer = citizen.get(f"/api/v1/chat/threads/{thread}/messages").json()["data"][-1]
    assert response.json()["data"]["episode_id"] == answer["episode_id"] is not None
    detail = citizen.get(f"/api/v1/chat/threads/{thread}").json()["data"]
    assert detail["message_count"] == 2
    messages = citizen.get(f"/api/v1/chat/threads/{thread}/messages?page=1&page_size=1").json()
    assert len(messages["data"]) == 1 and messages["meta"]["total"] == 2
    assert messages["data"][0]["role"] == "user"
    threads = citizen.get("/api/v1/chat/threads").json()
    assert [t["id"] for t in threads["data"]] == [thread]


def test_threads_and_their_messages_take_every_pagination_style(citizen):
    for index in range(4):
        say(citizen, "hello", session_id=f"pg-{index}")
    newest_first = [f"pg-{index}" for index in (3, 2, 1, 0)]
    for params in ({"limit": 2, "offset": 1}, {"page": 2, "per_page": 1}, {"page": 1, "page_size": 2}):
        body = citizen.get("/api/v1/chat/threads", params).json()
        size = params.get("limit") or params.get("per_page") or params["page_size"]
        start = params.get("offset", (params.get("page", 1) - 1) * size)
        assert [t["id"] for t in body["data"]] == newest_first[start : start + size], params
        assert body["pagination"]["per_page"] == size and body["meta"]["total"] == 4
    body = citizen.get("/api/v1/chat/threads/pg-0/messages", {"limit": 1, "offset": 1}).json()
    assert [m["role"] for m in body["data"]] == ["assistant"] and body["pagination"]["total"] == 2


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"page": 2**62}, "page"),
        ({"page": 10**20}, "page"),
        ({"page_size": 201}, "page_size"),
        ({"offset": -1}, "offset"),
    ],
)
def test_threads_refuse_pagination_out_of_range_with_400(citizen, params, name):
    say(citizen, "hello", session_id="pg")
    for path in ("/api/v1/chat/threads", "/api/v1/chat/threads/pg/messages"):
        response = citizen.get(path, params)
        assert response.status_code == 400, (path, response.content)
        assert list(response.json()["error"]["details"]) == [name]


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
        # Only JSON strings: DRF read 456 as session "456" and 12345 as a UUID.
        ({"message": "hi", "session_id": 456}, "session_id"),
        ({"message": "hi", "thread_id": 456}, "thread_id"),
        ({"message": "hi", "user_message_id": 12345}, "user_message_id"),
        # Nothing a person could read: zero-width spaces, a joiner, a byte-order mark.
        ({"message": "\u200b\u200b\u200b"}, "message"),
        ({"message": " \u200d\ufeff\u2060 "}, "message"),
    ],
)
def test_bad_input_is_422(citizen, body, field):
    response = citizen.post("/api/v1/chat/message", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["details"]
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"session_id": 456}, "session_id"),
        ({"title": 7}, "title"),
        ({"context": {"a": 1}, "user_id": 9}, "user_id"),
    ],
)
def test_bad_session_input_is_422(citizen, body, field):
    response = citizen.post("/api/v1/chat/session", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["details"]


def test_a_readable_message_with_invisible_characters_is_answered(citizen):
    assert say(citizen, "\u200bhello\u200b", session_id="zw")["intent"] == "greeting"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"rating": "5"}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": 4.5}, "rating"),
        ({"message_id": 123}, "message_id"),
    ],
)
def test_feedback_of_the_wrong_type_is_422(citizen, fields, field):
    answer = say(citizen, "What are your office hours?", session_id="f2")
    response = citizen.post("/api/v1/chat/feedback", {"message_id": answer["message_id"], "rating": 4, **fields})
    assert response.status_code == 422, response.content
    assert list(response.json()["error"]["details"]) == [field]


@pytest.mark.parametrize("session_id", ["bad id", "x" * 65, "semi;colon", "trailing\n"])
def test_history_of_a_malformed_session_id_is_400(citizen, session_id):
    response = citizen.get("/api/v1/chat/history", {"session_id": session_id})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["session_id"]


def test_feedback_names_the_session_of_the_answer_or_none(citizen):
    answer = say(citizen, "What are your office hours?", session_id="f3")
    say(citizen, "hello", session_id="f4")
    rated = {"message_id": answer["message_id"], "rating": 2}
    response = citizen.post("/api/v1/chat/feedback", {**rated, "session_id": "f4"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert citizen.post("/api/v1/chat/feedback", {**rated, "session_id": "f3"}).status_code == 201
    assert citizen.post("/api/v1/chat/feedback", rated).status_code == 201


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


def test_intake_the_street_name_does_not_decide_the_kind_of_problem(citizen):
    first = say(citizen, "There are overflowing bins on 5 Park Lane", session_id="bins")
    assert "sanitation" in first["response"].lower()


def test_intake_finds_a_named_place_after_in(citizen):
    first = say(citizen, "A fallen tree is blocking the path in Central Park", session_id="tree")
    assert "parks" in first["response"].lower()
    asked = say(citizen, "yes", session_id="tree")
    assert "where is it" not in asked["response"].lower()
    assert "Central Park" in asked["response"] or "shall i submit" in asked["response"].lower()


def test_intake_a_time_is_not_a_place(citizen):
    say(citizen, "The street light has been broken since March and it is dark at night", session_id="when")
    asked = say(citizen, "yes", session_id="when")
    assert "where is it" in asked["response"].lower()


def test_intake_a_short_category_answer_is_not_the_description(citizen):
    say(citizen, "I want to report a problem", session_id="kind")
    say(citizen, "something else", session_id="kind")
    answered = say(citizen, "it is a water leak actually", session_id="kind")
    assert "noted your description" not in answered["response"]
    say(citizen, "Outside 3 Mill Road", session_id="kind")
    described = say(citizen, "Water has been running down the pavement for two days", session_id="kind")
    assert "shall i submit" in described["response"].lower()
    say(citizen, "yes", session_id="kind")
    concern = Concern.objects.get()
    assert concern.category.code == "water"
    assert concern.description == "Water has been running down the pavement for two days"


def test_intake_takes_corrections_before_submitting(citizen):
    say(citizen, "I want to report a pothole on 8 Baker Street", session_id="fix")
    summary = say(citizen, "yes", session_id="fix")
    assert "shall i submit" in summary["response"].lower()
    moved = say(citizen, "actually it is on 10 Baker Street, not 8", session_id="fix")
    assert "updated the location" in moved["response"] and "10 Baker Street" in moved["response"]
    more = say(citizen, "The hole is deep and has already damaged two cars", session_id="fix")
    assert "updated the description" in more["response"]
    assert Concern.objects.count() == 0
    say(citizen, "yes", session_id="fix")
    concern = Concern.objects.get()
    assert concern.location == "10 Baker Street"
    assert concern.description.endswith("The hole is deep and has already damaged two cars")
    assert concern.category.code == "roads"


def test_more_detail_is_added_to_the_description_as_a_sentence(citizen):
    say(citizen, "There's a huge hole in the road on Elm Street", session_id="more")
    say(citizen, "yes", session_id="more")
    say(citizen, "the hole is deep and about a meter wide", session_id="more")
    say(citizen, "yes", session_id="more")
    description = Concern.objects.get().description
    assert description == "There's a huge hole in the road on Elm Street. The hole is deep and about a meter wide"


@pytest.mark.parametrize(
    "correction",
    ["No, it is on 10 Baker Street", "ok but it is on 10 Baker Street", "Right next to the school on 10 Baker Street"],
)
def test_intake_a_correction_starting_with_yes_or_no_moves_the_report(citizen, correction):
    say(citizen, "I want to report a pothole on 8 Baker Street", session_id="fix2")
    say(citizen, "yes", session_id="fix2")
    moved = say(citizen, correction, session_id="fix2")
    assert "updated the location" in moved["response"] and "10 Baker Street" in moved["response"]
    assert Concern.objects.count() == 0
    say(citizen, "yes", session_id="fix2")
    assert Concern.objects.get().location.endswith("10 Baker Street")


def test_intake_a_question_at_the_summary_is_not_added_to_the_report(citizen):
    say(citizen, "I want to report a pothole on 8 Baker Street", session_id="ask")
    say(citizen, "yes", session_id="ask")
    asked = say(citizen, "hmm when will it be fixed, do you know?", session_id="ask")
    assert "please answer yes" in asked["response"].lower()
    say(citizen, "yes please", session_id="ask")
    assert "when will it be fixed" not in Concern.objects.get().description


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("The lamp broke in 2023 and nobody fixed it", None),
        ("in March the light broke", None),
        ("a pothole in June Avenue", "June Avenue"),
        ("a tree down in Central Park and the path is blocked", "Central Park"),
        ("bins on 5 Park Lane", "5 Park Lane"),
        # A landmark after the street says where on it.
        ("there's a huge hole on Elm St near the school", "Elm St near the school"),
        ("bins on Oak Road opposite the library and they smell", "Oak Road opposite the library"),
        ("pothole on 5 Park Lane, next to the bakery", "5 Park Lane, next to the bakery"),
        ("light out on Oak Road by the way", "Oak Road"),
        ("bins on Elm Street by Friday please", "Elm Street"),
        ("pothole on Elm St by 5pm", "Elm St"),
        ("light out on Oak Road behind schedule again", "Oak Road"),
        ("a hole on 5 Park Lane near where I live", "5 Park Lane"),
        ("a hole on 5 Park Lane by Central Station", "5 Park Lane by Central Station"),
        ("hole on Elm Street by the end of the week", "Elm Street"),
        ("bins on Oak Road by the weekend please", "Oak Road"),
        ("hole on Elm Street by Christmas", "Elm Street"),
        ("hole on Elm Street by Jan 5", "Elm Street"),
        ("hole on Elm Street by I think Monday", "Elm Street"),
        ("hole on Elm Street outside my house", "Elm Street outside my house"),
        ("hole on Elm Street by The Crown pub", "Elm Street by The Crown pub"),
        ("hole on Elm St near the school it is dangerous", "Elm St near the school"),
    ],
)
def test_intake_places_are_told_from_times_and_keep_their_landmark(text, place):
    from apps.chat.engine.agents import _extract_location

    assert _extract_location(text) == place
