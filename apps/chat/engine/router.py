"""Which agent answers a turn, and when the conversation goes to a person."""

from __future__ import annotations

import re

from django.conf import settings

from apps.chat.engine.agents import CANCEL, NO, RESUME, YES, Turn, names_a_problem

SMALL_TALK = {"greeting", "goodbye", "feedback"}
INTAKE_EXIT_CONFIDENCE = 0.8
# Intents that, said confidently during a report intake, are a new topic rather than an
# answer to the intake's question: their own agent answers and the report stays pending
# (agents.remind_pending_report). Greetings and thanks too: as an answer to "Where is it?"
# they would be stored as the location. Complaints and report_concern are not among them:
# inside an intake they are nearly always the problem being described ("it's been broken
# for two weeks", "near the bus stop").
INTAKE_TOPIC_SWITCH = frozenset(
    {"office_hours", "services_inquiry", "track_concern", "escalate_to_human", "goodbye", "greeting", "feedback"}
)
SHORT_ANSWER_EXTRA_WORDS = 3
_WORD = re.compile(r"[\w']+")


def _short_answer(text: str) -> bool:
    """Cancel, "continue", or a yes/no with at most a few words after it ("no thanks",
    "yes that's right"). "No" alone reads as goodbye to the classifier and "back to my
    report" as track_concern, so these never leave the intake; "OK, and what are your
    office hours?" is a question and is judged like any other message."""
    if CANCEL.search(text) or RESUME.search(text):
        return True
    match = YES.search(text) or NO.search(text)
    return match is not None and len(_WORD.findall(text[match.end() :])) <= SHORT_ANSWER_EXTRA_WORDS


def answers_intake(turn: Turn) -> bool:
    """Whether a message sent while a report intake is pending belongs to the intake.

    A short answer always does; a tracking number never does (it is a question about that
    report). Otherwise, while the intake is asking, anything not confidently another topic
    does: addresses and descriptions are free text the classifier is unsure about. Once
    another topic was answered (the intake is paused) the conversation is on that topic,
    so only what reads as more of the report, and is not a question, goes back to it."""
    intake = turn.conversation.state.get("intake")
    if intake is None:
        return False
    if _short_answer(turn.text):
        return True
    if turn.tracking_numbers:
        return False
    if intake.get("paused"):
        return turn.intent == "report_concern" and not turn.text.rstrip().endswith("?")
    return not (turn.intent in INTAKE_TOPIC_SWITCH and turn.confidence >= INTAKE_EXIT_CONFIDENCE)


def _angry_in_intake(turn: Turn) -> bool:
    """A reply to the intake that is plainly a complaint about the service, not the problem
    described: "I'm furious, this is the worst service ever". Descriptions are often
    negative ("the light has been out for weeks"); only a confident complaint that names no
    kind of problem counts."""
    return (
        turn.intent == "complaint"
        and turn.confidence >= INTAKE_EXIT_CONFIDENCE
        and turn.sentiment == "negative"
        and not names_a_problem(turn.text)
    )


def update_streaks(turn: Turn) -> None:
    """Count consecutive negative and unsure user turns; replies inside a report intake
    (addresses, yes/no) are not judged, except a confident complaint, and a new topic asked
    in the middle of one is."""
    state = turn.conversation.state
    if answers_intake(turn):
        state["low_confidence_streak"] = 0
        angry = _angry_in_intake(turn) and not _short_answer(turn.text)
        state["negative_streak"] = state.get("negative_streak", 0) + 1 if angry else 0
        return
    state["negative_streak"] = state.get("negative_streak", 0) + 1 if turn.sentiment == "negative" else 0
    unsure = turn.confidence < settings.CHAT_LOW_CONFIDENCE
    state["low_confidence_streak"] = state.get("low_confidence_streak", 0) + 1 if unsure else 0


def choose_agent(turn: Turn) -> tuple[str, str | None]:
    """(agent id, escalation reason or None)."""
    state = turn.conversation.state
    if answers_intake(turn):
        if state.get("negative_streak", 0) >= 2:  # angry twice in the middle of a report
            return "human_handoff", "negative_sentiment"
        return "intake", None
    # Below, a message during an intake is a new topic and is routed like any other; the
    # intake stays in the state so the user can come back to it.
    if turn.intent == "escalate_to_human" and turn.confidence >= settings.CHAT_LOW_CONFIDENCE:
        return "human_handoff", "requested"
    if state.get("negative_streak", 0) >= 2:
        return "human_handoff", "negative_sentiment"
    if state.get("low_confidence_streak", 0) >= 2:
        return "human_handoff", "low_confidence"
    if turn.tracking_numbers or turn.intent == "track_concern":
        return "tracker", None
    if turn.intent == "report_concern":
        return "intake", None
    if turn.intent == "complaint":
        return "care", None
    if turn.intent in SMALL_TALK:
        return "assistant", None
    return "guide", None
