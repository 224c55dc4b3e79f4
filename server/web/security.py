"""What every route shares: security headers, error shapes, JSON bodies, cookies and who the caller is.

The blueprint registers app-wide hooks only (it has no routes of its own); the helpers
are called by the handlers of the other blueprints.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from quart import Blueprint, Response, jsonify, request, websocket
from quart.wrappers import BaseRequestWebsocket
from werkzeug.exceptions import HTTPException

from server.auth import INSTRUCTOR_COOKIE, STUDENT_COOKIE, tokens_equal
from server.session.errors import RoomError
from server.session.model import Participant
from server.web.origin import RefusalLog, cross_origin_reason, server_origin
from server.web.quiz_app import quiz_app

log = logging.getLogger("quizctl.http")

MAX_BODY_BYTES = 16 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Responses that carry a participant's own data or the class's results: never cached.
NO_STORE_PATHS = ("/me", "/export.csv")
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
# Methods that change nothing: any page may send them (GET routes stay open to links and bookmarks).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_MEDIA_TYPE = "application/json"
CROSS_ORIGIN_MESSAGE = "Requests from another site's page are refused."
# What every response carries (the CSP unless a route set its own; see security_headers).
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)

security = Blueprint("security", __name__)


# ---------------------------------------------------------------- app-wide hooks


@security.before_app_request
async def read_the_whole_body() -> None:
    """Read the request body (at most MAX_BODY_BYTES; more is a 413) before any handler answers."""
    # Answering before the request body is read (a 401 ahead of parsing, say) can leave
    # Hypercorn 0.18's kept-alive connection stuck: the client's next request on it hangs.
    # Reading it first keeps every connection usable.
    await request.get_data()


@security.before_app_request
async def refuse_other_sites_requests() -> Response | None:
    """403 `cross_origin` for a state-changing request sent by another site's page (see server.web.origin)."""
    if request.method in SAFE_METHODS:
        return None
    return cross_origin_refusal(request, f"{request.method} {request.path}")


@security.before_app_websocket
async def refuse_other_sites_websockets() -> Response | None:
    """Every websocket opened by another site's page: its handshake is answered 403 `cross_origin`, never accepted.

    The projector's socket too: it only reads what the hall sees, but no page elsewhere
    needs it, and a refused reader costs nothing.
    """
    return cross_origin_refusal(websocket, f"websocket {websocket.path}")


@security.after_app_request
async def security_headers(response: Response) -> Response:
    """The headers every HTTP response carries."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    for name, value in SECURITY_HEADERS[1:]:
        response.headers[name] = value
    if response.mimetype == "application/json" or request.path in NO_STORE_PATHS:
        # Answers about people and state are never stored; a route that set its own policy
        # (a static catalog, revalidated by its ETag) keeps it.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@security.app_errorhandler(RoomError)
async def handle_room_error(exc: RoomError) -> Response:
    """A refused request, in the contract's error shape."""
    return error_response(exc.code, exc.message, exc.status)


@security.app_errorhandler(HTTPException)
async def handle_http_error(exc: HTTPException) -> Response:
    """Routing and size errors (404, 405, 413, ...), in the contract's error shape."""
    code = HTTP_ERROR_CODES.get(exc.code or 500, "bad_request")
    response = error_response(code, exc.description or exc.name, exc.code or 400)
    if exc.code == 413:
        # The rest of the body was never read: this connection cannot carry another request.
        response.headers["Connection"] = "close"
    return response


@security.app_errorhandler(Exception)
async def handle_unexpected(exc: Exception) -> Response:
    """A bug: logged with its traceback, answered without details."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response("internal_error", "Something went wrong on the server.", 500)


# ---------------------------------------------------------------- responses and bodies


def cross_origin_refusal(incoming: BaseRequestWebsocket, route: str) -> Response | None:
    """The 403 for a request or handshake from another site's page (logged), or None when it may go on."""
    app = quiz_app()
    host = incoming.headers.get("Host")
    own = server_origin(app.room.settings.public_url, incoming.scheme, host)
    # With --public-url, a page opened at the address the request went to (the laptop's own
    # localhost, say) is the same origin too; a sibling subdomain's page sends another Host.
    served_at = server_origin(None, incoming.scheme, host)
    reason = cross_origin_reason(
        incoming.headers.getlist("Origin"), incoming.headers.get("Sec-Fetch-Site"), own, served_at
    )
    if reason is None:
        return None
    refusals: RefusalLog = app.extensions.setdefault("origin_refusals", RefusalLog())
    refusals.refused(incoming.remote_addr or "?", route, reason)
    return error_response("cross_origin", CROSS_ORIGIN_MESSAGE, 403)


def error_response(code: str, message: str, status: int) -> Response:
    """`{"error": code, "message": message}` with `status`."""
    response = jsonify({"error": code, "message": message})
    response.status_code = status
    return response


def strict_json_loads(text: str) -> Any:
    """`json.loads` without NaN and Infinity (ValueError, like any other malformed JSON)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def json_body(*, empty_is_empty_object: bool = False) -> dict[str, Any]:
    """The request body as a JSON object: RoomError `unsupported_media_type` or `bad_json` otherwise.

    A body that declares a type must declare `application/json` (parameters such as a
    charset are allowed): `text/plain` and the form encodings are what an HTML form or a
    script on another site can send without a CORS preflight, so they are refused (415)
    before the body is read. A body without a Content-Type is read as JSON: non-browser
    clients send it (`quizctl` scripts, httpx's `content=`), and a browser sends one only
    from a script, with an `Origin` the origin check has already judged. With
    `empty_is_empty_object` an empty body is `{}` (an operator command without arguments).
    """
    raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    return json_object(raw, request.headers.get("Content-Type"), empty_is_empty_object=empty_is_empty_object)


def json_object(raw: bytes, content_type: str | None, *, empty_is_empty_object: bool = False) -> dict[str, Any]:
    """A request body as a JSON object (see `json_body`, whose rules these are): RoomError otherwise."""
    if content_type is not None and content_type.split(";")[0].strip().lower() != JSON_MEDIA_TYPE:
        raise RoomError("unsupported_media_type", "Send the body as JSON, with Content-Type: application/json.", 415)
    if empty_is_empty_object and not raw.strip():
        return {}
    try:
        body = strict_json_loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RoomError("bad_json", "The request body must be a JSON object.") from exc
    if not isinstance(body, dict):
        raise RoomError("bad_json", "The request body must be a JSON object.")
    return body


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """Every cookie we set: HttpOnly, SameSite=Lax, Secure when the public URL is https."""
    secure = quiz_app().room.settings.cookies_secure
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax", secure=secure, path="/")


# ---------------------------------------------------------------- who is asking


def current_participant(cookies: Any) -> Participant | None:
    """The participant whose valid, still-current student cookie is in `cookies`, if any."""
    return quiz_app().student_of(cookies.get(STUDENT_COOKIE))


def not_joined() -> Response:
    """401 `not_joined`, clearing the student cookie that did not identify anybody."""
    response = error_response("not_joined", "Join first: your session cookie is missing or no longer valid.", 401)
    response.delete_cookie(STUDENT_COOKIE, path="/", httponly=True, samesite="Lax")
    return response


def instructor_cookie_valid(cookies: Any) -> bool:
    """Whether `cookies` hold an instructor cookie issued for the current admin token."""
    app = quiz_app()
    return app.signer.instructor_cookie_valid(cookies.get(INSTRUCTOR_COOKIE), app.admin_token, app.room.clock.now_ms())


def instructor_authorized(cookies: Any, headers: Any, args: Any) -> bool:
    """The instructor cookie, a `Bearer` Authorization header or a `?token=` query argument."""
    if instructor_cookie_valid(cookies):
        return True
    given = args.get("token")
    authorization = headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        given = authorization[len("Bearer ") :].strip()
    return tokens_equal(given, quiz_app().admin_token)


async def refuse_instructor(source: str) -> None:
    """Count a wrong instructor token from `source` and wait out its growing penalty."""
    await quiz_app().limits.token_failures.failed(source)


async def instructor_required() -> Response:
    """The 401 of an instructor HTTP route called without a valid token (after its penalty)."""
    await refuse_instructor(request.remote_addr or "?")
    return error_response("unauthorized", "Instructor token required.", 401)
