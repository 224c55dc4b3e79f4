"""A whole class against the real server: Hypercorn on an ephemeral port, real websockets, real SQLite."""
from __future__ import annotations

import json
from contextlib import AsyncExitStack

import httpx
import trio

from server.clock import Clock
from server.serve import RunningServer
from tests.helpers import Instructor, Student, WebSocketClient


class ShiftedClock(Clock):
    """The room's clock, moved forward by the test instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.shift_ms = 0

    def now_ms(self) -> int:
        return super().now_ms() + self.shift_ms

    def trio_time_at(self, wall_ms: int) -> float:
        return super().trio_time_at(wall_ms - self.shift_ms)


async def test_three_students_answer_reveal_late_joiner_and_summary(server: RunningServer) -> None:
    clock = server.room.clock = ShiftedClock()
    ann, ben, cid = (Student(server.url, f"s{i}", name) for i, name in enumerate(["Ann", "Ben", "Cid"], 1))
    for student in (ann, ben, cid):
        assert (await student.join()).status_code == 200
    instructor = Instructor(server)
    async with instructor.connect(), ann.connect(), ben.connect(), cid.connect():
        for student in (ann, ben, cid):
            first = await student.receive()
            assert (first["type"], first["state"], first["title"]) == ("state", "lobby", "Tiny test quiz")
        result = await instructor.command({"type": "next"})
        assert result["result"]["state"] == "question_open"
        for student in (ann, ben, cid):
            opened = await student.expect("question_open")
            assert opened["question_idx"] == 0 and list(opened["options"]) == ["A", "B", "C", "D"]
            assert 19_000 <= opened["remaining_ms"] <= 20_000 and "correct" not in opened

        ack = await ann.submit(0, "B")  # correct, at once; the ack tells no score until the reveal
        assert (ack["type"], ack["score"], ack["answer"]) == ("submit_ack", None, "B")
        clock.shift_ms = 10_000  # half time
        ack = await ben.submit(0, "B")
        assert (ack["score"], ack["elapsed_ms"] >= 10_000) == (None, True)
        ack = await cid.submit(0, "A")  # wrong
        assert ack["score"] is None
        histogram = await instructor.expect("live_histogram", lambda m: m["submitted_count"] == 3)
        assert histogram["histogram"] == {"A": 1, "B": 2, "C": 0, "D": 0, "missed": 0, "pending": 0}

        await instructor.command({"type": "close_question"})
        reveals = {s.name: await s.expect("question_closed") for s in (ann, ben, cid)}
        assert reveals["Ann"]["correct"] == "B"
        assert reveals["Ann"]["histogram"] == {"A": 1, "B": 2, "C": 0, "D": 0, "missed": 0}
        assert [(r["your_rank"], r["your_total"], r["your_answer"], r["your_score"]) for r in reveals.values()] == [
            (1, 1.0, "B", 1.0),
            (2, 0.75, "B", 0.75),
            (3, 0.0, "A", 0.0),
        ]
        for name, reveal in reveals.items():
            assert [row["name"] for row in reveal["top5"]] == ["Ann", "Ben", "Cid"]
            assert [row["name"] for row in reveal["top5"] if row.get("is_you")] == [name]
            assert all("student_id" not in row for row in reveal["top5"])
        board = await instructor.expect("full_leaderboard")
        assert [(r["rank"], r["student_id"], r["score"]) for r in board["leaderboard"]] == [
            (1, "s1", 1.0), (2, "s2", 0.75), (3, "s3", 0.0)
        ]

        # A late joiner gets a missed row for the closed question and the reveal as snapshot.
        dee = Student(server.url, "s4", "Dee")
        assert (await dee.join()).status_code == 200
        me = (await dee.http.get("/me")).json()
        assert me["submissions"] == [
            {"question_idx": 0, "answer": None, "elapsed_ms": None, "score": 0.0, "status": "missed"}
        ]
        async with dee.connect():
            assert (await dee.receive())["state"] == "question_closed"
            snapshot = await dee.expect("question_closed")
            assert (snapshot["your_answer"], snapshot["your_score"], snapshot["your_rank"]) == (None, 0, 3)

            await instructor.command({"type": "next"})
            for student in (ann, ben, cid, dee):
                assert (await student.expect("question_open"))["question_idx"] == 1
            assert (await dee.submit(1, "A"))["type"] == "submit_ack"
            await instructor.command({"type": "end_session"})
            ended = {s.name: await s.expect("session_ended") for s in (ann, ben, cid, dee)}
        # Dee answered question 1 at once (1.0): she ties with Ann, and ties share a rank.
        summary = {name: (m["questions_answered"], m["questions_correct"], m["your_rank"], m["your_total"]) for name, m in ended.items()}
        assert summary == {"Ann": (1, 1, 1, 1.0), "Dee": (1, 1, 1, 1.0), "Ben": (1, 1, 3, 0.75), "Cid": (1, 0, 4, 0.0)}
        assert [row["name"] for row in ended["Dee"]["final_top5"] if row.get("is_you")] == ["Dee"]
        await dee.aclose()
    for student in (ann, ben, cid):
        await student.aclose()


async def test_projector_shows_aggregates_and_never_student_ids(server: RunningServer) -> None:
    students = [Student(server.url, f"id-{i}", f"Student {i}") for i in range(3)]
    for student in students:
        await student.join()
    async with await WebSocketClient.open(server.url, "/ws/projector") as projector:
        with trio.fail_after(10):
            state = await projector.receive()
        assert state is not None and state["type"] == "projector_state" and state["participant_count"] == 3
        assert state["qr_url"].startswith("data:image/svg+xml;base64,")
        assert state["join_url"] == server.url + "/"
        await server.room.next()
        async with students[0].connect():
            await students[0].expect("question_open")
            await students[0].submit(0, "B")
            with trio.fail_after(10):
                while True:
                    state = await projector.receive()
                    assert state is not None
                    if state["live_histogram"] and state["live_histogram"]["submitted_count"] == 1:
                        break
        assert state["state"] == "question_open" and state["reveal"] is None
        assert "correct" not in json.dumps(state["question"])
        await server.room.close_question()
        with trio.fail_after(10):
            while state["state"] != "question_closed":
                state = await projector.receive()
                assert state is not None
        assert state["reveal"]["correct"] == "B"
        assert [row["name"] for row in state["leaderboard"]][0] == "Student 0"
        assert "id-" not in json.dumps(state)
    for student in students:
        await student.aclose()


async def test_instructor_needs_the_token(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/instructor")).status_code == 401
        assert (await http.get("/instructor?token=wrong")).status_code == 401
        assert (await http.get("/export.csv")).status_code == 401
        page = await http.get(f"/instructor?token={server.admin_token}")
        assert page.status_code == 200 and "quiz_instructor" in page.headers["set-cookie"]
        # The cookie alone now authorizes the dashboard's CSV link.
        assert (await http.get("/export.csv")).status_code == 200
    async with await WebSocketClient.open(server.url, "/ws/instructor?token=nope") as ws:
        assert await ws.wait_closed() == 4001


async def test_pages_and_health(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/", "/projector"):
            page = await http.get(path)
            assert page.status_code == 200 and "<script" in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["x-content-type-options"] == "nosniff"
        health = (await http.get("/healthz")).json()
        assert health["ok"] is True and health["state"] == "lobby"
        assert (await http.get("/static/../server/room.py")).status_code == 404


async def test_next_during_a_question_sends_the_reveal_then_the_next_question(server: RunningServer) -> None:
    """Both go out in one socket write (a FrameBatch); each must still arrive as its own message."""
    students = [Student(server.url, f"s{i}", f"S{i}") for i in range(5)]
    for student in students:
        await student.join()
    async with AsyncExitStack() as stack:
        for student in students:
            await stack.enter_async_context(student.connect())
        await server.room.next()
        for student in students:
            assert (await student.expect("question_open"))["question_idx"] == 0
        await server.room.next()  # closes 0 and opens 1 in one transition
        for student in students:
            kinds = [(await student.receive())["type"] for _ in range(2)]
            assert kinds == ["question_closed", "question_open"]
            assert student.received[-1]["question_idx"] == 1
    for student in students:
        await student.aclose()
