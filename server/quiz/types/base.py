"""What every question type has and does; each type's own rules live in its module beside this one.

A question type is one class (a frozen dataclass) that knows, for its kind of question:
how it is written in a pool file (`from_json` / `to_json`), which answers a student may
send (`parse_answer`, refusing others with `bad_answer` and what was expected), how an
answer is graded (`grade`: a fraction of full credit and whether it is exactly right),
how an answer is stored and exported as text, what the page needs to show it
(`open_fields`), what the reveal says (`correct_json`) and how answers are counted
(`new_tally`). The room, the pages' messages and the gradebook ask the question; none of
them branch on its type.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

from server.quiz import checks
from server.quiz.checks import Problems
from server.session.errors import RoomError

QUESTION_TEXT_MAX_CHARS = 1000
EXPLANATION_MAX_CHARS = 2000
WEIGHT_MAX = 100
TAG_MAX_CHARS = 200
TAGS_MAX = 20
COMMON_KEYS = ("type", "text", "explanation", "time_limit", "points", "image", "image_alt", "tags", "live_results")

Answer = Any  # each type's own: a key, a tuple of keys, a bool, a float or a string
JSON = Any


class AnswerRefused(RoomError):
    """A submitted answer of the wrong shape for its question: `bad_answer`, saying what was expected."""

    def __init__(self, expected: str) -> None:
        super().__init__("bad_answer", f"answer must be {expected}.")


@dataclass(frozen=True, slots=True)
class Grade:
    """How right an answer is: `credit` in 0..1 before the speed factor, `correct` when exactly right."""

    credit: Fraction
    correct: bool


FULL = Grade(Fraction(1), True)
NONE = Grade(Fraction(0), False)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A Markdown source and its sanitized HTML (rendered once, when the pool is loaded)."""

    source: str
    html: str


@dataclass(frozen=True, slots=True)
class Defaults:
    """What a question takes from its pool: the default time limit and whether results show live."""

    time_limit: int
    live_results: bool


class Tally(ABC):
    """The running count of one asked question's answers; O(1) per answer, the reveal reads it."""

    @abstractmethod
    def add(self, answer: Answer, delta: int = 1) -> None:
        """Count an answer (delta -1 takes it back, when a student is cleared)."""

    def histogram(self) -> dict[str, int]:
        """Counts per option key, for choice types (the contract's `histogram`); empty for others."""
        return {}

    @abstractmethod
    def distribution(self, *, revealed: bool) -> JSON:
        """The type's own summary of the answers, for the reveal and the dashboard.

        Unless `revealed` (the reveal itself, or the instructor), nothing in it may tell the
        right answer: the projector shows a question's live results while it is open.
        """


@dataclass(frozen=True, slots=True, kw_only=True)
class Question(ABC):
    """Fields every type has; subclasses add theirs and implement the abstract methods."""

    kind: ClassVar[str]
    label: ClassVar[str]  # how messages name questions of this type ("true/false questions")
    scored: ClassVar[bool] = True
    # Keys a pool file may give for this type, besides COMMON_KEYS.
    own_keys: ClassVar[tuple[str, ...]] = ()

    text: Rendered
    explanation: Rendered
    time_limit: int
    weight: Fraction = Fraction(1)
    tags: tuple[str, ...] = ()
    live_results: bool = False
    image: Any = None  # a PoolImage (server.quiz.content) or None

    # ---------------------------------------------------------------- answers

    @abstractmethod
    def parse_answer(self, raw: object) -> Answer:
        """The answer a student sent, normalized; AnswerRefused if it is not of this type's shape."""

    @abstractmethod
    def grade(self, answer: Answer) -> Grade:
        """How right `answer` (from parse_answer) is."""

    def answer_text(self, answer: Answer) -> str:
        """The answer as text: stored in the database and shown in the gradebook (`A;C`, `true`, `3.14`)."""
        return str(answer)

    @abstractmethod
    def answer_from_text(self, text: str) -> Answer:
        """The inverse of answer_text, for answers read back from the database."""

    def answer_json(self, answer: Answer) -> JSON:
        """The answer as the wire shows it (acks, reveals, /me): the shape the student sent."""
        return answer

    # ---------------------------------------------------------------- the wire

    @abstractmethod
    def open_fields(self) -> dict[str, JSON]:
        """What the pages need to show the question, beyond its text; never the answer."""

    @abstractmethod
    def correct_json(self) -> JSON:
        """The right answer as the reveal shows it (None for a poll)."""

    @abstractmethod
    def new_tally(self) -> Tally:
        """An empty count of answers for one asking of this question."""

    @property
    def shows_live_results(self) -> bool:
        """Whether the projector may show the answers' distribution while the question is open."""
        return self.live_results

    # ---------------------------------------------------------------- the pool file

    def to_json(self) -> dict[str, JSON]:
        """This question as a pool file writes it (canonical form; parse(to_json) gives it back)."""
        data: dict[str, JSON] = {} if self.kind == "single" else {"type": self.kind}
        data["text"] = self.text.source
        data.update(self.own_json())
        if self.explanation.source:
            data["explanation"] = self.explanation.source
        data["time_limit"] = self.time_limit
        if self.weight != 1:
            data["points"] = int(self.weight) if self.weight.denominator == 1 else float(self.weight)
        if self.tags:
            data["tags"] = list(self.tags)
        if self.live_results:
            data["live_results"] = True
        if self.image is not None:
            data["image"], data["image_alt"] = self.image.relative, self.image.alt
        return data

    @abstractmethod
    def own_json(self) -> dict[str, JSON]:
        """This type's own keys, for to_json."""


Common = Callable[[], dict[str, Any]]  # the checked fields every type takes, checked after the type's own
Render = Callable[[str, str, bool], Rendered]  # (source, location, inline) -> Rendered; problems reported
LoadImage = Callable[[object, object, str], Any]  # (path, alt, location) -> PoolImage | None; problems reported


@dataclass(slots=True)
class QuestionSource:
    """One question object from a pool file: where it is, how to report its problems, how to render its content."""

    data: dict[str, Any]
    location: str
    problems: Problems
    render: Render
    load_image: LoadImage
    typo_targets: set[str] = field(default_factory=set)

    def at(self, key: str) -> str:
        return checks.field(self.location, key)

    def has(self, key: str, fix: str) -> bool:
        """True when `key` is given; otherwise it is reported missing (unless a typo of it was reported)."""
        return checks.require(self.data, key, self.location, self.typo_targets, fix, self.problems)

    def refuse(self, key: str, why: str) -> None:
        """A key this type does not take (e.g. `correct` on a poll)."""
        if key in self.data:
            self.problems.add(self.at(key), f"is not used by {why}", f"remove {key!r}")


def check_weight(value: object, location: str, problems: Problems) -> Fraction:
    """`points`: a positive number up to WEIGHT_MAX with at most two decimals (0.5, 2, 1.25)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(location, f"expected a positive number, got {checks.describe(value)}", "write e.g. 1, 2 or 0.5")
        return Fraction(1)
    weight = Fraction(value).limit_denominator(1000)
    if not 0 < weight <= WEIGHT_MAX:
        problems.add(location, f"{value!r} is out of range", f"use a number above 0 and at most {WEIGHT_MAX}")
        return Fraction(1)
    if (weight * 100).denominator != 1:
        problems.add(location, f"{value!r} has more than two decimals", f"use {round(value, 2)}")
        return Fraction(1)
    return weight
