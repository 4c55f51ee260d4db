"""Staff follow up on conversations in the Django admin: read them (an escalated one first),
close them; nobody edits a transcript; administrators may delete one."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.utils.html import escape

from apps.chat.models import Conversation, Message
from apps.core.events import event_subscribe, event_unsubscribe

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chat/conversation/"


@pytest.fixture
def escalated(citizen) -> Conversation:
    response = citizen.post("/api/v1/chat/message", {"message": "I want to talk to a person", "session_id": "help-1"})
    assert response.status_code == 200 and response.json()["data"]["escalated"] is True
    return Conversation.objects.get(pk="help-1")


@pytest.fixture
def completed():
    events: list[dict] = []

    def record(event: str, data: dict) -> None:
        if event == "chat.completed":
            events.append(data)

    event_subscribe(record)
    yield events
    event_unsubscribe(record)


def browser(persona) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def close(client: Client, *conversations: Conversation):
    return client.post(
        CHANGELIST,
        {"action": "close", ACTION_CHECKBOX_NAME: [c.pk for c in conversations]},
        follow=True,
    )


def test_staff_find_an_escalated_conversation_and_read_it(staff_member, escalated):
    staff = browser(staff_member)
    listing = staff.get(CHANGELIST, {"status__exact": "escalated"})
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [escalated]
    page = staff.get(f"{CHANGELIST}{escalated.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "I want to talk to a person" in html
    for reply in Message.objects.filter(conversation=escalated, role="assistant"):
        assert escape(reply.content.split("\n")[0]) in html
    assert 'name="title"' not in html and 'name="status"' not in html  # a record, read-only
    assert staff.get("/admin/chat/feedback/").status_code == 200


def test_staff_close_a_conversation_once(staff_member, escalated, completed):
    staff = browser(staff_member)
    response = close(staff, escalated)
    assert "Closed 1 conversation(s)." in response.content.decode()
    escalated.refresh_from_db()
    assert escalated.status == "closed" and escalated.closed_at is not None
    assert [(event["session_id"], event["reason"]) for event in completed] == [("help-1", "staff")]

    assert "Closed 0 conversation(s)." in close(staff, escalated).content.decode()
    assert len(completed) == 1


def test_nobody_edits_a_transcript_and_only_administrators_delete(staff_member, administrator, escalated):
    staff = browser(staff_member)
    before = list(Message.objects.filter(conversation=escalated).values_list("content", flat=True))
    assert staff.get(f"{CHANGELIST}add/").status_code == 403
    assert (
        staff.post(f"{CHANGELIST}{escalated.pk}/change/", {"title": "changed", "status": "active"}).status_code == 403
    )
    assert staff.post(f"{CHANGELIST}{escalated.pk}/delete/", {"post": "yes"}).status_code == 403
    escalated.refresh_from_db()
    assert (escalated.title, escalated.status) != ("changed", "active")
    assert list(Message.objects.filter(conversation=escalated).values_list("content", flat=True)) == before

    admin = browser(administrator)
    assert admin.post(f"{CHANGELIST}{escalated.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Conversation.objects.filter(pk=escalated.pk).exists()
    assert not Message.objects.filter(conversation_id=escalated.pk).exists()


def test_citizens_have_no_admin(citizen, escalated):
    client = browser(citizen)
    assert client.get(CHANGELIST).status_code == 302  # to the admin's sign-in page
    assert client.get(f"{CHANGELIST}{escalated.pk}/change/").status_code == 302
    close(client, escalated)
    escalated.refresh_from_db()
    assert escalated.status == "escalated"
