"""What the tests run the server with and talk to it through: one of each.

Servers
- `running_server`: the whole server in-process, in the test's trio nursery (fast; the
  test can inspect `server.room`).
- `ServerThread`: the same `running_server` on a thread of its own (its own trio loop),
  for synchronous tests (Hypothesis, blocking HTTP clients).
- `ServerProcess`: `python -m quizctl serve` as a real subprocess, for SIGKILL/SIGTERM
  tests and for the browser tests (restartable on a fixed port).

Clients
- `WebSocketClient`: wsproto over a plain TCP socket. It reads only when asked to, so a
  test decides when (and whether) a client reads; it can send what no library would
  (broken UTF-8, fragments, a frame trickled a byte at a time) and vanish without a
  close handshake (RST or FIN), the way a phone leaving the Wi-Fi does.
- `Student` / `Instructor`: the contract's two roles as thin wrappers over it (HTTP
  identity for the student, unread-message bookkeeping for the dashboard).
- `ControlClient`: one connection to the control socket (Unix or TCP), speaking bytes.
- `quizctl` / `ctl`: the operator's CLI as a subprocess.

A hang must fail, not eat CI's time: every await here has a deadline (WAIT_S unless a
call says otherwise); blocking waits on threads and processes have timeouts of their own.
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from server.auth import STUDENT_COOKIE
from server.clock import Clock
from server.control.socket import parse_control_address
from server.quiz.pool import Pool
from server.serve import RunningServer, serve
from server.settings import Settings

REPO = Path(__file__).resolve().parent.parent
POOLS = REPO / "pools"
WAIT_S = 10.0
START_S = 30.0  # a server (in-process, thread or subprocess) is up within this
STOP_S = 20.0  # a subprocess server exits this long after its signal at the latest
MessageTest = Callable[[dict[str, Any]], bool]
HINT = "Is `quizctl serve` running with this --data-dir?"  # quizctl, when no server answers


# ---------------------------------------------------------------- the server in-process


@asynccontextmanager
async def running_server(data_dir: Path, pool: Pool, **overrides: Any) -> AsyncIterator[RunningServer]:
    """The real server (Hypercorn on an ephemeral port, real SQLite file) in this trio loop."""
    settings = Settings(pool=pool, data_dir=data_dir, port=0, session_id=pool.session_id or "default", **overrides)
    stopped = trio.Event()

    async def run(*, task_status: trio.TaskStatus[RunningServer]) -> None:
        try:
            await serve(settings, task_status=task_status)
        finally:
            stopped.set()

    async with trio.open_nursery() as nursery:
        with trio.fail_after(START_S):
            running: RunningServer = await nursery.start(run)
        try:
            yield running
        finally:
            running.shutdown()
            with trio.fail_after(WAIT_S):  # the server's own promise: a quick, clean stop
                await stopped.wait()


class ServerThread:
    """`running_server` on a thread of its own (its own trio loop), for synchronous tests.

    Use as a context manager. `call` and `run` execute code on the server's loop, where
    the room lives; the async clients above run there too (`server.run(some_exchange)`).
    """

    def __init__(self, data_dir: Path, pool: Pool, **overrides: Any) -> None:
        self.data_dir, self.pool, self.overrides = data_dir, pool, overrides
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.running: RunningServer | None = None

    def __enter__(self) -> ServerThread:
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self._thread.start()
        assert self._ready.wait(START_S), "server did not start"
        if self._error is not None:
            raise self._error
        self._http = httpx.Client(base_url=self.url, timeout=WAIT_S)  # made once: creating a client costs ~20 ms
        return self

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        try:
            async with running_server(self.data_dir, self.pool, **self.overrides) as running:
                self.running = running
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # report start-up failures to the test thread
            self._error = exc
            self._ready.set()
            raise

    def __exit__(self, *exc: object) -> None:
        self._http.close()
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(START_S)
        assert not self._thread.is_alive(), "server thread did not stop"

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.url

    @property
    def token(self) -> str:
        assert self.running is not None
        return self.running.admin_token

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One HTTP request on a connection of its own; cookies the server sets are not kept.

        A connection per request: the keep-alive faults after a refused body have tests of
        their own (test_keep_alive_*), and must not blur what the properties judge.
        """
        headers = {**options.pop("headers", {}), "Connection": "close"}
        try:
            return self._http.request(method, path, headers=headers, **options)
        finally:
            self._http.cookies.clear()

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function` on the server's thread (where the room lives)."""
        return trio.from_thread.run_sync(function, *args, trio_token=self._token)

    def run(self, function: Callable[..., Awaitable[Any]], *args: Any, timeout: float = 3 * WAIT_S) -> Any:
        """Run the async `function` on the server's loop, within `timeout`."""

        async def bounded() -> Any:
            with trio.fail_after(timeout):
                return await function(*args)

        return trio.from_thread.run(bounded, trio_token=self._token)


# ---------------------------------------------------------------- the server as a subprocess


class ServerProcess:
    """`python -m quizctl serve POOL --port PORT --data-dir D` as a real subprocess.

    One thread reads the server's output for its whole life (into `output`), so a chatty
    server never blocks on a full pipe; it finds the URL and sees start-up finish. `start`
    and `stop` are for trio tests, `start_blocking` and `stop_blocking` for synchronous
    ones; after a stop the same object starts again (on the same port, if one was given).
    """

    def __init__(self, pool_path: Path, data_dir: Path, *extra: str, port: int = 0) -> None:
        self.pool_path = pool_path
        self.data_dir = data_dir
        self.extra = extra
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []
        self._reader: threading.Thread | None = None
        self._settled = threading.Event()  # start-up finished, or the process ended first
        self._started = False

    def _launch(self) -> None:
        self._settled, self._started, self.url = threading.Event(), False, ""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "quizctl", "serve", str(self.pool_path), "--port", str(self.port),
             "--data-dir", str(self.data_dir), *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=str(REPO),
        )
        self._reader = threading.Thread(target=self._read_output, args=(self.process, self._settled), daemon=True)
        self._reader.start()

    def _read_output(self, process: subprocess.Popen[str], settled: threading.Event) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                self.output.append(line)
                match = re.search(r"Students:\s+(http://\S+?)/?$", line.strip())
                if match:
                    self.url = match.group(1)
                if line.startswith("Press Ctrl-C"):
                    self._started = True
                    settled.set()
        settled.set()

    def _check_started(self) -> None:
        if not self._started:
            self.ensure_stopped()
            raise RuntimeError("server did not start:\n" + "".join(self.output))

    async def start(self) -> ServerProcess:
        """Launch it and wait (without blocking the loop) until it says it is ready."""
        self._launch()
        with trio.move_on_after(START_S):  # a server that is not up in time is reported below, with its output
            while not self._settled.is_set():
                await trio.sleep(0.02)
        self._check_started()
        return self

    def start_blocking(self) -> ServerProcess:
        self._launch()
        self._settled.wait(START_S)
        self._check_started()
        return self

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    @property
    def instructor_url(self) -> str:
        return f"{self.url}/instructor?token={self.admin_token}"

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(WAIT_S)
        self._join_reader()

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send `sig` and wait (on a thread) for the exit code; the wait gives up after STOP_S."""
        with trio.fail_after(STOP_S + WAIT_S + 1):  # stop_blocking's own limits come first
            return await trio.to_thread.run_sync(self.stop_blocking, sig, abandon_on_cancel=True)

    def stop_blocking(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(STOP_S)
        self._join_reader()
        return code

    def ensure_stopped(self) -> None:
        """Kill it if it still runs (for `finally:`); a no-op once it has stopped."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT_S)
        self._join_reader()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(WAIT_S)
            self._reader = None


# ---------------------------------------------------------------- websockets


class WebSocketRejected(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"websocket handshake refused with HTTP {status}")
        self.status = status


class WebSocketClient:
    """A websocket client on a raw TCP socket: it reads only when asked to.

    Not even the handshake reads past the server's 101 response, so a client that never
    calls `receive` leaves every frame in the kernel's buffers (a phone that stopped
    reading; `rcvbuf` makes that window small). `receive` gives parsed text messages and
    None once the connection is gone (`close_code` says how); `abort` vanishes with an
    RST or a bare FIN.
    """

    def __init__(self, stream: trio.SocketStream, *, timeout: float = WAIT_S) -> None:
        self.stream = stream
        self.protocol = WSConnection(ConnectionType.CLIENT)
        self.timeout = timeout
        self.close_code: int | None = None
        self.received: list[dict[str, Any]] = []  # every message read, in order
        self.unread: deque[dict[str, Any]] = deque()  # read but put aside: `receive` gives these first
        self._events: deque[Any] = deque()
        self._parts: list[str] = []
        self._send_lock = trio.StrictFIFOLock()  # a reader answering a close may race a writer

    @classmethod
    async def open(
        cls, base_url: str, path: str, *, cookie: str | None = None, headers: Iterable[tuple[bytes, bytes]] = (),
        rcvbuf: int | None = None, timeout: float = WAIT_S,
    ) -> WebSocketClient:
        """Connect and complete the handshake; `cookie` is a Cookie header value."""
        url = urlparse(base_url)
        assert url.hostname is not None and url.port is not None, base_url
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        deadline = trio.current_time() + timeout  # for the connect and the handshake together
        try:
            with trio.fail_at(deadline):
                await sock.connect((url.hostname, url.port))
        except BaseException:
            sock.close()
            raise
        ws = cls(trio.SocketStream(sock), timeout=timeout)
        try:
            with trio.fail_at(deadline):
                extra = [*headers, *([(b"cookie", cookie.encode())] if cookie else [])]
                await ws._send(Request(host=url.netloc, target=path, extra_headers=extra))
                event = await ws._handshake_reply()
        except BaseException:
            await ws.stream.aclose()
            raise
        if isinstance(event, AcceptConnection):
            return ws
        await ws.stream.aclose()
        if isinstance(event, RejectConnection):
            raise WebSocketRejected(event.status_code)
        raise ConnectionError("server closed the connection during the handshake")

    async def _handshake_reply(self) -> Any:
        """Read the server's response head, and not one byte more (peeking finds its end)."""
        head = b""
        while True:
            peeked = await self.stream.socket.recv(65536, socket.MSG_PEEK)
            if not peeked:
                self.protocol.receive_data(None)
                break
            end = (head + peeked).find(b"\r\n\r\n")
            data = await self.stream.socket.recv(len(peeked) if end < 0 else end + 4 - len(head))
            head += data
            self.protocol.receive_data(data)
            if end >= 0:
                break
        for event in self.protocol.events():
            if isinstance(event, (AcceptConnection, RejectConnection)):
                return event
        return None

    async def __aenter__(self) -> WebSocketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending; each returns False once the connection is gone

    async def _send(self, event: Any) -> bool:
        try:
            data = self.protocol.send(event)
        except Exception:  # wsproto refuses to send once the connection is closed
            return False
        return await self.send_raw(data)

    async def send_raw(self, data: bytes) -> bool:
        """Bytes onto the socket as they are."""
        with trio.fail_after(self.timeout):
            async with self._send_lock:
                try:
                    await self.stream.send_all(data)
                    return True
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return False

    async def send_json(self, message: Any) -> bool:
        return await self._send(TextMessage(data=json.dumps(message)))

    async def send_text(self, text: str, *, final: bool = True) -> bool:
        """A text frame; `final=False` sends a fragment that later frames continue."""
        return await self._send(TextMessage(data=text, message_finished=final))

    async def send_bytes(self, data: bytes) -> bool:
        return await self._send(BytesMessage(data=data))

    async def send_raw_text_frame(self, payload: bytes) -> bool:
        """A final text frame with `payload` as is: not necessarily UTF-8."""
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        return await self.send_raw(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def trickle(self, message: Any, *, delay: float) -> None:
        """One text frame, sent a byte at a time with `delay` between bytes (a slow radio)."""
        frame = self.protocol.send(TextMessage(data=json.dumps(message)))
        with trio.fail_after(self.timeout + len(frame) * delay):
            async with self._send_lock:
                for byte in frame:
                    await self.stream.send_all(bytes([byte]))
                    await trio.sleep(delay)

    # -- receiving

    async def _next_event(self) -> Any:
        while not self._events:
            if self.protocol.state is ConnectionState.CLOSED:
                return None
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            try:
                self.protocol.receive_data(data or None)
                self._events.extend(self.protocol.events())
            except Exception:  # a broken frame after the peer vanished
                return None
            if not data and not self._events:
                return None
        return self._events.popleft()

    async def _from_socket(self) -> dict[str, Any] | None:
        while True:
            event = await self._next_event()
            if event is None:
                return None
            if isinstance(event, TextMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    text, self._parts = "".join(self._parts), []
                    message: dict[str, Any] = json.loads(text)
                    self.received.append(message)
                    return message
            elif isinstance(event, Ping):
                await self._send(event.response())
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                if self.protocol.state is ConnectionState.REMOTE_CLOSING:
                    await self._send(event.response())
                return None

    async def receive(self, *, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message (put-aside ones first), parsed; None once the connection is gone."""
        if self.unread:
            return self.unread.popleft()
        with trio.fail_after(self.timeout if timeout is None else timeout):
            return await self._from_socket()

    async def expect(
        self, types: str | set[str], predicate: MessageTest | None = None, *,
        timeout: float | None = None,
    ) -> dict[str, Any] | None:
        """The next message of `types` (matching `predicate`), others skipped; None if the connection closes first."""
        wanted = {types} if isinstance(types, str) else types
        with trio.fail_after(self.timeout if timeout is None else timeout):
            while True:
                message = await self.receive(timeout=math.inf)
                if message is None or (message["type"] in wanted and (predicate is None or predicate(message))):
                    return message

    async def reply_to(self, types: set[str]) -> dict[str, Any] | None:
        """The next message of `types` from the socket; the others are put aside for `receive`."""
        aside = []
        with trio.fail_after(self.timeout):
            while (message := await self._from_socket()) is not None and message["type"] not in types:
                aside.append(message)
        self.unread.extend(aside)
        return message

    async def wait_closed(self) -> int | None:
        """Read until the server closes the connection; its close code (None without a close frame)."""
        with trio.fail_after(self.timeout):
            while await self.receive(timeout=math.inf) is not None:
                pass
        await self.stream.aclose()
        return self.close_code

    async def read_to_eof(self) -> None:
        """Read raw bytes (unparsed, dropped) until the server closes the TCP connection."""
        with trio.fail_after(self.timeout):
            while await self.stream.receive_some(1 << 16):
                pass

    # -- leaving

    async def close(self, code: int = 1000) -> None:
        """The close handshake (if the connection is still open), then the socket."""
        if self.protocol.state is ConnectionState.OPEN:
            await self._send(CloseConnection(code=code))
            with trio.move_on_after(5):
                while await self.receive() is not None:
                    pass
        await self.stream.aclose()

    async def abort(self, *, reset: bool) -> None:
        """Vanish without a close frame: with a TCP RST (`reset`) or a bare FIN."""
        if reset:
            self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()


def _required(message: dict[str, Any] | None, ws: WebSocketClient, wanted: object) -> dict[str, Any]:
    assert message is not None, f"connection closed (code {ws.close_code}) while waiting for {wanted}"
    return message


class Student:
    """One phone: joins over HTTP, then talks over /ws/student with its cookie.

    Its websocket methods fail the test if the connection closes first.
    """

    def __init__(self, base_url: str, student_id: str, name: str) -> None:
        self.base_url = base_url
        self.student_id = student_id
        self.name = name
        self.http = httpx.AsyncClient(base_url=base_url, timeout=WAIT_S)
        self.ws: WebSocketClient | None = None

    async def join(self) -> httpx.Response:
        return await self.http.post("/join", json={"student_id": self.student_id, "name": self.name})

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocketClient]:
        async with await WebSocketClient.open(self.base_url, "/ws/student", cookie=self.cookie_header) as ws:
            self.ws = ws
            try:
                yield ws
            finally:
                self.ws = None

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every message this connection has read so far."""
        assert self.ws is not None
        return self.ws.received

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        assert await self.ws.send_json(message), f"connection closed (code {self.ws.close_code})"

    async def receive(self) -> dict[str, Any]:
        assert self.ws is not None
        return _required(await self.ws.receive(), self.ws, "a message")

    async def expect(self, message_type: str) -> dict[str, Any]:
        """Receive until a message of `message_type` arrives (the others are skipped)."""
        assert self.ws is not None
        return _required(await self.ws.expect(message_type), self.ws, message_type)

    async def submit(self, question_idx: Any, answer: Any) -> dict[str, Any]:
        """Send an answer; its submit_ack or error."""
        await self.send({"type": "submit", "question_idx": question_idx, "answer": answer})
        assert self.ws is not None
        return _required(await self.ws.expect({"submit_ack", "error"}), self.ws, "submit_ack or error")

    async def aclose(self) -> None:
        await self.http.aclose()


class Instructor:
    """The dashboard's websocket. Messages are kept in order; `expect` consumes them."""

    def __init__(self, running: RunningServer) -> None:
        self.base_url = running.url
        self.token = running.admin_token
        self.ws: WebSocketClient | None = None

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocketClient]:
        async with await WebSocketClient.open(self.base_url, f"/ws/instructor?token={self.token}") as ws:
            self.ws = ws
            yield ws

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        assert await self.ws.send_json(message), f"connection closed (code {self.ws.close_code})"

    async def expect(self, message_type: str, predicate: MessageTest | None = None) -> dict[str, Any]:
        """The first unread message of `message_type` (matching `predicate`); earlier ones are skipped."""
        assert self.ws is not None
        return _required(await self.ws.expect(message_type, predicate), self.ws, message_type)

    async def command(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a command and wait for its command_result or error; other messages stay unread."""
        await self.send(message)
        assert self.ws is not None
        return _required(await self.ws.reply_to({"command_result", "error"}), self.ws, "command_result or error")

    async def presence_until(self, test: Callable[[dict[str, dict[str, Any]]], bool]) -> dict[str, dict[str, Any]]:
        """The dashboard's presence table (rows by student id) once it passes `test`.

        Built as the dashboard builds it: a `presence_update` replaces the table, a
        `presence_delta` (a large class) changes the rows it names, and a new current
        question clears every row's `answered_current`.
        """
        assert self.ws is not None
        table: dict[str, dict[str, Any]] = {}
        shown_question: list[int | None] = [None]

        def apply(message: dict[str, Any]) -> bool:
            if message["type"] == "presence_update":
                table.clear()
            elif message["current_question_idx"] != shown_question[0]:
                for row in table.values():
                    row["answered_current"] = False
            shown_question[0] = message["current_question_idx"]
            for student_id in message.get("removed", []):
                table.pop(student_id, None)
            table.update((row["student_id"], row) for row in message["rows"])
            return test(table)

        _required(await self.ws.expect({"presence_update", "presence_delta"}, apply), self.ws, "presence")
        return table


async def join_all(base_url: str, ids: Iterable[str], *, concurrency: int = 40) -> dict[str, str]:
    """POST /join for each id (name = id upper-cased); returns id -> Cookie header value."""
    cookies: dict[str, str] = {}
    limit = trio.CapacityLimiter(concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_S) as http:

        async def join(student_id: str) -> None:
            async with limit:
                response = await http.post("/join", json={"student_id": student_id, "name": student_id.upper()})
            assert response.status_code == 200, response.text
            cookies[student_id] = f"{STUDENT_COOKIE}={response.cookies[STUDENT_COOKIE]}"

        async with trio.open_nursery() as nursery:
            for student_id in ids:
                nursery.start_soon(join, student_id)
    return cookies


# ---------------------------------------------------------------- the control socket


class ControlClient:
    """One connection to a server's control socket (Unix or TCP), speaking bytes."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def open(cls, running: RunningServer) -> ControlClient:
        kind, where = parse_control_address(running.control_address, running.settings.data_dir)
        with trio.fail_after(WAIT_S):
            if kind == "unix":
                return cls(await trio.open_unix_socket(str(where)))
            return cls(await trio.open_tcp_stream(*where))

    async def send_raw(self, data: bytes) -> None:
        with trio.fail_after(WAIT_S):
            await self.stream.send_all(data)

    async def send_line(self, line: bytes) -> None:
        await self.send_raw(line + b"\n")

    async def ask(self, line: bytes) -> dict[str, Any]:
        """Send one line; the server's one-line answer."""
        await self.send_line(line)
        return await self.response()

    async def request(self, token: Any, cmd: Any, args: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"token": token, "cmd": cmd}
        if args is not None:
            message["args"] = args
        return await self.ask(json.dumps(message).encode())

    async def response(self) -> dict[str, Any]:
        """The next line the server sends, parsed."""
        with trio.fail_after(WAIT_S):
            while b"\n" not in self.buffer:
                chunk = await self.stream.receive_some(65536)
                assert chunk, "the server closed the connection without answering"
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def closed_by_server(self) -> bool:
        """True once the server has closed the connection (after anything it still had to say)."""
        with trio.fail_after(WAIT_S):
            try:
                while await self.stream.receive_some(65536):
                    pass
            except trio.BrokenResourceError:
                pass
        return True

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# ---------------------------------------------------------------- the operator's CLI


@dataclass
class Run:
    returncode: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8")

    def json(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


async def quizctl(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """`python -m quizctl ARGS [--data-dir D]` as a subprocess, with no QUIZ_* variables inherited."""
    command = [sys.executable, "-m", "quizctl", *args]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
    environment.update(env or {})
    with trio.fail_after(START_S):
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False, env=environment, cwd=str(REPO)
        )
    return Run(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


async def ctl(running: RunningServer, *args: str, env: dict[str, str] | None = None) -> Run:
    """quizctl against the in-process server, found through its data dir (socket and token)."""
    return await quizctl(*args, data_dir=running.settings.data_dir, env=env)


async def offline_export(data_dir: Path) -> str:
    """`quizctl export --offline`: the gradebook from the data dir alone."""
    done = await quizctl("export", "--offline", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return done.stdout


# ---------------------------------------------------------------- time


class ManualClock(Clock):
    """A stopped wall clock that the test moves on: elapsed times (and scores) are exact.

    Timers never fire on their own (their deadline is never reached in trio time), so the
    test closes questions itself (`quizctl close/next/end`), as the operator would.
    """

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        self._now += ms

    def trio_time_at(self, wall_ms: int) -> float:
        return trio.current_time() if wall_ms <= self._now else math.inf


def manual_clock(running: RunningServer) -> ManualClock:
    """Put a ManualClock, stopped at the room's now, into the running room."""
    clock = ManualClock(running.room.clock.now_ms())
    running.room.clock = clock
    return clock
