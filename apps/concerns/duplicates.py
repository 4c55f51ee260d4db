"""Finding open concerns that a new one probably repeats: same category, and either within
DUPLICATE_RADIUS_M when both have coordinates, or a very similar text."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from apps.concerns.models import OPEN_STATUSES, Concern

DUPLICATE_RADIUS_M = 100.0
TEXT_SIMILARITY_THRESHOLD = 0.6
# Bounded candidate sets keep creation cheap on a city's worth of concerns.
TEXT_CANDIDATES = 200
LOOKBACK = timedelta(days=90)
_EARTH_RADIUS_M = 6_371_000.0
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "at",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "the",
        "there",
        "this",
        "to",
        "was",
        "were",
        "with",
    }
)


@dataclass(frozen=True)
class Match:
    concern: Concern
    reason: str
    distance_m: float | None = None
    similarity: float | None = None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(a))


def words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the significant words."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def find_duplicates(concern: Concern) -> list[Match]:
    open_same_category = Concern.objects.filter(
        category_id=concern.category_id,
        status__in=OPEN_STATUSES,
        submitted_at__gte=timezone.now() - LOOKBACK,
    ).exclude(pk=concern.pk)
    matches: dict[object, Match] = {}
    if concern.latitude is not None and concern.longitude is not None:
        # A bounding box on the index first, then the exact distance.
        dlat = DUPLICATE_RADIUS_M / 111_320.0
        dlon = dlat / max(0.01, math.cos(math.radians(concern.latitude)))
        nearby = open_same_category.filter(
            latitude__range=(concern.latitude - dlat, concern.latitude + dlat),
            longitude__range=(concern.longitude - dlon, concern.longitude + dlon),
        )[:TEXT_CANDIDATES]
        for other in nearby:
            meters = distance_m(concern.latitude, concern.longitude, other.latitude, other.longitude)
            if meters <= DUPLICATE_RADIUS_M:
                matches[other.pk] = Match(other, "nearby", distance_m=round(meters, 1))
    text = f"{concern.title} {concern.description}"
    for other in open_same_category.order_by("-submitted_at")[:TEXT_CANDIDATES]:
        if other.pk in matches:
            continue
        score = similarity(text, f"{other.title} {other.description}")
        if score >= TEXT_SIMILARITY_THRESHOLD:
            matches[other.pk] = Match(other, "similar_text", similarity=round(score, 3))
    return list(matches.values())
