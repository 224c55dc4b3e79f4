"""HTTP and websocket transport: translates requests into room calls and room output into frames.

Handlers stay thin: parse and authenticate, call the room (or `commands.run_command`),
turn RoomError into the contract's error shapes. The routes, by blueprint:

    pages       GET  /  /projector  /instructor  /healthz  /static/<path>
    students    POST /join  /event      GET /me
    instructor  POST /admin/<command>   GET /export.csv
    report      GET  /report  /report.json (the after-class report, instructor only)
    sockets     WS   /ws/student  /ws/instructor  /ws/projector
    security    no routes: security headers, error handlers, body reading (every request)
"""

from __future__ import annotations

from server.auth import Signer
from server.room.room import Room
from server.web import hypercorn_patch
from server.web.connection import MAX_WS_MESSAGE_BYTES
from server.web.instructor import instructor
from server.web.pages import pages, static_dir
from server.web.quiz_app import QuizApp
from server.web.report import report
from server.web.security import MAX_BODY_BYTES, security
from server.web.sockets import sockets
from server.web.students import students

__all__ = ["MAX_BODY_BYTES", "MAX_WS_MESSAGE_BYTES", "create_app", "static_dir"]

BLUEPRINTS = (security, pages, students, instructor, report, sockets)


def create_app(room: Room, signer: Signer, admin_token: str) -> QuizApp:
    """The web app serving `room`: every blueprint registered, Hypercorn patched (see hypercorn_patch)."""
    # The sockets send FrameBatch values that only the patched Hypercorn frames correctly;
    # apply() refuses to start on a Hypercorn it was not written for.
    hypercorn_patch.apply()
    app = QuizApp(__name__, room, signer, admin_token)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["JSON_SORT_KEYS"] = False
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 0
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
