"""True or false: two big buttons."""

from __future__ import annotations

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


class TrueFalseCounts(Tally):
    def __init__(self) -> None:
        self.counts = {"true": 0, "false": 0}

    def add(self, answer: Answer, delta: int = 1) -> None:
        self.counts["true" if answer else "false"] += delta

    def histogram(self) -> dict[str, int]:
        return dict(self.counts)

    def distribution(self, *, revealed: bool) -> JSON:
        return {"options": dict(self.counts)}


@dataclass(frozen=True, slots=True, kw_only=True)
class TrueFalse(Question):
    kind: ClassVar[str] = "true_false"
    label: ClassVar[str] = "true/false questions"
    own_keys: ClassVar[tuple[str, ...]] = ("correct",)

    correct: bool

    def parse_answer(self, raw: object) -> Answer:
        if not isinstance(raw, bool):
            raise AnswerRefused("true or false")
        return raw

    def grade(self, answer: Answer) -> Grade:
        return FULL if answer is self.correct else NONE

    def answer_text(self, answer: Answer) -> str:
        return "true" if answer else "false"

    def answer_from_text(self, text: str) -> Answer:
        return text == "true"

    def open_fields(self) -> dict[str, JSON]:
        return {"options": {"true": "True", "false": "False"}}

    def correct_json(self) -> JSON:
        return self.correct

    def new_tally(self) -> Tally:
        return TrueFalseCounts()

    def own_json(self) -> dict[str, JSON]:
        return {"correct": self.correct}

    @classmethod
    def from_source(cls, source: QuestionSource, common: Common) -> TrueFalse:
        correct = True
        if source.has("correct", 'add "correct": true or "correct": false'):
            value = source.data["correct"]
            if not isinstance(value, bool):
                fix = "write true or false without quotes"
                source.problems.add(source.at("correct"), f"expected true or false, got {checks.describe(value)}", fix)
            correct = value is True
        return cls(correct=correct, **common())
