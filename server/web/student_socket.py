"""The students' websocket on plain ASGI, ahead of Quart: the hot path of a 10,000-phone lecture.

Quart serves a websocket with a nursery, two tasks and a queue per connection, titles
every header, and sends a signal per message in and out; at thousands of phones that is
most of the per-connection and per-message cost outside Hypercorn itself. This
middleware serves `/ws/student` straight from the ASGI events with the same checks in
the same order (origin, cookie, connections per address) and the same handler
(`sockets.serve_student`, `connection.run_connection`); every other request and socket
goes on to Quart.
"""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.http import parse_cookie

from server.auth import STUDENT_COOKIE
from server.room.hub import CloseCode
from server.room.messages import dumps
from server.session.model import Participant
from server.web.origin import RefusalLog, cross_origin_reason, server_origin
from server.web.quiz_app import QuizApp
from server.web.security import SECURITY_HEADERS
from server.web.socket_writes import FrameBatch
from server.web.sockets import serve_student

log = logging.getLogger("quizctl.http")

PATH = "/ws/student"
Scope = dict[str, Any]
Receive = Any
Send = Any


class StudentSocketFastPath:
    """ASGI middleware: `/ws/student` served here, everything else by `app`."""

    def __init__(self, app: QuizApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH:
            await AsgiStudentSocket(self.app, scope, receive, send).serve()
        else:
            await self.app(scope, receive, send)  # type: ignore[arg-type]  # Hypercorn's scopes, as typed by Quart


class AsgiStudentSocket:
    """One student's websocket, from its handshake to its end (a `connection.Transport`)."""

    def __init__(self, app: QuizApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.scope = scope
        self._receive = receive
        self._send = send
        self.address = (scope.get("client") or ("?",))[0] or "?"
        self.headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
        self.closed = False

    async def serve(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        reason = self._cross_origin()
        if reason is not None:
            refusals: RefusalLog = self.app.extensions.setdefault("origin_refusals", RefusalLog())
            refusals.refused(self.address, f"WS {PATH}", reason)
            await self._refuse(403, "cross_origin", "Requests from another site's page are refused.")
            return
        participant = self._participant()
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

    # ---------------------------------------------------------------- the handshake's checks

    def _cross_origin(self) -> str | None:
        """The same rule as every other socket and state-changing request (see server.web.origin)."""
        host = self.headers.get("Host")
        scheme = self.scope.get("scheme", "ws")
        own = server_origin(self.app.room.settings.public_url, scheme, host)
        served_at = server_origin(None, scheme, host)
        return cross_origin_reason(self.headers.getlist("Origin"), self.headers.get("Sec-Fetch-Site"), own, served_at)

    def _participant(self) -> Participant | None:
        """Who the student cookie speaks for, checked against the room (stale and forged cookies: None)."""
        cookies = parse_cookie(self.headers.get("Cookie", ""))
        room = self.app.room
        identity = self.app.signer.read_student_cookie(cookies.get(STUDENT_COOKIE), room.clock.now_ms())
        if identity is None:
            return None
        return room.authenticate(identity.sid, identity.student_id, identity.cookie_id)

    async def _refuse(self, status: int, code: str, message: str) -> None:
        """An HTTP answer instead of the handshake (Hypercorn's websocket.http.response extension)."""
        body = dumps({"error": code, "message": message}).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS]
        await self._send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await self._send({"type": "websocket.http.response.body", "body": body, "more_body": False})
