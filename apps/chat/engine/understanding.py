"""What a user message means: intent with confidence, sentiment, tracking numbers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Understanding:
    intent: str
    confidence: float
    sentiment: str
    sentiment_score: float
    tracking_numbers: list[str] = field(default_factory=list)


def understand(text: str) -> Understanding:
    # Imported here so the trained model loads on first use, not when URLs are imported.
    from apps.chat.nlu import entities, sentiment
    from apps.chat.nlu.intents import get_classifier

    prediction = get_classifier().predict(text)
    mood = sentiment.analyse(text)
    return Understanding(
        intent=prediction.intent,
        confidence=round(float(prediction.confidence), 4),
        sentiment=mood.label,
        sentiment_score=round(float(mood.score), 4),
        tracking_numbers=entities.find_tracking_numbers(text),
    )
