"""No other page can act for the instructor or a student: Origin, Sec-Fetch-Site and media types.

A browser attaches this server's cookies to requests any page makes, so the server must
tell its own pages from others by what a page cannot forge (`Origin`, `Sec-Fetch-Site`)
and must refuse the body types a page elsewhere can send without a CORS preflight. Each
route is tried through the real server (raw HTTP with httpx, raw websockets with
`WebSocketClient`) carrying the victim's genuine cookie, and for every refusal the room
is checked unchanged: no participant, no event counted, no question opened.
"""
from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from server.auth import INSTRUCTOR_COOKIE
from server.quiz.pool import Pool
from server.serve import RunningServer
from server.session.machine import SessionState
from server.web.origin import Origin, RefusalLog, cross_origin_reason, parse_origin, server_origin
from tests.helpers import WAIT_S, WebSocketClient, WebSocketRejected, join_all, running_server

PUBLIC_URL = "https://quiz.example.edu"
EVIL = "http://evil.example"
Headers = list[tuple[str, str]]


# ---------------------------------------------------------------- the rule, without a server


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://quiz.example.edu", Origin("https", "quiz.example.edu", 443)),
        ("https://QUIZ.Example.EDU:443", Origin("https", "quiz.example.edu", 443)),
        ("HTTP://127.0.0.1:8000", Origin("http", "127.0.0.1", 8000)),
        ("http://[2001:DB8::1]:8080", Origin("http", "2001:db8::1", 8080)),
        ("http://quiz.example.edu:80", Origin("http", "quiz.example.edu", 80)),
        ("null", None),
        ("", None),
        ("quiz.example.edu", None),
        ("ws://quiz.example.edu", None),
        ("file://", None),
        ("chrome-extension://abcdef", None),
        ("https://quiz.example.edu@evil.com", None),
        ("https://quiz.example.edu/path", None),
        ("https://quiz.example.edu?x", None),
        ("https://quiz.example.edu#x", None),
        ("https://quiz.example.edu:99999", None),
        ("https://quiz.example.edu:port", None),
        ("https://", None),
    ],
)
def test_origins_are_parsed_exactly(text: str, expected: Origin | None) -> None:
    assert parse_origin(text) == expected


def test_the_server_origin_is_the_public_url_else_the_request_scheme_and_host() -> None:
    assert server_origin("https://quiz.example.edu/", "http", "127.0.0.1:8000") == Origin("https", "quiz.example.edu", 443)
    assert server_origin("https://quiz.example.edu/quiz", "ws", None) == Origin("https", "quiz.example.edu", 443)
    assert server_origin(None, "http", "10.0.0.5:8000") == Origin("http", "10.0.0.5", 8000)
    assert server_origin(None, "wss", "Quiz.Example.edu") == Origin("https", "quiz.example.edu", 443)
    assert server_origin(None, "ws", "[::1]:8000") == Origin("http", "::1", 8000)
    assert server_origin(None, "http", None) is None
    assert server_origin(None, "http", "bad host/x") is None


@pytest.mark.parametrize(
    ("origins", "fetch_site", "allowed"),
    [
        (["https://quiz.example.edu"], None, True),
        (["https://quiz.example.edu"], "same-origin", True),
        (["https://quiz.example.edu:443"], "same-origin", True),
        ([], None, True),  # no browser page: quizctl, scripts, curl
        ([], "none", True),  # typed URL, bookmark
        ([], "same-origin", True),
        (["https://quiz.example.edu"], "cross-site", False),  # the two signals disagree: refuse
        ([], "cross-site", False),
        ([], "same-site", False),
        ([], "Cross-Site", False),
        ([], "something-new", False),
        (["https://student.example.edu"], None, False),
        (["https://student.example.edu"], "same-site", False),
        (["http://evil.example"], None, False),
        (["null"], None, False),
        (["https://quiz.example.edu.evil.com"], None, False),
        (["https://evilquiz.example.edu"], None, False),
        (["https://example.edu"], None, False),
        (["https://quiz.example.edu:8443"], None, False),
        (["http://quiz.example.edu"], None, False),
        (["http://quiz.example.edu:443"], None, False),
        (["https://quiz.example.edu", "https://quiz.example.edu"], None, False),
        (["https://quiz.example.edu", "http://evil.example"], None, False),
    ],
)
def test_the_origin_rule(origins: list[str], fetch_site: str | None, allowed: bool) -> None:
    own = Origin("https", "quiz.example.edu", 443)
    assert (cross_origin_reason(origins, fetch_site, own) is None) == allowed
    if origins:  # an unknown own origin (no Host header) matches no Origin at all
        assert cross_origin_reason(origins, fetch_site, None) is not None


def test_refusals_are_logged_first_ten_then_every_hundredth_per_address(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="quizctl.http")
    refusals = RefusalLog()
    for _ in range(250):
        refusals.refused("192.0.2.1", "POST /admin/next", "Origin 'http://evil.example' is not this server's origin")
    refusals.refused("192.0.2.2", "websocket /ws/instructor", "Sec-Fetch-Site is 'cross-site'")
    lines = [record.getMessage() for record in caplog.records]
    assert len([line for line in lines if "192.0.2.1" in line]) == 10 + 2  # 1-10, 100, 200
    assert "refused POST /admin/next from 192.0.2.1: Origin 'http://evil.example'" in lines[0]
    assert "(200 refused from this address)" in lines[-2]
    assert "websocket /ws/instructor from 192.0.2.2: Sec-Fetch-Site is 'cross-site'" in lines[-1]
    assert refusals.total == 251


# ---------------------------------------------------------------- every route, through the real server


@dataclass(frozen=True, slots=True)
class Case:
    what: str
    headers: Headers
    allowed: bool


def origin_cases(own: str) -> list[Case]:
    """What pages (and non-browsers) send, for a server whose origin is `own`."""
    url = urlsplit(own)
    scheme, host, port = url.scheme, url.hostname or "", url.port or {"http": 80, "https": 443}[url.scheme]
    other_scheme = "http" if scheme == "https" else "https"
    cases = [
        Case("same origin", [("Origin", own), ("Sec-Fetch-Site", "same-origin")], True),
        Case("same origin, Origin only", [("Origin", own)], True),
        Case("same origin, host in capitals", [("Origin", f"{scheme}://{host.upper()}:{port}")], True),
        Case("no Origin, no Sec-Fetch-* (quizctl, scripts, curl)", [], True),
        Case("typed URL (Sec-Fetch-Site: none)", [("Sec-Fetch-Site", "none")], True),
        Case("another site", [("Origin", EVIL), ("Sec-Fetch-Site", "cross-site")], False),
        Case("another site, Origin only", [("Origin", EVIL)], False),
        Case("Sec-Fetch-Site: cross-site without Origin", [("Sec-Fetch-Site", "cross-site")], False),
        Case("Sec-Fetch-Site: same-site without Origin", [("Sec-Fetch-Site", "same-site")], False),
        Case("own Origin but Sec-Fetch-Site: cross-site", [("Origin", own), ("Sec-Fetch-Site", "cross-site")], False),
        Case("Origin null", [("Origin", "null")], False),
        Case("lookalike suffix", [("Origin", f"{scheme}://{host}.evil.com:{port}")], False),
        Case("lookalike prefix", [("Origin", f"{scheme}://evil{host}:{port}")], False),
        Case("user info", [("Origin", f"{scheme}://{host}:{port}@evil.example")], False),
        Case("port mismatch", [("Origin", f"{scheme}://{host}:{port + 1}")], False),
        Case("scheme mismatch", [("Origin", f"{other_scheme}://{host}:{port}")], False),
        Case("two Origin headers", [("Origin", own), ("Origin", EVIL)], False),
    ]
    if url.port is None:  # a default port: the same origin spelled with and without it
        cases.append(Case("same origin, explicit default port", [("Origin", f"{scheme}://{host}:{port}")], True))
        cases.append(Case("scheme mismatch, default port", [("Origin", f"{other_scheme}://{host}")], False))
    return cases


# A student's homepage on the same registrable domain: SameSite=Lax lets its cookies through.
SAME_SITE_CASES = [
    Case("same site, other subdomain", [("Origin", "https://student.example.edu"), ("Sec-Fetch-Site", "same-site")], False),
    Case("same site, other subdomain, Origin only", [("Origin", "https://student.example.edu")], False),
    Case("parent domain", [("Origin", "https://example.edu")], False),
]


@dataclass(slots=True)
class Victim:
    """A server, a joined student's cookie and the instructor's cookie: what another page would ride on."""

    server: RunningServer
    student_cookie: str
    instructor_cookie: str
    own_origin: str
    counter: int = 0

    def next_id(self) -> str:
        self.counter += 1
        return f"p{self.counter}"


@asynccontextmanager
async def victim(tmp_path: Path, pool: Pool, public_url: str | None) -> AsyncIterator[Victim]:
    async with running_server(tmp_path / "data", pool, public_url=public_url) as server:
        cookies = await join_all(server.url, ["s1"])
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            page = await http.get("/instructor", params={"token": server.admin_token})
            assert page.status_code == 200
        instructor_cookie = f"{INSTRUCTOR_COOKIE}={page.cookies[INSTRUCTOR_COOKIE]}"
        yield Victim(server, cookies["s1"], instructor_cookie, public_url or server.url)


def http_verdict(response: httpx.Response, acted: bool, ok_status: int) -> str:
    """'allowed' when the request did its work, 'refused' for a 403 cross_origin that changed nothing."""
    if response.status_code == ok_status and acted:
        return "allowed"
    if response.status_code == 403 and response.json()["error"] == "cross_origin" and not acted:
        return "refused"
    return f"unexpected: {response.status_code} {response.text[:200]} (acted: {acted})"


async def post_join(victim: Victim, http: httpx.AsyncClient, headers: Headers) -> str:
    student_id = victim.next_id()
    response = await http.post("/join", json={"student_id": student_id, "name": "Page"}, headers=headers)
    http.cookies.clear()
    return http_verdict(response, student_id in victim.server.room.participants, 200)


async def post_event(victim: Victim, http: httpx.AsyncClient, headers: Headers) -> str:
    student = victim.server.room.participants["s1"]
    before = student.blur_count
    response = await http.post("/event", json={"kind": "blur"}, headers=[*headers, ("Cookie", victim.student_cookie)])
    return http_verdict(response, student.blur_count == before + 1, 204)


async def post_admin_next(victim: Victim, http: httpx.AsyncClient, headers: Headers) -> str:
    """`next` with the instructor's cookie and no body, as a page elsewhere could send it."""
    room = victim.server.room
    assert room.state is SessionState.LOBBY
    response = await http.post("/admin/next", headers=[*headers, ("Cookie", victim.instructor_cookie)])
    verdict = http_verdict(response, room.state is not SessionState.LOBBY, 200)
    if room.state is not SessionState.LOBBY:  # back to the lobby for the next case (the CLI's way: a token, no Origin)
        bearer = {"Authorization": f"Bearer {victim.server.admin_token}"}
        assert (await http.post("/admin/reset", json={"confirm": True}, headers=bearer)).status_code == 200
    return verdict


def websocket_attempt(path: str, cookie: Callable[[Victim], str | None]) -> Callable[..., Awaitable[str]]:
    async def attempt(victim: Victim, http: httpx.AsyncClient, headers: Headers) -> str:
        encoded = [(name.lower().encode(), value.encode()) for name, value in headers]
        try:
            ws = await WebSocketClient.open(victim.server.url, path, cookie=cookie(victim), headers=encoded)
        except WebSocketRejected as exc:
            return "refused" if exc.status == 403 else f"unexpected: handshake answered {exc.status}"
        first = await ws.receive()
        await ws.close()
        return "allowed" if first is not None else f"unexpected: accepted, then closed with {ws.close_code}"

    return attempt


ROUTES: dict[str, Callable[..., Awaitable[str]]] = {
    "POST /join": post_join,
    "POST /event": post_event,
    "POST /admin/next": post_admin_next,
    "WS /ws/student": websocket_attempt("/ws/student", lambda v: v.student_cookie),
    "WS /ws/instructor": websocket_attempt("/ws/instructor", lambda v: v.instructor_cookie),
    "WS /ws/projector": websocket_attempt("/ws/projector", lambda v: None),
}


@pytest.mark.parametrize("public_url", [None, PUBLIC_URL], ids=["served-origin", "public-url"])
@pytest.mark.parametrize("route", list(ROUTES))
async def test_each_route_acts_only_for_its_own_origin(
    tmp_path: Path, tiny_pool: Pool, caplog: pytest.LogCaptureFixture, route: str, public_url: str | None
) -> None:
    caplog.set_level(logging.WARNING, logger="quizctl.http")
    async with victim(tmp_path, tiny_pool, public_url) as target:
        cases = origin_cases(target.own_origin) + (SAME_SITE_CASES if public_url else [])
        wrong = {}
        async with httpx.AsyncClient(base_url=target.server.url, timeout=WAIT_S) as http:
            for case in cases:
                verdict = await ROUTES[route](target, http, case.headers)
                if verdict != ("allowed" if case.allowed else "refused"):
                    wrong[case.what] = verdict
        assert wrong == {}, f"{route} behind origin {target.own_origin}"
        # Only the allowed cases reached the room (each one's effect was checked as it went).
        room, allowed = target.server.room, sum(case.allowed for case in cases)
        assert room.state is SessionState.LOBBY
        if route == "POST /join":
            assert len(room.participants) == 1 + allowed
        if route == "POST /event":
            assert room.participants["s1"].blur_count == allowed
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused ")]
    # Every refusal is logged until the address's first LOG_FIRST; then only every LOG_EVERY-th.
    assert len(refusals) == min(RefusalLog.LOG_FIRST, sum(not case.allowed for case in cases))
    path = route.split(" ")[1]
    assert all(path in line and "127.0.0.1" in line for line in refusals), refusals
    assert any(f"Origin {EVIL!r}" in line for line in refusals), refusals


async def test_a_text_plain_admin_post_from_another_page_opens_nothing(tmp_path: Path, tiny_pool: Pool) -> None:
    """The attack of issue 13: a form or fetch without preflight, riding on the instructor's cookie."""
    async with victim(tmp_path, tiny_pool, PUBLIC_URL) as target:
        room = target.server.room
        async with httpx.AsyncClient(base_url=target.server.url, timeout=WAIT_S) as http:
            for origin in (EVIL, "https://student.example.edu"):
                for command, body in (("next", b"{}"), ("reset", b'{"confirm": true}'), ("open", b'{"question_idx": 2}')):
                    response = await http.post(
                        f"/admin/{command}",
                        content=body,
                        headers={"Content-Type": "text/plain", "Origin": origin, "Cookie": target.instructor_cookie},
                    )
                    assert response.status_code == 403, (origin, command, response.text)
                    assert response.json() == {"error": "cross_origin", "message": response.json()["message"]}
                    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            assert room.state is SessionState.LOBBY and room.record.current_question_idx is None
            # The same request from the dashboard itself goes through.
            response = await http.post(
                "/admin/next", json={}, headers={"Origin": PUBLIC_URL, "Cookie": target.instructor_cookie}
            )
            assert response.status_code == 200 and room.state is SessionState.QUESTION_OPEN


async def test_with_a_public_url_the_address_a_page_was_opened_at_is_still_its_own(
    tmp_path: Path, tiny_pool: Pool
) -> None:
    """The dashboard opened at the laptop's own address (not the public URL) keeps working."""
    async with victim(tmp_path, tiny_pool, PUBLIC_URL) as target:
        own = target.server.url  # http://127.0.0.1:PORT: the Host this request is sent to
        async with httpx.AsyncClient(base_url=own, timeout=WAIT_S) as http:
            response = await http.post("/admin/next", json={}, headers={"Origin": own, "Cookie": target.instructor_cookie})
            assert response.status_code == 200 and target.server.room.state is SessionState.QUESTION_OPEN
            sibling = await http.post(
                "/admin/close", json={}, headers={"Origin": "http://127.0.0.2:1", "Cookie": target.instructor_cookie}
            )
            assert sibling.status_code == 403 and target.server.room.state is SessionState.QUESTION_OPEN


# ---------------------------------------------------------------- media types


REFUSED_TYPES = [
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json-patch+json",
    "",
]


async def test_bodies_must_be_declared_json(tmp_path: Path, tiny_pool: Pool) -> None:
    """Even without any Origin (an old browser's form), a body typed as anything but JSON is 415."""
    async with victim(tmp_path, tiny_pool, None) as target:
        room = target.server.room
        student = room.participants["s1"]
        async with httpx.AsyncClient(base_url=target.server.url, timeout=WAIT_S) as http:
            for content_type in REFUSED_TYPES:
                typed = {"Content-Type": content_type}
                attempts = {
                    "/join": (b'{"student_id": "p1", "name": "Page"}', {}),
                    "/event": (b'{"kind": "blur"}', {"Cookie": target.student_cookie}),
                    "/admin/next": (b"{}", {"Cookie": target.instructor_cookie}),
                    "/admin/next (empty body)": (b"", {"Cookie": target.instructor_cookie}),
                }
                for route, (body, credentials) in attempts.items():
                    response = await http.post(route.split(" ")[0], content=body, headers={**typed, **credentials})
                    http.cookies.clear()
                    assert response.status_code == 415, (content_type, route, response.text)
                    assert response.json()["error"] == "unsupported_media_type", (content_type, route)
            assert list(room.participants) == ["s1"] and student.blur_count == 0 and room.state is SessionState.LOBBY

            # Accepted: JSON with or without a charset, any case; no Content-Type from non-browsers;
            # an empty untyped body for a command without arguments (the CLI and scripts).
            joined = await http.post(
                "/join", content=b'{"student_id": "p1", "name": "Page"}',
                headers={"Content-Type": "Application/JSON; charset=UTF-8"},
            )
            http.cookies.clear()
            assert joined.status_code == 200
            untyped = await http.post("/join", content=b'{"student_id": "p2", "name": "Script"}')
            http.cookies.clear()
            assert untyped.status_code == 200
            event = await http.post(
                "/event", content=b'{"kind": "blur"}',
                headers={"Content-Type": "application/json; charset=utf-8", "Cookie": target.student_cookie},
            )
            assert event.status_code == 204 and student.blur_count == 1
            bearer = {"Authorization": f"Bearer {target.server.admin_token}"}
            assert (await http.post("/admin/next", headers=bearer)).status_code == 200
            assert room.state is SessionState.QUESTION_OPEN


async def test_an_unauthenticated_typed_body_is_still_401_first(server: RunningServer) -> None:
    """Credentials are checked before the body: a wrong token learns nothing about media types."""
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        assert (await http.post("/event", content=b"x", headers={"Content-Type": "text/plain"})).status_code == 401
        response = await http.post(
            "/admin/status", content=b"x", headers={"Content-Type": "text/plain", "Authorization": "Bearer nope"}
        )
        assert response.status_code == 401


# ---------------------------------------------------------------- what stays open, and proxies


async def test_get_routes_stay_open_to_any_page(server: RunningServer) -> None:
    """Links and bookmarks from anywhere still work; a cross-origin page cannot read the answers (no CORS)."""
    cookies = await join_all(server.url, ["s1"])
    cross = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        for path, extra in (("/", {}), ("/projector", {}), ("/healthz", {}), ("/me", {"Cookie": cookies["s1"]}),
                            ("/export.csv", {"Authorization": f"Bearer {server.admin_token}"})):
            response = await http.get(path, headers={**cross, **extra})
            assert response.status_code == 200, path
            assert "access-control-allow-origin" not in response.headers, path
        page = await http.get("/instructor", params={"token": server.admin_token}, headers=cross)
        assert page.status_code == 200


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted-proxy", "untrusted-peer"])
async def test_behind_a_tls_proxy_the_https_origin_is_the_servers_own(
    tmp_path: Path, tiny_pool: Pool, trusted: bool
) -> None:
    """With --forwarded-allow-ips the page's https origin matches; from an untrusted peer the header is ignored."""
    allow = "127.0.0.1" if trusted else "10.0.0.1"
    async with running_server(tmp_path / "data", tiny_pool, forwarded_allow_ips=allow) as server:
        port = urlsplit(server.url).port
        proxied = {"Host": "quiz.example.edu", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            https_page = await http.post(
                "/join", json={"student_id": "s1", "name": "Ann"}, headers={**proxied, "Origin": "https://quiz.example.edu"}
            )
            http.cookies.clear()
            http_page = await http.post(
                "/join", json={"student_id": "s2", "name": "Bob"}, headers={**proxied, "Origin": "http://quiz.example.edu"}
            )
        assert (https_page.status_code, http_page.status_code) == ((200, 403) if trusted else (403, 200))
        assert set(server.room.participants) == ({"s1"} if trusted else {"s2"})
        # The websocket handshake: its scheme (wss) is forwarded the same way.
        student_cookie = f"quiz_student={(https_page if trusted else http_page).cookies['quiz_student']}"
        forwarded = [(b"x-forwarded-proto", b"https")]
        for origin, allowed in ((f"https://127.0.0.1:{port}", trusted), (f"http://127.0.0.1:{port}", not trusted)):
            headers = [*forwarded, (b"origin", origin.encode())]
            if allowed:
                ws = await WebSocketClient.open(server.url, "/ws/student", cookie=student_cookie, headers=headers)
                assert await ws.receive() is not None
                await ws.close()
            else:
                with pytest.raises(WebSocketRejected) as refused:
                    await WebSocketClient.open(server.url, "/ws/student", cookie=student_cookie, headers=headers)
                assert refused.value.status == 403


def test_the_log_line_names_the_origin_and_route(caplog: pytest.LogCaptureFixture) -> None:
    """What the operator reads: the route, the address, the refused Origin and this server's own."""
    caplog.set_level(logging.WARNING, logger="quizctl.http")
    own = Origin("https", "quiz.example.edu", 443)
    reason = cross_origin_reason(["http://evil.example\n"], None, own)
    assert reason is not None
    RefusalLog().refused("198.51.100.4", "POST /admin/next", reason)
    (line,) = [record.getMessage() for record in caplog.records]
    assert re.fullmatch(
        r"refused POST /admin/next from 198\.51\.100\.4: Origin 'http://evil\.example\\n' is not this server's "
        r"origin \(https://quiz\.example\.edu\) \(1 refused from this address\)",
        line,
    ), line
