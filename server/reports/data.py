"""What the after-class report is computed from: one session's questions, answers and students as plain data.

The report modules (statistics, charts, report_html) never touch the database or the room; whoever
calls them (the CLI, the dashboard route) builds these frozen dataclasses first. Keeping the input
plain makes every figure reproducible from a hand-made session in a test.

Units: `AnswerRow.credit` is the 0..1 score of that one answer (partial credit and speed bonuses
included); a question's mark is `credit * weight`; `StudentData.total` is the sum of a student's
marks, in the same unit. Times are milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

QuestionKind: TypeAlias = Literal["single", "multiple", "true_false", "numeric", "text", "poll"]
QUESTION_KINDS: tuple[QuestionKind, ...] = ("single", "multiple", "true_false", "numeric", "text", "poll")
CHOICE_KINDS: frozenset[str] = frozenset({"single", "multiple", "true_false"})

# A question's `correct` as decoded JSON: an option key ("B"), a list of keys (["A", "C"]), a bool
# (true/false questions), {"value": 9.81, "tolerance": 0.05} or {"range": [lo, hi]} (numeric),
# a list of accepted texts (text), or None (poll).
JsonValue: TypeAlias = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """One student's answer to one question."""

    student_id: str
    answer: str | None  # the answer in text form ("B", "A,C", "true", "9.8", "photosynthesis"); None = missed
    credit: float  # 0..1 score of this answer
    correct: bool
    elapsed_ms: int | None  # from the question opening to the answer; None when missed or unknown


@dataclass(frozen=True, slots=True)
class QuestionData:
    """One asked question, with every answer it received."""

    index: int  # 0-based position in the session
    kind: QuestionKind
    text_html: str  # sanitized upstream; may contain MathML and code
    text_plain: str
    options: dict[str, str]  # option key -> plain text; empty for non-choice questions
    correct: JsonValue
    weight: float
    time_limit_s: int
    scored: bool
    answers: list[AnswerRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StudentData:
    """One participant of a session, with the room's totals and presence signals."""

    student_id: str
    name: str
    total: float
    answered: int
    right: int
    rank: int
    blur_count: int = 0  # the quiz page lost focus (another window or app)
    hidden_count: int = 0  # the quiz tab was hidden (another tab, phone locked)
    duplicate_join_attempts: int = 0  # joins refused because the student was already in the room


@dataclass(frozen=True, slots=True)
class SessionData:
    """One session: its questions in the order asked and its participants."""

    sid: str
    title: str
    started_ms: int
    finished_ms: int | None
    questions: list[QuestionData]
    students: list[StudentData]
