"""Faults: the process is killed or stopped mid-question, the disk refuses writes, clients
stall or vanish. Nothing acknowledged may be lost and the room must keep serving.

Every test here runs the real server (a `quizctl serve` subprocess where the process
itself is killed, in-process otherwise so the room can be inspected), real sockets and a
real SQLite file. The websocket clients are `WebSocketClient`s (tests/helpers.py): wsproto
over a plain TCP socket, so a test decides exactly when (and whether) a client reads, and
can drop a connection without a close handshake the way a phone leaving the Wi-Fi does.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import signal
import sqlite3
import time
from collections.abc import Iterable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from server.web import hypercorn_patch
from server.quiz.pool import Pool, parse_pool
from server.quiz.scoring import points_for, points_to_score
from server.serve import RunningServer
from tests.helpers import (
    WAIT_S,
    Instructor,
    ServerProcess,
    WebSocketClient,
    join_all,
    offline_export,
    running_server,
)


# ---------------------------------------------------------------- clients


async def stuck_student(base_url: str, cookie: str) -> WebSocketClient:
    """A phone that completes the websocket handshake and then never reads again."""
    return await WebSocketClient.open(base_url, "/ws/student", cookie=cookie, rcvbuf=4096)  # a small window fills sooner


async def connect_all(
    base_url: str, cookies: dict[str, str], *, concurrency: int = 50
) -> dict[str, WebSocketClient]:
    sockets: dict[str, WebSocketClient] = {}
    limit = trio.CapacityLimiter(concurrency)

    async def connect(student_id: str, cookie: str) -> None:
        async with limit:
            sockets[student_id] = await WebSocketClient.open(base_url, "/ws/student", cookie=cookie)

    async with trio.open_nursery() as nursery:
        for student_id, cookie in cookies.items():
            nursery.start_soon(connect, student_id, cookie)
    return sockets


async def for_each(items: Iterable[Any], function: Any) -> None:
    async with trio.open_nursery() as nursery:
        for item in items:
            nursery.start_soon(function, item)


async def admin(base_url: str, token: str, command: str, body: dict[str, Any] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_S) as http:
        return await http.post(f"/admin/{command}", json=body or {}, headers={"Authorization": f"Bearer {token}"})


async def export_csv(base_url: str, token: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_S) as http:
        response = await http.get("/export.csv", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


def csv_rows(text: str) -> dict[str, dict[str, str]]:
    return {row["student_id"]: row for row in csv.DictReader(io.StringIO(text))}


def db_query(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def assert_database_sound(db_path: Path) -> None:
    """Integrity, and no half-written rows: every row complete and pointing at something real."""
    assert db_query(db_path, "PRAGMA integrity_check") == [("ok",)]
    bad_submissions = db_query(
        db_path,
        "SELECT * FROM submissions s WHERE status NOT IN ('submitted', 'missed')"
        " OR (status = 'submitted' AND (answer IS NULL OR elapsed_ms IS NULL OR submitted_at_ms IS NULL))"
        " OR score < 0 OR score > 1"
        " OR NOT EXISTS (SELECT 1 FROM participants p WHERE p.sid = s.sid AND p.student_id = s.student_id)"
        " OR NOT EXISTS (SELECT 1 FROM questions q WHERE q.sid = s.sid AND q.question_idx = s.question_idx)",
    )
    assert bad_submissions == []
    assert db_query(db_path, "SELECT * FROM participants WHERE name = '' OR cookie_id = ''") == []


def write_pool(directory: Path, *, time_limit: int = 60, questions: int = 3) -> Path:
    path = directory / "faults.json"
    path.write_text(json.dumps(fault_pool_json(time_limit=time_limit, questions=questions)))
    return path


def fault_pool_json(*, time_limit: int = 60, questions: int = 3, long_text: bool = False) -> dict[str, Any]:
    pad = (lambda n: " " + "x" * n) if long_text else (lambda n: "")
    return {
        "title": "Fault drill",
        "session_id": "faults",
        "time_limit_default": time_limit,
        "score_fn": "speed_linear",
        "questions": [
            {
                "text": f"Question {i}?" + pad(950),
                "options": {key: f"Option {key}" + pad(280) for key in "ABCD"},
                "correct": "ABCD"[i % 4],
                "explanation": "Because." + pad(1900),
            }
            for i in range(questions)
        ],
    }


async def server_log(process: ServerProcess, until: str | None = None) -> str:
    """The server's output so far (ServerProcess reads it on a thread); waits for `until`."""
    with trio.move_on_after(5):
        while until is not None and until not in "".join(process.output):
            await trio.sleep(0.02)
    return "".join(process.output)


def wall_clock_ms() -> float:
    return time.time() * 1000


def assert_remaining_consistent(opened: dict[str, Any], deadline_ms: int, before_ms: float, after_ms: float) -> None:
    """remaining_ms in a snapshot is the original deadline minus the server's now (±50 ms rounding)."""
    assert opened["opened_at_server_ts"] + opened["time_limit"] * 1000 == deadline_ms
    assert deadline_ms - after_ms - 50 <= opened["remaining_ms"] <= deadline_ms - before_ms + 50, (
        opened["remaining_ms"], deadline_ms - after_ms, deadline_ms - before_ms,
    )


# ---------------------------------------------------------------- SIGKILL


STUDENTS_AT_KILL = 160


async def test_sigkill_while_answers_arrive_loses_no_acknowledged_answer(tmp_path: Path) -> None:
    pool_path = write_pool(tmp_path)
    data_dir = tmp_path / "data"
    db_path = data_dir / "quiz.sqlite3"
    first = await ServerProcess(pool_path, data_dir).start()
    second: ServerProcess | None = None
    try:
        ids = [f"s{i:03d}" for i in range(STUDENTS_AT_KILL)]
        cookies = await join_all(first.url, ids)
        sockets = await connect_all(first.url, cookies)
        for ws in sockets.values():
            assert (await ws.expect("state"))["state"] == "lobby"
        assert (await admin(first.url, first.admin_token, "next")).status_code == 200
        opened = {sid: await ws.expect("question_open") for sid, ws in sockets.items()}
        original = opened[ids[0]]
        assert all(o["opened_at_server_ts"] == original["opened_at_server_ts"] for o in opened.values())
        deadline_ms = original["opened_at_server_ts"] + original["time_limit"] * 1000

        sent: dict[str, str] = {sid: "ABCD"[i % 4] for i, sid in enumerate(ids)}
        acks: dict[str, dict[str, Any]] = {}
        kill_after = STUDENTS_AT_KILL // 4
        killed_with: list[int] = []

        async def answer(student_id: str) -> None:
            ws = sockets[student_id]
            await ws.send_json({"type": "submit", "question_idx": 0, "answer": sent[student_id]})
            reply = await ws.expect("submit_ack")
            if reply is None:
                return  # the server died first
            acks[student_id] = reply
            if len(acks) >= kill_after and not killed_with:
                killed_with.append(len(acks))
                first.kill()  # SIGKILL, with later answers still arriving

        await for_each(ids, answer)
        assert killed_with, "every answer was acknowledged before the kill"
        print(f"\nSIGKILL after {killed_with[0]} acks; {len(acks)} acks read in all; {len(ids)} answers sent")

        # In the database, straight after the kill: every ack, and nothing that was not sent.
        assert_database_sound(db_path)
        rows = {
            r[0]: r
            for r in db_query(
                db_path,
                "SELECT student_id, status, answer, elapsed_ms, score FROM submissions WHERE question_idx = 0",
            )
        }
        lost = [sid for sid in acks if sid not in rows]
        assert lost == [], f"acknowledged answers lost: {lost}"
        for sid, ack in acks.items():
            # The ack tells no score (that waits for the reveal); the row holds the one the rules give.
            assert ack["score"] is None
            score = points_to_score(points_for("speed_linear", ack["answer"] == "A", ack["elapsed_ms"], 60_000))
            assert rows[sid] == (sid, "submitted", ack["answer"], ack["elapsed_ms"], score)
        for sid, (_, status, answer_, _, _) in rows.items():
            assert status == "submitted" and answer_ == sent[sid]
        committed_unacked = sorted(set(rows) - set(acks))

        # Restart on the same data dir: the question is still open, on its original deadline.
        second = await ServerProcess(pool_path, data_dir).start()
        before = wall_clock_ms()
        sockets = await connect_all(second.url, cookies)
        snapshots: dict[str, list[dict[str, Any]]] = {}
        for sid, ws in sockets.items():
            state = await ws.receive()
            assert state is not None and (state["type"], state["state"], state["current_question_idx"]) == (
                "state", "question_open", 0,
            )
            snapshots[sid] = [await ws.receive()]
        after = wall_clock_ms()
        for sid, (reopened,) in snapshots.items():
            assert reopened is not None and reopened["type"] == "question_open"
            assert_remaining_consistent(reopened, deadline_ms, before, after)
        # Each student's own ack is part of the snapshot: exactly the one they were sent.
        for sid in rows:
            ack = await sockets[sid].expect("submit_ack", timeout=5)
            assert ack is not None and ack["answer"] == sent[sid]
            if sid in acks:
                assert ack == acks[sid]

        async with httpx.AsyncClient(base_url=second.url, timeout=WAIT_S) as http:
            for sid, ack in acks.items():
                me = (await http.get("/me", headers={"Cookie": cookies[sid]})).json()
                assert me["submissions"] == [
                    {"question_idx": 0, "answer": ack["answer"], "elapsed_ms": ack["elapsed_ms"],
                     "score": ack["score"], "status": "submitted"}
                ]
        exported = csv_rows(await export_csv(second.url, second.admin_token))
        for sid, ack in acks.items():
            assert exported[sid]["q1"] == f"{rows[sid][4]:.2f}" and exported[sid]["answered"] == "1"

        # Those whose answer never got an ack send it again: a committed one comes back unchanged.
        async def resend(student_id: str) -> None:
            ws = sockets[student_id]
            await ws.send_json({"type": "submit", "question_idx": 0, "answer": sent[student_id]})
            ack = await ws.expect("submit_ack")
            assert ack is not None and ack["answer"] == sent[student_id]
            if student_id in rows:
                assert ack["elapsed_ms"] == rows[student_id][3]
            acks[student_id] = ack

        await for_each([sid for sid in ids if sid not in acks], resend)
        online = await export_csv(second.url, second.admin_token)
        assert len(csv_rows(online)) == STUDENTS_AT_KILL
        for ws in sockets.values():
            await ws.close()
        assert await second.stop(signal.SIGTERM) == 0
        assert await offline_export(data_dir) == online
        assert_database_sound(db_path)
        assert db_query(db_path, "SELECT COUNT(*) FROM submissions WHERE status = 'submitted'") == [(STUDENTS_AT_KILL,)]
        print(f"committed but unacknowledged at the kill: {len(committed_unacked)}; answers lost: 0")
    finally:
        first.ensure_stopped()
        if second is not None:
            second.ensure_stopped()


# ---------------------------------------------------------------- SIGTERM / Ctrl-C


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
async def test_signal_during_a_question_shuts_down_cleanly_and_resumes(tmp_path: Path, sig: int) -> None:
    pool_path = write_pool(tmp_path)
    data_dir = tmp_path / "data"
    db_path = data_dir / "quiz.sqlite3"
    server = await ServerProcess(pool_path, data_dir).start()
    again: ServerProcess | None = None
    try:
        ids = [f"t{i:02d}" for i in range(30)]
        cookies = await join_all(server.url, ids)
        sockets = await connect_all(server.url, cookies)
        # A phone that went to sleep mid-connection: it must not hold up the shutdown for long.
        stuck = await stuck_student(server.url, cookies[ids[0]]) if sig == signal.SIGTERM else None
        assert (await admin(server.url, server.admin_token, "next")).status_code == 200
        opened = [await ws.expect("question_open") for ws in sockets.values()][0]
        deadline_ms = opened["opened_at_server_ts"] + opened["time_limit"] * 1000

        acks: dict[str, dict[str, Any]] = {}

        async def answer(student_id: str) -> None:
            ws = sockets[student_id]
            await ws.send_json({"type": "submit", "question_idx": 0, "answer": "B"})
            reply = await ws.expect("submit_ack")
            if reply is not None:
                acks[student_id] = reply

        await for_each(ids[:20], answer)
        assert len(acks) == 20
        # Ten more answers are on their way when the signal arrives.
        started = time.monotonic()
        async with trio.open_nursery() as nursery:
            for sid in ids[20:]:
                nursery.start_soon(answer, sid)
            await trio.sleep(0)
            nursery.start_soon(lambda: server.stop(sig))
        shutdown_s = time.monotonic() - started
        log_text = await server_log(server, until="stopped; all answers are saved")
        assert server.process is not None and server.process.returncode == 0, log_text
        assert "stopped; all answers are saved" in log_text and "Traceback" not in log_text
        assert shutdown_s < 8, f"shutdown took {shutdown_s:.1f} s"
        closes = {ws.close_code for ws in sockets.values()}
        assert closes <= {1001, None}, closes

        assert_database_sound(db_path)
        assert not (data_dir / "quiz.sqlite3-wal").exists() or (data_dir / "quiz.sqlite3-wal").stat().st_size == 0
        stored = dict(db_query(db_path, "SELECT student_id, answer FROM submissions WHERE question_idx = 0"))
        assert {sid: "B" for sid in acks}.items() <= stored.items()
        if stuck is not None:
            await stuck.abort(reset=False)

        again = await ServerProcess(pool_path, data_dir).start()
        before = wall_clock_ms()
        ws = await WebSocketClient.open(again.url, "/ws/student", cookie=cookies[ids[5]])
        state = await ws.receive()
        reopened = await ws.receive()
        after = wall_clock_ms()
        assert state is not None and state["state"] == "question_open"
        assert reopened is not None and reopened["type"] == "question_open"
        assert_remaining_consistent(reopened, deadline_ms, before, after)
        assert await ws.expect("submit_ack") == acks[ids[5]]
        await ws.close()
        assert await again.stop(signal.SIGINT) == 0
    finally:
        server.ensure_stopped()
        if again is not None:
            again.ensure_stopped()


# ---------------------------------------------------------------- the disk refuses writes


def break_writes(running: RunningServer, how: str) -> Any:
    """Make the database refuse writes; returns the function that mends it.

    - "query_only": SQLite refuses to start a write transaction (as a COMMIT on a full
      or read-only disk fails: the whole batch fails).
    - "read_only_file": the writer's connection is swapped for one opened read-only, as
      after a read-only remount: each INSERT fails inside the batch.
    """
    storage = running.storage
    if how == "query_only":
        storage.connection.execute("PRAGMA query_only = ON")
        return lambda: storage.connection.execute("PRAGMA query_only = OFF")
    assert how == "read_only_file"
    original = storage._connection
    storage._connection = sqlite3.connect(
        f"file:{storage.db_path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
    )

    def mend() -> None:
        broken, storage._connection = storage._connection, original
        assert broken is not None
        broken.close()

    return mend


@pytest.mark.parametrize("how", ["query_only", "read_only_file"])
async def test_unwritable_database_refuses_answers_keeps_serving_and_recovers(
    tmp_path: Path, tiny_pool: Pool, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_server(tmp_path / "data", tiny_pool) as server:
        cookies = await join_all(server.url, ["ann", "ben"])
        ann = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["ann"])
        ben = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["ben"])
        await server.room.next()
        for ws in (ann, ben):
            assert await ws.expect("question_open")

        mend = break_writes(server, how)
        await ann.send_json({"type": "submit", "question_idx": 0, "answer": "B"})
        refused = await ann.expect("error")
        assert refused is not None and refused["code"] == "storage_unavailable"
        assert "ann" not in [sid for sid, p in server.room.participants.items() if 0 in p.submissions]
        # The room keeps serving: pings, a second student, HTTP, the operator's status.
        await ann.send_json({"type": "ping"})
        assert await ann.expect("pong")
        await ben.send_json({"type": "submit", "question_idx": 0, "answer": "A"})
        assert (await ben.expect("error") or {}).get("code") == "storage_unavailable"
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            late = await http.post("/join", json={"student_id": "cid", "name": "Cid"})
            assert (late.status_code, late.json()["error"]) == (503, "storage_unavailable")
            health = (await http.get("/healthz")).json()
            assert health["ok"] is True and health["storage_ok"] is False
            status = (await admin(server.url, server.admin_token, "status")).json()["result"]
        assert status["state"] == "question_open"
        assert status["storage_error"], "the operator must see the fault in `status`"
        assert "database write failed" in caplog.text

        # The disk comes back: the same answer is accepted, and the fault clears.
        mend()
        await ann.send_json({"type": "submit", "question_idx": 0, "answer": "B"})
        ack = await ann.expect("submit_ack")
        assert ack is not None and ack["answer"] == "B"
        assert server.room.status()["storage_error"] is None
        assert "database writes work again" in caplog.text
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            assert (await http.post("/join", json={"student_id": "cid", "name": "Cid"})).status_code == 200
        assert db_query(server.storage.db_path, "SELECT student_id, answer FROM submissions") == [("ann", "B")]
        for ws in (ann, ben):
            await ws.close()


async def test_transitions_made_during_an_outage_are_saved_once_the_disk_returns(
    tmp_path: Path, tiny_pool: Pool
) -> None:
    """The room keeps running on memory while the disk refuses writes: a question closed and
    the next one opened then must be in the database once writes work again, or a restart
    resurrects the old question and the answers acknowledged since are orphaned."""
    data_dir = tmp_path / "data"
    async with running_server(data_dir, tiny_pool) as server:
        cookies = await join_all(server.url, ["ann", "ben"])
        ann = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["ann"])
        await server.room.next()
        await ann.send_json({"type": "submit", "question_idx": 0, "answer": "B"})
        assert await ann.expect("submit_ack")

        mend = break_writes(server, "query_only")
        await server.room.next()  # closes question 0 (ben missed it) and opens question 1
        assert (await ann.expect("question_open") or {}).get("question_idx") == 1
        mend()

        await ann.send_json({"type": "submit", "question_idx": 1, "answer": "A"})
        ack = await ann.expect("submit_ack")
        assert ack is not None and ack["question_idx"] == 1
        memory = server.room.me(server.room.participants["ann"])
        await ann.close()

    async with running_server(data_dir, tiny_pool) as restarted:
        room = restarted.room
        assert (str(room.state), room.record.current_question_idx) == ("question_open", 1)
        assert room.record.asked[0].closed_at_ms is not None
        assert room.me(room.participants["ann"]) == memory
        assert [s["status"] for s in room.me(room.participants["ben"])["submissions"]] == ["missed"]
        rows = csv_rows(await export_csv(restarted.url, restarted.admin_token))
        score = points_to_score(points_for("speed_linear", True, ack["elapsed_ms"], 20_000))
        assert (rows["ann"]["q1"], rows["ann"]["q2"], rows["ben"]["q1"]) == ("1.00", f"{score:.2f}", "0.00")


# ---------------------------------------------------------------- stuck and slow clients


async def test_stuck_and_slow_clients_do_not_delay_the_room(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    pool = parse_pool(fault_pool_json(questions=40, long_text=True), source="long questions")
    async with running_server(tmp_path / "data", pool, student_queue_size=32) as server, AsyncExitStack() as clients:
        # Every client is let go of however the test ends: a failed assertion must not leave
        # a socket that nobody reads behind, or the server's shutdown waits on it.
        room = server.room
        ids = [f"n{i:02d}" for i in range(20)]
        cookies = await join_all(server.url, [*ids, "stuck", "slowread", "slowsend"])
        sockets = await connect_all(server.url, {sid: cookies[sid] for sid in ids})
        for ws in sockets.values():
            clients.push_async_callback(ws.abort, reset=True)
        stuck = await stuck_student(server.url, cookies["stuck"])
        clients.push_async_callback(stuck.abort, reset=False)
        slow_reader = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["slowread"], rcvbuf=4096)
        clients.push_async_callback(slow_reader.abort, reset=True)
        slow_sender = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["slowsend"])
        clients.push_async_callback(slow_sender.abort, reset=True)
        for ws in [*sockets.values(), slow_reader, slow_sender]:
            assert await ws.expect("state")
        with trio.fail_after(5):  # the stuck one cannot say when it is in; the room can
            while room.status()["connected"] < 23:
                await trio.sleep(0.01)

        got: dict[str, list[tuple[str, int | None]]] = {sid: [] for sid in ids}
        sent_at: dict[str, float] = {}
        ack_latency: list[float] = []
        slow_reader_seen: list[dict[str, Any]] = []
        slow_sender_seen: list[dict[str, Any]] = []
        cycles = 30

        async def read_normally(student_id: str) -> None:
            ws = sockets[student_id]
            while (message := await ws.receive()) is not None:
                got[student_id].append((message["type"], message.get("question_idx")))
                if message["type"] == "question_open":
                    sent_at[student_id] = time.monotonic()
                    await ws.send_json({"type": "submit", "question_idx": message["question_idx"], "answer": "A"})
                elif message["type"] == "submit_ack":
                    ack_latency.append(time.monotonic() - sent_at[student_id])

        async def read_slowly() -> None:
            while (message := await slow_reader.receive()) is not None:
                slow_reader_seen.append(message)
                await trio.sleep(0.05)  # a phone with a slow radio: 20 messages a second at most

        async def read_for_slow_sender() -> None:
            while (message := await slow_sender.receive()) is not None:
                slow_sender_seen.append(message)

        async def send_slowly() -> None:
            # One ping frame trickled a byte at a time while the questions go by.
            await slow_sender.trickle({"type": "ping"}, delay=0.02)

        async with trio.open_nursery() as readers:
            for sid in ids:
                readers.start_soon(read_normally, sid)
            readers.start_soon(read_slowly)
            readers.start_soon(read_for_slow_sender)
            readers.start_soon(send_slowly)
            started = time.monotonic()
            for _ in range(cycles):
                await room.next()
                # everyone who keeps up answers before the next question opens
                with trio.fail_after(5):
                    while room.current_asked.submitted_count < len(ids):  # type: ignore[union-attr]
                        await trio.sleep(0.002)
            elapsed = time.monotonic() - started
            with trio.fail_after(5):  # the last question's acks are committed; wait until they arrive
                while len(ack_latency) < cycles * len(ids):
                    await trio.sleep(0.01)
            with trio.fail_after(5):  # the trickled frame was understood in the end
                while not any(m["type"] == "pong" for m in slow_sender_seen):
                    await trio.sleep(0.01)
            readers.cancel_scope.cancel()

        # The stuck phone was dropped once its bounded queue filled; the others never waited.
        assert "stuck" not in room.hub.students and room.hub.dropped_total >= 1
        assert "dropping student client stuck: outbound queue full" in caplog.text
        assert room.participants["stuck"].connections == 0
        assert max(ack_latency) < 1.0, f"slowest ack {max(ack_latency):.3f} s"
        assert len(ack_latency) == cycles * len(ids)
        for sid in ids:
            opens = [q for kind, q in got[sid] if kind == "question_open"]
            closes = [q for kind, q in got[sid] if kind == "question_closed"]
            assert opens == list(range(cycles)) and closes == list(range(cycles - 1)), sid
        # The slow reader got an unbroken prefix of the stream, whether or not it was dropped.
        kinds = [(m["type"], m.get("question_idx")) for m in slow_reader_seen]
        opened_seen = [q for kind, q in kinds if kind == "question_open"]
        assert opened_seen == list(range(len(opened_seen)))
        print(f"\n{cycles} questions in {elapsed:.2f} s; slowest of {len(ack_latency)} acks "
              f"{max(ack_latency) * 1000:.0f} ms; dropped clients {room.hub.dropped_total}")

        # The server let go of the stuck connection: reading it now ends in EOF, not a hang.
        await stuck.read_to_eof()
        await stuck.abort(reset=False)


async def fill_until_a_write_stalls(server: RunningServer) -> None:
    """Open long questions until the server's write to a non-reading phone has been stuck for a while."""
    with trio.fail_after(WAIT_S):
        while True:
            await server.room.next()
            stalled_since = time.monotonic()
            while hypercorn_patch._sends_in_flight:
                if time.monotonic() - stalled_since > 0.3:
                    return
                await trio.sleep(0.01)


async def test_a_phone_that_stops_reading_cannot_hold_up_shutdown(tmp_path: Path) -> None:
    # Hypercorn shields its socket writes from cancellation, so a write stuck on a phone
    # that stopped reading used to hold Ctrl-C forever. It is now given up at shutdown.
    pool = parse_pool(fault_pool_json(questions=40, long_text=True), source="long questions")
    async with AsyncExitStack() as clients:  # the phone stays connected, unread, until the server is gone
        async with running_server(tmp_path / "data", pool) as server:
            cookies = await join_all(server.url, ["stuck"])
            stuck = await stuck_student(server.url, cookies["stuck"])
            clients.push_async_callback(stuck.abort, reset=False)
            await fill_until_a_write_stalls(server)
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 3.0  # graceful timeout (1 s) plus the commit


async def test_a_write_stalled_on_a_phone_that_stopped_reading_drops_it(tmp_path: Path) -> None:
    pool = parse_pool(fault_pool_json(questions=40, long_text=True), source="long questions")
    async with running_server(tmp_path / "data", pool, send_stall_timeout_s=1.0) as server, AsyncExitStack() as clients:
        cookies = await join_all(server.url, ["stuck", "fine"])
        stuck = await stuck_student(server.url, cookies["stuck"])
        clients.push_async_callback(stuck.abort, reset=False)
        await fill_until_a_write_stalls(server)
        with trio.fail_after(3):  # the stalled write gives up, and the connection with it
            while hypercorn_patch._sends_in_flight:
                await trio.sleep(0.05)
        try:  # the phone, reading at last, finds the connection closed
            await stuck.read_to_eof()
        except trio.BrokenResourceError:
            pass  # reset rather than closed: the server gave up mid-write
        assert "stuck" not in server.room.hub.students
        # The room goes on for everyone else.
        fine = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["fine"])
        clients.push_async_callback(fine.abort, reset=True)
        assert await fine.expect("question_open")


# ---------------------------------------------------------------- a Wi-Fi blip


BLIP_STUDENTS = 500


async def test_five_hundred_students_drop_and_reconnect_at_once(tmp_path: Path, tiny_pool: Pool) -> None:
    async with running_server(tmp_path / "data", tiny_pool) as server:
        room = server.room
        ids = [f"w{i:03d}" for i in range(BLIP_STUDENTS)]
        cookies = await join_all(server.url, ids)
        sockets = await connect_all(server.url, cookies)
        instructor = Instructor(server)
        async with instructor.connect():
            await room.next()
            opened = {}
            for sid, ws in sockets.items():
                opened[sid] = await ws.expect("question_open")
            deadline_ms = opened[ids[0]]["opened_at_server_ts"] + opened[ids[0]]["time_limit"] * 1000
            answered = ids[::2]
            acks: dict[str, dict[str, Any]] = {}

            async def answer(student_id: str) -> None:
                ws = sockets[student_id]
                await ws.send_json({"type": "submit", "question_idx": 0, "answer": "ABCD"[hash(student_id) % 4]})
                ack = await ws.expect("submit_ack")
                assert ack is not None
                acks[student_id] = ack

            await for_each(answered, answer)
            assert room.status()["connected"] == BLIP_STUDENTS

            # The Wi-Fi blips: every phone vanishes without a goodbye (half RST, half FIN).
            await for_each(enumerate(ids), lambda pair: sockets[pair[1]].abort(reset=pair[0] % 2 == 0))
            with trio.fail_after(WAIT_S):
                while room.status()["connected"]:
                    await trio.sleep(0.01)
            assert room.hub.student_connection_count == 0

            # ... and comes back: all at once.
            before = wall_clock_ms()
            sockets = await connect_all(server.url, cookies, concurrency=BLIP_STUDENTS)
            for sid, ws in sockets.items():
                state = await ws.receive()
                reopened = await ws.receive()
                assert state is not None and (state["state"], state["current_question_idx"]) == ("question_open", 0)
                assert reopened is not None and reopened["type"] == "question_open"
                assert_remaining_consistent(reopened, deadline_ms, before, wall_clock_ms())
                if sid in acks:
                    assert await ws.expect("submit_ack") == acks[sid]
            status = room.status()
            assert (status["participants"], status["connected"]) == (BLIP_STUDENTS, BLIP_STUDENTS)
            assert all(p.connections == 1 for p in room.participants.values())
            assert room.hub.student_connection_count == BLIP_STUDENTS
            assert db_query(server.storage.db_path, "SELECT COUNT(*), COUNT(DISTINCT student_id) FROM participants") == [
                (BLIP_STUDENTS, BLIP_STUDENTS)
            ]
            # The dashboard's (coalesced) presence catches up: everyone back, once, answers intact.
            # (500 is a large class: after the first table, only the changed rows travel.)
            presence = await instructor.presence_until(
                lambda rows: sum(r["connected"] for r in rows.values()) == BLIP_STUDENTS
                and all(r["ws_count"] == 1 for r in rows.values())
                and sum(r["answered_current"] for r in rows.values()) == len(answered),
            )
            assert sorted(presence) == ids

            # The other half answer now; the reveal counts every answer exactly once.
            await for_each(ids[1::2], answer)
            await room.close_question()
            reveal = await sockets[ids[0]].expect("question_closed")
            assert reveal is not None
            assert sum(reveal["histogram"][k] for k in "ABCD") == BLIP_STUDENTS and reveal["histogram"]["missed"] == 0
            for ws in sockets.values():
                await ws.abort(reset=False)
