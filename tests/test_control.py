"""The control socket itself: framing, tokens, bounds, file mode, and a real `quizctl serve`."""
from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path
from typing import Any

import pytest
import trio

from server.control import commands
from server.control import socket as control
from server.quiz.pool import Pool
from server.serve import RunningServer
from tests.helpers import HINT, POOLS, ControlClient, ServerProcess, ctl, quizctl, running_server


async def still_works(running: RunningServer) -> None:
    """A fresh client gets an answer at once: nothing above harmed the server."""
    client = await ControlClient.open(running)
    with trio.fail_after(2):
        reply = await client.request(running.admin_token, "status")
    assert reply["ok"] is True and reply["result"]["sid"] == "tiny"
    await client.aclose()


# ---------------------------------------------------------------- the socket file


async def test_socket_file_is_a_private_socket(server: RunningServer) -> None:
    path = server.settings.data_dir / "control.sock"
    info = path.lstat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.getuid()
    assert server.control_address == f"unix:{path}"
    assert stat.S_IMODE((server.settings.data_dir / "admin.token").stat().st_mode) == 0o600


async def test_a_stale_socket_file_is_replaced_and_a_live_one_is_not(tmp_path: Path, tiny_pool: Pool) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    leftover = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await leftover.bind(str(data_dir / "control.sock"))  # as a SIGKILLed server leaves it
    leftover.close()
    async with running_server(data_dir, tiny_pool) as running:
        assert stat.S_IMODE((data_dir / "control.sock").stat().st_mode) == 0o600
        await still_works(running)
        # A second server on the same data dir is refused and leaves the first one alone.
        done = await quizctl("serve", str(POOLS / "tiny.json"), "--port", "0", data_dir=data_dir)
        assert done.returncode == 1 and "already running" in done.stderr
        await still_works(running)
    assert not (data_dir / "control.sock").exists()  # removed on a clean shutdown


async def test_a_socket_path_too_long_for_unix_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    done = await quizctl("serve", str(POOLS / "tiny.json"), "--port", "0", data_dir=data_dir)
    assert done.returncode == 1
    assert "longer than a Unix socket allows" in done.stderr and "--control unix:" in done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- framing


async def test_json_lines_request_response(server: RunningServer) -> None:
    token = server.admin_token
    client = await ControlClient.open(server)
    reply = await client.request(token, "status")
    assert reply["ok"] is True and set(reply) == {"ok", "result"}
    assert reply["result"]["state"] == "lobby"

    # Several requests on one connection, even in one write, are answered in order.
    pipelined = b"".join(
        json.dumps({"token": token, "cmd": cmd, "args": args}).encode() + b"\n"
        for cmd, args in [("next", {}), ("status", None), ("open", {"question_idx": 2, "time_limit": 9})]
    )
    await client.send_raw(pipelined)
    replies = [await client.response() for _ in range(3)]
    assert [r["ok"] for r in replies] == [True, True, True]
    assert [r["result"]["current_question_idx"] for r in replies] == [0, 0, 2]
    assert server.room.record.asked[2].time_limit == 9

    # Refusals keep the connection open and say why.
    for line, code in [
        (b"this is not json", "bad_request"),
        (b"\xff\xfe", "bad_request"),
        (b"[1, 2]", "bad_request"),
        (b"[" * 50_000, "bad_request"),
        (json.dumps({"token": token, "cmd": "fly"}).encode(), "unknown_command"),
        (json.dumps({"token": token}).encode(), "unknown_command"),
        (json.dumps({"token": token, "cmd": "open", "args": [1]}).encode(), "bad_message"),
        (json.dumps({"token": token, "cmd": "open", "args": {"question_idx": "1"}}).encode(), "bad_question"),
        (json.dumps({"token": token, "cmd": "open", "args": {"question_idx": 1, "time_limit": 2}}).encode(), "bad_time_limit"),
        (json.dumps({"token": token, "cmd": "reset"}).encode(), "confirmation_required"),
        (json.dumps({"token": token, "cmd": "reset", "args": {"confirm": "yes"}}).encode(), "confirmation_required"),
        (json.dumps({"token": token, "cmd": "export", "args": {"format": "xml"}}).encode(), "bad_format"),
    ]:
        await client.send_line(line)
        reply = await client.response()
        assert reply["ok"] is False and reply["error"]["code"] == code, (line[:40], reply)
        assert reply["error"]["message"]
    assert server.room.status()["current_question_idx"] == 2 and len(server.room.record.asked) == 2
    reply = await client.request(token, "status")
    assert reply["ok"] is True
    await client.aclose()


async def test_a_failing_command_is_reported_and_the_server_carries_on(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(room: Any, args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(commands.COMMANDS, "status", broken)
    client = await ControlClient.open(server)
    reply = await client.request(server.admin_token, "status")
    assert reply == {"ok": False, "error": {"code": "internal_error", "message": reply["error"]["message"]}}
    assert (await client.request(server.admin_token, "next"))["ok"] is True
    await client.aclose()
    done = await ctl(server, "status")
    assert done.returncode == 1 and "internal_error" in done.stderr


# ---------------------------------------------------------------- tokens


async def test_wrong_token_is_refused_and_slowed_down(server: RunningServer) -> None:
    client = await ControlClient.open(server)
    times = []
    for token in ("wrong", None, "", server.admin_token + "x"):
        started = trio.current_time()
        reply = await client.request(token, "next")
        times.append(trio.current_time() - started)
        assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"
    # FailureThrottle: 0.1 s, 0.2 s, 0.4 s, 0.8 s: each failure waits longer than the last.
    assert times[1] >= 0.19 and times[2] >= 0.39 and times[3] >= 0.79
    assert server.room.status()["state"] == "lobby"  # none of them ran
    reply = await client.request(server.admin_token, "next")
    assert reply["ok"] is True and reply["result"]["state"] == "question_open"
    await client.aclose()


# ---------------------------------------------------------------- bounds


async def test_a_silent_client_is_dropped(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "IDLE_TIMEOUT_S", 0.3)
    silent = await ControlClient.open(server)
    halfway = await ControlClient.open(server)
    await halfway.send_raw(b'{"token": "')  # starts a request and never finishes it
    await still_works(server)  # while both are connected
    for client in (silent, halfway):
        reply = await client.response()
        assert reply["ok"] is False and reply["error"]["code"] == "idle_timeout"
        assert await client.closed_by_server()
        await client.aclose()
    await still_works(server)
    assert (await ctl(server, "status")).returncode == 0


async def test_a_huge_line_is_dropped(server: RunningServer) -> None:
    limit = control.MAX_LINE_BYTES
    # A line of exactly the limit is fine.
    client = await ControlClient.open(server)
    request = json.dumps({"token": server.admin_token, "cmd": "status"}).encode()
    await client.send_line(request + b" " * (limit - len(request)))
    assert (await client.response())["ok"] is True

    # One byte more, even with its newline in the same write, is refused and the client dropped.
    await client.send_line(request + b" " * (limit + 1 - len(request)))
    reply = await client.response()
    assert reply["ok"] is False and reply["error"]["code"] == "line_too_long"
    assert await client.closed_by_server()
    await client.aclose()
    await still_works(server)

    # A client that keeps sending without a newline is cut off after the limit, not buffered forever.
    flood = await ControlClient.open(server)
    sent = 0

    async def keep_sending() -> None:
        nonlocal sent
        chunk = b"x" * 65536
        try:
            while sent < 64 * limit:
                await flood.send_raw(chunk)
                sent += len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep_sending)
        reply = await flood.response()
        assert reply["error"]["code"] == "line_too_long"
        assert await flood.closed_by_server()
    assert sent < 64 * limit  # the server hung up long before the client was done
    await flood.aclose()
    await still_works(server)


async def test_too_many_connections_are_refused_at_once(
    tmp_path: Path, tiny_pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "MAX_CONNECTIONS", 3)
    async with running_server(tmp_path / "data", tiny_pool) as running:
        hogs = [await ControlClient.open(running) for _ in range(3)]
        for hog in hogs:  # make sure each one holds its slot
            assert (await hog.request(running.admin_token, "status"))["ok"] is True
        extra = await ControlClient.open(running)
        reply = await extra.response()
        assert reply["ok"] is False and reply["error"]["code"] == "busy"
        assert await extra.closed_by_server()
        done = await ctl(running, "status")
        assert done.returncode == 1 and "busy" in done.stderr
        await hogs[0].aclose()
        with trio.fail_after(5):
            while (done := await ctl(running, "status")).returncode != 0:
                await trio.sleep(0.02)
        for hog in hogs[1:]:
            await hog.aclose()


# ---------------------------------------------------------------- a real `quizctl serve` process


async def test_commands_against_a_real_server_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process = await ServerProcess(POOLS / "tiny.json", data_dir).start()
    try:
        assert any(line.strip() == f"Control:    unix:{data_dir / 'control.sock'}" for line in process.output)
        info = (data_dir / "control.sock").lstat()
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        done = await quizctl("status", data_dir=data_dir)
        assert (done.returncode, done.stdout) == (0, "lobby, 3 questions ready; 0 participants (0 connected)\n")
        done = await quizctl("open", "2", "--time-limit", "60", "--json", data_dir=data_dir)  # the second question
        result = done.json()
        assert (result["state"], result["current_question_idx"]) == ("question_open", 1)
        assert 59_000 <= result["time_left_ms"] <= 60_000
        done = await quizctl("status", "--token", "nope", data_dir=data_dir)
        assert done.returncode == 1 and "unauthorized" in done.stderr
        done = await quizctl("end", data_dir=data_dir)
        assert done.returncode == 0 and done.stdout.startswith("session finished")
        assert await process.stop(signal.SIGTERM) == 0
    finally:
        process.ensure_stopped()
    assert not (data_dir / "control.sock").exists()
    done = await quizctl("status", data_dir=data_dir)
    assert done.returncode == 2 and HINT in done.stderr
    done = await quizctl("export", "--offline", data_dir=data_dir)
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "student_id,name,q1,q2,q3,total,answered,correct,rank"


async def test_refusals_reach_a_tcp_client_before_the_hang_up(
    tmp_path: Path, tiny_pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused TCP clients read why (line_too_long, busy) although the server hangs up on unread input."""
    monkeypatch.setattr(control, "MAX_CONNECTIONS", 1)
    async with running_server(tmp_path / "data", tiny_pool, control="tcp://127.0.0.1:0") as running:
        assert running.control_address is not None and running.control_address.startswith("tcp://")
        for _ in range(5):
            client = await ControlClient.open(running)
            await client.send_line(b"y" * (control.MAX_LINE_BYTES + 1))
            assert (await client.response())["error"]["code"] == "line_too_long"
            await client.aclose()
        holder = await ControlClient.open(running)
        assert (await holder.request(running.admin_token, "status"))["ok"] is True
        for _ in range(5):
            done = await quizctl("status", "--socket", running.control_address, "--token", running.admin_token)
            assert done.returncode == 1 and "busy" in done.stderr, done.stderr
        await holder.aclose()
