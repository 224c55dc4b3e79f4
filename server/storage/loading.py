"""Reading sessions back: rebuilding a session's memory from its rows, listing stored sessions."""

from __future__ import annotations

import copy
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.quiz import content
from server.quiz.content import ContentError
from server.quiz.pool import Pool, parse_pool
from server.quiz.scoring import weight_units
from server.quiz.types.base import Question
from server.session.machine import SessionState
from server.session.model import (
    AskedQuestion,
    DuplicateJoinLog,
    Participant,
    SessionRecord,
    Submission,
    SubmissionStatus,
)
from server.session.roster import Roster, RosterEntry


def load_or_create(connection: sqlite3.Connection, sid: str, pool: Pool) -> SessionRecord:
    """The stored session `sid` with `pool` as its (possibly edited) quiz; created when new.

    `record.changed_questions` lists the (0-based) questions that differ from the pool the
    session stored last time: the operator is warned, and `quizctl regrade` can rescore.
    """
    pool_json = json.dumps(pool.to_json(), ensure_ascii=False)
    stored = connection.execute("SELECT pool_json FROM sessions WHERE sid = ?", (sid,)).fetchone()
    changed = changed_questions(json.loads(stored[0]), pool.to_json()) if stored else []
    pool_dir = str(pool.base_dir) if not pool.source.startswith("<") else None
    connection.execute(
        "INSERT INTO sessions (sid, title, pool_json, pool_dir) VALUES (?, ?, ?, ?) ON CONFLICT(sid) DO UPDATE"
        " SET title = excluded.title, pool_json = excluded.pool_json, pool_dir = excluded.pool_dir",
        (sid, pool.title, pool_json, pool_dir),
    )
    record = load_session(connection, sid, pool)
    record.changed_questions = changed
    return record


def changed_questions(old: dict[str, Any], new: dict[str, Any]) -> list[int]:
    """Indexes of the questions that differ between two pools in their canonical JSON form."""
    before, after = old.get("questions", []), new.get("questions", [])
    return [
        i for i in range(max(len(before), len(after))) if i >= len(before) or i >= len(after) or before[i] != after[i]
    ]


def stored_states(connection: sqlite3.Connection) -> dict[str, str]:
    """Every stored session's state, by id."""
    return dict(connection.execute("SELECT sid, state FROM sessions").fetchall())


def replace_roster(connection: sqlite3.Connection, roster: Roster) -> None:
    """The data dir's class list becomes `roster` (given to `serve --roster`), in one transaction."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("DELETE FROM roster")
        connection.executemany(
            "INSERT INTO roster (student_id, name, first_name, last_name, email, section, extra_time, login, position)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (e.student_id, e.name, e.first_name, e.last_name, e.email, e.section, e.extra_time, e.login, i)
                for i, e in enumerate(roster)
            ],
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _answer(question: Question, text: str | None) -> Any:
    """A stored answer as its question's type reads it (None for a missed row).

    An answer its question can no longer read (the pool changed the question's type since)
    is kept as stored text; it still counts as answered, with the score it was given.
    """
    if text is None:
        return None
    try:
        return question.answer_from_text(text)
    except (ValueError, TypeError):
        return text


@dataclass(frozen=True, slots=True)
class MissingImage:
    """A picture the stored pool names but that could not be read (no pool folder given, or not in it)."""

    question_idx: int  # in the pool
    label: str  # "" for the question's own image, "Option B" for an option's
    path: str  # as the pool file wrote it
    alt: str
    reason: str


def stored_pool(data: Any, sid: str, image_dir: Path | None) -> tuple[Pool, list[MissingImage]]:
    """The stored pool, its pictures read from `image_dir`; a picture that cannot be read is left out and listed.

    Without this, a stored pool that names images could not be read back at all (the database has
    no folder to find them in); the report still wants its figures.
    """
    data = copy.deepcopy(data)
    missing: list[MissingImage] = []
    for idx, question in enumerate(data.get("questions", []) if isinstance(data, dict) else []):
        if not isinstance(question, dict):
            continue
        if question.get("image") is not None:
            reason = _unreadable(image_dir, question.get("image"), question.get("image_alt"))
            if reason:
                missing.append(
                    MissingImage(idx, "", str(question["image"]), str(question.get("image_alt") or ""), reason)
                )
                question.pop("image", None)
                question.pop("image_alt", None)
        options = question.get("options")
        if not isinstance(options, dict):
            continue
        for key, option in options.items():
            if isinstance(option, dict) and option.get("image") is not None:
                reason = _unreadable(image_dir, option.get("image"), option.get("image_alt"))
                if reason:
                    alt = str(option.get("image_alt") or "")
                    missing.append(MissingImage(idx, f"Option {key}", str(option["image"]), alt, reason))
                    options[key] = {"text": option.get("text", "")}
    return parse_pool(data, f"<stored pool of session {sid}>", base_dir=image_dir), missing


def _unreadable(image_dir: Path | None, path: object, alt: object) -> str | None:
    """Why the picture cannot be inlined, or None when it can."""
    if image_dir is None:
        return "the database keeps only its path; give the pool file's folder"
    try:
        content.load_image(image_dir, str(path), None if alt is None else str(alt))
    except ContentError as problem:
        return problem.message
    return None


def load_session(connection: sqlite3.Connection, sid: str, pool: Pool | None = None) -> SessionRecord:
    """Rebuild a session from its rows. Without `pool`, the stored pool is used (offline export)."""
    times = _columns_or_null(connection, "sessions", ("started_at_ms", "finished_at_ms"))
    row = connection.execute(
        f"SELECT pool_json, state, current_question_idx, {times} FROM sessions WHERE sid = ?", (sid,)
    ).fetchone()
    if row is None:
        raise KeyError(sid)
    if pool is None:
        pool_dir = connection.execute(
            f"SELECT {_columns_or_null(connection, 'sessions', ('pool_dir',))} FROM sessions WHERE sid = ?", (sid,)
        ).fetchone()[0]
        pool, _ = stored_pool(json.loads(row[0]), sid, Path(pool_dir) if pool_dir else None)
    record = SessionRecord(sid=sid, pool=pool, state=SessionState(row[1]), current_question_idx=row[2])
    record.started_at_ms, record.finished_at_ms = row[3], row[4]
    record.roster = load_roster(connection)
    _load_questions(connection, record)
    _load_participants(connection, record)
    _load_submissions(connection, record)
    _load_events(connection, record)
    return record


def _columns_or_null(connection: sqlite3.Connection, table: str, names: tuple[str, ...]) -> str:
    """`names` for a SELECT, NULL for those an older database lacks (one opened read-only cannot be upgraded)."""
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    return ", ".join(name if name in present else "NULL" for name in names)


def _load_questions(connection: sqlite3.Connection, record: SessionRecord) -> None:
    pauses = _columns_or_null(connection, "questions", ("paused_at_ms", "paused_ms", "skipped"))
    for idx, opened, limit, closed, paused_at, paused_ms, skipped in connection.execute(
        f"SELECT question_idx, opened_at_ms, time_limit, closed_at_ms, {pauses}"
        " FROM questions WHERE sid = ? ORDER BY question_idx",
        (record.sid,),
    ):
        paused_ms = paused_ms or 0
        if idx < len(record.pool.questions):  # a pool shortened since keeps the answers in the database only
            asked = AskedQuestion.of(record.pool, idx, opened, limit)
            asked.closed_at_ms, asked.paused_at_ms, asked.paused_ms, asked.skipped = (
                closed,
                paused_at,
                paused_ms,
                bool(skipped),
            )
            record.asked[idx] = asked


def _load_participants(connection: sqlite3.Connection, record: SessionRecord) -> None:
    for student_id, name, cookie_id, joined_at_ms in connection.execute(
        "SELECT student_id, name, cookie_id, joined_at_ms FROM participants WHERE sid = ? ORDER BY joined_at_ms, rowid",
        (record.sid,),
    ):
        participant = Participant(student_id, name, cookie_id, joined_at_ms)
        entry = record.roster.get(student_id) if record.roster is not None else None
        if entry is not None:
            participant.extra_time = entry.extra_time
        record.participants[student_id] = participant


def _load_submissions(connection: sqlite3.Connection, record: SessionRecord) -> None:
    for student_id, question_idx, status, answer, elapsed_ms, points, correct in connection.execute(
        "SELECT student_id, question_idx, status, answer, elapsed_ms, points, correct FROM submissions WHERE sid = ?",
        (record.sid,),
    ):
        participant = record.participants.get(student_id)
        asked = record.asked.get(question_idx)
        if participant is None or asked is None:
            continue
        question = record.pool.questions[question_idx]
        submission = Submission(
            question_idx,
            SubmissionStatus(status),
            _answer(question, answer),
            elapsed_ms,
            points,
            bool(correct),
            points * weight_units(question.weight) if question.scored else 0,
        )
        # Only a revealed question counts in totals (an open one, or one skipped, never does).
        participant.record(submission, revealed=asked.closed_at_ms is not None and not asked.skipped)
        asked.count(submission)


def _load_events(connection: sqlite3.Connection, record: SessionRecord) -> None:
    for student_id, kind, count in connection.execute(
        "SELECT student_id, kind, COUNT(*) FROM student_events WHERE sid = ? AND kind IN ('blur', 'visibility_hidden') "
        "GROUP BY student_id, kind",
        (record.sid,),
    ):
        participant = record.participants.get(student_id)
        if participant is not None:
            if kind == "blur":
                participant.blur_count = count
            else:
                participant.hidden_count = count
    for kind, attempts in (("duplicate_join", record.duplicate_joins), ("not_on_roster", record.refused_joins)):
        for student_id, count, latest_ts, latest_detail in connection.execute(
            "SELECT student_id, COUNT(*), MAX(ts_ms), (SELECT detail FROM student_events e2 WHERE e2.sid = e.sid "
            "AND e2.student_id = e.student_id AND e2.kind = e.kind ORDER BY id DESC LIMIT 1) "
            "FROM student_events e WHERE sid = ? AND kind = ? GROUP BY student_id",
            (record.sid, kind),
        ):
            attempts[student_id] = DuplicateJoinLog(count, latest_ts, latest_detail)


def load_roster(connection: sqlite3.Connection) -> Roster | None:
    """The data dir's class list, or None when it has none."""
    if not connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'roster'").fetchone():
        return None
    rows = connection.execute(
        "SELECT student_id, name, first_name, last_name, email, section, extra_time, login"
        " FROM roster ORDER BY position"
    ).fetchall()
    if not rows:
        return None
    return Roster((RosterEntry(*row) for row in rows), source="the data dir's roster")


def stored_session_ids(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT sid FROM sessions ORDER BY updated_at_ms DESC, rowid DESC")]
