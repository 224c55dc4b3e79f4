"""`POST /join`: what joining does, and the route served on plain ASGI ahead of Quart.

At 10,000 phones the joins come in a storm at the start of the lecture, and Quart's
request machinery (contexts, hooks, signals, its request and response objects) cost more
than the join itself. `AsgiJoin` answers `POST /join` straight from the ASGI events,
applying the same rules as every Quart route (`security.py`: the body limit, another
site's page, the JSON body, the security headers, the error shape) through the same
functions; `join_room` is the join itself, which the Quart route (kept for the routing
table: a `GET /join` is still a 405) shares.
"""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.http import dump_cookie

from server.auth import STUDENT_COOKIE, STUDENT_COOKIE_MAX_AGE_S, StudentIdentity
from server.room.json_text import dumps
from server.session.errors import RoomError
from server.session.model import Participant
from server.web.asgi_request import AsgiRequest, Scope
from server.web.quiz_app import QuizApp
from server.web.security import (
    CONTENT_SECURITY_POLICY,
    CROSS_ORIGIN_MESSAGE,
    MAX_BODY_BYTES,
    SECURITY_HEADERS,
    json_object,
)

log = logging.getLogger("quizctl.http")

PATH = "/join"


async def join_room(
    app: QuizApp, fields: dict[str, Any], current: Participant | None, address: str, user_agent: str
) -> tuple[dict[str, Any], str]:
    """Join (or rejoin) the room: the answer's body and the student cookie's new value; RoomError if refused."""
    room = app.room
    detail = f"{address or '?'} {user_agent[:120]}"
    participant = await room.join(fields.get("student_id"), fields.get("name"), current=current, detail=detail)
    identity = StudentIdentity(room.record.sid, participant.student_id, participant.cookie_id, room.clock.now_ms())
    answer = {"student_id": participant.student_id, "name": participant.name, "sid": room.record.sid}
    return answer, app.signer.student_cookie(identity)


def student_cookie_header(app: QuizApp, value: str) -> str:
    """The Set-Cookie value of a student cookie, flagged as `security.set_cookie` flags every cookie."""
    secure = app.room.settings.cookies_secure
    return dump_cookie(
        STUDENT_COOKIE, value, max_age=STUDENT_COOKIE_MAX_AGE_S, path="/", secure=secure, httponly=True, samesite="Lax"
    )


class AsgiJoin:
    """One `POST /join` request, from its ASGI events to its answer."""

    def __init__(self, app: QuizApp, scope: Scope, receive: Any, send: Any) -> None:
        self.request = AsgiRequest(app, scope)
        self.app = app
        self._receive = receive
        self._send = send

    async def serve(self) -> None:
        body = await self._read_body()
        if body is None:
            await self._respond(
                413,
                {"error": "body_too_large", "message": "The data value transmitted exceeds the capacity limit."},
                close=True,
            )
            return
        if self.request.cross_origin(f"POST {PATH}") is not None:
            await self._respond(403, {"error": "cross_origin", "message": CROSS_ORIGIN_MESSAGE})
            return
        headers = self.request.headers
        try:
            fields = json_object(body, headers.get("Content-Type"))
            answer, cookie = await join_room(
                self.app, fields, self.request.participant(), self.request.address, headers.get("User-Agent", "")
            )
        except RoomError as exc:
            await self._respond(exc.status, {"error": exc.code, "message": exc.message})
            return
        except Exception:
            log.exception("unhandled error on POST %s", PATH)
            await self._respond(500, {"error": "internal_error", "message": "Something went wrong on the server."})
            return
        await self._respond(200, answer, cookie=student_cookie_header(self.app, cookie))

    async def _read_body(self) -> bytes | None:
        """The whole body, or None past MAX_BODY_BYTES (the rest is left unread: the connection closes)."""
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._receive()
            if event["type"] != "http.request":
                return b""  # the client went away; whatever is answered goes nowhere
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            if not event.get("more_body", False):
                return b"".join(chunks)

    async def _respond(
        self, status: int, payload: dict[str, Any], *, cookie: str | None = None, close: bool = False
    ) -> None:
        body = (dumps(payload) + "\n").encode("utf-8")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("latin-1")),
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS[1:]),
            (b"cache-control", b"no-store"),
        ]
        if cookie is not None:
            headers.append((b"set-cookie", cookie.encode("latin-1")))
        if close:
            headers.append((b"connection", b"close"))
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
