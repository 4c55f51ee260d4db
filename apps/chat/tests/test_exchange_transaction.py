"""An exchange without an LLM is one transaction with no savepoints: it costs a fixed number
of statements, and when any part of it fails nothing of it is kept."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError
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


def test_a_locked_read_outside_a_transaction_is_refused() -> None:
    with pytest.raises(TransactionManagementError):
        selectors.conversation_by_id(session_id="tx", lock=True)


def _exchange_when_the_database_lets_us(principal: services.Principal, user: object, text: str) -> None:
    """In-memory SQLite (the default test run) fails at once with "database table is locked"
    where a file database or PostgreSQL would wait (see apps/concerns/tests/test_concurrency.py)."""
    for _ in range(2000):
        try:
            services.conversation_exchange(principal=principal, session_id="race", user=user, text=text)
            return
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.005)
    raise AssertionError("gave up waiting for the SQLite write lock")


@pytest.mark.parametrize("same_owner", [True, False])
def test_two_first_messages_to_one_new_session_id(
    citizen: Persona, staff_member: Persona, monkeypatch: pytest.MonkeyPatch, same_owner: bool
) -> None:
    """The first creates the conversation and keeps it uncommitted for its whole exchange; the
    second waits for it, then answers in it (or, for someone else, finds it is not theirs)."""
    entered, release = threading.Event(), threading.Event()
    exchange_run = services.exchange_run

    def first_holds_its_new_row(**kwargs: object) -> object:
        if threading.current_thread().name == "first":
            entered.set()
            release.wait(10)
        return exchange_run(**kwargs)

    monkeypatch.setattr(services, "exchange_run", first_holds_its_new_row)
    second_persona = citizen if same_owner else staff_member
    outcomes: dict[str, object] = {}

    def run(name: str, persona: Persona) -> None:
        try:
            _exchange_when_the_database_lets_us(_principal(persona), persona.user, f"hello from {name}")
            outcomes[name] = "answered"
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("first", citizen), name="first")
    second = threading.Thread(target=run, args=("second", second_persona), name="second")
    first.start()
    assert entered.wait(10)
    second.start()
    time.sleep(0.3)  # the second is now waiting for the first's row (or lock)
    release.set()
    first.join(20)
    second.join(20)
    assert outcomes["first"] == "answered"
    if same_owner:
        assert outcomes["second"] == "answered"
        assert Message.objects.filter(conversation_id="race").count() == 4
    else:
        assert isinstance(outcomes["second"], NotFound), outcomes["second"]
        assert Message.objects.filter(conversation_id="race").count() == 2
    assert Conversation.objects.filter(pk="race").count() == 1


def test_an_exchange_updates_only_what_it_may_change(citizen: Persona, conversation: Conversation) -> None:
    Conversation.objects.filter(pk="tx").update(client_context={"page": "/set-elsewhere"})
    with CaptureQueriesContext(connection) as queries:
        services.conversation_exchange(principal=_principal(citizen), session_id="tx", user=citizen.user, text="hi")
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "chat_conversation"')]
    assert len(updates) == 1 and '"client_context"' not in updates[0] and '"owner_id"' not in updates[0], updates
    stored = Conversation.objects.get(pk="tx")
    assert stored.client_context == {"page": "/set-elsewhere"}
    assert stored.title == "hi" and stored.updated_at > conversation.updated_at
