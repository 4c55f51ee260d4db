"""Which agent answers a turn, and when the conversation goes to a person."""

from __future__ import annotations

from django.conf import settings

from apps.chat.engine.agents import NO, YES, Turn

SMALL_TALK = {"greeting", "goodbye", "feedback"}
INTAKE_EXIT_CONFIDENCE = 0.8


def update_streaks(turn: Turn) -> None:
    """Count consecutive negative and unsure user turns; replies inside a report intake
    (addresses, yes/no) are not judged."""
    state = turn.conversation.state
    if "intake" in state:
        state["negative_streak"] = state["low_confidence_streak"] = 0
        return
    state["negative_streak"] = state.get("negative_streak", 0) + 1 if turn.sentiment == "negative" else 0
    unsure = turn.confidence < settings.CHAT_LOW_CONFIDENCE
    state["low_confidence_streak"] = state.get("low_confidence_streak", 0) + 1 if unsure else 0


def choose_agent(turn: Turn) -> tuple[str, str | None]:
    """(agent id, escalation reason or None)."""
    state = turn.conversation.state
    if "intake" in state:
        # Answers inside a report ("yes please", "Main St") are not judged as free text:
        # only a clear request for a person or a goodbye leaves the intake.
        answer = bool(YES.search(turn.text) or NO.search(turn.text))
        if not answer and turn.confidence >= INTAKE_EXIT_CONFIDENCE:
            if turn.intent == "escalate_to_human":
                return "human_handoff", "requested"
            if turn.intent == "goodbye":
                state.pop("intake", None)
                return "assistant", None
        return "intake", None
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
