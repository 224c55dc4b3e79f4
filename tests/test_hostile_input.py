"""Hostile input: every route gets contract errors for garbage, never a 500 or a stack trace.

Two halves:

- Property tests (Hypothesis). The server runs in a background thread with its own trio
  loop (`ServerThread`: the real Hypercorn app on an ephemeral port, real SQLite), and
  each `@given` test is a plain synchronous test speaking real HTTP (httpx) to it; its
  websocket and control-socket exchanges (`WebSocketClient`, which can send any frame,
  broken UTF-8 included, and `ControlClient`) run on the server's loop through
  `trio.from_thread`, where the room is inspected too. Every example checks the reply's
  shape and code; at the end of each test no error was logged and the server still answers.
- Limits, as plain trio tests against an in-process server: body size, websocket
  message size, id and name rules, messages per second per socket, connections per
  address.
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server import throttle
from server.web.app import MAX_BODY_BYTES, MAX_WS_MESSAGE_BYTES
from server.auth import STUDENT_COOKIE
from server.control.socket import MAX_LINE_BYTES
from server.session.model import SessionState, SubmissionStatus
from server.quiz.pool import Pool, load_pool
from server.serve import RunningServer
from tests.helpers import POOLS, ControlClient, ServerThread, WebSocketClient, join_all, running_server

HTTP_ERROR_CODES = {
    "bad_json", "bad_student_id", "bad_name", "duplicate_student_id", "not_joined", "bad_event", "bad_question",
    "bad_answer", "not_open", "time_expired", "bad_message", "unknown_command", "confirmation_required",
    "bad_time_limit", "already_asked", "session_finished", "bad_state", "unknown_student", "bad_format",
    "unauthorized", "not_found", "method_not_allowed", "body_too_large", "bad_request", "unsupported_media_type",
}
WS_ERROR_CODES = HTTP_ERROR_CODES | {"rate_limited"}
CONTROL_ERROR_CODES = HTTP_ERROR_CODES | {"line_too_long", "idle_timeout", "busy"}
EXAMPLES = Counter[str]()
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


class ErrorLog(logging.Handler):
    """Collects every ERROR record and every record with a traceback, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="module")
def student_side(tmp_path_factory: pytest.TempPathFactory, error_log: ErrorLog) -> Iterator[dict[str, Any]]:
    """A server with question 0 open for an hour and a joined student `fuzz` (its cookie)."""
    with ServerThread(tmp_path_factory.mktemp("students") / "d", load_pool(POOLS / "tiny.json")) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            joined = http.post("/join", json={"student_id": "fuzz", "name": "Fuzz"})
            cookie = f"{STUDENT_COOKIE}={joined.cookies[STUDENT_COOKIE]}"
            opened = http.post(
                "/admin/open", json={"question_idx": 0, "time_limit": 3600},
                headers={"Authorization": f"Bearer {server.token}"},
            )
            assert opened.status_code == 200
        yield {"server": server, "cookie": cookie}
    assert error_log.records == []


@pytest.fixture(scope="module")
def operator_side(tmp_path_factory: pytest.TempPathFactory, error_log: ErrorLog) -> Iterator[ServerThread]:
    """A server for the instructor, admin and control-socket fuzzing (which changes its state)."""
    with ServerThread(tmp_path_factory.mktemp("operator") / "d", load_pool(POOLS / "tiny.json")) as server:
        yield server
    assert error_log.records == []


@pytest.fixture(scope="module", autouse=True)
def example_counts() -> Iterator[None]:
    yield
    if EXAMPLES:
        print("\nHypothesis examples run: " + ", ".join(f"{k} {v}" for k, v in sorted(EXAMPLES.items()))
              + f"; total {sum(EXAMPLES.values())}")


@contextmanager
def unthrottled() -> Iterator[None]:
    """Wrong tokens are slowed down on purpose; these tests send many and judge only the verdict."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(throttle.FailureThrottle, "BASE_DELAY_S", 0.0)
        yield


# ---------------------------------------------------------------- strategies

# Beyond 64 bits; runs of thousands of digits (past what Python will parse) are sent raw below.
huge_ints = st.integers(min_value=2**63, max_value=10**400) | st.integers(max_value=-(2**63), min_value=-(10**400))
scalars = st.none() | st.booleans() | st.integers() | huge_ints | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
deep_nesting = st.integers(min_value=50, max_value=20_000).flatmap(
    lambda depth: st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth, "[" * depth])
)
long_digits = st.integers(min_value=4200, max_value=9000).map(lambda n: '{"question_idx": ' + "7" * n + "}")
odd_constants = st.sampled_from(["NaN", "Infinity", "-Infinity", '{"x": NaN}', '{"student_id": Infinity}', "1e999"])
id_like = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,70}", fullmatch=True) | st.text(max_size=80)
name_like = st.text(max_size=100) | st.text(st.characters(codec="utf-8"), min_size=75, max_size=90)


def json_text(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # NaN and Infinity tokens go over the wire as is


def _refuse(name: str) -> Any:
    raise ValueError(name)


def strict_json(text: str) -> bool:
    """Would a strict JSON parser (no NaN or Infinity) accept `text`?"""
    try:
        json.loads(text, parse_constant=_refuse)
        return True
    except ValueError:
        return False


def shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the route's own keys (values anything) plus stray keys."""
    return st.fixed_dictionaries(
        {}, optional={**fields, "extra": json_values, "__proto__": json_values}
    )


def bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        shaped(fields).map(json_text).map(str.encode),
        json_values.map(json_text).map(str.encode),
        deep_nesting.map(str.encode),
        long_digits.map(str.encode),
        odd_constants.map(str.encode),
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


def check_http(response: httpx.Response, allowed: set[int]) -> dict[str, Any] | None:
    """A contract answer: an allowed status, no trace, and errors shaped {"error", "message"}."""
    text = response.text
    assert response.status_code in allowed, (response.status_code, text[:300])
    assert "Traceback" not in text and 'File "' not in text, text[:300]
    if response.status_code == 204:
        return None
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"} and body["error"] in HTTP_ERROR_CODES, body
        assert isinstance(body["message"], str) and body["message"]
        return body
    return response.json()


def snapshot(server: ServerThread) -> Any:
    def take() -> Any:
        room = server.running.room  # type: ignore[union-attr]
        return (
            str(room.state),
            room.record.current_question_idx,
            sorted(
                (p.student_id, p.name, p.total_units, tuple(sorted(p.submissions)), p.blur_count, p.hidden_count)
                for p in room.participants.values()
            ),
        )

    return server.call(take)


def check_room_invariants(server: ServerThread) -> None:
    def check() -> None:
        room = server.running.room  # type: ignore[union-attr]
        record = room.record
        state = room.state
        assert state in SessionState
        if state is SessionState.QUESTION_OPEN:
            assert record.current_question_idx in record.asked
            assert record.asked[record.current_question_idx].closed_at_ms is None
        for idx, asked in record.asked.items():
            assert 0 <= idx < len(room.pool.questions)
            if not (state is SessionState.QUESTION_OPEN and idx == record.current_question_idx):
                assert asked.closed_at_ms is not None, (state, idx)
        for participant in room.participants.values():
            assert set(participant.submissions) <= set(record.asked)
            for submission in participant.submissions.values():
                if submission.status is SubmissionStatus.SUBMITTED:
                    assert submission.answer in room.pool.questions[submission.question_idx].options

    server.call(check)


# ---------------------------------------------------------------- the oracle for ids and names


STUDENT_ID_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def expected_join(student_id: Any, name: Any) -> tuple[int, str | None]:
    """The documented rules (README: ids and names) as an oracle: (status, error code or None)."""
    if not isinstance(student_id, str) or not STUDENT_ID_RULE.fullmatch(student_id):
        return 400, "bad_student_id"
    if not isinstance(name, str):
        return 400, "bad_name"
    folded = unicodedata.normalize("NFC", " ".join(name.split()))
    if not folded or len(folded) > 80:
        return 400, "bad_name"
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in folded):
        return 400, "bad_name"
    return 200, None


# ---------------------------------------------------------------- properties: HTTP


@fuzz(400)
@given(student_id=id_like | json_values, name=name_like | json_values)
def test_join_follows_the_documented_rules_for_any_id_and_name(
    student_side: dict[str, Any], student_id: Any, name: Any
) -> None:
    EXAMPLES["POST /join (fields)"] += 1
    server: ServerThread = student_side["server"]
    before = snapshot(server)
    already = isinstance(student_id, str) and any(row[0] == student_id for row in before[2])
    text = json_text({"student_id": student_id, "name": name})
    if len(text.encode()) > MAX_BODY_BYTES:
        status, code = 413, "body_too_large"
    elif not strict_json(text):
        status, code = 400, "bad_json"
    else:
        status, code = expected_join(student_id, name)
    if status == 200 and already:
        status, code = 409, "duplicate_student_id"
    response = server.request("POST", "/join", content=text.encode())
    body = check_http(response, {200, 400, 409, 413})
    assert (response.status_code, body.get("error") if response.status_code != 200 else None) == (status, code)  # type: ignore[union-attr]
    if status == 200:
        folded = unicodedata.normalize("NFC", " ".join(name.split()))
        assert body == {"student_id": student_id, "name": folded, "sid": "tiny"}
        assert snapshot(server)[2] == sorted([*before[2], (student_id, folded, 0, (), 0, 0)])
    else:
        assert snapshot(server) == before


@fuzz(300)
@given(body=bodies({"student_id": id_like, "name": name_like}), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
))
def test_join_refuses_any_malformed_body(student_side: dict[str, Any], body: bytes, content_type: str) -> None:
    EXAMPLES["POST /join (bodies)"] += 1
    server: ServerThread = student_side["server"]
    before = snapshot(server)
    response = server.request("POST", "/join", content=body, headers={"Content-Type": content_type} if content_type else {})
    check_http(response, {200, 400, 409, 413, 415})
    if content_type not in ("application/json", "") and len(body) <= MAX_BODY_BYTES:
        assert response.status_code == 415  # what another site's page can send without a preflight
    if response.status_code != 200:
        assert snapshot(server) == before


@fuzz(300)
@given(
    body=bodies({"kind": st.sampled_from(["blur", "focus", "visibility_hidden", "visibility_visible"]) | json_values,
                 "question_idx": st.integers() | json_values}),
    with_cookie=st.booleans(),
)
def test_event_refuses_any_malformed_body(student_side: dict[str, Any], body: bytes, with_cookie: bool) -> None:
    EXAMPLES["POST /event"] += 1
    server: ServerThread = student_side["server"]
    before = snapshot(server)
    headers = {"Cookie": student_side["cookie"]} if with_cookie else {}
    response = server.request("POST", "/event", content=body, headers=headers)
    check_http(response, {204, 400, 401, 413})
    if not with_cookie:
        assert response.status_code in (401, 413)  # too big is refused whoever sends it
    if response.status_code != 204:
        assert snapshot(server) == before


def cookie_mutations(genuine: str) -> st.SearchStrategy[str]:
    body, _, mac = genuine.partition("=")[2].rpartition(".")
    printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";,\" \\"), max_size=300)
    return st.one_of(
        printable,
        st.tuples(st.integers(0, len(body) - 1), st.sampled_from("AZaz09-_.")).map(
            lambda p: body[: p[0]] + p[1] + body[p[0] + 1 :] + "." + mac
        ),
        st.integers(0, len(body) + len(mac)).map(lambda n: (body + "." + mac)[:n]),
        printable.map(lambda junk: body + "." + mac + junk),
        printable.map(lambda junk: junk + "." + mac),
        printable.map(lambda junk: body + "." + junk),
    ).filter(lambda value: value != body + "." + mac)


@fuzz(200)
@given(data=st.data())
def test_me_refuses_any_forged_cookie(student_side: dict[str, Any], data: st.DataObject) -> None:
    EXAMPLES["GET /me (cookies)"] += 1
    server: ServerThread = student_side["server"]
    value = data.draw(cookie_mutations(student_side["cookie"]))
    response = server.request("GET", "/me", headers={"Cookie": f"{STUDENT_COOKIE}={value}"})
    body = check_http(response, {401})
    assert body == {"error": "not_joined", "message": body["message"]}  # type: ignore[index]


ADMIN_COMMANDS = ["status", "next", "open", "close", "end", "leaderboard", "reset", "clear-student", "export"]


@fuzz(300)
@given(
    command=st.sampled_from(ADMIN_COMMANDS) | st.text(min_size=1, max_size=30),
    body=bodies({"question_idx": st.integers(-2, 5) | json_values, "time_limit": st.integers(0, 4000) | json_values,
                 "confirm": st.booleans() | json_values, "student_id": id_like | json_values,
                 "format": st.sampled_from(["wide", "long"]) | json_values, "excel": st.booleans() | json_values}),
    auth=st.sampled_from(["bearer", "none", "wrong"]),
)
def test_admin_commands_answer_any_body_with_a_contract_reply(
    operator_side: ServerThread, command: str, body: bytes, auth: str
) -> None:
    EXAMPLES["POST /admin/<cmd>"] += 1
    server = operator_side
    headers = {"bearer": {"Authorization": f"Bearer {server.token}"}, "none": {}, "wrong": {"Authorization": "Bearer nope"}}[auth]
    before = snapshot(server)
    with unthrottled():
        response = server.request("POST", "/admin/" + quote(command, safe=""), content=body, headers=headers)
    if response.status_code == 308:  # "/admin//x" (from an encoded slash) is redirected, not run
        assert urlparse(response.headers["location"]).path.startswith("/admin/")
        return
    reply = check_http(response, {200, 400, 401, 404, 405, 409, 413})
    if auth != "bearer" and response.status_code not in (404, 405, 413):
        assert response.status_code == 401 and snapshot(server) == before
    elif response.status_code == 200:
        assert reply["ok"] is True and isinstance(reply["result"], dict)  # type: ignore[index]
    check_room_invariants(server)


@fuzz(150)
@given(
    path=st.sampled_from(["/", "/projector", "/instructor", "/healthz", "/me", "/join", "/event", "/export.csv",
                          "/admin/status", "/static/student.js", "/ws/student", "/nope"]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    query=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=30), max_size=3),
    header=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60),
)
def test_every_route_answers_odd_methods_queries_and_headers(
    operator_side: ServerThread, path: str, method: str, query: dict[str, str], header: str
) -> None:
    EXAMPLES["any route (method/query/header)"] += 1
    server = operator_side
    headers = {"Authorization": header, "Cookie": header, "X-Forwarded-For": header, "User-Agent": header}
    with unthrottled():
        response = server.request(method, path, params=query, headers=headers)
    assert response.status_code < 500, (method, path, response.status_code, response.text[:200])
    assert "Traceback" not in response.text


# ---------------------------------------------------------------- properties: websockets


def frames(fields: dict[str, st.SearchStrategy[Any]], types: list[str]) -> st.SearchStrategy[tuple[str, Any]]:
    message = st.fixed_dictionaries(
        {"type": st.sampled_from(types) | json_values}, optional={**fields, "extra": json_values}
    )
    return st.one_of(
        message.map(lambda m: ("text", json_text(m))),
        json_values.map(lambda v: ("text", json_text(v))),
        deep_nesting.map(lambda t: ("text", t)),
        long_digits.map(lambda t: ("text", t)),
        odd_constants.map(lambda t: ("text", t)),
        st.text(max_size=200).map(lambda t: ("text", t)),
        st.binary(max_size=200).map(lambda b: ("binary", b)),
        st.binary(min_size=MAX_WS_MESSAGE_BYTES - 8, max_size=MAX_WS_MESSAGE_BYTES + 8).map(lambda b: ("binary", b)),
    )


async def send_frame(ws: WebSocketClient, frame: tuple[str, Any]) -> None:
    kind, payload = frame
    if kind == "binary":
        await ws.send_bytes(payload)
    else:
        # Lone surrogates (valid in JSON escapes, not in UTF-8) go out as the bytes they are.
        await ws.send_raw_text_frame(payload.encode("utf-8", "surrogatepass"))


def expected_close(frame: tuple[str, Any]) -> int | None:
    """The close code a frame must get (a protocol error), or None when it must be answered."""
    kind, payload = frame
    data = payload if kind == "binary" else payload.encode("utf-8", "surrogatepass")
    if len(data) > MAX_WS_MESSAGE_BYTES:
        return 1009  # message too big
    if kind == "text":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return 1007  # invalid UTF-8 in a text frame
    return None


STUDENT_REPLIES = {"pong", "submit_ack", "error"}


@fuzz(250)
@given(batch=st.lists(
    frames({"question_idx": st.integers(-1, 3) | json_values, "answer": st.sampled_from(list("ABCDE")) | json_values},
           ["ping", "submit"]),
    min_size=1, max_size=3,
))
def test_student_socket_answers_every_frame_with_a_contract_reply(
    student_side: dict[str, Any], batch: list[tuple[str, Any]]
) -> None:
    EXAMPLES["WS /ws/student"] += 1
    server: ServerThread = student_side["server"]
    answered = server.call(lambda: 0 in server.running.room.participants["fuzz"].submissions)  # type: ignore[union-attr]

    async def exchange() -> None:
        async with await WebSocketClient.open(server.url, "/ws/student", cookie=student_side["cookie"]) as ws:
            snapshot_types = ["state", "question_open", *(["submit_ack"] if answered else [])]
            assert [(await ws.receive())["type"] for _ in snapshot_types] == snapshot_types  # type: ignore[index]
            for frame in batch:
                await send_frame(ws, frame)
                if (code := expected_close(frame)) is not None:
                    # A protocol error (broken UTF-8, too big) closes the socket, with nothing else said.
                    assert await ws.expect(STUDENT_REPLIES) is None and ws.close_code == code
                    return
                reply = await ws.expect(STUDENT_REPLIES)
                assert reply is not None, (frame, ws.close_code)
                if reply["type"] == "error":
                    assert reply["code"] in WS_ERROR_CODES and reply["message"], reply
                    if frame[0] == "binary":
                        assert reply["code"] == "bad_message"
                elif reply["type"] == "submit_ack":
                    assert reply["question_idx"] == 0 and reply["answer"] in ("A", "B", "C", "D")

    server.run(exchange)
    check_room_invariants(server)


INSTRUCTOR_TYPES = ["ping", "next", "open_question", "close_question", "end_session", "show_leaderboard", "reset",
                    "clear_student", "status"]
INSTRUCTOR_REPLIES = {"command_result", "error", "pong"}


@fuzz(200)
@given(batch=st.lists(
    frames({"question_idx": st.integers(-1, 4) | json_values, "time_limit": st.integers(0, 4000) | json_values,
            "student_id": id_like | json_values}, INSTRUCTOR_TYPES),
    min_size=1, max_size=3,
))
def test_instructor_socket_answers_every_frame_with_a_contract_reply(
    operator_side: ServerThread, batch: list[tuple[str, Any]]
) -> None:
    EXAMPLES["WS /ws/instructor"] += 1
    server = operator_side

    async def exchange() -> None:
        async with await WebSocketClient.open(server.url, f"/ws/instructor?token={server.token}") as ws:
            for frame in batch:
                await send_frame(ws, frame)
                if (code := expected_close(frame)) is not None:
                    assert await ws.expect(INSTRUCTOR_REPLIES) is None and ws.close_code == code
                    return
                reply = await ws.expect(INSTRUCTOR_REPLIES)
                assert reply is not None, (frame, ws.close_code)
                if reply["type"] == "error":
                    assert reply["code"] in WS_ERROR_CODES and reply["code"] != "internal_error", reply

    server.run(exchange)
    check_room_invariants(server)


@fuzz(100)
@given(batch=st.lists(frames({}, ["ping"]), min_size=1, max_size=3))
def test_projector_socket_ignores_garbage(operator_side: ServerThread, batch: list[tuple[str, Any]]) -> None:
    EXAMPLES["WS /ws/projector"] += 1

    async def exchange() -> None:
        async with await WebSocketClient.open(operator_side.url, "/ws/projector") as ws:
            assert (await ws.receive())["type"] == "projector_state"  # type: ignore[index]
            for frame in batch:
                await send_frame(ws, frame)
                if (code := expected_close(frame)) is not None:
                    assert await ws.wait_closed() == code
                    return
            await send_frame(ws, ("text", '{"type": "ping"}'))
            while (message := await ws.receive()) is not None and message["type"] != "pong":
                assert message["type"] == "projector_state" or message["code"] == "bad_message", message
            assert message is not None

    operator_side.run(exchange)


# ---------------------------------------------------------------- properties: the control socket


@fuzz(300)
@given(
    request=st.one_of(
        st.fixed_dictionaries(
            {"token": st.just("TOKEN")},
            optional={"cmd": st.sampled_from(ADMIN_COMMANDS) | json_values,
                      "args": shaped({"question_idx": st.integers(-1, 4) | json_values,
                                      "time_limit": st.integers(0, 4000) | json_values,
                                      "student_id": id_like | json_values, "confirm": st.booleans() | json_values,
                                      "format": st.sampled_from(["wide", "long"]) | json_values,
                                      "excel": st.booleans() | json_values}) | json_values},
        ).map(json_text).map(str.encode),
        st.fixed_dictionaries({"token": json_values, "cmd": st.sampled_from(ADMIN_COMMANDS)}).map(json_text).map(str.encode),
        json_values.map(json_text).map(str.encode),
        deep_nesting.map(str.encode),
        st.binary(max_size=300).filter(lambda b: b"\n" not in b),
    ).filter(lambda line: len(line) <= MAX_LINE_BYTES)  # longer lines: test_control.py's huge-line test
)
def test_control_socket_answers_every_line_with_a_contract_reply(operator_side: ServerThread, request: bytes) -> None:
    EXAMPLES["control socket lines"] += 1
    server = operator_side
    line = request.replace(b'"TOKEN"', json.dumps(server.token).encode())

    async def exchange() -> None:
        async with await ControlClient.open(server.running) as client:  # type: ignore[arg-type]
            with unthrottled():
                reply = await client.ask(line)
            assert set(reply) in ({"ok", "result"}, {"ok", "error"}), reply
            if reply["ok"] is False:
                error = reply["error"]
                assert set(error) == {"code", "message"} and error["code"] in CONTROL_ERROR_CODES, reply
            else:
                assert b'"TOKEN"' in request and isinstance(reply["result"], dict)
            assert (await client.request(server.token, "status"))["ok"] is True

    server.run(exchange)
    check_room_invariants(server)


def test_servers_still_answer_after_the_fuzzing(student_side: dict[str, Any], operator_side: ServerThread,
                                                 error_log: ErrorLog) -> None:
    for server in (student_side["server"], operator_side):
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/healthz").json()["ok"] is True
    assert error_log.records == []


# ---------------------------------------------------------------- limits


async def test_request_bodies_over_the_limit_are_refused_with_413(server: RunningServer) -> None:
    cookies = await join_all(server.url, ["s1"])
    exact = json.dumps({"kind": "blur"}).encode()
    exact += b" " * (MAX_BODY_BYTES - len(exact))
    over = exact + b" "

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    # One connection per request here: what a 413 does to a kept-alive connection is the next test's.
    headers = {"Cookie": cookies["s1"], "Authorization": f"Bearer {server.admin_token}", "Connection": "close"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=headers) as http:
        assert (await http.post("/event", content=exact)).status_code == 204  # exactly the limit is fine
        for route in ("/event", "/join", "/admin/status"):
            for body in (over, over * 64):
                sized = await http.post(route, content=body)
                assert (sized.status_code, sized.json()["error"]) == (413, "body_too_large"), route
        for route in ("/event", "/join"):
            # Without a Content-Length (chunked), the limit holds while reading.
            streamed = await http.post(route, content=chunks(over * 4))
            assert (streamed.status_code, streamed.json()["error"]) == (413, "body_too_large"), route
    assert server.room.participants["s1"].blur_count == 1 and list(server.room.participants) == ["s1"]


async def test_admin_reads_a_body_sent_without_content_length(server: RunningServer) -> None:
    """A chunked body (HTTP/2 clients and some proxies send no Content-Length) is still read."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"question_idx": 1, '
        yield b'"time_limit": 30}'

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post("/admin/open", content=body(), headers={"Authorization": f"Bearer {server.admin_token}"})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["current_question_idx"] == 1


# The two keep-alive tests run the server on its own thread with a blocking client, the
# way a browser meets it; on one shared trio loop the race below rarely shows.


def test_keep_alive_survives_responses_that_skip_the_body(operator_side: ServerThread) -> None:
    """Answers given before the request body is read (a 401 on /event, a 404) must leave the
    kept-alive connection usable: a browser reuses it for its next request, with no timeout."""
    bodies = [b"{}", b"", b"ab", b"", b"", b"abc", b"x", b""] * 25
    with httpx.Client(base_url=operator_side.url, timeout=1, limits=httpx.Limits(max_connections=1)) as http:
        for i, body in enumerate(bodies):
            try:
                refused = http.post("/event", content=body)  # no cookie: 401, body never parsed
            except httpx.TimeoutException:
                pytest.fail(f"request {i} on a kept-alive connection hung after an unread body")
            assert refused.status_code == 401


def test_keep_alive_survives_an_oversized_body(operator_side: ServerThread) -> None:
    """After a 413 the next request on the same connection is answered at once."""
    for size in [MAX_BODY_BYTES + 1000, 2 * MAX_BODY_BYTES, 4 * MAX_BODY_BYTES] * 20:  # a race: try often
        with httpx.Client(base_url=operator_side.url, timeout=1, limits=httpx.Limits(max_connections=1)) as http:
            assert http.post("/join", content=b"x" * size).status_code == 413
            try:
                following = http.post("/join", content=b"{}")
            except httpx.TimeoutException:
                pytest.fail(f"the request after a {size}-byte body (413) hung on its kept-alive connection")
            assert following.status_code == 400


async def test_websocket_messages_over_the_limit_close_the_socket_with_1009(server: RunningServer) -> None:
    cookies = await join_all(server.url, ["s1"])
    ws = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["s1"])
    assert await ws.expect("state")
    ping = json.dumps({"type": "ping", "pad": ""})
    exact = ping[:-2] + "x" * (MAX_WS_MESSAGE_BYTES - len(ping)) + '"}'
    assert len(exact.encode()) == MAX_WS_MESSAGE_BYTES
    await ws.send_text(exact)
    assert await ws.expect("pong")
    await ws.send_text(exact[:-2] + 'x"}')
    assert await ws.receive() is None and ws.close_code == 1009
    # Split into fragments, the same message is still too big.
    ws = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["s1"])
    assert await ws.expect("state")
    for start in range(0, MAX_WS_MESSAGE_BYTES + 1, 4096):
        piece = (exact + "x")[start : start + 4096]
        await ws.send_text(piece, final=start + 4096 > MAX_WS_MESSAGE_BYTES)
    assert await ws.receive() is None and ws.close_code == 1009
    ws = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["s1"])
    assert await ws.expect("state")
    await ws.send_json({"type": "ping"})
    assert await ws.expect("pong")
    await ws.close()


@pytest.mark.parametrize(
    ("student_id", "name", "status", "code"),
    [
        ("a" * 64, "n" * 80, 200, None),
        ("a" * 65, "Ann", 400, "bad_student_id"),
        ("", "Ann", 400, "bad_student_id"),
        ("_s1", "Ann", 400, "bad_student_id"),
        ("s1/../x", "Ann", 400, "bad_student_id"),
        ("s1<b>", "Ann", 400, "bad_student_id"),
        ("é1", "Ann", 400, "bad_student_id"),
        ("s1", "n" * 81, 400, "bad_name"),
        ("s1", "   ", 400, "bad_name"),
        ("s1", "Ann\x00", 400, "bad_name"),
        ("s2", "Ann\ue000", 400, "bad_name"),  # private use
        ("s3", "Ann\U000e0000", 400, "bad_name"),  # unassigned
        ("s4", "  Zoë \t  Ng  ", 200, None),
    ],
)
async def test_id_and_name_limits(server: RunningServer, student_id: str, name: str, status: int, code: str | None) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/join", json={"student_id": student_id, "name": name})
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"] == code
    else:
        assert response.json()["name"] == unicodedata.normalize("NFC", " ".join(name.split()))


async def test_a_flooding_socket_is_throttled_then_closed_with_1008(server: RunningServer) -> None:
    cookies = await join_all(server.url, ["flood", "calm"])
    flood = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["flood"])
    calm = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["calm"])
    for ws in (flood, calm):
        assert await ws.expect("state")
    received: list[dict[str, Any]] = []

    async def read_all() -> None:
        while (message := await flood.receive()) is not None:
            received.append(message)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        for _ in range(300):
            if not await flood.send_json({"type": "ping"}):
                break
        with trio.fail_after(10):
            while flood.close_code is None:
                await trio.sleep(0.01)
    kinds = Counter(m["type"] if m["type"] != "error" else m["code"] for m in received)
    assert kinds["pong"] >= 30 and kinds["rate_limited"] >= 1, kinds
    assert flood.close_code == 1008
    # Only the flooder was affected.
    await calm.send_json({"type": "ping"})
    assert await calm.expect("pong", timeout=2)
    await calm.close()
    # An instructor socket is held to the same rate.
    instructor = await WebSocketClient.open(server.url, f"/ws/instructor?token={server.admin_token}")
    for _ in range(200):
        if not await instructor.send_json({"type": "ping"}):
            break
    codes = []
    while (message := await instructor.receive()) is not None:
        codes.append(message.get("code"))
    assert "rate_limited" in codes and instructor.close_code == 1008


async def test_connections_per_address_are_capped_when_configured(tmp_path: Path, tiny_pool: Pool) -> None:
    async with running_server(tmp_path / "data", tiny_pool, max_connections_per_ip=3) as server:
        cookies = await join_all(server.url, ["s1", "s2"])
        open_ = [
            await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["s1"]),
            await WebSocketClient.open(server.url, "/ws/student", cookie=cookies["s2"]),
            await WebSocketClient.open(server.url, "/ws/projector"),
        ]
        for ws in open_:
            assert await ws.receive() is not None
        for path, cookie in (("/ws/student", cookies["s1"]), ("/ws/projector", None)):
            refused = await WebSocketClient.open(server.url, path, cookie=cookie)
            assert await refused.receive() is None and refused.close_code == 1008
        async with httpx.AsyncClient(base_url=server.url) as http:  # plain HTTP is not capped
            assert (await http.get("/healthz")).status_code == 200
        await open_.pop().close()
        with trio.fail_after(5):
            while True:
                again = await WebSocketClient.open(server.url, "/ws/projector")
                if await again.receive() is not None:
                    break
                await trio.sleep(0.01)  # the closed one is still being counted out
        await again.close()
        for ws in open_:
            await ws.close()
