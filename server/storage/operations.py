"""Every statement the room writes, by name.

The room never holds SQL: it asks a `SessionLog` for the statements of what happened
(`participant_joined`, `answer_submitted`, `question_opened`, …) and queues them on the
writer, which commits them together with whatever else is queued (`server.storage.writer`).
Each method returns a list of statements that must commit atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.quiz.scoring import points_to_score
from server.session.machine import SessionState
from server.session.model import AskedQuestion, Participant, Submission
from server.session.roster import RosterEntry

Statement = tuple[str, Sequence[Any]]


class RosterLog:
    """Statements for the data dir's class list (course-wide: every session uses it)."""

    @staticmethod
    def added(entry: RosterEntry, position: int) -> list[Statement]:
        return [
            (
                "INSERT OR REPLACE INTO roster (student_id, name, first_name, last_name, email, section, extra_time,"
                " login, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.student_id,
                    entry.name,
                    entry.first_name,
                    entry.last_name,
                    entry.email,
                    entry.section,
                    entry.extra_time,
                    entry.login,
                    position,
                ),
            )
        ]

    @staticmethod
    def removed(student_id: str) -> list[Statement]:
        return [("DELETE FROM roster WHERE student_id = ?", (student_id,))]


class SessionLog:
    """Statements for one session (`sid`): what the room writes as its durable log."""

    def __init__(self, sid: str) -> None:
        self.sid = sid

    def participant_joined(self, participant: Participant) -> list[Statement]:
        """The participant's row, and a `missed` row for every question closed before they came."""
        return [
            (
                "INSERT INTO participants (sid, student_id, name, cookie_id, joined_at_ms) VALUES (?, ?, ?, ?, ?)",
                (self.sid, participant.student_id, participant.name, participant.cookie_id, participant.joined_at_ms),
            ),
            (
                "INSERT OR IGNORE INTO submissions (sid, student_id, question_idx, status, points, score) "
                "SELECT sid, ?, question_idx, 'missed', 0, 0 FROM questions"
                " WHERE sid = ? AND closed_at_ms IS NOT NULL AND skipped = 0",
                (participant.student_id, self.sid),
            ),
        ]

    def answer_submitted(
        self, student_id: str, submission: Submission, answer_text: str, now_ms: int
    ) -> list[Statement]:
        """The answer as its type writes it as text (`A;C`, `true`, `3.14`, the text itself)."""
        return [
            (
                "INSERT INTO submissions (sid, student_id, question_idx, status, answer, elapsed_ms, points, score,"
                " correct, submitted_at_ms) VALUES (?, ?, ?, 'submitted', ?, ?, ?, ?, ?, ?)",
                (
                    self.sid,
                    student_id,
                    submission.question_idx,
                    answer_text,
                    submission.elapsed_ms,
                    submission.points,
                    points_to_score(submission.points),
                    int(submission.correct),
                    now_ms,
                ),
            )
        ]

    def question_opened(self, asked: AskedQuestion, state: SessionState, now_ms: int) -> list[Statement]:
        return [
            (
                "INSERT OR REPLACE INTO questions (sid, question_idx, opened_at_ms, time_limit, closed_at_ms)"
                " VALUES (?, ?, ?, ?, NULL)",
                (self.sid, asked.question_idx, asked.opened_at_ms, asked.time_limit),
            ),
            self.session_state(state, asked.question_idx, now_ms),
        ]

    def question_closed(self, asked: AskedQuestion, state: SessionState, now_ms: int) -> list[Statement]:
        """The close time, and a `missed` row for every participant without an answer."""
        return [
            (
                "UPDATE questions SET closed_at_ms = ?, paused_at_ms = NULL, paused_ms = ?"
                " WHERE sid = ? AND question_idx = ?",
                (asked.closed_at_ms, asked.paused_ms, self.sid, asked.question_idx),
            ),
            (
                "INSERT OR IGNORE INTO submissions (sid, student_id, question_idx, status, points, score)"
                " SELECT sid, student_id, ?, 'missed', 0, 0 FROM participants WHERE sid = ?",
                (asked.question_idx, self.sid),
            ),
            self.session_state(state, asked.question_idx, now_ms),
        ]

    def question_skipped(self, asked: AskedQuestion, state: SessionState, now_ms: int) -> list[Statement]:
        """Closed without a reveal: no `missed` rows, and its answers count for nobody."""
        return [
            (
                "UPDATE questions SET closed_at_ms = ?, paused_at_ms = NULL, paused_ms = ?, skipped = 1"
                " WHERE sid = ? AND question_idx = ?",
                (asked.closed_at_ms, asked.paused_ms, self.sid, asked.question_idx),
            ),
            self.session_state(state, asked.question_idx, now_ms),
        ]

    def question_timing(self, asked: AskedQuestion, state: SessionState, now_ms: int) -> list[Statement]:
        """A pause, a resume or an extension: what the countdown needs to resume after a restart."""
        return [
            (
                "UPDATE questions SET time_limit = ?, paused_at_ms = ?, paused_ms = ?"
                " WHERE sid = ? AND question_idx = ?",
                (asked.time_limit, asked.paused_at_ms, asked.paused_ms, self.sid, asked.question_idx),
            ),
            self.session_state(state, asked.question_idx, now_ms),
        ]

    def session_started(self, now_ms: int) -> Statement:
        return ("UPDATE sessions SET started_at_ms = ? WHERE sid = ? AND started_at_ms IS NULL", (now_ms, self.sid))

    def session_finished(self, now_ms: int) -> Statement:
        return (
            "UPDATE sessions SET state = ?, current_question_idx = NULL, updated_at_ms = ?, finished_at_ms = ?"
            " WHERE sid = ?",
            (str(SessionState.FINISHED), now_ms, now_ms, self.sid),
        )

    def session_state(self, state: SessionState, current_question_idx: int | None, now_ms: int) -> Statement:
        return (
            "UPDATE sessions SET state = ?, current_question_idx = ?, updated_at_ms = ? WHERE sid = ?",
            (str(state), current_question_idx, now_ms, self.sid),
        )

    def reset(self, now_ms: int) -> list[Statement]:
        """Everything of the session but its quiz: back to an empty lobby."""
        return [
            ("DELETE FROM submissions WHERE sid = ?", (self.sid,)),
            ("DELETE FROM questions WHERE sid = ?", (self.sid,)),
            ("DELETE FROM participants WHERE sid = ?", (self.sid,)),
            ("DELETE FROM student_events WHERE sid = ?", (self.sid,)),
            ("UPDATE sessions SET started_at_ms = NULL, finished_at_ms = NULL WHERE sid = ?", (self.sid,)),
            self.session_state(SessionState.LOBBY, None, now_ms),
        ]

    def student_cleared(self, student_id: str, audit_detail: str, now_ms: int) -> list[Statement]:
        """The participant and their answers go; an audit event says who was cleared."""
        return [
            ("DELETE FROM submissions WHERE sid = ? AND student_id = ?", (self.sid, student_id)),
            ("DELETE FROM participants WHERE sid = ? AND student_id = ?", (self.sid, student_id)),
            self.event(student_id, "cleared", None, audit_detail, now_ms),
        ]

    def event(
        self, student_id: str | None, kind: str, question_idx: int | None, detail: str | None, now_ms: int
    ) -> Statement:
        """An audit or presence event: tab switches, duplicate joins, clears."""
        return (
            "INSERT INTO student_events (sid, student_id, question_idx, kind, detail, ts_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (self.sid, student_id, question_idx, kind, detail, now_ms),
        )
