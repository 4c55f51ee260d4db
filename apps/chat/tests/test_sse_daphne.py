"""SSE through a real Daphne server: events arrive in order and unbuffered."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from apps.chat.tests.fake_llm import fake_llm
from tests.servers import demo_env, fresh_database, manage, running_servers

pytestmark = pytest.mark.slow


def read_events_until(
    response: http.client.HTTPResponse, stop: set[str], arrival: list[float] | None = None
) -> list[dict]:
    """The stream's events until one of the ``stop`` types (or its end); ``arrival`` gets
    each event's perf_counter time."""
    events: list[dict] = []
    buffer = b""
    while not events or events[-1]["type"] not in stop:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            if frame.startswith(b"data: "):
                events.append(json.loads(frame[6:]))
                if arrival is not None:
                    arrival.append(time.perf_counter())
    return events


def post_stream(
    port: int, body: dict, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", **(headers or {})}
    conn.request("POST", "/api/v1/chat/stream", body=json.dumps(body), headers=headers)
    return conn, conn.getresponse()


def test_stream_through_daphne_is_unbuffered(tmp_path):
    with fresh_database() as database_url:
        env = demo_env(database_url, str(tmp_path))
        with running_servers(env, count=1) as (server,):
            conn, response = post_stream(
                server.port, {"message": "What are your office hours?", "session_id": "daphne-sse"}
            )
            assert response.status == 200
            assert response.getheader("Content-Type") == "text/event-stream"
            arrival: list[float] = []
            events = read_events_until(response, {"complete", "error"}, arrival)
            conn.close()
    types = [event["type"] for event in events]
    assert types[:4] == ["start", "detecting", "intent", "agent_selected"], types
    assert types[-1] == "complete"
    assert "chunk" in types
    # Unbuffered: the first event arrives on its own, before the stream is complete.
    assert len({round(t, 4) for t in arrival}) > 1


STORED_ANSWER = """
from apps.chat.models import Message
from apps.core.models import IdempotencyKey
m = Message.objects.filter(conversation_id="left-early", role="assistant").first()
keys = list(IdempotencyKey.objects.filter(key="left-early-key").values_list("status_code", flat=True))
print("none" if m is None else m.metadata["engine"] + "|" + str(keys) + "|" + m.content)
"""


def test_a_client_that_leaves_midway_still_gets_its_answer_stored(tmp_path):
    """Daphne cancels the response when the client goes; the question was stored already,
    and its answer is stored as far as it was sent (no question without an answer). Its
    Idempotency-Key is kept as a 409: sending the question again would ask it twice."""
    tokens = ["City ", "Hall ", "opens ", "at ", "8:30 ", "on ", "weekdays."]
    with fake_llm(tokens=tokens, gap=0.5) as llm, fresh_database() as database_url:
        env = demo_env(database_url, str(tmp_path), LLM_BASE_URL=llm.base_url, LLM_MODEL="city-model")
        with running_servers(env, count=1) as (server,):
            conn, response = post_stream(
                server.port,
                {"message": "What are your office hours?", "session_id": "left-early"},
                {"Idempotency-Key": "left-early-key"},
            )
            events = read_events_until(response, {"chunk"})
            assert events[-1] == {"type": "chunk", "content": "City "}
            # The client leaves while the provider is still writing. The response holds the
            # socket too (its file): closed first, so that the connection really closes now.
            response.close()
            conn.close()
            deadline = time.monotonic() + 30
            while (stored := manage(env, "shell", "-c", STORED_ANSWER).strip().splitlines()[-1]) == "none":
                assert time.monotonic() < deadline, "no answer was stored"
                time.sleep(0.5)
    engine, keys, content = stored.split("|", 2)
    assert engine == "llm:city-model (interrupted)"
    assert keys == "[409]"
    assert content.startswith("City ") and content.endswith(" …")
    assert len(content) < len("".join(tokens))
