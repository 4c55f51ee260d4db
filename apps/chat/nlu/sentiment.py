"""Sentiment of a citizen's message with VADER, adapted to what people write to a city.

VADER is a rule-based analyser tuned on social-media text. Out of the box it reads the
*subject* of a city report as the writer's mood ("broken", "dead", "fire", "problem" are
strongly negative, so "dead animal on the road" scores as an angry message) while it misses
the words that actually carry a citizen's frustration ("nobody", "weeks", "still broken",
"fed up") and even reads some as positive ("nobody cares" scores +0.46 because of "cares",
"what a joke" is positive because of "joke"). Sentiment drives escalation to a human (on
sustained negative sentiment), so both errors matter: :data:`DOMAIN_LEXICON` neutralises the
descriptive words and adds the frustration markers, and :data:`DOMAIN_PHRASES` turns a few
multi-word expressions into single lexicon tokens, because VADER scores one word at a time.

The label follows VADER's own convention: compound ≥ 0.05 positive, ≤ -0.05 negative.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SentimentLabel = Literal["positive", "neutral", "negative"]

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05

# Valences on VADER's scale (-4 … +4; "bad" is -2.5, "good" +1.9).
DOMAIN_LEXICON: dict[str, float] = {
    # What the concern is about describes the problem, not the citizen's feelings: a plain
    # report ("streetlight broken near my house", "pothole on Oak St") should be neutral.
    # Small negative values (below ±0.19 a single word stays neutral) still let them add up
    # with real frustration markers.
    "pothole": 0.0,
    "potholes": 0.0,
    "graffiti": 0.0,
    "litter": 0.0,
    "trash": 0.0,
    "garbage": 0.0,
    "broken": -0.15,
    "damaged": -0.15,
    "dead": -0.15,
    "fire": -0.1,
    "missing": -0.1,
    "blocked": -0.1,
    "stuck": -0.1,
    "fallen": -0.1,
    "leak": -0.1,
    "dumped": -0.15,
    "dumping": -0.15,
    "abandoned": -0.15,
    "problem": -0.15,
    "emergency": -0.15,
    "damage": -0.15,
    "noisy": -0.15,
    "illegal": -0.15,
    "accident": -0.3,
    "danger": -0.3,
    "dangerous": -0.3,
    "stolen": -0.15,
    # The services themselves: "how do I pay my tax", "when is waste collected", "register a
    # death", "report a crime", "pay a parking fine" are questions, not moods (VADER: pay -0.4,
    # waste -1.8, death -2.9, crime -2.5, fine +0.8). Two such questions in a row read as
    # sustained anger and went to a person instead of being answered. ("a waste of time" is
    # a phrase below.)
    "pay": 0.0,
    "waste": 0.0,
    "death": 0.0,
    "died": 0.0,
    "funeral": 0.0,
    "grave": 0.0,
    "crime": -0.1,
    "criminal": -0.1,
    "penalty": -0.1,
    "debt": -0.1,
    "fine": 0.0,
    "unemployment": 0.0,
    "eviction": -0.1,
    "cancel": 0.0,
    "cancelled": 0.0,
    "lost": -0.1,
    # Citizens ask for help and say what they want all the time: "please help me with a
    # permit" or "I want to talk to a person" are requests, not happy messages (VADER: help
    # +1.7, please +1.3, want +0.3). Thanks and praise stay positive ("thanks for the help").
    "help": 0.0,
    "please": 0.0,
    "want": 0.0,
    # Frustration markers in complaints about the city that VADER lacks or underrates.
    "nobody": -1.2,
    "noone": -1.2,
    "weeks": -0.6,
    "months": -0.6,
    "ages": -0.6,
    "forever": -0.8,
    "useless": -2.3,
    "ridiculous": -2.2,
    "pointless": -1.8,
    "unhelpful": -1.8,
    "incorrect": -1.5,
    "outdated": -1.2,
    "absurd": -1.8,
    "shambles": -2.0,
    "nightmare": -2.2,
    "ignored": -1.8,
    "disrespectful": -2.0,
    "unbelievable": -1.5,  # VADER: +0.8 (amazement); in complaints it is outrage
    "laughable": -1.5,  # VADER: +0.2
    "joke": 0.0,  # VADER: +1.2; "your city is a joke" is negative (see the phrases), "tell me a joke" neutral
    "incompetence": -2.2,
    "bureaucracy": -1.0,
}

# Multi-word expressions, rewritten to one token (``still_broken``) that the lexicon scores.
DOMAIN_PHRASES: dict[str, tuple[str, float]] = {
    r"still\s+(?:broken|dark|not\s+(?:been\s+)?(?:fixed|repaired|done|resolved|working|cleaned|collected))": (
        "still_broken",
        -2.2,
    ),
    r"still\s+(?:waiting|nothing|there)": ("still_waiting", -1.8),
    r"nothing\s+(?:has\s+)?(?:happens|happened|changed|been\s+done|gets\s+done|ever\s+gets\s+(?:done|fixed))": (
        "nothing_happened",
        -1.8,
    ),
    r"(?:nobody|no\s+one|noone)\s+(?:cares|care|bothers|listens|answers|came|showed\s+up)": ("nobody_cares", -2.2),
    r"fed\s+up": ("fed_up", -2.0),
    r"waste\s+of\s+(?:time|money|taxes)": ("waste_of_time", -2.0),
    r"(?:is|what|such)\s+a\s+joke": ("is_a_joke", -2.0),
    r"not\s+good\s+enough": ("not_good_enough", -1.8),
    r"enough\s+is\s+enough": ("enough_is_enough", -2.0),
    r"(?:losing|lost)\s+(?:my\s+)?patience": ("losing_patience", -1.8),
}
_PHRASES = [(re.compile(rf"\b{pattern}\b", re.IGNORECASE), token) for pattern, (token, _) in DOMAIN_PHRASES.items()]


@dataclass(frozen=True)
class Sentiment:
    """``label`` from the ``score`` (VADER's compound score in -1 … 1)."""

    label: SentimentLabel
    score: float

    @property
    def is_negative(self) -> bool:
        return self.label == "negative"


def label_for(score: float) -> SentimentLabel:
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


_lock = threading.Lock()
_analyzer: SentimentIntensityAnalyzer | None = None


def get_analyzer() -> SentimentIntensityAnalyzer:
    """The process-wide analyser with the domain lexicon applied (its lexicon is per instance)."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                analyzer = SentimentIntensityAnalyzer()
                analyzer.lexicon.update(DOMAIN_LEXICON)
                analyzer.lexicon.update(dict(DOMAIN_PHRASES.values()))
                _analyzer = analyzer
    return _analyzer


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").replace("\u2019", "'")
    for pattern, token in _PHRASES:
        # Keep shouting visible: VADER boosts words in capitals ("STILL BROKEN").
        text = pattern.sub(lambda match, token=token: token.upper() if match.group(0).isupper() else token, text)
    return text


def analyse(text: str) -> Sentiment:
    """Sentiment of one message; empty text is neutral."""
    if not text or not text.strip():
        return Sentiment("neutral", 0.0)
    score = float(get_analyzer().polarity_scores(_prepare(text))["compound"])
    score = max(-1.0, min(1.0, score))
    return Sentiment(label_for(score), score)


analyze = analyse
