#!/usr/bin/env python3
"""The instructor's dashboard under a large class (issue 14): long tasks and the Next click, in Chromium.

Starts `quizctl serve pools/demo.json --host 127.0.0.1 --port 0` on a fresh data dir, opens
the dashboard in headless Chromium (Playwright; /usr/bin/chromium or QUIZCTL_CHROMIUM) at
1280x800 with the probe of tests/test_dashboard_scale.py (a PerformanceObserver for
`longtask`, and the moments of each Next click), and plays the class with bench/loadgen.py's
student processes: N students join at --join-rate (POST /join, then their socket), and
each answers each question at a random moment within --spread seconds. The dashboard's own
Start and Next buttons drive the session (each Next closes the open question, which sends
everyone's leaderboard, and opens the next). Then, on the dashboard: sort by name, search
an ID, filter the disconnected, scroll to the end.

Prints, per phase (join, each question, the interactions): the long tasks (how many, the
longest, the time blocked = the sum over tasks of what exceeds 50 ms), each Next's
latency (click -> handled, `next` sent, the button's "sent, waiting" shown, the
question_open message arrived, the open question shown; and what the page's message
handlers took meanwhile, so the server's share and the page's are told apart), the rows in
the page and its elements, and one `RESULT {json}` line. Loopback only; the run is bounded
by --timeout.

    python bench/dashboard_load.py                 # 10,000 students, ~2 min
    python bench/dashboard_load.py -n 2000 --json out.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect, sync_playwright

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from loadgen import machine_busy_seconds, raise_nofile_limit, start_workers  # noqa: E402
from run_all import stop_server  # noqa: E402

from tests.test_dashboard_scale import PROBE_JS, traced_long_tasks  # noqa: E402

CHROMIUM = os.environ.get("QUIZCTL_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
POOL = REPO / "pools" / "demo.json"
QUESTIONS = 10  # pools/demo.json

# Beside the test's probe: when each message that a Next brings reached the page (before
# the page parsed it), its size, and how long the page's handler took, so a slow Next can
# be told apart as the server's time or the page's.
ARRIVALS_JS = """(() => {
window.__arrivals = [];
const TYPE = /"type":"(question_closed|full_leaderboard|question_open|presence_delta|state|command_result)"/;
const originalListen = WebSocket.prototype.addEventListener;
WebSocket.prototype.addEventListener = function (kind, listener, options) {
  if (kind !== "message" || !this.url.includes("/ws/instructor")) {
    return originalListen.call(this, kind, listener, options);
  }
  return originalListen.call(this, kind, function (ev) {
    const at = performance.now();
    const match = typeof ev.data === "string" ? TYPE.exec(ev.data.slice(0, 200)) : null;
    const result = listener.call(this, ev);
    const handled = performance.now();
    if (match) window.__arrivals.push({ type: match[1], at, handler_ms: handled - at, bytes: ev.data.length });
    return result;
  }, options);
};
})();
"""


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`python -m quizctl serve` on an ephemeral loopback port; its process, URL and output file."""
    log = data_dir.parent / "server.out"
    with open(log, "w") as out:
        # `python -m` from the repository: this checkout's server and pages, whatever `quizctl` is installed.
        process = subprocess.Popen(
            [sys.executable, "-m", "quizctl", "serve", str(POOL), "--host", "127.0.0.1", "--port", "0",
             "--data-dir", str(data_dir)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"Students:\s+(http://127\.0\.0\.1:\d+)/", log.read_text())
        if match and (data_dir / "admin.token").exists():
            return process, match.group(1), log
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not start; see {log}")


def admin(url: str, token: str, command: str) -> dict[str, Any]:
    response = httpx.post(f"{url}/admin/{command}", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()["result"]
    return result


def wait_for(check: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def out_of_time(signum: int, frame: Any) -> None:
    raise TimeoutError("the run took longer than --timeout")


def page_now(page: Page) -> float:
    return float(page.evaluate("performance.now()"))


def next_click(page: Page, number: int) -> dict[str, float]:
    """Click Start/Next and wait for question `number` to show open: ms from the click."""
    page.evaluate(
        "window.__dash.clicks = []; window.__dash.sent = []; window.__dash.states = []; window.__dash.hints = [];"
        "window.__arrivals = []"
    )
    page.get_by_role("button", name=re.compile("^(Start quiz|Next)$")).click()
    expect(page.locator("#st-question")).to_have_text(f"{number} of {QUESTIONS}", timeout=30_000)
    expect(page.locator("#st-state")).to_have_text("Question open", timeout=30_000)
    probe: dict[str, Any] = page.evaluate("window.__dash")
    click = probe["clicks"][0]
    shown = next(s["at"] for s in probe["states"] if s["text"] == f"Question open {number} of {QUESTIONS}")
    arrivals: list[dict[str, Any]] = page.evaluate("window.__arrivals")
    opened = next(a for a in arrivals if a["type"] == "question_open")
    acknowledged = next(h["at"] for h in probe["hints"] if h["at"] >= click["handled"])
    latency = {
        "handled": round(click["handled"] - click["at"], 1),
        "sent": round(probe["sent"][0] - click["at"], 1),
        "acknowledged": round(acknowledged - click["at"], 1),
        "open_arrived": round(opened["at"] - click["at"], 1),
        "shown": round(shown - click["at"], 1),
    }
    # What the page spent on the messages that came between the click and the open question.
    before = [a for a in arrivals if a["at"] <= opened["at"]]
    latency["page_handlers_ms"] = round(sum(a["handler_ms"] for a in before), 1)
    latency["messages"] = {a["type"]: a["bytes"] for a in before if a["type"] != "presence_delta"}
    return latency


def page_counts(page: Page) -> dict[str, int]:
    counts: dict[str, int] = page.evaluate(
        """() => ({
          presence_rows: document.querySelectorAll('#presence-body tr').length,
          leaderboard_rows: document.querySelectorAll('#lb-body tr').length,
          lobby_items: document.querySelectorAll('#lobby-list li').length,
          elements: document.getElementsByTagName('*').length,
          js_heap_mib: performance.memory ? Math.round(performance.memory.usedJSHeapSize / 1048576) : -1,
        })"""
    )
    return counts


def long_tasks(page: Page, marks: list[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """Long tasks per phase: a phase runs from its mark to the next one."""
    tasks: list[dict[str, float]] = page.evaluate("window.__dash.longtasks")
    phases: dict[str, dict[str, float]] = {}
    bounds = [*marks, ("end", math.inf)]
    for (name, begin), (_, end) in zip(bounds, bounds[1:], strict=False):
        durations = [t["duration"] for t in tasks if begin <= t["start"] < end]
        phases[name] = {
            "tasks": len(durations),
            "longest_ms": round(max(durations, default=0.0)),
            "blocked_ms": round(sum(max(0.0, d - 50) for d in durations)),
            "seconds": round((min(end, page_now(page)) - begin) / 1000, 1),
        }
    return phases


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dashboard-load-"))
    nofile = raise_nofile_limit()
    procs = args.procs or max(1, math.ceil(args.students / 2500))
    if args.students / procs + 64 > nofile:
        sys.exit(f"dashboard_load: open-files limit {nofile} too low for {args.students} students in {procs} processes")
    server, url, log = start_server(work / "data")
    token = (work / "data" / "admin.token").read_text().strip()
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    cfg = {
        "host": host, "port": port, "ws_base": f"ws://{host}:{port}", "join_rate": args.join_rate,
        "connect_timeout": 30.0, "client": "raw", "spread": args.spread, "seed": 1,
    }
    # The students' processes are forked before the browser starts (no threads to copy).
    conns, workers = start_workers(procs, cfg, args.students)
    result: dict[str, Any] = {"students": args.students, "join_rate": args.join_rate, "spread_s": args.spread}
    busy_before, wall_before = machine_busy_seconds(), time.monotonic()
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.timeout))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            page_context = browser.new_context(viewport=VIEWPORT)
            page_context.add_init_script(PROBE_JS)
            page_context.add_init_script(ARRIVALS_JS)
            page = page_context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}/instructor?token={token}")
            expect(page.locator("#conn")).to_have_text("Connected", timeout=30_000)
            marks = [("join", page_now(page))]
            if args.trace:
                browser.start_tracing(page=page, categories=["toplevel", "devtools.timeline", "v8"])

            # ---- the class joins
            t0 = time.monotonic() + 0.5
            for conn in conns:
                conn.send(("start", t0))
            ready = [conn.recv() for conn in conns]  # each: ("ready", counts) once its students settled
            result["joined_s"] = round(time.monotonic() - t0, 1)
            result["connected"] = sum(r[1]["connected"] for r in ready)
            expect(page.locator("#st-connected")).to_have_text(f"{result['connected']:,}", timeout=60_000)
            result["after_join"] = page_counts(page)

            # ---- questions, each opened by the dashboard's button
            result["next_ms"] = []
            for number in range(1, args.questions + 1):
                marks.append((f"question {number}", page_now(page)))
                result["next_ms"].append(next_click(page, number))
                time.sleep(args.spread + 1)

                def shows_the_answers() -> dict[str, Any] | None:
                    status = admin(url, token, "status")
                    wanted = f"{status['answered_current']:,} of {status['participants']:,}"
                    return status if page.locator("#st-answered").text_content() == wanted else None

                status = wait_for(shows_the_answers, "the dashboard did not show the server's answer count", 30)
            result["participants"] = status["participants"]
            result["answered_last"] = status["answered_current"]
            result["after_questions"] = page_counts(page)

            # ---- the instructor looks through the class
            page.wait_for_timeout(1000)
            marks.append(("sort by name", page_now(page)))
            page.get_by_role("button", name="Name").click()
            expect(page.locator("th[aria-sort]")).to_have_attribute("data-key", "name")
            page.wait_for_timeout(300)
            marks.append(("search an ID", page_now(page)))
            wanted = f"lg{args.students * 3 // 4:05d}"
            page.get_by_label("Filter by ID or name").fill(wanted)
            expect(page.locator("#presence-body tr")).to_have_count(1)
            page.get_by_label("Filter by ID or name").fill("")
            page.wait_for_timeout(300)
            marks.append(("filter", page_now(page)))
            page.get_by_label("Show").select_option("unanswered")
            page.get_by_label("Show").select_option("all")
            page.wait_for_timeout(300)
            marks.append(("scroll to end", page_now(page)))
            page.locator("#presence-table").evaluate("t => { t.closest('.table-scroll').scrollTop = 1e9; }")
            last = page.locator("#presence-body tr").last
            expect(last).to_have_attribute("aria-rowindex", str(result["participants"] + 1))
            page.wait_for_timeout(300)
            result["after_interactions"] = page_counts(page)
            result["phases"] = long_tasks(page, marks)
            everything = [t["duration"] for t in page.evaluate("window.__dash.longtasks") if t["start"] >= marks[0][1]]
            result["longest_task_ms"] = round(max(everything, default=0.0))
            result["blocked_ms"] = round(sum(max(0.0, d - 50) for d in everything))
            result["page_errors"] = errors
            if args.trace:
                trace = browser.stop_tracing()
                Path(args.trace).write_bytes(trace)
                result["traced_long_tasks"] = traced_long_tasks(trace)
            browser.close()
    finally:
        signal.alarm(0)
        wall = time.monotonic() - wall_before
        busy = machine_busy_seconds()
        if busy is not None and busy_before is not None:
            result["machine_cpu_cores_busy"] = round((busy - busy_before) / wall, 2)
        try:
            admin(url, token, "end")
        except httpx.HTTPError:
            pass
        students: dict[str, int] = {}
        for conn in conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass  # it ended by itself (its students saw the session end): its result is in the pipe
            try:
                while conn.poll(60):  # thousands of sockets to close first, on a busy machine
                    kind, payload = conn.recv()
                    if kind == "result":
                        for key in ("joins_failed", "connect_failed", "dropped", "submits", "acks"):
                            students[key] = students.get(key, 0) + payload[key]
                        break
            except (OSError, EOFError) as exc:
                print(f"dashboard_load: a student process did not report: {exc!r}", file=sys.stderr)
        result["students_report"] = students
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
        stop_server(server)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            result["work_dir"] = str(work)
    return result


def format_report(r: dict[str, Any]) -> str:
    lines = [f"dashboard, {r['students']:,} students (joined in {r.get('joined_s')} s, {r.get('connected')} connected)"]
    for name, phase in r.get("phases", {}).items():
        lines.append(
            f"  {name:<14} {phase['seconds']:>6} s  long tasks {phase['tasks']:>3}  longest {phase['longest_ms']:>4} ms"
            f"  blocked {phase['blocked_ms']:>5} ms"
        )
    for number, latency in enumerate(r.get("next_ms", []), start=1):
        lines.append(f"  Next -> question {number}: handled {latency['handled']} ms, sent {latency['sent']} ms, "
                     f"acknowledged {latency['acknowledged']} ms, "
                     f"question_open in {latency['open_arrived']} ms, shown {latency['shown']} ms "
                     f"(page handlers {latency['page_handlers_ms']} ms; bytes {latency['messages']})")
    for key in ("after_join", "after_questions", "after_interactions"):
        if key in r:
            lines.append(f"  {key}: {r[key]}")
    if r.get("students_report"):
        lines.append(f"  students: {r['students_report']}")
    for task in r.get("traced_long_tasks", []):
        lines.append(f"  traced task: {task['wall_ms']} ms, of which CPU {task['cpu_ms']} ms; "
                     f"inside {task['inside_ms']}")
    lines.append(f"  longest task {r.get('longest_task_ms')} ms, blocked {r.get('blocked_ms')} ms in all; "
                 f"machine CPU busy {r.get('machine_cpu_cores_busy')} cores of {os.cpu_count()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", "-n", type=int, default=10_000)
    parser.add_argument("--questions", "-q", type=int, default=2, help="questions opened (at most 10)")
    parser.add_argument("--join-rate", type=float, default=250.0, help="joins per second, all processes together")
    parser.add_argument("--spread", type=float, default=3.0, help="answers come within this many seconds")
    parser.add_argument("--procs", type=int, default=0, help="student processes (0: one per 2,500 students)")
    parser.add_argument("--timeout", type=float, default=300.0, help="the whole run, in seconds")
    parser.add_argument("--json", help="write the result to this file too")
    parser.add_argument("--trace", help="record a Chromium trace of the page into this file; report its long tasks'"
                        " CPU time beside their wall time")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the server's output")
    args = parser.parse_args(argv)
    args.questions = max(1, min(args.questions, QUESTIONS))
    result = run(args)
    print(format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print("RESULT " + json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
