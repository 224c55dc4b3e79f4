"""`quizctl` operator commands, run as real subprocesses against a running server.

Every command goes through the real control socket (a Unix socket in the data dir, or
TCP); the server is the in-process `server` fixture, so the tests can look at
`server.room` and drive the room's clock instead of sleeping.
"""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from server.control.socket import ControlAddressError, parse_control_address
from server.quiz.pool import Pool
from server.serve import RunningServer
from tests.helpers import HINT, POOLS, Student, ctl, manual_clock, quizctl, running_server

# ---------------------------------------------------------------- status and the transitions


async def test_status_in_lobby_human_and_json(server: RunningServer) -> None:
    done = await ctl(server, "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "lobby, 3 questions ready; 0 participants (0 connected)\n"
    status = (await ctl(server, "status", "--json")).json()
    assert status["state"] == "lobby" and status["current_question_idx"] is None
    assert (status["question_count"], status["participants"], status["connected"]) == (3, 0, 0)
    assert status["answered_current"] == 0 and status["time_left_ms"] is None
    assert status["sid"] == "tiny" and status["title"] == "Tiny test quiz"


async def test_next_open_close_end_walk_the_session(server: RunningServer) -> None:
    clock = manual_clock(server)
    ann, bob = Student(server.url, "ann", "Ann"), Student(server.url, "bob", "Bob")
    for student in (ann, bob):
        assert (await student.join()).status_code == 200
    async with ann.connect():
        assert (await ann.receive())["state"] == "lobby"

        done = await ctl(server, "next")  # lobby -> the first question (question_idx 0 on the wire)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "question 1 of 3 open, 20 s left, 0 answered; 2 participants (1 connected)\n"
        opened = await ann.expect("question_open")
        assert (opened["question_idx"], opened["time_limit"]) == (0, 20)
        assert (await ann.submit(0, "B"))["type"] == "submit_ack"
        clock.advance(5_000)
        status = (await ctl(server, "status", "--json")).json()
        assert (status["state"], status["current_question_idx"], status["question_count"]) == ("question_open", 0, 3)
        assert (status["participants"], status["connected"], status["answered_current"]) == (2, 1, 1)
        assert status["time_left_ms"] == 15_000
        done = await ctl(server, "status")
        assert done.stdout == "question 1 of 3 open, 15 s left, 1 answered; 2 participants (1 connected)\n"

        done = await ctl(server, "close", "--json")
        closed = done.json()
        assert (closed["state"], closed["current_question_idx"], closed["time_left_ms"]) == ("question_closed", 0, None)
        reveal = await ann.expect("question_closed")
        assert reveal["correct"] == "B" and reveal["histogram"]["missed"] == 1  # bob never answered
        done = await ctl(server, "close")
        assert done.returncode == 1 and done.stdout == ""
        assert "refused" in done.stderr and "not_open" in done.stderr

        done = await ctl(server, "next")  # question_closed -> the second question
        assert done.returncode == 0 and done.stdout.startswith("question 2 of 3 open, 20 s left")
        assert (await ann.expect("question_open"))["question_idx"] == 1

        # open N: N counts from 1 (question_idx N - 1 on the wire); from an open question it closes that one first.
        done = await ctl(server, "open", "3", "--time-limit", "7", "--json")
        result = done.json()
        assert (result["state"], result["current_question_idx"], result["time_left_ms"]) == ("question_open", 2, 7_000)
        assert server.room.record.asked[1].closed_at_ms is not None
        assert server.room.record.asked[2].time_limit == 7
        assert (await ann.expect("question_closed"))["question_idx"] == 1
        opened = await ann.expect("question_open")
        assert (opened["question_idx"], opened["time_limit"], opened["remaining_ms"]) == (2, 7, 7_000)

        for args, code, said in [
            (("open", "3"), "already_asked", "question 3 was already asked"),
            (("open", "4"), "bad_question", "the pool has no question 4"),
            (("open", "2"), "already_asked", "question 2 was already asked"),
        ]:
            done = await ctl(server, *args)
            assert done.returncode == 1 and code in done.stderr and said in done.stderr, (args, done.stderr)
        assert server.room.status()["current_question_idx"] == 2  # nothing changed

        done = await ctl(server, "end")
        assert (done.returncode, done.stdout) == (0, "session finished; 2 participants (1 connected)\n")
        ended = await ann.expect("session_ended")
        assert ended["questions_answered"] == 1 and ended["your_rank"] == 1
        for command in ("next", "end"):
            done = await ctl(server, command)
            assert done.returncode == 1 and "session_finished" in done.stderr
        assert (await ctl(server, "status", "--json")).json()["state"] == "finished"
    for student in (ann, bob):
        await student.aclose()


async def test_next_after_the_last_question_finishes(server: RunningServer) -> None:
    for expected in ["question 1 of 3 ", "question 2 of 3 ", "question 3 of 3 ", "session finished"]:
        done = await ctl(server, "next")
        assert done.returncode == 0 and done.stdout.startswith(expected), done.stdout
    assert server.room.status()["state"] == "finished"
    assert sorted(server.room.record.asked) == [0, 1, 2]


async def test_bad_command_lines_are_refused_with_exit_1(server: RunningServer) -> None:
    cases = [
        (("open", "1", "--time-limit", "3"), "--time-limit"),  # 5..3600 s
        (("open", "-1"), "-1"),
        (("open", "0"), "0"),  # numbered from 1
        (("open", "one"), "one"),
        (("open",), "QUESTION"),
        (("frobnicate",), "frobnicate"),
        (("export", "--format", "tall"), "tall"),
    ]
    for args, mention in cases:
        done = await ctl(server, *args)
        assert done.returncode == 1, (args, done.returncode, done.stderr)
        assert mention in done.stderr and done.stdout == ""
    assert server.room.status()["state"] == "lobby"
    assert (await quizctl("--help")).returncode == 0
    assert "counted from 1" in (await quizctl("open", "--help")).stdout


# ---------------------------------------------------------------- reset and clear-student


async def test_reset_needs_yes(server: RunningServer) -> None:
    ann = Student(server.url, "ann", "Ann")
    assert (await ann.join()).status_code == 200
    assert (await ctl(server, "next")).returncode == 0
    async with ann.connect() as ws:
        await ann.expect("question_open")
        assert (await ann.submit(0, "B"))["type"] == "submit_ack"

        done = await ctl(server, "reset")
        assert done.returncode == 1 and "--yes" in done.stderr and done.stdout == ""
        assert list(server.room.participants) == ["ann"] and server.room.status()["state"] == "question_open"

        done = await ctl(server, "reset", "--yes", "--json")
        status = done.json()
        assert (status["state"], status["participants"], status["current_question_idx"]) == ("lobby", 0, None)
        assert status["questions_asked"] == []
        await ann.expect("session_reset")
        assert await ws.wait_closed() == 4002
    assert server.room.participants == {} and server.room.record.asked == {}
    done = await ctl(server, "reset", "--yes")
    assert (done.returncode, done.stdout) == (0, "session reset: back to the lobby, 0 participants\n")
    assert (await ann.http.get("/me")).status_code == 401  # the old cookie is dead
    await ann.aclose()


async def test_clear_student_frees_the_id(server: RunningServer) -> None:
    ann, impostor = Student(server.url, "s1", "Ann"), Student(server.url, "s1", "Not Ann")
    bob = Student(server.url, "s2", "Bob")
    assert (await impostor.join()).status_code == 200
    assert (await bob.join()).status_code == 200
    assert (await ann.join()).status_code == 409
    async with impostor.connect() as ws:
        await impostor.expect("state")
        done = await ctl(server, "clear-student", "s1")
        assert (done.returncode, done.stdout) == (0, "cleared s1: the id can be claimed again\n")
        await impostor.expect("session_reset")
        assert await ws.wait_closed() == 4002
    assert list(server.room.participants) == ["s2"]
    assert (await ann.join()).status_code == 200
    assert server.room.participants["s1"].name == "Ann"

    done = await ctl(server, "clear-student", "nobody")
    assert done.returncode == 1 and "unknown_student" in done.stderr
    result = (await ctl(server, "clear-student", "s2", "--json")).json()
    assert result["cleared"] == "s2" and result["participants"] == 1
    for student in (ann, impostor, bob):
        await student.aclose()


# ---------------------------------------------------------------- finding the server, tokens


async def test_no_server_reachable_exits_2_with_a_hint(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    for command in (("status",), ("next",), ("export",), ("reset", "--yes"), ("clear-student", "x")):
        done = await quizctl(*command, data_dir=empty)
        assert done.returncode == 2, (command, done.stderr)
        assert HINT in done.stderr and done.stdout == ""

    # A socket file left behind by a killed server: nobody listens on it.
    stale = tmp_path / "stale"
    stale.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stale / "control.sock"))
    listener.close()
    (stale / "admin.token").write_text("whatever\n")
    done = await quizctl("status", data_dir=stale)
    assert done.returncode == 2 and HINT in done.stderr

    done = await quizctl("status", "--socket", "tcp://127.0.0.1:1", "--token", "t")
    assert done.returncode == 2 and HINT in done.stderr


async def test_tokens(server: RunningServer, tmp_path: Path) -> None:
    socket_path = str(server.settings.data_dir / "control.sock")
    done = await ctl(server, "next", "--token", "not-the-token")
    assert done.returncode == 1 and "unauthorized" in done.stderr
    done = await ctl(server, "status", env={"QUIZ_ADMIN_TOKEN": "also-wrong"})
    assert done.returncode == 1 and "unauthorized" in done.stderr
    assert server.room.status()["state"] == "lobby"

    # No token anywhere: refused before anything is sent.
    done = await quizctl("status", "--socket", socket_path, data_dir=tmp_path / "elsewhere")
    assert done.returncode == 1 and "no admin token" in done.stderr

    # --socket and --token (or QUIZ_CONTROL and QUIZ_ADMIN_TOKEN) replace the data dir.
    done = await quizctl("status", "--socket", socket_path, "--token", server.admin_token, data_dir=tmp_path / "elsewhere")
    assert done.returncode == 0 and done.stdout.startswith("lobby")
    env = {"QUIZ_CONTROL": f"unix:{socket_path}", "QUIZ_ADMIN_TOKEN": server.admin_token}
    assert (await quizctl("status", env=env)).returncode == 0
    env = {"QUIZ_DATA_DIR": str(server.settings.data_dir)}
    assert (await quizctl("status", env=env)).returncode == 0


# ---------------------------------------------------------------- the control socket over TCP


async def test_control_over_tcp(tmp_path: Path, tiny_pool: Pool) -> None:
    async with running_server(tmp_path / "data", tiny_pool, control="tcp://127.0.0.1:0") as running:
        assert running.control_address is not None and running.control_address.startswith("tcp://127.0.0.1:")
        assert not (tmp_path / "data" / "control.sock").exists()
        elsewhere = tmp_path / "client"
        done = await quizctl("next", "--socket", running.control_address, "--token", running.admin_token, data_dir=elsewhere)
        assert done.returncode == 0 and done.stdout.startswith("question 1 of 3 ")
        done = await quizctl("next", "--socket", running.control_address, "--token", "guess", data_dir=elsewhere)
        assert done.returncode == 1 and "unauthorized" in done.stderr
        env = {"QUIZ_CONTROL": running.control_address, "QUIZ_ADMIN_TOKEN": running.admin_token}
        assert (await quizctl("status", "--json", env=env)).json()["current_question_idx"] == 0


def test_control_address_parsing(tmp_path: Path) -> None:
    assert parse_control_address(None, tmp_path) == ("unix", tmp_path / "control.sock")
    assert parse_control_address("unix:/run/q.sock", tmp_path) == ("unix", Path("/run/q.sock"))
    assert parse_control_address("tcp://127.0.0.1:7000", tmp_path) == ("tcp", ("127.0.0.1", 7000))
    assert parse_control_address("tcp://127.0.0.2:7000", tmp_path) == ("tcp", ("127.0.0.2", 7000))
    assert parse_control_address("tcp://[::1]:7000", tmp_path) == ("tcp", ("::1", 7000))
    assert parse_control_address("tcp://localhost:7000", tmp_path) == ("tcp", ("localhost", 7000))
    for remote in ("tcp://0.0.0.0:7000", "tcp://192.168.1.5:7000", "tcp://[::]:7000", "tcp://quiz.example.org:7000"):
        with pytest.raises(ControlAddressError, match="--control-allow-remote"):
            parse_control_address(remote, tmp_path)
        assert parse_control_address(remote, tmp_path, allow_remote=True)[0] == "tcp"
    for bad in ("tcp://127.0.0.1", "tcp://127.0.0.1:http", "tcp://127.0.0.1:99999", "tcp://:7000", "http://x:1", "sock"):
        with pytest.raises(ControlAddressError):
            parse_control_address(bad, tmp_path)


async def test_serve_refuses_a_remote_control_bind_without_allow_remote(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = await quizctl("serve", str(POOLS / "tiny.json"), "--port", "0", "--control", "tcp://0.0.0.0:0", data_dir=data_dir)
    assert done.returncode == 1
    assert "--control-allow-remote" in done.stderr and "token" in done.stderr
    assert not (data_dir / "quiz.sqlite3").exists()  # refused before anything started
