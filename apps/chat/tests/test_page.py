"""The chat page without JavaScript: a form that posts and a page that shows the log."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.knowledge.content import ARTICLES
from apps.knowledge.models import Article

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_can_ask_without_javascript():
    for item in ARTICLES:
        Article.objects.get_or_create(title=item["title"], defaults=item)
    browser = Client(enforce_csrf_checks=False)
    page = browser.get("/assistant/")
    assert page.status_code == 200
    assert b'<label for="chat-message">' in page.content
    assert b'role="log"' in page.content
    response = browser.post("/assistant/", {"message": "What are your office hours?"})
    assert response.status_code == 302
    log = browser.get("/assistant/").content.decode()
    assert "What are your office hours?" in log and "8:30" in log


def test_empty_message_is_an_error_next_to_the_field():
    response = Client().post("/assistant/", {"message": "  "})
    assert response.status_code == 400
    assert b'aria-invalid="true"' in response.content and b"Please type a message." in response.content


def test_csrf_is_enforced():
    browser = Client(enforce_csrf_checks=True)
    browser.get("/assistant/")
    assert browser.post("/assistant/", {"message": "hi"}).status_code == 403


def test_visitors_do_not_see_each_others_conversations():
    first, second = Client(), Client()
    first.post("/assistant/", {"message": "my secret question about permits"})
    assert "my secret question" not in second.get("/assistant/").content.decode()


def test_a_visitor_who_signs_in_keeps_the_conversation(citizen):
    """Asking first and signing in then made /assistant/ a 500 on every visit: the session
    still named the anonymous conversation, which the user did not own."""
    from apps.chat.models import Conversation

    browser = Client()
    browser.post("/assistant/", {"message": "my question before signing in"})
    before = Conversation.objects.get()
    browser.force_login(citizen.user)  # django.contrib.auth.login: user_logged_in, session data kept
    page = browser.get("/assistant/")
    assert page.status_code == 200
    assert "my question before signing in" in page.content.decode()
    adopted = Conversation.objects.get()
    assert (adopted.pk, adopted.owner, adopted.anonymous_key) == (before.pk, citizen.user, "")
    assert browser.post("/assistant/", {"message": "and one after"}).status_code == 302
    assert adopted.messages.filter(role="user").count() == 2


def test_a_session_naming_someone_elses_conversation_starts_a_new_one(citizen, staff_member):
    from apps.chat.models import Conversation

    theirs = Conversation.objects.create(id="staff-only", owner=staff_member.user)
    browser = Client()
    browser.force_login(citizen.user)
    session = browser.session
    session["chat_session_id"] = theirs.pk
    session.save()
    page = browser.get("/assistant/")
    assert page.status_code == 200
    mine = Conversation.objects.exclude(pk=theirs.pk).get()
    assert mine.owner == citizen.user
    assert Conversation.objects.get(pk=theirs.pk).owner == staff_member.user


def test_every_citizen_page_but_the_assistant_carries_the_chat_panel(citizen):
    from apps.chat.models import Conversation

    browser = Client()
    for path in ("/", "/concerns/new/", "/concerns/track/", "/accounts/sign-in/"):
        page = browser.get(path).content.decode()
        assert "data-chat-panel" in page and 'data-session-url="/assistant/session/"' in page, path
        assert 'action="/assistant/"' in page, path  # without JavaScript the form posts there
    assert not Conversation.objects.exists()  # showing the panel writes nothing
    assert "data-chat-panel" not in browser.get("/assistant/").content.decode()


def test_the_panel_opens_the_browsers_conversation_with_its_last_messages():
    from apps.chat.models import Conversation
    from apps.chat.views import PANEL_HISTORY

    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert browser.post("/assistant/session/").status_code == 403  # CSRF, as any form
    assert browser.get("/assistant/session/").status_code == 405
    opened = browser.post("/assistant/session/", HTTP_X_CSRFTOKEN=token).json()
    assert opened["messages"] == []
    conversation = Conversation.objects.get(pk=opened["session_id"])
    for index in range(PANEL_HISTORY + 5):
        conversation.messages.create(role="user", content=f"question {index}")
    again = browser.post("/assistant/session/", HTTP_X_CSRFTOKEN=token).json()
    assert again["session_id"] == opened["session_id"]
    assert [m["content"] for m in again["messages"]] == [f"question {i}" for i in range(5, PANEL_HISTORY + 5)]
    assert Client().post("/assistant/session/").json()["session_id"] != opened["session_id"]  # another browser


def test_signing_in_through_the_form_adopts_the_conversation(citizen):
    from apps.chat.models import Conversation
    from conftest import PASSWORD

    browser = Client()
    browser.post("/assistant/", {"message": "asked before signing in"})
    assert (
        browser.post("/accounts/sign-in/", {"identifier": citizen.user.username, "password": PASSWORD}).status_code
        == 302
    )
    assert Conversation.objects.get().owner == citizen.user
    assert "asked before signing in" in browser.get("/assistant/").content.decode()


@pytest.mark.parametrize("left", ["long ago", "closed"])
def test_an_earlier_visitors_conversation_is_not_adopted(citizen, left):
    """A shared computer: what an earlier visitor asked must not join the next account."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from apps.chat.models import Conversation

    browser = Client()
    browser.post("/assistant/", {"message": "the earlier visitor's question"})
    earlier = Conversation.objects.get()
    if left == "closed":
        Conversation.objects.filter(pk=earlier.pk).update(status="closed")
    else:
        stale = timezone.now() - timedelta(minutes=settings.CHAT_IDLE_MINUTES + 1)
        Conversation.objects.filter(pk=earlier.pk).update(updated_at=stale)
    browser.force_login(citizen.user)
    page = browser.get("/assistant/").content.decode()
    assert "the earlier visitor's question" not in page
    earlier.refresh_from_db()
    assert earlier.owner is None and earlier.anonymous_key
    assert Conversation.objects.exclude(pk=earlier.pk).get().owner == citizen.user
