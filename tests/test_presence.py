"""The dashboard's presence table: whole for a small class, as changed rows for a large one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from server import serve
from server.quiz.pool import Pool
from server.room import presence, views
from server.room.hub import ClientConnection, ClientKind
from server.settings import Settings


def published(client: ClientConnection) -> list[dict[str, object]]:
    """Every presence message queued for a dashboard so far."""
    out = []
    while True:
        try:
            text = client._receive_channel.receive_nowait()
        except Exception:
            return out
        message = json.loads(str(text))
        if message["type"] in ("presence_update", "presence_delta"):
            out.append(message)


async def test_a_large_class_gets_only_the_rows_that_changed(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence, "SMALL_CLASS", 2)
    monkeypatch.setattr(views, "LARGE_CLASS", 2)
    settings = Settings(pool=tiny_pool, data_dir=tmp_path, port=8000, session_id="tiny")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        people = [await room.join(f"s{i}", f"S{i}") for i in range(5)]
        dashboard = ClientConnection(ClientKind.INSTRUCTOR, 512)
        room.connect_instructor(dashboard)
        first = published(dashboard)
        assert [m["type"] for m in first] == ["presence_update"] and len(first[0]["rows"]) == 5  # whole, on connect
        await a_round()
        published(dashboard)

        # One student answers: one row travels, not five.
        await room.next()
        await a_round()
        opened = published(dashboard)
        assert [(m["type"], m["current_question_idx"], m["rows"]) for m in opened] == [("presence_delta", 0, [])]
        await room.submit(people[3], 0, "B")
        await a_round()
        answered = published(dashboard)
        assert [[r["student_id"] for r in m["rows"]] for m in answered] == [["s3"]]
        assert answered[0]["rows"][0]["answered_current"] is True and answered[0]["count"] == 5

        # Nothing changed: nothing is sent.
        await a_round()
        assert published(dashboard) == []

        # A cleared student is removed from the table.
        await room.clear_student("s1")
        await a_round()
        cleared = published(dashboard)
        assert cleared[0]["removed"] == ["s1"] and cleared[0]["count"] == 4

        # A reset removes everyone (an empty class is a small one again: the whole, empty table).
        await room.reset()
        await a_round()
        reset = published(dashboard)
        assert (reset[-1]["type"], reset[-1]["rows"]) == ("presence_update", [])


async def test_a_small_class_gets_the_whole_table_each_round(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool
) -> None:
    settings = Settings(pool=tiny_pool, data_dir=tmp_path, port=8000, session_id="tiny")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        ann = await room.join("ann", "Ann")
        await room.join("ben", "Ben")
        dashboard = ClientConnection(ClientKind.INSTRUCTOR, 512)
        room.connect_instructor(dashboard)
        published(dashboard)
        await room.next()
        await room.submit(ann, 0, "B")
        await a_round()
        rounds = published(dashboard)
        assert rounds[-1]["type"] == "presence_update" and len(rounds[-1]["rows"]) == 2
        assert {r["student_id"]: r["answered_current"] for r in rounds[-1]["rows"]} == {"ann": True, "ben": False}


async def a_round() -> None:
    """Long enough (on the MockClock) for the view publisher's next round, large classes' 1 s included."""
    await trio.sleep(views.HEAVY_VIEW_INTERVAL_S + 0.5)
