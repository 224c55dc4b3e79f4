"""Every TCP connection comes in here first: the students' websocket goes to websocket_server.py, the rest to Hypercorn.

The first bytes of a connection say what it is. A `GET /ws/student` that asks for a
version-13 websocket upgrade is served by the lean server (the hot path of a large
lecture: one socket per phone, four messages per phone per question); anything else,
including a `/ws/student` request that is not a clean upgrade, goes to Hypercorn's own
connection handler with the bytes already read put back in front of the stream, so it
sees the connection exactly as it arrived. Both serve the same ASGI application.

Installed by `hypercorn_patch.apply()` as the handler of Hypercorn's trio listeners.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

import h11
import trio
from hypercorn.trio.tcp_server import TCPServer

from server.web.websocket_server import WebsocketConnection

log = logging.getLogger("quizctl.http")

LEAN_PATH = b"/ws/student"
_LEAN_PREFIX = b"GET " + LEAN_PATH
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
    """Hypercorn's per-connection handler (`TCPServer(...)`), with the students' websocket taken off its hands."""
    head = b""
    with trio.move_on_after(HEAD_TIMEOUT_S):
        while len(head) < len(_LEAN_PREFIX) + 1 and _LEAN_PREFIX.startswith(head[: len(_LEAN_PREFIX)]):
            try:
                data = await stream.receive_some(MAX_HEAD_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                break
            head += data
    if head.startswith(_LEAN_PREFIX) and head[len(_LEAN_PREFIX) : len(_LEAN_PREFIX) + 1] in (b" ", b"?"):
        head, upgrade = await _read_upgrade(stream, head)
        if upgrade is not None:
            connection = WebsocketConnection(
                stream,
                _scope(upgrade.request, stream),
                upgrade.key,
                upgrade.rest,
                config,
            )
            await connection.serve(getattr(app, "app", app))  # Hypercorn's ASGIWrapper holds the ASGI app
            return
    await TCPServer(app, config, context, state, ReplayStream(stream, head))  # type: ignore[arg-type]


class Upgrade:
    """A request head that asks for a websocket: the request, its key, and the bytes after the head."""

    def __init__(self, request: h11.Request, key: str, rest: bytes) -> None:
        self.request = request
        self.key = key
        self.rest = rest


async def _read_upgrade(stream: trio.SocketStream, head: bytes) -> tuple[bytes, Upgrade | None]:
    """Everything read so far, and the upgrade if the request head is a clean websocket upgrade."""
    with trio.move_on_after(HEAD_TIMEOUT_S):
        while b"\r\n\r\n" not in head and len(head) <= MAX_HEAD_BYTES:
            try:
                data = await stream.receive_some(MAX_HEAD_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                break
            head += data
    return head, _parse_upgrade(head)


def _parse_upgrade(head: bytes) -> Upgrade | None:
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    parser.receive_data(head[: end + 4])
    try:
        request = parser.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(request, h11.Request) or request.http_version != b"1.1":
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
    return Upgrade(request, keys[0].decode("ascii"), head[end + 4 :])


def _scope(request: h11.Request, stream: trio.SocketStream) -> dict[str, Any]:
    """The ASGI websocket scope of the request, as Hypercorn would build it."""
    path, _, query = request.target.partition(b"?")
    client = stream.socket.getpeername()
    server = stream.socket.getsockname()
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": unquote(path.decode("ascii")),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": list(request.headers),
        "client": (client[0], client[1]),
        "server": (server[0], server[1]),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
