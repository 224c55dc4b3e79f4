"""Students as scripted browser tabs, for the big-screen tests and docs/screenshots/take.py.

Each student is a browser context of its own (its own cookie) on the server's origin: it
joins through `POST /join` and answers over its own `/ws/student` socket, exactly as the
student page does, but without the student page, so the projector's and dashboard's tests
do not depend on how that page looks. Same-origin requests, so the server's Origin checks
see a page of its own.
"""
from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page

from tests.helpers import WAIT_S

JOIN_JS = """async ({ id, name }) => {
  const response = await fetch("/join", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ student_id: id, name }),
  });
  if (!response.ok) return { status: response.status, body: await response.text() };
  window.inbox = [];
  await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws/student`);
    ws.onmessage = (event) => window.inbox.push(JSON.parse(event.data));
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("the student socket did not open"));
    window.studentSocket = ws;
  });
  return { status: response.status };
}"""

ANSWER_JS = """async ({ idx, answer, waitMs }) => {
  window.studentSocket.send(JSON.stringify({ type: "submit", question_idx: idx, answer }));
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const reply = window.inbox.find((m) => (m.type === "submit_ack" && m.question_idx === idx) || m.type === "error");
    if (reply) {
      window.inbox = window.inbox.filter((m) => m !== reply);
      return reply;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no answer to the submit for question ${idx}`);
}"""


class Classroom:
    """A class of scripted students on one server."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser = browser
        self.url = url
        self.contexts: list[BrowserContext] = []
        self.students: dict[str, Page] = {}

    def join(self, student_id: str, name: str | None) -> dict[str, Any]:
        """Join as `student_id` (no name: the class list's) and open the student socket; returns {status[, body]}."""
        context = self.browser.new_context()
        self.contexts.append(context)
        page = context.new_page()
        page.goto(f"{self.url}/healthz")
        result: dict[str, Any] = page.evaluate(JOIN_JS, {"id": student_id, "name": name})
        if result.get("status") == 200:
            self.students[student_id] = page
        return result

    def answer(self, student_id: str, question_idx: int, answer: Any) -> dict[str, Any]:
        """Submit an answer (the wire's 0-based question index) and return the server's reply."""
        reply: dict[str, Any] = self.students[student_id].evaluate(
            ANSWER_JS, {"idx": question_idx, "answer": answer, "waitMs": int(WAIT_S * 1000)}
        )
        assert reply.get("type") == "submit_ack", reply
        return reply

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()
        self.students.clear()


def admin(url: str, token: str, command: str, **body: Any) -> dict[str, Any]:
    """An operator command over HTTP (`POST /admin/<command>`), as quizctl sends it."""
    response = httpx.post(
        f"{url}/admin/{command}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=WAIT_S
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
