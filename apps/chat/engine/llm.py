"""An optional OpenAI-compatible chat-completions provider that rewrites the guide's answer
from the retrieved passages, streamed token by token. Any failure raises LLMError and the
embedded engine's answer is used instead."""

from __future__ import annotations

import json
import time
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
    """The provider's answer in the pieces it sends. Leading blank pieces are held back, so
    nothing is yielded unless real text follows; LLMError after a yield means the answer was
    cut short (a stream that ends without ``[DONE]`` or a finish, the length limits, a
    broken chunk)."""
    context = "\n\n".join(f"[{i + 1}] {p['title']}\n{p['text']}" for i, p in enumerate(passages))
    payload = {
        "model": settings.LLM_MODEL,
        "stream": True,
        "temperature": 0.2,
        "max_tokens": settings.LLM_MAX_TOKENS,
        "messages": [
            {"role": "system", "content": f"{SYSTEM_PROMPT}\n\nPassages:\n{context}"},
            {"role": "user", "content": question},
        ],
    }
    headers = {"Content-Type": "application/json"}
    if settings.LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.LLM_API_KEY}"
    url = settings.LLM_BASE_URL.rstrip("/") + "/chat/completions"
    deadline = time.monotonic() + settings.LLM_ANSWER_SECONDS
    try:
        response = requests.post(
            url, json=payload, headers=headers, stream=True, timeout=settings.LLM_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise LLMError(f"provider unreachable: {type(exc).__name__}") from None
    with response:
        if response.status_code != 200:
            raise LLMError(f"provider answered HTTP {response.status_code}")
        try:
            yield from _answer_pieces(_lines(response.iter_content(chunk_size=None), deadline), deadline)
        except LLMError:
            raise
        except Exception as exc:  # whatever the wire brings (a reset, a body that is not text) is the provider's
            raise LLMError(f"provider stream failed: {type(exc).__name__}") from None


# Longer than any chunk a provider sends: a line that grows past it is not an answer.
MAX_LINE_BYTES = 256 * 1024


def _lines(received: Iterator[bytes], deadline: float) -> Iterator[bytes]:
    """The lines of the body as its bytes arrive, with the deadline checked on each arrival
    (requests' iter_lines checks nothing until a whole line is in, and keeps it all)."""
    pending = b""
    for data in received:
        if time.monotonic() > deadline:
            raise LLMError("provider took longer than LLM_ANSWER_SECONDS")
        pending += data
        *complete, pending = pending.split(b"\n")
        yield from (line.rstrip(b"\r") for line in complete)
        if len(pending) > MAX_LINE_BYTES:
            raise LLMError("provider sent a line longer than any answer chunk")
    if pending:
        yield pending


def _answer_pieces(lines: Iterator[bytes], deadline: float) -> Iterator[str]:
    held = ""  # blank pieces before the first real text
    started = ended = False
    length = 0
    for raw in lines:
        if time.monotonic() > deadline:
            raise LLMError("provider took longer than LLM_ANSWER_SECONDS")
        # Server-sent events are UTF-8 whatever the Content-Type says (or omits).
        line = raw.decode("utf-8", "replace")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            ended = True
            break
        try:
            choices = json.loads(data)["choices"]
            if not choices:  # e.g. Azure's first chunk, with only content-filter results
                continue
            choice = choices[0]
            delta = (choice.get("delta") or {}).get("content")
            finish = choice.get("finish_reason")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise LLMError("provider sent a malformed chunk") from None
        if delta is not None and not isinstance(delta, str):
            raise LLMError("provider sent a malformed chunk")
        if delta and not started:
            held += delta
            delta, started = (held.lstrip(), True) if held.strip() else ("", False)
        if delta:
            room = settings.LLM_MAX_ANSWER_CHARS - length
            if room <= 0:
                raise LLMError("provider's answer exceeded LLM_MAX_ANSWER_CHARS")
            length += len(delta)
            yield delta[:room]
            if length > settings.LLM_MAX_ANSWER_CHARS:
                raise LLMError("provider's answer exceeded LLM_MAX_ANSWER_CHARS")
        if finish == "length":
            raise LLMError("provider stopped at LLM_MAX_TOKENS")
        if finish:
            ended = True
            break
    if not started:
        raise LLMError("provider sent no content")
    if not ended:
        raise LLMError("provider's stream ended before its end marker")
