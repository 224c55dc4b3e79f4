"""Reading sessions back: rebuilding a session's memory from its rows, listing stored sessions."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

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


def load_or_create(connection: sqlite3.Connection, sid: str, pool: Pool) -> SessionRecord:
    """The stored session `sid` with `pool` as its (possibly edited) quiz; created when new."""
    pool_json = json.dumps(pool.to_json(), ensure_ascii=False)
    connection.execute(
        "INSERT INTO sessions (sid, title, pool_json) VALUES (?, ?, ?) "
        "ON CONFLICT(sid) DO UPDATE SET title = excluded.title, pool_json = excluded.pool_json",
        (sid, pool.title, pool_json),
    )
    return load_session(connection, sid, pool)


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
        if question_idx < len(pool.questions):  # a pool shortened since keeps the answers in the database only
            asked = AskedQuestion.of(pool, question_idx, opened_at_ms, time_limit)
            asked.closed_at_ms = closed_at_ms
            record.asked[question_idx] = asked

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
        question = pool.questions[question_idx]
        submission = Submission(
            question_idx,
            SubmissionStatus(status),
            _answer(question, answer),
            elapsed_ms,
            points,
            bool(correct),
            points * weight_units(question.weight) if question.scored else 0,
        )
        participant.record(submission, revealed=asked.closed_at_ms is not None)
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


def stored_session_ids(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT sid FROM sessions ORDER BY updated_at_ms DESC, rowid DESC")]

