"""Staff manage knowledge articles in the Django admin, and the assistant answers from them."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.knowledge.models import Article
from apps.knowledge.selectors import article_search
from conftest import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/knowledge/article/"


def signed_in(role: str) -> Client:
    client = Client()
    client.force_login(make_user(f"a-{role}", role))
    return client


def article_form(**fields: str) -> dict[str, str]:
    return {
        "title": "Snow clearing",
        "body": "Sidewalk snow must be cleared within 24 hours after a snowfall ends.",
        "category": "streets",
        "tags": '["snow", "winter"]',
        "source_url": "https://city.example.org/snow",
        "published": "on",
        **fields,
    }


def test_staff_add_change_and_delete_articles_and_search_follows():
    staff = signed_in("staff")
    assert staff.get(CHANGELIST).status_code == 200
    response = staff.post(f"{CHANGELIST}add/", article_form())
    assert response.status_code == 302, response.content[:500]
    article = Article.objects.get(title="Snow clearing")
    assert article.tags == ["snow", "winter"]
    assert [hit.article.pk for hit in article_search(query="sidewalk")] == [article.pk]

    first_update = article.updated_at
    response = staff.post(f"{CHANGELIST}{article.pk}/change/", article_form(body="Clear ice from the gutter."))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.updated_at > first_update
    assert article_search(query="sidewalk") == []
    assert [hit.article.pk for hit in article_search(query="gutter ice")] == [article.pk]

    assert staff.post(f"{CHANGELIST}{article.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Article.objects.filter(pk=article.pk).exists()
    assert article_search(query="gutter ice") == []


def test_an_invalid_article_is_refused_with_the_form_errors():
    staff = signed_in("staff")
    response = staff.post(f"{CHANGELIST}add/", article_form(title="", tags="not json", source_url="nope"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"title", "tags", "source_url"} <= set(errors)
    assert not Article.objects.exists()


def test_citizens_have_no_admin():
    citizen = signed_in("citizen")
    assert citizen.get(CHANGELIST).status_code == 302  # to the admin's sign-in page
    assert citizen.post(f"{CHANGELIST}add/", article_form()).status_code == 302
    assert not Article.objects.exists()
