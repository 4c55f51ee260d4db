"""SSE through a real Daphne server: events arrive in order and unbuffered."""

from __future__ import annotations

import http.client
import json
import time

import pytest

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
