"""The instructor's dashboard with a large class (issue 14), in Chromium against the real server.

A class of CLASS_SIZE students (2,500 by default; QUIZCTL_DASHBOARD_CLASS sets another)
joins, connects and answers while the dashboard is open; the students are not browsers but
`POST /join` and a `/ws/student` socket each, driven from a trio loop on a thread of this
process (`Crowd`). The page records every long task (a `PerformanceObserver` for
`longtask`, installed before its scripts run) and when the Next click was handled, sent and
answered; a Chromium trace gives each long task's CPU time on the main thread. The test
asserts what the instructor depends on: no task whose own work is over LONG_TASK_LIMIT_MS
(CPU time: on a shared machine a task's wall time includes its wait for a core), a table
that holds a bounded number of rows whatever the class size, search and filters over
everyone (the filter counts are the server's own), sorting, the table's size for screen
readers, and a Next click that says at once it was taken (a double click sends one
`next`) and reaches the server and comes back as the open question in bounded time. The
figures are printed (run with -s to see them).

Why this size says something about 10,000 (bench/dashboard_load.py measures that): over
300 participants the server sends the presence as the rows that changed, at most once a
second, and the joined list as the latest 50. The dashboard applies a row to a map by
student ID and keeps its counts with it (a message costs what it changed); it brings the
table up to date at most four times a second, where only the rows whose sort key changed
move (binary search); the per-update passes that remain over the class (the filter, a
re-sort when many keys changed) are a few milliseconds at 10,000; and the page holds only
the rows in view plus a margin, so the DOM, the style and layout work do not grow with the
class. What grows with N is the size of the messages and those passes; the bench reports
both at 10,000.

Chromium: /usr/bin/chromium or QUIZCTL_CHROMIUM, as in the other browser tests.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import pytest
import trio
from playwright.sync_api import Browser, Page, expect

from server.auth import STUDENT_COOKIE
from tests.chromium import chromium
from tests.classroom import admin
from tests.helpers import POOLS, START_S, WAIT_S, ServerProcess, WebSocketClient

DASHBOARD = {"width": 1280, "height": 800}
CLASS_SIZE = int(os.environ.get("QUIZCTL_DASHBOARD_CLASS", "2500"))
CONCURRENCY = 32  # joins and socket opens in flight at once
# The target is 100 ms, for the page's own work: the main thread's CPU time in a task,
# from a Chromium trace. On this shared 2-core machine the server, the students and Chromium
# take turns on the CPU, and the browser's long-task API measures a task with its wait for a
# core (a task of 263 ms with 9 ms of CPU was seen); its figure is printed, only a freeze fails on it.
LONG_TASK_LIMIT_MS = 100.0
LONG_TASK_WALL_LIMIT_MS = 1000.0
MAX_ROWS_IN_PAGE = 100
MIN_ROWS_IN_PAGE = 12  # what the tables show at 1280x800 (13 or 14 rows), the window's margin aside
NEXT_LIMIT_MS = 1500.0  # click -> the open question shown, through the server (target 200 ms)
ACK_LIMIT_MS = 200.0  # click -> the button says the click was sent (the page alone)
WAIT_MS = 30_000

expect.set_options(timeout=WAIT_MS)

# Installed before the page's own scripts: long tasks, and the moments of a Next click.
PROBE_JS = """
window.__dash = { longtasks: [], clicks: [], sent: [], states: [], hints: [] };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__dash.longtasks.push({ start: e.startTime, duration: e.duration });
}).observe({ type: "longtask", buffered: true });
document.addEventListener("click", (ev) => {
  if (ev.target instanceof Element && ev.target.closest("#btn-next")) {
    window.__dash.clicks.push({ at: ev.timeStamp, handled: performance.now() });
  }
}, true);
const originalSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (typeof data === "string" && JSON.parse(data).type === "next") window.__dash.sent.push(performance.now());
  return originalSend.call(this, data);
};
document.addEventListener("DOMContentLoaded", () => {
  const line = document.getElementById("status-line");
  const text = () => ["st-state", "st-question"].map((id) => document.getElementById(id).textContent).join(" ");
  new MutationObserver(() => window.__dash.states.push({ at: performance.now(), text: text() }))
    .observe(line, { childList: true, characterData: true, subtree: true });
  const hint = document.getElementById("next-hint");
  new MutationObserver(() => window.__dash.hints.push({ at: performance.now(), text: hint.textContent }))
    .observe(hint, { childList: true, characterData: true, subtree: true });
});
"""


# A main-thread task in a Chromium trace, by the names Chromium versions give it.
TASK_EVENTS = {"RunTask", "ThreadControllerImpl::RunTask"}


def traced_long_tasks(trace: bytes) -> list[dict[str, Any]]:
    """The page's tasks over 50 ms in a Chromium trace: wall time, the main thread's CPU time, what ran inside.

    A task whose CPU time is much shorter than its wall time spent the difference waiting
    for a core (the machine is shared), not working.
    """
    events = json.loads(trace)["traceEvents"]
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"
    }
    tasks = [
        e
        for e in events
        if e.get("ph") == "X"
        and e.get("name") in TASK_EVENTS
        and (e["pid"], e["tid"]) in main
        and e.get("dur", 0) > 50_000
    ]
    found = []
    for task in tasks:
        begin, end = task["ts"], task["ts"] + task["dur"]
        inside: dict[str, float] = {}
        for e in events:
            if (
                e.get("ph") == "X"
                and (e["pid"], e["tid"]) == (task["pid"], task["tid"])
                and e is not task
                and begin <= e["ts"] < end
                and e.get("dur", 0) >= 1000
            ):
                inside[e["name"]] = max(inside.get(e["name"], 0.0), e["dur"] / 1000)
        top = dict(sorted(inside.items(), key=lambda kv: -kv[1])[:6])
        found.append(
            {
                "wall_ms": round(task["dur"] / 1000),
                "cpu_ms": round(task.get("tdur", task["dur"]) / 1000),
                "inside_ms": {k: round(v, 1) for k, v in top.items()},
            }
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- students without browsers


async def post(base_url: str, path: str, body: dict[str, Any], cookie: str | None = None) -> tuple[int, str | None]:
    """One POST on a connection of its own (no cookie jar shared between students): status, student cookie."""
    url = urlsplit(base_url)
    assert url.hostname is not None and url.port is not None
    data = json.dumps(body).encode()
    headers = [
        ("Host", url.netloc),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("Origin", base_url),
        ("Connection", "close"),
    ]
    if cookie:
        headers.append(("Cookie", cookie))
    connection = h11.Connection(h11.CLIENT)
    request = connection.send(h11.Request(method="POST", target=path, headers=headers))
    request += connection.send(h11.Data(data=data)) + connection.send(h11.EndOfMessage())
    with trio.fail_after(WAIT_S):
        stream = await trio.open_tcp_stream(url.hostname, url.port)
        try:
            await stream.send_all(request)
            status, set_cookie = 0, None
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    for name, value in event.headers:
                        if name == b"set-cookie" and value.startswith(f"{STUDENT_COOKIE}=".encode()):
                            set_cookie = value.split(b";", 1)[0].decode()
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return status, set_cookie
        finally:
            await stream.aclose()


class Crowd:
    """A class of students on a trio loop of its own thread: join, connect, answer, switch tabs, leave.

    Each student's socket is read by nobody (what the server sends it waits in the kernel's
    buffers, a few kilobytes per student): the dashboard is what is measured, not the phones.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.sockets: dict[str, WebSocketClient] = {}
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self._thread.start()
        assert self._ready.wait(START_S)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._done = trio.Event()
        self._ready.set()
        await self._done.wait()
        for ws in self.sockets.values():
            await ws.abort(reset=True)

    def run(self, function: Callable[..., Awaitable[Any]], *args: Any, timeout: float) -> Any:
        async def bounded() -> Any:
            with trio.fail_after(timeout):
                return await function(*args)

        return trio.from_thread.run(bounded, trio_token=self._token)

    async def _each(self, ids: list[str], one: Callable[[str], Awaitable[None]]) -> None:
        limit = trio.CapacityLimiter(CONCURRENCY)

        async def bounded(student_id: str) -> None:
            async with limit:
                await one(student_id)

        async with trio.open_nursery() as nursery:
            for student_id in ids:
                nursery.start_soon(bounded, student_id)

    def join(self, names: dict[str, str]) -> None:
        """Each student joins (`POST /join`) and opens its socket."""

        async def one(student_id: str) -> None:
            status, cookie = await post(self.base_url, "/join", {"student_id": student_id, "name": names[student_id]})
            assert status == 200 and cookie, (student_id, status)
            self.cookies[student_id] = cookie
            self.sockets[student_id] = await WebSocketClient.open(self.base_url, "/ws/student", cookie=cookie)

        self.run(self._each, list(names), one, timeout=120)

    def answer(self, ids: list[str], question_idx: int, answer: Any) -> None:
        """Each sends its answer over its socket (the ack is not read: the server's status counts them)."""

        async def one(student_id: str) -> None:
            message = {"type": "submit", "question_idx": question_idx, "answer": answer}
            assert await self.sockets[student_id].send_json(message), student_id

        self.run(self._each, ids, one, timeout=60)

    def switch_away(self, ids: list[str]) -> None:
        """Each reports a tab switch (`POST /event` blur), which flags it on the dashboard."""

        async def one(student_id: str) -> None:
            status, _ = await post(self.base_url, "/event", {"kind": "blur"}, cookie=self.cookies[student_id])
            assert status == 204, (student_id, status)

        self.run(self._each, ids, one, timeout=60)

    def leave(self, ids: list[str]) -> None:
        """Each vanishes (its socket reset, as a phone leaving the Wi-Fi)."""

        async def one(student_id: str) -> None:
            await self.sockets.pop(student_id).abort(reset=True)

        self.run(self._each, ids, one, timeout=60)

    def close(self) -> None:
        trio.from_thread.run_sync(self._done.set, trio_token=self._token)
        self._thread.join(WAIT_S)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = ServerProcess(POOLS / "demo.json", tmp_path / "data", port=free_port())
    try:
        running.start_blocking()
        yield running
    finally:
        running.ensure_stopped()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


# ---------------------------------------------------------------- reading the dashboard


def status(server: ServerProcess) -> dict[str, Any]:
    result: dict[str, Any] = admin(server.url, server.admin_token, "status")["result"]
    return result


def number(text: str) -> int:
    """The integer in a text such as "Connected (2,437)" or "2,437 of 2,500" (the first one)."""
    match = re.search(r"\d[\d,\u202f\u00a0.]*", text)
    assert match, text
    return int(re.sub(r"\D", "", match.group(0)))


def filter_counts(page: Page) -> dict[str, int]:
    """What the Show menu says each choice shows: {"all": 2500, "connected": 2437, ...}."""
    options: list[list[str]] = page.locator("#presence-show option").evaluate_all(
        "options => options.map(o => [o.value, o.textContent])"
    )
    return {value: number(re.split(r"[:：]", text)[-1]) for value, text in options}


def rows_in_page(page: Page) -> int:
    return page.locator("#presence-body tr").count()


def wait_for_server(server: ServerProcess, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        now = status(server)
        if check(now):
            return now
        assert time.monotonic() < deadline, f"{what}: {now}"
        time.sleep(0.1)


def scroll_to(page: Page, where: str) -> None:
    """Scroll the student table to its "top" or its "end"."""
    page.locator("#presence-table").evaluate(
        f"t => {{ const s = t.closest('.table-scroll'); s.scrollTop = {'0' if where == 'top' else 's.scrollHeight'}; }}"
    )


def cell(page: Page, row: str, column: int) -> Any:
    """A cell of the "first" or "last" row the student table holds."""
    rows = page.locator("#presence-body tr")
    return (rows.first if row == "first" else rows.last).locator("td").nth(column)


PENDING_HINT = "Sent. Waiting for the server to confirm…"


def next_click(page: Page, number: int, clicks: int = 1) -> dict[str, float]:
    """Click Next (`clicks` times in a row) and wait until question `number` shows open.

    The ms from the first click to its handling, sending, the button's "sent, waiting" and
    the open question shown. Only one `next` is sent, however many clicks.
    """
    page.evaluate("Object.assign(window.__dash, { clicks: [], sent: [], states: [], hints: [] })")
    button = page.get_by_role("button", name=re.compile("^(Start quiz|Next)$"))
    if clicks == 1:
        button.click()
    else:  # as fast as a double click can be: before any reply can come
        button.evaluate(f"(b) => {{ for (let i = 0; i < {clicks}; i += 1) b.click(); }}")
    expect(page.locator("#st-question")).to_have_text(f"{number} of 10")
    expect(page.locator("#st-state")).to_have_text("Question open")
    expect(page.locator("#next-hint")).not_to_have_text(PENDING_HINT)  # the server's reply came
    probe: dict[str, Any] = page.evaluate("window.__dash")
    assert len(probe["clicks"]) == clicks and len(probe["sent"]) == 1, probe
    click = probe["clicks"][0]
    shown = next(s["at"] for s in probe["states"] if s["text"] == f"Question open {number} of 10")
    # The first thing the hint said after the click: the click was taken.
    hints = [h for h in probe["hints"] if h["at"] >= click["handled"]]
    assert hints and hints[0]["text"] == PENDING_HINT, probe["hints"]
    return {
        "handled_ms": click["handled"] - click["at"],
        "sent_ms": probe["sent"][0] - click["at"],
        "acknowledged_ms": hints[0]["at"] - click["at"],
        "shown_ms": shown - click["at"],
    }


# ---------------------------------------------------------------- the test


def test_the_dashboard_stays_responsive_with_a_large_class(server: ServerProcess, browser: Browser) -> None:
    size = CLASS_SIZE
    ids = [f"s{n:05d}" for n in range(size)]
    names = {student_id: f"Student {n}" for n, student_id in enumerate(ids)}
    answering = [student_id for n, student_id in enumerate(ids) if n % 10 != 0]
    switching = [student_id for n, student_id in enumerate(ids) if n % 100 == 7]
    leaving = [student_id for n, student_id in enumerate(ids) if n % 40 == 3]

    context = browser.new_context(viewport=DASHBOARD)
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    crowd = Crowd(server.url)
    tracing = False
    try:
        page.goto(server.instructor_url)
        expect(page.locator("#conn")).to_have_text("Connected")
        started = page.evaluate("performance.now()")
        browser.start_tracing(page=page, categories=["toplevel"])  # each task's wall and CPU time
        tracing = True
        rows_seen = []

        # ---- the class joins
        joined_at = time.monotonic()
        latest = ids[-1]
        crowd.join({student_id: names[student_id] for student_id in ids if student_id != latest})
        crowd.join({latest: names[latest]})  # the last to join, for sure
        joining_s = time.monotonic() - joined_at
        expect(page.locator("#st-participants")).to_have_text(f"{size:,}")
        expect(page.locator("#st-connected")).to_have_text(f"{size:,}")
        expect(page.locator("#lobby-count")).to_have_text(f"{size:,}")
        # The joined list: the count and the latest 50 names, not everyone.
        expect(page.locator("#lobby-list li")).to_have_count(50)
        expect(page.locator("#lobby-note")).to_have_text(f"The latest 50 of {size:,} who joined")
        expect(page.locator("#lobby-list")).to_contain_text(names[latest])
        rows_seen.append(rows_in_page(page))

        # ---- Start: the first question opens
        start = next_click(page, 1)

        # ---- answers, tab switches and students leaving, while the table is sorted by "Answered"
        page.get_by_role("button", name="Answered").click()  # those who answered first
        crowd.answer(answering, 0, "B")
        crowd.switch_away(switching)
        crowd.leave(leaving)
        now = wait_for_server(
            server,
            lambda s: s["answered_current"] == len(answering) and s["connected"] == size - len(leaving),
            "the answers and departures did not reach the server",
        )
        expect(page.locator("#st-answered")).to_have_text(f"{len(answering):,} of {size:,}")
        expect(page.locator("#st-connected")).to_have_text(f"{now['connected']:,}")
        flagged = page.locator("#presence-show option[value=flagged]")
        expect(flagged).to_have_text(f"Flagged (blur, hidden or duplicate joins): {len(switching)}")
        rows_seen.append(rows_in_page(page))

        # The order followed the answers as they came: those who answered first (by ID), then the others.
        scroll_to(page, "top")
        expect(cell(page, "first", 0)).to_have_text(answering[0])
        expect(cell(page, "first", 7)).to_have_text("Yes")
        scroll_to(page, "end")
        expect(cell(page, "last", 0)).to_have_text(ids[(size - 1) // 10 * 10])  # the last who did not answer
        expect(cell(page, "last", 7)).to_have_text("No")
        # By status, offline first: those who left, by ID.
        page.get_by_role("button", name="Status").click()
        page.get_by_role("button", name="Status").click()
        expect(page.locator("th[aria-sort=ascending]")).to_have_attribute("data-key", "connected")
        scroll_to(page, "top")
        expect(cell(page, "first", 0)).to_have_text(leaving[0])
        expect(cell(page, "first", 2)).to_have_text("Offline")
        page.get_by_role("button", name="Student ID").click()
        expect(page.locator("th[aria-sort=ascending]")).to_have_attribute("data-key", "student_id")

        # The filter menu's counts are the server's.
        counts = filter_counts(page)
        assert counts == {
            "all": now["participants"],
            "connected": now["connected"],
            "disconnected": now["participants"] - now["connected"],
            "unanswered": now["participants"] - now["answered_current"],
            "answered": now["answered_current"],
            "flagged": len(switching),
        }, counts

        # The table is the whole class for screen readers, a window of it in the page.
        table = page.get_by_role("table", name=re.compile("^Students: presence"))
        expect(table).to_have_attribute("aria-rowcount", str(size + 1))
        first_row = page.locator("#presence-body tr").first
        expect(first_row).to_have_attribute("aria-rowindex", "2")
        expect(first_row.locator("td").first).to_have_text(ids[0])

        # Scrolled to the end: the last student, in its place.
        scroll_to(page, "end")
        last_row = page.locator("#presence-body tr").last
        expect(last_row).to_have_attribute("aria-rowindex", str(size + 1))
        expect(last_row.locator("td").first).to_have_text(ids[-1])
        rows_seen.append(rows_in_page(page))

        # A filter: the disconnected, exactly those who left.
        page.get_by_label("Show").select_option("disconnected")
        expect(page.locator("#presence-summary")).to_contain_text(f"showing {len(leaving)}")
        expect(table).to_have_attribute("aria-rowcount", str(len(leaving) + 1))
        shown = page.locator("#presence-body tr td:first-child").all_inner_texts()
        assert set(shown) <= set(leaving) and len(shown) == min(len(leaving), rows_in_page(page)), shown
        page.get_by_label("Show").select_option("flagged")
        expect(page.locator("#presence-summary")).to_contain_text(f"showing {len(switching)}")
        page.get_by_label("Show").select_option("all")

        # Search: a student by ID among everyone, wherever the table was scrolled.
        wanted = ids[size * 3 // 4]
        page.get_by_label("Filter by ID or name").fill(wanted)
        expect(page.locator("#presence-body tr")).to_have_count(1)
        expect(page.locator("#presence-body tr td").nth(1)).to_have_text(names[wanted])
        expect(page.locator("#presence-summary")).to_contain_text("showing 1")
        page.get_by_label("Filter by ID or name").fill("")

        # Sort by name, then back by ID.
        page.get_by_role("button", name="Name").click()
        expect(page.locator("th[aria-sort]")).to_have_attribute("data-key", "name")
        scroll_to(page, "top")
        expect(page.locator("#presence-body tr").first.locator("td").nth(1)).to_have_text("Student 0")
        expect(page.locator("#presence-body tr").nth(2).locator("td").nth(1)).to_have_text("Student 2")
        rows_seen.append(rows_in_page(page))

        # ---- Next: the question closes (the full leaderboard, everyone) and the next opens
        second = next_click(page, 2, clicks=2)  # a double click closes one question, opens one
        expect(page.locator("#lb-count")).to_have_text(f"{size:,} students")
        expect(page.get_by_role("table", name="Full leaderboard")).to_have_attribute("aria-rowcount", str(size + 1))
        leaderboard_rows = page.locator("#lb-body tr").count()
        # The new question: nobody has answered it yet.
        expect(page.locator("#st-answered")).to_have_text(f"0 of {size:,}")
        expect(page.locator("#presence-show option[value=answered]")).to_have_text("Answered (current question): 0")

        probe: dict[str, Any] = page.evaluate("window.__dash")
        ended = page.evaluate("performance.now()")
        traced = traced_long_tasks(browser.stop_tracing())
        tracing = False
    finally:
        crowd.close()
        if tracing:
            browser.stop_tracing()
        context.close()

    tasks = [t for t in probe["longtasks"] if t["start"] >= started]
    longest = max((t["duration"] for t in tasks), default=0.0)
    blocked = sum(max(0.0, t["duration"] - 50) for t in tasks)
    figures = {
        "class": size,
        "joining_s": round(joining_s, 1),
        "window_s": round((ended - started) / 1000, 1),
        "long_tasks": len(tasks),
        "longest_task_ms": round(longest),
        "blocked_ms": round(blocked),
        "longest_task_cpu_ms": max((t["cpu_ms"] for t in traced), default=0),
        "next_start_ms": {k: round(v) for k, v in start.items()},
        "next_close_open_ms": {k: round(v) for k, v in second.items()},
        "presence_rows_in_page": max(rows_seen),
        "leaderboard_rows_in_page": leaderboard_rows,
    }
    print(f"\ndashboard at {size:,} students: {json.dumps(figures)}")
    assert errors == []
    assert max(rows_seen) < MAX_ROWS_IN_PAGE and leaderboard_rows < MAX_ROWS_IN_PAGE, figures
    assert min(rows_seen) >= MIN_ROWS_IN_PAGE and leaderboard_rows >= MIN_ROWS_IN_PAGE, figures  # the view is full
    assert figures["longest_task_cpu_ms"] < LONG_TASK_LIMIT_MS, (figures, traced)
    assert longest < LONG_TASK_WALL_LIMIT_MS, (figures, traced)
    assert start["shown_ms"] < NEXT_LIMIT_MS and second["shown_ms"] < NEXT_LIMIT_MS, figures
    assert start["acknowledged_ms"] < ACK_LIMIT_MS and second["acknowledged_ms"] < ACK_LIMIT_MS, figures
