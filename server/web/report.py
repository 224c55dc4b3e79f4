"""The after-class report of the current session, live: `GET /report` (HTML) and `GET /report.json` (figures).

Instructor only (the cookie, a Bearer token or `?token=`, as `/export.csv`): the report names
students and shows their scores. It is built from the room's memory, the open question's answers
included, so it can be opened during class as well as after.

The room's state is copied into plain data on the event loop (`collect`, linear in the answers,
no await in between, so it is one consistent moment); the statistics and the HTML, the larger
part of the work for a big class, run on a worker thread so answers keep being acknowledged
meanwhile. One report is computed at a time per server: a second request waits its turn rather
than doubling the load.
"""

from __future__ import annotations

import trio
from quart import Blueprint, Response, jsonify, request

from server.reports import collect
from server.reports.report_style import CSP
from server.web.quiz_app import quiz_app
from server.web.security import instructor_authorized, instructor_required

report = Blueprint("report", __name__)

_LIMITER_KEY = "quizctl.report_limiter"


def _limiter() -> trio.CapacityLimiter:
    """The app's one-report-at-a-time limiter (made in the app's own trio run, on first use)."""
    extensions = quiz_app().extensions
    limiter = extensions.get(_LIMITER_KEY)
    if limiter is None:
        limiter = extensions[_LIMITER_KEY] = trio.CapacityLimiter(1)
    assert isinstance(limiter, trio.CapacityLimiter)
    return limiter


def _snapshot() -> collect.CollectedSession:
    room = quiz_app().room
    return collect.collect(room.record, now_ms=room.clock.now_ms())


@report.get("/report")
async def report_html() -> Response:
    """The current session's report as one self-contained HTML page (inline CSS and SVG, pictures inlined)."""
    if not instructor_authorized(request.cookies, request.headers, request.args):
        return await instructor_required()
    sessions = [_snapshot()]

    def work() -> str:
        return collect.render(collect.analyse(sessions), sessions)

    page = await trio.to_thread.run_sync(work, limiter=_limiter())
    response = Response(page, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    # The report's own policy: inline styles and data: pictures only, nothing fetched. The pages'
    # policy (server.web.security) forbids inline styles, so it must not replace this one.
    response.headers["Content-Security-Policy"] = CSP
    return response


@report.get("/report.json")
async def report_json() -> Response:
    """The current session's report figures as JSON (the same as `quizctl report --json`)."""
    if not instructor_authorized(request.cookies, request.headers, request.args):
        return await instructor_required()
    sessions = [_snapshot()]
    figures = await trio.to_thread.run_sync(lambda: collect.analyse(sessions).to_json(), limiter=_limiter())
    response = jsonify(figures)
    response.headers["Cache-Control"] = "no-store"
    return response
