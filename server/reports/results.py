"""What the statistics produce: frozen dataclasses, and their plain-JSON form for `--json`.

Shares are fractions (0..1), never percentages; times are milliseconds; indices (discrimination,
D) are in -1..1. `statistics` computes them; `report_html` renders them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from server.reports.measures import Bar, Distribution, TimeSpread


@dataclass(frozen=True, slots=True)
class Flag:
    """A plain-language warning about a question; `detail` quotes answers, so escape it when rendering."""

    code: str
    title: str
    detail: str


@dataclass(frozen=True, slots=True)
class QuestionStats:
    """Every figure of one question: counts, indices, distribution, response times and flags."""

    index: int
    number: int  # 1-based, as the room showed it
    kind: str
    text_html: str
    text_plain: str
    options: dict[str, str]
    scored: bool
    weight: float
    time_limit_s: int
    participants: int
    answered: int
    right: int
    right_share: float | None  # right / participants
    facility: float | None  # Moodle's facility index: mean credit (mark / max mark), 0..1
    score_sd: float | None  # standard deviation of the credit (n - 1)
    random_guess: float | None  # chance score 1/k of a blind guess (single choice, true/false)
    discrimination_index: float | None  # Moodle's: r(question mark, rest-of-test mark), -1..1
    upper_lower_d: float | None  # classic D = p(upper third) - p(lower third), -1..1
    p_upper: float | None
    p_lower: float | None
    group_size: int  # students in each third used for D
    distribution: Distribution
    response_time: TimeSpread
    flags: tuple[Flag, ...]


@dataclass(frozen=True, slots=True)
class StudentStats:
    """One student's line in the report, with the reasons they need help (empty when they do not)."""

    student_id: str
    name: str
    score: float
    score_share: float | None  # score / possible
    answered: int
    missed: int
    right: int
    rank: int
    blur_count: int
    hidden_count: int
    duplicate_join_attempts: int
    needs_help: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """The head of a session report: participation, mean and median score, hardest questions."""

    participants: int
    questions: int
    scored_questions: int
    possible: float  # sum of the weights of the scored questions
    mean_score: float | None
    median_score: float | None
    mean_share: float | None
    median_share: float | None
    hardest: tuple[int, ...]  # question indices, lowest facility first
    needs_help: int
    score_bins: tuple[Bar, ...]  # students per tenth of the possible score


@dataclass(frozen=True, slots=True)
class SessionStats:
    """One session analysed; students ordered for the report (needs help first)."""

    sid: str
    title: str
    started_ms: int
    finished_ms: int | None
    summary: SessionSummary
    questions: tuple[QuestionStats, ...]
    students: tuple[StudentStats, ...]  # needs help first (lowest score first), then by rank

    def to_json(self) -> dict[str, Any]:
        """Every figure as plain dicts, lists, numbers and strings (for `--json`)."""
        return plain_fields(self)


@dataclass(frozen=True, slots=True)
class CourseSessionRow:
    """One session's line in the course overview."""

    sid: str
    title: str
    started_ms: int
    date: str  # YYYY-MM-DD, UTC
    participants: int
    mean_score: float | None
    mean_share: float | None
    hardest_index: int | None
    hardest_text: str | None
    hardest_facility: float | None


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    """One student's attendance over the course's sessions."""

    student_id: str
    name: str  # as in the latest session attended
    attended: tuple[bool, ...]  # one per session, in course order
    sessions_attended: int
    mean_share: float | None  # mean of score / possible over the sessions attended


@dataclass(frozen=True, slots=True)
class CourseStats:
    """Several sessions analysed together: one row each, attendance and the trend of the mean score."""

    sessions: tuple[SessionStats, ...]  # chronological
    rows: tuple[CourseSessionRow, ...]
    attendance: tuple[AttendanceRow, ...]  # by name
    trend: tuple[float | None, ...]  # mean score share per session, in course order

    def to_json(self) -> dict[str, Any]:
        """Every figure as plain dicts, lists, numbers and strings (for `--json`)."""
        return plain_fields(self)


def plain_fields(value: object) -> dict[str, Any]:
    """A dataclass as a dict of plain JSON values (tuples become lists, non-finite floats None)."""
    assert dataclasses.is_dataclass(value) and not isinstance(value, type)
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_fields(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
