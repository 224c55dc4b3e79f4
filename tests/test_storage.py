"""The group-commit writer: batches, callback order, a write failing alone, a callback failing after its commit."""

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


async def test_a_write_that_fails_fails_alone_and_the_rest_of_its_batch_commits(tmp_path: Path) -> None:
    # A batch is first tried in one go (runs of the same SQL in one executemany); when one
    # write breaks a constraint, the batch is redone with each write in its own savepoint.
    storage = Storage(tmp_path / "q.sqlite3", commit_in_thread=False)
    storage.open()
    called: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(storage.run)
        writes = {
            "a": insert("a"),
            "dup": insert("b") + insert("a"),  # its first statement must be undone with it
            "c": insert("c"),
            "d": insert("d") + [("UPDATE sessions SET title = 'd' WHERE sid = ?", ("d",))],
        }
        queued = {
            name: await storage.queue(statements, lambda n=name: called.append(n))
            for name, statements in writes.items()
        }
        for request in queued.values():
            with trio.fail_after(5):
                await request.done.wait()
        storage.finish()
    storage.close()
    assert isinstance(queued["dup"].error, sqlite3.IntegrityError)
    assert all(queued[name].error is None for name in ("a", "c", "d"))
    assert called == ["a", "c", "d"]
    assert rows(tmp_path / "q.sqlite3") == [("a",), ("c",), ("d",)]
    with sqlite3.connect(tmp_path / "q.sqlite3") as connection:
        assert connection.execute("SELECT title FROM sessions WHERE sid = 'd'").fetchone() == ("d",)


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
