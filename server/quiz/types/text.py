"""Short free-text answers, matched against accepted answers; and the count of free text given."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable
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

FREE_TEXT_MAX_CHARS = 100
ACCEPTED_MAX = 50
TOP_ANSWERS = 10
MATCH_MODES = ("fold", "exact")


def fold(text: str) -> str:
    """The form answers are compared in: Unicode NFKC, case folded, runs of whitespace as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def clean_free_text(raw: object) -> str:
    """A free-text answer trimmed at both ends, 1 to FREE_TEXT_MAX_CHARS characters, no control characters."""
    expected = f"text of 1 to {FREE_TEXT_MAX_CHARS} characters"
    if not isinstance(raw, str):
        raise AnswerRefused(expected)
    text = raw.strip()
    if not text or len(text) > FREE_TEXT_MAX_CHARS:
        raise AnswerRefused(expected)
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in text):
        raise AnswerRefused(expected + ", without control characters")
    return text


class TopAnswers(Tally):
    """The most frequent answers (folded together), each shown as first written; never with names.

    `is_right` (text questions; open polls have none) marks each shown answer `correct` once revealed.
    """

    def __init__(self, *, fold: bool, is_right: Callable[[str], bool] | None = None) -> None:
        self._fold = fold
        self._is_right = is_right
        self.counts: Counter[str] = Counter()
        self._shown: dict[str, str] = {}

    def add(self, answer: Answer, delta: int = 1) -> None:
        key = fold(answer) if self._fold else answer
        self._shown.setdefault(key, answer)
        self.counts[key] += delta
        if self.counts[key] <= 0:
            del self.counts[key]

    def distribution(self, *, revealed: bool) -> JSON:
        top: list[JSON] = []
        for key, count in self.counts.most_common(TOP_ANSWERS):
            entry: dict[str, JSON] = {"text": self._shown[key], "count": count}
            if revealed and self._is_right is not None:
                entry["correct"] = self._is_right(self._shown[key])
            top.append(entry)
        return {"top": top, "distinct": len(self.counts)}


@dataclass(frozen=True, slots=True, kw_only=True)
class TextAnswer(Question):
    """Right when the answer matches one accepted answer (folded unless `match` is "exact")."""

    kind: ClassVar[str] = "text"
    label: ClassVar[str] = "text-answer questions"
    own_keys: ClassVar[tuple[str, ...]] = ("accept", "match")

    accept: tuple[str, ...]
    exact: bool = False

    def parse_answer(self, raw: object) -> Answer:
        return clean_free_text(raw)

    def grade(self, answer: Answer) -> Grade:
        if self.exact:
            return FULL if answer in self.accept else NONE
        return FULL if fold(answer) in {fold(a) for a in self.accept} else NONE

    def answer_from_text(self, text: str) -> Answer:
        return text

    def open_fields(self) -> dict[str, JSON]:
        return {"max_length": FREE_TEXT_MAX_CHARS}

    def correct_json(self) -> JSON:
        return list(self.accept)

    def new_tally(self) -> Tally:
        return TopAnswers(fold=not self.exact, is_right=lambda answer: self.grade(answer) == FULL)

    def own_json(self) -> dict[str, JSON]:
        return {"accept": list(self.accept), **({"match": "exact"} if self.exact else {})}

    @classmethod
    def from_source(cls, source: QuestionSource, common: Common) -> TextAnswer:
        accept: tuple[str, ...] = ()
        if source.has("accept", 'add "accept": ["merge sort", "mergesort"]'):
            accept = _check_accept(source.data["accept"], source.at("accept"), source.problems)
        exact = False
        if source.data.get("match") is not None:
            match = source.data["match"]
            if match not in MATCH_MODES:
                source.problems.add(
                    source.at("match"), f"{checks.describe(match)} is not a match mode", 'use "fold" or "exact"'
                )
            exact = match == "exact"
        return cls(accept=accept, exact=exact, **common())


def _check_accept(value: object, location: str, problems: checks.Problems) -> tuple[str, ...]:
    if isinstance(value, str):
        problems.add(
            location, f"expected a list of accepted answers, got {checks.describe(value)}", f"write [{value!r}]"
        )
        return ()
    if not isinstance(value, list) or not value:
        problems.add(
            location, f"expected a list of one or more answers, got {checks.describe(value)}", 'write e.g. ["Paris"]'
        )
        return ()
    if len(value) > ACCEPTED_MAX:
        problems.add(location, f"has {len(value)} answers, the limit is {ACCEPTED_MAX}", "keep the likely ones")
    accepted = []
    for index, item in enumerate(value):
        text = checks.check_text(item, f"{location}[{index}]", FREE_TEXT_MAX_CHARS, problems)
        if text.strip():
            accepted.append(text.strip())
    return tuple(accepted)
