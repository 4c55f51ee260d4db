"""An optional OpenAI-compatible chat-completions provider that rewrites the guide's answer
from the retrieved passages, streamed token by token. Any failure raises LLMError and the
embedded engine's answer is used instead."""

from __future__ import annotations

import json
from collections.abc import Iterator

import requests
from django.conf import settings

SYSTEM_PROMPT = (
    "You are the assistant of a city administration. Answer the citizen's question using ONLY the "
    "passages from the city's knowledge base below. If they do not contain the answer, say you don't know "
    "and offer to connect the citizen with a member of staff. Be brief and concrete."
)


class LLMError(Exception):
    pass


def llm_configured() -> bool:
    return bool(settings.LLM_BASE_URL and settings.LLM_MODEL)


def llm_label() -> str:
    return f"llm:{settings.LLM_MODEL}"


def stream_answer(*, question: str, passages: list[dict[str, str]]) -> Iterator[str]:
    context = "\n\n".join(f"[{i + 1}] {p['title']}\n{p['text']}" for i, p in enumerate(passages))
    payload = {
        "model": settings.LLM_MODEL,
        "stream": True,
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": f"{SYSTEM_PROMPT}\n\nPassages:\n{context}"},
            {"role": "user", "content": question},
        ],
    }
    headers = {"Content-Type": "application/json"}
    if settings.LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.LLM_API_KEY}"
    url = settings.LLM_BASE_URL.rstrip("/") + "/chat/completions"
    try:
        response = requests.post(
            url, json=payload, headers=headers, stream=True, timeout=settings.LLM_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise LLMError(f"provider unreachable: {type(exc).__name__}") from None
    with response:
        if response.status_code != 200:
            raise LLMError(f"provider answered HTTP {response.status_code}")
        produced = False
        try:
            for raw in response.iter_lines(decode_unicode=True):
                if not raw or not raw.startswith("data:"):
                    continue
                data = raw[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                except (ValueError, KeyError, IndexError, TypeError):
                    raise LLMError("provider sent a malformed chunk") from None
                if delta:
                    produced = True
                    yield delta
        except requests.RequestException as exc:
            raise LLMError(f"provider stream failed: {type(exc).__name__}") from None
        if not produced:
            raise LLMError("provider sent no content")
