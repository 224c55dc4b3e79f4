"""Acknowledged answers survive SIGKILL; a restart rebuilds the room, timers included."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import trio

from tests.helpers import POOLS, ServerProcess, Student


async def admin(url: str, token: str, command: str, **args: object) -> dict:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(f"/admin/{command}", json=args, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json()["result"]


async def test_acked_answers_survive_sigkill_and_the_question_closes_on_time(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = await ServerProcess(POOLS / "tiny.json", data_dir).start()
    try:
        students = [Student(first.url, f"s{i}", f"Student {i}") for i in range(3)]
        for student in students:
            assert (await student.join()).status_code == 200
        status = await admin(first.url, first.admin_token, "open", question_idx=0, time_limit=6)
        assert status["state"] == "question_open"
        acks = {}
        async with students[0].connect(), students[1].connect():
            for student, answer in ((students[0], "B"), (students[1], "C")):
                await student.expect("question_open")
                acks[student.student_id] = await student.submit(0, answer)
                assert acks[student.student_id]["type"] == "submit_ack"
            first.kill()
    finally:
        first.ensure_stopped()

    second = await ServerProcess(POOLS / "tiny.json", data_dir).start()
    try:
        for student in students:
            student.base_url = second.url
            await student.http.aclose()
            cookies = student.http.cookies
            student.http = httpx.AsyncClient(base_url=second.url, cookies=cookies)
        for student in students[:2]:
            me = (await student.http.get("/me")).json()
            ack = acks[student.student_id]
            assert me["submissions"] == [
                {"question_idx": 0, "answer": ack["answer"], "elapsed_ms": ack["elapsed_ms"], "score": ack["score"], "status": "submitted"}
            ]
        async with students[0].connect(), students[2].connect():
            assert (await students[0].receive())["state"] == "question_open"
            opened = await students[0].expect("question_open")
            deadline_ms = opened["opened_at_server_ts"] + 6000
            assert abs((time.time() * 1000 + opened["remaining_ms"]) - deadline_ms) < 1000
            assert await students[0].expect("submit_ack") == acks["s0"]  # its own ack in the snapshot
            late = await students[2].submit(0, "B")  # s2 never answered before the crash: still can
            assert late["type"] == "submit_ack"
            closed = await students[0].expect("question_closed")
            closed_at_ms = time.time() * 1000
            assert -300 < closed_at_ms - deadline_ms < 1500, "closed at the original deadline"
            assert closed["histogram"] == {"A": 0, "B": 2, "C": 1, "D": 0, "missed": 0}
    finally:
        assert await second.stop() == 0
        for student in students:
            await student.aclose()
    with sqlite3.connect(data_dir / "quiz.sqlite3") as db:
        assert db.execute("SELECT student_id, answer, status FROM submissions ORDER BY 1").fetchall() == [
            ("s0", "B", "submitted"), ("s1", "C", "submitted"), ("s2", "B", "submitted")
        ]


async def test_question_that_ran_out_while_down_closes_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = await ServerProcess(POOLS / "tiny.json", data_dir).start()
    try:
        student = Student(first.url, "s1", "Ann")
        await student.join()
        await admin(first.url, first.admin_token, "next")
        first.kill()
    finally:
        first.ensure_stopped()
    # The server stayed down for longer than the question's 20 s.
    with sqlite3.connect(data_dir / "quiz.sqlite3") as db:
        db.execute("UPDATE questions SET opened_at_ms = opened_at_ms - 60000")
    second = await ServerProcess(POOLS / "tiny.json", data_dir).start()
    try:
        with trio.fail_after(5):
            while (status := await admin(second.url, second.admin_token, "status"))["state"] != "question_closed":
                await trio.sleep(0.05)
        assert status["current_question_idx"] == 0
        me = (await httpx.AsyncClient(base_url=second.url, cookies=student.http.cookies).get("/me")).json()
        assert me["submissions"][0]["status"] == "missed"
    finally:
        assert await second.stop() == 0
        await student.aclose()
