"""Ranked full-text search over published articles (FTS5 on SQLite, tsvector on PostgreSQL).

Results are cached (KNOWLEDGE_SEARCH_CACHE_SECONDS) in Django's cache under the query's
terms: ranking a common word scores most of the knowledge base (8-30 ms on 5,000 articles,
bench/chat.py), and citizens ask the same few questions. Every entry carries the knowledge
base's version, which any saved or deleted article replaces (apps/knowledge/signals.py), so
an edit in the admin shows in the next answer; one cache round trip reads both.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from apps.core.cache import cache_tolerant
from apps.knowledge.models import Article

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    {
        "a",
        "about",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "get",
        "have",
        "hello",
        "hi",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "need",
        "of",
        "on",
        "or",
        "please",
        "should",
        "so",
        "tell",
        "that",
        "the",
        "there",
        "this",
        "to",
        "want",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    }
)
MAX_TERMS = 12


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float
    matched_terms: int
    total_terms: int

    @property
    def coverage(self) -> float:
        return self.matched_terms / self.total_terms if self.total_terms else 0.0


def query_terms(text: str) -> list[str]:
    terms = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]
    return list(dict.fromkeys(terms))[:MAX_TERMS]


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _matched(article: Article, terms: list[str]) -> int:
    text = f"{article.title} {article.body} {' '.join(article.tags)}".lower()
    return sum(1 for term in terms if _stem(term) in text)


def _article_columns() -> str:
    return ", ".join(f"a.{connection.ops.quote_name(field.column)}" for field in Article._meta.concrete_fields)


VERSION_KEY = "knowledge:version"


def article_search_forget() -> None:
    """Outdate every cached search result (after articles were added, changed or removed)."""
    # If this fails, the change is saved and answers lag by KNOWLEDGE_SEARCH_CACHE_SECONDS.
    cache_tolerant(
        lambda: cache.set(VERSION_KEY, uuid.uuid4().hex, None),
        default=None,
        what="outdating knowledge search results",
        level=logging.ERROR,
    )


def article_search(*, query: str, limit: int = 5, category: str | None = None) -> list[Hit]:
    """The best ``limit`` published articles for the query's terms (any of them), best first."""
    terms = query_terms(query)
    if not terms:
        return []
    ttl = settings.KNOWLEDGE_SEARCH_CACHE_SECONDS
    if ttl <= 0:
        return _article_search(terms, limit, category)
    asked = (sorted(terms), limit, category)
    key = f"knowledge:search:{hashlib.sha256(repr(asked).encode()).hexdigest()[:32]}"
    found = cache_tolerant(lambda: cache.get_many([VERSION_KEY, key]), default=None, what="knowledge search")
    if found is None:  # the cache is down: it only costs the query
        return _article_search(terms, limit, category)
    version = found.get(VERSION_KEY) or cache_tolerant(
        lambda: cache.get_or_set(VERSION_KEY, uuid.uuid4().hex, None), default=None, what="knowledge search"
    )
    cached = found.get(key)
    if cached is not None and cached[0] == version and cached[1] == asked:
        return cached[2]
    hits = _article_search(terms, limit, category)
    if version is not None:
        cache_tolerant(lambda: cache.set(key, (version, asked, hits), ttl), default=None, what="knowledge search")
    return hits


def _article_search(terms: list[str], limit: int, category: str | None) -> list[Hit]:
    """One statement returns the ranked articles themselves (not their ids, then the rows)."""
    if connection.vendor == "postgresql":
        sql = (
            "SELECT {columns}, ts_rank_cd(a.search_vector, q) AS score FROM knowledge_article a, "
            "to_tsquery('english', %s) q WHERE a.published AND a.search_vector @@ q {category} "
            "ORDER BY score DESC, a.title LIMIT %s"
        )
        params: list[object] = [" | ".join(terms)]
    else:
        sql = (
            "SELECT {columns}, -bm25(knowledge_article_fts, 10.0, 1.0, 4.0) AS score FROM knowledge_article_fts "
            "JOIN knowledge_article a ON a.rowid = knowledge_article_fts.rowid "
            "WHERE knowledge_article_fts MATCH %s AND a.published {category} ORDER BY score DESC, a.title LIMIT %s"
        )
        params = [" OR ".join(f'"{term}"' for term in terms)]
    clause = ""
    if category:
        clause = "AND a.category = %s"
        params.append(category)
    params.append(limit)
    articles = Article.objects.raw(sql.format(columns=_article_columns(), category=clause), params)
    return [Hit(article, float(article.score), _matched(article, terms), len(terms)) for article in articles]


# A sentence ends at . ! or ? (and any closing quote or bracket) before a space and a
# capital, digit or opening quote; not after an abbreviation such as "St." or "e.g.".
_SENTENCE_END = re.compile(r"[.!?]+[\"\u201d')\]]*\s+(?=[\"\u201c'(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset({"st", "dr", "mr", "mrs", "ms", "nr", "ave", "rd", "approx", "e.g", "i.e", "vs"})
# Whole sentences up to this many characters: four or five sentences, a chat bubble's worth;
# every starter article (the longest is 446) is answered whole.
SNIPPET_LENGTH = 480


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, without the spaces between them."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start : match.start()].split()
        if match.group().startswith(".") and before and before[-1].lower() in _ABBREVIATIONS:
            continue
        spans.append((start, match.start() + len(match.group().rstrip())))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _cut_at_word(text: str, length: int) -> str:
    """At most ``length`` characters of one long sentence, ending at a whole word and "…"."""
    cut = text[: length - 1]
    if " " in cut and not text[length - 1 : length].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-\u2013\u2014") + "\u2026"


def snippet(article: Article, query: str, length: int = SNIPPET_LENGTH) -> str:
    """The passage of the body that answers the query, in whole sentences: from the sentence
    with the first matched term, then the ones after it and before it while the passage stays
    within ``length``. Cut at a character count instead, an answer ended mid-sentence ("...before
    closing. Phone…") and left out what was asked. A single sentence longer than ``length``
    ends at a whole word, with "…". The REST answer and the streamed chunks share this text."""
    body = article.body.strip()
    if len(body) <= length:
        return body
    spans = _sentence_spans(body)
    lowered = body.lower()
    positions = [p for p in (lowered.find(_stem(term)) for term in query_terms(query)) if p >= 0]
    first = min(positions, default=0)
    index = next((i for i, (_, end) in enumerate(spans) if first < end), 0)
    low = high = index
    if spans[index][1] - spans[index][0] > length:
        return _cut_at_word(body[spans[index][0] : spans[index][1]], length)
    while high + 1 < len(spans) and spans[high + 1][1] - spans[low][0] <= length:
        high += 1
    while low > 0 and spans[high][1] - spans[low - 1][0] <= length:
        low -= 1
    return body[spans[low][0] : spans[high][1]]
