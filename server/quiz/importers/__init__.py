"""Question-bank importers: GIFT, Aiken, Moodle XML and CSV banks become quizctl pool dicts.

`import_bank(path)` picks the parser from the file extension (or `format=`), runs it and
wraps the questions in a pool dict of the form described in the pool format notes
(types single, multiple, true_false, numeric, text, poll).  It never writes anything:
`ImportResult.assets` holds the image files a Moodle XML bank carried, for the caller
to write beside the pool.

Every problem is an `ImportProblem` that prints as ``FILE:LINE[:COL]: message (fix: ...)``.
A bank that cannot be imported raises `BankError` listing *every* problem found, so an
instructor repairs the file in one pass.  Question kinds quizctl cannot run (matching,
essay, missing word, ...) are skipped with a warning, or reported as errors with
``strict=True``.

This module also holds what the four parsers share: the problem collector, the
plain-text-to-Markdown escaping, the math delimiter conversion and number parsing.
The parser modules are imported lazily by `import_bank`, so that they can import
these helpers from here without an import cycle.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "FORMATS",
    "BankError",
    "ImportProblem",
    "ImportResult",
    "export_gift",
    "import_bank",
]

FORMATS = ("gift", "aiken", "moodle-xml", "csv")
EXTENSIONS = {".gift": "gift", ".xml": "moodle-xml", ".csv": "csv"}

OPTION_KEYS = "ABCDEF"
OPTIONS_MIN = 2
TEXT_MAX_CHARS = 1000
EXPLANATION_MAX_CHARS = 2000
ACCEPT_MAX_CHARS = 100
UNIT_MAX_CHARS = 20
TITLE_MAX_CHARS = 200
QUESTIONS_MAX = 500
TIME_LIMIT_MIN_S = 5
TIME_LIMIT_MAX_S = 3600
TIME_LIMIT_DEFAULT_S = 30
SCORE_FUNCTIONS = ("binary", "speed_linear")
SCORE_FN_DEFAULT = "speed_linear"
# A real bank of 500 questions with images is a few MiB; 64 MiB leaves room and
# keeps a mistaken `import` of a video or a disk image from eating memory.
FILE_MAX_BYTES = 64 * 1024 * 1024
# BankError's message lists this many problems; `.problems` keeps them all.
MESSAGE_MAX_PROBLEMS = 30

Question = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One problem in a bank: where it is, what is wrong and how to fix it.

    `line` is 1-based; 0 means the file as a whole (it cannot be read, its format is
    unknown), and is then left out of the printed form.  `column` is 1-based.
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
class ImportResult:
    """What `import_bank` produced: the pool dict, warnings and image files to write."""

    pool: dict[str, Any]
    warnings: list[ImportProblem] = field(default_factory=list)
    # (file name relative to the pool's folder, bytes): images from Moodle XML.
    assets: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class ParsedBank:
    """What one parser returns: questions in file order, warnings and assets."""

    questions: list[Question]
    warnings: list[ImportProblem]
    assets: list[tuple[str, bytes]] = field(default_factory=list)
    title: str | None = None


class _Parser(Protocol):
    def __call__(self, data: str | bytes, source: str, *, strict: bool = False) -> ParsedBank: ...


def import_bank(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    title: str | None = None,
    time_limit: int | None = None,
    score_fn: str | None = None,
    strict: bool = False,
) -> ImportResult:
    """Read a question bank and return it as a pool dict; `BankError` lists every problem.

    The format comes from the extension (``.gift``, ``.xml`` Moodle XML, ``.csv``; ``.txt``
    is tried as Aiken, then as GIFT) unless `format` (one of `FORMATS`) says otherwise.
    `title`, `time_limit` and `score_fn` set the pool's ``title``,
    ``time_limit_default`` and ``score_fn``; the title defaults to the file's stem.
    With `strict`, questions quizctl cannot run are errors instead of skipped.
    """
    source = os.fspath(path)
    _check_arguments(source, format, title, time_limit, score_fn)
    chosen = format if format is not None else _format_from_extension(source)
    data = _read_bytes(Path(source), source)
    parsed = _parse_with_fallback(chosen, data, source, strict)
    pool_title = title.strip() if title is not None else parsed.title or _title_from_stem(source)
    pool: dict[str, Any] = {
        "title": pool_title,
        "time_limit_default": time_limit if time_limit is not None else TIME_LIMIT_DEFAULT_S,
        "score_fn": score_fn if score_fn is not None else SCORE_FN_DEFAULT,
        "questions": parsed.questions,
    }
    return ImportResult(pool=pool, warnings=parsed.warnings, assets=parsed.assets)


def export_gift(pool: dict[str, Any]) -> str:
    """Write a pool dict as a GIFT bank; see `server.quiz.importers.gift.export_gift`."""
    from .gift import export_gift as _export_gift

    return _export_gift(pool)


def parse_bank(data: str | bytes, source: str, format: str, *, strict: bool = False) -> ParsedBank:
    """Parse bank contents already in memory with the parser for `format` (no ``.txt`` fallback)."""
    return _parser_for(format)(data, source, strict=strict)


def _parser_for(fmt: str) -> _Parser:
    # Imported here, not at the top: the parsers import this package's helpers.
    if fmt == "gift":
        from .gift import parse_gift

        return parse_gift
    if fmt == "aiken":
        from .aiken import parse_aiken

        return parse_aiken
    if fmt == "moodle-xml":
        from .moodle_xml import parse_moodle_xml

        return parse_moodle_xml
    from .spreadsheet import parse_csv

    return parse_csv


def _parse_with_fallback(fmt: str, data: bytes, source: str, strict: bool) -> ParsedBank:
    if fmt != "txt":
        return parse_bank(data, source, fmt, strict=strict)
    # A .txt bank is Aiken or GIFT (Moodle exports GIFT as .txt).  Aiken is tried first
    # because it is the stricter format: GIFT text almost never passes as Aiken.
    try:
        return parse_bank(data, source, "aiken", strict=strict)
    except BankError as aiken_error:
        try:
            return parse_bank(data, source, "gift", strict=strict)
        except BankError as gift_error:
            raise (gift_error if gift_error.progress > aiken_error.progress else aiken_error) from None


def _check_arguments(
    source: str, fmt: str | None, title: str | None, time_limit: int | None, score_fn: str | None
) -> None:
    problems: list[ImportProblem] = []

    def add(message: str, fix: str) -> None:
        problems.append(ImportProblem(source, 0, message, fix))

    if fmt is not None and fmt not in FORMATS:
        add(f"unknown format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    if title is not None and not 1 <= len(title.strip()) <= TITLE_MAX_CHARS:
        add(f"the title must be 1..{TITLE_MAX_CHARS} characters", "give a shorter, non-empty --title")
    if time_limit is not None and (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, int)
        or not TIME_LIMIT_MIN_S <= time_limit <= TIME_LIMIT_MAX_S
    ):
        add(
            f"time limit {time_limit!r} is not a whole number of seconds in {TIME_LIMIT_MIN_S}..{TIME_LIMIT_MAX_S}",
            "give --time-limit in seconds, e.g. 30",
        )
    if score_fn is not None and score_fn not in SCORE_FUNCTIONS:
        add(f"unknown score function {score_fn!r}", f"use one of {', '.join(SCORE_FUNCTIONS)}")
    if problems:
        raise BankError(problems)


def _format_from_extension(source: str) -> str:
    suffix = Path(source).suffix.lower()
    if suffix == ".txt":
        return "txt"
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    raise BankError(
        [
            ImportProblem(
                source,
                0,
                f"cannot tell the bank's format from the extension {suffix or '(none)'!r}",
                "name the file .gift, .txt, .xml or .csv, or pass --format gift|aiken|moodle-xml|csv",
            )
        ]
    )


def _read_bytes(path: Path, source: str) -> bytes:
    def fail(message: str, fix: str) -> BankError:
        return BankError([ImportProblem(source, 0, message, fix)])

    try:
        size = path.stat().st_size
        if size > FILE_MAX_BYTES:
            raise fail(
                f"the file is {size // 2**20} MiB; banks are at most 64 MiB", "split the bank into smaller files"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise fail("no such file", "check the path") from None
    except IsADirectoryError:
        raise fail("is a directory", "give the path of a bank file") from None
    except PermissionError:
        raise fail("permission denied", "make the file readable") from None
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror}", "check the path") from None


def _title_from_stem(source: str) -> str:
    stem = Path(source).stem.strip() or "Imported questions"
    return stem[:TITLE_MAX_CHARS]


# ---------------------------------------------------------------- problems


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

    def finish(self, questions: list[Question], assets: Sequence[tuple[str, bytes]] = ()) -> ParsedBank:
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
        if len(questions) > QUESTIONS_MAX:
            self.warn(
                1,
                f"{len(questions)} questions; a pool holds at most {QUESTIONS_MAX}",
                "split the bank into several pools (e.g. one per week) before serving it",
            )
        return ParsedBank(questions, self.warnings, list(assets))


def vet_question(question: Question, line: int, problems: Problems) -> bool:
    """Check the limits every question shares; report with `line`.  False if unusable.

    An explanation that is too long is dropped with a warning rather than failing the
    import: it is optional, and Moodle's general feedback is often long.
    """
    ok = True
    text = question.get("text", "")
    if not text.strip():
        problems.error(line, "the question text is empty", "write the question's text")
        ok = False
    elif len(text) > TEXT_MAX_CHARS:
        problems.error(
            line,
            f"the question text is {len(text)} characters; at most {TEXT_MAX_CHARS} fit on a projector",
            "shorten the question, or move detail into the explanation",
        )
        ok = False
    explanation = question.get("explanation")
    if explanation is not None and len(explanation) > EXPLANATION_MAX_CHARS:
        del question["explanation"]
        problems.warn(
            line,
            f"the explanation (general feedback) is {len(explanation)} characters, over {EXPLANATION_MAX_CHARS}; dropped",
            "shorten the general feedback to keep it",
        )
    elif explanation is not None and not explanation.strip():
        del question["explanation"]
    for accepted in question.get("accept", ()):
        if not 1 <= len(accepted) <= ACCEPT_MAX_CHARS:
            problems.error(
                line,
                f"accepted answer {accepted[:40]!r} is {len(accepted)} characters; answers are 1..{ACCEPT_MAX_CHARS}",
                "shorten the accepted answer",
            )
            ok = False
    return ok


_KEY_ORDER = (
    "type", "text", "image", "image_alt", "options", "correct", "tolerance", "range", "unit", "accept", "match",
    "open", "explanation", "time_limit", "points", "tags",
)  # fmt: skip


def ordered(question: Question) -> Question:
    """The same question with its keys in the order a person reads a pool file."""
    return {key: question[key] for key in _KEY_ORDER if key in question}


def too_many_options_fix(count: int) -> str:
    """The fix text for a question with more than six options."""
    return f"remove {count - len(OPTION_KEYS)} option(s), or split the question in two"


# ---------------------------------------------------------------- text


def decode_text(data: str | bytes, source: str) -> str:
    """Bytes as text: UTF-8 with or without BOM (or UTF-16 with a BOM), newlines as ``\\n``."""
    if isinstance(data, bytes):
        data = _decode_bytes(data, source)
    elif data.startswith("\ufeff"):
        data = data[1:]
    # Only \r\n and \r: str.splitlines() would also split on form feeds and U+2028,
    # and line numbers would no longer match the instructor's editor.
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _decode_bytes(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" and Notepad's "Unicode" are UTF-16 with a BOM.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BankError(
            [
                ImportProblem(
                    source,
                    line,
                    f"byte 0x{data[exc.start]:02x} is not UTF-8 text",
                    "save the file as UTF-8 (Excel: 'CSV UTF-8'; text editors: Save As, encoding UTF-8)",
                    column,
                )
            ]
        ) from None


_MATH_DELIMITERS = (("\\(", "\\)", False), ("\\[", "\\]", True), ("$$", "$$", True))
_MATHJAX_DELIMITERS = _MATH_DELIMITERS[:2]


def math_segments(
    text: str, delimiters: Sequence[tuple[str, str, bool]] = _MATH_DELIMITERS
) -> list[tuple[str, bool | None]]:
    """Split `text` into ``(text, None)`` and ``(math, display)`` pieces, in order.

    Linear time: each delimiter's next occurrence is remembered, and an opener with no
    closer after it means no later opener of that kind can close either.
    """
    if "\\" not in text and "$$" not in text:
        return [(text, None)]  # the common case, kept cheap for 5 MB banks
    pieces: list[tuple[str, bool | None]] = []
    next_at = {opener: text.find(opener) for opener, _, _ in delimiters}
    pos = 0
    while True:
        best: tuple[int, str, str, bool] | None = None
        for opener, closer, display in delimiters:
            at = next_at[opener]
            if 0 <= at < pos:
                at = next_at[opener] = text.find(opener, pos)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, opener, closer, display)
        if best is None:
            break
        at, opener, closer, display = best
        end = text.find(closer, at + len(opener))
        if end < 0:
            next_at[opener] = -1
            continue
        pieces.append((text[pos:at], None))
        content = text[at + len(opener) : end].strip()
        if content:
            pieces.append((content, display))
        pos = end + len(closer)
    pieces.append((text[pos:], None))
    return pieces


def math_markdown(content: str, display: bool) -> str:
    """Math content in the pool's delimiters: ``$..$`` inline, ``$$..$$`` display."""
    return f"$${content}$$" if display else f"${content}$"


# Backslash escapes render as the bare character in CommonMark, so escaping more than
# strictly needed is harmless; these are the characters that start inline markup.
_INLINE_SPECIALS_RE = re.compile(r"[\\`*_\[\]<$]")
_ENTITY_RE = re.compile(r"&(?=#?[A-Za-z0-9]{1,32};)")
_LINE_START_RE = re.compile(r"^([ \t]*)([#>+\-=|~])", re.MULTILINE)
_ORDERED_LIST_RE = re.compile(r"^([ \t]*[0-9]{1,9})([.)])(?=\s|$)", re.MULTILINE)
# Anything any of the escapes above could touch; most question text has none of it.
_MAYBE_SPECIAL_RE = re.compile(r"[\\`*_\[\]<$&#>+=|~-]|[0-9][.)]")
_SPACE_RUN_RE = re.compile(r"[ \t]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def escape_markdown(text: str) -> str:
    """Plain text as Markdown that renders as the same text (no math handling)."""
    if not _MAYBE_SPECIAL_RE.search(text):
        return text
    text = _INLINE_SPECIALS_RE.sub(r"\\\g<0>", text)
    text = _ENTITY_RE.sub(r"\\&", text)
    text = _LINE_START_RE.sub(r"\1\\\2", text)
    return _ORDERED_LIST_RE.sub(r"\1\\\2", text)


def tidy_lines(text: str) -> str:
    """Strip each line and drop runs of blank lines: plain-text layout made Markdown-safe.

    Leading spaces would turn a line into a code block; trailing ones into a hard break.
    """
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def plain_to_markdown(text: str) -> str:
    """Plain text (GIFT's plain/moodle formats, Aiken) as Markdown; math delimiters converted."""
    parts: list[str] = []
    for piece, display in math_segments(tidy_lines(text)):
        parts.append(escape_markdown(piece) if display is None else math_markdown(piece, display))
    return "".join(parts)


def markdown_with_math(text: str) -> str:
    """Markdown whose MathJax ``\\( \\)`` / ``\\[ \\]`` math is rewritten to ``$`` / ``$$``."""
    parts: list[str] = []
    for piece, display in math_segments(text.strip(), _MATHJAX_DELIMITERS):
        parts.append(piece if display is None else math_markdown(piece, display))
    return "".join(parts)


def collapse_spaces(text: str) -> str:
    """Runs of spaces and tabs as one space, ends trimmed."""
    return _SPACE_RUN_RE.sub(" ", text).strip()


# ---------------------------------------------------------------- numbers

# No nested quantifiers: linear on any input.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER_MAX_CHARS = 40


def parse_number(text: str) -> int | float | None:
    """A finite decimal number (``42``, ``-3.14``, ``1e-3``), or None.

    Whole numbers come back as `int`, so that ``1822`` is written back as ``1822``, not ``1822.0``.
    """
    text = text.strip()
    if len(text) > _NUMBER_MAX_CHARS or not _NUMBER_RE.fullmatch(text):
        return None
    if text.lstrip("+-").isdigit():
        return int(text)
    value = float(text)
    if not math.isfinite(value):
        return None
    # Moodle writes grades and answers as "2.0000000": keep whole numbers whole.
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def format_number(value: float) -> str:
    """A number as the importers read it back: ``3``, ``0.5``, ``1e-05``."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return repr(float(value))
