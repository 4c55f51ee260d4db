"""static/js/realtime.js and static/js/chat-ws.js in a real browser against a real Daphne:
a signed-in staff member's page counts new concerns live (cookie authentication, Origin
checked), and the chat client answers over WebSocket and over its SSE fallback. Chromium is
Debian's; if it is missing the test fails rather than skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import launch
from tests.servers import fresh_database, http, manage, running_servers, server_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "a long browser test password 7"

SEED = f"""
from apps.accounts.models import User
from apps.accounts.services import api_key_create
staff = User(username="dana", email="dana@example.org", role="staff")
staff.set_password({PASSWORD!r})
staff.save()
citizen = User(username="cy", email="cy@example.org", role="citizen")
citizen.set_password({PASSWORD!r})
citizen.save()
_, secret = api_key_create(user=citizen, name="browser")
print("KEY " + secret)
"""

COLLECT = """
window.received = [];
document.addEventListener("citizenai:notification", function (e) { window.received.push(e.detail); });
var counter = document.createElement("span");
counter.setAttribute("data-live-counter", "concern.created");
counter.id = "created";
counter.textContent = "0";
document.body.appendChild(counter);
"""

CHAT = """
([sessionId, forceSse]) => new Promise(function (resolve, reject) {
  var chunks = [];
  var chat = CitizenAIChat.connect({
    sessionId: sessionId,
    forceSse: forceSse,
    onChunk: function (text) { chunks.push(text); },
    onAnswer: function (answer) { chat.close(); resolve({answer: answer, chunks: chunks, transport: chat.transport}); },
    onError: function (error) { reject(new Error(JSON.stringify(error))); }
  });
  chat.send("Hello there");
  setTimeout(function () { reject(new Error("no answer")); }, 20000);
})
"""


def test_live_counter_and_chat_client_in_a_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with fresh_database() as database_url:
        env = server_env(DATABASE_URL=database_url, VAR_DIR=str(tmp_path))
        manage(env, "migrate", "--noinput")
        citizen_key = next(
            line.removeprefix("KEY ")
            for line in manage(env, "shell", "-c", SEED).splitlines()
            if line.startswith("KEY ")
        )
        with running_servers(env, count=1) as (server,), sync_playwright() as playwright:
            base = server.url
            browser = launch(playwright)
            try:
                page = browser.new_page()
                page.set_default_timeout(20_000)
                page.goto(f"{base}/accounts/sign-in/")
                page.locator("input[name=identifier]").fill("dana")
                page.locator("input[name=password]").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state()

                # realtime.js with the session cookie
                page.evaluate(COLLECT)
                page.add_script_tag(path=str(ROOT / "static/js/realtime.js"))
                page.wait_for_function("document.documentElement.dataset.realtime === 'connected'")
                body = {"title": "Broken bench", "description": "The bench in the park is broken.", "category": "parks"}
                status, _, raw = http(
                    "POST", f"{base}/api/v1/concerns", body=body, headers={"Authorization": f"Bearer {citizen_key}"}
                )
                assert status == 201, raw
                expect(page.locator("#created")).to_have_text("1")
                received = page.evaluate("window.received")
                assert [frame["type"] for frame in received] == ["concern.created"]
                assert received[0]["data"]["tracking_number"] == json.loads(raw)["data"]["tracking_number"]

                # chat-ws.js: WebSocket first, then the SSE fallback
                page.add_script_tag(path=str(ROOT / "static/js/chat-ws.js"))
                result = page.evaluate(CHAT, ["browser-ws-1", False])
                assert result["transport"] == "websocket"
                assert result["answer"]["message"] == "".join(result["chunks"])
                assert result["answer"]["agent_id"] == "assistant"
                result = page.evaluate(CHAT, ["browser-sse-1", True])
                assert result["transport"] == "sse"
                assert result["answer"]["message"] and result["answer"]["message"] == "".join(result["chunks"])
                assert result["answer"]["session_id"] == "browser-sse-1"
            finally:
                browser.close()
