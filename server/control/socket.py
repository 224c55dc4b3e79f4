"""The control socket: operator commands from `quizctl` (and scripts) over JSON lines.

Framing: one JSON object per line, UTF-8, at most MAX_LINE_BYTES.
  request:  {"token": "...", "cmd": "next", "args": {...}}
  response: {"ok": true, "result": {...}}  or  {"ok": false, "error": {"code": "...", "message": "..."}}
A connection may carry several requests. A client that does not complete a request
within IDLE_TIMEOUT_S (`idle_timeout`), sends a line over MAX_LINE_BYTES
(`line_too_long`) or stops reading its answers is dropped; beyond MAX_CONNECTIONS a new
connection is answered `busy` and closed. None of them can block the server.
A wrong or missing token is answered `unauthorized`, later each time (FailureThrottle).
By default the socket is a Unix socket in the data dir with mode 0600: only the
operator's account can connect. Over TCP the token is the only gate, so a non-loopback
address needs --control-allow-remote. docs/operator.md documents all of this.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import trio

from server import data_dir as data_dir_files
from server.auth import tokens_equal
from server.control import commands
from server.room.json_text import dumps
from server.room.room import Room
from server.session.errors import RoomError
from server.settings import Settings
from server.throttle import FailureThrottle

log = logging.getLogger("quizctl.control")

MAX_LINE_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 30.0
SEND_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64
LINGER_S = 1.0
LINGER_MAX_BYTES = 1024 * 1024
MAX_UNIX_PATH_BYTES = 107  # sun_path is 108 bytes on Linux, including the terminating NUL


class ControlAddressError(ValueError):
    pass


def parse_control_address(value: str | None, data_dir: Path, allow_remote: bool = False) -> tuple[str, Any]:
    """('unix', path) or ('tcp', (host, port)); refuses a non-loopback TCP bind without allow_remote."""
    if value is None or value in ("", "unix"):
        return "unix", data_dir_files.control_socket(data_dir)
    if value.startswith("unix:"):
        return "unix", Path(value[len("unix:") :])
    if value.startswith("tcp://"):
        parsed = urlparse(value)
        try:
            port = parsed.port
        except ValueError:
            port = None
        if not parsed.hostname or port is None:
            raise ControlAddressError(f"--control {value!r}: expected tcp://HOST:PORT")
        if not is_loopback(parsed.hostname) and not allow_remote:
            raise ControlAddressError(
                f"--control {value!r} would accept operator commands from the network, guarded only by the token; "
                "add --control-allow-remote if that is what you want"
            )
        return "tcp", (parsed.hostname, port)
    raise ControlAddressError(f"--control {value!r}: expected unix:PATH or tcp://HOST:PORT")


def is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname other than localhost may resolve to anything


def _tcp_display(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


async def _unix_listener(path: Path) -> trio.SocketListener:
    # Quick local file checks at start-up, before anything is served: no thread hop needed.
    if path.exists() or path.is_symlink():  # noqa: ASYNC240
        if await _socket_is_live(path):
            raise OSError(errno.EADDRINUSE, f"another server is already running with this data dir ({path})")
        path.unlink()  # noqa: ASYNC240
    if len(os.fsencode(path)) > MAX_UNIX_PATH_BYTES:
        raise OSError(
            errno.ENAMETOOLONG,
            f"the control socket path {path} is longer than a Unix socket allows ({MAX_UNIX_PATH_BYTES} bytes); "
            "use a shorter --data-dir or --control unix:SHORTER_PATH",
        )
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous_umask = os.umask(0o177)  # created 0600: no window where others could connect
    try:
        await sock.bind(str(path))
    finally:
        os.umask(previous_umask)
    os.chmod(path, 0o600)
    sock.listen(MAX_CONNECTIONS)
    return trio.SocketListener(sock)


async def _socket_is_live(path: Path) -> bool:
    try:
        stream = await trio.open_unix_socket(str(path))
    except OSError:
        return False
    await stream.aclose()
    return True


async def serve_control(
    room: Room, settings: Settings, admin_token: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    kind, address = parse_control_address(settings.control, settings.data_dir, settings.control_allow_remote)
    throttle = FailureThrottle("control-socket token")
    limiter = trio.CapacityLimiter(MAX_CONNECTIONS)
    if kind == "unix":
        listeners = [await _unix_listener(address)]
        shown = f"unix:{address}"
    else:
        host, port = address
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound_port = listeners[0].socket.getsockname()[1]
        shown = _tcp_display(host, bound_port)

    async def handle(stream: trio.abc.Stream) -> None:
        peer = "unix" if kind == "unix" else _peer_of(stream)
        async with stream:
            try:
                limiter.acquire_nowait()
            except trio.WouldBlock:
                # Refuse at once rather than queue: a queue of silent clients would hold
                # the operator's own command for as long as they take to time out.
                await _send(stream, _failure("busy", f"too many control connections (limit {MAX_CONNECTIONS})"))
                await _linger(stream)
                return
            try:
                await _serve_connection(stream, peer, room, admin_token, throttle)
            except Exception:  # one misbehaving client must never take the server down
                log.exception("control connection from %s failed", peer)
            finally:
                limiter.release()

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, handle, listeners)
            log.info("control socket on %s", shown)
            task_status.started(shown)
    finally:
        if kind == "unix":
            try:
                address.unlink()
            except OSError:
                pass


def _peer_of(stream: trio.abc.Stream) -> str:
    try:
        return str(stream.socket.getpeername()[0])  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return "?"


async def _serve_connection(
    stream: trio.abc.Stream, peer: str, room: Room, admin_token: str, throttle: FailureThrottle
) -> None:
    buffer = bytearray()
    while True:
        line: bytes | None = None
        with trio.move_on_after(IDLE_TIMEOUT_S):
            try:
                line = await _read_line(stream, buffer)
            except _LineTooLong:
                await _send(stream, _failure("line_too_long", f"requests are limited to {MAX_LINE_BYTES} bytes"))
                await _linger(stream)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if line is None:
                return
        if line is None:  # idle for too long: say why, then drop it
            await _send(stream, _failure("idle_timeout", f"no complete request within {IDLE_TIMEOUT_S:g} s"))
            return
        response = await _respond(line, peer, room, admin_token, throttle)
        if not await _send(stream, response):
            return


async def _linger(stream: trio.abc.Stream) -> None:
    """Before hanging up on a client whose request we did not read, let our reply reach it.

    Closing a socket with unread input makes TCP send a reset, which can destroy the
    reply still in flight; so half-close, then read and discard (bounded) until the
    client hangs up too.
    """
    with trio.move_on_after(LINGER_S):
        try:
            if isinstance(stream, trio.SocketStream):
                await stream.send_eof()
            discarded = 0
            while discarded < LINGER_MAX_BYTES:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return
                discarded += len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return


class _LineTooLong(Exception):
    pass


async def _read_line(stream: trio.abc.Stream, buffer: bytearray) -> bytes | None:
    while True:
        end = buffer.find(b"\n", 0, MAX_LINE_BYTES + 1)
        if end >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            return line
        if len(buffer) > MAX_LINE_BYTES:
            raise _LineTooLong
        chunk = await stream.receive_some(MAX_LINE_BYTES + 1 - len(buffer))
        if not chunk:
            return None
        buffer += chunk


async def _send(stream: trio.abc.Stream, response: dict[str, Any]) -> bool:
    with trio.move_on_after(SEND_TIMEOUT_S):
        try:
            await stream.send_all(dumps(response).encode("utf-8") + b"\n")
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
    return False


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


async def _respond(line: bytes, peer: str, room: Room, admin_token: str, throttle: FailureThrottle) -> dict[str, Any]:
    try:
        request = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _failure("bad_request", 'send one JSON object per line: {"token", "cmd", "args"}')
    if not isinstance(request, dict):
        return _failure("bad_request", 'send one JSON object per line: {"token", "cmd", "args"}')
    if not tokens_equal(request.get("token"), admin_token):
        await throttle.failed(peer)
        return _failure("unauthorized", "wrong or missing admin token")
    throttle.succeeded(peer)
    try:
        result = await commands.run_command(room, request.get("cmd"), request.get("args"))
    except RoomError as exc:
        return _failure(exc.code, exc.message)
    except Exception:
        log.exception("control command %r failed", request.get("cmd"))
        return _failure("internal_error", "the command failed on the server; see its log")
    return {"ok": True, "result": result}
