"""The after-class report wired up: from a session's state to `quizctl report`, `/report` and the dashboard.

- collect: a real room (MockClock, real SQLite) with several question types, joins, a late joiner,
  a missed answer, tab switches and refused duplicate joins, mapped to the report's input and
  checked figure by figure; the same session read back from the database gives the same input.
- the CLI: one session from a running server, a course of two sessions served one after the
  other in one data dir (`--sessions`, `--all`, `--offline`), `--json`, pictures, and the errors.
- the routes: `/report` and `/report.json` with and without the instructor's token or cookie.
- Chromium: `/report` from the running server makes no request beyond itself.
- speed: 5,000 students x 30 questions collected, analysed and written in seconds.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from server import serve
from server.auth import INSTRUCTOR_COOKIE
from server.quiz.pool import load_pool, parse_pool
from server.quiz.scoring import UNITS_PER_SCORE, points_for, weight_units
from server.reports import collect
from server.reports.gradebook import all_units
from server.reports.report_style import CSP
from server.reports.statistics import SessionStats, analyse_session
from server.room.room import Room
from server.serve import RunningServer
from server.session.errors import RoomError
from server.session.machine import SessionState
from server.session.model import (
    AskedQuestion,
    Participant,
    SessionRecord,
    Submission,
    SubmissionStatus,
)
from server.settings import Settings
from server.storage.schema import open_read_only
from tests.helpers import POOLS, WAIT_S, ServerThread, ctl, quizctl, running_server

CHROMIUM = os.environ.get("QUIZCTL_CHROMIUM", "/usr/bin/chromium")
FIGURE = POOLS / "figures" / "bubble-pass.png"
FIGURE_ALT = "Bar chart of the array 1, 4, 2, 5, 8"
SINGLE, MULTIPLE, TRUE_FALSE, NUMERIC, TEXT, POLL = range(6)


def write_pool(folder: Path, session_id: str, title: str) -> Path:
    """A pool file of every scored kind and a poll, its first question with a picture beside it."""
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIGURE, folder / "figures" / "bars.png")
    data = {
        "title": title,
        "session_id": session_id,
        "time_limit_default": 20,
        "score_fn": "speed_linear",
        "questions": [
            {"text": "Which is the **unit** of acceleration?", "options": {"A": "m/s", "B": "m/s²", "C": "N", "D": "kg"},
             "correct": "B", "image": "figures/bars.png", "image_alt": FIGURE_ALT},
            {"type": "multiple", "text": "Which are vectors?", "correct": ["A", "C"], "points": 2,
             "options": {"A": "velocity", "B": "speed", "C": "displacement", "D": "mass"}},
            {"type": "true_false", "text": "A ball at the top of its flight has zero acceleration.", "correct": False},
            {"type": "numeric", "text": "Free-fall acceleration, in m/s²?", "correct": 9.81, "tolerance": 0.05},
            {"type": "text", "text": "The rate of change of velocity?", "accept": ["acceleration"]},
            {"type": "poll", "text": "How confident are you?", "options": {"A": "Very", "B": "Not at all"}},
        ],
    }
    path = folder / f"{session_id}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@asynccontextmanager
async def physics_room(tmp_path: Path) -> AsyncIterator[Room]:
    pool = load_pool(write_pool(tmp_path / "pool", "phys", "Physics 101"))
    settings = Settings(pool=pool, data_dir=tmp_path / "data", port=8000, session_id="phys")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        yield room


async def play_the_lecture(room: Room) -> None:
    """Four of the six questions, asked out of pool order; see the expected figures in the test."""
    ann = await room.join("ann", "Ann")
    bob = await room.join("bob", "Bob")
    cat = await room.join("cat", "Cat")
    for _ in range(2):  # somebody else tries Bob's id twice
        with pytest.raises(RoomError):
            await room.join("bob", "Bobby")
    await room.next()  # SINGLE
    await trio.sleep(2)
    await room.submit(ann, SINGLE, "B")  # right after 2 s of 20: 0.95
    await trio.sleep(8)
    await room.submit(bob, SINGLE, "A")
    await room.submit(cat, SINGLE, "A")
    await room.close_question()
    for kind in ("blur", "visibility_hidden", "blur"):  # Cat switches tabs
        await room.record_event(cat, kind)
    dan = await room.join("dan", "Dan")  # late: SINGLE is a missed row for him
    await room.open_question(NUMERIC)
    await trio.sleep(4)  # right after 4 s of 20: 0.9
    await room.submit(ann, NUMERIC, 9.81)
    await room.submit(bob, NUMERIC, 10)
    await room.submit(dan, NUMERIC, 9.8)
    await room.close_question()  # Cat missed it
    await room.open_question(MULTIPLE)
    await room.submit(ann, MULTIPLE, ["A", "C"])  # at once: full credit, weight 2
    await room.submit(bob, MULTIPLE, ["A"])  # half the right keys: credit 0.5
    await room.submit(cat, MULTIPLE, ["B"])
    await room.close_question()  # Dan missed it
    await room.open_question(TEXT)
    for participant, answer in ((ann, "Acceleration"), (bob, "velocity"), (cat, " Velocity "), (dan, "velocity")):
        await room.submit(participant, TEXT, answer)
    await room.end_session()


def by_student(question: Any) -> dict[str, Any]:
    return {row.student_id: row for row in question.answers}


async def test_a_played_session_maps_to_the_report_input_and_its_figures(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    async with physics_room(tmp_path) as room:
        await play_the_lecture(room)
        live = collect.collect(room.record)
        record = room.record
        gradebook_totals = {p.student_id: all_units(p) / UNITS_PER_SCORE for p in record.participants.values()}
        asked = [record.asked[i] for i in (SINGLE, NUMERIC, MULTIPLE, TEXT)]
    data = live.data

    # Only the asked questions, in the order they were opened; `index` is the position in the session.
    assert [(q.index, q.kind) for q in data.questions] == [(0, "single"), (1, "numeric"), (2, "multiple"), (3, "text")]
    single, numeric, multiple, text = data.questions
    assert single.text_plain == "Which is the unit of acceleration?" and "<strong>unit</strong>" in single.text_html
    assert single.options == {"A": "m/s", "B": "m/s²", "C": "N", "D": "kg"} and single.correct == "B"
    assert isinstance(numeric.correct, dict) and (numeric.correct["value"], numeric.correct["tolerance"]) == (9.81, 0.05)
    assert (multiple.weight, multiple.correct, text.correct) == (2.0, ["A", "C"], ["acceleration"])
    assert [q.time_limit_s for q in data.questions] == [20, 20, 20, 20] and all(q.scored for q in data.questions)
    assert (data.started_ms, data.finished_ms) == (asked[0].opened_at_ms, asked[-1].closed_at_ms)
    assert data.sid == "phys" and data.title == "Physics 101"

    # Answers: text forms, credit = points / 20 (the speed bonus included), missed rows without an answer.
    rows = by_student(single)
    assert (rows["ann"].answer, rows["ann"].credit, rows["ann"].correct) == ("B", 0.95, True)
    assert abs(rows["ann"].elapsed_ms - 2000) <= 1 and abs(rows["bob"].elapsed_ms - 10_000) <= 1
    assert (rows["bob"].answer, rows["bob"].credit, rows["bob"].correct) == ("A", 0.0, False)
    assert (rows["dan"].answer, rows["dan"].elapsed_ms) == (None, None)  # joined after it closed
    rows = by_student(numeric)
    assert [rows[s].answer for s in ("ann", "bob", "cat", "dan")] == ["9.81", "10", None, "9.8"]
    assert (rows["ann"].credit, rows["dan"].credit, rows["dan"].correct) == (0.9, 0.9, True)
    rows = by_student(multiple)
    assert [(rows[s].answer, rows[s].credit) for s in ("ann", "bob", "cat")] == [("A;C", 1.0), ("A", 0.5), ("B", 0.0)]
    assert rows["dan"].answer is None
    assert by_student(text)["cat"].answer == "Velocity"  # trimmed by the room

    # Students: the gradebook's totals (every answer), ranks, tab switches, refused duplicate joins.
    students = {s.student_id: s for s in data.students}
    assert [s.student_id for s in data.students] == ["ann", "bob", "dan", "cat"]  # by rank
    assert {sid: s.total for sid, s in students.items()} == pytest.approx(gradebook_totals)
    assert students["ann"].total == pytest.approx(0.95 + 0.9 + 2 + 1) and students["bob"].total == pytest.approx(1.0)
    assert [(students[s].rank, students[s].answered, students[s].right) for s in ("ann", "bob", "dan", "cat")] == [
        (1, 4, 4), (2, 4, 0), (3, 2, 1), (4, 3, 0)]
    assert (students["cat"].blur_count, students["cat"].hidden_count) == (2, 1)
    assert students["bob"].duplicate_join_attempts == 2 and students["ann"].duplicate_join_attempts == 0

    # Its picture travels with it, to be inlined.
    (picture,) = live.images[0]
    assert (picture.data, picture.content_type, picture.alt) == (FIGURE.read_bytes(), "image/png", FIGURE_ALT)
    assert set(live.images) == {0}

    # A few figures end to end.
    stats = analyse_session(data)
    q1, q2, q3, q4 = stats.questions
    assert (q1.participants, q1.answered, q1.right) == (4, 3, 1)
    assert q1.facility == pytest.approx(0.95 / 4) and q2.facility == pytest.approx(0.9 / 2)
    assert q3.facility == pytest.approx(1.5 / 4)  # Ann 1 + Bob 0.5, over four participants
    assert {bar.key: (bar.count, bar.right) for bar in q1.distribution.bars if bar.kind == "option"} == {
        "A": (2, False), "B": (1, True), "C": (0, False), "D": (0, False)}
    assert "same_wrong_answer" in {f.code for f in q1.flags} and "same_wrong_answer" in {f.code for f in q4.flags}
    assert q1.discrimination_index is not None and q1.discrimination_index > 0
    assert stats.summary.possible == 5 and stats.summary.participants == 4
    helped = {s.student_id for s in stats.students if s.needs_help}
    assert "cat" in helped and "ann" not in helped
    page = collect.render(stats, [live])
    assert f'alt="{FIGURE_ALT}"' in page and "data:image/png;base64," in page and "/media/" not in page

    # The same session read back from the database (as `quizctl report` does) gives the same input.
    connection = open_read_only(tmp_path / "data" / "quiz.sqlite3")
    try:
        stored = collect.read_stored_session(connection, "phys", image_dir=tmp_path / "pool")
        without_pictures = collect.read_stored_session(connection, "phys")
    finally:
        connection.close()
    assert stored.data == data and stored.images == live.images and stored.missing_images == ()
    assert without_pictures.data == data
    (missing,) = without_pictures.missing_images
    assert (missing.question_idx, missing.path, missing.alt) == (SINGLE, "figures/bars.png", FIGURE_ALT)
    assert without_pictures.images[0][0].data is None
    page = collect.render(analyse_session(without_pictures.data), [without_pictures])
    assert "data:image" not in page and f"Picture not included \u2014 {FIGURE_ALT}" in page


async def test_an_open_question_counts_for_the_instructor_and_nothing_asked_still_collects(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    async with physics_room(tmp_path) as room:
        empty = collect.session_data(room.record, now_ms=1_700_000_000_000)
        assert (empty.questions, empty.students, empty.started_ms, empty.finished_ms) == ([], [], 1_700_000_000_000, None)
        ann = await room.join("ann", "Ann")
        await room.next()
        await room.submit(ann, SINGLE, "B")
        data = collect.session_data(room.record)
        assert data.finished_ms is None  # a question is still open
        assert data.students[0].total == 1.0 and data.students[0].right == 1  # not yet in the room's own total
        assert room.record.participants["ann"].total_units == 0
        assert analyse_session(data).summary.mean_score == 1.0


async def test_the_session_tables_own_start_and_finish_times_win_when_it_has_them(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    async with physics_room(tmp_path) as room:
        await play_the_lecture(room)
    db = tmp_path / "data" / "quiz.sqlite3"
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE sessions SET started_at_ms = 1000, finished_at_ms = NULL")
    connection = open_read_only(db)
    try:
        data = collect.read_stored_session(connection, "phys").data
    finally:
        connection.close()
    assert data.started_ms == 1000 and data.finished_ms is not None  # unset: the last question's close


# ---------------------------------------------------------------- the CLI


async def drive(running: RunningServer, answers: dict[str, list[Any]]) -> None:
    """Join everyone in `answers`, then ask the first questions in order, each student's answer or None."""
    room = running.room
    people = {sid: await room.join(sid, sid.title()) for sid in answers}
    for idx in range(max(len(a) for a in answers.values())):
        await room.open_question(idx)
        for sid, given in answers.items():
            if idx < len(given) and given[idx] is not None:
                await room.submit(people[sid], idx, given[idx])
        await room.close_question()
    await room.end_session()


WEEK1 = {"ann": ["B", ["A", "C"]], "bob": ["A", ["A"]], "cat": ["A", None]}
WEEK2 = {"ann": ["B", ["A", "C"], True], "dan": ["C", ["B"], False]}


async def test_quizctl_report_on_the_running_session_then_a_course_of_two(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    week1 = load_pool(write_pool(tmp_path / "w1", "week1", "Week 1"))
    async with running_server(data_dir, week1) as running:
        await drive(running, WEEK1)
        out = tmp_path / "week1.html"
        done = await ctl(running, "report", "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"wrote {out}: session week1, 2 questions, 3 students")
        page = out.read_text(encoding="utf-8")
        assert "<title>Week 1 \u00b7 after class</title>" in page and "Which are vectors?" in page
        assert "Bob" in page and "<script" not in page
        # The database keeps the picture's path only: shown as its alt text, and said so.
        assert "Picture not included" in page and "data:image" not in page
        assert "picture 'figures/bars.png' not included" in done.stderr and "--pool-dir" in done.stderr
        # With the pool's folder the picture is inside the file; without -o the HTML is stdout.
        done = await ctl(running, "report", "--pool-dir", str(tmp_path / "w1"))
        assert done.returncode == 0 and done.stderr == ""
        assert done.stdout.startswith("<!DOCTYPE html>") and "data:image/png;base64," in done.stdout
        # --json: the figures alone on stdout.
        figures = (await ctl(running, "report", "--json")).json()
        assert figures["sid"] == "week1" and figures["summary"]["participants"] == 3
        assert [q["right"] for q in figures["questions"]] == [1, 1]

    week2 = load_pool(write_pool(tmp_path / "w2", "week2", "Week 2"))
    async with running_server(data_dir, week2) as running:
        await drive(running, WEEK2)
        latest = (await ctl(running, "report", "--json")).json()
        assert latest["sid"] == "week2"

    # No server now: the course from the database alone.
    course = (await quizctl("report", "--sessions", "week1,week2", "--json", data_dir=data_dir)).json()
    assert [row["sid"] for row in course["rows"]] == ["week1", "week2"]
    assert [row["participants"] for row in course["rows"]] == [3, 2]
    attendance = {row["student_id"]: row["attended"] for row in course["attendance"]}
    assert attendance == {"ann": [True, True], "bob": [True, False], "cat": [True, False], "dan": [False, True]}
    assert [s["sid"] for s in course["sessions"]] == ["week1", "week2"]
    everything = (await quizctl("report", "--all", "--json", data_dir=data_dir)).json()
    assert everything == course

    out = tmp_path / "course.html"
    done = await quizctl("report", "--all", "-o", str(out), "--pool-dir", str(tmp_path / "w1"), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert "reading session week1 (" in done.stderr  # progress for a course goes to stderr
    page = out.read_text(encoding="utf-8")
    assert "Course overview" in page and page.count("data:image/png;base64,") == 2  # both sessions' first question
    assert "<title>Course report \u00b7 2 sessions" in page

    # --offline: the most recent session; --json with -o: the HTML to the file, the figures to stdout.
    out = tmp_path / "latest.html"
    done = await quizctl("report", "--offline", "--json", "-o", str(out), data_dir=data_dir)
    assert done.json()["sid"] == "week2" and "Week 2" in out.read_text(encoding="utf-8")
    assert f"wrote {out}" in done.stderr
    one = (await quizctl("report", "--sessions", "week1", "--json", data_dir=data_dir)).json()
    assert one["sid"] == "week1" and "rows" not in one  # one session: its own report, not a course


async def test_quizctl_report_errors_are_clear(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    done = await quizctl("report", "--offline", data_dir=empty)
    assert done.returncode == 1 and f"no database at {empty / 'quiz.sqlite3'}" in done.stderr
    done = await quizctl("report", data_dir=empty)  # no server, no --offline
    assert done.returncode == 2 and "--offline" in done.stderr and done.stdout == ""

    data_dir = tmp_path / "data"
    async with running_server(data_dir, load_pool(write_pool(tmp_path / "w1", "week1", "Week 1"))) as running:
        await drive(running, WEEK1)
    done = await quizctl("report", "--sessions", "week1,nope", data_dir=data_dir)
    assert done.returncode == 1 and done.stdout == ""
    assert "no session 'nope'" in done.stderr and "(stored: week1)" in done.stderr
    done = await quizctl("report", "--sessions", "week1", "--all", data_dir=data_dir)
    assert done.returncode == 1 and "not both" in done.stderr
    done = await quizctl("report", "--sessions", " , ", data_dir=data_dir)
    assert done.returncode == 1 and "at least one session id" in done.stderr
    done = await quizctl("report", "--offline", "-o", str(tmp_path / "no-such-dir" / "r.html"), data_dir=data_dir)
    assert done.returncode == 1 and "cannot write" in done.stderr


# ---------------------------------------------------------------- the routes


async def test_report_routes_need_the_instructor(tmp_path: Path) -> None:
    pool = load_pool(write_pool(tmp_path / "w1", "week1", "Week 1"))
    async with running_server(tmp_path / "data", pool) as running:
        await drive(running, WEEK1)
        async with httpx.AsyncClient(base_url=running.url, timeout=WAIT_S) as http:
            for path in ("/report", "/report.json", "/report?token=wrong"):
                refused = await http.get(path)
                assert refused.status_code == 401 and refused.json()["error"] == "unauthorized", path
                assert "Bob" not in refused.text

            page = await http.get("/report", params={"token": running.admin_token})
            assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
            assert page.headers["cache-control"] == "no-store"
            assert "Which are vectors?" in page.text and "Bob" in page.text
            # The live room has the pool itself: its picture is inlined without any --pool-dir.
            assert f'alt="{FIGURE_ALT}"' in page.text and "data:image/png;base64," in page.text

            figures = await http.get("/report.json", headers={"Authorization": f"Bearer {running.admin_token}"})
            assert figures.status_code == 200 and figures.headers["cache-control"] == "no-store"
            assert figures.json()["summary"]["participants"] == 3
            assert figures.json() == (await ctl(running, "report", "--json")).json()  # the CLI's figures too

            dashboard = await http.get("/instructor", params={"token": running.admin_token})
            cookie = dashboard.cookies[INSTRUCTOR_COOKIE]
        async with httpx.AsyncClient(base_url=running.url, timeout=WAIT_S) as browser_like:
            browser_like.cookies.set(INSTRUCTOR_COOKIE, cookie)
            assert (await browser_like.get("/report")).status_code == 200
        assert 'href="/report"' in dashboard.text and 'data-i18n="controls.report"' in dashboard.text


async def test_the_report_keeps_its_own_content_security_policy(tmp_path: Path) -> None:
    pool = load_pool(write_pool(tmp_path / "w1", "week1", "Week 1"))
    async with (
        running_server(tmp_path / "data", pool) as running,
        httpx.AsyncClient(base_url=running.url, timeout=WAIT_S) as http,
    ):
        page = await http.get("/report", params={"token": running.admin_token})
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP


# ---------------------------------------------------------------- in Chromium


def in_thread_with_deadline(work: Callable[[], None], timeout_s: float = 120) -> None:
    """Playwright's sync API on a thread of its own, so a hung browser fails the test instead of stalling it."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            failures.append(exc)

    thread = threading.Thread(target=target, name="report-wiring-browser", daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"the browser did not finish within {timeout_s} s"
    if failures:
        raise failures[0]


def test_the_dashboard_report_in_chromium_asks_for_nothing_more(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set QUIZCTL_CHROMIUM)")
    pool = load_pool(write_pool(tmp_path / "w1", "week1", "Week 1"))
    with ServerThread(tmp_path / "data", pool) as server:
        assert server.running is not None
        running = server.running
        server.run(lambda: drive(running, WEEK1))
        cookie = server.request("GET", "/instructor", params={"token": server.token}).cookies[INSTRUCTOR_COOKIE]
        report_url = f"{server.url}/report"
        seen: dict[str, Any] = {}

        def work() -> None:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run"],
                )
                try:
                    context = browser.new_context()
                    context.add_cookies([{"name": INSTRUCTOR_COOKIE, "value": cookie, "url": server.url}])
                    page = context.new_page()
                    requests: list[str] = []
                    page.on("request", lambda request: requests.append(request.url))
                    response = page.goto(report_url, wait_until="load", timeout=30_000)
                    assert response is not None
                    seen["status"] = response.status
                    page.wait_for_load_state("networkidle", timeout=30_000)
                    seen["requests"] = requests
                    seen["heading"] = page.locator("h1").inner_text()
                    seen["charts"] = page.get_by_role("img").count()
                    picture = page.get_by_role("img", name=FIGURE_ALT)
                    seen["picture_width"] = picture.evaluate("img => img.naturalWidth")
                    seen["scripts"] = page.locator("script").count()
                finally:
                    browser.close()

        in_thread_with_deadline(work)
    assert seen["status"] == 200 and seen["heading"] == "Week 1 \u00b7 after class"
    # data: URIs are not requests; anything else would be one (and blocked by the report's CSP).
    assert [url for url in seen["requests"] if not url.startswith("data:")] == [report_url]
    assert seen["picture_width"] > 0  # the inlined picture decoded and shows
    assert seen["charts"] >= 5 and seen["scripts"] == 0


# ---------------------------------------------------------------- speed


def large_record(students: int, questions: int) -> SessionRecord:
    """A finished session of `students` x `questions` of every kind, built in memory as the room keeps it."""
    rng = random.Random(15)
    kinds: list[dict[str, Any]] = [
        {"text": "Pick B", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "correct": "B"},
        {"type": "multiple", "text": "A and C", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "correct": ["A", "C"]},
        {"type": "true_false", "text": "True?", "correct": True},
        {"type": "numeric", "text": "g?", "correct": 9.81, "tolerance": 0.05},
        {"type": "text", "text": "Word?", "accept": ["acceleration"]},
        {"type": "poll", "text": "Mood?", "options": {"A": "good", "B": "bad"}},
    ]
    pool = parse_pool({"title": "Large lecture", "session_id": "big", "time_limit_default": 20,
                       "questions": [dict(kinds[i % len(kinds)]) for i in range(questions)]})
    record = SessionRecord(sid="big", pool=pool, state=SessionState.FINISHED)
    start = 1_700_000_000_000
    for idx in range(questions):
        asked = AskedQuestion.of(pool, idx, start + idx * 60_000, 20)
        asked.closed_at_ms = asked.opened_at_ms + 20_000
        record.asked[idx] = asked
    answers: list[Callable[[bool], Any]] = [
        lambda right: "B" if right else rng.choice("ACD"),
        lambda right: ("A", "C") if right else rng.choice([("A",), ("B", "D"), ("A", "B", "C")]),
        lambda right: right,
        lambda right: round(9.81 + rng.gauss(0, 0.02), 3) if right else round(rng.uniform(0, 20), 2),
        lambda right: "Acceleration" if right else rng.choice(["speed", "velocity", f"guess {rng.randint(0, 400)}"]),
        lambda right: rng.choice("AB"),
    ]
    for s in range(students):
        participant = Participant(f"st{s:05d}", f"Student {s}", f"cookie{s}", start - 1000)
        ability = rng.random()
        participant.blur_count = rng.choice([0, 0, 0, 2])
        for idx, question in enumerate(pool.questions):
            if rng.random() < 0.05:
                participant.record(Submission(idx, SubmissionStatus.MISSED), revealed=True)
                continue
            answer = answers[idx % len(answers)](rng.random() < 0.3 + 0.6 * ability)
            elapsed = rng.randint(800, 19_000)
            grade = question.grade(answer)
            points = points_for(pool.score_fn, grade.credit, elapsed, 20_000) if question.scored else 0
            units = points * weight_units(question.weight) if question.scored else 0
            participant.record(Submission(idx, SubmissionStatus.SUBMITTED, answer, elapsed, points, grade.correct, units),
                               revealed=True)
        record.participants[participant.student_id] = participant
    return record


def test_a_report_for_5000_students_and_30_questions_is_written_in_seconds() -> None:
    record = large_record(5000, 30)
    started = time.perf_counter()
    collected = collect.collect(record)
    collected_at = time.perf_counter()
    stats = collect.analyse([collected])
    analysed_at = time.perf_counter()
    page = collect.render(stats, [collected])
    finished = time.perf_counter()
    print(f"\n5000 x 30 from a SessionRecord: collect {collected_at - started:.2f} s, "
          f"analyse {analysed_at - collected_at:.2f} s, render {finished - analysed_at:.2f} s "
          f"({len(page) / 1e6:.1f} MB), total {finished - started:.2f} s")
    assert finished - started < 60  # a guard against pathological growth; bench/README.md has the figures
    assert isinstance(stats, SessionStats) and stats.summary.participants == 5000 and len(stats.questions) == 30
    assert sum(len(q.answers) for q in collected.data.questions) == 150_000
    assert len(re.findall(r"<tr(?: class=\"help\")?><th scope=\"row\">", page)) >= 5000
