"""The projector and the dashboard in Chromium, against the real server: every question type,
legibility from the back of a hall, ties, pacing controls, the class list, and an axe audit.

The server runs as a subprocess (tests.helpers.ServerProcess); students are scripted browser
tabs that join and answer over the real socket (tests/classroom.py), so these tests do not
depend on the student page. Elements are found by role, label and visible text; sizes are
measured with getComputedStyle.

Chromium: /usr/bin/chromium or QUIZCTL_CHROMIUM. axe-core: installed under .ci/node (see
AXE_INSTALL); without it the audit test fails and says how to install it.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    expect,
)

from tests.chromium import chromium
from tests.classroom import Classroom, admin
from tests.helpers import POOLS, REPO, ServerProcess

FULL_HD = {"width": 1920, "height": 1080}
HD = {"width": 1280, "height": 720}
DASHBOARD = {"width": 1280, "height": 800}
LEGIBLE_SHARE = 0.035  # the smallest text the hall reads: 3.5 % of the screen's height
AXE = REPO / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
AXE_INSTALL = f"npm install --prefix {REPO / '.ci' / 'node'} axe-core@4"
SCREENSHOTS = REPO / "tests" / "screenshots"
WAIT_MS = 10_000

expect.set_options(timeout=WAIT_MS)


# ---------------------------------------------------------------- the server and the browser


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server(ServerProcess):
    """`quizctl serve` on a pool, with the operator's HTTP commands."""

    def admin(self, command: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = admin(self.url, self.admin_token, command, **body)["result"]
        return result

    def status(self) -> dict[str, Any]:
        return self.admin("status")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """serve(pool_path) starts a server on that pool; every one started is stopped after the test."""
    started: list[Server] = []

    def start(pool: Path) -> Server:
        server = Server(pool, tmp_path / f"data{len(started)}", port=free_port())
        started.append(server)
        server.start_blocking()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.ensure_stopped()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


class Screens:
    """Projector and dashboard pages for one test; script errors and dialogs are recorded."""

    def __init__(self, browser: Browser, name: str) -> None:
        self.browser = browser
        self.name = name
        self.contexts: list[Any] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.confirms: list[str] = []

    def open(self, url: str, viewport: dict[str, int], **options: Any) -> Page:
        context = self.browser.new_context(viewport=viewport, **options)
        self.contexts.append(context)
        page = context.new_page()

        def on_dialog(dialog: Dialog) -> None:
            self.confirms.append(dialog.message)
            dialog.accept()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.console_errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, policy
        return page

    def shot(self, page: Page, state: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = page.viewport_size or {}
        name = f"big_screens-{self.name}-{state}-{size.get('width')}x{size.get('height')}.png"
        page.screenshot(path=str(SCREENSHOTS / name))

    def close(self) -> None:
        for context in self.contexts:
            context.close()

    def assert_clean(self) -> None:
        assert self.page_errors == []
        csp = re.compile(r"Content.Security.Policy|Refused to", re.IGNORECASE)
        assert [text for text in self.console_errors if csp.search(text)] == []


@pytest.fixture
def screens(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Screens]:
    opened = Screens(browser, request.node.name.removeprefix("test_"))
    try:
        yield opened
        opened.assert_clean()
    finally:
        opened.close()


@pytest.fixture
def classroom(browser: Browser) -> Iterator[Any]:
    """classroom(server) gives that server's class of scripted students."""
    rooms: list[Classroom] = []

    def make(server: Server) -> Classroom:
        room = Classroom(browser, server.url)
        rooms.append(room)
        return room

    try:
        yield make
    finally:
        for room in rooms:
            room.close()


def write_pool(path: Path, questions: list[dict[str, Any]], **fields: Any) -> Path:
    pool = {"title": "Big screens", "time_limit_default": 60, "score_fn": "binary", "questions": questions, **fields}
    path.write_text(json.dumps(pool), encoding="utf-8")
    return path


DEMO = POOLS / "demo.json"


def on_question(page: Page, number: int, total: int = 10) -> None:
    expect(page.locator("#pj-q-num")).to_have_text(f"Question {number} of {total}")


def phase(page: Page, value: str) -> None:
    expect(page.locator("#pj-question")).to_have_attribute("data-phase", value)


# ---------------------------------------------------------------- measuring text


MEASURE_JS = """(selectors) => {
  // The size a text is drawn at: its font size times every zoom above it.
  const zoomOf = (node) => {
    let zoom = 1;
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) zoom *= parseFloat(getComputedStyle(n).zoom) || 1;
    return zoom;
  };
  const out = [];
  for (const selector of selectors) {
    for (const node of document.querySelectorAll(selector)) {
      if (!node.getClientRects().length || !node.textContent.trim()) continue;
      const style = getComputedStyle(node);
      const fontPx = parseFloat(style.fontSize) * zoomOf(node);
      const line = style.lineHeight === "normal" ? parseFloat(style.fontSize) * 1.2 : parseFloat(style.lineHeight);
      const linePx = line * zoomOf(node);
      const rect = node.getBoundingClientRect();
      out.push({ selector, text: node.textContent.trim().slice(0, 40), fontPx, linePx, height: rect.height,
                 clipped: node.scrollWidth > node.clientWidth + 1 && style.overflowX !== "visible" });
    }
  }
  return out;
}"""

# What the hall reads, by state; every one must be at least LEGIBLE_SHARE of the screen height.
HALL_TEXT = {
    "lobby": ["#pj-lobby-h", "#pj-join-url", "#pj-count-num", "#pj-count-label", ".pj-name-chip"],
    "open": [
        "#pj-q-num",
        "#pj-q-text",
        "#pj-q-text pre.code",
        ".pj-opt-text",
        ".pj-opt-letter",
        "#pj-answer-count",
        "#pj-timer-text",
        "#pj-join-top",
    ],
    "reveal": [
        "#pj-q-text",
        ".pj-opt-text",
        ".pj-opt-mark",
        "#pj-answer-count",
        ".pj-bar-label",
        ".pj-bar-value",
        ".pj-top10-name",
        ".pj-top10-score",
        "#pj-answer-line",
        "#pj-explanation",
    ],
    "board": [".pj-name", ".pj-score", ".pj-rank"],
    "final": [".pj-podium-name", ".pj-podium-score", ".pj-name", ".pj-score", ".pj-bar-label", ".pj-bar-value"],
}
CHART_LABELS = [".pj-bar-label", ".pj-bar-value"]


def measure(page: Page, selectors: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(MEASURE_JS, selectors)
    return found


def assert_legible(page: Page, state: str, smallest: dict[str, float]) -> None:
    """Every hall text at least 3.5 % of the height; chart labels on one line, not cut short."""
    height = (page.viewport_size or {})["height"]
    found = measure(page, HALL_TEXT[state])
    seen = {item["selector"] for item in found}
    assert seen, f"{state}: nothing measured"
    small = [item for item in found if item["fontPx"] < LEGIBLE_SHARE * height - 0.01]
    assert small == [], f"{state} at height {height}: text under {LEGIBLE_SHARE * height:.1f} px"
    for item in found:
        key = f"{height}p {state} {item['selector']}"
        smallest[key] = min(smallest.get(key, 1e9), item["fontPx"])
    labels = measure(page, CHART_LABELS)
    wrapped = [item for item in labels if item["height"] > 1.5 * item["linePx"]]
    assert wrapped == [], f"{state}: chart labels on more than one line"
    cut = [item for item in labels if item["clipped"] and item["selector"] == ".pj-bar-value"]
    assert cut == [], f"{state}: chart counts cut short"
    # Nothing is scaled down as a last resort, and the page does not scroll.
    assert page.evaluate("[...document.querySelectorAll('.pj-view')].every((v) => !v.style.zoom)"), f"{state}: zoomed"
    overflow = page.evaluate(
        "(() => { const m = document.getElementById('main');"
        " return [m.scrollHeight - m.clientHeight, m.scrollWidth - m.clientWidth]; })()"
    )
    assert overflow[0] <= 1 and overflow[1] <= 1, f"{state}: the view overflows the screen by {overflow}"


# ---------------------------------------------------------------- tests


def test_projector_text_is_legible_from_the_back_of_the_hall(serve: Any, screens: Screens, classroom: Any) -> None:
    server = serve(DEMO)
    projectors = [screens.open(f"{server.url}/projector", size) for size in (FULL_HD, HD)]
    students = classroom(server)
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Margaret Hamilton"]
    for number, name in enumerate(names, start=1):
        students.join(f"s{number}", name)
    smallest: dict[str, float] = {}

    def check(state: str) -> None:
        for page in projectors:
            assert_legible(page, state, smallest)
            screens.shot(page, state)

    for page in projectors:
        expect(page.locator("#pj-count-num")).to_have_text(str(len(names)))
        expect(page.locator(".pj-name-chip")).to_have_count(len(names))
    check("lobby")

    # The quicksort with its code (the widest snippet of the demo).
    server.admin("open", question_idx=1, time_limit=120)
    for page in projectors:
        on_question(page, 2)
        expect(page.locator("#pj-q-text pre.code")).to_be_visible()
    for number, key in enumerate("CACCAB", start=1):
        students.answer(f"s{number}", 1, key)
    for page in projectors:
        expect(page.locator("#pj-answer-count")).to_have_text(f"{len(names)} of {len(names)} answered")
    check("open")
    server.admin("close")
    for page in projectors:
        phase(page, "reveal")
    check("reveal")

    # A numeric reveal: the histogram's labels in the page's locale, each on one line.
    server.admin("open", question_idx=5, time_limit=60)
    for number, value in enumerate([21.8, 21.7, 22, 20, 21.79, 25], start=1):
        students.answer(f"s{number}", 5, value)
    server.admin("close")
    for page in projectors:
        phase(page, "reveal")
        expect(page.locator("#pj-answer-line")).to_have_text("✓ Correct answer: 21.8 ± 0.1")
    check("reveal")

    server.admin("leaderboard")
    for page in projectors:
        expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible()
    check("board")
    server.admin("end")
    for page in projectors:
        expect(page.get_by_role("heading", name="Final results")).to_be_visible()
    check("final")
    (SCREENSHOTS / "big_screens-text-sizes.json").write_text(json.dumps(smallest, indent=1, sort_keys=True))


def test_no_live_distribution_while_a_choice_question_is_open(serve: Any, screens: Screens, classroom: Any) -> None:
    server = serve(DEMO)
    projector = screens.open(f"{server.url}/projector", FULL_HD)
    students = classroom(server)
    for number in range(1, 4):
        students.join(f"s{number}", f"Student {number}")
    server.admin("open", question_idx=0, time_limit=60)
    on_question(projector, 1)
    students.answer("s1", 0, "B")
    students.answer("s2", 0, "B")
    expect(projector.locator("#pj-answer-count")).to_have_text("2 of 3 answered")
    # The counts are not in the page at all: no bars, no numbers per option, no percentages.
    expect(projector.locator("#pj-bars li")).to_have_count(0)
    expect(projector.locator(".pj-opt-count")).to_have_count(0)
    expect(projector.get_by_role("listitem", name=re.compile(r"^B: "))).to_have_count(0)
    assert "%" not in projector.locator("#main").inner_text()
    expect(projector.locator("#pj-answers-card")).to_be_hidden()
    expect(projector.locator("#pj-options")).not_to_contain_text("Correct")

    # A poll has nothing to give away: its results are live.
    server.admin("open", question_idx=8, time_limit=60)
    on_question(projector, 9)
    expect(projector.locator("#pj-q-hint")).to_have_text("Poll: no right or wrong")
    students.answer("s1", 8, "B")
    students.answer("s2", 8, "B")
    students.answer("s3", 8, "A")
    expect(projector.get_by_role("listitem", name="B: 2 (67%)")).to_be_visible()
    expect(projector.get_by_role("listitem", name="A: 1 (33%)")).to_be_visible()
    expect(projector.get_by_role("heading", name="Answers")).to_be_visible()
    expect(projector.locator(".pj-opt-mark")).to_have_count(0)


def test_podium_ties_share_a_step_and_a_rank(serve: Any, screens: Screens, classroom: Any, tmp_path: Path) -> None:
    pool = write_pool(
        tmp_path / "ties.json",
        [{"text": f"Question {n}", "options": {"A": "right", "B": "wrong"}, "correct": "A"} for n in (1, 2)],
    )
    server = serve(pool)
    projector = screens.open(f"{server.url}/projector", FULL_HD)
    students = classroom(server)
    for student_id, name in (("a", "Ada"), ("b", "Bea"), ("c", "Cy"), ("d", "Di")):
        students.join(student_id, name)
    # Ada and Bea both answer right twice (binary scoring: 2 points each), Cy once, Di never.
    for idx, answers in enumerate(({"a": "A", "b": "A", "c": "A", "d": "B"}, {"a": "A", "b": "A", "c": "B", "d": "B"})):
        server.admin("open", question_idx=idx, time_limit=60)
        on_question(projector, idx + 1, total=2)
        for student_id, key in answers.items():
            students.answer(student_id, idx, key)
        server.admin("close")
        phase(projector, "reveal")

    server.admin("leaderboard")
    board = projector.locator("#pj-leaderboard")
    expect(board.locator("li")).to_have_count(4)
    ranks = board.locator(".pj-rank").all_inner_texts()
    assert ranks == ["1", "1", "3", "4"], ranks
    # Both first places look the same: the same badge colour.
    badges = board.locator(".pj-rank")
    colours = [badges.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(3)]
    assert colours[0] == colours[1] != colours[2], colours

    server.admin("end")
    podium = projector.get_by_role("list", name="Top three")
    expect(podium).to_be_visible()
    steps = podium.locator(":scope > li")
    expect(steps).to_have_count(2)  # ranks 1 and 3: no step for a second place nobody has
    expect(steps.nth(0)).to_contain_text("Ada")
    expect(steps.nth(0)).to_contain_text("Bea")
    expect(steps.nth(0)).to_contain_text("Rank 1")
    expect(steps.nth(1)).to_contain_text("Cy")
    expect(steps.nth(1)).to_contain_text("Rank 3")
    blocks = projector.locator(".pj-podium-block")
    assert blocks.all_inner_texts() == ["1", "3"]
    first, third = (blocks.nth(i).bounding_box() for i in (0, 1))
    assert first and third and first["height"] > third["height"], (first, third)
    expect(projector.locator("#pj-rest li")).to_have_count(1)
    expect(projector.locator("#pj-rest")).to_contain_text("Di")
    screens.shot(projector, "podium")


def test_each_question_type_is_revealed_on_the_projector_and_dashboard(
    serve: Any, screens: Screens, classroom: Any
) -> None:
    server = serve(DEMO)
    projector = screens.open(f"{server.url}/projector", FULL_HD)
    dashboard = screens.open(server.instructor_url, DASHBOARD)
    students = classroom(server)
    for number in range(1, 5):
        students.join(f"s{number}", f"Student {number}")

    def ask(number: int, answers: list[Any]) -> None:
        server.admin("open", question_idx=number - 1, time_limit=60)
        on_question(projector, number)
        expect(dashboard.locator("#q-meta")).to_contain_text(f"Question {number} of 10")
        expect(dashboard.locator("#st-question")).to_have_text(f"{number} of 10")
        for student, answer in enumerate(answers, start=1):
            if answer is not None:
                students.answer(f"s{student}", number - 1, answer)
        server.admin("close")
        phase(projector, "reveal")
        expect(dashboard.locator("#st-state")).to_have_text("Question closed")

    # Single choice: the right option carries a word and an icon, not only a colour.
    ask(1, ["B", "B", "A", None])
    right = projector.locator("#pj-options li.is-correct")
    expect(right).to_have_count(1)
    expect(right).to_contain_text("Merge sort")
    expect(right).to_contain_text("✓ Correct")
    expect(projector.get_by_role("listitem", name="B: 2 (50%), correct answer")).to_be_visible()
    expect(projector.get_by_role("listitem", name="No answer: 1 (25%)")).to_be_visible()
    expect(dashboard.locator("#q-correct")).to_have_text("B: Merge sort")
    expect(dashboard.get_by_role("listitem", name="B: 2 (50%), correct answer")).to_be_visible()

    # Multiple answers: both right options marked.
    ask(3, [["B", "D"], ["B"], ["A", "C"], ["B", "D"]])
    expect(projector.locator("#pj-q-hint")).to_contain_text("Select all that apply")
    expect(projector.locator("#pj-options li.is-correct")).to_have_count(2)
    expect(projector.locator("#pj-options li.is-correct").nth(1)).to_contain_text("Line D")
    expect(dashboard.locator("#q-correct")).to_have_text("B: Line B; D: Line D")
    expect(dashboard.locator("#q-meta")).to_contain_text("multiple answers")

    # True or false: the tiles say True and False (translated), the right one marked.
    ask(4, [True, True, False, True])
    expect(projector.locator("#pj-options .pj-opt-text")).to_have_text(["True", "False"])
    expect(projector.locator("#pj-options li.is-correct")).to_contain_text("True")
    expect(projector.get_by_role("listitem", name="True: 3 (75%), correct answer")).to_be_visible()
    expect(dashboard.locator("#q-correct")).to_have_text("True")

    # Numeric: a histogram in at most 10 bins with the right range marked.
    ask(5, [7, 7, 9, 16])
    expect(projector.locator("#pj-answer-line")).to_have_text("✓ Correct answer: 7 comparisons")
    bins = projector.locator("#pj-result-bars > li")
    assert 1 <= bins.count() <= 10
    marked = projector.locator("#pj-result-bars > li.is-correct")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("aria-label", "7–7.9: 2, correct answer")  # 7 to 16 in 10 bins
    expect(dashboard.locator("#q-correct")).to_have_text("7 comparisons")
    expect(dashboard.locator("#q-dist-note")).to_have_text("Correct: 7 comparisons")

    # Text: the top answers with counts, the accepted ones marked.
    ask(7, ["bubble sort", "Bubble  Sort", "insertion sort", "bubblesort"])
    expect(projector.locator("#pj-answer-line")).to_have_text("✓ Accepted: bubble sort · bubblesort · sinking sort")
    expect(projector.get_by_role("listitem", name="bubble sort: 2, correct answer")).to_be_visible()
    expect(projector.get_by_role("listitem", name="insertion sort: 1")).to_be_visible()
    expect(dashboard.locator("#q-correct")).to_have_text("bubble sort · bubblesort · sinking sort")
    expect(dashboard.get_by_role("listitem", name="bubble sort: 2, correct answer")).to_be_visible()

    # A skipped question: "Skipped" everywhere, no reveal.
    server.admin("open", question_idx=7, time_limit=60)
    on_question(projector, 8)
    expect(projector.get_by_role("img", name=re.compile("Bar chart of the array"))).to_be_visible()
    server.admin("skip")
    phase(projector, "skipped")
    expect(projector.locator("#pj-banner")).to_have_text("Skipped: this question counts for nobody.")
    expect(projector.locator("#pj-options li.is-correct")).to_have_count(0)
    expect(dashboard.locator("#q-skipped")).to_be_visible()
    expect(dashboard.locator("#q-reveal")).to_be_hidden()

    # A poll: no right answer anywhere.
    ask(9, ["A", "B", "B", None])
    expect(projector.locator("#pj-options li.is-correct")).to_have_count(0)
    expect(dashboard.locator("#q-correct")).to_have_text("none (a poll)")

    # An open poll: a word cloud, sized by count, made of text only (markup shows as typed).
    server.admin("open", question_idx=9, time_limit=60)
    on_question(projector, 10)
    for student, word in enumerate(["fast", "Fast", "<b>bold</b>", "fast"], start=1):
        students.answer(f"s{student}", 9, word)
    cloud = projector.locator("#pj-cloud")
    expect(cloud.get_by_role("listitem", name="fast: 3")).to_be_visible()  # live: a poll gives nothing away
    expect(cloud.get_by_role("listitem", name="<b>bold</b>: 1")).to_have_text("<b>bold</b>")
    assert projector.locator("#pj-cloud b").count() == 0
    font = "e => parseFloat(getComputedStyle(e).fontSize)"
    big = cloud.get_by_role("listitem", name="fast: 3").evaluate(font)
    small = cloud.get_by_role("listitem", name="<b>bold</b>: 1").evaluate(font)
    assert big > small * 1.5, (big, small)
    server.admin("close")
    phase(projector, "reveal")
    expect(cloud.get_by_role("listitem", name="fast: 3")).to_be_visible()
    expect(dashboard.get_by_role("listitem", name="fast: 3")).to_be_visible()
    screens.shot(projector, "word-cloud")


def test_pause_extend_and_skip_from_the_dashboard_drive_the_server(
    serve: Any, screens: Screens, classroom: Any
) -> None:
    server = serve(DEMO)
    dashboard = screens.open(server.instructor_url, DASHBOARD)
    projector = screens.open(f"{server.url}/projector", HD)
    classroom(server).join("s1", "Ada Lovelace")
    expect(dashboard.locator("#conn")).to_have_text("Connected")
    for name in ("Pause", "+30 s", "Add time", "Skip question…", "Close question"):
        expect(dashboard.get_by_role("button", name=name)).to_be_disabled()

    dashboard.get_by_label("Question number").fill("4")
    dashboard.get_by_label("Time limit in seconds").fill("60")
    dashboard.get_by_role("button", name="Open question").click()
    on_question(projector, 4)
    expect(dashboard.locator("#st-question")).to_have_text("4 of 10")
    assert server.status()["current_question_idx"] == 3

    dashboard.get_by_role("button", name="Pause").click()
    expect(dashboard.locator("#st-state")).to_have_text("Question paused")
    status = server.status()
    assert status["state"] == "question_paused" and status["paused"] is True, status
    expect(projector.locator("#pj-status")).to_have_text("Paused")
    frozen = projector.locator("#pj-timer-text").inner_text()
    projector.wait_for_timeout(1500)
    assert projector.locator("#pj-timer-text").inner_text() == frozen, "the projector's countdown runs while paused"

    dashboard.get_by_role("button", name="Resume").click()
    expect(dashboard.locator("#st-state")).to_have_text("Question open")
    assert server.status()["state"] == "question_open"
    before = server.status()["time_left_ms"]
    dashboard.get_by_role("button", name="+30 s").click()
    _wait_until(dashboard, lambda: server.status()["time_left_ms"] > before + 25_000, "+30 s did not move the deadline")
    before = server.status()["time_left_ms"]
    dashboard.get_by_label("Extra seconds").fill("45")
    dashboard.get_by_role("button", name="Add time").click()
    _wait_until(
        dashboard, lambda: server.status()["time_left_ms"] > before + 40_000, "Add time did not move the deadline"
    )
    dashboard.get_by_label("Extra seconds").fill("0")
    dashboard.get_by_role("button", name="Add time").click()
    expect(dashboard.get_by_role("alert")).to_have_text("Extra time must be whole seconds from 1 to 3600.")

    dashboard.get_by_role("button", name="Skip question…").click()
    assert screens.confirms and "Skip this question?" in screens.confirms[-1]
    expect(dashboard.locator("#q-skipped")).to_be_visible()
    assert server.status()["state"] == "question_closed"
    phase(projector, "skipped")
    for name in ("Pause", "+30 s", "Skip question…"):
        expect(dashboard.get_by_role("button", name=name)).to_be_disabled()

    dashboard.get_by_role("button", name="End session").click()
    expect(dashboard.locator("#st-state")).to_have_text("Finished")
    expect(dashboard.get_by_role("button", name="Open question")).to_be_disabled()
    expect(dashboard.get_by_role("button", name="Finished")).to_be_disabled()


def _wait_until(page: Page, check: Any, message: str, timeout_ms: int = WAIT_MS) -> None:
    waited = 0
    while not check():
        assert waited < timeout_ms, message
        page.wait_for_timeout(100)
        waited += 100


def test_the_class_list_and_extra_time_on_the_dashboard_and_projector(
    serve: Any, screens: Screens, classroom: Any
) -> None:
    server = serve(DEMO)
    for student_id, name, extra in (("r1", "Ada Lovelace", None), ("r2", "Alan Turing", None), ("r3", "Mei Chen", "2")):
        server.admin("roster-add", student_id=student_id, name=name, **({"extra_time": extra} if extra else {}))
    dashboard = screens.open(server.instructor_url, DASHBOARD)
    projector = screens.open(f"{server.url}/projector", FULL_HD)
    students = classroom(server)
    assert students.join("r1", None)["status"] == 200
    assert students.join("x9", "Intruder")["status"] == 403
    assert students.join("x9", "Intruder")["status"] == 403

    roster = dashboard.get_by_role("region", name="Class list")
    expect(roster).to_be_visible()
    not_joined = roster.get_by_role("list", name="Not joined")
    expect(not_joined.locator("li")).to_have_count(2)
    expect(not_joined).to_contain_text("Alan Turing")
    expect(not_joined).to_contain_text("Mei Chen")
    refused = roster.get_by_role("table", name="Refused join attempts")
    row = refused.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td")).to_have_text([re.compile("x9"), re.compile(r"\d"), "2", "127.0.0.1"])

    # Mei has double time: after the question's own 5 s, the room waits for her.
    assert students.join("r3", None)["status"] == 200
    expect(not_joined.locator("li")).to_have_count(1)
    server.admin("open", question_idx=0, time_limit=5)
    students.answer("r1", 0, "B")
    expect(projector.locator("#pj-status")).to_have_text("Waiting for 1 student with extra time", timeout=12_000)
    expect(dashboard.locator("#st-waiting")).to_have_text("Waiting for 1 student with extra time")
    screens.shot(projector, "waiting-extra-time")
    students.answer("r3", 0, "A")
    phase(projector, "reveal")
    expect(dashboard.locator("#st-waiting")).to_be_hidden()


def test_the_lobby_shows_the_newest_names_unless_hidden(serve: Any, screens: Screens, classroom: Any) -> None:
    server = serve(DEMO)
    projector = screens.open(f"{server.url}/projector", FULL_HD)
    students = classroom(server)
    for number, name in enumerate(["Ada Lovelace", "Alan Turing", "Grace Hopper"], start=1):
        students.join(f"s{number}", name)
    names = projector.get_by_role("list", name="Just joined")
    expect(names.locator("li")).to_have_count(3)
    expect(names).to_contain_text("Grace Hopper")
    expect(projector.locator("#pj-count-num")).to_have_text("3")

    # N hides them: out of the page, not just out of sight, and it survives a reload.
    projector.keyboard.press("n")
    expect(projector.locator(".pj-name-chip")).to_have_count(0)
    expect(projector.locator("#pj-names-note")).to_have_text("Names are hidden.")
    assert "names=off" in projector.url
    projector.reload()
    expect(projector.locator("#pj-count-num")).to_have_text("3")
    expect(projector.locator(".pj-name-chip")).to_have_count(0)
    projector.get_by_role("button", name="Show names").click()
    expect(projector.locator(".pj-name-chip")).to_have_count(3)
    assert "names=off" not in projector.url

    hidden = screens.open(f"{server.url}/projector?names=off", HD)
    expect(hidden.locator("#pj-count-num")).to_have_text("3")
    expect(hidden.locator(".pj-name-chip")).to_have_count(0)
    expect(hidden.get_by_role("button", name="Show names")).to_be_visible()


def test_the_student_table_is_in_view_during_a_question(serve: Any, screens: Screens, classroom: Any) -> None:
    server = serve(DEMO)
    dashboard = screens.open(server.instructor_url, DASHBOARD)
    students = classroom(server)
    for number in range(1, 9):
        students.join(f"s{number}", f"Student {number}")
    server.admin("open", question_idx=2, time_limit=60)  # the insertion sort: code, four options
    expect(dashboard.locator("#q-text pre.code")).to_be_visible()
    expect(dashboard.locator("#presence-body tr")).to_have_count(8)
    assert dashboard.evaluate("window.scrollY") == 0
    heading = dashboard.get_by_role("heading", name="Students").bounding_box()
    first_row = dashboard.locator("#presence-body tr").first.bounding_box()
    controls = dashboard.get_by_role("region", name="Session controls").bounding_box()
    assert heading and first_row and controls
    assert first_row["y"] + first_row["height"] <= DASHBOARD["height"], first_row
    assert heading["y"] >= controls["y"] + controls["height"], "the table comes after the controls, not under them"
    assert dashboard.evaluate("document.documentElement.scrollWidth") <= DASHBOARD["width"]
    screens.shot(dashboard, "question")


def test_charts_respect_reduced_motion(serve: Any, screens: Screens, classroom: Any) -> None:
    server = serve(DEMO)
    calm = screens.open(f"{server.url}/projector", FULL_HD, reduced_motion="reduce")
    lively = screens.open(f"{server.url}/projector", FULL_HD, reduced_motion="no-preference")
    students = classroom(server)
    students.join("s1", "Ada Lovelace")
    server.admin("open", question_idx=8, time_limit=60)
    students.answer("s1", 8, "A")
    duration = "e => parseFloat(getComputedStyle(e).transitionDuration)"
    for page in (calm, lively):
        expect(page.get_by_role("listitem", name="A: 1 (100%)")).to_be_visible()
    assert calm.locator("#pj-bars .pj-bar-fill").first.evaluate(duration) < 0.01
    assert lively.locator("#pj-bars .pj-bar-fill").first.evaluate(duration) >= 0.3


def run_axe(page: Page) -> list[dict[str, Any]]:
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(path=str(AXE))
    results: dict[str, Any] = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_no_serious_accessibility_findings(serve: Any, screens: Screens, classroom: Any) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed: {AXE_INSTALL}", pytrace=False)
    server = serve(DEMO)
    projector = screens.open(f"{server.url}/projector", FULL_HD, bypass_csp=True)
    dashboard = screens.open(server.instructor_url, DASHBOARD, bypass_csp=True)
    students = classroom(server)
    for number in range(1, 4):
        students.join(f"s{number}", f"Student {number}")
    findings: dict[str, list[dict[str, Any]]] = {}

    def audit(state: str) -> None:
        for name, page in (("projector", projector), ("dashboard", dashboard)):
            found = run_axe(page)
            if found:
                findings[f"{name} {state}"] = found

    expect(projector.get_by_role("heading", name="Join the quiz")).to_be_visible()
    expect(dashboard.locator("#conn")).to_have_text("Connected")
    audit("lobby")
    server.admin("open", question_idx=1, time_limit=60)
    on_question(projector, 2)
    students.answer("s1", 1, "C")
    audit("question")
    server.admin("pause")
    expect(dashboard.locator("#st-state")).to_have_text("Question paused")
    audit("paused")
    server.admin("resume")
    students.answer("s2", 1, "A")
    server.admin("close")
    phase(projector, "reveal")
    audit("reveal")
    server.admin("open", question_idx=9, time_limit=60)
    students.answer("s1", 9, "fast")
    server.admin("close")
    phase(projector, "reveal")
    audit("word cloud")
    server.admin("leaderboard")
    expect(projector.get_by_role("heading", name="Leaderboard")).to_be_visible()
    audit("leaderboard")
    server.admin("end")
    expect(projector.get_by_role("heading", name="Final results")).to_be_visible()
    expect(dashboard.locator("#st-state")).to_have_text("Finished")
    audit("final")
    assert findings == {}
