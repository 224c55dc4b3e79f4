"""The room's state machine and timers, on trio's MockClock (no real sleeping).

These drive `Room` directly (no network) with a real SQLite file committing inline, so
the autojumping clock only advances when the room is truly idle.
"""
from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from server.room.hub import ClientConnection, ClientKind
from server.session.model import SessionState, SubmissionStatus
from server.quiz.pool import Pool
from server.room.room import Room
from server.session.errors import RoomError
from server.settings import Settings
from server import serve


@asynccontextmanager
async def open_room(data_dir: Path, pool: Pool) -> AsyncIterator[Room]:
    settings = Settings(pool=pool, data_dir=data_dir, port=8000, session_id="tiny")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        yield room


def rows(data_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "quiz.sqlite3") as connection:
        return connection.execute(sql).fetchall()


async def test_next_walks_the_whole_session(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        assert room.state is SessionState.LOBBY
        await room.next()
        assert (room.state, room.record.current_question_idx) == (SessionState.QUESTION_OPEN, 0)
        await room.next()  # closes 0, opens 1
        assert (room.state, room.record.current_question_idx) == (SessionState.QUESTION_OPEN, 1)
        assert room.record.asked[0].closed_at_ms is not None
        await room.close_question()
        assert room.state is SessionState.QUESTION_CLOSED
        await room.show_leaderboard()
        assert room.state is SessionState.BETWEEN_QUESTIONS
        await room.next()
        assert (room.state, room.record.current_question_idx) == (SessionState.QUESTION_OPEN, 2)
        await room.next()  # past the last question: finish
        assert room.state is SessionState.FINISHED
        with pytest.raises(RoomError) as refused:
            await room.next()
        assert refused.value.code == "session_finished"
        await room.reset()
        assert room.state is SessionState.LOBBY and not room.record.asked
    assert rows(tmp_path, "SELECT state, current_question_idx FROM sessions") == [("lobby", None)]


async def test_open_close_refusals(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        for bad in (-1, 3, "1", 1.0, True, None):
            with pytest.raises(RoomError) as refused:
                await room.open_question(bad)
            assert refused.value.code == "bad_question"
        with pytest.raises(RoomError) as refused:
            await room.open_question(0, time_limit=4)
        assert refused.value.code == "bad_time_limit"
        with pytest.raises(RoomError) as refused:
            await room.close_question()
        assert refused.value.code == "not_open"
        await room.open_question(2, time_limit=60)
        assert room.current_asked is not None and room.current_asked.time_limit == 60
        with pytest.raises(RoomError) as refused:
            await room.open_question(2)
        assert refused.value.code == "already_asked"
        assert room.state is SessionState.QUESTION_OPEN


async def test_question_closes_itself_when_time_runs_out(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool
) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        alice = await room.join("s1", "Alice")
        bob = await room.join("s2", "Bob")
        await room.next()
        opened = trio.current_time()
        assert await room.submit(alice, 0, "B")  # at once: full score
        await trio.sleep(10)  # half of the 20 s limit
        await room.submit(bob, 0, "B")
        assert room.state is SessionState.QUESTION_OPEN
        await trio.sleep(9.9)
        assert room.state is SessionState.QUESTION_OPEN
        await trio.sleep(0.2)
        assert room.state is SessionState.QUESTION_CLOSED
        assert 20 <= trio.current_time() - opened < 20.2
        assert alice.submissions[0].points == 20 and bob.submissions[0].points == 15
        with pytest.raises(RoomError) as refused:
            await room.submit(bob, 0, "A")
        assert refused.value.code == "not_open"


async def test_timer_is_cancelled_by_manual_close(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        await room.next()
        await trio.sleep(5)
        await room.close_question()
        await room.next()  # question 1 opens with a fresh 20 s timer
        await trio.sleep(16)  # past question 0's old deadline
        assert (room.state, room.record.current_question_idx) == (SessionState.QUESTION_OPEN, 1)
        await trio.sleep(5)
        assert room.state is SessionState.QUESTION_CLOSED


async def test_missed_rows_on_close_and_for_late_joiners(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool
) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        alice = await room.join("s1", "Alice")
        await room.join("s2", "Bob")
        await room.next()
        await room.submit(alice, 0, "B")
        await room.next()  # close 0: Bob missed it
        late = await room.join("s3", "Carol")  # joins during question 1
        assert late.submissions[0].status is SubmissionStatus.MISSED
        assert 1 not in late.submissions  # question 1 is still open for Carol
        await room.close_question()
        asked = room.record.asked[0]
        assert asked.answer_counts["B"] == 1 and asked.missed_count == 2
        assert room.record.asked[1].missed_count == 3
    assert rows(tmp_path, "SELECT student_id, question_idx, status FROM submissions ORDER BY 1, 2") == [
        ("s1", 0, "submitted"),
        ("s1", 1, "missed"),
        ("s2", 0, "missed"),
        ("s2", 1, "missed"),
        ("s3", 0, "missed"),
        ("s3", 1, "missed"),
    ]


async def test_submit_validation(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        alice = await room.join("s1", "Alice")
        with pytest.raises(RoomError) as refused:
            await room.submit(alice, 0, "A")
        assert refused.value.code == "not_open"
        await room.open_question(2)  # options A and B only
        cases = [("2", "A", "bad_question"), (2.0, "A", "bad_question"), (2, "E", "bad_answer"), (2, "C", "bad_answer"),
                 (2, None, "bad_answer"), (1, "A", "not_open")]
        for idx, answer, code in cases:
            with pytest.raises(RoomError) as refused:
                await room.submit(alice, idx, answer)
            assert refused.value.code == code
        first = await room.submit(alice, 2, "A")
        assert await room.submit(alice, 2, "B") == first  # the first answer stands
        assert alice.submissions[2].answer == "A" and alice.total_units == 0


async def test_submit_after_the_deadline_is_time_expired(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool
) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        alice = await room.join("s1", "Alice")
        await room.next()
        room.timer.cancel()  # the timer would close it; check the submit-side guard alone
        await trio.sleep(20.5)
        with pytest.raises(RoomError) as refused:
            await room.submit(alice, 0, "B")
        assert refused.value.code == "time_expired"


async def test_first_claim_wins_and_clear_student(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        owner = await room.join("s1", "Alice")
        assert await room.join("s1", "Alice", current=owner) is owner  # same browser joining again
        with pytest.raises(RoomError) as refused:
            await room.join("s1", "Mallory", detail="10.0.0.9")
        assert (refused.value.code, refused.value.status) == ("duplicate_student_id", 409)
        assert room.record.duplicate_joins["s1"].count == 1
        await room.clear_student("s1")
        assert "s1" not in room.participants
        again = await room.join("s1", "Alice")
        assert again.cookie_id != owner.cookie_id
        assert room.authenticate("tiny", "s1", owner.cookie_id) is None
        assert room.authenticate("tiny", "s1", again.cookie_id) is again
        with pytest.raises(RoomError) as refused:
            await room.clear_student("nobody")
        assert refused.value.code == "unknown_student"


async def test_join_validation(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        for student_id in ("", " s1", "a" * 65, "s/1", 12, None, "ünï"):
            with pytest.raises(RoomError) as refused:
                await room.join(student_id, "Alice")
            assert refused.value.code == "bad_student_id"
        for name in ("", "   ", "x" * 81, "a\x00b", 5, None, "Bob\u202eevil", "A\u200bnn"):
            with pytest.raises(RoomError) as refused:
                await room.join("s1", name)
            assert refused.value.code == "bad_name"
        participant = await room.join("s1", "  Zoë   Ölmez ")
        assert participant.name == "Zoë Ölmez"
        assert not room.record.duplicate_joins


async def test_ranks_share_ties(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    async with open_room(tmp_path, tiny_pool) as room:
        students = [await room.join(f"s{i}", name) for i, name in enumerate(["Ann", "Ben", "Cid", "Dee"])]
        await room.next()
        await room.submit(students[0], 0, "B")
        await trio.sleep(10)
        await room.submit(students[1], 0, "B")
        await room.submit(students[2], 0, "B")
        await room.close_question()
        assert [(rank, p.name) for rank, p in room.ranking.ranked()] == [(1, "Ann"), (2, "Ben"), (2, "Cid"), (4, "Dee")]


async def test_reveal_messages_are_personal(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    import json

    async with open_room(tmp_path, tiny_pool) as room:
        alice = await room.join("s1", "Alice")
        bob = await room.join("s2", "Bob")
        clients = {}
        for participant in (alice, bob):
            client = ClientConnection(ClientKind.STUDENT, 32, participant.student_id)
            room.connect_student(client, participant)
            clients[participant.student_id] = client
        await room.next()
        await room.submit(alice, 0, "B")
        await room.close_question()
        for student_id, client in clients.items():
            messages = []
            while True:
                try:
                    messages.append(json.loads(client._receive_channel.receive_nowait()))
                except trio.WouldBlock:
                    break
            reveal = [m for m in messages if m["type"] == "question_closed"][-1]
            mine = [row for row in reveal["top5"] if row.get("is_you")]
            assert len(mine) == 1
            if student_id == "s1":
                assert (reveal["your_answer"], reveal["your_score"], reveal["your_rank"]) == ("B", 1.0, 1)
                assert mine[0]["name"] == "Alice"
            else:
                assert (reveal["your_answer"], reveal["your_score"], reveal["your_rank"]) == (None, 0, 2)
            assert reveal["histogram"] == {"A": 0, "B": 1, "C": 0, "D": 0, "missed": 1}


async def test_presence_rows_follow_every_change(autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool) -> None:
    import json

    async with open_room(tmp_path, tiny_pool) as room:
        alice = await room.join("s1", "Alice")
        await room.join("s2", "Bob")

        def rows() -> dict[str, dict]:
            return {r["student_id"]: r for r in json.loads(room.views.presence_text())["rows"]}

        before = rows()
        assert before["s1"]["blur_count"] == 0 and before["s1"]["connected"] is False
        await room.record_event(alice, "blur")
        client = ClientConnection(ClientKind.STUDENT, 32, "s1")
        room.connect_student(client, alice)
        await room.next()
        await room.submit(alice, 0, "B")
        with pytest.raises(RoomError):
            await room.join("s2", "Mallory")
        after = rows()
        assert (after["s1"]["blur_count"], after["s1"]["connected"], after["s1"]["answered_current"]) == (1, True, True)
        assert after["s2"]["duplicate_join_attempts"]["count"] == 1 and after["s2"]["answered_current"] is False
        room.disconnect_student(client, alice)
        assert rows()["s1"]["connected"] is False
