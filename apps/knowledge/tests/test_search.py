"""Ranked full-text search over the knowledge base, and its cache."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from apps.knowledge.content import ARTICLES
from apps.knowledge.models import Article
from apps.knowledge.selectors import article_search, article_search_forget, query_terms, snippet

pytestmark = pytest.mark.django_db


@pytest.fixture
def articles() -> dict[str, Article]:
    rows = {
        "bins": ("Waste collection days", "Bins are collected weekly. Put your bins out by 7am.", "sanitation"),
        "recycling": ("Recycling guide", "Paper, glass and cans go in the blue recycling bin.", "sanitation"),
        "parking": ("Parking permits", "Residents apply for a parking permit online.", "transport"),
        "draft": ("Bulky waste pickup", "Bulky waste collection by appointment.", "sanitation"),
    }
    made = {
        name: Article.objects.create(title=title, body=body, category=category, published=name != "draft")
        for name, (title, body, category) in rows.items()
    }
    return made


def titles(query: str, **kwargs: object) -> list[str]:
    return [hit.article.title for hit in article_search(query=query, **kwargs)]


def test_the_article_about_the_words_ranks_first(articles):
    assert titles("when is waste collection")[0] == "Waste collection days"


def test_any_term_matches_and_coverage_counts_the_matched_ones(articles):
    hits = article_search(query="parking permit zebra")
    assert [hit.article.title for hit in hits] == ["Parking permits"]
    assert (hits[0].matched_terms, hits[0].total_terms) == (2, 3)


def test_unpublished_articles_are_never_found(articles):
    assert "Bulky waste pickup" not in titles("bulky waste appointment")


def test_category_narrows_the_search(articles):
    assert titles("permit bins", category="transport") == ["Parking permits"]


def test_limit_caps_the_hits(articles):
    assert len(article_search(query="bins recycling parking", limit=2)) == 2


def test_stopwords_alone_find_nothing_without_a_query(articles):
    assert query_terms("what is the") == []
    with CaptureQueriesContext(connection) as captured:
        assert article_search(query="what is the") == []
    assert not captured


def test_a_repeated_search_is_answered_from_the_cache(articles):
    first = titles("recycling bin")
    with CaptureQueriesContext(connection) as captured:
        assert titles("bin recycling") == first  # the same terms in another order
    assert not any("knowledge_article" in q["sql"] for q in captured)


@override_settings(KNOWLEDGE_SEARCH_CACHE_SECONDS=0)
def test_zero_seconds_turns_the_cache_off(articles):
    titles("recycling bin")
    with CaptureQueriesContext(connection) as captured:
        titles("recycling bin")
    assert any("knowledge_article" in q["sql"] for q in captured)


def test_unpublishing_an_article_shows_in_the_next_search(articles):
    assert "Recycling guide" in titles("recycling")
    articles["recycling"].published = False
    articles["recycling"].save()
    assert "Recycling guide" not in titles("recycling")


def test_a_new_article_shows_in_the_next_search(articles):
    assert titles("library") == []
    Article.objects.create(title="Library hours", body="The central library opens at 9.")
    assert titles("library") == ["Library hours"]


def test_a_deleted_article_leaves_the_next_search(articles):
    assert titles("parking") == ["Parking permits"]
    articles["parking"].delete()
    assert titles("parking") == []


def test_forgetting_outdates_results_after_a_bulk_load(articles):
    assert titles("library") == []
    Article.objects.bulk_create([Article(title="Library hours", body="Open daily.")])  # no signals
    article_search_forget()
    assert titles("library") == ["Library hours"]


def test_the_full_text_index_serves_the_search(articles):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(
                "EXPLAIN SELECT id FROM knowledge_article WHERE search_vector @@ to_tsquery('english', 'bins')"
            )
            plan = " ".join(row[0] for row in cursor.fetchall())
        assert "knowledge_article_search_idx" in plan
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rowid FROM knowledge_article_fts WHERE knowledge_article_fts MATCH 'glass'")
            assert len(cursor.fetchall()) == 1


def test_an_unreachable_cache_only_costs_the_query(articles, monkeypatch):
    from django.core.cache import cache

    def broken(*args: object, **kwargs: object) -> object:
        raise ConnectionError("cache down")

    for name in ("get", "get_many", "add", "set"):
        monkeypatch.setattr(cache, name, broken)
    assert titles("recycling")[0] == "Recycling guide"
    articles["recycling"].published = False
    articles["recycling"].save()  # the signal cannot outdate the cache: the save still succeeds
    assert "Recycling guide" not in titles("recycling")


# --- snippets ----------------------------------------------------------------------------

POOL = (
    "The pool opens at 7 am. Swimmers must shower first. Children under 8 need an adult with them at all "
    "times. Lanes are reserved for clubs on Tuesday evenings. Lockers need a 1 coin deposit."
)


def passage(body: str, query: str, length: int) -> str:
    return snippet(Article(title="Test", body=body), query, length=length)


def test_snippet_keeps_a_short_body_whole():
    body = str(ARTICLES[0]["body"])
    assert passage(body, "What are your office hours?", 480) == body


def test_snippet_ends_at_a_sentence_boundary():
    assert passage(POOL, "pool", 60) == "The pool opens at 7 am. Swimmers must shower first."


def test_snippet_starts_at_the_sentence_with_the_first_matched_term():
    assert passage(POOL, "which lanes are for clubs", 60) == "Lanes are reserved for clubs on Tuesday evenings."


def test_snippet_adds_earlier_sentences_when_there_is_room():
    assert (
        passage(POOL, "lockers", 90)
        == "Lanes are reserved for clubs on Tuesday evenings. Lockers need a 1 coin deposit."
    )


def test_a_sentence_longer_than_the_limit_ends_at_a_word_with_an_ellipsis():
    body = "Residents " + "who live in the old town and " * 10 + "pay less. Others pay more."
    text = passage(body, "residents", 60)
    assert text.endswith("\u2026") and len(text) <= 60
    assert body.startswith(text[:-1]) and body[len(text) - 1] == " "  # the next character: not a cut word


def test_an_abbreviation_does_not_end_a_sentence():
    first = "Visit St. Mary's Hall on Elm Street for the fair, which runs all weekend."
    assert passage(f"{first} Entry is free for everyone.", "fair", len(first) + 5) == first


@pytest.mark.parametrize("length", [60, 120, 200, 320])
@pytest.mark.parametrize("item", ARTICLES, ids=lambda item: str(item["title"]))
def test_starter_articles_are_cut_at_sentences_or_words(item, length):
    body, title = str(item["body"]), str(item["title"])
    text = passage(body, title, length)
    assert text and len(text) <= length
    if text.endswith("\u2026"):  # one sentence longer than the limit
        start = body.index(text[:-1])
        assert re.match(r"[,;:]?\s", body[start + len(text) - 1 :]), text
    else:
        start = body.index(text)
        assert text[-1] in ".!?" and (start == 0 or body[start - 2] in ".!?"), text
