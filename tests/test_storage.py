"""The group-commit writer: batches, order of callbacks, and a callback that fails after its commit."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from server.storage.writer import MemoryDiverged, Storage


def rows(db_path: Path) -> list[tuple[str]]:
    with sqlite3.connect(db_path) as connection:
        return connection.execute("SELECT sid FROM sessions ORDER BY sid").fetchall()


def insert(sid: str) -> list[tuple[str, tuple[str, ...]]]:
    return [("INSERT INTO sessions (sid, title, pool_json) VALUES (?, 't', '{}')", (sid,))]


async def test_queued_writes_are_committed_and_called_back_in_queue_order(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "q.sqlite3")
    storage.open()
    order: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(storage.run)
        queued = [await storage.queue(insert(sid), lambda sid=sid: order.append(sid)) for sid in ("a", "b", "c")]
        for request in queued:
            with trio.fail_after(5):
                await storage.wait(request)
        storage.finish()
    storage.close()
    assert order == ["a", "b", "c"] and rows(tmp_path / "q.sqlite3") == [("a",), ("b",), ("c",)]


async def test_a_callback_failing_after_its_commit_stops_the_writer_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Memory would no longer match the database; carrying on silently is worse than stopping
    # (a restart rebuilds memory from the database, where the write is).
    storage = Storage(tmp_path / "q.sqlite3", commit_in_thread=False)
    storage.open()
    woken: list[str] = []

    def broken() -> None:
        raise KeyError("a bug")

    async def write(sid: str, callback: object) -> None:
        await storage.write(insert(sid), callback)  # type: ignore[arg-type]
        woken.append(sid)

    with pytest.raises(BaseExceptionGroup) as stopped:
        async with trio.open_nursery() as nursery:
            await nursery.start(storage.run)
            nursery.start_soon(write, "a", broken)
            nursery.start_soon(write, "b", lambda: None)
            with trio.fail_after(5):
                await trio.sleep_forever()
    assert stopped.group_contains(MemoryDiverged)
    storage.close()
    assert rows(tmp_path / "q.sqlite3") == [("a",), ("b",)]  # both committed
    assert "could not be applied to memory" in caplog.text
