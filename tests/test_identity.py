"""First claim wins, and a hijacker's cookie dies once the rightful student re-claims the id."""
from __future__ import annotations

import httpx

from server.auth import STUDENT_COOKIE
from server.serve import RunningServer
from tests.helpers import Instructor, Student


async def test_hijacker_cookie_dies_after_reclaim(server: RunningServer) -> None:
    hijacker = Student(server.url, "s100", "Mallory")
    victim = Student(server.url, "s100", "Victor")
    instructor = Instructor(server)
    async with instructor.connect():
        # The hijacker gets there first; the real student is refused and the attempt is audited.
        assert (await hijacker.join()).status_code == 200
        hijacker_cookie = hijacker.http.cookies.get(STUDENT_COOKIE)
        refused = await victim.join()
        assert refused.status_code == 409 and refused.json()["error"] == "duplicate_student_id"
        presence = await instructor.expect(
            "presence_update",
            lambda m: any(r["duplicate_join_attempts"]["count"] == 1 for r in m["rows"]),
        )
        row = next(r for r in presence["rows"] if r["student_id"] == "s100")
        assert row["name"] == "Mallory" and "Victor" in row["duplicate_join_attempts"]["latest_detail"]

        # The instructor clears the id; the hijacker's live socket is told and closed with 4002.
        async with hijacker.connect() as hijacker_ws:
            await hijacker.expect("state")
            result = await instructor.command({"type": "clear_student", "student_id": "s100"})
            assert result["type"] == "command_result"
            assert (await hijacker.expect("session_reset"))["type"] == "session_reset"
            assert await hijacker_ws.wait_closed() == 4002
        presence = await instructor.expect("presence_update", lambda m: m["orphan_duplicate_joins"])
        assert [o["student_id"] for o in presence["orphan_duplicate_joins"]] == ["s100"]

        # The real student claims the id; the hijacker's old cookie is now dead everywhere.
        assert (await victim.join()).status_code == 200
        assert (await victim.http.get("/me")).json()["name"] == "Victor"
        stale = await hijacker.http.get("/me")
        assert stale.status_code == 401 and stale.json()["error"] == "not_joined"
        assert f'{STUDENT_COOKIE}=""' in stale.headers["set-cookie"] or "Max-Age=0" in stale.headers["set-cookie"]
    # Replaying the hijacker's old cookie on the websocket: closed with 4001.
    replay = Student(server.url, "s100", "Mallory")
    replay.http.cookies.set(STUDENT_COOKIE, hijacker_cookie)
    async with replay.connect() as ws:
        assert await ws.wait_closed() == 4001
    for student in (hijacker, victim, replay):
        await student.aclose()


async def test_old_cookie_is_refused_on_every_authenticated_route(server: RunningServer) -> None:
    first = Student(server.url, "s7", "First")
    assert (await first.join()).status_code == 200
    old_cookie = first.http.cookies.get(STUDENT_COOKIE)
    await server.room.clear_student("s7")
    second = Student(server.url, "s7", "Second")
    assert (await second.join()).status_code == 200

    async with httpx.AsyncClient(base_url=server.url, cookies={STUDENT_COOKIE: old_cookie}) as replay:
        assert (await replay.get("/me")).status_code == 401
        assert (await replay.post("/event", json={"kind": "blur"})).status_code == 401
        # Re-posting /join with the dead cookie is a new claim attempt, refused as a duplicate.
        assert (await replay.post("/join", json={"student_id": "s7", "name": "First"})).status_code == 409
    replayer = Student(server.url, "s7", "First")
    replayer.http.cookies.set(STUDENT_COOKIE, old_cookie)
    async with replayer.connect() as ws:
        assert await ws.wait_closed() == 4001
    assert server.room.participants["s7"].name == "Second"
    await first.aclose()
    await second.aclose()
    await replayer.aclose()


async def test_forged_and_foreign_cookies_are_refused(server: RunningServer) -> None:
    student = Student(server.url, "s1", "Ann")
    await student.join()
    genuine = student.http.cookies.get(STUDENT_COOKIE)
    body, _, mac = genuine.rpartition(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    from server.auth import Signer

    other_key = Signer("not the server's key").sign({"sid": "tiny", "student_id": "s1", "cookie_id": "x", "iat": 0})
    for value in ("", "garbage", tampered, other_key, genuine + "x"):
        async with httpx.AsyncClient(base_url=server.url, cookies={STUDENT_COOKIE: value}) as client:
            response = await client.get("/me")
            assert response.status_code == 401, value
    await student.aclose()
