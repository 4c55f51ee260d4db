"""Intent classification for citizen chat messages, trained offline with scikit-learn.

The model is a TF-IDF union of word 1–2-grams (what the message talks about) and
character 2–5-grams inside word boundaries (robust to typos, "helo", "wat time u open"),
fed to a class-balanced multinomial logistic regression. Its ``predict_proba`` output is
the confidence: a probability distribution over :data:`INTENTS` that sums to 1.

Training takes a fraction of a second on the bundled ``data/intents_train.tsv``, so the
classifier is trained lazily, once per process, by :func:`get_classifier`. Everything is
deterministic (fixed ``random_state``, sorted inputs), so two processes give the same answer.

Messages the model knows nothing about (empty text, keyboard mashing) must not come out
confident: when none of the words of a message occur in the training vocabulary, the
probabilities are shrunk towards the uniform distribution (see :data:`UNKNOWN_DAMPING`).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

INTENTS: tuple[str, ...] = (
    "greeting",
    "services_inquiry",
    "office_hours",
    "report_concern",
    "track_concern",
    "complaint",
    "escalate_to_human",
    "feedback",
    "goodbye",
    "other",
)
FALLBACK_INTENT = "other"

DATA_DIR = Path(__file__).resolve().parent / "data"
TRAIN_PATH = DATA_DIR / "intents_train.tsv"
EVAL_PATH = DATA_DIR / "intents_eval.tsv"

# Inverse regularisation strength of the logistic regression, chosen by stratified 5-fold
# cross-validation on the *training* file only: macro-F1 plateaus (0.83) from C=10 on, while
# the log-loss of the probabilities keeps improving up to about C=30 (0.63 at 10, 0.56 at 30).
DEFAULT_C = 30.0
RANDOM_STATE = 0
# Share of the probability mass kept for a message none of whose words the model has seen;
# the rest is spread evenly over the intents so such messages come out with low confidence.
UNKNOWN_DAMPING = 0.35

_TRACKING = re.compile(r"\btrk[\s_-]*\d{4}[\s_-]*\d{1,9}\b", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"(?u)\b\w\w+\b")
_WORD_FEATURES = r"(?u)\b\w+\b"  # unlike sklearn's default, keeps one-letter words ("u", "i")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


@dataclass(frozen=True)
class Prediction:
    """The understood intent of a message: the best intent, its probability and all of them."""

    intent: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)

    def ranked(self) -> list[tuple[str, float]]:
        """All intents, most probable first."""
        return sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True)
class Example:
    intent: str
    text: str


def normalise(text: str) -> str:
    """What the model sees: NFKC, lower-case, straight quotes, tracking numbers as a single
    ``trknum`` token (their digits carry no meaning) and other numbers as ``0``."""
    text = unicodedata.normalize("NFKC", text or "").translate(_QUOTES).lower()
    text = _TRACKING.sub(" trknum ", text)
    text = _DIGITS.sub("0", text)
    return _SPACES.sub(" ", text).strip()


def load_examples(path: Path | str = TRAIN_PATH) -> list[Example]:
    """Read ``intent<TAB>utterance`` lines; blank lines and ``#`` comments are skipped."""
    examples: list[Example] = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            intent, sep, text = line.partition("\t")
            if not sep or not text.strip():
                raise ValueError(f"{path}:{number}: expected 'intent<TAB>utterance'")
            intent = intent.strip()
            if intent not in INTENTS:
                raise ValueError(f"{path}:{number}: unknown intent {intent!r}")
            examples.append(Example(intent, text.strip()))
    return examples


def build_pipeline(c: float = DEFAULT_C, random_state: int = RANDOM_STATE) -> Pipeline:
    """The untrained model; exposed so evaluation and tuning use exactly the same one."""
    features = FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    token_pattern=_WORD_FEATURES,
                    sublinear_tf=True,
                    min_df=1,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1),
            ),
        ]
    )
    classifier = LogisticRegression(
        C=c,
        class_weight="balanced",
        solver="newton-cg",
        max_iter=1000,
        random_state=random_state,
    )
    return Pipeline([("features", features), ("classifier", classifier)])


class _LinearModel:
    """The fitted pipeline's arithmetic for one message, without scikit-learn's per-call
    machinery: each vectorizer's own analyzer, vocabulary and idf (sublinear tf, l2 norm per
    block, as TfidfVectorizer), then the logistic regression's coefficients of the n-grams
    present and its softmax. Through the pipeline one short message cost about 2 ms of CPU,
    most of it building and checking sparse matrices; here it is a small fraction of that.
    The numbers equal ``pipeline.predict_proba`` up to float rounding (tested on every
    training and evaluation utterance)."""

    def __init__(self, pipeline: Pipeline) -> None:
        features, classifier = pipeline.steps[0][1], pipeline.steps[-1][1]
        vectorizers = [vectorizer for _, vectorizer in features.transformer_list]
        if (
            len(classifier.classes_) <= 2  # two classes would take the sigmoid, not the softmax
            or features.transformer_weights is not None
            or not all(isinstance(vectorizer, TfidfVectorizer) for vectorizer in vectorizers)
            or any(
                v.norm != "l2" or not v.sublinear_tf or not v.use_idf or v.binary or np.dtype(v.dtype) != np.float64
                for v in vectorizers
            )
        ):
            raise ValueError(
                "_LinearModel mirrors build_pipeline(): more than two intents, unweighted blocks of "
                "float64 sublinear tf-idf with l2 norm"
            )
        self._blocks: list[tuple[Callable[[str], list[str]], dict[str, int], np.ndarray, int]] = []
        offset = 0
        for vectorizer in vectorizers:
            self._blocks.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset))
            offset += len(vectorizer.vocabulary_)
        self._coefficients = np.ascontiguousarray(classifier.coef_.T)  # a row per feature
        self._intercept = classifier.intercept_

    def probabilities(self, text: str) -> np.ndarray:
        columns: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for analyze, vocabulary, idf, offset in self._blocks:
            counts: dict[int, int] = {}
            for gram in analyze(text):
                index = vocabulary.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            indices = np.fromiter(counts, dtype=np.intp, count=len(counts))
            values = (np.log(np.fromiter(counts.values(), dtype=float, count=len(counts))) + 1.0) * idf[indices]
            columns.append(indices + offset)
            weights.append(values / np.sqrt(values @ values))
        decision = self._intercept.copy()
        if columns:
            decision += np.concatenate(weights) @ self._coefficients[np.concatenate(columns)]
        exponentials = np.exp(decision - decision.max())
        return exponentials / exponentials.sum()


class IntentClassifier:
    """Train with :meth:`fit` (or pass examples to the constructor), then :meth:`predict`."""

    def __init__(
        self,
        examples: Iterable[Example] | None = None,
        *,
        c: float = DEFAULT_C,
        random_state: int = RANDOM_STATE,
    ) -> None:
        self.c = c
        self.random_state = random_state
        self.pipeline: Pipeline | None = None
        self._model: _LinearModel | None = None
        self.labels: tuple[str, ...] = ()
        self._vocabulary: frozenset[str] = frozenset()
        if examples is not None:
            self.fit(examples)

    def fit(self, examples: Iterable[Example]) -> IntentClassifier:
        rows = sorted({(example.intent, normalise(example.text)) for example in examples})
        if not rows:
            raise ValueError("no training examples")
        pipeline = build_pipeline(self.c, self.random_state)
        # One BLAS thread: on a loaded server, thread oversubscription makes this tiny fit 10× slower.
        with threadpool_limits(limits=1):
            pipeline.fit([text for _, text in rows], [intent for intent, _ in rows])
        self.pipeline = pipeline
        self._model = _LinearModel(pipeline)
        self.labels = tuple(str(label) for label in pipeline.classes_)
        self._vocabulary = frozenset(word for _, text in rows for word in _WORD.findall(text))
        return self

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        if self.pipeline is None:
            raise RuntimeError("IntentClassifier.predict called before fit")
        normalised = [normalise(text) for text in texts]
        probabilities = np.asarray(self._predict_proba(normalised), dtype=float)
        uniform = 1.0 / len(self.labels)
        predictions = []
        for text, row in zip(normalised, probabilities, strict=True):
            coverage = self._coverage(text)
            if coverage is None:  # nothing to go on at all: empty or punctuation only
                row = np.full(len(self.labels), uniform)
            elif coverage == 0.0:
                row = UNKNOWN_DAMPING * row + (1.0 - UNKNOWN_DAMPING) * uniform
            scores = {label: float(value) for label, value in zip(self.labels, row, strict=True)}
            best = max(self.labels, key=lambda label: (scores[label], label == FALLBACK_INTENT))
            if coverage is None:
                best = FALLBACK_INTENT
            predictions.append(Prediction(best, float(min(1.0, max(0.0, scores[best]))), scores))
        return predictions

    def _predict_proba(self, normalised: list[str]) -> np.ndarray:
        assert self._model is not None
        return np.array([self._model.probabilities(text) for text in normalised])

    def pipeline_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``predict_proba`` of the scikit-learn pipeline itself, for checking the fast path."""
        assert self.pipeline is not None
        return self.pipeline.predict_proba([normalise(text) for text in texts])

    def _coverage(self, text: str) -> float | None:
        """Share of the message's words seen in training; None when it has no words."""
        words = _WORD.findall(text)
        if not words:
            return None if not re.search(r"\w", text) else 0.0
        return sum(word in self._vocabulary for word in words) / len(words)


_lock = threading.Lock()
_classifier: IntentClassifier | None = None


def get_classifier() -> IntentClassifier:
    """The process-wide classifier, trained on first use from :data:`TRAIN_PATH`."""
    global _classifier
    if _classifier is None:
        with _lock:
            if _classifier is None:
                _classifier = IntentClassifier(load_examples(TRAIN_PATH))
    return _classifier


def predict(text: str) -> Prediction:
    """Shortcut for ``get_classifier().predict(text)``."""
    return get_classifier().predict(text)
