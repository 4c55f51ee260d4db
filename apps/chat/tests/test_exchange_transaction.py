"""An exchange without an LLM is one transaction with no savepoints: it costs a fixed number
of statements, and when any part of it fails nothing of it is kept."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import NotFound

from apps.chat import selectors, services
from apps.chat.engine import agents, llm
from apps.chat.models import Conversation, Message
from conftest import Persona

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # real commits


@pytest.fixture(autouse=True)
def embedded_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm, "llm_configured", lambda: False)  # with an LLM the halves commit apart


@pytest.fixture
def conversation(citizen: Persona) -> Conversation:
    principal = services.Principal(user=citizen.user, api_key=citizen.api_key)
    return services.conversation_get_or_create(principal=principal, session_id="tx")[0]


def test_an_exchange_commits_once_without_savepoints(citizen: Persona, conversation: Conversation) -> None:
    services.exchange_run(conversation=conversation, user=citizen.user, text="hello")  # warm caches
    with CaptureQueriesContext(connection) as queries:
        services.exchange_run(conversation=conversation, user=citizen.user, text="hello again")
    statements = [query["sql"].split()[0].upper() for query in queries]
    assert not [s for s in statements if s in {"SAVEPOINT", "RELEASE"}], statements
    assert statements.count("INSERT") >= 2  # the two messages (and the outbox event)
    assert Message.objects.filter(conversation=conversation).count() == 4


def test_a_failure_while_answering_keeps_nothing(
    citizen: Persona, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(turn: agents.Turn) -> agents.Reply:
        raise RuntimeError("agent failed")

    for agent_id in list(agents.HANDLERS):
        monkeypatch.setitem(agents.HANDLERS, agent_id, broken)
    with pytest.raises(RuntimeError):
        services.exchange_run(conversation=conversation, user=citizen.user, text="hello")
    assert not Message.objects.filter(conversation=conversation).exists()


def test_a_failure_while_storing_the_answer_keeps_nothing(
    citizen: Persona, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("outbox failed")

    monkeypatch.setattr(services, "event_publish", broken)
    before = Conversation.objects.get(pk=conversation.pk).updated_at
    with pytest.raises(RuntimeError):
        services.exchange_run(conversation=conversation, user=citizen.user, text="hello")
    assert not Message.objects.filter(conversation=conversation).exists()
    assert Conversation.objects.get(pk=conversation.pk).updated_at == before


def _principal(persona: Persona) -> services.Principal:
    return services.Principal(user=persona.user, api_key=persona.api_key)


def test_a_message_reads_its_conversation_once_and_locked(citizen: Persona, conversation: Conversation) -> None:
    principal = _principal(citizen)
    services.conversation_exchange(principal=principal, session_id="tx", user=citizen.user, text="hello")
    with CaptureQueriesContext(connection) as queries:
        services.conversation_exchange(principal=principal, session_id="tx", user=citizen.user, text="hello again")
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and 'FROM "chat_conversation"' in q["sql"]]
    assert len(reads) == 1, reads
    assert "FOR UPDATE" in reads[0] or connection.vendor == "sqlite"  # SQLite locks the whole database
    statements = [query["sql"].split()[0].upper() for query in queries]
    assert not [s for s in statements if s in {"SAVEPOINT", "RELEASE"}], statements
    assert Message.objects.filter(conversation=conversation).count() == 4


def test_a_failed_first_message_leaves_no_conversation(citizen: Persona, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("outbox failed")

    monkeypatch.setattr(services, "event_publish", broken)
    with pytest.raises(RuntimeError):
        services.conversation_exchange(principal=_principal(citizen), session_id="new", user=citizen.user, text="hi")
    assert not Conversation.objects.filter(pk="new").exists()


def test_someone_elses_conversation_is_not_found_and_untouched(
    citizen: Persona, staff_member: Persona, conversation: Conversation
) -> None:
    before = Conversation.objects.get(pk="tx").updated_at
    with pytest.raises(NotFound):
        services.conversation_exchange(
            principal=_principal(staff_member), session_id="tx", user=staff_member.user, text="hello"
        )
    assert Conversation.objects.get(pk="tx").updated_at == before
    assert not Message.objects.filter(conversation_id="tx").exists()


def test_the_compiled_conversation_lookup_reads_what_the_orm_reads(citizen: Persona, staff_member: Persona) -> None:
    first = services.conversation_get_or_create(
        principal=_principal(citizen), session_id="one", title="Potholes", context={"page": "/concerns", "n": 1}
    )[0]
    Conversation.objects.filter(pk="one").update(state={"intake": {"step": "location"}})
    second = services.conversation_get_or_create(principal=_principal(staff_member), session_id="two")[0]
    for conversation in (first, second):
        expected = Conversation.objects.get(pk=conversation.pk)
        for lock in (False, True):
            with transaction.atomic():
                got = selectors.conversation_by_id(session_id=conversation.pk, lock=lock)
            assert got is not None and got._state.adding is False
            for field in Conversation._meta.concrete_fields:
                assert getattr(got, field.attname) == getattr(expected, field.attname), field.name
    assert selectors.conversation_by_id(session_id="nobody") is None
