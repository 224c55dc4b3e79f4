"""The room's state as plain dataclasses: what storage loads, the room mutates and export reads.

Scores are integer points in twentieths and totals integer units (server.quiz.scoring),
so totals are exact sums.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from server.quiz.pool import Pool
from server.quiz.types.base import Tally
from server.session.machine import SessionState
from server.session.roster import Roster


class SubmissionStatus(StrEnum):
    SUBMITTED = "submitted"
    MISSED = "missed"


@dataclass(slots=True)
class Submission:
    """One student's answer to one asked question, or the `missed` row of one who did not answer.

    `answer` is the question type's own value (see server/quiz/types); `points` the 0..20
    score; `units` that score times the question's weight (server.quiz.scoring).
    """

    question_idx: int
    status: SubmissionStatus
    answer: Any = None
    elapsed_ms: int | None = None
    points: int = 0
    correct: bool = False
    units: int = 0


@dataclass(slots=True)
class DuplicateJoinLog:
    count: int = 0
    latest_ts: int | None = None
    latest_detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "latest_ts": self.latest_ts, "latest_detail": self.latest_detail}


@dataclass(slots=True, eq=False)
class Participant:
    """A student in the session.

    Totals count revealed questions only: an answer to the open question is recorded at
    once (so a second submit gets the same ack) but its score joins `total_units` and
    `correct_count` at the reveal (`reveal`), so no total anyone can see tells who is
    right while the question is open.
    """

    student_id: str
    name: str
    cookie_id: str
    joined_at_ms: int
    submissions: dict[int, Submission] = field(default_factory=dict)
    total_units: int = 0
    answered_count: int = 0
    correct_count: int = 0
    # From the roster: this student's time multiplier (1 to 10; an accommodation).
    extra_time: float = 1.0
    # Presence (volatile except the counters, which are rebuilt from student_events).
    connections: int = 0
    last_seen_ms: int | None = None
    blur_count: int = 0
    hidden_count: int = 0

    def record(self, submission: Submission, *, revealed: bool) -> None:
        self.submissions[submission.question_idx] = submission
        if submission.status is SubmissionStatus.SUBMITTED:
            self.answered_count += 1
        if revealed:
            self._count(submission)

    def reveal(self, question_idx: int) -> None:
        """The question closed: its score now counts in the totals."""
        submission = self.submissions.get(question_idx)
        if submission is not None:
            self._count(submission)

    def _count(self, submission: Submission) -> None:
        self.total_units += submission.units
        if submission.correct and submission.status is SubmissionStatus.SUBMITTED:
            self.correct_count += 1


def rank_by_total(
    participants: Iterable[Participant],
    tiebreak: Callable[[Participant], Any],
    total: Callable[[Participant], int] = lambda p: p.total_units,
) -> list[tuple[int, Participant]]:
    """(rank, participant), best total first; equal totals share a rank (1, 2, 2, 4)."""
    ordered = sorted(participants, key=lambda p: (-total(p), tiebreak(p)))
    ranking: list[tuple[int, Participant]] = []
    previous, rank = None, 0
    for position, participant in enumerate(ordered, start=1):
        if total(participant) != previous:
            rank, previous = position, total(participant)
        ranking.append((rank, participant))
    return ranking


RESPONSE_TIME_BINS = 8


@dataclass(slots=True)
class AskedQuestion:
    """A question that has been opened, with its running aggregates (O(1) per answer)."""

    question_idx: int
    opened_at_ms: int
    time_limit: int  # seconds, extended by `quizctl extend`
    tally: Tally
    closed_at_ms: int | None = None
    paused_at_ms: int | None = None  # set while paused
    paused_ms: int = 0  # time spent paused before now: it moves every deadline
    skipped: bool = False  # closed without a reveal; never scored
    submitted_count: int = 0
    missed_count: int = 0
    response_time_bins: list[int] = field(default_factory=lambda: [0] * RESPONSE_TIME_BINS)

    @classmethod
    def of(cls, pool: Pool, question_idx: int, opened_at_ms: int, time_limit: int) -> AskedQuestion:
        return cls(question_idx, opened_at_ms, time_limit, pool.questions[question_idx].new_tally())

    @property
    def deadline_ms(self) -> int:
        """When the question closes for a student without extra time."""
        return self.deadline_for(1.0)

    def window_ms(self, extra_time: float) -> int:
        """How long a student with this time multiplier has to answer (pauses excluded)."""
        return int(self.time_limit * 1000 * extra_time)

    def deadline_for(self, extra_time: float) -> int:
        """That student's own deadline: the window after opening, moved by every pause."""
        return self.opened_at_ms + self.paused_ms + self.window_ms(extra_time)

    def remaining_ms(self, now_ms: int, extra_time: float = 1.0) -> int:
        """Time left on that student's countdown (frozen while paused)."""
        clock = self.paused_at_ms if self.paused_at_ms is not None else now_ms
        return max(0, self.deadline_for(extra_time) - clock)

    def active_ms(self, now_ms: int) -> int:
        """Time the question has been running, pauses excluded: what speed scores count."""
        return max(0, now_ms - self.opened_at_ms - self.paused_ms)

    @property
    def answer_counts(self) -> dict[str, int]:
        """Counts per option (choice types); see the tally for every type's own summary."""
        return self.tally.histogram()

    def count(self, submission: Submission, delta: int = 1) -> None:
        if submission.status is SubmissionStatus.MISSED:
            self.missed_count += delta
            return
        self.submitted_count += delta
        try:
            self.tally.add(submission.answer, delta)
        except (TypeError, ValueError, KeyError):
            pass  # an answer stored before the pool changed this question's type: counted, not tallied
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
    # The class list (course-wide, in the data dir): with one, only its students may join.
    roster: Roster | None = None
    # Join attempts with ids not on the roster, by id (shown on the dashboard).
    refused_joins: dict[str, DuplicateJoinLog] = field(default_factory=dict)
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    # Questions (0-based) that differ from the pool stored when the session last ran.
    changed_questions: list[int] = field(default_factory=list)
    # How `serve` came to run it: "new", "resumed", or "new: <old> is finished".
    opened_as: str = "new"
