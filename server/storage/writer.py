"""SQLite persistence: the room's durable log. The only module that speaks SQL.

One connection, used by one writer task. Writes are queued on a bounded channel; the
writer drains everything queued, runs it in a single transaction in a worker thread
(group commit), then runs each write's `on_commit` callback on the event loop, in
queue order, before waking its waiter. Each write runs inside its own SAVEPOINT, so a
write that fails (a constraint, say) is rolled back alone; a failing COMMIT (disk full,
read-only file) fails the whole batch and every waiter gets a StorageError.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from server.session.model import (
    AskedQuestion,
    DuplicateJoinLog,
    Participant,
    SessionRecord,
    SessionState,
    Submission,
    SubmissionStatus,
)
from server.quiz.pool import Pool, parse_pool

log = logging.getLogger("quizctl.storage")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    pool_json TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'lobby',
    current_question_idx INTEGER,
    updated_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS participants (
    sid TEXT NOT NULL,
    student_id TEXT NOT NULL,
    name TEXT NOT NULL,
    cookie_id TEXT NOT NULL,
    joined_at_ms INTEGER NOT NULL,
    PRIMARY KEY (sid, student_id)
);
CREATE TABLE IF NOT EXISTS questions (
    sid TEXT NOT NULL,
    question_idx INTEGER NOT NULL,
    opened_at_ms INTEGER NOT NULL,
    time_limit INTEGER NOT NULL,
    closed_at_ms INTEGER,
    PRIMARY KEY (sid, question_idx)
);
CREATE TABLE IF NOT EXISTS submissions (
    sid TEXT NOT NULL,
    student_id TEXT NOT NULL,
    question_idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    answer TEXT,
    elapsed_ms INTEGER,
    points INTEGER NOT NULL DEFAULT 0,
    score REAL NOT NULL DEFAULT 0,
    correct INTEGER NOT NULL DEFAULT 0,
    submitted_at_ms INTEGER,
    PRIMARY KEY (sid, student_id, question_idx)
);
CREATE TABLE IF NOT EXISTS student_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL,
    student_id TEXT,
    question_idx INTEGER,
    kind TEXT NOT NULL,
    detail TEXT,
    ts_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS student_events_by_sid ON student_events (sid, kind);
"""

Statement = tuple[str, Sequence[Any]]
WRITE_QUEUE_SIZE = 8192
MAX_BATCH = 4096


class StorageError(Exception):
    """A write could not be committed; nothing of it is in the database."""


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


def connect(db_path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection


class Storage:
    def __init__(self, db_path: Path, *, commit_in_thread: bool = True) -> None:
        self.db_path = db_path
        # Tests under trio's MockClock commit inline: waiting on a worker thread counts as
        # idle there, and the autojumping clock would fire question timers mid-commit.
        self.commit_in_thread = commit_in_thread
        self._connection: sqlite3.Connection | None = None
        self._send, self._receive = trio.open_memory_channel[PendingWrite](WRITE_QUEUE_SIZE)
        self.last_error: str | None = None
        # Statements of keep=True writes whose batch failed: committed ahead of everything
        # else once the database can be written again.
        self._backlog: list[Statement] = []
        self.commits = 0
        self.writes = 0

    # ---- start-up (synchronous, before serving) ----

    def open(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = connect(self.db_path)
        self._connection.executescript(SCHEMA)
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
        """The stored session `sid`, with `pool` as its (possibly edited) quiz."""
        pool_json = json.dumps(pool.to_json(), ensure_ascii=False)
        self.connection.execute(
            "INSERT INTO sessions (sid, title, pool_json) VALUES (?, ?, ?) "
            "ON CONFLICT(sid) DO UPDATE SET title = excluded.title, pool_json = excluded.pool_json",
            (sid, pool.title, pool_json),
        )
        return load_session(self.connection, sid, pool)

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
        for request in batch:
            if request.error is not None and request.keep and not isinstance(request.error, _PER_WRITE_ERRORS):
                self._backlog.extend(request.statements)
            if request.error is None and request.on_commit is not None:
                try:
                    request.on_commit()
                except Exception:  # a bug in a callback must not stop the writer
                    log.exception("on_commit callback failed")
            request.done.set()

    def finish(self) -> None:
        """No more writes; the writer drains the queue and returns."""
        self._send.close()

    def _commit_batch(self, batch: list[PendingWrite]) -> None:
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            for request in batch:
                connection.execute("SAVEPOINT one_write")
                try:
                    for sql, params in request.statements:
                        connection.execute(sql, params)
                except _PER_WRITE_ERRORS as exc:
                    connection.execute("ROLLBACK TO one_write")
                    request.error = exc
                connection.execute("RELEASE one_write")
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
        self.commits += 1
        self.writes += len(batch)
        if self.last_error is not None:
            log.warning("database writes work again")
        self.last_error = None


def load_session(connection: sqlite3.Connection, sid: str, pool: Pool | None = None) -> SessionRecord:
    """Rebuild a session from its rows. Without `pool`, the stored pool is used (offline export)."""
    row = connection.execute(
        "SELECT pool_json, state, current_question_idx FROM sessions WHERE sid = ?", (sid,)
    ).fetchone()
    if row is None:
        raise KeyError(sid)
    if pool is None:
        pool = parse_pool(json.loads(row[0]), source=f"<stored pool of session {sid}>")
    record = SessionRecord(sid=sid, pool=pool, state=SessionState(row[1]), current_question_idx=row[2])

    for question_idx, opened_at_ms, time_limit, closed_at_ms in connection.execute(
        "SELECT question_idx, opened_at_ms, time_limit, closed_at_ms FROM questions WHERE sid = ? ORDER BY question_idx",
        (sid,),
    ):
        record.asked[question_idx] = AskedQuestion(question_idx, opened_at_ms, time_limit, closed_at_ms)

    for student_id, name, cookie_id, joined_at_ms in connection.execute(
        "SELECT student_id, name, cookie_id, joined_at_ms FROM participants WHERE sid = ? ORDER BY joined_at_ms, rowid",
        (sid,),
    ):
        record.participants[student_id] = Participant(student_id, name, cookie_id, joined_at_ms)

    for student_id, question_idx, status, answer, elapsed_ms, points, correct in connection.execute(
        "SELECT student_id, question_idx, status, answer, elapsed_ms, points, correct FROM submissions WHERE sid = ?",
        (sid,),
    ):
        participant = record.participants.get(student_id)
        asked = record.asked.get(question_idx)
        if participant is None or asked is None:
            continue
        submission = Submission(question_idx, SubmissionStatus(status), answer, elapsed_ms, points, bool(correct))
        participant.record(submission)
        asked.count(submission)

    for student_id, kind, count in connection.execute(
        "SELECT student_id, kind, COUNT(*) FROM student_events WHERE sid = ? AND kind IN ('blur', 'visibility_hidden') "
        "GROUP BY student_id, kind",
        (sid,),
    ):
        participant = record.participants.get(student_id)
        if participant is not None:
            if kind == "blur":
                participant.blur_count = count
            else:
                participant.hidden_count = count

    for student_id, count, latest_ts, latest_detail in connection.execute(
        "SELECT student_id, COUNT(*), MAX(ts_ms), (SELECT detail FROM student_events e2 WHERE e2.sid = e.sid "
        "AND e2.student_id = e.student_id AND e2.kind = 'duplicate_join' ORDER BY id DESC LIMIT 1) "
        "FROM student_events e WHERE sid = ? AND kind = 'duplicate_join' GROUP BY student_id",
        (sid,),
    ):
        record.duplicate_joins[student_id] = DuplicateJoinLog(count, latest_ts, latest_detail)
    return record


def open_read_only(db_path: Path) -> sqlite3.Connection:
    if not db_path.exists():
        raise FileNotFoundError(db_path)
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def stored_session_ids(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT sid FROM sessions ORDER BY updated_at_ms DESC, rowid DESC")]

