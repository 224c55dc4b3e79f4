"""The HTML pages, their static files and the health check."""
from __future__ import annotations

import functools
from pathlib import Path

from quart import Blueprint, Response, jsonify, request, send_from_directory

import server
from server.auth import INSTRUCTOR_COOKIE, INSTRUCTOR_COOKIE_MAX_AGE_S, tokens_equal
from server.web.quiz_app import quiz_app
from server.web.security import error_response, instructor_cookie_valid, refuse_instructor, set_cookie

INSTRUCTOR_TOKEN_REQUIRED_PAGE = (
    "<!doctype html><title>Instructor</title><h1>401: instructor token required</h1>"
    "<p>Open the instructor URL printed by <code>quizctl serve</code>.</p>"
)


@functools.cache
def static_dir() -> Path:
    """Installed: server/static (package data). From a checkout: the repository's static/."""
    package_dir = Path(server.__file__).resolve().parent
    for candidate in (package_dir / "static", package_dir.parent / "static"):
        if (candidate / "student.html").exists():
            return candidate
    raise FileNotFoundError("static files not found next to the server package")


pages = Blueprint("pages", __name__)


@pages.get("/")
async def student_page() -> Response:
    """The student's page."""
    return await send_from_directory(static_dir(), "student.html")


@pages.get("/projector")
async def projector_page() -> Response:
    """The projector's page (public: it never shows who answered what)."""
    return await send_from_directory(static_dir(), "projector.html")


@pages.get("/instructor")
async def instructor_page() -> Response:
    """The dashboard, for the instructor cookie or `?token=`; a valid token also sets the cookie."""
    app = quiz_app()
    token = request.args.get("token")
    cookie_ok = instructor_cookie_valid(request.cookies)
    if not cookie_ok and not tokens_equal(token, app.admin_token):
        await refuse_instructor(request.remote_addr or "?")
        return Response(INSTRUCTOR_TOKEN_REQUIRED_PAGE, status=401, content_type="text/html; charset=utf-8")
    response = await send_from_directory(static_dir(), "instructor.html")
    if token and not cookie_ok:
        cookie = app.signer.instructor_cookie(app.admin_token, app.room.clock.now_ms())
        set_cookie(response, INSTRUCTOR_COOKIE, cookie, INSTRUCTOR_COOKIE_MAX_AGE_S)
    return response


@pages.get("/static/<path:filename>")
async def static_file(filename: str) -> Response:
    """The pages' scripts, styles and images (paths that leave the directory are 404)."""
    return await send_from_directory(static_dir(), filename)


MEDIA_MAX_AGE_S = 365 * 24 * 3600


@pages.get("/media/<name>")
async def media(name: str) -> Response:
    """A pool image at its content-hash URL: the same name is always the same bytes, so cache it for good."""
    image = quiz_app().media.get(name)
    if image is None:
        return error_response("not_found", "No such image.", 404)
    response = Response(image.data, content_type=image.content_type)
    response.headers["Cache-Control"] = f"public, max-age={MEDIA_MAX_AGE_S}, immutable"
    return response


@pages.get("/healthz")
async def healthz() -> Response:
    """Liveness for monitors: storage health, state and head counts, nothing personal."""
    status = quiz_app().room.status()
    return jsonify(
        {
            "ok": True,
            "storage_ok": status["storage_error"] is None,
            "state": status["state"],
            "participants": status["participants"],
            "connected": status["connected"],
        }
    )
