"""A number, right within a tolerance or a range; the reveal shows how the answers spread."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from server.quiz import checks
from server.quiz.types.base import (
    FULL,
    JSON,
    NONE,
    Answer,
    AnswerRefused,
    Common,
    Grade,
    Question,
    QuestionSource,
    Tally,
)

UNIT_MAX_CHARS = 20
HISTOGRAM_BINS = 10
NUMBER_LIMIT = 1e15  # beyond this a float no longer holds every integer; no quiz needs more


class NumericAnswers(Tally):
    """Every number given (memory O(answers) for one question); binned at the reveal, not per answer."""

    def __init__(self, low: float, high: float) -> None:
        self.values: list[float] = []
        self._right = (low, high)

    def add(self, answer: Answer, delta: int = 1) -> None:
        if delta > 0:
            self.values.append(answer)
        elif answer in self.values:
            self.values.remove(answer)

    def distribution(self, *, revealed: bool) -> JSON:
        """At most HISTOGRAM_BINS equal bins over the answers given, and once revealed over the right range too.

        Before the reveal neither the range nor bins stretched to reach it are shown.
        """
        right = {"right": list(self._right)} if revealed else {}
        if not self.values:
            return {"bins": [], "count": 0, **right}
        low, high = min(self.values), max(self.values)
        if revealed:
            low, high = min(low, self._right[0]), max(high, self._right[1])
        width = (high - low) / HISTOGRAM_BINS or 1.0
        counts = [0] * HISTOGRAM_BINS
        for value in self.values:
            counts[min(HISTOGRAM_BINS - 1, int((value - low) / width))] += 1
        bins = [{"low": low + i * width, "high": low + (i + 1) * width, "count": n} for i, n in enumerate(counts)]
        return {"bins": bins, "count": len(self.values), **right}


@dataclass(frozen=True, slots=True, kw_only=True)
class Numeric(Question):
    """Right when low <= answer <= high (from `correct` ± `tolerance`, or `range`)."""

    kind: ClassVar[str] = "numeric"
    label: ClassVar[str] = "numeric questions"
    own_keys: ClassVar[tuple[str, ...]] = ("correct", "tolerance", "range", "unit")

    low: float
    high: float
    correct: float | None = None  # None when the pool gave a range
    tolerance: float = 0.0
    unit: str = ""

    def parse_answer(self, raw: object) -> Answer:
        if (
            isinstance(raw, bool)
            or not isinstance(raw, (int, float))
            or not math.isfinite(raw)
            or abs(raw) > NUMBER_LIMIT
        ):
            raise AnswerRefused("a number, e.g. 3.14")
        return float(raw)

    def grade(self, answer: Answer) -> Grade:
        # A tolerance is meant inclusively; allow for the binary rounding of decimal input.
        slack = 1e-9 * max(1.0, abs(self.low), abs(self.high))
        return FULL if self.low - slack <= answer <= self.high + slack else NONE

    def answer_text(self, answer: Answer) -> str:
        return format_number(answer)

    def answer_from_text(self, text: str) -> Answer:
        return float(text)

    def answer_json(self, answer: Answer) -> JSON:
        return int(answer) if float(answer).is_integer() else answer

    def open_fields(self) -> dict[str, JSON]:
        return {"unit": self.unit} if self.unit else {}

    def correct_json(self) -> JSON:
        if self.correct is None:
            return {"range": [self.low, self.high]}
        return {"value": self.correct, "tolerance": self.tolerance, "range": [self.low, self.high]}

    def new_tally(self) -> Tally:
        return NumericAnswers(self.low, self.high)

    def own_json(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {}
        if self.correct is None:
            data["range"] = [self.low, self.high]
        else:
            data["correct"] = self.correct
            if self.tolerance:
                data["tolerance"] = self.tolerance
        if self.unit:
            data["unit"] = self.unit
        return data

    @classmethod
    def from_source(cls, source: QuestionSource, common: Common) -> Numeric:
        data, problems = source.data, source.problems
        unit = ""
        if data.get("unit") is not None:
            unit = checks.check_text(data["unit"], source.at("unit"), UNIT_MAX_CHARS, problems)
        if "range" in data:
            for key in ("correct", "tolerance"):
                if key in data:
                    problems.add(source.at(key), "cannot be given with a range", f"remove {key!r} or 'range'")
            low, high = _check_range(data["range"], source.at("range"), problems)
            return cls(low=low, high=high, unit=unit, **common())
        correct = 0.0
        if source.has("correct", 'add "correct": 3.14 (and "tolerance": 0.01), or "range": [low, high]'):
            correct = _check_number(data["correct"], source.at("correct"), problems)
        tolerance = 0.0
        if data.get("tolerance") is not None:
            tolerance = _check_number(data["tolerance"], source.at("tolerance"), problems)
            if tolerance < 0:
                problems.add(source.at("tolerance"), "must be >= 0", f"write {abs(tolerance)}")
                tolerance = 0.0
        return cls(
            low=correct - tolerance,
            high=correct + tolerance,
            correct=correct,
            tolerance=tolerance,
            unit=unit,
            **common(),
        )


def format_number(value: float) -> str:
    """3.14 as 3.14, 2.0 as 2; never an exponent a spreadsheet would misread for ordinary values."""
    return str(int(value)) if float(value).is_integer() and abs(value) < NUMBER_LIMIT else repr(float(value))


def _check_number(value: object, location: str, problems: checks.Problems) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.add(
            location, f"expected a number, got {checks.describe(value)}", "write a number without quotes, e.g. 3.14"
        )
        return 0.0
    if abs(value) > NUMBER_LIMIT:
        problems.add(
            location, f"{value!r} is too large", f"use a number between -{NUMBER_LIMIT:g} and {NUMBER_LIMIT:g}"
        )
        return 0.0
    return float(value)


def _check_range(value: object, location: str, problems: checks.Problems) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        problems.add(location, f"expected [low, high], got {checks.describe(value)}", "write e.g. [1, 5]")
        return 0.0, 0.0
    low = _check_number(value[0], f"{location}[0]", problems)
    high = _check_number(value[1], f"{location}[1]", problems)
    if low > high:
        problems.add(
            location,
            f"low {format_number(low)} is above high {format_number(high)}",
            f"write [{format_number(high)}, {format_number(low)}]",
        )
        low, high = high, low
    return low, high
