"""The group-commit writer: every change the room makes reaches SQLite through here.

The storage package is the only code that speaks SQL: `schema` (tables, connections),
`operations` (every statement the room writes, by name), `loading` (rebuilding a
session from its rows) and this writer. One connection, used by one writer task.

Writes are queued on a bounded channel; the writer drains everything queued, runs it in
a single transaction in a worker thread (group commit), then runs each write's
`on_commit` callback on the event loop, in queue order, before waking its waiter. Each
write runs inside its own SAVEPOINT, so a write that fails (a constraint, say) is rolled
back alone; a failing COMMIT (disk full, read-only file) fails the whole batch and every
waiter gets a StorageError.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from server.quiz.pool import Pool
from server.session.model import SessionRecord
from server.storage import loading
from server.storage.operations import Statement
from server.storage.schema import connect, create_or_upgrade

log = logging.getLogger("quizctl.storage")

WRITE_QUEUE_SIZE = 8192
MAX_BATCH = 4096


class StorageError(Exception):
    """A write could not be committed; nothing of it is in the database."""


class MemoryDiverged(Exception):
    """A write was committed but the room's memory could not take it in (a bug in its callback).

    Memory and the database would disagree from here on, so the writer stops the server
    instead of carrying on: everything acknowledged is committed, and a restart rebuilds
    memory from the database.
    """


@dataclass(slots=True, eq=False)
class PendingWrite:
    """A queued write; `done` is set once it is committed (or has failed: `error`)."""

    statements: Sequence[Statement]
    on_commit: Callable[[], None] | None
    keep: bool = False
    done: trio.Event = field(default_factory=trio.Event)
    error: BaseException | None = None


# Errors that belong to one write (its own SQL or data). Anything else (read-only, disk
# full, I/O error, corruption) is the database failing: the whole batch fails and
# `last_error` says so.
_PER_WRITE_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError)
BACKLOG_RETRY_S = 1.0
# Commits start at most this often: a write that comes sooner after the last one waits for
# the rest of the window, so that the writes arriving meanwhile share its commit. A commit
# costs ~0.1 ms of CPU plus the hand-off to the worker thread and back, whatever it holds;
# 10,000 answers over 3 s committed one or two at a time spent more on that than on
# everything else the answers needed. A lone write after a quiet moment does not wait.
# 20 ms is below what a phone shows, and lets joins at 200/s share commits too; against
# 5 ms, at 10,000 students: join 2.95 -> 1.98 ms and 0.294 -> 0.257 ms per student per
# question of server CPU, ack p50 6 -> 16 ms and p99 199 -> 180 ms (bench/README.md).
COMMIT_WINDOW_S = 0.02


class Storage:
    def __init__(self, db_path: Path, *, commit_in_thread: bool = True) -> None:
        self.db_path = db_path
        # Tests under trio's MockClock commit inline: waiting on a worker thread counts as
        # idle there, and the autojumping clock would fire question timers mid-commit.
        # (Nor do they wait for a commit window: every write commits as soon as it is queued.)
        self.commit_in_thread = commit_in_thread
        self.commit_window_s = COMMIT_WINDOW_S if commit_in_thread else 0.0
        self._last_commit_at = -float("inf")
        self._connection: sqlite3.Connection | None = None
        self._send, self._receive = trio.open_memory_channel[PendingWrite](WRITE_QUEUE_SIZE)
        self.last_error: str | None = None
        # Statements of keep=True writes whose batch failed: committed ahead of everything
        # else once the database can be written again.
        self._backlog: list[Statement] = []

    # ---- start-up (synchronous, before serving) ----

    def open(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = connect(self.db_path)
        create_or_upgrade(self._connection)
        for path in (self.db_path, self.db_path.with_name(self.db_path.name + "-wal")):
            if path.exists():
                os.chmod(path, 0o600)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def connection(self) -> sqlite3.Connection:
        assert self._connection is not None, "Storage.open() first"
        return self._connection

    def load_or_create(self, sid: str, pool: Pool) -> SessionRecord:
        """The stored session `sid`, with `pool` as its (possibly edited) quiz (before the writer runs)."""
        return loading.load_or_create(self.connection, sid, pool)

    # ---- the writer ----

    async def write(
        self, statements: Sequence[Statement], on_commit: Callable[[], None] | None = None, *, keep: bool = False
    ) -> None:
        """Commit `statements` atomically (batched with concurrent writes); raise StorageError if not.

        With `keep`, a write that fails because the database cannot be written is kept and
        committed ahead of every later write once it can (the caller's memory already has
        the change). StorageError is still raised so the caller can log it.
        """
        await self.wait(await self.queue(statements, on_commit, keep=keep))

    async def queue(
        self, statements: Sequence[Statement], on_commit: Callable[[], None] | None = None, *, keep: bool = False
    ) -> PendingWrite:
        """Queue a write and return without waiting for its commit (see `wait`).

        Unless the queue is full this does not yield, so writes queued by one task keep the
        order of that task's other actions.
        """
        request = PendingWrite(statements, on_commit, keep)
        try:
            try:
                self._send.send_nowait(request)
            except trio.WouldBlock:
                await self._send.send(request)
        except (trio.ClosedResourceError, trio.BrokenResourceError) as exc:
            raise StorageError("the server is shutting down") from exc
        return request

    @staticmethod
    async def wait(request: PendingWrite) -> None:
        await request.done.wait()
        if request.error is not None:
            raise StorageError(str(request.error)) from request.error

    async def save(self, statements: Sequence[Statement], *, what: str, keep: bool = True) -> None:
        """Write a change memory has already made; a failure is logged (and shown in `last_error`), not raised.

        With `keep` (state transitions, clears, resets) a write that fails while the database
        cannot be written is kept and saved once it can; audit events are not kept, so an
        outage cannot pile them up.
        """
        await (await self.queue_save(statements, what=what, keep=keep))

    async def queue_save(self, statements: Sequence[Statement], *, what: str, keep: bool = True) -> Awaitable[None]:
        """`save`, in two halves: queue the write now; the returned awaitable waits for its commit."""
        try:
            request = await self.queue(statements, keep=keep)
        except StorageError as exc:
            log.error("could not save %s: %s", what, exc)
            return trio.lowlevel.checkpoint()  # noqa: ASYNC105 (awaited by the caller, as `committed()` is)

        async def committed() -> None:
            try:
                await self.wait(request)
            except StorageError as exc:
                outcome = "kept, and saved once the database can be written" if keep else "lost"
                log.error("could not save %s now (%s): %s", what, outcome, exc)

        return committed()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The single writer task. Returns after `finish()` once every queued write is done."""
        task_status.started()
        async with self._receive:
            while True:
                first: PendingWrite | None = None
                try:
                    if self._backlog:  # retry kept writes every second even when nothing new comes
                        with trio.move_on_after(BACKLOG_RETRY_S):
                            first = await self._receive.receive()
                    else:
                        first = await self._receive.receive()
                except trio.EndOfChannel:
                    if self._backlog:
                        await self._commit([])  # a last try before shutting down
                    return
                batch = [] if first is None else [first]
                if batch and self.commit_window_s:
                    await trio.sleep_until(self._last_commit_at + self.commit_window_s)
                    self._last_commit_at = trio.current_time()
                while batch and len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await self._commit(batch)

    async def _commit(self, batch: list[PendingWrite]) -> None:
        kept: PendingWrite | None = None
        if self._backlog:
            kept = PendingWrite(list(self._backlog), None)
            batch = [kept, *batch]
        if self.commit_in_thread:
            await trio.to_thread.run_sync(self._commit_batch, batch)
        else:
            self._commit_batch(batch)
            await trio.lowlevel.checkpoint()
        if kept is not None:
            batch = batch[1:]
            if kept.error is None:
                log.warning("saved %d statements kept while the database could not be written", len(self._backlog))
                self._backlog.clear()
            elif isinstance(kept.error, _PER_WRITE_ERRORS):
                log.error("dropping kept statements that cannot be saved: %s", kept.error)
                self._backlog.clear()
        diverged: BaseException | None = None
        for request in batch:
            if request.error is not None and request.keep and not isinstance(request.error, _PER_WRITE_ERRORS):
                self._backlog.extend(request.statements)
            if request.error is None and request.on_commit is not None:
                try:
                    request.on_commit()
                except Exception as exc:  # committed, but memory did not take it: see MemoryDiverged
                    log.exception("a committed write could not be applied to memory; stopping the server")
                    diverged = diverged or exc
            request.done.set()
        if diverged is not None:
            raise MemoryDiverged("memory and the database disagree; restart the server to reload it") from diverged

    def _execute_together(self, batch: list[PendingWrite]) -> None:
        """Every statement in order, runs of the same SQL in one executemany (a batch of answers is one call)."""
        connection = self.connection
        run_sql = ""
        run_params: list[Any] = []
        for request in batch:
            for sql, params in request.statements:
                if sql != run_sql:
                    if run_params:
                        connection.executemany(run_sql, run_params)
                    run_sql, run_params = sql, []
                run_params.append(params)
        if run_params:
            connection.executemany(run_sql, run_params)

    def _execute_each_alone(self, batch: list[PendingWrite]) -> None:
        """Each write in its own savepoint: one that fails is undone and reported, the others commit."""
        connection = self.connection
        for request in batch:
            connection.execute("SAVEPOINT one_write")
            try:
                for sql, params in request.statements:
                    connection.execute(sql, params)
            except _PER_WRITE_ERRORS as exc:
                connection.execute("ROLLBACK TO one_write")
                request.error = exc
            connection.execute("RELEASE one_write")

    def finish(self) -> None:
        """No more writes; the writer drains the queue and returns."""
        self._send.close()

    def _commit_batch(self, batch: list[PendingWrite]) -> None:
        """One transaction for the batch: all of it at once, else (one write failed) each write in its savepoint."""
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._execute_together(batch)
            except _PER_WRITE_ERRORS:
                connection.execute("ROLLBACK")
                connection.execute("BEGIN IMMEDIATE")
                self._execute_each_alone(batch)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for request in batch:
                request.error = request.error or exc
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("database write failed (%d writes not committed): %s", len(batch), exc)
            return
        if self.last_error is not None:
            log.warning("database writes work again")
        self.last_error = None
