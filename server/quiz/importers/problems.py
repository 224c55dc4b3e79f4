"""What the bank parsers report and return: located problems, the collector, the parsed bank.

Every problem is an `ImportProblem` that prints as ``FILE:LINE[:COL]: message (fix: ...)``.
A bank that cannot be imported raises `BankError` listing *every* problem found, so an
instructor repairs the file in one pass. Question kinds quizctl cannot run are skipped
with a warning (`Problems.skip`), or reported as errors under ``strict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from server.quiz.types.base import EXPLANATION_MAX_CHARS
from server.quiz.types.choice import OPTION_KEYS

# BankError's message lists this many problems; `.problems` keeps them all.
MESSAGE_MAX_PROBLEMS = 30

Question = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One problem in a bank: where it is, what is wrong and how to fix it.

    `line` is 1-based; 0 means the file as a whole (it cannot be read, its format is
    unknown, a pool-wide setting is wrong), and is then left out of the printed form.
    `column` is 1-based.
    """

    file: str
    line: int
    message: str
    fix: str
    column: int | None = None

    @property
    def location(self) -> str:
        """``FILE``, ``FILE:LINE`` or ``FILE:LINE:COL``."""
        if self.line <= 0:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.location}: {self.message} (fix: {self.fix})"

    def as_warning(self) -> str:
        """The printed form of a warning: ``FILE:LINE: warning: message (fix: ...)``."""
        return f"{self.location}: warning: {self.message} (fix: {self.fix})"

    def to_json(self) -> dict[str, Any]:
        """The problem as `--json` output prints it."""
        return {
            "file": self.file,
            "line": self.line or None,
            "column": self.column,
            "message": self.message,
            "fix": self.fix,
        }


class BankError(Exception):
    """A bank that cannot be imported; `problems` lists everything wrong with it.

    `warnings` carries what was noticed along the way (skipped questions, dropped
    partial credit), since a bank whose every question was skipped fails with the
    reason in the warnings.
    """

    def __init__(self, problems: Sequence[ImportProblem], warnings: Sequence[ImportProblem] = ()) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings)
        shown = [str(problem) for problem in self.problems[:MESSAGE_MAX_PROBLEMS]]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            shown.append(f"... and {hidden} more problem(s)")
        super().__init__("\n".join(shown))

    @property
    def progress(self) -> int:
        """The line of the first problem: how far the parser got before it failed."""
        return min((problem.line for problem in self.problems), default=0)


@dataclass(slots=True)
class Place:
    """Where one imported question came from: its line, and the lines of fields given elsewhere.

    A GIFT question's quizctl comment sits on its own line; problems with the fields it
    gave (`fields`: pool key -> line) are reported there.
    """

    line: int
    fields: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        """The line to report a problem with the question's `key` at."""
        return self.fields.get(key, self.line)


@dataclass(slots=True)
class ParsedBank:
    """What one parser returns: questions in file order with their places, warnings, assets.

    `pool` holds pool-wide fields the bank itself gives (a GIFT file written by quizctl
    carries its title, session and defaults in a comment), found at `pool_line`.
    `images` are image paths the bank refers to, relative to its folder, that the pool
    needs copied beside it (from GIFT comments); `assets` are images the bank carried
    inside it (Moodle XML), as (file name relative to the pool, bytes).
    """

    questions: list[Question]
    places: list[Place]
    warnings: list[ImportProblem]
    assets: list[tuple[str, bytes]] = field(default_factory=list)
    pool: dict[str, Any] = field(default_factory=dict)
    pool_line: int = 0


class Problems:
    """Collects the errors and warnings of one bank; parsers report, then call `finish`."""

    def __init__(self, source: str, *, strict: bool = False) -> None:
        self.source = source
        self.strict = strict
        self.errors: list[ImportProblem] = []
        self.warnings: list[ImportProblem] = []

    def error(self, line: int, message: str, fix: str, column: int | None = None) -> None:
        """Record a problem that stops the import."""
        self.errors.append(ImportProblem(self.source, line, message, fix, column))

    def warn(self, line: int, message: str, fix: str, column: int | None = None) -> None:
        """Record something the instructor should know; the import goes on."""
        self.warnings.append(ImportProblem(self.source, line, message, fix, column))

    def skip(self, line: int, kind: str, fix: str) -> None:
        """A question quizctl cannot run: a warning, or an error under ``strict``."""
        message = f"{kind}: quizctl cannot run this kind of question"
        if self.strict:
            self.error(line, message, fix)
        else:
            self.warn(line, message + "; skipped", fix)

    def fail_now(self) -> BankError:
        """The exception to raise when the file cannot be read at all."""
        return BankError(self.errors, self.warnings)

    def finish(
        self, questions: list[Question], places: list[Place], assets: Sequence[tuple[str, bytes]] = ()
    ) -> ParsedBank:
        """Raise `BankError` if anything was wrong, else return the parsed bank."""
        if not self.errors and not questions:
            skipped = len(self.warnings)
            self.error(
                1,
                "no question quizctl can run" + (f" ({skipped} warning(s), see them)" if skipped else ""),
                "add at least one single, multiple, true/false, numeric or short-answer question",
            )
        if self.errors:
            raise BankError(self.errors, self.warnings)
        return ParsedBank(questions, places, self.warnings, list(assets))


def vet_question(question: Question, line: int, problems: Problems) -> None:
    """Drop an explanation the pool could not hold, with a warning naming `line`.

    It is optional, and Moodle's general feedback is often long: losing it beats failing
    the import. Every other limit is the pool loader's, which checks each import.
    """
    explanation = question.get("explanation")
    if isinstance(explanation, str) and len(explanation) > EXPLANATION_MAX_CHARS:
        del question["explanation"]
        problems.warn(
            line,
            f"the explanation (general feedback) is {len(explanation)} characters,"
            f" over {EXPLANATION_MAX_CHARS}; dropped",
            "shorten the general feedback to keep it",
        )
    elif isinstance(explanation, str) and not explanation.strip():
        del question["explanation"]


_KEY_ORDER = (
    "type", "text", "image", "image_alt", "options", "correct", "tolerance", "range", "unit", "accept", "match",
    "open", "explanation", "time_limit", "points", "tags", "live_results",
)  # fmt: skip


def ordered(question: Question) -> Question:
    """The same question with its keys in the order a person reads a pool file (others last)."""
    known = {key: question[key] for key in _KEY_ORDER if key in question}
    return known | {key: value for key, value in question.items() if key not in known}


def too_many_options_fix(count: int) -> str:
    """The fix text for a question with more than six options."""
    return f"remove {count - len(OPTION_KEYS)} option(s), or split the question in two"
