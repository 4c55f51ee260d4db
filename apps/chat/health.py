"""The assistant's component of /system/health (SPEC §10 ``ai_engine``): the embedded engine,
which answers whenever the optional LLM provider is unset or failing, understands a message."""

from __future__ import annotations

from typing import get_args

from apps.core.health import HEALTHY, UNHEALTHY

PROBE = "Hello, when is City Hall open?"


def check_ai_engine() -> str:
    # Imported here: the first call trains the intent classifier, which is not work for startup.
    from apps.chat.engine.understanding import understand
    from apps.chat.nlu.intents import INTENTS
    from apps.chat.nlu.sentiment import SentimentLabel

    understood = understand(PROBE)
    ok = (
        understood.intent in INTENTS
        and 0.0 <= understood.confidence <= 1.0
        and understood.sentiment in get_args(SentimentLabel)
    )
    return HEALTHY if ok else UNHEALTHY
