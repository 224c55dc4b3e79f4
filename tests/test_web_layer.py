"""The web layer on its own: the Hypercorn patch on the wire and its guard, and each blueprint's handlers.

The wire tests drive a real server (tests/conftest.py's `running_server`) over a raw TCP
socket, doing the websocket handshake by hand and reading frames with wsproto, so what
is checked is exactly what Hypercorn wrote. The blueprint tests call the handlers through
Quart's test client, with no server and no socket.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing
import wsproto.handshake
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import Data
from hypercorn.trio import run as trio_run
from hypercorn.trio import tcp_server
from quart.testing.connections import WebsocketDisconnectError
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage

from server import serve
from server.auth import Signer
from server.quiz.pool import Pool
from server.room.hub import ClientConnection
from server.serve import RunningServer
from server.settings import Settings
from server.web import front_door, hypercorn_patch
from server.web.app import create_app
from server.web.hypercorn_patch import FrameBatch, HypercornPatchError
from server.web.quiz_app import QuizApp
from server.web.student_socket import StudentFastPaths
from tests.helpers import WAIT_S, running_server

ADMIN_TOKEN = "test-admin-token"


# ---------------------------------------------------------------- a websocket on a raw socket


class RawWebSocket:
    """A websocket client on a plain TCP stream: the handshake by hand, frames parsed by wsproto."""

    def __init__(self, stream: trio.SocketStream, status: int, headers: dict[str, str], rest: bytes) -> None:
        self.stream = stream
        self.status = status
        self.headers = headers
        self.connection = Connection(ConnectionType.CLIENT)
        self.connection.receive_data(rest)

    async def send_text(self, text: str) -> None:
        with trio.fail_after(WAIT_S):
            await self.stream.send_all(self.connection.send(TextMessage(data=text)))

    async def receive_frame(self) -> tuple[str, bool]:
        """The next text frame: its text and whether it is a whole message (FIN set)."""
        data = ""
        with trio.fail_after(WAIT_S):
            while True:
                for event in self.connection.events():
                    assert not isinstance(event, CloseConnection), f"server closed the socket ({event.code})"
                    assert isinstance(event, TextMessage), event
                    data += event.data
                    if event.frame_finished:
                        return data, event.message_finished
                chunk = await self.stream.receive_some(65536)
                assert chunk, "server closed the connection"
                self.connection.receive_data(chunk)

    async def receive_json(self) -> dict[str, Any]:
        text, whole = await self.receive_frame()
        assert whole
        message: dict[str, Any] = json.loads(text)
        return message

    async def ping_pong(self) -> None:
        """Everything the server queued before this call has arrived once the pong has."""
        await self.send_text('{"type":"ping"}')
        while (await self.receive_json())["type"] != "pong":
            pass


@asynccontextmanager
async def raw_websocket(base_url: str, path: str, extra_headers: dict[str, str]) -> AsyncIterator[RawWebSocket]:
    """Open `path` on the server at `base_url` with a hand-written upgrade request."""
    host_port = base_url.removeprefix("http://").rstrip("/")
    host, port = host_port.rsplit(":", 1)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host_port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in extra_headers.items()),
    ]
    with trio.fail_after(WAIT_S):
        stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        with trio.fail_after(WAIT_S):
            await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = await stream.receive_some(65536)
                assert chunk, "server closed the connection during the handshake"
                received += chunk
        head, rest = received.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        yield RawWebSocket(stream, int(status_line.split()[1]), headers, rest)


DEFLATE_OFFER = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}


@asynccontextmanager
async def projector_socket(running: RunningServer) -> AsyncIterator[tuple[RawWebSocket, ClientConnection]]:
    """The projector's socket (served by Quart on Hypercorn, through the patch), its first state read."""
    async with raw_websocket(running.url, "/ws/projector", DEFLATE_OFFER) as ws:
        assert ws.status == 101
        await ws.ping_pong()
        (client,) = running.room.hub.projectors
        yield ws, client


# ---------------------------------------------------------------- the patch on the wire


async def test_permessage_deflate_offer_is_declined(tmp_path: Path, tiny_pool: Pool) -> None:
    async with (
        running_server(tmp_path / "data", tiny_pool) as running,
        raw_websocket(running.url, "/ws/projector", DEFLATE_OFFER) as ws,
    ):
        assert ws.status == 101
        assert "sec-websocket-extensions" not in ws.headers
        # Frames are plain: wsproto without the extension reads them (a compressed one has RSV1 set).
        assert (await ws.receive_json())["type"] == "projector_state"


async def test_frame_batch_arrives_as_separate_whole_frames_in_order(tmp_path: Path, tiny_pool: Pool) -> None:
    texts = [json.dumps({"type": "batch_test", "n": n, "pad": "x" * n * 300}) for n in range(5)]
    async with running_server(tmp_path / "data", tiny_pool) as running, projector_socket(running) as (ws, client):
        assert client.send(FrameBatch(texts))
        frames = [await ws.receive_frame() for _ in texts]
        assert frames == [(text, True) for text in texts]
        await ws.ping_pong()  # and the socket carries on


async def test_empty_frame_batch_sends_nothing(tmp_path: Path, tiny_pool: Pool) -> None:
    async with running_server(tmp_path / "data", tiny_pool) as running, projector_socket(running) as (ws, client):
        assert client.send(FrameBatch([]))
        # The sender has taken the batch alone and handed it to Hypercorn once every task is idle.
        with trio.fail_after(WAIT_S):
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        await ws.send_text('{"type":"ping"}')
        assert await ws.receive_frame() == ('{"type":"pong"}', True)  # no empty frame before it


async def test_patched_app_send_writes_nothing_for_an_empty_batch() -> None:
    written: list[Any] = []

    async def send(event: Any) -> None:
        written.append(event)

    stream = SimpleNamespace(
        closed=False,
        state=ws_stream.ASGIWebsocketState.CONNECTED,
        connection=Connection(ConnectionType.SERVER),
        send=send,
        stream_id=1,
    )
    await hypercorn_patch._app_send(stream, {"type": "websocket.send", "text": FrameBatch([])})
    assert written == []
    await hypercorn_patch._app_send(stream, {"type": "websocket.send", "text": FrameBatch(["a", "b"])})
    (event,) = written
    assert isinstance(event, Data)
    reader = Connection(ConnectionType.CLIENT)
    reader.receive_data(event.data)
    frames = [(e.data, e.message_finished) for e in reader.events() if isinstance(e, TextMessage)]
    assert frames == [("a", True), ("b", True)]


def test_a_batch_inside_a_batch_is_flattened() -> None:
    assert FrameBatch(["a", FrameBatch(["b", "c"]), FrameBatch([]), "d"]).texts == ("a", "b", "c", "d")


# ---------------------------------------------------------------- the patch's guard


@pytest.fixture
def unpatched_hypercorn(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Hypercorn as installed, before apply() (monkeypatch puts the patched one back afterwards)."""
    hypercorn_patch.apply()
    monkeypatch.setattr(hypercorn_patch, "_applied", False)
    monkeypatch.setattr(ws_stream, "server_extensions_handshake", wsproto.handshake.server_extensions_handshake)
    monkeypatch.setattr(ws_stream.WSStream, "app_send", hypercorn_patch._original_app_send)
    monkeypatch.setattr(tcp_server.TCPServer, "protocol_send", hypercorn_patch._original_protocol_send)
    monkeypatch.setattr(trio_run, "TCPServer", tcp_server.TCPServer)
    return monkeypatch


def assert_nothing_replaced() -> None:
    assert ws_stream.WSStream.app_send is hypercorn_patch._original_app_send
    assert tcp_server.TCPServer.protocol_send is hypercorn_patch._original_protocol_send
    assert trio_run.TCPServer is tcp_server.TCPServer
    assert not hypercorn_patch._applied


def test_apply_patches_the_hypercorn_it_was_written_for(unpatched_hypercorn: pytest.MonkeyPatch) -> None:
    hypercorn_patch.apply()
    assert ws_stream.WSStream.app_send is hypercorn_patch._app_send
    assert tcp_server.TCPServer.protocol_send is hypercorn_patch._protocol_send
    assert ws_stream.server_extensions_handshake is hypercorn_patch._accept_no_extensions  # type: ignore[attr-defined]
    assert trio_run.TCPServer is front_door.serve_connection  # type: ignore[attr-defined]
    hypercorn_patch.apply()  # idempotent
    assert ws_stream.WSStream.app_send is hypercorn_patch._app_send


def test_apply_refuses_another_hypercorn_version(unpatched_hypercorn: pytest.MonkeyPatch) -> None:
    unpatched_hypercorn.setattr(hypercorn_patch, "installed_hypercorn_version", lambda: "0.19.0")
    with pytest.raises(HypercornPatchError) as refused:
        hypercorn_patch.apply()
    assert str(refused.value) == (
        "quizctl's Hypercorn patch (server/web/hypercorn_patch.py) was written for hypercorn 0.18.0, "
        "but hypercorn 0.19.0 is installed. Install the pinned version: pip install 'hypercorn[trio]==0.18.0'."
    )
    assert_nothing_replaced()


async def _changed(self: Any, *args: Any) -> None:
    """Stands in for a Hypercorn function whose source is not the one the patch was written against."""


@pytest.mark.parametrize(
    ("owner", "name", "qualified_name"),
    [
        (ws_stream.Handshake, "accept", "hypercorn.protocol.ws_stream.Handshake.accept"),
        (ws_stream.WSStream, "app_send", "hypercorn.protocol.ws_stream.WSStream.app_send"),
        (tcp_server.TCPServer, "protocol_send", "hypercorn.trio.tcp_server.TCPServer.protocol_send"),
        (ws_stream, "server_extensions_handshake", "hypercorn.protocol.ws_stream.server_extensions_handshake"),
    ],
)
def test_apply_refuses_a_changed_function(
    unpatched_hypercorn: pytest.MonkeyPatch, owner: Any, name: str, qualified_name: str
) -> None:
    unpatched_hypercorn.setattr(owner, name, _changed)
    with pytest.raises(HypercornPatchError) as refused:
        hypercorn_patch.apply()
    message = str(refused.value)
    assert message.startswith(
        f"quizctl's Hypercorn patch (server/web/hypercorn_patch.py) expects {qualified_name} as in hypercorn 0.18.0, "
        "but the installed one "
    )
    assert message.endswith("Reinstall it: pip install --force-reinstall 'hypercorn[trio]==0.18.0'.")
    assert tcp_server.TCPServer.protocol_send in (hypercorn_patch._original_protocol_send, _changed)  # not ours
    assert ws_stream.WSStream.app_send in (hypercorn_patch._original_app_send, _changed)
    assert not hypercorn_patch._applied


def test_create_app_applies_the_patch(unpatched_hypercorn: pytest.MonkeyPatch) -> None:
    unpatched_hypercorn.setattr(hypercorn_patch, "installed_hypercorn_version", lambda: "0.17.3")
    with pytest.raises(HypercornPatchError, match="hypercorn 0.17.3 is installed"):
        create_app(None, Signer("secret"), ADMIN_TOKEN)  # type: ignore[arg-type]  # refused before the room is used


# ---------------------------------------------------------------- each blueprint through the test client


@pytest.fixture
async def app(tmp_path: Path, tiny_pool: Pool) -> AsyncIterator[QuizApp]:
    settings = Settings(pool=tiny_pool, data_dir=tmp_path / "data", port=0, session_id="web-layer")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        yield create_app(room, Signer("test-secret"), ADMIN_TOKEN)


async def test_pages_blueprint(app: QuizApp) -> None:
    client = app.test_client()
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert await health.get_json() == {
        "ok": True,
        "storage_ok": True,
        "state": "lobby",
        "participants": 0,
        "connected": 0,
    }
    student_page = await client.get("/")
    assert student_page.status_code == 200 and "<script" in await student_page.get_data(as_text=True)
    assert (await client.get("/static/student.js")).status_code == 200
    assert (await client.get("/static/nothing-here.js")).status_code == 404
    refused = await client.get("/instructor")
    assert refused.status_code == 401 and "instructor token required" in await refused.get_data(as_text=True)
    dashboard = await client.get(f"/instructor?token={ADMIN_TOKEN}")
    assert dashboard.status_code == 200 and "quiz_instructor=" in dashboard.headers["Set-Cookie"]


async def test_students_blueprint(app: QuizApp) -> None:
    client = app.test_client()
    me = await client.get("/me")
    assert me.status_code == 401
    assert (await me.get_json())["error"] == "not_joined"
    event = await client.post("/event", json={"kind": "blur"})
    assert event.status_code == 401 and (await event.get_json())["error"] == "not_joined"
    joined = await client.post("/join", json={"student_id": "s1", "name": "Ada"})
    assert joined.status_code == 200
    assert (await joined.get_json())["student_id"] == "s1"
    assert "HttpOnly" in joined.headers["Set-Cookie"] and "SameSite=Lax" in joined.headers["Set-Cookie"]
    me = await client.get("/me")  # the test client keeps the cookie
    assert me.status_code == 200 and me.headers["Cache-Control"] == "no-store"
    assert (await client.post("/event", json={"kind": "blur", "question_idx": None})).status_code == 204


async def asgi_join(app: QuizApp, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, str], bytes]:
    """POST /join through the students' fast path (StudentFastPaths), as Hypercorn would call it."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/join",
        "scheme": "http",
        "client": ("10.0.0.9", 5000),
        "headers": [(b"host", b"quiz.test"), *headers],
        "query_string": b"",
        "http_version": "1.1",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await StudentFastPaths(app)(scope, receive, send)
    start, answer = sent
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, answer["body"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (b'{"student_id": "ID", "name": "Ada"}', [(b"content-type", b"application/json")], 200, None),
        (b'{"student_id": "ID", "name": "Ada"}', [], 200, None),  # no Content-Type: read as JSON
        (b'{"student_id": "ID"', [(b"content-type", b"application/json")], 400, "bad_json"),
        (b"[1, 2]", [], 400, "bad_json"),
        (b'{"student_id": "ID", "name": "Ada"}', [(b"content-type", b"text/plain")], 415, "unsupported_media_type"),
        (b'{"student_id": "bad id!", "name": "Ada"}', [], 400, "bad_student_id"),
        (b'{"student_id": "ID", "name": ""}', [], 400, "bad_name"),
        (b'{"student_id": "ID", "name": "Ada"}', [(b"origin", b"http://evil.example")], 403, "cross_origin"),
        (b'{"student_id": "ID", "name": "Ada"}', [(b"sec-fetch-site", b"cross-site")], 403, "cross_origin"),
        (b'{"pad": "' + b"x" * 17000 + b'"}', [], 413, "body_too_large"),
    ],
)
async def test_join_answers_the_same_through_the_fast_path_and_quarts_route(
    app: QuizApp, body: bytes, headers: list[tuple[bytes, bytes]], status: int, error: str | None
) -> None:
    # The students' fast path serves POST /join in the real server; Quart's route keeps it in the
    # routing table. Both must answer alike: status, error code, cookie and security headers.
    fast_body = body.replace(b'"ID"', b'"fast"')
    fast_status, fast_headers, fast_raw = await asgi_join(app, fast_body, headers)
    client = app.test_client()
    quart = await client.post(
        "/join", data=body.replace(b'"ID"', b'"quart"'), headers={k.decode(): v.decode() for k, v in headers}
    )
    assert (fast_status, quart.status_code) == (status, status)
    fast_json, quart_json = json.loads(fast_raw), await quart.get_json()
    assert fast_json.get("error") == quart_json.get("error") == error
    assert fast_headers["content-type"] == quart.headers["Content-Type"] == "application/json"
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options"):
        assert fast_headers[name] == quart.headers[name], name
    assert fast_headers["cache-control"] == quart.headers["Cache-Control"] == "no-store"
    if status == 200:
        assert fast_json["student_id"] == "fast" and quart_json["student_id"] == "quart"
        assert fast_json.keys() == quart_json.keys()
        flags = [part.strip().split("=")[0] for part in fast_headers["set-cookie"].split(";")[1:]]
        assert flags == [part.strip().split("=")[0] for part in quart.headers["Set-Cookie"].split(";")[1:]]
        assert app.room.participants["fast"].name == "Ada"
    else:
        assert "set-cookie" not in fast_headers and "fast" not in app.room.participants


async def test_instructor_blueprint(app: QuizApp) -> None:
    client = app.test_client()
    refused = await client.post("/admin/status")
    assert refused.status_code == 401 and (await refused.get_json())["error"] == "unauthorized"
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    status = await client.post("/admin/status", headers=bearer)
    assert status.status_code == 200 and (await status.get_json())["ok"] is True
    unknown = await client.post("/admin/no-such-command", headers=bearer)
    assert unknown.status_code >= 400 and "error" in await unknown.get_json()
    export = await client.get("/export.csv", headers=bearer)
    assert export.status_code == 200 and export.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert export.headers["Content-Disposition"] == 'attachment; filename="web-layer-results.csv"'
    assert export.headers["Cache-Control"] == "no-store"


class SocketReader:
    """Messages from a test-client websocket; a FrameBatch reaches it as the object itself, expanded here."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.pending: list[str] = []

    async def receive(self) -> dict[str, Any]:
        if not self.pending:
            with trio.fail_after(WAIT_S):
                data = await self.connection.receive()
            self.pending = list(data.texts) if isinstance(data, FrameBatch) else [data]
        message: dict[str, Any] = json.loads(self.pending.pop(0))
        return message

    async def expect(self, message_type: str) -> dict[str, Any]:
        while (message := await self.receive())["type"] != message_type:
            pass
        return message


async def test_sockets_blueprint(app: QuizApp) -> None:
    client = app.test_client()
    async with client.websocket("/ws/projector") as connection:
        projector = SocketReader(connection)
        assert (await projector.receive())["type"] == "projector_state"
        await connection.send('{"type":"ping"}')
        assert await projector.receive() == {"type": "pong"}
        await connection.send("not json")
        assert (await projector.receive())["code"] == "bad_message"
    async with client.websocket("/ws/student") as connection:
        with trio.fail_after(WAIT_S), pytest.raises(WebsocketDisconnectError) as closed:
            await connection.receive()
    assert closed.value.args == (4001,)
    async with client.websocket(f"/ws/instructor?token={ADMIN_TOKEN}") as connection:
        instructor = SocketReader(connection)
        await connection.send('{"type":"no_such_thing"}')
        assert (await instructor.expect("error"))["code"] == "bad_message"


async def test_security_blueprint(app: QuizApp) -> None:
    client = app.test_client()
    health = await client.get("/healthz")
    assert "script-src 'self'" in health.headers["Content-Security-Policy"]
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    assert health.headers["X-Frame-Options"] == "DENY"
    assert health.headers["Referrer-Policy"] == "no-referrer"
    assert health.headers["Cache-Control"] == "no-store"
    missing = await client.get("/no-such-page")
    assert missing.status_code == 404 and (await missing.get_json())["error"] == "not_found"
    wrong_method = await client.get("/join")
    assert wrong_method.status_code == 405 and (await wrong_method.get_json())["error"] == "method_not_allowed"
    bad_json = await client.post("/join", data="{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and (await bad_json.get_json())["error"] == "bad_json"
    too_big = await client.post("/join", data="x" * (17 * 1024))
    assert too_big.status_code == 413 and (await too_big.get_json())["error"] == "body_too_large"
