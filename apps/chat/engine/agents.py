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
# What may follow a yes or no without making it more than a yes or no ("no thanks").
_POLITE = re.compile(r"[\s,.!]*(?:(?:thanks|thank you|please|not now|that'?s all)[\s,.!]*)*", re.I)
# Coming back to a report after another topic ("continue", "back to my report"): a whole
# message, or "continue with the problem on Elm Street" would lose its location.
RESUME = re.compile(
    r"^\s*(?:(?:yes|ok|okay|sure)[,!.\s]+)?(?:please\s+)?"
    r"(?:let'?s\s+|i\s+(?:want|would like|'d like)\s+to\s+|can\s+we\s+)?"
    r"(?:continue|resume|carry\s+on|go\s+on|go\s+back|get\s+back|back|finish|complete)"
    r"(?:\s+(?:with|to))?(?:\s+(?:my|the|this|that)\s+(?:report|concern|problem))?(?:\s+please)?\s*[.!]*\s*$",
    re.I,
)
# Only a message that is nothing but "cancel": "near the bus stop" is an answer, not a stop.
CANCEL = re.compile(r"^\s*(please\s+)?(cancel|never ?mind|forget it|stop)(\s+(it|that|please))?\s*[.!]*\s*$", re.I)
_LOCATION = re.compile(
    r"\b(?:on|at|in|near|outside|opposite|by|behind|beside|across from|in front of|next to|corner of)\s+"
    # "in March", "on Monday", "in 2023" are times, not places ("March Street" is a place).
    r"(?!(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|English|\d{4})\b"
    r"(?!\s+(?:[Ss]treet|[Ss]t|[Rr]oad|[Rr]d|[Aa]venue|[Aa]ve|[Ll]ane|[Ww]ay|[Ss]quare|[Pp]ark)\b))"
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
    # Said after the answer whoever writes it (the embedded engine or the LLM): the
    # reminder of a report left pending by a change of topic.
    postscript: str = ""
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


def _submitted_by(concern: Concern, user: Any) -> bool:
    """Whether ``user`` filed the concern. Not the same as seeing it in full: staff see every
    concern, but "Your report" to them would say they had filed it."""
    return user is not None and user.is_authenticated and concern.submitted_by_id == user.pk


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
        parts.append(describe_concern(concern, own=_submitted_by(concern, turn.user)))
    return Reply(" ".join(parts), ["track_concern", "talk_to_human"])


# --- intake ----------------------------------------------------------------------------

# An answer that neither confirms nor rejects the guessed category is asked about once more
# (with what it said noted); the next such answer is taken as acceptance.
OFF_SCRIPT_CONFIRMS = 2
# Unrecognised answers to "what kind of problem is it?" before the report goes to "other",
# which staff re-file when they triage it.
CATEGORY_ATTEMPTS = 2
FALLBACK_CATEGORY = "other"
# A message that is mostly a place ("on Elm Street near number 42") is taken whole as the
# location when it is at most this long; a longer one is a description with a place in it.
PLACE_ANSWER_WORDS = 12
# An answer naming a category is also the description only from this many words on.
CATEGORY_ANSWER_WORDS = 10
_FILLER = re.compile(
    r"^\s*(?:(?:it|this|that)\s+is|it'?s|that'?s|the\s+\w+\s+is|(?:it\s+is\s+|it'?s\s+)?located)\s+", re.I
)
_PLACE_START = re.compile(
    r"^(?:on|at|in|near|outside|opposite|by|behind|beside|in front of|next to|across from|"
    r"(?:at\s+)?the\s+corner\s+of|corner\s+of)\s+\S",
    re.I,
)
# "on"/"at"/"in" add nothing to a stored location; "near", "outside", "in front of" do.
_BARE_PREPOSITION = re.compile(r"^(?:on|at|in)\s+(?!front\s+of\b)", re.I)


def _categories() -> list[Category]:
    return list(Category.objects.filter(active=True).order_by("sort_order", "name"))


def _infer_category(text: str, categories: list[Category]) -> Category | None:
    lowered = text.lower().strip()
    if not lowered:
        return None
    for category in categories:
        if lowered in {category.code, category.name.lower()}:
            return category
    from apps.chat.nlu import entities

    options = [(c.code, [*c.keywords, *c.name.lower().split(), c.code.replace("_", " ")]) for c in categories]
    code = entities.find_category(text, options)
    return next((c for c in categories if c.code == code), None)


def names_a_problem(text: str) -> bool:
    """Whether a message names a kind of problem the city takes reports of ("the light",
    "a pothole"): it describes the problem, whatever its mood."""
    return _infer_category(text, _categories()) is not None


_TRAILING_CONNECTOR = re.compile(r"(?:\s+(?:and|&))+$")


# A landmark right after the street says where on it: "on Elm St near the school", "by
# The Crown pub". Only a thing (after "the", "a", "my"...) or a name; never a time ("by
# Friday", "by the end of the week", "by 5pm") or a clause ("near where I live").
_WHEN_NAME = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon|Tues?|Wed|Thu|Thurs?|Fri|Sat|Sun|"
    r"Today|Tonight|Tomorrow|Christmas|Easter|New\s+Year|I)\b"
)
_WHEN_NOUN = (
    r"(?:end|start|beginning|weekend|week|time|times|morning|afternoon|evening|night|day|month|year|"
    r"hour|minute|moment|deadline|way)\b"
)
# Words that end a landmark: what follows is the rest of the sentence.
_NOT_LANDMARK = (
    r"(?:and|or|but|so|then|because|please|again|now|today|tomorrow|yesterday|too|as|it|is|was|"
    r"has|had|there|which|that|who|where|when|we|they|you|he|she|i)\b"
)
_LANDMARK = re.compile(
    r",?\s+(?i:near|next to|opposite|outside|by|behind|beside|across from|in front of)\s+"
    rf"(?:(?:the|an?|my|our|his|her|their)\s+(?!{_WHEN_NOUN})[a-z][\w'-]*(?:\s+(?!{_NOT_LANDMARK})[a-z][\w'-]*)?"
    rf"|(?!{_WHEN_NAME})[A-Z][\w'-]*(?:\s+(?!(?i:{_NOT_LANDMARK}))[A-Za-z][\w'-]*){{0,2}})"
)


def _find_place(text: str) -> tuple[str, tuple[int, int]] | None:
    """An address ("42 Elm Street") or a capitalised place after a preposition ("near Oak
    Park"), with a landmark that follows it; and where in ``text`` it all is."""
    match = _ADDRESS.search(text) or _LOCATION.search(text)
    if match is None:
        return None
    group = 0 if match.re is _ADDRESS else 1
    start, end = match.start(), match.end(group)
    landmark = _LANDMARK.match(text, end)
    if landmark is not None:
        end = landmark.end()
    place = _TRAILING_CONNECTOR.sub("", text[match.start(group) : end].strip(" .,"))
    return place, (start, end)


def _extract_location(text: str) -> str | None:
    found = _find_place(text)
    return found[0] if found else None


def _split_location(text: str) -> tuple[str | None, str]:
    """(the place a message names, the rest of the message). A short message that starts
    with a place ("It is on Elm Street near number 42") is the place as a whole, so "near
    number 42" is kept; otherwise the place is the address or capitalised name found in it."""
    core = _FILLER.sub("", text, count=1).strip()
    if (_PLACE_START.match(core) or _ADDRESS.match(core)) and len(core.split()) <= PLACE_ANSWER_WORDS:
        return _BARE_PREPOSITION.sub("", core, count=1).strip(" .,!"), ""
    found = _find_place(text)
    if found is None:
        return None, text
    place, (start, end) = found
    return place, (text[:start] + text[end:]).strip()


def _note_details(text: str, state: dict[str, Any], *, naming: Category | None = None) -> tuple[str, str]:
    """Keep the location and description an answer carries for the questions still to come,
    so nobody is asked for what they already said. Returns (a sentence saying what was noted,
    the part of the answer that is not the place: what it says about the problem).
    ``naming``: the category the answer names; a short answer that names one ("it is a water
    leak actually") says what kind of problem it is, not what is wrong."""
    place, rest = _split_location(text)
    noted = []
    if place and not state.get("location"):
        state["location"] = place[:255]
        noted.append(f"the location ({place})")
    if rest and not state.get("description") and _is_description(rest) and not (naming and _only_names(rest)):
        state["description"] = text[:2000]
        noted.append("your description")
    return ("Thanks, I've noted " + " and ".join(noted) + "." if noted else ""), rest


def _only_names(text: str) -> bool:
    """Whether an answer naming a category is too short to be more than that name."""
    return len(text.split()) < CATEGORY_ANSWER_WORDS


_REPORT_PREFIX = re.compile(
    r"^\s*(hi|hello|hey)?[,!\s]*(i\s+(want|would like|'d like|need)\s+to\s+(report|file|log)|"
    r"can i report|i'?m reporting|please report|report|there\s+is|there'?s)\s*(a|an|that|about)?\b",
    re.I,
)


def _is_description(text: str) -> bool:
    """Whether a message says what is wrong, not just that there is a problem."""
    rest = _REPORT_PREFIX.sub("", text).strip()
    return len(rest) >= 25 and len(rest.split()) >= 5


def _plain(answer: re.Pattern[str], text: str) -> bool:
    """Whether ``text`` is nothing but a yes (``answer`` = YES) or a no, said politely."""
    match = answer.search(text)
    return match is not None and _POLITE.fullmatch(text[match.end() :]) is not None


def _is_content(text: str) -> bool:
    """Whether an answer can be stored as a location or description: "yes" or "continue"
    cannot (someone answering an earlier question, or coming back after another topic)."""
    return not (_plain(YES, text) or _plain(NO, text) or RESUME.search(text))


def _title(description: str) -> str:
    first = re.split(r"(?<=[.!?])\s", description.strip(), maxsplit=1)[0]
    return (first[:97] + "...") if len(first) > 100 else first


def _answer_category_confirm(text: str, state: dict[str, Any], categories: list[Category]) -> str:
    """An answer to "It sounds like a problem with X. Is that right?"; returns what to say
    before the next question."""
    if YES.search(text):
        state["category_confirmed"] = True
        rest = YES.sub("", text, count=1).strip(" ,.!")  # "yes, it's on Elm Street"
        return _note_details(rest, state)[0] if rest else ""
    rejected = NO.search(text) is not None
    answer = NO.sub("", text, count=1).strip(" ,.!") if rejected else text
    # Only the part that is not the place can name a category: "near the park" is a place.
    named = _infer_category(_split_location(answer)[1], categories)
    noted, _ = _note_details(answer, state, naming=named)
    if named is not None:  # "no, it's a water leak", or the guess said again in other words
        state["category"], state["category_confirmed"] = named.code, True
        return noted
    if rejected:
        state["category"], state["category_confirmed"] = None, False
        return noted
    # Neither yes, no nor another category: typically the location, given before it was
    # asked for. The guess is kept, not dropped: the citizen did not object to it. It is
    # asked about once more (the category decides which team gets the report, and a wrong
    # one costs days), with what they said already noted so they need not repeat it; if
    # they go on without answering again, that is taken as a yes, as people mean it in
    # conversation, and the summary before filing still names the category.
    state["off_script"] = state.get("off_script", 0) + 1
    guess = next((c for c in categories if c.code == state.get("category")), None)
    if state["off_script"] >= OFF_SCRIPT_CONFIRMS and guess is not None:
        state["category_confirmed"] = True
        return f"{noted} I'll take it that it's a problem with {guess.name.lower()}.".strip()
    return noted or "Sorry, I need a yes or a no here."


def _answer_category(text: str, state: dict[str, Any], categories: list[Category]) -> str:
    """An answer to "What kind of problem is it?"; returns what to say before the next question."""
    named = _infer_category(_split_location(text)[1], categories) if _is_content(text) else None
    noted, _ = _note_details(text, state, naming=named) if _is_content(text) else ("", "")
    if named is not None:
        state["category"], state["category_confirmed"] = named.code, True
        return noted
    state["category_attempts"] = state.get("category_attempts", 0) + 1
    fallback = next((c for c in categories if c.code == FALLBACK_CATEGORY), None)
    if state["category_attempts"] >= CATEGORY_ATTEMPTS and fallback is not None:
        # Asking a third time would not help; staff triage re-files a report under the
        # right team, and the summary before filing shows it.
        state["category"], state["category_confirmed"] = fallback.code, True
        return f"{noted} I'll file it under \u201c{fallback.name}\u201d; our staff will pass it on.".strip()
    return noted or "Sorry, I didn't recognise that kind of problem."


def intake(turn: Turn) -> Reply:
    state: dict[str, Any] = turn.conversation.state.setdefault("intake", {})
    categories = _categories()
    text = turn.text.strip()
    awaiting = state.get("awaiting")
    paused = state.pop("paused", False)

    if awaiting and CANCEL.search(text):
        turn.conversation.state.pop("intake", None)
        return Reply("All right, I won't file a report. Anything else I can help with?", ["ask_question"])

    if awaiting and paused:
        # The last thing said was remind_pending_report's "would you like to continue it?":
        # a plain yes or no answers that, not the intake question asked before the other
        # topic (an "ok" must not submit a report summarised several messages ago).
        if _plain(NO, text):
            turn.conversation.state.pop("intake", None)
            return Reply(
                "All right, I've dropped the report you started. Anything else I can help with?", ["ask_question"]
            )
        if _plain(YES, text) or RESUME.search(text):
            return _next_question(state, categories, lead="Let's carry on with your report.")
    elif awaiting and RESUME.search(text) and not YES.search(text):
        return _next_question(state, categories)  # "continue" in the middle: the same question

    lead = ""
    if awaiting is None:  # the first message of the report
        # The place is not the problem: "bins on 5 Park Lane" is about bins, not parks.
        place, rest = _split_location(text)
        category = (_infer_category(rest, categories) if place else None) or _infer_category(text, categories)
        state["category"] = category.code if category else None
        state["category_confirmed"] = False
        state["location"] = _extract_location(text)
        state["description"] = text if _is_description(text) else None
    elif awaiting == "category_confirm":
        lead = _answer_category_confirm(text, state, categories)
    elif awaiting == "category":
        lead = _answer_category(text, state, categories)
    elif awaiting == "location":
        if _is_content(text):
            # The place as said ("Outside 42 Elm Street, near the bus stop"), without an
            # "it is on"; a description given with it is kept for the next question.
            place, rest = _split_location(text)
            state["location"] = (place if place and not rest else text)[:255]
            # Without a place found in it, the whole answer is the place as said ("Maple
            # Avenue near number 12"): nothing of it is left to be the description.
            if place and rest and not state.get("description") and _is_description(rest):
                state["description"] = text[:2000]
        else:
            lead = "I still need to know where it is."
    elif awaiting == "description":
        if _is_content(text):
            state["description"] = text[:2000]
        else:
            lead = "I still need a few words about what is wrong."
    elif awaiting == "submit_confirm":
        # A plain yes or no decides; anything more may correct the report first ("no, it is
        # on 10 Baker Street" moves it, it does not drop it).
        lead = "" if _plain(YES, text) or _plain(NO, text) else _correct(text, state, categories)
        if not lead and YES.search(text):
            return _file(turn, state, categories)
        if not lead and NO.search(text):
            turn.conversation.state.pop("intake", None)
            return Reply("OK, I haven't filed anything. Tell me if you want to start again.", ["report_concern"])
        lead = lead or "Please answer yes to submit the report, or no to drop it."

    return _next_question(state, categories, lead=lead)


def _correct(text: str, state: dict[str, Any], categories: list[Category]) -> str:
    """More than a yes or no to "Shall I submit it?": a correction of the place ("actually
    it is on 10 Baker Street"), of the kind of problem, or more about what is wrong; then
    the summary is shown again. Returns what was updated, or "" when nothing was (the yes
    or no it starts with then decides)."""
    body = YES.sub("", NO.sub("", text, count=1), count=1).strip(" ,.!")
    if not body or RESUME.search(body):
        return ""
    place, rest = _split_location(body)
    named = _infer_category(rest, categories)
    changed = []
    if place:
        state["location"] = place[:255]
        changed.append("the location")
    if named is not None and named.code != state.get("category") and _only_names(rest):
        state["category"] = named.code
        changed.append("the kind of problem")
    elif not place and _is_description(body) and not body.endswith("?"):  # a question adds nothing to it
        state["description"] = _with_more(state.get("description") or "", body)[:2000]
        changed.append("the description")
    return "I've updated " + " and ".join(changed) + "." if changed else ""


def _with_more(description: str, more: str) -> str:
    """A description with a later sentence added, each ending as a sentence does."""
    if description and description[-1] not in ".!?":
        description += "."
    return f"{description} {more[:1].upper()}{more[1:]}".strip()


def _next_question(state: dict[str, Any], categories: list[Category], *, lead: str = "") -> Reply:
    """The question for the first detail still missing, after ``lead`` (what the last answer
    changed, or why the question is asked again)."""
    reply = _question(state, categories)
    if lead:
        reply.text = f"{lead} {reply.text}"
    return reply


def _question(state: dict[str, Any], categories: list[Category]) -> Reply:
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


REPORT_ACTIONS = frozenset({"continue_report", "cancel", "report_concern"})


def remind_pending_report(turn: Turn, reply: Reply) -> None:
    """After another agent answered a new topic asked in the middle of a report intake: the
    report is kept (the user may come back to it: nothing they said is lost) and the answer
    says so and offers to continue or cancel it. The intake is marked paused so that its
    next yes/no answers this offer."""
    state = turn.conversation.state.get("intake")
    if not state or not state.get("awaiting"):
        return
    state["paused"] = True
    category = next((c for c in _categories() if c.code == state.get("category")), None)
    what = f"your report about {category.name.lower()}" if category else "the report you started"
    if reply.close:  # goodbye: the conversation ends, the report is kept for a return
        reply.postscript = f"I haven't filed {what}; it is kept here if you come back to finish it."
    else:
        reply.postscript = f"I haven't filed {what} yet. Would you like to continue it?"
    # "report_concern" would start a second report while this one waits: left out.
    others = [action for action in reply.suggested_actions if action not in REPORT_ACTIONS]
    reply.suggested_actions = ["continue_report", "cancel", *others]


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
