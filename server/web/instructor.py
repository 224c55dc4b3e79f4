"""The instructor's HTTP routes: operator commands and the results export."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from server.control import commands
from server.web.quiz_app import quiz_app
from server.web.security import instructor_authorized, instructor_required, json_body

instructor = Blueprint("instructor", __name__)


@instructor.get("/export.csv")
async def export_csv() -> Response:
    """The session's results as a CSV download (`?format=`, `?excel=1`)."""
    if not instructor_authorized(request.cookies, request.headers, request.args):
        return await instructor_required()
    room = quiz_app().room
    args = {"format": request.args.get("format", "wide"), "excel": request.args.get("excel") in ("1", "true")}
    result = await commands.run_command(room, "export", args)
    filename = f"{room.record.sid}-results.csv"
    return Response(
        result["csv"],
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@instructor.post("/admin/<command>")
async def admin_command(command: str) -> Response:
    """Run an operator command; the JSON body (if any) holds its arguments."""
    if not instructor_authorized(request.cookies, request.headers, request.args):
        return await instructor_required()
    # No body means no arguments; a chunked one (no Content-Length) is read like any other.
    body = await json_body(empty_is_empty_object=True)
    result = await commands.run_command(quiz_app().room, command, body)
    return jsonify({"ok": True, "result": result})
