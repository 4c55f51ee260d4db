"""How well the intent classifier does on the held-out ``data/intents_eval.tsv``.

The evaluation sentences were written separately from the training sentences (different
wording, no shared sentence; a test checks this), so the numbers estimate how the assistant
understands messages it has never seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from apps.chat.nlu.intents import EVAL_PATH, INTENTS, IntentClassifier, get_classifier, load_examples


class IntentMetrics(TypedDict):
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Misclassified:
    text: str
    expected: str
    predicted: str
    confidence: float


@dataclass(frozen=True)
class Report:
    accuracy: float
    macro_f1: float
    per_intent: dict[str, IntentMetrics]
    # confusion[expected][predicted] = count, over all intents in INTENTS order
    confusion: dict[str, dict[str, int]]
    support: int = 0
    errors: list[Misclassified] = field(default_factory=list)


def evaluate(classifier: IntentClassifier | None = None, path: Path | str = EVAL_PATH) -> Report:
    """Score ``classifier`` (the process-wide one by default) on the examples in ``path``."""
    classifier = classifier or get_classifier()
    examples = load_examples(path)
    predictions = classifier.predict_many([example.text for example in examples])
    expected = [example.intent for example in examples]
    predicted = [prediction.intent for prediction in predictions]
    labels = list(INTENTS)

    precision, recall, f1, support = precision_recall_fscore_support(
        expected, predicted, labels=labels, zero_division=0
    )
    per_intent: dict[str, IntentMetrics] = {
        label: IntentMetrics(
            precision=float(precision[i]), recall=float(recall[i]), f1=float(f1[i]), support=int(support[i])
        )
        for i, label in enumerate(labels)
    }
    matrix = confusion_matrix(expected, predicted, labels=labels)
    confusion = {label: {other: int(matrix[i][j]) for j, other in enumerate(labels)} for i, label in enumerate(labels)}
    errors = [
        Misclassified(example.text, example.intent, prediction.intent, prediction.confidence)
        for example, prediction in zip(examples, predictions, strict=True)
        if prediction.intent != example.intent
    ]
    present = [label for label in labels if label in set(expected)]
    return Report(
        accuracy=float(accuracy_score(expected, predicted)),
        macro_f1=float(f1_score(expected, predicted, labels=present, average="macro", zero_division=0)),
        per_intent=per_intent,
        confusion=confusion,
        support=len(examples),
        errors=errors,
    )
