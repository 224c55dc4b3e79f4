"""CSV question banks from a spreadsheet: one row per question.

Header (names case-insensitive, any order, optional columns may be left out)::

    type,question,A,B,C,D,E,F,correct,time_limit,points,explanation

``type`` is single (also when blank), multiple, true_false, numeric, text or poll.
``correct`` holds ``B`` (single), ``A;C`` (multiple), ``true``/``false``/``T``/``F``
(true_false), ``3.14±0.01``, ``3.14+-0.01``, ``1..5`` or ``42`` (numeric), ``a|b``
(text: the accepted answers), and is blank (poll with options) or ``open`` (open poll).
Cells are Markdown, as in a pool file.

Files may be UTF-8 with or without a BOM, and comma-, semicolon- (European Excel) or
tab-separated: the separator is sniffed from the header line.  European decimal commas
(``3,14``) are read in numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from server.quiz.types import QUESTION_TYPES
from server.quiz.types.choice import OPTION_KEYS, OPTIONS_MIN

from .problems import ParsedBank, Place, Problems, Question, ordered, too_many_options_fix, vet_question
from .text import decode_text, parse_number

__all__ = ["COLUMNS", "parse_csv"]

COLUMNS = ("type", "question", *OPTION_KEYS.lower(), "correct", "time_limit", "points", "explanation")
TYPES = tuple(QUESTION_TYPES)
_TYPE_ALIASES = {
    "": "single",
    "choice": "single",
    "multichoice": "multiple",
    "truefalse": "true_false",
    "true/false": "true_false",
    "tf": "true_false",
    "number": "numeric",
    "numerical": "numeric",
    "short": "text",
    "shortanswer": "text",
    "short_answer": "text",
}
# Excel turns a typed "true" into a boolean and writes it in the sheet's language.
_TRUE = frozenset(("true", "t", "wahr", "vrai", "verdadero", "vero", "waar", "sant"))
_FALSE = frozenset(("false", "f", "falsch", "faux", "falso", "onwaar", "usant"))
_DELIMITERS = (",", ";", "\t")
_KEY_SPLIT_RE = re.compile(r"[\s;,]+")
_TOLERANCE_SPLIT_RE = re.compile(r"±|\+/-|\+-")
_HEADER_FIX = "start the file with the header line: type,question,A,B,C,D,E,F,correct,time_limit,points,explanation"


def parse_csv(data: str | bytes, source: str, *, strict: bool = False) -> ParsedBank:
    """Parse a CSV bank; `BankError` lists every bad row with its line and column name.

    `strict` is accepted for a uniform parser signature: CSV rows are never skipped.
    """
    problems = Problems(source, strict=strict)
    text = decode_text(data, source)
    header_line = text.split("\n", 1)[0]
    delimiter = _sniff_delimiter(header_line)
    rows = _rows(text, delimiter, problems)
    header = next(rows, None)
    columns = _columns(header[1] if header else [], problems)
    if columns is None:
        raise problems.fail_now()
    reader = _RowReader(problems, columns)
    for line, cells in rows:
        reader.row(line, cells)
    return problems.finish(reader.questions, reader.places)


def _normalise(name: str) -> str:
    return name.strip().strip("\ufeff").lower().replace(" ", "_").replace("-", "_")


def _sniff_delimiter(header_line: str) -> str:
    """The separator that splits the header into the most template column names."""

    def score(delimiter: str) -> int:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return sum(_normalise(cell) in COLUMNS for cell in cells)

    return max(_DELIMITERS, key=score)  # max() keeps the first (",") on a tie


def _rows(text: str, delimiter: str, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """(first line of the row, cells) for each row; a broken CSV file stops with its line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    end_of_previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.error(reader.line_num, f"cannot read the CSV: {exc}", "check the quotes on this row")
            raise problems.fail_now() from None
        yield end_of_previous + 1, cells
        end_of_previous = reader.line_num


def _columns(header: list[str], problems: Problems) -> dict[str, int] | None:
    """Column name -> index.  Letters after F are kept too, so that a 7th option is an error."""
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = _normalise(raw)
        if not name:
            continue
        if _is_extra_option(name) and name not in columns:
            columns[name] = index
        elif name not in COLUMNS:
            problems.warn(1, f"column {raw.strip()[:40]!r} is not part of the template; ignored", _HEADER_FIX)
        elif name in columns:
            problems.error(1, f"column {raw.strip()!r} appears twice", "delete one of the two columns")
        else:
            columns[name] = index
    if "question" not in columns:
        problems.error(1, "the header has no 'question' column", _HEADER_FIX)
        return None
    return columns


def _is_extra_option(name: str) -> bool:
    return len(name) == 1 and "g" <= name <= "z"


class _RowReader:
    def __init__(self, problems: Problems, columns: dict[str, int]) -> None:
        self.problems = problems
        self.columns = columns
        self.questions: list[Question] = []
        self.places: list[Place] = []
        # The row being read; `ok` turns False at its first error.
        self.line = 0
        self.cells: list[str] = []
        self.ok = True

    def row(self, line: int, cells: list[str]) -> None:
        """Convert one data row, or report what is wrong with it."""
        if not any(cell.strip() for cell in cells):
            return
        self.line = line
        self.cells = cells
        self.ok = True
        kind = _normalise(self._cell("type"))
        kind = _TYPE_ALIASES.get(kind, kind)
        if kind not in TYPES:
            self._error(
                f"type {self._cell('type')[:30]!r} is unknown", f"use one of {', '.join(TYPES)}, or leave it blank"
            )
            return
        question: Question = {"type": kind, "text": self._cell("question")}
        self._typed(question, kind)
        self._common(question)
        if self.ok:
            vet_question(question, line, self.problems)
            self.questions.append(ordered(question))
            self.places.append(Place(line))

    # -------------------------------------------------- cells

    def _cell(self, name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(self.cells):
            return ""
        return self.cells[index].strip()

    def _error(self, message: str, fix: str) -> None:
        self.ok = False
        self.problems.error(self.line, message, fix)

    def _options(self) -> dict[str, str]:
        options: dict[str, str] = {}
        gap: str | None = None
        for key in OPTION_KEYS:
            value = self._cell(key.lower())
            if not value:
                gap = gap or key
                continue
            if gap is not None:
                self._error(f"column {gap} is empty but column {key} is not", "fill the options from A without gaps")
                return {}
            options[key] = value
        return options

    # -------------------------------------------------- types

    def _typed(self, question: Question, kind: str) -> None:
        if kind in ("single", "multiple"):
            self._choice(question, kind)
        elif kind == "poll":
            self._poll(question)
        else:
            if self._options():
                self.problems.warn(self.line, f"option columns are ignored for a {kind} question", "clear them")
            {"true_false": self._true_false, "numeric": self._numeric, "text": self._text}[kind](question)

    def _choice(self, question: Question, kind: str) -> None:
        options = self._options()
        if not self._option_count_ok(options):
            return
        question["options"] = options
        correct = self._cell("correct")
        keys = [key.upper() for key in _KEY_SPLIT_RE.split(correct) if key]
        if kind == "single" and len(keys) != 1:
            self._error(
                f"correct {correct[:30]!r} is not one option letter",
                "put the right option's letter, e.g. B, in the correct column (several right: type multiple)",
            )
            return
        unknown = [key for key in keys if key not in options]
        if not keys or unknown:
            self._error(
                f"correct {correct[:30]!r} names no option or options that are not filled in",
                "write the right letters separated by ;, e.g. A;C",
            )
            return
        question["correct"] = keys[0] if kind == "single" else list(dict.fromkeys(keys))

    def _option_count_ok(self, options: dict[str, str]) -> bool:
        if not self.ok:
            return False
        if len(options) < OPTIONS_MIN:
            self._error(f"{len(options)} option(s); a choice question needs at least 2", "fill in columns A and B")
            return False
        extra = [name.upper() for name in self.columns if _is_extra_option(name) and self._cell(name)]
        if extra:
            count = len(options) + len(extra)
            self._error(
                f"{count} options (up to column {extra[-1]}); quizctl shows at most 6 (A-F)",
                too_many_options_fix(count),
            )
            return False
        return True

    def _poll(self, question: Question) -> None:
        options = self._options()
        correct = self._cell("correct")
        if correct.lower() == "open":
            if options:
                self._error("an open poll has no options", "clear the option columns, or leave correct blank")
            question["open"] = True
            return
        if correct:
            self._error(
                f"a poll has no right answer, but correct is {correct[:30]!r}", "leave correct blank, or write open"
            )
            return
        if self._option_count_ok(options):
            question["options"] = options

    def _true_false(self, question: Question) -> None:
        value = self._cell("correct").lower()
        if value in _TRUE or value in _FALSE:
            question["correct"] = value in _TRUE
        else:
            self._error(f"correct {value[:30]!r} is not true or false", "write true or false (or T / F)")

    def _numeric(self, question: Question) -> None:
        correct = self._cell("correct")
        fix = "write 42, 3.14±0.01, 3.14+-0.01 or a range 1..5"
        if ".." in correct:
            low, high = (_number(part) for part in correct.split("..", 1))
            if low is None or high is None or low > high:
                self._error(f"correct {correct[:30]!r} is not a range low..high", fix)
                return
            question["range"] = [low, high]
            return
        value_text, *rest = _TOLERANCE_SPLIT_RE.split(correct, maxsplit=1)
        value = _number(value_text)
        tolerance = _number(rest[0]) if rest else 0
        if value is None or tolerance is None or tolerance < 0:
            self._error(f"correct {correct[:30]!r} is not a number", fix)
            return
        question["correct"] = value
        if tolerance:
            question["tolerance"] = tolerance

    def _text(self, question: Question) -> None:
        accept = list(dict.fromkeys(answer.strip() for answer in self._cell("correct").split("|") if answer.strip()))
        if not accept:
            self._error("no accepted answer", "list the accepted answers in correct, separated by |, e.g. Paris|paris")
            return
        question["accept"] = accept

    # -------------------------------------------------- optional columns

    def _common(self, question: Question) -> None:
        # Only whether a cell is a number is checked here: its range is the pool loader's
        # rule, which checks every import and reports its problems at this row.
        time_limit = self._cell("time_limit")
        if time_limit:
            seconds = _number(time_limit)
            if seconds is None:
                self._error(
                    f"time_limit {time_limit[:20]!r} is not a number",
                    "write the time limit in seconds, e.g. 30, or leave it blank",
                )
            else:
                question["time_limit"] = int(seconds) if seconds == int(seconds) else seconds
        points = self._cell("points")
        if points:
            value = _number(points)
            if value is None:
                self._error(
                    f"points {points[:20]!r} is not a number",
                    "write a positive number, e.g. 1 or 2, or leave it blank",
                )
            else:
                question["points"] = value
        explanation = self._cell("explanation")
        if explanation:
            question["explanation"] = explanation


def _number(text: str) -> int | float | None:
    """A number cell; a lone decimal comma (``3,14``, European Excel) is read as a point."""
    text = text.strip()
    if "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")
    return parse_number(text)
