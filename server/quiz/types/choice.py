"""Questions answered by picking options: single choice, multiple answers, and polls."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

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
    Rendered,
    Tally,
)
from server.quiz.types.text import FREE_TEXT_MAX_CHARS, TopAnswers, clean_free_text

OPTION_KEYS = "ABCDEF"
OPTIONS_MIN = 2
OPTION_TEXT_MAX_CHARS = 300


@dataclass(frozen=True, slots=True)
class Option:
    """One option: its key (A-F), text (Markdown, rendered) and an optional image."""

    key: str
    text: Rendered
    image: Any = None  # a PoolImage or None

    def to_json(self) -> JSON:
        if self.image is None:
            return self.text.source
        return {"text": self.text.source, "image": self.image.relative, "image_alt": self.image.alt}


class OptionCounts(Tally):
    """How many chose each option (for `multiple`, each key chosen counts once per student)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.counts = dict.fromkeys(keys, 0)

    def add(self, answer: Answer, delta: int = 1) -> None:
        for key in (answer,) if isinstance(answer, str) else answer:
            if key in self.counts:
                self.counts[key] += delta

    def histogram(self) -> dict[str, int]:
        return dict(self.counts)

    def distribution(self, *, revealed: bool) -> JSON:
        return {"options": dict(self.counts)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceQuestion(Question):
    """What the three choice types share: their options, and how the pages show them."""

    options: dict[str, Option]  # by key, A first

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.options)

    def option_texts(self) -> dict[str, str]:
        return {key: option.text.source for key, option in self.options.items()}

    def open_fields(self) -> dict[str, JSON]:
        fields: dict[str, JSON] = {
            "options": self.option_texts(),
            "options_html": {key: option.text.html for key, option in self.options.items()},
        }
        images = {o.key: {"url": o.image.url, "alt": o.image.alt} for o in self.options.values() if o.image is not None}
        if images:
            fields["option_images"] = images
        return fields

    def new_tally(self) -> Tally:
        return OptionCounts(self.keys)

    def _key(self, raw: object) -> str:
        if not isinstance(raw, str) or raw not in self.keys:
            raise AnswerRefused(f"one of {', '.join(self.keys)}")
        return raw

    def own_json(self) -> dict[str, JSON]:
        return {"options": {key: option.to_json() for key, option in self.options.items()}}


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleChoice(ChoiceQuestion):
    kind: ClassVar[str] = "single"
    label: ClassVar[str] = "single-choice questions"
    own_keys: ClassVar[tuple[str, ...]] = ("options", "correct")

    correct: str

    def parse_answer(self, raw: object) -> Answer:
        return self._key(raw)

    def grade(self, answer: Answer) -> Grade:
        return FULL if answer == self.correct else NONE

    def answer_from_text(self, text: str) -> Answer:
        return text

    def correct_json(self) -> JSON:
        return self.correct

    def own_json(self) -> dict[str, JSON]:
        return {**ChoiceQuestion.own_json(self), "correct": self.correct}

    @classmethod
    def from_source(cls, source: QuestionSource, common: Common) -> SingleChoice:
        options = check_options(source) if source.has("options", 'add "options": {"A": "...", "B": "..."}') else None
        keys = tuple(options) if options else None
        correct = ""
        fix = f'add "correct": one of {keys[0]}-{keys[-1]}' if keys else 'add "correct": "A"'
        if source.has("correct", fix):
            correct = check_correct_key(source.data["correct"], source.at("correct"), keys, source.problems)
        return cls(options=options or {}, correct=correct, **common())


@dataclass(frozen=True, slots=True, kw_only=True)
class MultipleChoice(ChoiceQuestion):
    """Several right answers: each right key chosen earns 1/k, each wrong one costs 1/k, floored at 0."""

    kind: ClassVar[str] = "multiple"
    label: ClassVar[str] = "multiple-answer questions"
    own_keys: ClassVar[tuple[str, ...]] = ("options", "correct")

    correct: tuple[str, ...]

    def parse_answer(self, raw: object) -> Answer:
        expected = f'a list of distinct keys from {", ".join(self.keys)}, e.g. ["A", "C"]'
        if not isinstance(raw, list) or not raw or len(raw) > len(self.keys):
            raise AnswerRefused(expected)
        if any(not isinstance(key, str) or key not in self.keys for key in raw) or len(set(raw)) != len(raw):
            raise AnswerRefused(expected)
        return tuple(sorted(raw))

    def grade(self, answer: Answer) -> Grade:
        right = set(self.correct)
        chosen = set(answer)
        credit = max(Fraction(0), Fraction(len(chosen & right) - len(chosen - right), len(right)))
        return Grade(credit, chosen == right)

    def answer_text(self, answer: Answer) -> str:
        return ";".join(answer)

    def answer_from_text(self, text: str) -> Answer:
        return tuple(text.split(";")) if text else ()

    def answer_json(self, answer: Answer) -> JSON:
        return list(answer)

    def open_fields(self) -> dict[str, JSON]:
        return {**ChoiceQuestion.open_fields(self), "multiple": True}

    def correct_json(self) -> JSON:
        return list(self.correct)

    def own_json(self) -> dict[str, JSON]:
        return {**ChoiceQuestion.own_json(self), "correct": list(self.correct)}

    @classmethod
    def from_source(cls, source: QuestionSource, common: Common) -> MultipleChoice:
        options = check_options(source) if source.has("options", 'add "options": {"A": "...", "B": "..."}') else None
        keys = tuple(options) if options else None
        correct: tuple[str, ...] = ()
        if source.has("correct", 'add "correct": a list of the right keys, e.g. ["A", "C"]'):
            correct = check_correct_keys(source.data["correct"], source.at("correct"), keys, source.problems)
        return cls(options=options or {}, correct=correct, **common())


@dataclass(frozen=True, slots=True, kw_only=True)
class Poll(ChoiceQuestion):
    """Opinions, not answers: options to pick, or (with no options) free text shown as a word cloud; never scored."""

    kind: ClassVar[str] = "poll"
    label: ClassVar[str] = "polls"
    scored: ClassVar[bool] = False
    own_keys: ClassVar[tuple[str, ...]] = ("options", "open")

    @property
    def is_open(self) -> bool:
        return not self.options

    @property
    def shows_live_results(self) -> bool:
        return True  # a poll has nothing to give away

    def parse_answer(self, raw: object) -> Answer:
        return clean_free_text(raw) if self.is_open else self._key(raw)

    def grade(self, answer: Answer) -> Grade:
        return NONE

    def answer_from_text(self, text: str) -> Answer:
        return text

    def open_fields(self) -> dict[str, JSON]:
        if self.is_open:
            return {"open": True, "max_length": FREE_TEXT_MAX_CHARS}
        return ChoiceQuestion.open_fields(self)

    def correct_json(self) -> JSON:
        return None

    def new_tally(self) -> Tally:
        return TopAnswers(fold=True) if self.is_open else OptionCounts(self.keys)

    def own_json(self) -> dict[str, JSON]:
        return {"open": True} if self.is_open else ChoiceQuestion.own_json(self)

    @classmethod
    def from_source(cls, source: QuestionSource, common: Common) -> Poll:
        is_open = source.data.get("open") is True
        if source.data.get("open") not in (None, True, False):
            source.problems.add(
                source.at("open"), f"expected true or false, got {checks.describe(source.data['open'])}", "write true"
            )
        if is_open:
            source.refuse("options", 'open polls (free text); drop "open" to poll over options')
            return cls(options={}, **common())
        options = (
            check_options(source)
            if source.has("options", 'add "options": {...}, or "open": true for free text')
            else None
        )
        return cls(options=options or {}, **common())


# ---------------------------------------------------------------- reading them from a pool file


def check_options(source: QuestionSource) -> dict[str, Option] | None:
    """The options in key order, or None when their keys are unusable (each problem reported)."""
    value, location, problems = source.data["options"], source.at("options"), source.problems
    if not isinstance(value, dict):
        fix = (
            'turn the list into {"A": "first", "B": "second", ...}'
            if isinstance(value, list)
            else 'write {"A": "...", "B": "..."}'
        )
        problems.add(location, f'expected an object like {{"A": "...", "B": "..."}}, got {checks.describe(value)}', fix)
        return None
    checks.check_duplicate_keys(value, location, problems)
    keys_ok = _option_keys_ok([str(key) for key in value], location, problems)
    options = {key: _check_option(key, value[key], f"{location}.{key}", source) for key in sorted(value)}
    return options if keys_ok else None


def _check_option(key: str, value: object, location: str, source: QuestionSource) -> Option:
    if isinstance(value, dict):
        checks.check_unknown_keys(value, ("text", "image", "image_alt"), location, source.problems)
        text = checks.check_text(value.get("text"), f"{location}.text", OPTION_TEXT_MAX_CHARS, source.problems)
        image = source.load_image(value.get("image"), value.get("image_alt"), location) if "image" in value else None
        return Option(key, source.render(text, f"{location}.text", True), image)
    text = checks.check_text(value, location, OPTION_TEXT_MAX_CHARS, source.problems)
    return Option(key, source.render(text, location, True))


def _option_keys_ok(keys: list[str], location: str, problems: checks.Problems) -> bool:
    count = len(keys)
    if count < OPTIONS_MIN:
        problems.add(
            location,
            f"has {count} option(s), needs {OPTIONS_MIN} to {len(OPTION_KEYS)}",
            "add options so the keys run A, B, ...",
        )
        return False
    if count > len(OPTION_KEYS):
        problems.add(location, f"has {count} options, the limit is {len(OPTION_KEYS)}", "keep only A to F")
        return False
    expected = list(OPTION_KEYS[:count])
    if sorted(keys) == expected:
        return True
    fix = "option keys are upper-case" if sorted(key.upper() for key in keys) == expected else "rename them"
    problems.add(location, f"keys {', '.join(keys)} are not consecutive from A", f"{fix}: use {', '.join(expected)}")
    return False


def check_correct_key(value: object, location: str, keys: tuple[str, ...] | None, problems: checks.Problems) -> str:
    """`correct` of a single-choice question: one of the option keys."""
    if not isinstance(value, str):
        problems.add(
            location,
            f"expected an option key such as 'A', got {checks.describe(value)}",
            'write the letter in double quotes, e.g. "A"',
        )
        return ""
    valid = keys or tuple(OPTION_KEYS)
    if value in valid:
        return value
    near = value.strip().upper()
    fix = f"use {near!r}" if near in valid else f"use one of {', '.join(valid)}"
    problems.add(location, f"{checks.quote(value)} is not one of the options {valid[0]}-{valid[-1]}", fix)
    return value


def check_correct_keys(
    value: object, location: str, keys: tuple[str, ...] | None, problems: checks.Problems
) -> tuple[str, ...]:
    """`correct` of a multiple-answer question: a list of one or more distinct option keys."""
    valid = keys or tuple(OPTION_KEYS)
    if isinstance(value, str):
        problems.add(
            location,
            f"expected a list of option keys, got {checks.describe(value)}",
            f'write ["{value}"] or use "type": "single"',
        )
        return ()
    if not isinstance(value, list) or not value:
        problems.add(
            location,
            f"expected a list of one or more option keys, got {checks.describe(value)}",
            'write e.g. ["A", "C"]',
        )
        return ()
    bad = [key for key in value if not isinstance(key, str) or key not in valid]
    if bad:
        problems.add(
            location,
            f"{', '.join(map(repr, bad))} not among the options {valid[0]}-{valid[-1]}",
            f"use keys from {', '.join(valid)}",
        )
    repeated = [key for key, n in Counter(map(str, value)).items() if n > 1]
    if repeated:
        problems.add(location, f"{', '.join(map(repr, repeated))} given more than once", "list each key once")
    return tuple(sorted({key for key in value if isinstance(key, str)}))
