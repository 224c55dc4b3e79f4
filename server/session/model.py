"""The room's state as plain dataclasses: what storage loads, the room mutates and export reads.

Scores are integer points in twentieths (see server.scoring) so totals are exact sums.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from server.quiz.pool import Pool
from server.session.machine import SessionState


class SubmissionStatus(StrEnum):
    SUBMITTED = "submitted"
    MISSED = "missed"


@dataclass(slots=True)
class Submission:
    question_idx: int
    status: SubmissionStatus
    answer: str | None = None
    elapsed_ms: int | None = None
    points: int = 0
    correct: bool = False


@dataclass(slots=True)
class DuplicateJoinLog:
    count: int = 0
    latest_ts: int | None = None
    latest_detail: str | None = None

    def as_json(self) -> dict:
        return {"count": self.count, "latest_ts": self.latest_ts, "latest_detail": self.latest_detail}


@dataclass(slots=True, eq=False)
class Participant:
    student_id: str
    name: str
    cookie_id: str
    joined_at_ms: int
    submissions: dict[int, Submission] = field(default_factory=dict)
    total_points: int = 0
    answered_count: int = 0
    correct_count: int = 0
    # Presence (volatile except the counters, which are rebuilt from student_events).
    connections: int = 0
    last_seen_ms: int | None = None
    blur_count: int = 0
    hidden_count: int = 0

    def record(self, submission: Submission) -> None:
        self.submissions[submission.question_idx] = submission
        self.total_points += submission.points
        if submission.status is SubmissionStatus.SUBMITTED:
            self.answered_count += 1
            if submission.correct:
                self.correct_count += 1


def rank_by_total(
    participants: Iterable[Participant], tiebreak: Callable[[Participant], Any]
) -> list[tuple[int, Participant]]:
    """(rank, participant), best total first; equal totals share a rank (1, 2, 2, 4)."""
    ordered = sorted(participants, key=lambda p: (-p.total_points, tiebreak(p)))
    ranking: list[tuple[int, Participant]] = []
    previous_points, rank = None, 0
    for position, participant in enumerate(ordered, start=1):
        if participant.total_points != previous_points:
            rank, previous_points = position, participant.total_points
        ranking.append((rank, participant))
    return ranking


RESPONSE_TIME_BINS = 8


@dataclass(slots=True)
class AskedQuestion:
    """A question that has been opened at least once, with its running aggregates."""

    question_idx: int
    opened_at_ms: int
    time_limit: int
    closed_at_ms: int | None = None
    answer_counts: dict[str, int] = field(default_factory=lambda: {"A": 0, "B": 0, "C": 0, "D": 0})
    missed_count: int = 0
    response_time_bins: list[int] = field(default_factory=lambda: [0] * RESPONSE_TIME_BINS)

    @property
    def deadline_ms(self) -> int:
        return self.opened_at_ms + self.time_limit * 1000

    @property
    def submitted_count(self) -> int:
        return sum(self.answer_counts.values())

    def count(self, submission: Submission, delta: int = 1) -> None:
        if submission.status is SubmissionStatus.MISSED:
            self.missed_count += delta
            return
        if submission.answer in self.answer_counts:
            self.answer_counts[submission.answer] += delta
        if submission.elapsed_ms is not None:
            width = self.time_limit * 1000 / RESPONSE_TIME_BINS
            index = min(RESPONSE_TIME_BINS - 1, max(0, int(submission.elapsed_ms // width)))
            self.response_time_bins[index] += delta


@dataclass(slots=True)
class SessionRecord:
    """Everything the database knows about one session; the room is rebuilt from it."""

    sid: str
    pool: Pool
    state: SessionState = SessionState.LOBBY
    current_question_idx: int | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    asked: dict[int, AskedQuestion] = field(default_factory=dict)
    duplicate_joins: dict[str, DuplicateJoinLog] = field(default_factory=dict)
