"""The assistant's offline understanding: intents, sentiment, tracking numbers, categories.

Nothing here touches the database; the root conftest's autouse fixture only clears the cache.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from apps.chat.nlu import entities, sentiment
from apps.chat.nlu.evaluation import evaluate
from apps.chat.nlu.intents import (
    EVAL_PATH,
    INTENTS,
    TRAIN_PATH,
    IntentClassifier,
    Prediction,
    get_classifier,
    load_examples,
    normalise,
    predict,
)

# The default categories of the concerns app (migration 0002), as the intake agent passes them.
CATEGORIES: list[tuple[str, list[str]]] = [
    ("infrastructure", ["sidewalk", "bridge", "building", "bench", "railing", "wall", "stairs"]),
    ("roads", ["pothole", "road", "asphalt", "crack", "curb", "street"]),
    ("street_lighting", ["light", "lamp", "streetlight", "dark", "bulb", "flickering"]),
    ("sanitation", ["trash", "garbage", "bin", "waste", "litter", "dumping", "recycling"]),
    ("parks", ["park", "tree", "playground", "grass", "branch", "bench"]),
    ("noise", ["noise", "loud", "music", "party", "barking", "construction"]),
    ("water", ["water", "leak", "pipe", "drain", "flood", "sewer", "hydrant"]),
    ("traffic", ["traffic", "signal", "sign", "crossing", "speeding", "parking"]),
    ("public_safety", ["danger", "hazard", "unsafe", "wire", "manhole", "safety"]),
    ("other", []),
]


def _sentence_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


# --- data -------------------------------------------------------------------------------


def test_every_intent_has_enough_training_and_eval_examples() -> None:
    train = Counter(example.intent for example in load_examples(TRAIN_PATH))
    held_out = Counter(example.intent for example in load_examples(EVAL_PATH))
    assert set(train) == set(INTENTS) == set(held_out)
    for intent in INTENTS:
        assert train[intent] >= 40, intent
        assert held_out[intent] >= 15, intent


def test_eval_set_shares_no_sentence_with_training_set() -> None:
    train = load_examples(TRAIN_PATH)
    held_out = load_examples(EVAL_PATH)
    train_sentences = {_sentence_key(example.text) for example in train}
    train_word_sets = {frozenset(_sentence_key(example.text).split()) for example in train}
    for example in held_out:
        assert _sentence_key(example.text) not in train_sentences, example.text
        # not even the same words in another order or with other punctuation
        assert frozenset(_sentence_key(example.text).split()) not in train_word_sets, example.text


def test_no_duplicates_within_a_file() -> None:
    for path in (TRAIN_PATH, EVAL_PATH):
        keys = Counter(_sentence_key(example.text) for example in load_examples(path))
        assert [key for key, count in keys.items() if count > 1] == [], path.name


# --- intents ----------------------------------------------------------------------------


def test_held_out_accuracy_and_macro_f1() -> None:
    report = evaluate()
    assert report.accuracy >= 0.90, report.errors
    assert report.macro_f1 >= 0.88, report.per_intent
    assert set(report.per_intent) == set(INTENTS)
    assert sum(metrics["support"] for metrics in report.per_intent.values()) == report.support
    assert sum(sum(row.values()) for row in report.confusion.values()) == report.support


def test_classifier_is_trained_once_per_process() -> None:
    assert get_classifier() is get_classifier()


def test_training_is_deterministic() -> None:
    examples = load_examples(TRAIN_PATH)
    first = IntentClassifier(examples)
    second = IntentClassifier(list(reversed(examples)))
    text = "is the recycling centre open on sunday"
    assert first.predict(text) == second.predict(text)


def test_fast_path_gives_the_pipelines_own_probabilities() -> None:
    """predict() computes the fitted pipeline's arithmetic itself (intents._LinearModel); it
    must give scikit-learn's numbers on everything the model has seen or been judged on, and
    on messages where one or both feature blocks find nothing."""
    classifier = get_classifier()
    texts = [example.text for example in load_examples(TRAIN_PATH) + load_examples(EVAL_PATH)]
    texts += ["", "x", "zzzzqqq", "TRK-2026-000123", "hello hello hello hello", "ÉCOLE fermée?!", "a" * 1000]
    expected = classifier.pipeline_proba(texts)
    got = classifier._predict_proba([normalise(text) for text in texts])
    assert got.shape == expected.shape == (len(texts), len(INTENTS))
    assert abs(got - expected).max() < 1e-12
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.mark.parametrize(
    "text",
    ["hi", "Hello there!", "bye", "I want to talk to a person", "", "   ", "asdkjh qwpoeiru zxcmnb", "TRK-2026-000123"],
)
def test_confidences_are_probabilities(text: str) -> None:
    prediction = predict(text)
    assert isinstance(prediction, Prediction)
    assert prediction.intent in INTENTS
    assert set(prediction.scores) == set(INTENTS)
    assert all(0.0 <= score <= 1.0 for score in prediction.scores.values())
    assert sum(prediction.scores.values()) == pytest.approx(1.0)
    assert 0.0 <= prediction.confidence <= 1.0
    assert prediction.confidence == pytest.approx(prediction.scores[prediction.intent])
    assert prediction.confidence == pytest.approx(max(prediction.scores.values()))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hello", "greeting"),
        ("good morning, can you help me?", "greeting"),
        ("how do I apply for a parking permit", "services_inquiry"),
        ("when is the bulky waste collected", "services_inquiry"),
        ("how much is the dog tax", "services_inquiry"),
        ("when are you open", "office_hours"),
        ("opening hours of city hall", "office_hours"),
        ("there's a pothole on Oak St", "report_concern"),
        ("streetlight broken near my house", "report_concern"),
        ("what's the status of TRK-2026-000123", "track_concern"),
        ("any update on my report", "track_concern"),
        ("this is ridiculous, nobody fixed it for weeks", "complaint"),
        ("I want to talk to a person", "escalate_to_human"),
        ("get me a human", "escalate_to_human"),
        ("thanks, that was helpful", "feedback"),
        ("your service is great", "feedback"),
        ("the answer was wrong", "feedback"),
        ("bye", "goodbye"),
        ("that's all", "goodbye"),
        ("what's the capital of France", "other"),
    ],
)
def test_sensible_examples(text: str, intent: str) -> None:
    prediction = predict(text)
    assert prediction.intent == intent, prediction.ranked()[:3]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("wat time does the libary open", "office_hours"),
        ("helo", "greeting"),
        ("THERE IS A HUGE POTHOLE ON MAIN STREET", "report_concern"),
        ("trk 2026 000777 status?", "track_concern"),
    ],
)
def test_robust_to_typos_case_and_number_formats(text: str, intent: str) -> None:
    assert predict(text).intent == intent


def test_clear_messages_are_confident() -> None:
    for text in ("hi", "bye", "get me a human", "what are your opening hours"):
        assert predict(text).confidence >= 0.7, text


@pytest.mark.parametrize("text", ["", "   ", "?!", "xqzv plmk wrrt", "asdkjh qwpoeiru zxcmnb", "kjhkjhkjh"])
def test_gibberish_and_empty_text_have_low_confidence(text: str) -> None:
    prediction = predict(text)
    assert prediction.confidence < 0.35, prediction.ranked()[:3]


def test_empty_text_is_other() -> None:
    assert predict("").intent == "other"


# --- sentiment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("thanks, that was helpful", "positive"),
        ("your service is great, thank you!", "positive"),
        ("love this, super useful", "positive"),
        ("the answer was wrong", "negative"),
        ("this is terrible, I'm very angry", "negative"),
        ("what time does city hall open", "neutral"),
        ("how do I apply for a building permit?", "neutral"),
        ("", "neutral"),
        # domain words
        ("there's a pothole on Oak St", "neutral"),
        ("streetlight broken near my house", "neutral"),
        ("dead animal on the road near the school", "neutral"),
        ("please help me with my parking permit", "neutral"),
        ("I want to talk to a person", "neutral"),
        ("How do I pay my property tax?", "neutral"),
        ("Can I pay the tax by bank transfer?", "neutral"),
        ("What happens if I pay my tax late?", "neutral"),
        ("When is the waste collected in my street?", "neutral"),
        ("How do I register a death?", "neutral"),
        ("How do I report a crime?", "neutral"),
        ("How do I pay a parking fine?", "neutral"),
        ("I lost my library card", "neutral"),
        ("I'm not fine, this is a disgrace", "negative"),
        ("the lamp is still broken", "negative"),
        ("still not fixed after a month", "negative"),
        ("this is ridiculous, nobody fixed it for weeks", "negative"),
        ("I reported it and nobody came", "negative"),
        ("nobody cares about our street", "negative"),
        ("your city is a joke", "negative"),
        ("I'm fed up", "negative"),
        ("useless", "negative"),
        ("what a waste of time", "negative"),
    ],
)
def test_sentiment_labels(text: str, label: str) -> None:
    result = sentiment.analyse(text)
    assert result.label == label, result
    assert -1.0 <= result.score <= 1.0


def test_sentiment_label_matches_score_thresholds() -> None:
    for text in ("great", "bad", "ok", "the bin is full", "STILL BROKEN!!!"):
        result = sentiment.analyse(text)
        expected = "positive" if result.score >= 0.05 else "negative" if result.score <= -0.05 else "neutral"
        assert result.label == expected


def test_domain_lexicon_does_not_leak_into_new_analyzers() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    assert sentiment.get_analyzer() is sentiment.get_analyzer()
    assert SentimentIntensityAnalyzer().lexicon.get("nobody") is None


def test_negative_sentiment_is_stronger_when_frustration_adds_up() -> None:
    plain = sentiment.analyse("the streetlight is broken")
    angry = sentiment.analyse("the streetlight is STILL broken after three weeks, this is ridiculous")
    assert angry.score < plain.score
    assert angry.score <= -0.5


# --- tracking numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what's the status of TRK-2026-000123", ["TRK-2026-000123"]),
        ("status of trk-2026-000123?", ["TRK-2026-000123"]),
        ("my number is trk 2026 000123", ["TRK-2026-000123"]),
        ("trk2026000123", ["TRK-2026-000123"]),
        ("TRK_2025_004512 please", ["TRK-2025-004512"]),
        ("ref TRK\u20132026\u2013000045.", ["TRK-2026-000045"]),
        ("TRK-2026/000031, thanks", ["TRK-2026-000031"]),
        ("TRK-2026-123", ["TRK-2026-000123"]),
        ("TRK-2026-1234567", ["TRK-2026-1234567"]),
        (
            "I have two: TRK-2026-000123 and trk 2025 000999, and again TRK-2026-000123",
            ["TRK-2026-000123", "TRK-2025-000999"],
        ),
        ("(TRK-2026-000001)(TRK-2026-000002)", ["TRK-2026-000001", "TRK-2026-000002"]),
        ("I lost my tracking number", []),
        ("call 2026 000123", []),
        ("XTRK-2026-000123", []),
        ("TRK-26-000123", []),
        ("", []),
    ],
)
def test_find_tracking_numbers(text: str, expected: list[str]) -> None:
    assert entities.find_tracking_numbers(text) == expected


def test_find_tracking_number_returns_the_first() -> None:
    assert entities.find_tracking_number("trk 2026 000002 or TRK-2026-000001") == "TRK-2026-000002"
    assert entities.find_tracking_number("nothing here") is None


# --- categories -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("There's a pothole on Oak St", "roads"),
        ("big potholes on the road to the hospital", "roads"),
        ("a potholle near the school", "roads"),  # typo
        ("streetlight broken near my house", "street_lighting"),
        ("the street light on Maple Ave is flickering", "street_lighting"),
        ("street lights out on the whole block", "street_lighting"),
        ("overflowing garbage bins at the bus stop", "sanitation"),
        ("someone dumped rubbish, illegal dumping again", "sanitation"),
        ("garbege everywhere", "sanitation"),
        ("tree branches fell on the playground", "parks"),
        ("the bench in the park is broken", "parks"),
        ("loud music every night next door", "noise"),
        ("my neighbour is so noisy", "noise"),
        ("water leaking from a burst pipe", "water"),
        ("the street is flooded, drains blocked", "water"),
        ("no parking signs are missing", "traffic"),
        ("exposed wires hanging from a pole", "public_safety"),
        ("open manhole on Forest Avenue", "public_safety"),
        ("the railing of the bridge is loose", "infrastructure"),
    ],
)
def test_find_category(text: str, code: str) -> None:
    assert entities.find_category(text, CATEGORIES) == code, entities.rank_categories(text, CATEGORIES)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello, how are you",
        "I want to know about taxes",
        "the bench is wobbly",  # bench is both infrastructure and parks: ask
    ],
)
def test_find_category_none_when_unknown_or_ambiguous(text: str) -> None:
    assert entities.find_category(text, CATEGORIES) is None


def test_more_specific_reading_of_a_word_wins() -> None:
    ranked = entities.rank_categories("parking on the pavement again", CATEGORIES)
    assert [match.code for match in ranked] == ["traffic"]


def test_category_keywords_come_from_the_caller() -> None:
    categories = [("graffiti", ["graffiti", "tag", "spray paint"]), ("roads", ["pothole"])]
    assert entities.find_category("someone used spray paint on the school", categories) == "graffiti"
    assert entities.find_category("Graffiti on the wall", categories) == "graffiti"
    assert entities.find_category("pothole", categories) == "roads"
    assert entities.find_category("pothole", []) is None


def test_name_words_and_stopwords_are_ignored() -> None:
    categories = [("roads", ["roads", "and", "potholes"]), ("other", ["other"])]
    assert entities.find_category("the other day I saw a pothole", categories) == "roads"
    assert entities.find_category("this and that", categories) is None
