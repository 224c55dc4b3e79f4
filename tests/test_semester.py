"""A semester with quizctl: sessions, rosters, extra time, pacing, regrades and LMS gradebooks.

The server runs in-process (`running_server`, with a hand-moved clock where scores must be
exact) or as a real `quizctl serve` subprocess where a restart or Ctrl-C is the point; the
operator's side is always the real `quizctl` CLI. Question numbers are 1-based in everything
a person reads or types, and 0-based `question_idx` on the wire.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import pytest
import trio
from trio.testing import MockClock

from quizctl.common import describe
from quizctl.semester_commands import LMS_CHOICES
from quizctl.serve_command import serve as serve_command
from server import serve
from server.quiz.pool import Pool, load_pool
from server.reports.lms import LMS_LAYOUTS
from server.room.hub import ClientConnection, ClientKind
from server.session.machine import SessionState
from server.session.roster import Roster, RosterEntry
from server.session.roster_file import parse_roster
from server.settings import Settings
from tests.helpers import POOLS, ServerProcess, Student, ctl, manual_clock, quizctl, running_server

TINY = POOLS / "tiny.json"
CLASS_CSV = (
    "student_id,first_name,last_name,email,section,login\n"
    "ann,Ann,Lee,ann.lee@uni.example,A,alee\n"
    "bob,Bob,Ray,,B,\n"
    "cid,Cid,Zhu,cid.zhu@uni.example,A,\n"
    "dan,Dan,Fox,dan.fox@uni.example,B,dfox\n"
)


def write_pool(folder: Path, **changes: Any) -> Path:
    """pools/tiny.json with top-level fields replaced; `keys={0: "A"}` replaces questions' `correct`."""
    data = json.loads(TINY.read_text())
    for idx, correct in changes.pop("keys", {}).items():
        data["questions"][idx]["correct"] = correct
    for idx, points in changes.pop("weights", {}).items():
        data["questions"][idx]["points"] = points
    data.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pool.json"
    path.write_text(json.dumps(data))
    return path


def rows(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(data_dir / "quiz.sqlite3")
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def lines(text: str) -> list[str]:
    return text.splitlines()


async def answer(student: Student, question_idx: int, choice: str) -> None:
    assert (await student.submit(question_idx, choice))["type"] == "submit_ack"


# ---------------------------------------------------------------- which session `serve` runs


async def test_serving_a_finished_pool_again_starts_a_new_session_and_sessions_lists_both(
    tmp_path: Path, tiny_pool: Pool
) -> None:
    data_dir = tmp_path / "data"
    async with running_server(data_dir, tiny_pool) as first:
        assert (first.room.record.sid, first.room.record.opened_as) == ("tiny", "new")
        ann = Student(first.url, "ann", "Ann")
        assert (await ann.join()).status_code == 200
        async with ann.connect():
            assert (await ctl(first, "next")).returncode == 0
            await ann.expect("question_open")
            await answer(ann, 0, "B")
            assert (await ctl(first, "end")).returncode == 0
        await ann.aclose()

    async with running_server(data_dir, tiny_pool) as second:
        new_sid = f"tiny-{date.today().isoformat()}"
        assert (second.room.record.sid, second.room.record.opened_as) == (new_sid, "new: tiny is finished")
        assert second.room.state is SessionState.LOBBY and second.room.participants == {}
        listed = (await ctl(second, "sessions", "--json")).json()["sessions"]
        assert [s["sid"] for s in listed] == ["tiny", new_sid]
        old, new = listed
        assert (old["title"], old["state"], old["questions_asked"], old["question_count"], old["participants"]) == (
            "Tiny test quiz",
            "finished",
            1,
            3,
            1,
        )
        assert old["started_at_ms"] <= old["finished_at_ms"]
        for key in ("started_at", "finished_at"):  # local time, ISO 8601 with its offset
            parsed = datetime.fromisoformat(old[key])
            assert parsed.tzinfo is not None and abs(parsed.timestamp() * 1000 - old[f"{key}_ms"]) < 1000
        assert (new["state"], new["started_at"], new["finished_at"], new["questions_asked"]) == ("lobby", None, None, 0)

    done = await quizctl("sessions", data_dir=data_dir)  # from the database: no server needed
    assert done.returncode == 0, done.stderr
    table = lines(done.stdout)
    assert table[0].split() == ["SESSION", "TITLE", "STATE", "STARTED", "FINISHED", "ASKED", "PARTICIPANTS"]
    assert table[1].startswith("tiny ") and "finished" in table[1] and table[1].endswith("1 of 3  1")
    assert table[2].startswith(new_sid) and "lobby" in table[2] and table[2].endswith("0 of 3  0")
    done = await quizctl("sessions", data_dir=tmp_path / "nothing")
    assert done.returncode == 1 and "no database" in done.stderr


async def test_an_unfinished_session_resumes_and_resume_reopens_a_finished_one(tmp_path: Path, tiny_pool: Pool) -> None:
    data_dir = tmp_path / "data"
    async with running_server(data_dir, tiny_pool) as first:
        ann = Student(first.url, "ann", "Ann")
        assert (await ann.join()).status_code == 200
        assert (await ctl(first, "next")).returncode == 0
        await ann.aclose()
    # Stopped mid-question, as a Ctrl-C mid-lecture does: the same command goes on with it.
    async with running_server(data_dir, tiny_pool) as again:
        assert (again.room.record.sid, again.room.record.opened_as) == ("tiny", "resumed")
        assert again.room.state is SessionState.QUESTION_OPEN and list(again.room.participants) == ["ann"]
        assert (await ctl(again, "end")).returncode == 0
    async with running_server(data_dir, tiny_pool, resume="tiny") as reopened:
        assert (reopened.room.record.sid, reopened.room.record.opened_as) == ("tiny", "resumed")
        assert reopened.room.state is SessionState.FINISHED and list(reopened.room.participants) == ["ann"]

    done = await quizctl("serve", str(TINY), "--port", "0", "--resume", "nope", data_dir=data_dir)
    assert done.returncode == 1 and done.stdout == ""
    assert "no session 'nope'" in done.stderr and "stored: tiny" in done.stderr
    done = await quizctl(
        "serve", str(TINY), "--port", "0", "--resume", "tiny", "--session-id", "other", data_dir=data_dir
    )
    assert done.returncode == 1 and "not both" in done.stderr


async def test_serve_says_which_session_and_roster_and_warns_of_changed_questions(tmp_path: Path) -> None:
    data_dir, roster = tmp_path / "data", tmp_path / "class.csv"
    roster.write_text(
        CLASS_CSV.replace("dan,Dan,Fox,dan.fox@uni.example,B,dfox", "dan,Dan,Fox,,B,") + "eve,Eve,Ng,,B,\n"
    )
    process = await ServerProcess(
        TINY, data_dir, "--session-id", "week1", "--roster", str(roster), "--lang", "de"
    ).start()
    try:
        said = "".join(process.output)
        assert "  Session:    week1 (new)\n" in said
        assert f"  Roster:     5 students (from {roster}); only they can join\n" in said
        assert "language de)" in said
        ann = Student(process.url, "ann", "whoever")
        assert (await ann.join()).json()["name"] == "Ann Lee"  # the roster's name
        async with ann.connect():
            assert (await quizctl("next", data_dir=data_dir)).returncode == 0
            await ann.expect("question_open")
            await answer(ann, 0, "B")
            assert (await quizctl("close", data_dir=data_dir)).returncode == 0
        await ann.aclose()
        assert await process.stop() == 0
    finally:
        process.ensure_stopped()

    fixed = write_pool(tmp_path / "fixed", keys={0: "A", 2: "A"})  # questions 1 and 3 changed; only 1 was asked
    restarted = await ServerProcess(fixed, data_dir, "--session-id", "week1").start()
    try:
        said = "".join(restarted.output)
        assert "  Session:    week1 (resumed where it was)\n" in said
        assert "  Roster:     5 students (the data dir's, from an earlier --roster); only they can join\n" in said
        warning = [line for line in restarted.output if "warning" in line]
        assert warning == [
            (
                "quizctl: warning: questions 1 and 3 changed since session week1 last ran; the answers to question 1 "
                f"were scored with the old version: `quizctl regrade {fixed}` scores them again\n"
            )
        ]
        assert "language en)" in said  # the pool has no language
        assert await restarted.stop(signal.SIGINT) == 0
    finally:
        restarted.ensure_stopped()


async def test_serve_options_are_checked_before_anything_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = await quizctl("serve", str(TINY), "--port", "0", "--session-id", "bad id", data_dir=data_dir)
    assert done.returncode == 1 and "--session-id" in done.stderr and "(fix: use 'bad-id')" in done.stderr
    bad_roster = tmp_path / "class.csv"
    bad_roster.write_text("student_id,name,extra_time\nann,Ann,1.5\nann,Ann again,\nbob,Bob,twice\n")
    done = await quizctl("serve", str(TINY), "--port", "0", "--roster", str(bad_roster), data_dir=data_dir)
    assert done.returncode == 1
    problems = [line for line in lines(done.stderr) if line.startswith(f"{bad_roster}:")]
    assert [p.split(":")[1] for p in problems] == ["3", "4"] and all("(fix: " in p for p in problems)
    assert "quizctl validate --roster" in done.stderr
    done = await quizctl("serve", str(TINY), "--port", "0", env={"QUIZ_LANG": "tlh"}, data_dir=data_dir)
    assert done.returncode == 1 and "--lang" in done.stderr and "'tlh' has no catalog" in done.stderr
    assert not data_dir.exists()


def test_serve_help_shows_every_environment_variable() -> None:
    text = " ".join(serve_command.get_help(click.Context(serve_command)).split())
    with_envvar = [param for param in serve_command.params if getattr(param, "envvar", None)]
    assert {p.envvar for p in with_envvar} >= {"QUIZ_ROSTER", "QUIZ_LANG", "QUIZ_SESSION_ID", "QUIZ_HOST", "QUIZ_PORT"}
    for param in with_envvar:
        assert f"env var: {param.envvar}" in text, param.name


async def test_a_second_serve_on_a_busy_data_dir_says_one_line_and_creates_nothing(
    tmp_path: Path, tiny_pool: Pool
) -> None:
    data_dir, roster = tmp_path / "data", tmp_path / "class.csv"
    roster.write_text(CLASS_CSV)

    def snapshot() -> dict[str, tuple[int, int]]:
        return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in data_dir.iterdir() if not p.is_socket()}

    # Control over TCP, so no control socket in the data dir: the lock alone must tell.
    async with running_server(data_dir, tiny_pool, control="tcp://127.0.0.1:0"):
        before = snapshot()
        other = write_pool(tmp_path / "other", session_id="other")
        done = await quizctl("serve", str(other), "--port", "0", "--roster", str(roster), data_dir=data_dir)
        assert done.returncode == 1 and done.stdout == ""
        assert lines(done.stderr) == [
            (
                f"quizctl serve: the data dir {data_dir} is in use: another quizctl serve is already running with it "
                "(stop that one first, or pass another --data-dir)"
            )
        ]
        assert snapshot() == before
        assert rows(data_dir, "SELECT sid FROM sessions") == [("tiny",)]
        assert rows(data_dir, "SELECT COUNT(*) FROM roster") == [(0,)]
        # The server itself holds the data dir, not only the CLI's first look.
        with pytest.raises(serve.DataDirInUse), serve.claim_data_dir(data_dir):
            pass
        other_settings = Settings(pool=tiny_pool, data_dir=data_dir, port=0, control="tcp://127.0.0.1:0")
        with pytest.raises(serve.DataDirInUse):
            await serve.serve(other_settings)
        assert snapshot() == before
    # Once it stopped, the data dir is free again.
    async with running_server(data_dir, tiny_pool) as running:
        assert running.room.record.sid == "tiny"


# ---------------------------------------------------------------- 1-based numbers, pacing across restarts


async def test_question_numbers_are_one_based_in_the_cli_and_the_csv(server: Any) -> None:
    clock = manual_clock(server)
    ann = Student(server.url, "ann", "Ann")
    assert (await ann.join()).status_code == 200
    async with ann.connect():
        done = await ctl(server, "open", "2")
        assert done.stdout == "question 2 of 3 open, 20 s left, 0 answered; 1 participants (1 connected)\n"
        opened = await ann.expect("question_open")
        assert opened["question_idx"] == 1  # the wire counts from 0
        await answer(ann, 1, "A")
        clock.advance(4_000)
        assert (await ctl(server, "status")).stdout.startswith("question 2 of 3 open, 16 s left, 1 answered")
        assert (
            await ctl(server, "close")
        ).stdout == "question 2 of 3 closed, 1 answered; 1 participants (1 connected)\n"
        assert (await ctl(server, "leaderboard")).stdout.startswith("leaderboard after question 2 of 3;")
    await ann.aclose()
    csv_rows = lines((await ctl(server, "export")).stdout)
    assert csv_rows[:2] == ["student_id,name,q1,q2,q3,total,answered,correct,rank", "ann,Ann,,1.00,,1.00,1,1,1"]
    done = await ctl(server, "open", "0")
    assert done.returncode == 1 and "0" in done.stderr and server.room.record.current_question_idx == 1


def test_status_lines_count_questions_from_one_and_say_who_is_waited_for() -> None:
    people = {"participants": 40, "connected": 38}
    waiting = {
        "state": "question_open",
        "current_question_idx": 3,
        "question_count": 10,
        "time_left_ms": 0,
        "answered_current": 31,
        "waiting_for_extra_time": 2,
        **people,
    }
    assert describe(waiting) == (
        "question 4 of 10 open, 0 s left, waiting for 2 students with extra time, 31 answered; "
        "40 participants (38 connected)"
    )
    paused = {**waiting, "state": "question_paused", "time_left_ms": 12_400, "waiting_for_extra_time": 0}
    assert describe(paused) == "question 4 of 10 paused, 12 s left, 31 answered; 40 participants (38 connected)"
    between = {**paused, "state": "between_questions"}
    assert describe(between) == "leaderboard after question 4 of 10; 40 participants (38 connected)"


async def test_pause_extend_and_skip_survive_restarts_and_export_after_ctrl_c_reads_the_database(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    process = await ServerProcess(TINY, data_dir).start()

    async def status() -> dict[str, Any]:
        return (await quizctl("status", "--json", data_dir=data_dir)).json()  # type: ignore[no-any-return]

    try:
        ann = Student(process.url, "ann", "Ann")
        assert (await ann.join()).status_code == 200
        async with ann.connect():
            # A long limit: the checks below must not depend on how fast a loaded machine runs quizctl.
            done = await quizctl("open", "1", "--time-limit", "600", data_dir=data_dir)
            assert done.stdout.startswith("question 1 of 3 open")
            await ann.expect("question_open")
            await answer(ann, 0, "B")
            done = await quizctl("pause", data_dir=data_dir)
            assert done.returncode == 0 and done.stdout.startswith("question 1 of 3 paused, ")
            paused = await status()
            assert paused["state"] == "question_paused" and paused["paused"] is True
            left = paused["time_left_ms"]
            assert 500_000 < left <= 600_000
        await process.stop()

        await process.start()  # a pause survives the restart, its countdown frozen where it was
        paused = await status()
        assert (paused["state"], paused["time_left_ms"]) == ("question_paused", left)
        done = await quizctl("extend", "300", data_dir=data_dir)
        assert done.stdout.startswith("extended by 300 s: question 1 of 3 paused, ")
        assert (await status())["time_left_ms"] == left + 300_000
        assert (await quizctl("resume", data_dir=data_dir)).stdout.startswith("question 1 of 3 open, ")
        await process.stop()

        await process.start()  # so does the extension, with the time spent paused added
        running = await status()
        assert running["state"] == "question_open" and left + 200_000 < running["time_left_ms"] <= left + 300_000
        done = await quizctl("resume", data_dir=data_dir)
        assert done.returncode == 1 and "not_paused" in done.stderr
        assert (await quizctl("extend", "0", data_dir=data_dir)).returncode == 1  # 1 to 3600 s
        done = await quizctl("skip", data_dir=data_dir)
        assert (
            done.stdout
            == "question 1 of 3 skipped: closed without a reveal, not scored; 1 participants (0 connected)\n"
        )
        await process.stop()

        await process.start()
        closed = await status()
        assert (closed["state"], closed["current_question_idx"]) == ("question_closed", 0)
        assert rows(data_dir, "SELECT question_idx, skipped FROM questions") == [(0, 1)]
        live = await quizctl("export", data_dir=data_dir)
        assert live.returncode == 0 and live.stderr == ""
        assert await process.stop(signal.SIGINT) == 0
        await ann.aclose()
    finally:
        process.ensure_stopped()

    after = await quizctl("export", data_dir=data_dir)  # "after class": no --offline needed
    assert after.returncode == 0 and after.stdout_bytes == live.stdout_bytes
    assert lines(after.stderr) == [
        f"quizctl export: no server is running with this data dir; reading {data_dir / 'quiz.sqlite3'} directly"
    ]
    assert (await quizctl("export", "--offline", data_dir=data_dir)).stdout_bytes == live.stdout_bytes
    # The skipped question counts for nobody in the semester gradebook.
    book = await quizctl("gradebook", data_dir=data_dir)
    assert lines(book.stdout) == ["student_id,name,Tiny test quiz (out of 0),total,possible", "ann,Ann,0,0,0"]


# ---------------------------------------------------------------- export of another session


async def test_export_session_id_while_another_session_runs(tmp_path: Path, tiny_pool: Pool) -> None:
    data_dir = tmp_path / "data"
    async with running_server(data_dir, tiny_pool) as first:
        ann = Student(first.url, "ann", "Ann")
        assert (await ann.join()).status_code == 200
        assert (await ctl(first, "end")).returncode == 0
        await ann.aclose()
    async with running_server(data_dir, tiny_pool) as second:
        bob = Student(second.url, "bob", "Bob")
        assert (await bob.join()).status_code == 200
        old = await ctl(second, "export", "--session-id", "tiny")
        assert old.returncode == 0, old.stderr
        assert lines(old.stdout)[1:] == ["ann,Ann,,,,0.00,0,0,1"]
        live = await ctl(second, "export")
        assert lines(live.stdout)[1:] == ["bob,Bob,,,,0.00,0,0,1"]
        assert (await ctl(second, "export", "--session-id", second.room.record.sid)).stdout == live.stdout
        done = await ctl(second, "export", "--session-id", "nope")
        assert done.returncode == 1 and "unknown_session" in done.stderr and "tiny" in done.stderr
        await bob.aclose()


# ---------------------------------------------------------------- regrade


async def test_regrade_in_the_running_server_after_a_key_fix(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    wrong = load_pool(write_pool(tmp_path / "wrong", keys={0: "A"}))  # the key says A; 2 + 2 is B
    fixed = write_pool(tmp_path / "fixed")
    async with running_server(data_dir, wrong) as server:
        clock = manual_clock(server)
        students = {sid: Student(server.url, sid, sid.title()) for sid in ("ann", "bob", "cid")}
        for student in students.values():
            assert (await student.join()).status_code == 200
        ann, bob, cid = students.values()
        async with ann.connect(), bob.connect(), cid.connect():
            assert (await ctl(server, "next")).returncode == 0
            for student in students.values():
                await student.expect("question_open")
            await answer(ann, 0, "B")
            await answer(bob, 0, "A")
            clock.advance(10_000)  # half the 20 s: a right answer now earns 0.75
            await answer(cid, 0, "B")
            done = await ctl(server, "regrade", str(fixed))
            assert done.returncode == 1 and "question_open" in done.stderr
            assert (await ctl(server, "close")).returncode == 0
        assert {p.student_id: p.total_units for p in server.room.participants.values()} == {
            "ann": 0,
            "bob": 2000,
            "cid": 0,
        }

        done = await ctl(server, "regrade", str(fixed))
        assert done.returncode == 0, done.stderr
        assert lines(done.stdout) == [
            "regraded session tiny in the running server: 3 answers graded again, 3 changed",
            "  ann Ann, question 1: 0.00 → 1.00 (now right)",
            "  bob Bob, question 1: 1.00 → 0.00 (now wrong)",
            "  cid Cid, question 1: 0.00 → 0.75 (now right)",
        ]
        # Memory: totals, right answers and the ranking follow; the fixed pool grades from now on.
        room = server.room
        assert {p.student_id: (p.total_units, p.correct_count) for p in room.participants.values()} == {
            "ann": (2000, 1),
            "bob": (0, 0),
            "cid": (1500, 1),
        }
        assert [(rank, p.student_id) for rank, p in room.ranking.ranked()] == [(1, "ann"), (2, "cid"), (3, "bob")]
        assert room.pool.questions[0].correct_json() == "B" and room.record.pool is room.pool
        # The database: the rows, the session's pool, and the history event (no student).
        assert rows(data_dir, "SELECT student_id, points, correct FROM submissions ORDER BY student_id") == [
            ("ann", 20, 1),
            ("bob", 0, 0),
            ("cid", 15, 1),
        ]
        assert json.loads(rows(data_dir, "SELECT pool_json FROM sessions")[0][0])["questions"][0]["correct"] == "B"
        ((student_id, question_idx, detail),) = rows(
            data_dir, "SELECT student_id, question_idx, detail FROM student_events WHERE kind = 'regrade'"
        )
        assert (student_id, question_idx) == (None, None)
        history = json.loads(detail)
        assert (history["sid"], history["answers"], history["pool"]) == ("tiny", 3, str(fixed.resolve()))
        assert [(c["student_id"], c["question_idx"], c["old_score"], c["new_score"]) for c in history["changes"]] == [
            ("ann", 0, 0.0, 1.0),
            ("bob", 0, 1.0, 0.0),
            ("cid", 0, 0.0, 0.75),
        ]
        live = (await ctl(server, "export")).stdout
        assert lines(live)[1:] == [
            "ann,Ann,1.00,,,1.00,1,1,1",
            "cid,Cid,0.75,,,0.75,1,1,2",
            "bob,Bob,0.00,,,0.00,1,0,3",
        ]
        assert (await quizctl("export", "--offline", data_dir=data_dir)).stdout == live  # memory = database

        again = await ctl(server, "regrade", str(fixed))
        assert lines(again.stdout) == [
            "regraded session tiny in the running server: 3 answers graded again, none changed"
        ]
        other_questions = write_pool(tmp_path / "other", questions=json.loads(TINY.read_text())["questions"][:2])
        done = await ctl(server, "regrade", str(other_questions))
        assert done.returncode == 1 and "pool_mismatch" in done.stderr
        for student in students.values():
            await student.aclose()
    assert len(rows(data_dir, "SELECT 1 FROM student_events WHERE kind = 'regrade'")) == 2
    async with running_server(data_dir, load_pool(fixed)) as restarted:  # memory rebuilt from the rows agrees
        assert {p.student_id: p.total_units for p in restarted.room.participants.values()} == {
            "ann": 2000,
            "bob": 0,
            "cid": 1500,
        }


async def test_regrade_in_the_database_without_a_server_and_for_another_session(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    wrong = load_pool(write_pool(tmp_path / "wrong", keys={1: "B"}))  # question 2: 7 is the prime, not 9
    async with running_server(data_dir, wrong) as server:
        clock = manual_clock(server)
        ann, bob = Student(server.url, "ann", "Ann"), Student(server.url, "bob", "Bob")
        for student in (ann, bob):
            assert (await student.join()).status_code == 200
        async with ann.connect(), bob.connect():
            assert (await ctl(server, "open", "2")).returncode == 0
            await ann.expect("question_open")
            await bob.expect("question_open")
            clock.advance(5_000)
            await answer(ann, 1, "A")
            await answer(bob, 1, "B")
            assert (await ctl(server, "end")).returncode == 0
        for student in (ann, bob):
            await student.aclose()

    fixed = write_pool(tmp_path / "fixed")
    done = await quizctl("regrade", str(fixed), data_dir=data_dir)  # no server: the database, the latest session
    assert done.returncode == 0, done.stderr
    assert lines(done.stdout) == [
        "regraded session tiny in the database: 2 answers graded again, 2 changed",
        "  ann Ann, question 2: 0.00 → 0.90 (now right)",
        "  bob Bob, question 2: 0.90 → 0.00 (now wrong)",
    ]
    assert rows(data_dir, "SELECT COUNT(*) FROM student_events WHERE kind = 'regrade' AND student_id IS NULL") == [(1,)]
    assert lines((await quizctl("export", "--offline", data_dir=data_dir)).stdout)[1:] == [
        "ann,Ann,,0.90,,0.90,1,1,1",
        "bob,Bob,,0.00,,0.00,1,0,2",
    ]

    # Another session runs: a regrade of this one still goes to the database, and the live room is untouched.
    async with running_server(data_dir, load_pool(fixed)) as second:
        assert second.room.record.sid != "tiny"
        double = write_pool(tmp_path / "double", weights={1: 2})
        done = await ctl(second, "regrade", "--session-id", "tiny", str(double), "--json")
        result = done.json()
        assert result["sid"] == "tiny" and [(c["student_id"], c["new_score"]) for c in result["changes"]] == [
            ("ann", 1.8)
        ]
        assert second.room.pool.questions[1].weight == 1
        # A weight changes no stored points, only what they are worth: read back with the session's new pool.
        stored = await ctl(second, "export", "--session-id", "tiny")
        assert lines(stored.stdout)[1:] == ["ann,Ann,,1.80,,1.80,1,1,1", "bob,Bob,,0.00,,0.00,1,0,2"]
        done = await ctl(second, "regrade", "--session-id", "nope", str(double))
        assert done.returncode == 1 and "unknown_session" in done.stderr
    assert rows(data_dir, "SELECT COUNT(*) FROM student_events WHERE kind = 'regrade'") == [(2,)]
    done = await quizctl("regrade", str(tmp_path / "missing.json"), data_dir=data_dir)
    assert done.returncode == 1 and "no such file" in done.stderr


# ---------------------------------------------------------------- rosters and extra time


async def test_the_roster_keeps_strangers_out_and_roster_add_lets_a_missing_student_in(
    tmp_path: Path, tiny_pool: Pool
) -> None:
    data_dir = tmp_path / "data"
    roster = parse_roster(CLASS_CSV, "class.csv")
    async with running_server(data_dir, tiny_pool, roster=roster) as server:
        clock = manual_clock(server)
        eve = Student(server.url, "eve", "Eve")
        refused = await eve.join()
        assert refused.status_code == 403 and refused.json()["error"] == "not_on_roster"
        assert server.room.record.refused_joins["eve"].count == 1
        assert rows(data_dir, "SELECT student_id, kind FROM student_events") == [("eve", "not_on_roster")]

        done = await ctl(server, "roster", "add", "eve", "Eve Park", "--extra-time", "1.5")
        assert (done.returncode, done.stdout) == (
            0,
            "added eve (Eve Park) to the roster (5 students): they can join now\n",
        )
        assert (await eve.join()).json()["name"] == "Eve Park"
        assert server.room.participants["eve"].extra_time == 1.5
        done = await ctl(server, "roster", "add", "zed", "Zed", "--extra-time", "11")
        assert done.returncode == 1 and "bad_roster_entry" in done.stderr
        done = await ctl(server, "roster", "remove", "bob")
        assert (done.returncode, done.stdout) == (0, "removed bob from the roster (4 students)\n")
        assert (await Student(server.url, "bob", "Bob").join()).status_code == 403
        assert (await ctl(server, "roster", "remove", "bob")).returncode == 1

        # Eve's 1.5 × 20 s: she may still answer at 25 s, when Ann's own time is up.
        ann = Student(server.url, "ann", "")
        assert (await ann.join()).status_code == 200
        async with ann.connect(), eve.connect():
            assert (await ctl(server, "next")).returncode == 0
            await ann.expect("question_open")
            assert (await eve.expect("question_open"))["time_limit"] == 30
            clock.advance(25_000)
            late = await ann.submit(0, "B")
            assert (late["type"], late["code"]) == ("error", "time_expired")
            await answer(eve, 0, "B")  # 25 of her 30 s: 1 - 0.5 × 25/30, on the 0.05 grid
            assert (await ctl(server, "end")).returncode == 0
        for student in (ann, eve):
            await student.aclose()
    assert rows(data_dir, "SELECT student_id, points FROM submissions WHERE status = 'submitted'") == [("eve", 12)]
    book = await quizctl("gradebook", "--offline", data_dir=data_dir)
    assert lines(book.stdout) == [
        "student_id,name,Tiny test quiz (out of 1),total,possible",
        "dan,Dan Fox,0,0,1",  # on the roster, never joined
        "ann,Ann Lee,0,0,1",
        "eve,Eve Park,0.6,0.6,1",
        "cid,Cid Zhu,0,0,1",
    ]


async def test_extra_time_moves_the_deadline_and_the_question_waits(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool
) -> None:
    roster = Roster([RosterEntry("ann", "Ann"), RosterEntry("mei", "Mei", extra_time=1.5)])
    settings = Settings(pool=tiny_pool, data_dir=tmp_path, session_id="tiny", roster=roster)
    async with serve.open_room(settings, commit_in_thread=False) as room:
        ann, mei = await room.join("ann", None), await room.join("mei", None)
        assert (ann.extra_time, mei.extra_time) == (1.0, 1.5)
        client = ClientConnection(ClientKind.STUDENT, 32, "mei")
        room.connect_student(client, mei)

        await room.next()  # question 1: Mei answers late, and the question closes when she does
        asked = room.current_asked
        assert asked is not None
        assert (asked.deadline_for(1.0) - asked.opened_at_ms, asked.deadline_for(1.5) - asked.opened_at_ms) == (
            20_000,
            30_000,
        )
        sent = []
        while True:
            try:
                sent.append(json.loads(client._receive_channel.receive_nowait()))
            except trio.WouldBlock:
                break
        opened = [m for m in sent if m["type"] == "question_open"]
        assert [(m["time_limit"], m["remaining_ms"], m["extra_time"]) for m in opened] == [(30, 30_000, 1.5)]
        await room.submit(ann, 0, "B")
        await trio.sleep(20.5)  # past the question's own 20 s: it waits for Mei
        assert room.state is SessionState.QUESTION_OPEN and room.status()["waiting_for_extra_time"] == 1
        await trio.sleep(4.5)
        await room.submit(mei, 0, "B")
        await trio.sleep(0.01)
        assert room.state is SessionState.QUESTION_CLOSED
        assert (ann.submissions[0].points, mei.submissions[0].points) == (20, 12)  # her speed over her own 30 s

        await room.next()  # question 2: nobody answers; it closes at Mei's deadline, not before
        start = trio.current_time()
        await trio.sleep(29.9)
        assert room.state is SessionState.QUESTION_OPEN
        await trio.sleep(0.2)
        assert room.state is SessionState.QUESTION_CLOSED and 30 <= trio.current_time() - start < 30.2
        # Disconnected, she is not waited for: question 3 closes after its own 20 s.
        room.disconnect_student(client, mei)
        await room.next()
        await trio.sleep(20.1)
        assert room.state is SessionState.QUESTION_CLOSED


async def test_validate_checks_a_roster_alone_or_with_pools(tmp_path: Path) -> None:
    done = await quizctl("validate", "--roster", str(POOLS / "example-roster.csv"))
    assert (done.returncode, done.stdout) == (
        0,
        f"{POOLS / 'example-roster.csv'}: OK - 6 students, 1 with extra time\n",
    )
    bad = tmp_path / "class.csv"
    bad.write_text("student_id,name,email\nann,Ann,ann@\n")
    done = await quizctl("validate", str(TINY), "--roster", str(bad))
    assert done.returncode == 1 and done.stdout.startswith(f"{TINY}: OK")
    assert lines(done.stderr)[0].startswith(f"{bad}:2: ") and "(fix: " in done.stderr
    result = json.loads((await quizctl("validate", "--roster", str(bad), "--json")).stdout)
    assert result["ok"] is False and result["problems"][0].startswith(f"{bad}:2: ")
    done = await quizctl("validate")
    assert done.returncode == 1 and "--roster" in done.stderr


# ---------------------------------------------------------------- the semester gradebook


GRADEBOOKS = {
    "plain": (
        "student_id,name,Week 1 (out of 2),Week 2 (out of 3),total,possible\r\n"
        "dan,Dan Fox,0,0,0,5\r\n"
        "ann,Ann Lee,2,0.9,2.9,5\r\n"
        "bob,Bob Ray,0.75,0,0.75,5\r\n"
        "cid,Cid Zhu,0,1,1,5\r\n"
    ),
    "canvas": (
        "Student,ID,SIS User ID,SIS Login ID,Section,Week 1,Week 2,Final Points\r\n"
        "Points Possible,,,,,2,3,(read only)\r\n"
        '"Fox, Dan",,dan,dfox,B,0,0,0\r\n'
        '"Lee, Ann",,ann,alee,A,2,0.9,2.9\r\n'
        '"Ray, Bob",,bob,,B,0.75,0,0.75\r\n'
        '"Zhu, Cid",,cid,cid.zhu@uni.example,A,0,1,1\r\n'
    ),
    "moodle": (
        "ID number,Email address,First name,Last name,Week 1 (out of 2),Week 2 (out of 3),Total (out of 5)\r\n"
        "dan,dan.fox@uni.example,Dan,Fox,0,0,0\r\n"
        "ann,ann.lee@uni.example,Ann,Lee,2,0.9,2.9\r\n"
        "bob,,Bob,Ray,0.75,0,0.75\r\n"
        "cid,cid.zhu@uni.example,Cid,Zhu,0,1,1\r\n"
    ),
    "blackboard": (
        '"Last Name","First Name","Username","Week 1 (out of 2)","Week 2 (out of 3)","Total (out of 5)"\r\n'
        '"Fox","Dan","dfox","0","0","0"\r\n'
        '"Lee","Ann","alee","2","0.9","2.9"\r\n'
        '"Ray","Bob","bob","0.75","0","0.75"\r\n'
        '"Zhu","Cid","cid","0","1","1"\r\n'
    ),
}


async def test_gradebooks_for_each_lms_over_two_sessions_online_and_offline(tmp_path: Path) -> None:
    """Ann takes both weeks, Bob only week 1, Cid only week 2, Dan (on the roster) neither.

    Week 1 asks 2 of its 3 questions (2 points possible), week 2 all 3: unasked questions are not possible points.
    """
    assert LMS_CHOICES == LMS_LAYOUTS
    data_dir = tmp_path / "data"
    week1 = load_pool(write_pool(tmp_path / "w1", title="Week 1", session_id="w1"))
    week2 = load_pool(write_pool(tmp_path / "w2", title="Week 2", session_id="w2"))
    async with running_server(data_dir, week1, roster=parse_roster(CLASS_CSV, "class.csv")) as server:
        clock = manual_clock(server)
        ann, bob = Student(server.url, "ann", ""), Student(server.url, "bob", "")
        for student in (ann, bob):
            assert (await student.join()).status_code == 200
        async with ann.connect(), bob.connect():
            assert (await ctl(server, "next")).returncode == 0
            await answer(ann, 0, "B")
            await answer(bob, 0, "A")
            assert (await ctl(server, "next")).returncode == 0
            await answer(ann, 1, "A")
            clock.advance(10_000)
            await answer(bob, 1, "A")
            assert (await ctl(server, "end")).returncode == 0
        for student in (ann, bob):
            await student.aclose()

    async with running_server(data_dir, week2) as server:  # the roster stays in the data dir
        clock = manual_clock(server)
        ann, cid = Student(server.url, "ann", ""), Student(server.url, "cid", "")
        for student in (ann, cid):
            assert (await student.join()).status_code == 200
        async with ann.connect(), cid.connect():
            assert (await ctl(server, "next")).returncode == 0
            await answer(cid, 0, "B")
            clock.advance(5_000)
            await answer(ann, 0, "B")  # 1 - 0.5 × 5/20 = 0.875, on the grid 0.9
            for _ in range(2):
                assert (await ctl(server, "next")).returncode == 0
            assert (await ctl(server, "close")).returncode == 0
        for student in (ann, cid):
            await student.aclose()

        # Online, while week 2 is still running: the same bytes as offline.
        for lms, expected in GRADEBOOKS.items():
            online = await ctl(server, "gradebook", "--lms", lms)
            assert online.returncode == 0, online.stderr
            assert online.stdout_bytes == expected.encode(), lms
            assert "session w2 is still running" in online.stderr
            offline = await ctl(server, "gradebook", "--lms", lms, "--offline")
            assert offline.stdout_bytes == online.stdout_bytes and offline.stderr == ""
        out = tmp_path / "canvas.csv"
        done = await ctl(server, "gradebook", "--lms", "canvas", "--excel", "-o", str(out), "--json")
        assert done.json() == {"path": str(out), "lms": "canvas", "sessions": ["w1", "w2"], "students": 4}
        assert out.read_bytes() == b"\xef\xbb\xbf" + GRADEBOOKS["canvas"].encode()

    after = await quizctl("gradebook", "--lms", "moodle", data_dir=data_dir)  # no server
    assert after.stdout_bytes == GRADEBOOKS["moodle"].encode()
    assert "no server is running" in after.stderr
    only_week2 = await quizctl("gradebook", "--sessions", "w2", "--offline", data_dir=data_dir)
    assert lines(only_week2.stdout) == [
        "student_id,name,Week 2 (out of 3),total,possible",
        "dan,Dan Fox,0,0,3",
        "ann,Ann Lee,0.9,0.9,3",
        "bob,Bob Ray,0,0,3",
        "cid,Cid Zhu,1,1,3",
    ]
    done = await quizctl("gradebook", "--sessions", "w2,w9", "--offline", data_dir=data_dir)
    assert done.returncode == 1 and "no session 'w9'" in done.stderr
