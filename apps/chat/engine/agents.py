"""The assistant's agents. Each takes a turn and returns a reply; none touches HTTP.

* assistant — greetings, thanks, goodbyes
* guide — answers from the knowledge base and cites its sources
* intake — collects category, location and description over several turns and files a concern
* tracker — reports the status of a concern from its tracking number
* care — answers complaints with empathy and offers the next step
* human_handoff — hands the conversation to staff
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apps.chat.models import Conversation
from apps.concerns import selectors as concern_selectors
from apps.concerns.models import Category, Concern, Status
from apps.knowledge.selectors import Hit, article_search, snippet

AGENTS: dict[str, dict[str, str]] = {
    "assistant": {
        "name": "CitizenAI Assistant",
        "role": "Conversation",
        "description": "Greets, thanks and says goodbye.",
    },
    "guide": {
        "name": "Services Guide",
        "role": "Knowledge",
        "description": "Answers questions about city services from the city's knowledge base, citing sources.",
    },
    "intake": {
        "name": "Report Intake",
        "role": "Intake",
        "description": "Collects the category, location and description of a problem and files a concern.",
    },
    "tracker": {
        "name": "Concern Tracker",
        "role": "Tracking",
        "description": "Reports the status, last update and expected resolution of a concern.",
    },
    "care": {
        "name": "Citizen Care",
        "role": "Complaints",
        "description": "Listens to complaints and offers next steps.",
    },
    "human_handoff": {
        "name": "Human Support",
        "role": "Escalation",
        "description": "Hands the conversation to a member of staff.",
    },
}

RELEVANT_COVERAGE = 0.5
YES = re.compile(
    r"^\s*(yes|y|yeah|yep|yup|correct|right|sure|ok|okay|confirm|submit|please do|go ahead|that'?s right)\b", re.I
)
NO = re.compile(r"^\s*(no|n|nope|wrong|not really|incorrect)\b", re.I)
# Only a message that is nothing but "cancel": "near the bus stop" is an answer, not a stop.
CANCEL = re.compile(r"^\s*(please\s+)?(cancel|never ?mind|forget it|stop)(\s+(it|that|please))?\s*[.!]*\s*$", re.I)
_LOCATION = re.compile(
    r"\b(?:on|at|near|outside|opposite|by|in front of|next to|corner of)\s+"
    r"((?:the\s+)?[A-Z0-9][\w'.-]*(?:\s+(?:[A-Z0-9][\w'.-]*|st|street|road|rd|avenue|ave|lane|way|and|&)){0,5})"
)
_ADDRESS = re.compile(
    r"\b\d{1,5}\s+[A-Za-z][\w'.-]*(?:\s+[A-Za-z][\w'.-]*){0,3}\s+"
    r"(?:street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|way|drive|dr|square|plaza|place|pl)\b\.?",
    re.I,
)


@dataclass
class Turn:
    conversation: Conversation
    text: str
    intent: str
    confidence: float
    sentiment: str
    tracking_numbers: list[str]
    user: Any  # the User, or None for an anonymous visitor


@dataclass
class Reply:
    text: str
    suggested_actions: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    requires_input: dict[str, str] | None = None
    # Passages the optional LLM may ground a rewritten answer in (guide only).
    passages: list[dict[str, str]] = field(default_factory=list)
    filed: Concern | None = None
    escalate: str | None = None
    close: bool = False


# --- assistant -------------------------------------------------------------------------


def assistant(turn: Turn) -> Reply:
    if turn.intent == "goodbye":
        return Reply("Goodbye, and thank you for contacting the city. You can come back any time.", close=True)
    if turn.intent == "feedback":
        if turn.sentiment == "negative":
            return Reply(
                "I'm sorry this wasn't helpful. I can connect you with a member of staff if you like.",
                ["talk_to_human", "ask_question"],
            )
        return Reply("Thank you for your feedback! Is there anything else I can help with?", ["ask_question"])
    return Reply(
        "Hello! I'm the city's assistant. I can answer questions about city services, help you report a "
        "problem such as a pothole or a broken street light, or check the status of a report. "
        "What can I do for you?",
        ["ask_question", "report_concern", "track_concern"],
    )


# --- guide -----------------------------------------------------------------------------


def _relevant(hits: list[Hit]) -> list[Hit]:
    return [hit for hit in hits if hit.coverage >= RELEVANT_COVERAGE or hit.matched_terms >= 3]


def guide(turn: Turn) -> Reply:
    hits = _relevant(article_search(query=turn.text, limit=3))
    if not hits and turn.intent == "office_hours":
        hits = _relevant(article_search(query=f"{turn.text} office hours opening", limit=3))
    if not hits:
        return Reply(
            "I couldn't find anything about that in the city's information, and I'd rather not guess. "
            "I can connect you with a member of staff, or you can ask me in other words.",
            ["talk_to_human", "ask_question", "report_concern"],
        )
    top = hits[0]
    text = f"From \u201c{top.article.title}\u201d: {snippet(top.article, turn.text)}"
    if len(hits) > 1:
        text += "\n\nSee also: " + "; ".join(hit.article.title for hit in hits[1:]) + "."
    sources = [
        {
            "id": str(hit.article.pk),
            "title": hit.article.title,
            "url": hit.article.source_url or None,
            "score": round(hit.score, 4),
        }
        for hit in hits
    ]
    passages = [{"title": hit.article.title, "text": hit.article.body} for hit in hits]
    return Reply(text, ["ask_question", "report_concern"], sources=sources, passages=passages)


# --- tracker ---------------------------------------------------------------------------


def _last_update(concern: Concern) -> Any:
    """The newest update; from the prefetched ones when the concern came with them (as from
    concern_get_public), without another query."""
    prefetched = getattr(concern, "_prefetched_objects_cache", {}).get("updates")
    if prefetched is not None:
        return max(prefetched, key=lambda update: (update.timestamp, update.pk), default=None)
    return concern.updates.all().order_by("-timestamp", "-id").first()


def describe_concern(concern: Concern, *, own: bool) -> str:
    last = _last_update(concern)
    lines = [
        f"{'Your report' if own else 'Report'} {concern.tracking_number} \u201c{concern.title}\u201d is "
        f"{concern.get_status_display().lower()}."
    ]
    if last is not None and last.message:
        lines.append(f"Last update ({last.timestamp:%d %b %Y}): {last.message}")
    if concern.status in (Status.SUBMITTED, Status.IN_PROGRESS) and concern.estimated_resolution:
        when = f"{concern.estimated_resolution:%d %b %Y}"
        lines.append(
            f"It was expected to be resolved by {when} and is overdue; I'm sorry for the delay."
            if concern.is_overdue
            else f"Expected resolution: {when}."
        )
    return " ".join(lines)


def tracker(turn: Turn) -> Reply:
    numbers = turn.tracking_numbers[:3]
    if not numbers:
        own = []
        if turn.user is not None and turn.user.is_authenticated:
            own = list(Concern.objects.filter(submitted_by=turn.user).order_by("-submitted_at")[:3])
        if own:
            listing = " ".join(describe_concern(concern, own=True) for concern in own)
            return Reply(f"Here are your latest reports. {listing}", ["track_concern", "report_concern"])
        return Reply(
            "Please tell me the tracking number of the report, for example TRK-2026-000123.",
            ["track_concern"],
            requires_input={"tracking_number": "TRK-YYYY-NNNNNN"},
        )
    parts = []
    for number in numbers:
        concern = concern_selectors.concern_get_public(tracking_number=number)
        if concern is None:
            parts.append(f"I couldn't find a report with the tracking number {number}.")
            continue
        view = concern_selectors.concern_view_for(concern=concern, user=turn.user)
        parts.append(describe_concern(concern, own=view is not concern_selectors.View.PUBLIC))
    return Reply(" ".join(parts), ["track_concern", "talk_to_human"])


# --- intake ----------------------------------------------------------------------------


def _categories() -> list[Category]:
    return list(Category.objects.filter(active=True).order_by("sort_order", "name"))


def _infer_category(text: str, categories: list[Category]) -> Category | None:
    lowered = text.lower().strip()
    for category in categories:
        if lowered in {category.code, category.name.lower()}:
            return category
    from apps.chat.nlu import entities

    options = [(c.code, [*c.keywords, *c.name.lower().split(), c.code.replace("_", " ")]) for c in categories]
    code = entities.find_category(text, options)
    return next((c for c in categories if c.code == code), None)


def _extract_location(text: str) -> str | None:
    match = _ADDRESS.search(text) or _LOCATION.search(text)
    return match.group(0 if match.re is _ADDRESS else 1).strip(" .,") if match else None


_REPORT_PREFIX = re.compile(
    r"^\s*(hi|hello|hey)?[,!\s]*(i\s+(want|would like|'d like|need)\s+to\s+(report|file|log)|"
    r"can i report|i'?m reporting|please report|report|there\s+is|there'?s)\s*(a|an|that|about)?\b",
    re.I,
)


def _is_description(text: str) -> bool:
    """Whether the first message says what is wrong, not just that there is a problem."""
    rest = _REPORT_PREFIX.sub("", text).strip()
    return len(rest) >= 25 and len(rest.split()) >= 5


def _title(description: str) -> str:
    first = re.split(r"(?<=[.!?])\s", description.strip(), maxsplit=1)[0]
    return (first[:97] + "...") if len(first) > 100 else first


def intake(turn: Turn) -> Reply:
    state: dict[str, Any] = turn.conversation.state.setdefault("intake", {})
    categories = _categories()
    text = turn.text.strip()
    awaiting = state.get("awaiting")

    if awaiting and CANCEL.search(text):
        turn.conversation.state.pop("intake", None)
        return Reply("All right, I won't file a report. Anything else I can help with?", ["ask_question"])

    if awaiting is None:  # the first message of the report
        category = _infer_category(text, categories)
        state["category"] = category.code if category else None
        state["category_confirmed"] = False
        state["location"] = _extract_location(text)
        state["description"] = text if _is_description(text) else None
    elif awaiting == "category_confirm":
        if YES.search(text):
            state["category_confirmed"] = True
        else:
            category = _infer_category(NO.sub("", text), categories)
            state["category"] = category.code if category else None
            state["category_confirmed"] = category is not None and not NO.fullmatch(text.strip())
    elif awaiting == "category":
        category = _infer_category(text, categories)
        if category is not None:
            state["category"], state["category_confirmed"] = category.code, True
    elif awaiting == "location":
        state["location"] = text[:255]
    elif awaiting == "description":
        state["description"] = text[:2000]
    elif awaiting == "submit_confirm":
        if YES.search(text):
            return _file(turn, state, categories)
        if NO.search(text):
            turn.conversation.state.pop("intake", None)
            return Reply("OK, I haven't filed anything. Tell me if you want to start again.", ["report_concern"])

    return _next_question(state, categories)


def _next_question(state: dict[str, Any], categories: list[Category]) -> Reply:
    by_code = {c.code: c for c in categories}
    category = by_code.get(state.get("category") or "")
    if category is None:
        state["awaiting"] = "category"
        names = ", ".join(c.name for c in categories)
        return Reply(
            f"What kind of problem is it? For example: {names}.",
            ["cancel"],
            requires_input={"category": "one of " + ", ".join(by_code)},
        )
    if not state.get("category_confirmed"):
        state["awaiting"] = "category_confirm"
        return Reply(
            f"It sounds like a problem with {category.name.lower()}. Is that right?",
            ["yes", "no"],
            requires_input={"confirm": "yes or no"},
        )
    if not state.get("location"):
        state["awaiting"] = "location"
        return Reply(
            "Where is it? A street address or a landmark helps our crews find it.",
            ["cancel"],
            requires_input={"location": "address or landmark"},
        )
    if not state.get("description"):
        state["awaiting"] = "description"
        return Reply(
            "Please describe the problem in a sentence or two.",
            ["cancel"],
            requires_input={"description": "what is wrong"},
        )
    state["awaiting"] = "submit_confirm"
    return Reply(
        f"I'll file this report: {category.name} at {state['location']} \u2014 \u201c{state['description']}\u201d. "
        "Shall I submit it?",
        ["yes", "no"],
        requires_input={"confirm": "yes or no"},
    )


def _file(turn: Turn, state: dict[str, Any], categories: list[Category]) -> Reply:
    from apps.concerns.services import concern_create

    category = next(c for c in categories if c.code == state["category"])
    user = turn.user if turn.user is not None and turn.user.is_authenticated else None
    concern = concern_create(
        title=_title(state["description"]) or category.name,
        description=state["description"],
        category=category,
        location=state["location"],
        submitted_by=user,
        source="chat",
    )
    turn.conversation.state.pop("intake", None)
    return Reply(
        f"Thank you, your report is filed. Your tracking number is {concern.tracking_number}; "
        "keep it to follow the progress, or ask me about it any time.",
        ["track_concern", "ask_question"],
        filed=concern,
    )


# --- care and hand-off -----------------------------------------------------------------


def care(turn: Turn) -> Reply:
    text = "I'm sorry you're dealing with this, and I understand the frustration."
    if turn.tracking_numbers:
        text += " " + tracker(turn).text
    text += " I can file a new report, check an existing one, or connect you with a member of staff."
    return Reply(text, ["report_concern", "track_concern", "talk_to_human"])


def human_handoff(turn: Turn, reason: str = "requested") -> Reply:
    if turn.conversation.status == "escalated":
        return Reply(
            "A member of staff has already been asked to follow up on this conversation; they will get back "
            "to you as soon as possible.",
            ["track_concern"],
        )
    return Reply(
        "I've passed this conversation to our staff. A person will follow up, usually within one working "
        "day. If it's an emergency that puts anyone in danger, call 112.",
        ["track_concern", "ask_question"],
        escalate=reason,
    )


HANDLERS = {
    "assistant": assistant,
    "guide": guide,
    "intake": intake,
    "tracker": tracker,
    "care": care,
    "human_handoff": human_handoff,
}
