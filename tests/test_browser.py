"""The three pages in a real browser (Playwright + Debian's Chromium) against a real server.

The server runs as a subprocess (`ServerProcess`: `python -m quizctl serve`), because
Playwright's sync API would block a trio loop in this process. Tests are plain synchronous functions; under
pytest-trio's trio_mode they simply run as ordinary tests.

Every assertion is on what a person sees (visible text, the marked button, the QR image),
not on page internals. Screenshots of each page in each state go to tests/screenshots/
(gitignored) so people can look at them.

Chromium: /usr/bin/chromium (Debian's package; `.ci/run` installs it), or the path in
QUIZCTL_CHROMIUM. If it is missing the tests FAIL, they do not skip.
"""
from __future__ import annotations

import csv
import io
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, expect, sync_playwright

from tests.helpers import POOLS, REPO, WAIT_S, ServerProcess

POOL = POOLS / "tiny.json"
SCREENSHOTS = REPO / "tests" / "screenshots"
CHROMIUM = os.environ.get("QUIZCTL_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LAPTOP = {"viewport": {"width": 1280, "height": 900}}
PROJECTOR = {"viewport": {"width": 1920, "height": 1080}}
WAIT_MS = 10_000
HOSTILE_NAME = "<img src=x onerror=alert(1)>"

expect.set_options(timeout=WAIT_MS)


# ---------------------------------------------------------------- the server, as a subprocess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class BrowserServer(ServerProcess):
    """The tiny pool on a fixed port, so the pages find it again after a restart."""

    def start_blocking(self) -> BrowserServer:
        super().start_blocking()
        assert self.url == f"http://127.0.0.1:{self.port}", "".join(self.output)
        return self

    def admin(self, command: str, **body: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/admin/{command}",
            json=body,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=WAIT_S,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BrowserServer]:
    running = BrowserServer(POOL, tmp_path / "data", port=free_port())
    try:
        running.start_blocking()
        yield running
    finally:
        running.ensure_stopped()


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium package "
            "(apt-get install chromium; .ci/run does this) or QUIZCTL_CHROMIUM=/path/to/chromium.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Pages:
    """Browser contexts for one test, with every dialog, console error and page error recorded."""

    def __init__(self, browser: Browser, test_name: str) -> None:
        self.browser = browser
        self.test_name = test_name
        self.contexts: list[BrowserContext] = []
        self.pages: dict[str, Page] = {}
        self.dialogs: list[tuple[str, str, str]] = []  # (page, type, message)
        self.accept_confirms: set[str] = set()  # pages whose confirm() dialogs are expected and accepted
        self.console_errors: list[tuple[str, str]] = []
        self.page_errors: list[tuple[str, str]] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def open(self, label: str, url: str, **context_options: Any) -> Page:
        context = self.browser.new_context(**context_options)
        self.contexts.append(context)
        page = context.new_page()

        def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append((label, dialog.type, dialog.message))
            if dialog.type == "confirm" and label in self.accept_confirms:
                dialog.accept()
            else:
                dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.console_errors.append((label, message.text))

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.page_errors.append((label, str(error))))
        response = page.goto(url)
        assert response is not None and response.status == 200, (label, url)
        assert_csp(response.headers)
        self.pages[label] = page
        return page

    def shot(self, page: Page, label: str, state: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{self.test_name}-{state}-{label}.png"), full_page=True)

    def shot_all(self, state: str) -> None:
        for label, page in self.pages.items():
            self.shot(page, label, state)

    def csp_errors(self) -> list[tuple[str, str]]:
        csp = re.compile(r"Content.Security.Policy|Refused to", re.I)
        return [(label, text) for label, text in self.console_errors if csp.search(text)]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser, request.node.name.removeprefix("test_"))
    try:
        yield opened
    finally:
        opened.close()


def assert_csp(headers: dict[str, str]) -> None:
    policy = headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy, policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    assert "default-src 'self'" in policy, policy


# ---------------------------------------------------------------- page actions


def join(page: Page, student_id: str, name: str) -> None:
    expect(page.get_by_role("heading", name="Join the quiz")).to_be_visible()
    page.get_by_label("Student ID").fill(student_id)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name="You're in!")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Connected")


def answer_button(page: Page, key: str) -> Any:
    return page.locator("#answers").get_by_role("button", name=re.compile(rf"^Option {key}:"))


def open_from_dashboard(instructor: Page, number: int, time_limit: int) -> None:
    instructor.get_by_label("Question number").fill(str(number))
    instructor.get_by_label("Time limit in seconds").fill(str(time_limit))
    instructor.get_by_role("button", name="Open question").click()


# ---------------------------------------------------------------- tests


def test_a_full_question_on_all_three_pages(server: BrowserServer, pages: Pages) -> None:
    projector = pages.open("projector", f"{server.url}/projector", **PROJECTOR)
    instructor = pages.open("instructor", server.instructor_url, **LAPTOP)
    pages.accept_confirms.add("instructor")
    students = [pages.open(f"student{i}", f"{server.url}/", **PHONE) for i in (1, 2, 3)]
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]

    # ---- lobby
    expect(projector.get_by_role("heading", name="Join the quiz")).to_be_visible()
    qr = projector.get_by_role("img", name="QR code with the join link")
    expect(qr).to_be_visible()
    assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR image did not render"
    expect(projector.locator("#pj-join-url")).to_have_text(f"{server.url}/")
    expect(projector.locator("#pj-count-num")).to_have_text("0")
    # The token is taken out of the address bar.
    expect(instructor).to_have_url(f"{server.url}/instructor")
    expect(instructor.locator("#conn")).to_have_text("Connected")
    expect(instructor.locator("#st-state")).to_have_text("Lobby")

    for number, (page, name) in enumerate(zip(students, names), start=1):
        join(page, f"s{number}", name)
        expect(projector.locator("#pj-count-num")).to_have_text(str(number))
    expect(projector.locator("#pj-count-label")).to_have_text("players joined")
    expect(instructor.locator("#lobby-count")).to_have_text("3")
    for name in names:
        expect(instructor.locator("#lobby-list")).to_contain_text(name)
        expect(instructor.locator("#presence-body")).to_contain_text(name)
    expect(instructor.locator("#st-connected")).to_have_text("3")
    expect(students[0].locator("#who")).to_have_text("Ada Lovelace · 0 points")
    pages.shot_all("1-lobby")

    # ---- open question 1 (5 s, the minimum) from the dashboard
    open_from_dashboard(instructor, 1, 5)
    for page in students:
        expect(page.get_by_role("heading", name="What is 2 + 2?")).to_be_visible()
        expect(page.locator("#question-count")).to_have_text("Question 1 of 3")
        expect(page.locator("#answers button.answer")).to_have_count(4)
    for button in students[0].locator("#answers button.answer").all():  # big enough for thumbs, all on screen
        box = button.bounding_box()
        assert box is not None and box["height"] >= 48 and box["width"] >= 300 and box["y"] + box["height"] <= 844, box
    expect(projector.locator("#pj-q-text")).to_have_text("What is 2 + 2?")
    expect(projector.locator("#pj-q-num")).to_have_text("Question 1 of 3")
    expect(projector.locator("#pj-options .pj-opt-text")).to_have_text(["3", "4", "5", "22"])
    expect(projector.locator("#pj-timer")).to_be_visible()
    expect(instructor.locator("#q-text")).to_have_text("What is 2 + 2?")
    expect(instructor.locator("#st-state")).to_have_text("Question open")

    # Two students answer; the third lets the time run out.
    answer_button(students[0], "B").click()
    students[1].keyboard.press("a")  # the keyboard works too (A-D or 1-4)
    for page, key in [(students[0], "B"), (students[1], "A")]:
        # The ack confirms the answer and nothing else: no points, no right or wrong before the reveal.
        expect(page.locator("#question-status")).to_have_text(f"Answer {key} received.")
        expect(answer_button(page, key)).to_have_attribute("aria-pressed", "true")
        expect(answer_button(page, key)).to_contain_text("Your answer")
    expect(instructor.locator("#q-counts")).to_have_text("2 of 3 answered · 1 pending")
    expect(instructor.get_by_role("listitem", name=re.compile(r"^A: 1 "))).to_be_visible()
    expect(instructor.get_by_role("listitem", name=re.compile(r"^B: 1 "))).to_be_visible()
    expect(instructor.get_by_role("listitem", name=re.compile(r"^Pending: 1 "))).to_be_visible()
    expect(instructor.locator("#st-answered")).to_have_text("2 of 3")
    expect(projector.locator("#pj-answer-count")).to_have_text("2 of 3 answered")
    # While the question is open the projector must not give the answer away.
    expect(projector.locator("#pj-options")).not_to_contain_text("Correct")
    pages.shot_all("2-question")

    # ---- time runs out: the question closes by itself and everyone sees the reveal
    expect(students[2].locator("#reveal-h")).to_have_text("No answer", timeout=15_000)
    expect(students[0].locator("#reveal-h")).to_have_text("Correct!")
    expect(students[1].locator("#reveal-h")).to_have_text("Not quite")
    for page in students:
        expect(page.locator("#reveal-correct")).to_have_text("B: 4")
        expect(page.locator("#reveal-explanation")).to_have_text("2 + 2 = 4.")
        expect(page.locator("#reveal-top li")).to_have_count(3)
    expect(students[0].locator("#reveal-yours")).to_have_text("B: 4")
    expect(students[0].locator("#reveal-rank")).to_have_text(re.compile(r"^You are #1 with (0\.[5-9]\d?|1) points?\.$"))
    expect(students[0].locator("#reveal-top li.you")).to_contain_text("Ada Lovelace")
    expect(students[0].locator("#reveal-top li.you")).to_contain_text("You")
    expect(students[1].locator("#reveal-yours")).to_have_text("A: 3")
    expect(students[1].locator("#reveal-points")).to_have_text("+0 points")
    expect(students[1].locator("#reveal-rank")).to_have_text(re.compile(r"^You are #2 with 0 points\.$"))
    expect(students[2].locator("#reveal-yours")).to_have_text("No answer")
    expect(students[2].locator("#reveal-rank")).to_have_text(re.compile(r"^You are #2 with 0 points\.$"))

    expect(instructor.locator("#st-state")).to_have_text("Question closed")
    expect(instructor.locator("#q-correct")).to_have_text("B: 4")
    expect(instructor.locator("#q-explanation")).to_have_text("2 + 2 = 4.")
    expect(instructor.locator("#q-counts")).to_have_text("2 answered · 1 missed")
    expect(instructor.get_by_role("listitem", name=re.compile(r"^B: 1 \(33%\), correct answer$"))).to_be_visible()
    expect(instructor.get_by_role("listitem", name=re.compile(r"^Missed: 1 "))).to_be_visible()
    leaderboard = instructor.locator("#lb-body tr")
    expect(leaderboard).to_have_count(3)
    expect(leaderboard.nth(0)).to_contain_text("Ada Lovelace")
    expect(leaderboard.nth(0).locator("td").nth(0)).to_have_text("1")
    expect(instructor.locator("#lb-count")).to_have_text("3 students")

    expect(projector.locator("#pj-options li.is-correct")).to_contain_text("✓ Correct")
    expect(projector.locator("#pj-options li.is-correct")).to_contain_text("4")
    expect(projector.locator("#pj-explanation")).to_have_text("2 + 2 = 4.")
    expect(projector.locator("#pj-answer-count")).to_have_text("2 answered")
    expect(projector.locator("#pj-timer")).to_be_hidden()
    expect(projector.get_by_role("heading", name="Response time")).to_be_visible()
    expect(projector.locator("#pj-reveal-top li").first).to_contain_text("Ada Lovelace")
    expect(projector.locator("#pj-reveal-top")).to_contain_text("Alan Turing")
    expect(projector.locator("#pj-reveal-top")).not_to_contain_text("s1")  # names only, never ids
    top_card = projector.locator("#pj-reveal-top-card").bounding_box()
    assert top_card is not None and top_card["y"] + top_card["height"] <= 1080, "the reveal does not fit the screen"
    pages.shot_all("3-reveal")

    # ---- standings between questions
    instructor.get_by_role("button", name="Show leaderboard").click()
    expect(projector.get_by_role("heading", name="Leaderboard")).to_be_visible()
    expect(projector.locator("#pj-leaderboard li").first).to_contain_text("Ada Lovelace")
    for page in students:
        expect(page.locator("#between-h")).to_have_text("Get ready for question 2 of 3")
    expect(students[0].locator("#between-rank")).to_have_text(re.compile(r"^You are #1 with "))
    expect(instructor.locator("#st-state")).to_have_text("Between questions")
    pages.shot_all("4-between")

    # ---- end of the session (the End button asks for a confirmation, which is accepted)
    instructor.get_by_role("button", name="End session").click()
    expect(projector.get_by_role("heading", name="Final results")).to_be_visible()
    expect(projector.locator("#pj-podium li").first).to_contain_text("Ada Lovelace")
    expect(projector.get_by_role("heading", name="Score distribution")).to_be_visible()
    expect(students[0].locator("#ended-rank")).to_have_text("You finished #1")
    expect(students[0].locator("#ended-answered")).to_have_text("1 of 3")
    expect(students[0].locator("#ended-correct")).to_have_text("1")
    expect(students[2].locator("#ended-answered")).to_have_text("0 of 3")
    expect(instructor.locator("#st-state")).to_have_text("Finished")
    expect(instructor.get_by_role("button", name="Finished")).to_be_disabled()
    pages.shot_all("5-ended")

    # The gradebook downloads from the dashboard (the instructor cookie authorizes it).
    with instructor.expect_download() as download:
        instructor.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert list(rows[0]) == ["student_id", "name", "q1", "q2", "q3", "total", "answered", "correct", "rank"]
    by_id = {row["student_id"]: row for row in rows}
    assert [by_id[i]["name"] for i in ("s1", "s2", "s3")] == names
    assert 0.5 <= float(by_id["s1"]["total"]) <= 1 and by_id["s1"]["rank"] == "1"
    rest = [(float(by_id[i]["total"]), by_id[i]["answered"], by_id[i]["rank"]) for i in ("s2", "s3")]
    assert rest == [(0, "1", "2"), (0, "0", "2")], rows

    assert pages.dialogs == [("instructor", "confirm", pages.dialogs[0][2])] and "End the session" in pages.dialogs[0][2]
    assert pages.page_errors == []
    assert pages.csp_errors() == []


def test_reload_keeps_the_answer_and_pages_reconnect_after_a_restart(server: BrowserServer, pages: Pages) -> None:
    student = pages.open("student", f"{server.url}/", **PHONE)
    other = pages.open("other", f"{server.url}/", **PHONE)
    instructor = pages.open("instructor", server.instructor_url, **LAPTOP)
    projector = pages.open("projector", f"{server.url}/projector", **PROJECTOR)
    join(student, "r1", "Rosalind Franklin")
    join(other, "r2", "Barbara Liskov")
    server.admin("open", question_idx=0, time_limit=120)
    expect(student.get_by_role("heading", name="What is 2 + 2?")).to_be_visible()
    answer_button(student, "B").click()
    expect(student.locator("#question-status")).to_have_text("Answer B received.")
    received = student.locator("#question-status").inner_text()

    # ---- reload mid-question: the question is back with the answer still marked
    student.reload()
    expect(student.get_by_role("heading", name="What is 2 + 2?")).to_be_visible()
    expect(answer_button(student, "B")).to_have_attribute("aria-pressed", "true")
    expect(answer_button(student, "B")).to_contain_text("Your answer")
    expect(answer_button(student, "A")).to_have_attribute("aria-pressed", "false")
    expect(student.locator("#question-status")).to_have_text(received)
    pages.shot(student, "student", "1-after-reload")

    # ---- stop the server: every page notices
    assert server.stop_blocking() == 0
    for page in (student, other, instructor, projector):
        expect(page.locator("#conn")).to_have_text("Reconnecting…")
    pages.shot_all("2-server-down")

    # ---- start it again on the same port and data dir: the pages come back by themselves
    server.start_blocking()
    for page in (student, other, instructor, projector):
        expect(page.locator("#conn")).to_have_text("Connected", timeout=15_000)
    expect(student.get_by_role("heading", name="What is 2 + 2?")).to_be_visible()
    expect(answer_button(student, "B")).to_have_attribute("aria-pressed", "true")
    expect(other.get_by_role("heading", name="What is 2 + 2?")).to_be_visible()
    expect(projector.locator("#pj-q-text")).to_have_text("What is 2 + 2?")
    expect(instructor.locator("#st-state")).to_have_text("Question open")
    expect(instructor.locator("#q-text")).to_have_text("What is 2 + 2?")
    expect(instructor.locator("#q-counts")).to_have_text("1 of 2 answered · 1 pending")

    # The reconnected sockets are live: an answer after the restart and the close reach every page.
    answer_button(other, "C").click()
    expect(other.locator("#question-status")).to_have_text("Answer C received.")
    expect(instructor.locator("#q-counts")).to_have_text("2 of 2 answered · 0 pending")
    instructor.get_by_role("button", name="Close question").click()
    expect(student.locator("#reveal-h")).to_have_text("Correct!")
    expect(other.locator("#reveal-h")).to_have_text("Not quite")
    expect(projector.locator("#pj-options li.is-correct")).to_contain_text("4")
    expect(instructor.locator("#q-correct")).to_have_text("B: 4")
    pages.shot_all("3-after-restart")

    assert pages.dialogs == []
    assert pages.page_errors == []
    assert pages.csp_errors() == []


def test_a_hostile_name_is_shown_as_text(server: BrowserServer, pages: Pages) -> None:
    instructor = pages.open("instructor", server.instructor_url, **LAPTOP)
    projector = pages.open("projector", f"{server.url}/projector", **PROJECTOR)
    student = pages.open("student", f"{server.url}/", **PHONE)
    join(student, "x1", HOSTILE_NAME)
    expect(student.locator("#who")).to_have_text(f"{HOSTILE_NAME} · 0 points")

    expect(instructor.locator("#lobby-list")).to_contain_text(HOSTILE_NAME)
    expect(instructor.locator("#presence-body")).to_contain_text(HOSTILE_NAME)
    server.admin("open", question_idx=0, time_limit=60)
    answer_button(student, "B").click()
    expect(student.locator("#question-status")).to_have_text("Answer B received.")
    server.admin("close")
    expect(student.locator("#reveal-top li.you")).to_contain_text(HOSTILE_NAME)
    expect(instructor.locator("#lb-body")).to_contain_text(HOSTILE_NAME)
    expect(projector.locator("#pj-reveal-top")).to_contain_text(HOSTILE_NAME)
    server.admin("leaderboard")
    expect(projector.locator("#pj-leaderboard")).to_contain_text(HOSTILE_NAME)
    server.admin("end")
    expect(projector.locator("#pj-podium")).to_contain_text(HOSTILE_NAME)
    pages.shot_all("ended")

    for page in (instructor, projector, student):
        # The name never became markup: no <img src=x> anywhere in the page.
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("img[onerror]").count() == 0
    assert pages.dialogs == []
    assert pages.page_errors == []
    assert pages.csp_errors() == []


def test_join_errors_and_clearing_a_student(server: BrowserServer, pages: Pages) -> None:
    first = pages.open("first", f"{server.url}/", **PHONE)
    second = pages.open("second", f"{server.url}/", **PHONE)
    instructor = pages.open("instructor", server.instructor_url, **LAPTOP)
    pages.accept_confirms.add("instructor")
    join(first, "d1", "Edsger Dijkstra")

    # A claimed id: the error sits under the ID field and says to ask the instructor.
    second.get_by_label("Student ID").fill("d1")
    second.get_by_label("Your name").fill("Impostor")
    second.get_by_role("button", name="Join").click()
    expect(second.locator("#student-id-error")).to_have_text(re.compile("already joined.*ask the instructor"))
    expect(second.get_by_label("Student ID")).to_have_attribute("aria-invalid", "true")
    # A malformed id: the server's rule is shown.
    second.get_by_label("Student ID").fill("not an id!")
    expect(second.locator("#student-id-error")).to_be_hidden()
    second.get_by_role("button", name="Join").click()
    expect(second.locator("#student-id-error")).to_have_text(re.compile("^Student ID must be 1-64 characters"))
    pages.shot(second, "second", "1-join-error")

    # The dashboard flags the duplicate attempt; clearing the row signs the first device out.
    row = instructor.locator("#presence-body tr", has_text="d1")
    expect(row.locator("td").nth(6)).to_have_text("1")
    pages.shot(instructor, "instructor", "1-duplicate-flagged")
    instructor.get_by_role("button", name="Clear Edsger Dijkstra (d1)").click()
    expect(first.locator("#join-notice")).to_have_text(re.compile("removed by the instructor. Join again."))
    expect(first.get_by_role("heading", name="Join the quiz")).to_be_visible()
    expect(instructor.locator("#presence-body")).not_to_contain_text("Edsger Dijkstra")
    pages.shot(first, "first", "2-cleared")

    # Now the id can be claimed by the other device.
    join(second, "d1", "Impostor")
    expect(instructor.locator("#lobby-list")).to_contain_text("Impostor")

    assert [(label, kind) for label, kind, _ in pages.dialogs] == [("instructor", "confirm")]
    assert pages.page_errors == []
    assert pages.csp_errors() == []
