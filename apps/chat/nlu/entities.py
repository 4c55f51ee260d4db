"""Entities in free text: tracking numbers and the concern category a message is about.

Tracking numbers look like ``TRK-2026-000123`` (``TRK-YYYY-NNNNNN``, see the concerns app);
people type them as ``trk 2026 000123``, ``trk2026000123``, ``TRK–2026–123`` or
``TRK-2026/000123``. :func:`find_tracking_numbers` finds all of them and returns the
canonical upper-case form with the sequence zero-padded to six digits.

Categories are data (code + keywords, managed in the admin), so :func:`find_category` takes
them as an argument: ``find_category(text, [(c.code, c.keywords) for c in categories])``.
A keyword matches a word of the text exactly, as a simple inflection ("potholes", "leaking",
"flooded" for "pothole", "leak", "flood"), as two written-apart words ("street light" for
"streetlight"), as a phrase (multi-word keywords) or, for longer words, with a typo
("garbege", "potholle"). The more specific match of a word wins ("parking" is a traffic
keyword; it does not also count as the parks keyword "park").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_TRACKING = re.compile(
    rf"(?<![A-Za-z0-9])TRK[\s\-_:#/.{_DASHES}]*((?:19|20|21)\d\d)[\s\-_/.{_DASHES}]*(\d{{1,9}})(?!\d)",
    re.IGNORECASE,
)
TRACKING_NUMBER_FORMAT = "TRK-{year}-{sequence:06d}"


def normalise_tracking_number(year: str | int, sequence: str | int) -> str:
    return TRACKING_NUMBER_FORMAT.format(year=int(year), sequence=int(sequence))


def find_tracking_numbers(text: str) -> list[str]:
    """All tracking numbers in ``text``, canonical (``TRK-2026-000123``), in order, no repeats."""
    found: list[str] = []
    for match in _TRACKING.finditer(unicodedata.normalize("NFKC", text or "")):
        number = normalise_tracking_number(match.group(1), match.group(2))
        if number not in found:
            found.append(number)
    return found


def find_tracking_number(text: str) -> str | None:
    """The first tracking number in ``text``, if any."""
    numbers = find_tracking_numbers(text)
    return numbers[0] if numbers else None


# --- categories -------------------------------------------------------------------------

# How a keyword matched one or more words of the text; for each word only the matches of
# the highest level count, so a more specific reading of a word beats a looser one.
_PHRASE, _EXACT, _INFLECTED, _FUZZY = 4, 3, 2, 1
_WEIGHTS = {_PHRASE: 1.25, _EXACT: 1.0, _INFLECTED: 0.9, _FUZZY: 0.7}
_FUZZY_MIN_LENGTH = 5
_FUZZY_MIN_RATIO = 0.85
_WORDS = re.compile(r"[^\W\d_]+")
# Never keywords on their own, whatever the data says: callers may add the words of a
# category's name ("Roads and potholes", "Other") to its keywords.
STOPWORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it"),
        *("its", "my", "of", "on", "or", "other", "others", "our", "the", "their", "there", "this", "to"),
        *("was", "we", "with"),
    }
)
_SUFFIXES = (
    ("ies", "y"),
    ("age", ""),
    ("es", ""),
    ("s", ""),
    ("ing", ""),
    ("ing", "e"),
    ("ed", ""),
    ("ed", "e"),
    ("y", ""),
    ("y", "e"),
)


@dataclass(frozen=True)
class CategoryMatch:
    code: str
    score: float
    keywords: tuple[str, ...]


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    return _WORDS.findall(text)


def _forms(word: str) -> frozenset[str]:
    """The word and its plausible stems ("flooded" → flood, floode; "stopped" → stop)."""
    forms = {word}
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not (suffix == "s" and word.endswith("ss")):
            stem = word[: -len(suffix)]
            forms.add(stem + replacement)
            if not replacement and len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                forms.add(stem[:-1])  # stopped → stop, dumpped → dump
    return frozenset(forms)


def _fuzzy(word: str, keyword: str) -> float:
    if (
        len(word) < _FUZZY_MIN_LENGTH
        or len(keyword) < _FUZZY_MIN_LENGTH
        or abs(len(word) - len(keyword)) > 2
        or word[0] != keyword[0]
    ):
        return 0.0
    matcher = SequenceMatcher(None, word, keyword, autojunk=False)
    if matcher.real_quick_ratio() < _FUZZY_MIN_RATIO or matcher.quick_ratio() < _FUZZY_MIN_RATIO:
        return 0.0
    ratio = matcher.ratio()
    return ratio if ratio >= _FUZZY_MIN_RATIO else 0.0


@dataclass(frozen=True)
class _Hit:
    index: int  # position of the category in the input
    keyword: str
    positions: tuple[int, ...]
    level: int
    weight: float


def _keyword_hits(index: int, keyword: str, words: Sequence[str], forms: Sequence[frozenset[str]]) -> list[_Hit]:
    parts = _words(keyword)
    if not parts or (len(parts) == 1 and parts[0] in STOPWORDS):
        return []
    hits: list[_Hit] = []
    compact = "".join(parts)
    if len(parts) > 1:
        # a phrase: consecutive words, each exact or inflected ("street lights" for "street light")
        keyword_forms = [_forms(part) for part in parts]
        for start in range(len(words) - len(parts) + 1):
            if all(forms[start + k] & keyword_forms[k] for k in range(len(parts))):
                positions = tuple(range(start, start + len(parts)))
                hits.append(_Hit(index, keyword, positions, _PHRASE, _WEIGHTS[_PHRASE]))
    keyword_forms_compact = _forms(compact)
    for position, word in enumerate(words):
        if word == compact:
            level = _PHRASE if len(parts) > 1 else _EXACT
            hits.append(_Hit(index, keyword, (position,), level, _WEIGHTS[level]))
        elif forms[position] & keyword_forms_compact:
            hits.append(_Hit(index, keyword, (position,), _INFLECTED, _WEIGHTS[_INFLECTED]))
        elif ratio := _fuzzy(word, compact):
            hits.append(_Hit(index, keyword, (position,), _FUZZY, _WEIGHTS[_FUZZY] * ratio))
        # two words written apart for a one-word keyword: "street light" → "streetlight"
        if position + 1 < len(words) and len(compact) >= 6:
            joined = word + words[position + 1]
            if joined == compact or _forms(joined) & keyword_forms_compact:
                hits.append(_Hit(index, keyword, (position, position + 1), _PHRASE, _WEIGHTS[_PHRASE]))
    return hits


def rank_categories(
    text: str,
    categories: Iterable[tuple[str, Iterable[str]]],
) -> list[CategoryMatch]:
    """Every category with at least one keyword in ``text``, best first.

    The score sums the weights of the distinct keywords found (phrase 1.25, word 1.0,
    inflection 0.9, typo ≤ 0.7); a keyword shared by several categories ("bench" in both
    infrastructure and parks) counts for each of them divided by how many share it.
    Ties keep the order of ``categories``.
    """
    entries = [
        (code, [str(keyword) for keyword in keywords or () if str(keyword).strip()]) for code, keywords in categories
    ]
    words = _words(text)
    if not words or not entries:
        return []
    forms = [_forms(word) for word in words]
    hits = [
        hit
        for index, (_, keywords) in enumerate(entries)
        for keyword in dict.fromkeys(keywords)
        for hit in _keyword_hits(index, keyword, words, forms)
    ]
    best_level: dict[int, int] = {}
    for hit in hits:
        for position in hit.positions:
            best_level[position] = max(best_level.get(position, 0), hit.level)
    hits = [hit for hit in hits if all(hit.level >= best_level[position] for position in hit.positions)]

    sharing: dict[str, set[int]] = {}
    for index, (_, keywords) in enumerate(entries):
        for keyword in keywords:
            sharing.setdefault(" ".join(_words(keyword)), set()).add(index)
    found: dict[int, dict[str, float]] = {}
    for hit in hits:
        weight = hit.weight / len(sharing[" ".join(_words(hit.keyword))])
        per_keyword = found.setdefault(hit.index, {})
        per_keyword[hit.keyword] = max(per_keyword.get(hit.keyword, 0.0), weight)
    ranked = [
        CategoryMatch(entries[index][0], round(sum(per_keyword.values()), 4), tuple(per_keyword))
        for index, per_keyword in found.items()
    ]
    order = {code: position for position, (code, _) in enumerate(entries)}
    return sorted(ranked, key=lambda match: (-match.score, order[match.code]))


def find_category(
    text: str,
    categories: Iterable[tuple[str, Iterable[str]]],
    *,
    min_score: float = 0.5,
) -> str | None:
    """The code of the category ``text`` is most likely about, or None when no keyword
    matches well enough or two categories are equally likely (the intake agent should ask)."""
    ranked = rank_categories(text, categories)
    if not ranked or ranked[0].score < min_score:
        return None
    if len(ranked) > 1 and abs(ranked[0].score - ranked[1].score) < 1e-9:
        return None
    return ranked[0].code
