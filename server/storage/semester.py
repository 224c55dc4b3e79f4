"""The SQL of the semester commands: listing a data dir's sessions, and writing a regrade.

`quizctl sessions` reads the list from a read-only connection (a server may be writing);
a regrade's statements are written by the running server's writer (its session) or, for a
session no server runs, straight to the database in one transaction (`write_now`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from server.quiz.scoring import points_to_score
from server.storage.operations import Statement


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One session of the data dir, as `quizctl sessions` lists it (times in Unix ms, None when not yet)."""

    sid: str
    title: str
    state: str
    started_at_ms: int | None
    finished_at_ms: int | None
    questions_asked: int
    question_count: int
    participants: int


def list_sessions(connection: sqlite3.Connection) -> list[StoredSession]:
    """Every stored session, in the order they started (never-started ones last, oldest first)."""
    times = _columns_or_null(connection, "sessions", ("started_at_ms", "finished_at_ms"))
    rows = connection.execute(
        f"SELECT s.sid, s.title, s.state, {times},"
        " (SELECT COUNT(*) FROM questions q WHERE q.sid = s.sid),"
        " COALESCE(json_array_length(s.pool_json, '$.questions'), 0),"
        " (SELECT COUNT(*) FROM participants p WHERE p.sid = s.sid)"
        " FROM sessions s"
    ).fetchall()
    sessions = [StoredSession(*row) for row in rows]
    return sorted(sessions, key=lambda s: (s.started_at_ms is None, s.started_at_ms or 0, s.sid))


def _columns_or_null(connection: sqlite3.Connection, table: str, names: tuple[str, ...]) -> str:
    """`names` for a SELECT, NULL for those an older database lacks (a read-only one cannot be upgraded)."""
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    return ", ".join(name if name in present else "NULL" for name in names)


@dataclass(frozen=True, slots=True)
class Rescored:
    """One answer's new grade: what its `submissions` row becomes."""

    student_id: str
    question_idx: int
    points: int
    correct: bool


class RegradeLog:
    """Statements of one regrade of session `sid`: new scores, the pool they came from, a history row."""

    def __init__(self, sid: str) -> None:
        self.sid = sid

    def regraded(
        self,
        rescored: Sequence[Rescored],
        pool_json: str,
        title: str,
        pool_dir: str | None,
        detail: str,
        now_ms: int,
    ) -> list[Statement]:
        """Every rescored answer, the session's pool replaced by the fixed one, and a `regrade` event (no student)."""
        statements: list[Statement] = [
            (
                (
                    "UPDATE submissions SET points = ?, score = ?, correct = ?"
                    " WHERE sid = ? AND student_id = ? AND question_idx = ? AND status = 'submitted'"
                ),
                (r.points, points_to_score(r.points), int(r.correct), self.sid, r.student_id, r.question_idx),
            )
            for r in rescored
        ]
        statements.append(
            (
                "UPDATE sessions SET pool_json = ?, title = ?, pool_dir = COALESCE(?, pool_dir) WHERE sid = ?",
                (pool_json, title, pool_dir, self.sid),
            )
        )
        statements.append(
            (
                (
                    "INSERT INTO student_events (sid, student_id, question_idx, kind, detail, ts_ms)"
                    " VALUES (?, NULL, NULL, 'regrade', ?, ?)"
                ),
                (self.sid, detail, now_ms),
            )
        )
        return statements


def regrade_history(connection: sqlite3.Connection, sid: str) -> list[tuple[int, str]]:
    """The session's regrades, oldest first: (time in Unix ms, detail JSON)."""
    rows = connection.execute(
        "SELECT ts_ms, detail FROM student_events WHERE sid = ? AND kind = 'regrade' ORDER BY id", (sid,)
    ).fetchall()
    return [(int(ts), str(detail)) for ts, detail in rows]


def write_now(connection: sqlite3.Connection, statements: Sequence[Statement]) -> None:
    """Run `statements` in one transaction (for a session no server is running)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for sql, params in statements:
            connection.execute(sql, params)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
