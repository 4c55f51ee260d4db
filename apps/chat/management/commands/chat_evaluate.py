"""Evaluate the chat assistant's intent classifier on the held-out evaluation set."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.chat.nlu.evaluation import evaluate
from apps.chat.nlu.intents import EVAL_PATH, INTENTS, TRAIN_PATH, IntentClassifier, load_examples


class Command(BaseCommand):
    help = "Train the intent classifier and print accuracy, macro-F1 and per-intent scores on the eval set."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--errors", action="store_true", help="List the misclassified sentences.")
        parser.add_argument("--confusion", action="store_true", help="Print the confusion matrix.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        classifier = IntentClassifier(load_examples(TRAIN_PATH))
        trained_in = time.perf_counter() - started
        report = evaluate(classifier, EVAL_PATH)
        write = self.stdout.write

        write(f"Training set: {TRAIN_PATH.name} ({len(load_examples(TRAIN_PATH))} sentences, {trained_in:.2f}s)")
        write(f"Eval set:     {EVAL_PATH.name} ({report.support} sentences)")
        write("")
        write(f"Accuracy: {report.accuracy:.3f}")
        write(f"Macro-F1: {report.macro_f1:.3f}")
        write("")
        width = max(len(intent) for intent in INTENTS)
        write(f"{'intent':<{width}}  precision  recall     f1  support")
        for intent, metrics in report.per_intent.items():
            write(
                f"{intent:<{width}}  {metrics['precision']:>9.3f}  {metrics['recall']:>6.3f}  "
                f"{metrics['f1']:>5.3f}  {metrics['support']:>7d}"
            )

        if options["confusion"]:
            short = {intent: intent[:6] for intent in INTENTS}
            write("")
            write("Confusion (rows: expected, columns: predicted)")
            write(" " * width + "  " + " ".join(f"{short[intent]:>6}" for intent in INTENTS))
            for intent, row in report.confusion.items():
                write(f"{intent:<{width}}  " + " ".join(f"{row[other]:>6d}" for other in INTENTS))

        if options["errors"]:
            write("")
            write(f"Misclassified ({len(report.errors)}):")
            for error in report.errors:
                write(f"  {error.expected} -> {error.predicted} ({error.confidence:.2f}): {error.text}")
