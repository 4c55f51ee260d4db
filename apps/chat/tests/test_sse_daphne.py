"""SSE through a real Daphne server: events arrive in order and unbuffered."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from apps.chat.tests.fake_llm import fake_llm
from tests.servers import fresh_database, manage, running_servers, server_env

pytestmark = pytest.mark.slow


def test_stream_through_daphne_is_unbuffered(tmp_path):
    with fresh_database() as database_url:
        env = server_env(DATABASE_URL=database_url, VAR_DIR=str(tmp_path), RATE_LIMIT_ENABLED="false")
        manage(env, "migrate", "--noinput")
        manage(env, "load_demo")
        with running_servers(env, count=1) as (server,):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            started = time.perf_counter()
            conn.request(
                "POST",
                "/api/v1/chat/stream",
                body=json.dumps({"message": "What are your office hours?", "session_id": "daphne-sse"}),
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Type") == "text/event-stream"
            events, arrival = [], []
            buffer = b""
            while True:
                chunk = response.read1(65536) if hasattr(response, "read1") else response.read(1)
                if not chunk:
                    break
                buffer += chunk
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    if frame.startswith(b"data: "):
                        events.append(json.loads(frame[6:]))
                        arrival.append(time.perf_counter() - started)
                if events and events[-1]["type"] in {"complete", "error"}:
                    break
            conn.close()
    types = [event["type"] for event in events]
    assert types[:4] == ["start", "detecting", "intent", "agent_selected"], types
    assert types[-1] == "complete"
    assert "chunk" in types
    # Unbuffered: the first event arrives on its own, before the stream is complete.
    assert len({round(t, 4) for t in arrival}) > 1


def read_events_until(response: http.client.HTTPResponse, stop: str) -> list[dict]:
    events: list[dict] = []
    buffer = b""
    while not events or events[-1]["type"] != stop:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            if frame.startswith(b"data: "):
                events.append(json.loads(frame[6:]))
    return events


STORED_ANSWER = """
from apps.chat.models import Message
m = Message.objects.filter(conversation_id="left-early", role="assistant").first()
print("none" if m is None else m.metadata["engine"] + "|" + m.content)
"""


def test_a_client_that_leaves_midway_still_gets_its_answer_stored(tmp_path):
    """Daphne cancels the response when the client goes; the question was stored already,
    and its answer is stored as far as it was sent (no question without an answer)."""
    tokens = ["City ", "Hall ", "opens ", "at ", "8:30 ", "on ", "weekdays."]
    with fake_llm(tokens=tokens, gap=0.5) as llm, fresh_database() as database_url:
        env = server_env(
            DATABASE_URL=database_url,
            VAR_DIR=str(tmp_path),
            RATE_LIMIT_ENABLED="false",
            LLM_BASE_URL=llm.base_url,
            LLM_MODEL="city-model",
        )
        manage(env, "migrate", "--noinput")
        manage(env, "load_demo")
        with running_servers(env, count=1) as (server,):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            body = {"message": "What are your office hours?", "session_id": "left-early"}
            headers = {"Content-Type": "application/json"}
            conn.request("POST", "/api/v1/chat/stream", body=json.dumps(body), headers=headers)
            events = read_events_until(conn.getresponse(), "chunk")
            assert events[-1] == {"type": "chunk", "content": "City "}
            conn.close()  # the client leaves while the provider is still writing
            deadline = time.monotonic() + 30
            while (stored := manage(env, "shell", "-c", STORED_ANSWER).strip().splitlines()[-1]) == "none":
                assert time.monotonic() < deadline, "no answer was stored"
                time.sleep(0.5)
    engine, content = stored.split("|", 1)
    assert engine == "llm:city-model (interrupted)"
    assert content.startswith("City ") and content.endswith(" …")
    assert len(content) < len("".join(tokens))
