"""Writes for the assistant: conversations, one exchange (user message → answer), feedback.

An exchange is split in two so streaming can show progress: ``exchange_prepare`` stores the
user message, understands it, routes it and lets the agent act (filing a concern happens
here); ``exchange_finish`` stores the answer and publishes the events.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound

from apps.accounts.models import ApiKey
from apps.chat import selectors
from apps.chat.engine import agents, llm
from apps.chat.engine.router import choose_agent, update_streaks
from apps.chat.engine.understanding import Understanding, understand
from apps.chat.models import Conversation, ConversationStatus, Feedback, Message, Role
from apps.core.events import event_publish
from apps.core.exceptions import Conflict

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # \Z: "$" lets a trailing newline through
CHUNK_WORDS = 4
INTERRUPTED = " …"  # ends an answer that was cut short

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who owns a conversation: a user, an API key of a user, or an anonymous browser."""

    user: Any = None
    api_key: Any = None
    anonymous_key: str = ""

    def owns(self, conversation: Conversation) -> bool:
        if self.api_key is not None:
            return conversation.api_key_id == self.api_key.pk
        if self.user is not None:
            return conversation.owner_id == self.user.pk and conversation.api_key_id is None
        return (
            bool(self.anonymous_key) and conversation.anonymous_key == self.anonymous_key and not conversation.owner_id
        )


def anonymous_owner_key(session_key: str) -> str:
    """The owner key of an anonymous visitor's conversations, derived from the browser
    session so the chat page, the API and the WebSocket all find the same conversations
    (and the raw session key is never stored)."""
    return hashlib.sha256(f"chat:{session_key}".encode()).hexdigest()


def principal_for(request: Any) -> Principal:
    """The owner of the caller's conversations: its API key, its user, or its browser
    session (created on first use). Works for DRF and plain Django requests."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return Principal(user=request.user, api_key=auth)
    if request.user is not None and request.user.is_authenticated:
        return Principal(user=request.user)
    session = request.session
    if not session.session_key:
        session.save()
    return Principal(anonymous_key=anonymous_owner_key(session.session_key))


def conversation_get_or_create(
    *,
    principal: Principal,
    session_id: str | None,
    title: str = "",
    context: dict[str, Any] | None = None,
    lock: bool = False,
) -> tuple[Conversation, bool]:
    """The caller's conversation with this id, created on first use. Someone else's id is a
    404, exactly like an unknown one would be for reading. With ``lock`` (inside a
    transaction) the row is read with FOR UPDATE."""
    if session_id is not None and not SESSION_ID.match(session_id):
        raise ValidationError({"session_id": ["Use 1 to 64 letters, digits, '_' or '-'."]})
    if session_id:
        existing = selectors.conversation_by_id(session_id=session_id, lock=lock)
        if existing is not None:
            return _owned(principal, existing), False
    try:
        # A savepoint only when creating: another request may be creating the same id, and
        # (with ``lock``) keeps its new row uncommitted until its whole exchange is done.
        with transaction.atomic():
            conversation = Conversation.objects.create(
                **({"id": session_id} if session_id else {}),
                owner=principal.user,
                api_key=principal.api_key,
                anonymous_key=principal.anonymous_key if principal.user is None else "",
                title=title[:200],
                client_context=context or {},
            )
    except IntegrityError:
        # It won the race; its row is committed now (our INSERT waited for that): use it.
        existing = selectors.conversation_by_id(session_id=session_id, lock=lock) if session_id else None
        if existing is None:
            raise
        return _owned(principal, existing), False
    return conversation, True


def _owned(principal: Principal, conversation: Conversation) -> Conversation:
    if not principal.owns(conversation):
        raise NotFound("No conversation with this id.")
    return conversation


def conversation_adopt(*, session_id: str, user: Any) -> bool:
    """Makes an anonymous conversation the user's who just signed in from its browser; only
    one still going on: on a shared computer an earlier visitor's (which may hold what they
    reported) must not become the account of whoever signs in next."""
    recent = timezone.now() - timedelta(minutes=settings.CHAT_IDLE_MINUTES)
    adopted = (
        Conversation.objects.filter(pk=session_id, owner=None, api_key=None, updated_at__gte=recent)
        .exclude(anonymous_key="")
        .exclude(status=ConversationStatus.CLOSED)
        .update(owner=user, anonymous_key="")
    )
    return adopted > 0


def conversation_get(*, principal: Principal, session_id: str) -> Conversation:
    conversation = selectors.conversation_by_id(session_id=session_id) if SESSION_ID.match(session_id) else None
    if conversation is None:
        raise NotFound("No conversation with this id.")
    return _owned(principal, conversation)


# What an exchange may change on its conversation; the rest (owner, key, context, created_at)
# is left as it is in the database, and the UPDATE stays short.
EXCHANGE_FIELDS = ("state", "updated_at", "title", "concern", "status", "escalated_at", "closed_at")


def _locked(session_id: str) -> Conversation:
    conversation = selectors.conversation_by_id(session_id=session_id, lock=True)
    if conversation is None:
        raise Conversation.DoesNotExist(f"Conversation {session_id!r} is gone.")
    return conversation


@dataclass
class Prepared:
    conversation: Conversation
    user_message: Message
    understanding: Understanding
    agent_id: str
    reply: agents.Reply
    started: float
    escalation: str | None = None
    engine: str = "embedded"
    fallback_reason: str = ""
    text: str = field(default="")
    # answer_chunks ran to its end: ``text`` is the whole answer as it will be stored.
    complete: bool = False
    # exchange_run's single transaction: the conversation is still locked and not yet saved,
    # so exchange_finish saves it once instead of locking and saving it again.
    conversation_unsaved: bool = False


NOT_AN_EDITABLE_MESSAGE = "No message with this user_message_id in this conversation."


def user_message_id_check(*, session_id: str | None, user_message_id: uuid.UUID | None) -> None:
    """Refuses, before anything is written or streamed, a user_message_id that names a
    message outside this conversation or an answer: the 404 the exchange itself would give,
    which a stream could only report in-band once it had started."""
    if user_message_id is None:
        return
    found = Message.objects.filter(pk=user_message_id).only("conversation_id", "role", "created_at").first()
    if found is None:
        return
    if (found.conversation_id, found.role) != (session_id, Role.USER):
        raise NotFound(NOT_AN_EDITABLE_MESSAGE)
    _refuse_if_it_filed(found)


def _refuse_if_it_filed(message: Message) -> None:
    """A message from which on a report was filed stays as it is: the report is a concern now,
    perhaps already seen by staff, and editing the conversation that led to it would take it
    up again (or file it twice)."""
    later = Message.objects.filter(conversation_id=message.conversation_id, created_at__gte=message.created_at)
    filed = later.filter(role=Role.ASSISTANT, metadata__has_key="concern").values_list("metadata", flat=True).first()
    if filed is not None:
        raise Conflict(
            f"Report {filed['concern']['tracking_number']} was filed from this message on, so it can no "
            "longer be edited; send a new message instead.",
            {"user_message_id": ["A report was filed from this message on."]},
        )


def _edit_or_store_user_message(
    conversation: Conversation, text: str, user_message_id: uuid.UUID | None, understood: Understanding
) -> Message:
    """The user's message with what it was understood to mean, written once (not stored and
    then updated with the intent: one statement less per exchange)."""
    understanding = {
        "intent": understood.intent,
        "sentiment": understood.sentiment,
        "confidence": understood.confidence,
    }
    if user_message_id is not None:
        existing = Message.objects.filter(pk=user_message_id).first()
        if existing is not None:
            if existing.conversation_id != conversation.pk or existing.role != Role.USER:
                raise NotFound(NOT_AN_EDITABLE_MESSAGE)
            # Edit mode (seed 003): the message changes and everything after it goes; the
            # conversation goes back to where it was before it (a report half-taken, the
            # streaks that lead to a person). A message from before state_before was kept
            # starts afresh.
            _refuse_if_it_filed(existing)
            conversation.state = copy.deepcopy(existing.state_before or {})
            conversation.messages.filter(created_at__gt=existing.created_at).delete()
            conversation.messages.filter(reply_to=existing).delete()
            existing.content = text
            for name, value in understanding.items():
                setattr(existing, name, value)
            existing.save(update_fields=["content", *understanding])
            return existing
    return Message.objects.create(
        **({"id": user_message_id} if user_message_id else {}),
        conversation=conversation,
        role=Role.USER,
        content=text,
        state_before=copy.deepcopy(conversation.state),  # the agents change the state in place
        **understanding,
    )


# No savepoint when exchange_run nests it: an error there ends the whole exchange anyway,
# and each savepoint cost two round trips to PostgreSQL. So any error inside marks an
# enclosing transaction for rollback: a caller must not catch it and go on in that one.
@transaction.atomic(savepoint=False)
def exchange_prepare(
    *,
    conversation: Conversation,
    user: Any,
    text: str,
    user_message_id: uuid.UUID | None = None,
    finish_in_same_transaction: bool = False,
    locked: bool = False,
) -> Prepared:
    started = time.perf_counter()
    if not locked:  # else the caller read it with FOR UPDATE in this transaction
        conversation = _locked(conversation.pk)
    if conversation.status == ConversationStatus.CLOSED:
        conversation.status, conversation.closed_at = ConversationStatus.ACTIVE, None
    understood = understand(text)
    message = _edit_or_store_user_message(conversation, text, user_message_id, understood)
    turn = agents.Turn(
        conversation=conversation,
        text=text,
        intent=understood.intent,
        confidence=understood.confidence,
        sentiment=understood.sentiment,
        tracking_numbers=understood.tracking_numbers,
        user=user if user is not None and user.is_authenticated else None,
    )
    update_streaks(turn)
    agent_id, escalation = choose_agent(turn)
    reply = agents.human_handoff(turn, escalation) if agent_id == "human_handoff" else agents.HANDLERS[agent_id](turn)
    if agent_id != "intake":  # a new topic in the middle of a report: say the report is kept
        agents.remind_pending_report(turn, reply)
    if not conversation.title:
        conversation.title = text[:80]
    if reply.filed is not None:
        conversation.concern = reply.filed
    conversation.updated_at = timezone.now()
    if not finish_in_same_transaction:
        conversation.save(update_fields=EXCHANGE_FIELDS)
    return Prepared(
        conversation,
        message,
        understood,
        agent_id,
        reply,
        started,
        escalation=reply.escalate,
        text=_with_postscript(reply.text, reply),
        conversation_unsaved=finish_in_same_transaction,
    )


def _with_postscript(text: str, reply: agents.Reply) -> str:
    return f"{text}\n\n{reply.postscript}" if reply.postscript else text


def answer_chunks(prepared: Prepared, *, shown: bool = True) -> Iterator[str]:
    """The answer's text in pieces: from the LLM when configured and the guide found
    passages, otherwise the embedded answer in small word groups. ``shown``: each piece
    reaches a client as it comes (a stream). When none does, an LLM answer that breaks off
    is replaced by the whole embedded one instead of being kept as far as it got."""
    if prepared.agent_id == "guide" and prepared.reply.passages and llm.llm_configured():
        produced: list[str] = []
        interrupted = False
        try:
            for piece in llm.stream_answer(question=prepared.user_message.content, passages=prepared.reply.passages):
                produced.append(piece)
                prepared.engine = llm.llm_label()
                if shown:
                    yield piece
        except llm.LLMError as exc:
            prepared.fallback_reason = str(exc)
            kept = "its partial answer kept" if shown and produced else "the embedded engine answered"
            logger.warning("The LLM provider failed (%s); %s", exc, kept)
            if produced and shown:  # already streamed part of it: finish honestly rather than start over
                interrupted = True
                produced.append(INTERRUPTED)
                yield INTERRUPTED
            else:
                produced, prepared.engine = [], "embedded"
        if produced:
            prepared.engine = llm.llm_label() + (" (interrupted)" if interrupted else "")
            # The LLM writes only the answer; what the engine adds after it is said too.
            written = "".join(produced)
            prepared.text = _with_postscript(written, prepared.reply)
            rest = prepared.text[len(written) :] if shown else prepared.text
            prepared.complete = True
            if rest:
                yield rest
            return
    yield from _embedded_chunks(prepared)
    prepared.complete = True


def exchange_finish_abandoned(*, prepared: Prepared, sent: str) -> Message:
    """exchange_finish for a stream that ended before its answer was stored (the client
    left, or something failed after the question was): so that no question stays without
    an answer in the history. A whole answer is stored as it is; an LLM answer cut short is
    kept as far as it was sent; otherwise the embedded answer, which is known in full.

    A finish cancelled by the client's leaving may still have run to its end in its
    thread: then its answer is the one, and none is added."""
    stored = Message.objects.filter(reply_to=prepared.user_message, role=Role.ASSISTANT).first()
    if stored is not None:
        return stored
    if not prepared.complete and prepared.engine.startswith("llm:") and sent:
        prepared.engine = llm.llm_label() + " (interrupted)"
        prepared.text = _with_postscript(sent + INTERRUPTED, prepared.reply)
    elif not prepared.complete:
        prepared.engine, prepared.text = "embedded", _with_postscript(prepared.reply.text, prepared.reply)
    return exchange_finish(prepared=prepared)


def _embedded_chunks(prepared: Prepared) -> Iterator[str]:
    text = _with_postscript(prepared.reply.text, prepared.reply)
    words = text.split(" ")
    for index in range(0, len(words), CHUNK_WORDS):
        yield " ".join(words[index : index + CHUNK_WORDS]) + (" " if index + CHUNK_WORDS < len(words) else "")
    prepared.text = text


@transaction.atomic(savepoint=False)  # as exchange_prepare
def exchange_finish(*, prepared: Prepared) -> Message:
    conversation = prepared.conversation if prepared.conversation_unsaved else _locked(prepared.conversation.pk)
    reply, understood = prepared.reply, prepared.understanding
    metadata: dict[str, Any] = {
        "processing_time_ms": round((time.perf_counter() - prepared.started) * 1000, 2),
        "sources": reply.sources,
        "engine": prepared.engine,
        "suggested_actions": reply.suggested_actions,
        "agent_name": agents.AGENTS[prepared.agent_id]["name"],
    }
    if reply.requires_input:
        metadata["requires_input"] = reply.requires_input
    if prepared.fallback_reason:
        metadata["fallback_reason"] = prepared.fallback_reason
    if reply.filed is not None:
        metadata["concern"] = {"id": str(reply.filed.pk), "tracking_number": reply.filed.tracking_number}
    answer = Message.objects.create(
        conversation=conversation,
        role=Role.ASSISTANT,
        content=prepared.text or reply.text,
        intent=understood.intent,
        sentiment=understood.sentiment,
        confidence=understood.confidence,
        agent_id=prepared.agent_id,
        reply_to=prepared.user_message,
        metadata=metadata,
    )
    # The state is the locked row's: exchange_prepare saved its own (or, in one transaction,
    # this is its object). Another exchange may have moved it on while the provider wrote
    # this answer, so the copy read before must not be put back (it would refile a report).
    now = timezone.now()
    conversation.updated_at = now
    if prepared.escalation and conversation.status != ConversationStatus.ESCALATED:
        conversation.status, conversation.escalated_at = ConversationStatus.ESCALATED, now
        event_publish(
            event="chat.escalated",
            data={
                "session_id": conversation.pk,
                "reason": prepared.escalation,
                "user_id": str(conversation.owner_id) if conversation.owner_id else None,
                "last_message": prepared.user_message.content[:500],
                "escalated_at": now.isoformat().replace("+00:00", "Z"),
            },
        )
    conversation.save(update_fields=EXCHANGE_FIELDS)
    event_publish(
        event="chat.message",
        data={
            "session_id": conversation.pk,
            "message_id": str(answer.pk),
            "user_message_id": str(prepared.user_message.pk),
            "user_id": str(conversation.owner_id) if conversation.owner_id else None,
            "intent": understood.intent,
            "sentiment": understood.sentiment,
            "agent_id": prepared.agent_id,
        },
    )
    if reply.close:
        _complete(conversation, reason="goodbye")
    return answer


def conversation_exchange(
    *,
    principal: Principal,
    session_id: str,
    user: Any,
    text: str,
    context: dict[str, Any] | None = None,
    user_message_id: uuid.UUID | None = None,
) -> tuple[Prepared, Message]:
    """One message to the caller's conversation, created on first use (POST /chat/message
    and its WebSocket twin). With the embedded engine the conversation is read once, locked,
    in the exchange's own transaction (a failed exchange leaves no new conversation behind);
    with an LLM it is read first and the exchange locks it again (see exchange_run)."""
    if llm.llm_configured():
        conversation, _ = conversation_get_or_create(principal=principal, session_id=session_id, context=context)
        return exchange_run(conversation=conversation, user=user, text=text, user_message_id=user_message_id)
    with transaction.atomic():
        conversation, _ = conversation_get_or_create(
            principal=principal, session_id=session_id, context=context, lock=True
        )
        return exchange_run(
            conversation=conversation, user=user, text=text, user_message_id=user_message_id, locked=True
        )


def exchange_run(
    *,
    conversation: Conversation,
    user: Any,
    text: str,
    user_message_id: uuid.UUID | None = None,
    locked: bool = False,
) -> tuple[Prepared, Message]:
    """A whole exchange without streaming. With the embedded engine it is one transaction
    (one lock, one save of the conversation, one commit); with an LLM the two halves commit
    apart, so that no row stays locked while the provider answers. ``locked``: the caller
    read ``conversation`` with FOR UPDATE in its still open transaction."""
    one_transaction = not llm.llm_configured()
    # No savepoint when conversation_exchange nests it (see exchange_prepare).
    with transaction.atomic(savepoint=False) if one_transaction else nullcontext():
        prepared = exchange_prepare(
            conversation=conversation,
            user=user,
            text=text,
            user_message_id=user_message_id,
            finish_in_same_transaction=one_transaction,
            locked=locked and one_transaction,
        )
        for _ in answer_chunks(prepared, shown=False):
            pass
        return prepared, exchange_finish(prepared=prepared)


def _complete(conversation: Conversation, *, reason: str) -> None:
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.CLOSED, closed_at=now)
    event_publish(
        event="chat.completed",
        data={
            "session_id": conversation.pk,
            "reason": reason,
            "message_count": conversation.messages.count(),
            "completed_at": now.isoformat().replace("+00:00", "Z"),
        },
    )


def conversation_close(*, conversation: Conversation, reason: str) -> bool:
    """Closes an active or escalated conversation (``chat.completed``); False when it was
    closed already. A citizen who writes again reopens it."""
    with transaction.atomic():
        current = Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if current is None or current.status == ConversationStatus.CLOSED:
            return False
        _complete(current, reason=reason)
    return True


def conversations_complete_idle(*, idle_minutes: int) -> int:
    cutoff = timezone.now() - timedelta(minutes=idle_minutes)
    count = 0
    for conversation in Conversation.objects.filter(status=ConversationStatus.ACTIVE, updated_at__lt=cutoff)[:500]:
        with transaction.atomic():
            _complete(conversation, reason="idle")
        count += 1
    return count


def feedback_create(
    *, principal: Principal, message_id: uuid.UUID, rating: int, comment: str = "", session_id: str | None = None
) -> Feedback:
    """Rates one of the caller's answers; with ``session_id``, only an answer in that session."""
    message = Message.objects.select_related("conversation").filter(pk=message_id, role=Role.ASSISTANT).first()
    if message is None or not principal.owns(message.conversation):
        raise NotFound("No answer with this message_id.")
    if session_id is not None and message.conversation_id != session_id:
        raise NotFound("No answer with this message_id in this session.")
    feedback, _ = Feedback.objects.update_or_create(message=message, defaults={"rating": rating, "comment": comment})
    return feedback
