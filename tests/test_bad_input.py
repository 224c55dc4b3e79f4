"""Bad input gets the contract's error and leaves the state as it was."""
from __future__ import annotations

import json

import httpx
import trio

from server.serve import RunningServer
from tests.helpers import Instructor, Student


async def snapshot(server: RunningServer) -> tuple:
    room = server.room
    return (
        str(room.state),
        room.record.current_question_idx,
        sorted((p.student_id, p.name, p.total_units, len(p.submissions)) for p in room.participants.values()),
    )


async def test_join_rejects_bad_bodies(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        before = await snapshot(server)
        cases = [
            (b"{not json", "bad_json"),
            (b"[1, 2]", "bad_json"),
            (b'"s1"', "bad_json"),
            (b"\xff\xfe", "bad_json"),
            (b'{"student_id": NaN, "name": "x"}', "bad_json"),
            (json.dumps({"student_id": 12, "name": "Ann"}).encode(), "bad_student_id"),
            (json.dumps({"student_id": "s1"}).encode(), "bad_name"),
            (json.dumps({"student_id": "s1", "name": "x" * 500}).encode(), "bad_name"),
            (json.dumps({"student_id": "s 1", "name": "Ann"}).encode(), "bad_student_id"),
            (json.dumps({"student_id": "s1", "name": ["Ann"]}).encode(), "bad_name"),
        ]
        for body, code in cases:
            response = await http.post("/join", content=body, headers={"content-type": "application/json"})
            assert (response.status_code, response.json()["error"]) == (400, code), body
            assert response.json()["message"]
        huge = await http.post("/join", content=b'{"name": "' + b"x" * 100_000 + b'"}')
        assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"
        assert await snapshot(server) == before


async def test_event_rejects_bad_kinds(server: RunningServer) -> None:
    student = Student(server.url, "s1", "Ann")
    await student.join()
    for body in ({"kind": "click"}, {"kind": "blur", "question_idx": "x"}, {}):
        response = await student.http.post("/event", json=body)
        assert response.status_code == 400 and response.json()["error"] in ("bad_event", "bad_question")
    assert (await student.http.post("/event", json={"kind": "blur"})).status_code == 204
    assert server.room.participants["s1"].blur_count == 1
    await student.aclose()


async def test_websocket_rejects_bad_messages_and_keeps_the_socket(server: RunningServer) -> None:
    student = Student(server.url, "s1", "Ann")
    await student.join()
    async with student.connect() as ws:
        await student.expect("state")
        await server.room.open_question(2)  # options A and B
        await student.expect("question_open")
        before = await snapshot(server)
        raw_cases = ["not json", "[]", '"submit"', '{"no_type": 1}', '{"type": "hack"}', '{"type": 5}']
        for raw in raw_cases:
            assert await ws.send_text(raw)
            reply = await student.expect("error")
            assert reply["code"] == "bad_message", raw
        assert await ws.send_bytes(b"\x00\x01binary")
        assert (await student.expect("error"))["code"] == "bad_message"
        submit_cases = [
            ({"question_idx": "2", "answer": "A"}, "bad_question"),
            ({"question_idx": 2.0, "answer": "A"}, "bad_question"),
            ({"question_idx": None, "answer": "A"}, "bad_question"),
            ({"question_idx": 2, "answer": "E"}, "bad_answer"),
            ({"question_idx": 2, "answer": "C"}, "bad_answer"),  # not an option of this question
            ({"question_idx": 2, "answer": ["A"]}, "bad_answer"),
            ({"question_idx": 0, "answer": "A"}, "not_open"),
            ({"question_idx": 10**30, "answer": "A"}, "not_open"),
        ]
        for fields, code in submit_cases:
            reply = await student.submit(fields["question_idx"], fields["answer"])
            assert (reply["type"], reply["code"]) == ("error", code), fields
        assert await snapshot(server) == before

        first = await student.submit(2, "B")
        assert first["type"] == "submit_ack"
        second = await student.submit(2, "A")
        assert second == first  # the first ack, unchanged
        await server.room.close_question()
        await student.expect("question_closed")
        late = await student.submit(2, "A")
        assert (late["type"], late["code"]) == ("error", "not_open")
        await student.send({"type": "ping"})
        assert (await student.expect("pong"))["type"] == "pong"
    assert server.room.participants["s1"].submissions[2].answer == "B"
    await student.aclose()


async def test_unknown_instructor_messages_and_commands(server: RunningServer) -> None:
    instructor = Instructor(server)
    async with instructor.connect():
        for message, code in (
            ({"type": "fly"}, "bad_message"),
            ({"type": "open_question", "question_idx": 99}, "bad_question"),
            ({"type": "open_question", "question_idx": 0, "time_limit": "soon"}, "bad_time_limit"),
            ({"type": "close_question"}, "not_open"),
            ({"type": "clear_student", "student_id": "ghost"}, "unknown_student"),
        ):
            reply = await instructor.command(message)
            assert (reply["type"], reply["code"]) == ("error", code), message
        assert server.room.state.value == "lobby"
    with trio.fail_after(5):
        async with httpx.AsyncClient(base_url=server.url) as http:
            auth = {"Authorization": f"Bearer {server.admin_token}"}
            assert (await http.post("/admin/status", headers=auth)).json()["result"]["state"] == "lobby"
            bogus = await http.post("/admin/nuke", headers=auth)
            assert (bogus.status_code, bogus.json()["error"]) == (400, "unknown_command")


async def test_a_flood_of_events_is_throttled(server: RunningServer) -> None:
    student = Student(server.url, "s1", "Ann")
    await student.join()
    statuses = [(await student.http.post("/event", json={"kind": "blur"})).status_code for _ in range(40)]
    assert statuses[:20] == [204] * 20  # a burst of 20 is fine
    assert 429 in statuses[20:]
    assert server.room.participants["s1"].blur_count == statuses.count(204) < 40
    await student.aclose()
