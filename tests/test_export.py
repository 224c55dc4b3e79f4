"""The gradebook CSV: a whole lecture scripted with `quizctl`, then checked cell by cell.

Students answer over real websockets while the room's clock is moved by hand, so every
elapsed time and score is exact. The export is read with the `csv` module and compared
with what each student did, then compared again over HTTP, as Excel, in the long
layout, and offline from the data dir after the server stopped.
"""
from __future__ import annotations

import csv
import io
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from server.reports.gradebook import neutralise, ranked, render_csv
from server.session.model import Participant, SessionRecord, Submission, SubmissionStatus
from server.quiz.pool import Pool, parse_pool
from tests.helpers import POOLS, ServerProcess, Student, ctl, manual_clock, quizctl, running_server

BOM = b"\xef\xbb\xbf"

LECTURE_POOL = {
    "title": "Week 5: Graphs",
    "session_id": "cs101-w5",
    "time_limit_default": 20,
    "score_fn": "speed_linear",
    "questions": [
        {"text": "BFS uses a…", "options": {"A": "stack", "B": "queue", "C": "heap"}, "correct": "B"},
        {"text": "Never asked", "options": {"A": "yes", "B": "no"}, "correct": "A"},
        {"text": "Dijkstra needs…", "options": {"A": "negative edges", "B": "a DAG", "C": "non-negative weights", "D": "a tree"}, "correct": "C"},
        {"text": "Also never asked", "options": {"A": "yes", "B": "no"}, "correct": "B"},
    ],
}

# student_id -> name. Ids order ties in the CSV; the names are the awkward ones.
NAMES = {
    "u1": "Zoë Ångström",
    "u2": "Smith, Jane",
    "u3": 'Dwayne "The Rock" Johnson',
    "u4": "=cmd|' /C calc'!A0",
    "u5": "-2+3",
    "u6": "Late Comer",
}


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_scripted_lecture_exports_the_gradebook(tmp_path: Path) -> None:
    pool = parse_pool(LECTURE_POOL)
    data_dir = tmp_path / "data"
    async with running_server(data_dir, pool) as server, AsyncExitStack() as stack:
        clock = manual_clock(server)
        students = {sid: Student(server.url, sid, name) for sid, name in NAMES.items()}
        for student in students.values():
            stack.push_async_callback(student.aclose)
        for sid in ("u1", "u2", "u3", "u4", "u5"):
            assert (await students[sid].join()).status_code == 200
            await stack.enter_async_context(students[sid].connect())
            assert (await students[sid].receive())["state"] == "lobby"
        u1, u2, u3, u4, u5, u6 = students.values()
        assert (await ctl(server, "status")).stdout == "lobby, 4 questions ready; 5 participants (5 connected)\n"

        # q1 (question_idx 0, 20 s): u1 at once, u2 and u3 after 2 s (a tie), u4 wrong, u5 silent.
        assert (await ctl(server, "next")).returncode == 0
        acks = {"u1": await u1.submit(0, "B")}
        clock.advance(2_000)
        acks["u2"] = await u2.submit(0, "B")
        acks["u3"] = await u3.submit(0, "B")
        clock.advance(2_000)
        acks["u4"] = await u4.submit(0, "A")
        assert {k: (a["score"], a["elapsed_ms"]) for k, a in acks.items()} == {
            "u1": (None, 0), "u2": (None, 2_000), "u3": (None, 2_000), "u4": (None, 4_000)
        }
        status = (await ctl(server, "status", "--json")).json()
        assert (status["answered_current"], status["time_left_ms"]) == (4, 16_000)
        assert (await ctl(server, "close")).returncode == 0
        reveals = {sid: await students[sid].expect("question_closed") for sid in ("u1", "u2", "u3", "u4", "u5")}
        assert {k: (r["your_score"], r["your_answer"]) for k, r in reveals.items()} == {
            "u1": (1.0, "B"), "u2": (0.95, "B"), "u3": (0.95, "B"), "u4": (0.0, "A"), "u5": (0, None)
        }

        # A late joiner: missed q1, which is closed.
        assert (await u6.join()).status_code == 200
        await stack.enter_async_context(u6.connect())
        assert (await u6.receive())["state"] == "question_closed"

        # q2 (idx 1) is never opened. q3 (idx 2) with a 10 s limit: `open 3`, numbered as the CSV numbers it.
        done = await ctl(server, "open", "3", "--time-limit", "10")
        assert done.returncode == 0 and done.stdout.startswith("question 3 of 4 open, 10 s left")
        acks = {"u6": await u6.submit(2, "C")}
        clock.advance(1_000)
        for student in (u1, u2, u3):
            acks[student.student_id] = await student.submit(2, "C")
        clock.advance(4_000)
        acks["u4"] = await u4.submit(2, "B")
        clock.advance(6_000)
        late = await u5.submit(2, "C")
        assert (late["type"], late["code"]) == ("error", "time_expired")
        assert {k: (a["score"], a["elapsed_ms"]) for k, a in acks.items()} == {
            "u6": (None, 0), "u1": (None, 1_000), "u2": (None, 1_000), "u3": (None, 1_000), "u4": (None, 5_000)
        }
        assert (await ctl(server, "end")).stdout == "session finished; 6 participants (6 connected)\n"
        reveals = {s.student_id: await s.expect("question_closed") for s in students.values()}
        assert {k: r["your_score"] for k, r in reveals.items()} == {
            "u6": 1.0, "u1": 0.95, "u2": 0.95, "u3": 0.95, "u4": 0.0, "u5": 0
        }
        ended = {s.student_id: await s.expect("session_ended") for s in students.values()}
        assert {k: (e["your_rank"], e["your_total"]) for k, e in ended.items()} == {
            "u1": (1, 1.95), "u2": (2, 1.9), "u3": (2, 1.9), "u6": (4, 1.0), "u4": (5, 0.0), "u5": (5, 0.0)
        }

        # ---- the gradebook, read back with the csv module, cell by cell
        done = await ctl(server, "export")
        assert done.returncode == 0 and done.stderr == ""
        raw = done.stdout_bytes
        text = raw.decode("utf-8")
        assert not raw.startswith(BOM)
        assert rows_of(text) == [
            ["student_id", "name", "q1", "q2", "q3", "q4", "total", "answered", "correct", "rank"],
            ["u1", "Zoë Ångström", "1.00", "", "0.95", "", "1.95", "2", "2", "1"],
            ["u2", "Smith, Jane", "0.95", "", "0.95", "", "1.90", "2", "2", "2"],
            ["u3", 'Dwayne "The Rock" Johnson', "0.95", "", "0.95", "", "1.90", "2", "2", "2"],
            ["u6", "Late Comer", "0.00", "", "1.00", "", "1.00", "1", "1", "4"],
            ["u4", "'=cmd|' /C calc'!A0", "0.00", "", "0.00", "", "0.00", "2", "0", "5"],
            ["u5", "'-2+3", "0.00", "", "0.00", "", "0.00", "0", "0", "5"],
        ]
        for row in rows_of(text)[1:]:
            assert sum(Decimal(cell) for cell in row[2:6] if cell) == Decimal(row[6])
        # RFC 4180 on the wire: CRLF, quoted comma, doubled quotes, UTF-8 letters.
        lines = raw.split(b"\r\n")
        assert lines[-1] == b"" and len(lines) == 8 and b"\n" not in b"".join(lines)
        assert lines[1] == "u1,Zoë Ångström,1.00,,0.95,,1.95,2,2,1".encode("utf-8")
        assert lines[2] == b'u2,"Smith, Jane",0.95,,0.95,,1.90,2,2,2'
        assert lines[3] == b'u3,"Dwayne ""The Rock"" Johnson",0.95,,0.95,,1.90,2,2,2'
        assert not any(line.startswith(b"=") or b",=" in line or b",-" in line for line in lines)

        # The same CSV over HTTP with the instructor token, to a file, as JSON, and for Excel.
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/export.csv", headers={"Authorization": f"Bearer {server.admin_token}"})
            assert response.status_code == 200 and response.content == raw
            assert response.headers["content-type"].startswith("text/csv")
            assert (await http.get("/export.csv", headers={"Authorization": "Bearer wrong"})).status_code == 401
            assert (await http.get("/export.csv")).status_code == 401
            long_http = await http.get("/export.csv?format=long&excel=1", headers={"Authorization": f"Bearer {server.admin_token}"})
        out = tmp_path / "grades.csv"
        done = await ctl(server, "export", "-o", str(out))
        assert (done.returncode, done.stdout) == (0, f"wrote 6 wide rows to {out}\n")
        assert out.read_bytes() == raw
        result = (await ctl(server, "export", "--json")).json()
        assert (result["csv"], result["rows"], result["format"]) == (text, 6, "wide")
        excel = (await ctl(server, "export", "--excel")).stdout_bytes
        assert excel == BOM + raw

        # --format long: a row per participant and opened question.
        long_raw = (await ctl(server, "export", "--format", "long")).stdout_bytes
        assert long_http.content == BOM + long_raw
        long_rows = rows_of(long_raw.decode("utf-8"))
        assert long_rows[0][:7] == ["student_id", "name", "question", "answer", "status", "elapsed_ms", "score"]
        assert [row[:7] for row in long_rows[1:]] == [
            ["u1", "Zoë Ångström", "q1", "B", "submitted", "0", "1.00"],
            ["u1", "Zoë Ångström", "q3", "C", "submitted", "1000", "0.95"],
            ["u2", "Smith, Jane", "q1", "B", "submitted", "2000", "0.95"],
            ["u2", "Smith, Jane", "q3", "C", "submitted", "1000", "0.95"],
            ["u3", 'Dwayne "The Rock" Johnson', "q1", "B", "submitted", "2000", "0.95"],
            ["u3", 'Dwayne "The Rock" Johnson', "q3", "C", "submitted", "1000", "0.95"],
            ["u6", "Late Comer", "q1", "", "missed", "", "0.00"],
            ["u6", "Late Comer", "q3", "C", "submitted", "0", "1.00"],
            ["u4", "'=cmd|' /C calc'!A0", "q1", "A", "submitted", "4000", "0.00"],
            ["u4", "'=cmd|' /C calc'!A0", "q3", "B", "submitted", "5000", "0.00"],
            ["u5", "'-2+3", "q1", "", "missed", "", "0.00"],
            ["u5", "'-2+3", "q3", "", "missed", "", "0.00"],
        ]
        done = await ctl(server, "export", "--format", "long", "-o", str(tmp_path / "long.csv"))
        assert done.stdout == f"wrote 12 long rows to {tmp_path / 'long.csv'}\n"

    # ---- the server has stopped: the data dir alone gives the same gradebook.
    done = await quizctl("status", data_dir=data_dir)
    assert done.returncode == 2
    offline = await quizctl("export", "--offline", data_dir=data_dir)
    assert offline.returncode == 0 and offline.stdout_bytes == raw
    offline = await quizctl("export", "--offline", "--format", "long", "--excel", data_dir=data_dir)
    assert offline.stdout_bytes == BOM + long_raw
    offline = await quizctl("export", "--offline", "--session-id", "cs101-w5", "-o", str(tmp_path / "o.csv"), data_dir=data_dir)
    assert offline.returncode == 0 and (tmp_path / "o.csv").read_bytes() == raw
    offline = await quizctl("export", "--offline", "--session-id", "nope", data_dir=data_dir)
    assert offline.returncode == 1 and "cs101-w5" in offline.stderr


async def test_export_while_a_question_is_open(tmp_path: Path, tiny_pool: Pool) -> None:
    """Mid-question: answers so far count, the not-yet-answered cell is blank (not a miss)."""
    async with running_server(tmp_path / "data", tiny_pool) as server:
        manual_clock(server)
        ann, bob = Student(server.url, "ann", "Ann"), Student(server.url, "bob", "Bob")
        for student in (ann, bob):
            assert (await student.join()).status_code == 200
        assert (await ctl(server, "next")).returncode == 0
        async with ann.connect():
            assert (await ann.submit(0, "B"))["score"] is None  # known at the reveal
        rows = rows_of((await ctl(server, "export")).stdout)
        assert rows[1:] == [["ann", "Ann", "1.00", "", "", "1.00", "1", "1", "1"], ["bob", "Bob", "", "", "", "0.00", "0", "0", "2"]]
        for student in (ann, bob):
            await student.aclose()


async def test_offline_export_without_a_database(tmp_path: Path) -> None:
    done = await quizctl("export", "--offline", data_dir=tmp_path / "empty")
    assert done.returncode == 1 and "no database" in done.stderr
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "quiz.sqlite3").write_bytes(b"not a database at all" * 100)
    done = await quizctl("export", "--offline", data_dir=tmp_path / "junk")
    assert done.returncode == 1 and "Traceback" not in done.stderr


# ---------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ann", "Ann"),
        ("Ann=Bob", "Ann=Bob"),
        ("'quoted", "'quoted"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def _record(points: dict[str, list[int | None]], pool: Pool) -> SessionRecord:
    record = SessionRecord(sid="s", pool=pool)
    for student_id, scores in points.items():
        participant = Participant(student_id, student_id.upper(), "c", 0)
        for idx, value in enumerate(scores):
            if value is not None:
                submission = Submission(idx, SubmissionStatus.SUBMITTED, "B", 100, value, value > 0, value * 100)
                participant.record(submission, revealed=True)
        record.participants[student_id] = participant
    return record


def test_ranks_share_ties_and_skip(tiny_pool: Pool) -> None:
    record = _record({"d": [20, 0], "c": [10, 10], "b": [20, 0], "a": [5, 0], "e": [20, 20]}, tiny_pool)
    assert [(rank, p.student_id) for rank, p in ranked(record)] == [(1, "e"), (2, "b"), (2, "c"), (2, "d"), (5, "a")]
    rows = rows_of(render_csv(record))
    assert [(r[0], r[-1]) for r in rows[1:]] == [("e", "1"), ("b", "2"), ("c", "2"), ("d", "2"), ("a", "5")]
    assert rows_of(render_csv(SessionRecord(sid="s", pool=tiny_pool))) == [
        ["student_id", "name", "q1", "q2", "q3", "total", "answered", "correct", "rank"]
    ]


async def test_offline_export_after_the_server_was_killed(tmp_path: Path) -> None:
    """Results survive a server that died (SIGKILL, WAL not checkpointed) and will not start."""
    data_dir = tmp_path / "data"
    process = await ServerProcess(POOLS / "tiny.json", data_dir).start()
    try:
        ann = Student(process.url, "ann", "Ann, the 1st")
        assert (await ann.join()).status_code == 200
        assert (await quizctl("next", data_dir=data_dir)).returncode == 0
        async with ann.connect():
            assert (await ann.submit(0, "B"))["type"] == "submit_ack"
        await ann.aclose()
        assert (await quizctl("close", data_dir=data_dir)).returncode == 0
        live = (await quizctl("export", data_dir=data_dir)).stdout_bytes
        process.kill()
    finally:
        process.ensure_stopped()
    done = await quizctl("export", "--offline", data_dir=data_dir)
    assert done.returncode == 0 and done.stdout_bytes == live
    assert rows_of(done.stdout)[1][:3] == ["ann", "Ann, the 1st", rows_of(live.decode())[1][2]]


async def test_offline_export_of_a_pool_with_images(tmp_path: Path) -> None:
    """The stored pool names its images; offline, they are found again beside the pool file (or left out)."""
    from server.quiz.pool import load_pool
    from tests.helpers import REPO

    data_dir = tmp_path / "data"
    async with running_server(data_dir, load_pool(REPO / "pools" / "demo.json")) as server:
        ann = Student(server.url, "ann", "Ann")
        assert (await ann.join()).status_code == 200
        await ann.aclose()
    done = await quizctl("export", "--offline", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert rows_of(done.stdout)[1][:2] == ["ann", "Ann"]
