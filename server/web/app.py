"""HTTP and websocket transport: translates requests into room calls and room output into frames.

Handlers stay thin: parse and authenticate, call the room (or `commands.run_command`),
turn RoomError into the contract's error shapes. Every websocket connection gets a
`ClientConnection` (bounded queue + sender task) and runs inside its own cancel scope.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from quart import Response, jsonify, request, send_from_directory, websocket
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

import server
from server.control import commands
from server.room import messages
from server.auth import (
    INSTRUCTOR_COOKIE,
    INSTRUCTOR_COOKIE_MAX_AGE_S,
    STUDENT_COOKIE,
    STUDENT_COOKIE_MAX_AGE_S,
    Signer,
    StudentIdentity,
    tokens_equal,
)
from server.room.hub import ClientConnection, ClientKind, CloseCode
from server.room.messages import dumps
from server.session.model import Participant
from server.room.inputs import EVENT_KINDS
from server.room.room import Room
from server.session.errors import RoomError
from server.web.hypercorn_patch import FrameBatch
from server.throttle import FailureThrottle, RateLimiter

log = logging.getLogger("quizctl.http")

MAX_BODY_BYTES = 16 * 1024
MAX_WS_MESSAGE_BYTES = 16 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def static_dir() -> Path:
    """Installed: server/static (package data). From a checkout: the repository's static/."""
    package_dir = Path(server.__file__).resolve().parent
    for candidate in (package_dir / "static", package_dir.parent / "static"):
        if (candidate / "student.html").exists():
            return candidate
    raise FileNotFoundError("static files not found next to the server package")


def create_app(room: Room, signer: Signer, admin_token: str) -> QuartTrio:
    settings = room.settings
    app = QuartTrio(__name__, static_folder=str(static_dir()), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["JSON_SORT_KEYS"] = False
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 0
    pages = static_dir()
    token_failures = FailureThrottle("instructor token")
    connections_per_ip: dict[str, int] = {}
    # One bucket per participant (bounded by the class size): each event is a database row.
    event_limiters: dict[str, RateLimiter] = {}

    # ---------------------------------------------------------------- helpers

    def error_response(code: str, message: str, status: int) -> Response:
        response = jsonify({"error": code, "message": message})
        response.status_code = status
        return response

    def room_error(exc: RoomError) -> Response:
        return error_response(exc.code, exc.message, exc.status)

    async def json_body() -> dict[str, Any]:
        raw = await request.get_data(cache=False)
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise RoomError("bad_json", "The request body must be a JSON object.") from exc
        if not isinstance(body, dict):
            raise RoomError("bad_json", "The request body must be a JSON object.")
        return body

    def student_identity(cookies: Any) -> StudentIdentity | None:
        return signer.read_student_cookie(cookies.get(STUDENT_COOKIE), room.clock.now_ms())

    def current_participant(cookies: Any) -> Participant | None:
        identity = student_identity(cookies)
        if identity is None:
            return None
        return room.authenticate(identity.sid, identity.student_id, identity.cookie_id)

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        """Every cookie we set: HttpOnly, SameSite=Lax, Secure when the public URL is https."""
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="Lax", secure=settings.cookies_secure, path="/"
        )

    def not_joined() -> Response:
        response = error_response("not_joined", "Join first: your session cookie is missing or no longer valid.", 401)
        response.delete_cookie(STUDENT_COOKIE, path="/", httponly=True, samesite="Lax")
        return response

    def instructor_authorized(cookies: Any, headers: Any, args: Any) -> bool:
        if signer.instructor_cookie_valid(cookies.get(INSTRUCTOR_COOKIE), admin_token, room.clock.now_ms()):
            return True
        given = args.get("token")
        authorization = headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            given = authorization[len("Bearer ") :].strip()
        return tokens_equal(given, admin_token)

    async def refuse_instructor(source: str) -> None:
        await token_failures.failed(source)

    # ---------------------------------------------------------------- headers and errors

    @app.before_request
    async def read_the_whole_body() -> None:
        # Answering before the request body is read (a 401 ahead of parsing, say) can leave
        # Hypercorn 0.18's kept-alive connection stuck: the client's next request on it hangs.
        # Reading it first (at most MAX_BODY_BYTES; more is a 413) keeps every connection usable.
        await request.get_data()

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if response.mimetype == "application/json" or request.path in ("/me", "/export.csv"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(RoomError)
    async def handle_room_error(exc: RoomError) -> Response:
        return room_error(exc)

    @app.errorhandler(HTTPException)
    async def handle_http_error(exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.code or 500, "bad_request")
        response = error_response(code, exc.description or exc.name, exc.code or 400)
        if exc.code == 413:
            # The rest of the body was never read: this connection cannot carry another request.
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Exception)
    async def handle_unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal_error", "Something went wrong on the server.", 500)

    # ---------------------------------------------------------------- pages

    @app.get("/")
    async def student_page() -> Response:
        return await send_from_directory(pages, "student.html")

    @app.get("/projector")
    async def projector_page() -> Response:
        return await send_from_directory(pages, "projector.html")

    @app.get("/instructor")
    async def instructor_page() -> Response:
        token = request.args.get("token")
        cookie_ok = signer.instructor_cookie_valid(request.cookies.get(INSTRUCTOR_COOKIE), admin_token, room.clock.now_ms())
        if not cookie_ok and not tokens_equal(token, admin_token):
            await refuse_instructor(request.remote_addr or "?")
            return Response(
                "<!doctype html><title>Instructor</title><h1>401: instructor token required</h1>"
                "<p>Open the instructor URL printed by <code>quizctl serve</code>.</p>",
                status=401,
                content_type="text/html; charset=utf-8",
            )
        response = await send_from_directory(pages, "instructor.html")
        if token and not cookie_ok:
            set_cookie(
                response, INSTRUCTOR_COOKIE, signer.instructor_cookie(admin_token, room.clock.now_ms()),
                INSTRUCTOR_COOKIE_MAX_AGE_S,
            )
        return response

    @app.get("/healthz")
    async def healthz() -> Response:
        status = room.status()
        return jsonify(
            {
                "ok": True,
                "storage_ok": status["storage_error"] is None,
                "state": status["state"],
                "participants": status["participants"],
                "connected": status["connected"],
            }
        )

    # ---------------------------------------------------------------- students

    @app.post("/join")
    async def join() -> Response:
        body = await json_body()
        current = current_participant(request.cookies)
        detail = f"{request.remote_addr or '?'} {request.headers.get('User-Agent', '')[:120]}"
        participant = await room.join(body.get("student_id"), body.get("name"), current=current, detail=detail)
        response = jsonify({"student_id": participant.student_id, "name": participant.name, "sid": room.record.sid})
        identity = StudentIdentity(room.record.sid, participant.student_id, participant.cookie_id, room.clock.now_ms())
        set_cookie(response, STUDENT_COOKIE, signer.student_cookie(identity), STUDENT_COOKIE_MAX_AGE_S)
        return response

    @app.get("/me")
    async def me() -> Response:
        participant = current_participant(request.cookies)
        if participant is None:
            return not_joined()
        return jsonify(room.me(participant))

    @app.post("/event")
    async def event() -> Response:
        participant = current_participant(request.cookies)
        if participant is None:
            return not_joined()
        body = await json_body()
        if body.get("kind") in EVENT_KINDS:  # only events that would be saved count
            limiter = event_limiters.setdefault(participant.student_id, RateLimiter(rate=2.0, burst=20.0, strikes=10**9))
            if limiter.hit(trio.current_time()) != RateLimiter.OK:
                return error_response("rate_limited", "Too many events; slow down.", 429)
        await room.record_event(participant, body.get("kind"), body.get("question_idx"))
        return Response("", status=204)

    # ---------------------------------------------------------------- instructor HTTP

    @app.get("/export.csv")
    async def export_csv() -> Response:
        if not instructor_authorized(request.cookies, request.headers, request.args):
            await refuse_instructor(request.remote_addr or "?")
            return error_response("unauthorized", "Instructor token required.", 401)
        args = {"format": request.args.get("format", "wide"), "excel": request.args.get("excel") in ("1", "true")}
        result = await commands.run_command(room, "export", args)
        filename = f"{room.record.sid}-results.csv"
        return Response(
            result["csv"],
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @app.post("/admin/<command>")
    async def admin_command(command: str) -> Response:
        if not instructor_authorized(request.cookies, request.headers, request.args):
            await refuse_instructor(request.remote_addr or "?")
            return error_response("unauthorized", "Instructor token required.", 401)
        # No body means no arguments; a chunked one (no Content-Length) is read like any other.
        body = await json_body() if (await request.get_data()).strip() else {}
        result = await commands.run_command(room, command, body)
        return jsonify({"ok": True, "result": result})

    # ---------------------------------------------------------------- websockets

    async def run_connection(
        client: ClientConnection,
        on_connect: Callable[[ClientConnection], None],
        on_message: Callable[[ClientConnection, dict[str, Any]], Awaitable[None]],
        on_disconnect: Callable[[ClientConnection], None],
        on_frame: Callable[[], None] = lambda: None,
    ) -> None:
        """Serve one websocket: its sender task, the receive loop with its limits, and pings.

        `on_message` gets each parsed message other than `ping`; malformed frames are
        answered with `bad_message` here and the socket stays open.
        """
        address = websocket.remote_addr or "?"
        limit = settings.max_connections_per_ip
        if limit and connections_per_ip.get(address, 0) >= limit:
            await websocket.close(CloseCode.POLICY, "too many connections from this address")
            return
        connections_per_ip[address] = connections_per_ip.get(address, 0) + 1
        rate = RateLimiter()
        try:
            with client.cancel_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.run_sender, send_batch, websocket.close)
                    on_connect(client)
                    try:
                        while True:
                            data = await websocket.receive()
                            on_frame()
                            verdict = rate.hit(trio.current_time())
                            if verdict == RateLimiter.DROP:
                                client.close(CloseCode.POLICY, "too many messages")
                                continue
                            if verdict == RateLimiter.SLOW_DOWN:
                                client.send(dumps(messages.error("rate_limited", "Too many messages; slow down.")))
                                continue
                            if not isinstance(data, str) or len(data) > MAX_WS_MESSAGE_BYTES:
                                client.send(dumps(messages.error("bad_message", "Send JSON text messages.")))
                                continue
                            message = parse_message(client, data)
                            if message is None:
                                continue
                            if message["type"] == "ping":
                                client.send(messages.PONG)
                                continue
                            await on_message(client, message)
                    finally:
                        on_disconnect(client)
        finally:
            connections_per_ip[address] -= 1
            if not connections_per_ip[address]:
                del connections_per_ip[address]

    async def send_batch(texts: list[str]) -> None:
        """Queued messages in one socket write (see hypercorn_patch.FrameBatch)."""
        await websocket.send(texts[0] if len(texts) == 1 else FrameBatch(texts))

    def parse_message(client: ClientConnection, data: str) -> dict[str, Any] | None:
        try:
            message = json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            client.send(dumps(messages.error("bad_message", 'Messages are JSON objects with a "type".')))
            return None
        return message

    @app.websocket("/ws/student")
    async def ws_student() -> None:
        participant = current_participant(websocket.cookies)
        await websocket.accept()
        if participant is None:
            await websocket.close(CloseCode.UNAUTHORIZED, "not joined or cookie no longer valid")
            return
        client = ClientConnection(ClientKind.STUDENT, settings.student_queue_size, participant.student_id)

        async def on_message(client: ClientConnection, message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "submit":
                try:
                    client.send(await room.submit(participant, message.get("question_idx"), message.get("answer")))
                except RoomError as exc:
                    client.send(dumps(messages.error(exc.code, exc.message)))
            else:
                client.send(dumps(messages.error("bad_message", f"Unknown message type {kind[:40]!r}.")))

        await run_connection(
            client,
            lambda c: room.connect_student(c, participant),
            on_message,
            lambda c: room.disconnect_student(c, participant),
            on_frame=lambda: room.touch(participant),
        )

    @app.websocket("/ws/instructor")
    async def ws_instructor() -> None:
        authorized = instructor_authorized(websocket.cookies, websocket.headers, websocket.args)
        await websocket.accept()
        if not authorized:
            await refuse_instructor(websocket.remote_addr or "?")
            await websocket.close(CloseCode.UNAUTHORIZED, "instructor token required")
            return
        client = ClientConnection(ClientKind.INSTRUCTOR, settings.instructor_queue_size)

        async def on_message(client: ClientConnection, message: dict[str, Any]) -> None:
            kind = message["type"]
            command = commands.INSTRUCTOR_MESSAGES.get(kind)
            if command is None:
                client.send(dumps(messages.error("bad_message", f"Unknown message type {kind[:40]!r}.")))
                return
            args = {k: v for k, v in message.items() if k != "type"}
            if command == "reset":
                args["confirm"] = True  # the dashboard asks before sending it
            try:
                result = await commands.run_command(room, command, args)
                client.send(dumps(messages.command_result(kind, result)))
            except RoomError as exc:
                client.send(dumps(messages.error(exc.code, exc.message)))

        await run_connection(client, room.connect_instructor, on_message, room.disconnect)

    @app.websocket("/ws/projector")
    async def ws_projector() -> None:
        await websocket.accept()
        client = ClientConnection(ClientKind.PROJECTOR, settings.instructor_queue_size)

        async def read_only(client: ClientConnection, message: dict[str, Any]) -> None:
            """The projector only listens (and pings)."""

        await run_connection(client, room.connect_projector, read_only, room.disconnect)

    return app


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
