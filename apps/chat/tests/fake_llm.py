"""A real local HTTP server speaking the OpenAI chat-completions streaming protocol."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    """``delay`` before the answer, ``gap`` between tokens; ``first`` and ``raw`` are bytes
    sent before and after the tokens; after ``break_after`` tokens the connection is cut;
    ``end`` is what closes a whole answer: the ``[DONE]`` line, a last chunk with
    ``finish_reason`` "stop" or "length", or nothing. ``content_type`` None sends none."""

    def __init__(
        self,
        *,
        tokens: list[str],
        status: int = 200,
        delay: float = 0.0,
        gap: float = 0.0,
        break_after: int | None = None,
        end: str = "[DONE]",
        content_type: str | None = "text/event-stream",
        raw: bytes = b"",
        first: bytes = b"",
    ):
        self.tokens, self.status, self.delay, self.gap = tokens, status, delay, gap
        self.break_after, self.end, self.content_type, self.raw = break_after, end, content_type, raw
        self.first = first
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.status != 200:
                    payload = b'{"error": {"message": "overloaded"}}'
                    self.send_response(fake.status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                if fake.content_type is not None:
                    self.send_header("Content-Type", fake.content_type)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(fake.first)
                for index, token in enumerate(fake.tokens):
                    if fake.break_after is not None and index >= fake.break_after:
                        self.wfile.flush()
                        self.connection.shutdown(2)
                        return
                    if index and fake.gap:
                        time.sleep(fake.gap)
                    chunk = {"choices": [{"index": 0, "delta": {"content": token}}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(fake.raw)
                if fake.end == "[DONE]":
                    self.wfile.write(b"data: [DONE]\n\n")
                elif fake.end:
                    chunk = {"choices": [{"index": 0, "delta": {}, "finish_reason": fake.end}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@contextmanager
def fake_llm(**kwargs: Any) -> Iterator[FakeLLM]:
    fake = FakeLLM(**kwargs)
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
