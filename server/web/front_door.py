"""Every TCP connection comes in here first: the students' two hot requests are served here, the rest by Hypercorn.

The first bytes of a connection say what it is. A `GET /ws/student` that asks for a
version-13 websocket upgrade is served by the lean server (websocket_server.py: one
socket per phone, four messages per phone per question), and a plain `POST /join` with
its length declared is answered here from the same ASGI application (the join storm at
the start of a lecture: one request per phone); anything else, including either request
in a form this module does not take (chunked, `Expect`, too large, not a clean upgrade),
goes to Hypercorn's own connection handler with the bytes already read put back in front
of the stream, so it sees the connection exactly as it arrived. A kept-alive connection
after a join comes back here for its next request.

Installed by `hypercorn_patch.apply()` as the handler of Hypercorn's trio listeners.
"""

from __future__ import annotations

import logging
import os
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import h11
import trio
from hypercorn.trio.tcp_server import TCPServer

from server.web.security import MAX_BODY_BYTES
from server.web.websocket_server import WebsocketConnection

log = logging.getLogger("quizctl.http")

LEAN_PATH = b"/ws/student"
JOIN_PATH = b"/join"
_LEAN_PREFIX = b"GET " + LEAN_PATH
_JOIN_PREFIX = b"POST " + JOIN_PATH + b" "
MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT_S = 10.0


class ReplayStream(trio.abc.HalfCloseableStream):
    """A socket stream whose first reads return bytes already taken from it (for Hypercorn)."""

    def __init__(self, stream: trio.SocketStream, already_read: bytes) -> None:
        self.stream = stream
        self.socket = stream.socket  # Hypercorn asks the socket for the peer's and its own address
        self._pending = already_read

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._pending:
            data = self._pending if max_bytes is None else self._pending[:max_bytes]
            self._pending = self._pending[len(data) :]
            await trio.lowlevel.checkpoint()
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()


async def serve_connection(app: Any, config: Any, context: Any, state: Any, stream: trio.SocketStream) -> None:
    """Hypercorn's per-connection handler (`TCPServer(...)`), with the students' hot requests taken off its hands."""
    asgi = getattr(app, "app", app)  # Hypercorn's ASGIWrapper holds the ASGI app
    head = await _read_while(stream, b"", _undecided)
    while head is not None:
        if head.startswith(_LEAN_PREFIX) and head[len(_LEAN_PREFIX) : len(_LEAN_PREFIX) + 1] in (b" ", b"?"):
            head, upgrade = await _read_head(stream, head, _parse_upgrade)
            if upgrade is not None:
                connection = WebsocketConnection(
                    stream, _scope(upgrade.request, stream), upgrade.key, upgrade.rest, config
                )
                await connection.serve(asgi)
                return
        elif head.startswith(_JOIN_PREFIX):
            head, join = await _read_head(stream, head, _parse_join)
            if join is not None:
                head = await _serve_join(asgi, stream, join)
                if head is None:
                    await trio.aclose_forcefully(stream)
                    return
                head = await _read_while(stream, head, _undecided)
                continue
        break
    if head is None:
        await trio.aclose_forcefully(stream)
        return
    await TCPServer(app, config, context, state, ReplayStream(stream, head))  # type: ignore[arg-type]


def _undecided(head: bytes) -> bool:
    """Whether more bytes could still make `head` the start of a request served here."""
    if len(head) <= len(_LEAN_PREFIX) and _LEAN_PREFIX.startswith(head):
        return True  # and one byte after the path: `/ws/student ` or `/ws/student?`, not `/ws/students`
    return len(head) < len(_JOIN_PREFIX) and _JOIN_PREFIX.startswith(head)


async def _read_while(stream: trio.SocketStream, head: bytes, wanted: Any) -> bytes | None:
    """`head` and what follows it while `wanted(head)`, bounded in time and size.

    None if the connection broke, or ended with nothing read (a client closing between requests).
    """
    with trio.move_on_after(HEAD_TIMEOUT_S):
        while wanted(head) and len(head) <= MAX_HEAD_BYTES:
            try:
                data = await stream.receive_some(MAX_HEAD_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            if not data:
                return head or None
            head += data
    return head


class Upgrade:
    """A request head that asks for a websocket: the request, its key, and the bytes after the head."""

    def __init__(self, request: h11.Request, key: str, rest: bytes) -> None:
        self.request = request
        self.key = key
        self.rest = rest


async def _read_head(stream: trio.SocketStream, head: bytes, parse: Any) -> tuple[bytes, Any]:
    """Everything read so far (the whole request head if it came in time), and `parse` of it (None: not ours)."""
    read = await _read_while(stream, head, lambda so_far: b"\r\n\r\n" not in so_far)
    if read is None:
        return head, None
    return read, parse(read)


def _parse_request(head: bytes) -> tuple[h11.Request | None, bytes]:
    """The request whose head `head` starts with (None if incomplete or malformed), and the bytes after the head."""
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None, b""
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    parser.receive_data(head[: end + 4])
    try:
        request = parser.next_event()
    except h11.RemoteProtocolError:
        return None, b""
    return (request if isinstance(request, h11.Request) else None), head[end + 4 :]


def _parse_upgrade(head: bytes) -> Upgrade | None:
    request, rest = _parse_request(head)
    if request is None or request.http_version != b"1.1":
        return None
    headers: dict[bytes, list[bytes]] = {}
    for name, value in request.headers:
        headers.setdefault(name, []).append(value)
    upgrade = b",".join(headers.get(b"upgrade", [])).lower()
    connection = {token.strip() for token in b",".join(headers.get(b"connection", [])).lower().split(b",")}
    keys = headers.get(b"sec-websocket-key", [])
    if (
        b"websocket" not in upgrade
        or b"upgrade" not in connection
        or headers.get(b"sec-websocket-version") != [b"13"]
        or len(keys) != 1
        or len(keys[0]) != 24
        or len(headers.get(b"host", [])) != 1
    ):
        return None
    return Upgrade(request, keys[0].decode("ascii"), rest)


class Join:
    """A `POST /join` head this module answers: the request, the body's length, and the bytes after the head."""

    def __init__(self, request: h11.Request, length: int, rest: bytes) -> None:
        self.request = request
        self.length = length
        self.rest = rest
        tokens = b",".join(value for name, value in request.headers if name == b"connection").lower().split(b",")
        self.keep_alive = request.http_version == b"1.1" and b"close" not in {token.strip() for token in tokens}


def _parse_join(head: bytes) -> Join | None:
    """The join, if the head is a plain `POST /join` with its length declared and within the body limit."""
    request, rest = _parse_request(head)
    if request is None or request.method != b"POST" or request.target != JOIN_PATH:
        return None
    lengths = [value for name, value in request.headers if name == b"content-length"]
    if (
        len(lengths) != 1
        or not lengths[0].isdigit()
        or int(lengths[0]) > MAX_BODY_BYTES  # Hypercorn and the route answer 413 and close
        or any(name in (b"transfer-encoding", b"expect") for name, _ in request.headers)
    ):
        return None
    return Join(request, int(lengths[0]), rest)


async def _serve_join(asgi: Any, stream: trio.SocketStream, join: Join) -> bytes | None:
    """Answer the join from the ASGI app; what followed its body if the connection stays open, else None."""
    received = await _read_while(stream, join.rest, lambda so_far: len(so_far) < join.length)
    if received is None or len(received) < join.length:
        return None  # the body never came whole: nobody to answer
    body, after = received[: join.length], received[join.length :]
    answer: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}  # nothing more will be read before the answer is sent
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    try:
        await asgi(_scope(join.request, stream, "http"), receive, send)
    except Exception:  # the route answers its own errors; this is a bug, and it must not end the listener
        log.exception("unhandled error on POST %s", JOIN_PATH.decode())
        return None
    if not answer or answer[0]["type"] != "http.response.start":
        return None
    keep_alive = join.keep_alive and (b"connection", b"close") not in answer[0]["headers"]
    if not await _send(stream, _response(answer, keep_alive)):
        return None
    return after if keep_alive else None


async def _send(stream: trio.SocketStream, data: bytes) -> bool:
    """Write `data` (straight to the socket when it takes it whole, as it nearly always does); False if it failed."""
    try:
        sent = os.write(stream.socket.fileno(), data)  # the socket is non-blocking (trio's)
    except BlockingIOError:
        sent = 0
    except OSError:
        return False
    if sent == len(data):
        return True
    with trio.move_on_after(HEAD_TIMEOUT_S):
        try:
            await stream.send_all(data[sent:])
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True
    return False  # the peer stopped reading


def _response(answer: list[dict[str, Any]], keep_alive: bool) -> bytes:
    """The HTTP/1.1 bytes of an ASGI answer whose body is whole (`content-length` set by the app)."""
    start = answer[0]
    status = int(start["status"])
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode("ascii")]
    lines += [name + b": " + value for name, value in start["headers"]]
    lines.append(b"date: " + formatdate(usegmt=True).encode("ascii"))
    if not keep_alive:
        lines.append(b"connection: close")
    body = b"".join(message.get("body", b"") for message in answer[1:])
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _scope(request: h11.Request, stream: trio.SocketStream, kind: str = "websocket") -> dict[str, Any]:
    """The ASGI scope (`websocket` or `http`) of the request, as Hypercorn would build it."""
    path, _, query = request.target.partition(b"?")
    client = stream.socket.getpeername()
    server = stream.socket.getsockname()
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.http_version.decode("ascii"),
        "scheme": "ws" if kind == "websocket" else "http",
        "path": unquote(path.decode("ascii")),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": list(request.headers),
        "client": (client[0], client[1]),
        "server": (server[0], server[1]),
        "extensions": {},
    }
    if kind == "websocket":
        scope.update(subprotocols=[], extensions={"websocket.http.response": {}})
    else:
        scope["method"] = request.method.decode("ascii")
    return scope
