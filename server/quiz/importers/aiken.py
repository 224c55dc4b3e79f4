"""Aiken question banks: Moodle's simplest format, single-choice questions only.

    What is the capital of France?
    A. Berlin
    B) Paris
    ANSWER: B

The question may run over several lines; options are ``A.`` or ``A)`` lines lettered
from A without gaps (at most F); ``ANSWER: X`` ends the question.  Text is plain and
escaped for Markdown.  Every malformed block is reported with its line: a missing
ANSWER, an answer that is not an option, fewer than 2 or more than 6 options, options
out of order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from server.quiz.types.choice import OPTION_KEYS, OPTIONS_MIN

from .problems import ParsedBank, Place, Problems, Question, ordered, too_many_options_fix
from .text import decode_text, plain_to_markdown

__all__ = ["parse_aiken"]

# Anchored at both ends with disjoint character classes: no backtracking blow-up.
_OPTION_RE = re.compile(r"([A-Z])[.)](?:[ \t]+(.*))?")
_ANSWER_RE = re.compile(r"ANSWER[ \t]*:[ \t]*(\S*)[ \t]*", re.IGNORECASE)
_ANSWER_FIX = "end the question with a line such as 'ANSWER: B' right after its last option"


@dataclass(slots=True)
class _Pending:
    """The question being read: its first line, text lines and options so far."""

    line: int
    text: list[str]
    options: list[tuple[str, str, int]] = field(default_factory=list)  # (letter, text, line)
    broken: bool = False  # an error was already reported for this block


class _AikenReader:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.questions: list[Question] = []
        self.places: list[Place] = []
        self.pending: _Pending | None = None

    def line(self, number: int, raw: str) -> None:
        """Feed one line of the file."""
        text = raw.strip()
        if not text:
            return
        answer = _ANSWER_RE.fullmatch(text)
        if answer is not None:
            self._answer(number, answer[1])
            return
        option = _OPTION_RE.fullmatch(text)
        if option is not None:
            self._option(number, option[1], option[2] or "")
            return
        pending = self.pending
        if pending is not None and pending.options:
            self._missing_answer(pending)
            pending = None
        if pending is None:
            self.pending = _Pending(number, [text])
        else:
            pending.text.append(text)

    def end(self) -> None:
        """The file ended: the last question must have had its ANSWER line."""
        if self.pending is not None:
            self._missing_answer(self.pending)
            self.pending = None

    def _missing_answer(self, pending: _Pending) -> None:
        if not pending.broken:
            self.problems.error(pending.line, "this question has no ANSWER line", _ANSWER_FIX)

    def _option(self, number: int, letter: str, text: str) -> None:
        pending = self.pending
        if pending is None:
            self.problems.error(
                number, f"option {letter} comes before any question text", "write the question on the line above it"
            )
            self.pending = pending = _Pending(number, [], broken=True)
        position = len(pending.options)
        if position == len(OPTION_KEYS) and not pending.broken:
            pending.broken = True
            self.problems.error(
                number, f"more than {len(OPTION_KEYS)} options; quizctl shows at most A-F", too_many_options_fix(7)
            )
        elif position < len(OPTION_KEYS) and letter != OPTION_KEYS[position] and not pending.broken:
            pending.broken = True
            self.problems.error(
                number,
                f"option {letter} is out of order: option {OPTION_KEYS[position]} was expected here",
                "letter the options A, B, C, ... in order, one per line",
            )
        elif not text.strip() and not pending.broken:
            pending.broken = True
            self.problems.error(number, f"option {letter} is empty", "write the option's text after the letter")
        pending.options.append((letter, text, number))

    def _answer(self, number: int, letter: str) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            self.problems.error(
                number, "an ANSWER line with no question above it", "put the question and options above it"
            )
            return
        if pending.broken:
            return
        letters = [option[0] for option in pending.options]
        if len(letters) < OPTIONS_MIN:
            self.problems.error(
                pending.line,
                f"{len(letters)} option(s); an Aiken question needs at least 2",
                "add options on their own lines, written 'A. text' or 'A) text'",
            )
            return
        if len(letter) != 1 or letter.upper() not in letters:
            shown = letter or "(nothing)"
            self.problems.error(
                number,
                f"ANSWER {shown} is not one of the options {letters[0]}-{letters[-1]}",
                "give the letter of the right option, e.g. 'ANSWER: B'",
            )
            return
        question: Question = {
            "type": "single",
            "text": plain_to_markdown("\n".join(pending.text)),
            "options": {key: plain_to_markdown(text) for key, text, _ in pending.options},
            "correct": letter.upper(),
        }
        self.questions.append(ordered(question))
        self.places.append(Place(pending.line))


def parse_aiken(data: str | bytes, source: str, *, strict: bool = False) -> ParsedBank:
    """Parse an Aiken bank; `BankError` lists every malformed question with its line.

    `strict` is accepted for a uniform parser signature: Aiken has nothing to skip.
    """
    problems = Problems(source, strict=strict)
    reader = _AikenReader(problems)
    for number, raw in enumerate(decode_text(data, source).split("\n"), 1):
        reader.line(number, raw)
    reader.end()
    return problems.finish(reader.questions, reader.places)
