"""Shared fixtures: a real server (Hypercorn on an ephemeral port, real SQLite file) and clients.

- `server`: the whole server in-process, in the test's trio nursery (fast; lets tests
  inspect `server.room`).
- `ServerProcess`: `python -m quizctl serve` as a real subprocess, for SIGKILL/SIGTERM tests.
- `Student`/`Instructor`: HTTP (httpx) + websocket (trio-websocket) clients speaking the contract.

A hang must fail, not eat CI's time: every await in these helpers has a deadline, each
test has a time limit (pytest-timeout, `timeout` in pyproject.toml; faulthandler prints
every thread's stack before it), and a trio test still running after TASK_DUMP_AFTER_S
prints its whole task tree, so the task that is stuck, and where, is in the log.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from server.quiz.pool import Pool, load_pool
from server.serve import RunningServer, serve
from server.settings import Settings

REPO = Path(__file__).resolve().parent.parent
POOLS = REPO / "pools"
WAIT_S = 10.0
TASK_DUMP_AFTER_S = 120.0


# ---------------------------------------------------------------- hangs print their stacks


def print_trio_tasks(file: Any = None) -> None:
    """Every task of the running trio loop, with the line each is waiting at."""
    out = file or sys.__stderr__

    def walk(task: trio.lowlevel.Task, depth: int) -> None:
        print("  " * depth + f"task {task.name}", file=out)
        for frame, lineno in task.iter_await_frames():
            print("  " * depth + f"    {frame.f_code.co_filename}:{lineno} in {frame.f_code.co_name}", file=out)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child, depth + 1)

    print(f"\n==== trio tasks still running after {TASK_DUMP_AFTER_S:g} s ====", file=out)
    walk(trio.lowlevel.current_root_task(), 0)
    out.flush()


class _TaskDumpWatchdog(trio.abc.Instrument):
    """Prints the task tree (from the loop itself) if the test runs past TASK_DUMP_AFTER_S."""

    def before_run(self) -> None:
        token = trio.lowlevel.current_trio_token()

        def dump() -> None:
            try:
                token.run_sync_soon(print_trio_tasks)
            except trio.RunFinishedError:
                pass

        self._timer = threading.Timer(TASK_DUMP_AFTER_S, dump)
        self._timer.daemon = True
        self._timer.start()

    def after_run(self) -> None:
        self._timer.cancel()


def _trio_run_with_watchdog(*args: Any, instruments: Any = (), **kwargs: Any) -> Any:
    return trio.run(*args, instruments=[*instruments, _TaskDumpWatchdog()], **kwargs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest-trio takes the trio runner from a `trio` marker; autouse async fixtures are
    # not run by pytest-trio 0.8 under pytest 9, so an instrument is the way in.
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.trio(run=_trio_run_with_watchdog))


@pytest.fixture
def tiny_pool() -> Pool:
    return load_pool(POOLS / "tiny.json")


@asynccontextmanager
async def running_server(data_dir: Path, pool: Pool, **overrides: Any) -> AsyncIterator[RunningServer]:
    settings = Settings(pool=pool, data_dir=data_dir, port=0, session_id=pool.session_id or "default", **overrides)
    stopped = trio.Event()

    async def run(*, task_status: trio.TaskStatus[RunningServer]) -> None:
        try:
            await serve(settings, task_status=task_status)
        finally:
            stopped.set()

    async with trio.open_nursery() as nursery:
        with trio.fail_after(WAIT_S * 3):
            running: RunningServer = await nursery.start(run)
        try:
            yield running
        finally:
            running.shutdown()
            with trio.fail_after(WAIT_S):  # the server's own promise: a quick, clean stop
                await stopped.wait()


@pytest.fixture
async def server(tmp_path: Path, tiny_pool: Pool) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path / "data", tiny_pool) as running:
        yield running


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


class Student:
    """One phone: joins over HTTP, then talks over /ws/student with its cookie."""

    def __init__(self, base_url: str, student_id: str, name: str) -> None:
        self.base_url = base_url
        self.student_id = student_id
        self.name = name
        self.http = httpx.AsyncClient(base_url=base_url, timeout=WAIT_S)
        self.ws: WebSocketConnection | None = None
        self.received: list[dict[str, Any]] = []

    async def join(self) -> httpx.Response:
        return await self.http.post("/join", json={"student_id": self.student_id, "name": self.name})

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocketConnection]:
        headers = [(b"cookie", self.cookie_header.encode())] if self.http.cookies else []
        url = ws_url(self.base_url, "/ws/student")
        async with open_websocket_url(url, extra_headers=headers, connect_timeout=WAIT_S, disconnect_timeout=WAIT_S) as ws:
            self.ws = ws
            try:
                yield ws
            finally:
                self.ws = None

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        with trio.fail_after(WAIT_S):
            await self.ws.send_message(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        assert self.ws is not None
        with trio.fail_after(WAIT_S):
            message = json.loads(await self.ws.get_message())
        self.received.append(message)
        return message

    async def expect(self, message_type: str) -> dict[str, Any]:
        """Receive until a message of `message_type` arrives (others are kept in `received`)."""
        while True:
            message = await self.receive()
            if message["type"] == message_type:
                return message

    async def submit(self, question_idx: Any, answer: Any) -> dict[str, Any]:
        await self.send({"type": "submit", "question_idx": question_idx, "answer": answer})
        while True:
            message = await self.receive()
            if message["type"] in ("submit_ack", "error"):
                return message

    async def aclose(self) -> None:
        await self.http.aclose()


class Instructor:
    """The dashboard's websocket. Messages are kept in order; `expect` consumes them."""

    def __init__(self, running: RunningServer) -> None:
        self.base_url = running.url
        self.token = running.admin_token
        self.ws: WebSocketConnection | None = None
        self.unread: list[dict[str, Any]] = []

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocketConnection]:
        url = ws_url(self.base_url, f"/ws/instructor?token={self.token}")
        async with open_websocket_url(url, connect_timeout=WAIT_S, disconnect_timeout=WAIT_S) as ws:
            self.ws = ws
            yield ws

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        with trio.fail_after(WAIT_S):
            await self.ws.send_message(json.dumps(message))

    async def expect(self, message_type: str, predicate: Any = None) -> dict[str, Any]:
        """The first unread message of `message_type` (matching `predicate`); earlier ones of that type are skipped."""
        assert self.ws is not None

        def matches(message: dict[str, Any]) -> bool:
            return message["type"] == message_type and (predicate is None or predicate(message))

        for position, message in enumerate(self.unread):
            if matches(message):
                del self.unread[: position + 1]
                return message
        self.unread.clear()
        with trio.fail_after(WAIT_S):
            while True:
                message = json.loads(await self.ws.get_message())
                if matches(message):
                    return message

    async def command(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a command and wait for its command_result or error; other messages stay unread."""
        await self.send(message)
        assert self.ws is not None
        with trio.fail_after(WAIT_S):
            while True:
                reply = json.loads(await self.ws.get_message())
                if reply["type"] in ("command_result", "error"):
                    return reply
                self.unread.append(reply)


async def close_code(ws: WebSocketConnection) -> int | None:
    """Read until the server closes the socket; return its close code."""
    with trio.fail_after(WAIT_S):
        try:
            while True:
                await ws.get_message()
        except ConnectionClosed as closed:
            return closed.reason.code


# ---------------------------------------------------------------- a real server process


class ServerProcess:
    """`python -m quizctl serve` on an ephemeral port, for kill/restart tests."""

    def __init__(self, pool_path: Path, data_dir: Path, *extra: str) -> None:
        self.pool_path = pool_path
        self.data_dir = data_dir
        self.extra = extra
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    async def start(self) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "quizctl", "serve", str(self.pool_path), "--port", "0", "--data-dir", str(self.data_dir), *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        started = threading.Event()
        # One thread reads the server's output for its whole life, so a chatty server can never
        # block on a full pipe; it reports the URL and when start-up is done.
        threading.Thread(target=self._read_output, args=(started,), daemon=True).start()
        with trio.fail_after(30):
            while not started.is_set():
                if self.process.poll() is not None and not started.is_set():
                    await trio.sleep(0.1)
                    if not started.is_set():
                        raise RuntimeError("server exited early:\n" + "".join(self.output))
                await trio.sleep(0.02)
        return self

    def _read_output(self, started: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = re.search(r"Students:\s+(http://\S+?)/?$", line.strip())
            if match:
                self.url = match.group(1)
            if line.startswith("Press Ctrl-C"):
                started.set()

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await trio.to_thread.run_sync(lambda: self.process.wait(20))  # type: ignore[union-attr]

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
