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
import json
import re
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, expect

from server import data_dir as data_dir_files
from tests.chromium import chromium
from tests.helpers import POOLS, REPO, WAIT_S, ServerProcess

POOL = POOLS / "tiny.json"
SCREENSHOTS = REPO / "tests" / "screenshots"
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
    with chromium() as launched:
        yield launched


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

    assert (
        pages.dialogs == [("instructor", "confirm", pages.dialogs[0][2])] and "End the session" in pages.dialogs[0][2]
    )
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


# ---------------------------------------------------------------- languages

LOCALES = REPO / "static" / "locales"


def catalog(language: str) -> dict[str, Any]:
    return json.loads((LOCALES / f"{language}.json").read_text(encoding="utf-8"))


# What a student sees in each language, written out (not read from the catalogs), so a
# page that loads the wrong catalog, or none, fails. Browser locale → expected text.
SEEN = {
    "en": {
        "locale": "en-US",
        "title": "Join the quiz",
        "id": "Student ID",
        "name": "Your name",
        "join": "Join",
        "lobby": "You're in!",
        "who": "0 points",
        "option": "Option",
        "counter": "Question 1 of 3",
        "ack": "Answer B received.",
        "correct": "Correct!",
    },
    "de": {
        "locale": "de-DE",
        "title": "Am Quiz teilnehmen",
        "id": "Matrikelnummer",
        "name": "Ihr Name",
        "join": "Beitreten",
        "lobby": "Sie sind dabei!",
        "who": "0 Punkte",
        "option": "Antwort",
        "counter": "Frage 1 von 3",
        "ack": "Antwort B erhalten.",
        "correct": "Richtig!",
    },
    "fr": {
        "locale": "fr-FR",
        "title": "Rejoindre le quiz",
        "id": "Numéro d’étudiant",
        "name": "Votre nom",
        "join": "Rejoindre",
        "lobby": "Vous y êtes\u00a0!",
        "who": "0 point",
        "option": "Réponse",
        "counter": "Question 1 sur 3",
        "ack": "Réponse B reçue.",
        "correct": "Bonne réponse\u00a0!",
    },
    "es": {
        "locale": "es-MX",
        "title": "Únete al cuestionario",
        "id": "ID de estudiante",
        "name": "Tu nombre",
        "join": "Unirme",
        "lobby": "¡Ya estás dentro!",
        "who": "0 puntos",
        "option": "Opción",
        "counter": "Pregunta 1 de 3",
        "ack": "Respuesta B recibida.",
        "correct": "¡Correcto!",
    },
    "zh": {
        "locale": "zh-CN",
        "title": "加入测验",
        "id": "学号",
        "name": "你的姓名",
        "join": "加入",
        "lobby": "你已加入！",
        "who": "0 分",
        "option": "选项",
        "counter": "第 1 题，共 3 题",
        "ack": "已收到答案 B。",
        "correct": "回答正确！",
    },
    "ar": {
        "locale": "ar-EG",
        "title": "انضم إلى الاختبار",
        "id": "رقم الطالب",
        "name": "اسمك",
        "join": "انضمام",
        "lobby": "لقد انضممت!",
        "who": "0 نقطة",
        "option": "الخيار",
        "counter": "السؤال 1 من 3",
        "ack": "تم استلام الإجابة B.",
        "correct": "إجابة صحيحة!",
    },
}


def student_in(pages: Pages, server: BrowserServer, language: str, label: str | None = None, path: str = "/") -> Page:
    """A phone whose browser asks for `language` first (Accept-Language and navigator.languages)."""
    return pages.open(label or f"student-{language}", f"{server.url}{path}", locale=SEEN[language]["locale"], **PHONE)


def localized_answer_button(page: Page, language: str, key: str) -> Any:
    prefix = re.escape(SEEN[language]["option"])
    return page.locator("#answers").get_by_role("button", name=re.compile(rf"^{prefix} {key}\W"))


def no_horizontal_overflow(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px window"


def test_join_and_question_pages_in_each_language(server: BrowserServer, pages: Pages) -> None:
    students = {language: student_in(pages, server, language) for language in SEEN}
    for number, (language, page) in enumerate(students.items(), start=1):
        seen = SEEN[language]
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if language == "zh" else language)
        expect(page.locator("html")).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")
        expect(page.get_by_role("heading", name=seen["title"])).to_be_visible()
        expect(page.get_by_role("combobox", name=catalog(language)["language.label"])).to_have_value(language)
        # A refused join is explained in the student's language, by its error code.
        page.get_by_label(seen["id"], exact=True).fill("not an id!")
        page.get_by_label(seen["name"], exact=True).fill(f"Student {number}")
        page.get_by_role("button", name=seen["join"], exact=True).click()
        expect(page.locator("#student-id-error")).to_have_text(catalog(language)["errors.bad_student_id"])
        page.get_by_label(seen["id"], exact=True).fill(f"l{number}")
        page.get_by_role("button", name=seen["join"], exact=True).click()
        expect(page.get_by_role("heading", name=seen["lobby"])).to_be_visible()
        expect(page.locator("#who")).to_have_text(f"Student {number} · {seen['who']}")
        expect(page.locator("#conn")).to_have_text(catalog(language)["conn.open"])
    pages.shot_all("1-lobby")

    server.admin("open", question_idx=0, time_limit=60)
    for language, page in students.items():
        seen = SEEN[language]
        expect(page.get_by_role("heading", name="What is 2 + 2?")).to_be_visible()
        expect(page.locator("#question-count")).to_have_text(seen["counter"])
        localized_answer_button(page, language, "B").click()
        expect(page.locator("#question-status")).to_have_text(seen["ack"])
        expect(localized_answer_button(page, language, "B")).to_contain_text(catalog(language)["question.your_answer"])
    pages.shot_all("2-question")

    server.admin("close")
    for language, page in students.items():
        expect(page.locator("#reveal-h")).to_have_text(SEEN[language]["correct"])
        correct = catalog(language)["common.option"].format(key="B", text="4")
        expect(page.locator("#reveal-correct")).to_have_text(correct)
    pages.shot_all("3-reveal")
    assert pages.page_errors == []
    assert pages.csp_errors() == []


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def text_box(page: Page, selector: str) -> dict[str, float]:
    """Where an element's text is drawn (a block's own box spans the whole line whatever the direction)."""
    found: dict[str, float] = page.evaluate(
        """(selector) => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(selector));
            const r = range.getBoundingClientRect();
            return { x: r.x, y: r.y, width: r.width, height: r.height };
        }""",
        selector,
    )
    return found


def test_arabic_is_right_to_left_and_the_layout_mirrors(server: BrowserServer, pages: Pages) -> None:
    arabic = student_in(pages, server, "ar")
    english = student_in(pages, server, "en")
    projector = pages.open("projector", f"{server.url}/projector?lang=ar", **PROJECTOR)
    width = PHONE["viewport"]["width"]
    for page in (arabic, english):
        expect(page.locator("#join-h")).to_be_visible()
    assert arabic.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert english.evaluate("getComputedStyle(document.body).direction") == "ltr"

    # The join form: labels and the error hang on the right edge in Arabic, on the left in English.
    for page, edge in ((arabic, "right"), (english, "left")):
        label, field = text_box(page, "label[for=student-id]"), box(page, "#student-id")
        if edge == "right":
            assert abs((label["x"] + label["width"]) - (field["x"] + field["width"])) <= 2, (label, field)
            assert label["x"] > field["x"] + 50
        else:
            assert abs(label["x"] - field["x"]) <= 2, (label, field)
        assert page.evaluate("getComputedStyle(document.querySelector('.notice')).borderInlineStartWidth") != ""
    # The title starts at the right in Arabic (the top bar mirrors).
    title = text_box(arabic, "#quiz-title")
    assert title["x"] + title["width"] > width - 40 and title["x"] > width / 3, title
    english_title = text_box(english, "#quiz-title")
    assert english_title["x"] < 40, english_title

    join(english, "e1", "Ada Lovelace")
    arabic.get_by_label(SEEN["ar"]["id"], exact=True).fill("a1")
    arabic.get_by_label(SEEN["ar"]["name"], exact=True).fill("ليلى")
    arabic.get_by_role("button", name=SEEN["ar"]["join"], exact=True).click()
    expect(arabic.get_by_role("heading", name=SEEN["ar"]["lobby"])).to_be_visible()
    server.admin("open", question_idx=0, time_limit=60)
    expect(arabic.locator("#question-count")).to_have_text(SEEN["ar"]["counter"])
    expect(english.locator("#question-count")).to_have_text(SEEN["en"]["counter"])
    # In each answer button the letter comes first: on the right in Arabic, on the left in English.
    letter, text = box(arabic, "#answers .answer-B .answer-letter"), box(arabic, "#answers .answer-B .answer-text")
    assert letter["x"] > text["x"], (letter, text)
    assert arabic.evaluate("getComputedStyle(document.querySelector('.answer')).textAlign") == "start"
    letter, text = box(english, "#answers .answer-B .answer-letter"), box(english, "#answers .answer-B .answer-text")
    assert letter["x"] < text["x"], (letter, text)
    # The question itself is in the quiz's language (English here) and reads left to right inside the Arabic page.
    assert arabic.evaluate("getComputedStyle(document.getElementById('question-text')).direction") == "ltr"
    no_horizontal_overflow(arabic, width)

    expect(projector.locator("html")).to_have_attribute("dir", "rtl")
    expect(projector.locator("#pj-q-num")).to_have_text(SEEN["ar"]["counter"])
    options, side = box(projector, "#pj-options"), box(projector, "#pj-side")
    assert options["x"] > side["x"], "the projector's options column should be on the right in Arabic"
    pages.shot_all("rtl")
    assert pages.page_errors == []


def test_the_pseudo_locale_fits_a_phone_and_the_projector(server: BrowserServer, pages: Pages) -> None:
    """en-XA: every message about 40 % longer, accented, in brackets. Nothing may push the page sideways."""
    phone_width, projector_size = PHONE["viewport"]["width"], {"width": 1280, "height": 720}
    student = pages.open("student", f"{server.url}/?lang=en-XA", **PHONE)
    other = pages.open("other", f"{server.url}/?lang=en-XA", **PHONE)
    projector = pages.open("projector", f"{server.url}/projector?lang=en-XA", viewport=projector_size)
    instructor = pages.open("instructor", f"{server.instructor_url}&lang=en-XA", **LAPTOP)
    pseudo = catalog("en-XA")
    states = []

    def check(state: str) -> None:
        states.append(state)
        no_horizontal_overflow(student, phone_width)
        no_horizontal_overflow(projector, projector_size["width"])
        no_horizontal_overflow(instructor, LAPTOP["viewport"]["width"])
        pages.shot_all(f"{len(states)}-{state}")

    expect(student.get_by_role("heading", name=pseudo["join.title"])).to_be_visible()
    expect(projector.get_by_role("heading", name=pseudo["pj.join_title"])).to_be_visible()
    expect(instructor.locator("#btn-next")).to_have_text(pseudo["controls.start"])
    student.get_by_label(pseudo["join.student_id"]).fill("not an id!")
    student.get_by_label(pseudo["join.name"]).fill("Wolfgang Amadeus Mozart-Bartholdy")
    student.get_by_role("button", name=pseudo["join.button"]).click()
    expect(student.locator("#student-id-error")).to_have_text(pseudo["errors.bad_student_id"])
    check("join-error")
    for page, student_id in ((student, "p1"), (other, "p2")):
        page.get_by_label(pseudo["join.student_id"]).fill(student_id)
        page.get_by_label(pseudo["join.name"]).fill("Wolfgang Amadeus Mozart-Bartholdy")
        page.get_by_role("button", name=pseudo["join.button"]).click()
        expect(page.get_by_role("heading", name=pseudo["lobby.title"])).to_be_visible()
    expect(projector.locator("#pj-count-num")).to_have_text("2")
    check("lobby")

    server.admin("open", question_idx=1, time_limit=60)
    expect(student.locator("#question-count")).to_have_text(pseudo["question.counter"].format(n=2, total=3))
    student.locator("#answers .answer-A").click()
    expect(student.locator("#question-status")).to_have_text(pseudo["question.ack"].format(answer="A"))
    check("question")
    server.admin("close")
    expect(student.locator("#reveal-h")).to_be_visible()
    expect(projector.locator("#pj-options li.is-correct")).to_contain_text(pseudo["pj.correct_mark"])
    check("reveal")
    server.admin("leaderboard")
    expect(projector.get_by_role("heading", name=pseudo["pj.leaderboard"])).to_be_visible()
    check("between")
    server.admin("end")
    expect(projector.get_by_role("heading", name=pseudo["pj.final"])).to_be_visible()
    expect(student.locator("#ended-h")).to_have_text(pseudo["ended.title"])
    check("ended")
    assert pages.page_errors == []


def test_the_language_menu_remembers_the_choice(server: BrowserServer, pages: Pages) -> None:
    student = pages.open("student", f"{server.url}/", **PHONE)  # an English browser
    menu = student.get_by_role("combobox", name="Language")
    expect(menu).to_have_value("en")
    names = menu.locator("option").all_inner_texts()
    assert names == ["English", "Deutsch", "Français", "Español", "中文", "العربية"], names
    menu.select_option("de")
    expect(student.get_by_role("heading", name="Am Quiz teilnehmen")).to_be_visible()
    expect(student.locator("html")).to_have_attribute("lang", "de")
    expect(student.get_by_role("button", name="Beitreten")).to_be_visible()

    student.reload()
    expect(student.get_by_role("heading", name="Am Quiz teilnehmen")).to_be_visible()
    expect(student.get_by_role("combobox", name="Sprache")).to_have_value("de")
    student.get_by_label("Matrikelnummer").fill("m1")
    student.get_by_label("Ihr Name").fill("Ada Lovelace")
    student.get_by_role("button", name="Beitreten").click()
    expect(student.get_by_role("heading", name="Sie sind dabei!")).to_be_visible()
    expect(student.locator("#lobby-who")).to_have_text("Beigetreten als Ada Lovelace (m1).")

    # A change on a later page re-translates what is already shown, without a reload.
    student.get_by_role("combobox", name="Sprache").select_option("ar")
    expect(student.locator("html")).to_have_attribute("dir", "rtl")
    expect(student.get_by_role("heading", name=SEEN["ar"]["lobby"])).to_be_visible()
    expect(student.locator("#who")).to_have_text(f"Ada Lovelace · {SEEN['ar']['who']}")
    expect(student.locator("#conn")).to_have_text(catalog("ar")["conn.open"])
    student.get_by_role("combobox", name=catalog("ar")["language.label"]).select_option("en")
    expect(student.get_by_role("heading", name="You're in!")).to_be_visible()
    expect(student.locator("html")).to_have_attribute("dir", "ltr")

    # The dashboard's menu is the instructor's own, and remembered apart from the student page's.
    instructor = pages.open("instructor", server.instructor_url, **LAPTOP)
    expect(instructor.locator("#btn-next")).to_have_text("Start quiz")
    instructor.get_by_role("combobox", name="Language").select_option("fr")
    expect(instructor.locator("#btn-next")).to_have_text("Lancer le quiz")
    expect(instructor.locator("#presence-body")).to_contain_text("En ligne")
    instructor.reload()
    expect(instructor.locator("#btn-next")).to_have_text("Lancer le quiz")
    expect(instructor.get_by_role("heading", name="Étudiants")).to_be_visible()
    assert pages.page_errors == []


def test_the_projector_and_dashboard_follow_the_server_not_the_browser(server: BrowserServer, pages: Pages) -> None:
    german = {"locale": "de-DE"}
    student = pages.open("student", f"{server.url}/", **german, **PHONE)
    projector = pages.open("projector", f"{server.url}/projector", **german, **PROJECTOR)
    instructor = pages.open("instructor", server.instructor_url, **german, **LAPTOP)
    expect(student.get_by_role("heading", name="Am Quiz teilnehmen")).to_be_visible()
    # This server has no configured language, so English, whatever the projector's browser prefers.
    expect(projector.get_by_role("heading", name="Join the quiz")).to_be_visible()
    expect(projector.locator("html")).to_have_attribute("lang", "en")
    expect(instructor.locator("#btn-next")).to_have_text("Start quiz")
    response = httpx.get(f"{server.url}/", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}, timeout=WAIT_S)
    assert '<html lang="fr" dir="ltr">' in response.text and response.headers["content-language"] == "fr"
    assert "Accept-Language" in response.headers["vary"]
    response = httpx.get(f"{server.url}/projector", headers={"Accept-Language": "fr"}, timeout=WAIT_S)
    assert '<meta name="quiz-language" content="en">' in response.text
    # A preview in another language is one query parameter away.
    preview = pages.open("preview", f"{server.url}/projector?lang=zh", **PROJECTOR)
    expect(preview.get_by_role("heading", name="加入测验")).to_be_visible()
    assert pages.page_errors == []


def hide_and_show(page: Page, hidden_ms: int) -> None:
    """A real tab switch as the page sees it: hidden for `hidden_ms`, then visible again.

    Headless Chromium keeps every tab visible, so the visibility state is set by hand.
    """
    page.evaluate(
        """(ms) => new Promise((done) => {
            const set = (value) => {
                Object.defineProperty(document, "visibilityState", { configurable: true, get: () => value });
                document.dispatchEvent(new Event("visibilitychange"));
            };
            set("hidden");
            setTimeout(() => { set("visible"); done(); }, ms);
        })""",
        hidden_ms,
    )


def saved_events(server: BrowserServer, student_id: str) -> dict[str, int]:
    with sqlite3.connect(f"file:{data_dir_files.database(server.data_dir)}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT kind, COUNT(*) FROM student_events WHERE student_id = ? GROUP BY kind", (student_id,)
        ).fetchall()
    return dict(rows)


def test_a_reload_is_not_a_tab_switch_and_the_ack_shows_no_points(server: BrowserServer, pages: Pages) -> None:
    student = pages.open("student", f"{server.url}/", **PHONE)
    instructor = pages.open("instructor", server.instructor_url, **LAPTOP)
    join(student, "h1", "Hedy Lamarr")
    server.admin("open", question_idx=0, time_limit=120)
    expect(student.get_by_role("heading", name="What is 2 + 2?")).to_be_visible()
    answer_button(student, "B").click()
    status = student.locator("#question-status")
    expect(status).to_have_text("Answer B received.")
    assert not re.search(r"\d|point|correct|right|wrong", status.inner_text(), re.IGNORECASE), status.inner_text()
    row = instructor.locator("#presence-body tr", has_text="h1")
    hidden_cell, blur_cell = row.locator("td").nth(5), row.locator("td").nth(4)

    # A reload and a navigation away and back hide the page on its way out: neither is a tab switch.
    student.reload()
    expect(answer_button(student, "B")).to_have_attribute("aria-pressed", "true")
    expect(status).to_have_text("Answer B received.")
    student.goto(f"{server.url}/projector")
    student.goto(f"{server.url}/")
    expect(student.locator("#conn")).to_have_text("Connected")
    student.wait_for_timeout(1500)  # longer than the page holds a hidden event before sending it
    expect(hidden_cell).to_have_text("0")
    expect(blur_cell).to_have_text("0")
    assert saved_events(server, "h1").get("visibility_hidden", 0) == 0

    # A real switch still counts: a long one (sent after the grace period) and a short one (sent on return).
    hide_and_show(student, 1500)
    expect(hidden_cell).to_have_text("1")
    hide_and_show(student, 200)
    expect(hidden_cell).to_have_text("2")
    assert saved_events(server, "h1").get("visibility_hidden") == 2
    pages.shot_all("hidden-count")
    assert pages.page_errors == []
