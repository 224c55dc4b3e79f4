"""A student's HTTP routes: joining, their own state, and page events."""

from __future__ import annotations

import trio
from quart import Blueprint, Response, jsonify, request

from server.auth import STUDENT_COOKIE, STUDENT_COOKIE_MAX_AGE_S
from server.room.inputs import EVENT_KINDS
from server.throttle import RateLimiter
from server.web.join_endpoint import join_room
from server.web.quiz_app import quiz_app
from server.web.security import current_participant, error_response, json_body, not_joined, set_cookie

students = Blueprint("students", __name__)


@students.post("/join")
async def join() -> Response:
    """Join (or rejoin) the room; the answer sets the signed student cookie.

    Served ahead of Quart by join_endpoint.AsgiJoin (the same `join_room`); this route keeps
    `/join` in the routing table and answers when the app is called without the fast path.
    """
    body = await json_body()
    current = current_participant(request.cookies)
    user_agent = request.headers.get("User-Agent", "")
    answer, cookie = await join_room(quiz_app(), body, current, request.remote_addr or "?", user_agent)
    response = jsonify(answer)
    set_cookie(response, STUDENT_COOKIE, cookie, STUDENT_COOKIE_MAX_AGE_S)
    return response


@students.get("/me")
async def me() -> Response:
    """The caller's own view of the room, or 401 `not_joined`."""
    participant = current_participant(request.cookies)
    if participant is None:
        return not_joined()
    return jsonify(quiz_app().room.me(participant))


@students.post("/event")
async def event() -> Response:
    """Record a page event (blur, focus, ...); 204, or 429 past the participant's rate."""
    app = quiz_app()
    participant = current_participant(request.cookies)
    if participant is None:
        return not_joined()
    body = await json_body()
    saved = body.get("kind") in EVENT_KINDS  # only events that would be saved count
    if saved and app.limits.event_limiter(participant.student_id).hit(trio.current_time()) != RateLimiter.OK:
        return error_response("rate_limited", "Too many events; slow down.", 429)
    await app.room.record_event(participant, body.get("kind"), body.get("question_idx"))
    return Response("", status=204)
