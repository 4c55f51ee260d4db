"""The chat page without JavaScript: a form that posts and a page that shows the log."""

from __future__ import annotations

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
