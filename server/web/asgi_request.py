"""What the plain-ASGI routes (the students' socket, `POST /join`) read from a request, in one place.

Quart's routes get the same answers from `security.py` (its request objects); both use
the one rule in `origin.py` for another site's page, and the one cookie reader.
"""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.http import parse_cookie

from server.auth import STUDENT_COOKIE
from server.session.model import Participant
from server.web.origin import RefusalLog, cross_origin_reason, server_origin
from server.web.quiz_app import QuizApp

Scope = dict[str, Any]


class AsgiRequest:
    """One HTTP request or websocket handshake, as its ASGI scope describes it."""

    def __init__(self, app: QuizApp, scope: Scope) -> None:
        self.app = app
        self.scope = scope
        self.address: str = (scope.get("client") or ("?",))[0] or "?"
        self.headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])

    def cross_origin(self, route: str) -> str | None:
        """Why another site's page sent this (logged), or None: the rule every state-changing request follows."""
        host = self.headers.get("Host")
        scheme = self.scope.get("scheme", "http")
        own = server_origin(self.app.room.settings.public_url, scheme, host)
        served_at = server_origin(None, scheme, host)
        reason = cross_origin_reason(self.headers.getlist("Origin"), self.headers.get("Sec-Fetch-Site"), own, served_at)
        if reason is not None:
            refusals: RefusalLog = self.app.extensions.setdefault("origin_refusals", RefusalLog())
            refusals.refused(self.address, route, reason)
        return reason

    def participant(self) -> Participant | None:
        """Who the student cookie speaks for, checked against the room (stale and forged cookies: None)."""
        return self.app.student_of(parse_cookie(self.headers.get("Cookie", "")).get(STUDENT_COOKIE))
