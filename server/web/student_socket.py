"""The students' hot paths on plain ASGI, ahead of Quart: their websocket and `POST /join`.

Quart serves a websocket with a nursery, two tasks and a queue per connection, titles
every header, and sends a signal per message in and out; at thousands of phones that is
most of the per-connection and per-message cost outside the socket itself. This
middleware serves `/ws/student` straight from the ASGI events with the same checks in
the same order (origin, cookie, connections per address) and the same handler
(`sockets.serve_student`, `connection.run_connection`), and `POST /join` with
join_endpoint.py; every other request and socket goes on to Quart.
"""

from __future__ import annotations

import logging
from typing import Any

from server.room.hub import CloseCode, DirectWriter
from server.room.json_text import dumps
from server.web import join_endpoint
from server.web.asgi_request import AsgiRequest, Scope
from server.web.quiz_app import QuizApp
from server.web.security import CROSS_ORIGIN_MESSAGE, SECURITY_HEADERS
from server.web.socket_writes import FrameBatch
from server.web.sockets import serve_student
from server.web.websocket_server import DIRECT_WRITES_EXTENSION

log = logging.getLogger("quizctl.http")

PATH = "/ws/student"
Receive = Any
Send = Any


class StudentFastPaths:
    """ASGI middleware: `/ws/student` and `POST /join` served here, everything else by `app`."""

    def __init__(self, app: QuizApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH:
            await AsgiStudentSocket(self.app, scope, receive, send).serve()
        elif scope["type"] == "http" and scope["path"] == join_endpoint.PATH and scope["method"] == "POST":
            await join_endpoint.AsgiJoin(self.app, scope, receive, send).serve()
        else:
            await self.app(scope, receive, send)  # type: ignore[arg-type]  # Hypercorn's scopes, as typed by Quart


class AsgiStudentSocket:
    """One student's websocket, from its handshake to its end (a `connection.Transport`)."""

    def __init__(self, app: QuizApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.request = AsgiRequest(app, scope)
        self._receive = receive
        self._send = send
        self.address = self.request.address
        self.closed = False
        # The lean server's direct writes (websocket_server.py); None under Hypercorn.
        self.direct_writes: DirectWriter | None = (scope.get("extensions") or {}).get(DIRECT_WRITES_EXTENSION)

    async def serve(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        if self.request.cross_origin(f"WS {PATH}") is not None:
            await self._refuse(403, "cross_origin", CROSS_ORIGIN_MESSAGE)
            return
        participant = self.request.participant()
        await self._send({"type": "websocket.accept", "subprotocol": None, "headers": []})
        if participant is None:
            await self.close(CloseCode.UNAUTHORIZED, "not joined or cookie no longer valid")
            return
        try:
            await serve_student(self.app, self, participant)
        finally:
            if not self.closed:  # a dropped client or a cancelled handler: as Quart, close normally
                await self.close(1000)

    # ---------------------------------------------------------------- connection.Transport

    async def receive(self) -> str | bytes | None:
        event = await self._receive()
        if event["type"] == "websocket.receive":
            text = event.get("text")
            return text if text is not None else (event.get("bytes") or b"")
        self.closed = True  # websocket.disconnect
        return None

    async def send_batch(self, texts: list[str]) -> None:
        """Queued messages in one socket write (see hypercorn_patch.FrameBatch)."""
        await self._send(
            {"type": "websocket.send", "bytes": None, "text": texts[0] if len(texts) == 1 else FrameBatch(texts)}
        )

    async def close(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    # ---------------------------------------------------------------- a refused handshake

    async def _refuse(self, status: int, code: str, message: str) -> None:
        """An HTTP answer instead of the handshake (Hypercorn's websocket.http.response extension)."""
        body = dumps({"error": code, "message": message}).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS]
        await self._send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await self._send({"type": "websocket.http.response.body", "body": body, "more_body": False})
