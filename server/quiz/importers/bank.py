"""Importing a bank: pick the parser, build the pool, check it with the pool loader.

`import_bank(path)` reads a file, `import_data` bytes already in memory. The parser is
chosen by `format` or the file's extension (``.txt`` is tried as Aiken, then GIFT). The
questions become a pool dict that must pass `server.quiz.pool.parse_pool`, the loader
`quizctl validate` and `serve` use: every problem it finds is reported at the bank line
the question came from. Nothing is written: `ImportResult.assets` lists the image files
the pool needs beside it (images a Moodle XML bank carried; images a GIFT comment refers
to beside the bank).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from server.quiz import content
from server.quiz.pool import (
    DEFAULT_SCORE_FN,
    DEFAULT_TIME_LIMIT_S,
    QUESTIONS_MAX,
    ROOT_KEYS,
    TITLE_MAX_CHARS,
    Pool,
    PoolError,
    parse_pool,
)
from server.quiz.types.base import QUESTION_TEXT_MAX_CHARS
from server.quiz.types.choice import OPTION_TEXT_MAX_CHARS
from server.quiz.types.text import FREE_TEXT_MAX_CHARS

from .aiken import parse_aiken
from .gift import parse_gift
from .moodle_xml import parse_moodle_xml
from .problems import BankError, ImportProblem, ParsedBank, Question
from .spreadsheet import parse_csv

__all__ = ["EXTENSIONS", "FORMATS", "ImportResult", "bank_format", "import_bank", "import_data", "parse_bank"]

FORMATS = ("gift", "aiken", "moodle-xml", "csv")
EXTENSIONS = {".gift": "gift", ".xml": "moodle-xml", ".csv": "csv", ".txt": "txt"}  # "txt": Aiken, then GIFT
_PARSERS = {"gift": parse_gift, "aiken": parse_aiken, "moodle-xml": parse_moodle_xml, "csv": parse_csv}
# A real bank of 500 questions with images is a few MiB; 64 MiB leaves room and
# keeps a mistaken `import` of a video or a disk image from eating memory.
FILE_MAX_BYTES = 64 * 1024 * 1024
_FORMAT_FIX = "name the file .gift, .txt, .xml or .csv, or pass --format gift|aiken|moodle-xml|csv"


@dataclass(slots=True)
class ImportResult:
    """What an import produced: the pool dict, the pool as the loader read it, warnings, files.

    `assets` are (path relative to the pool's folder, bytes): the images to write beside
    the pool. `checked.source` is the bank's path.
    """

    pool: dict[str, Any]
    checked: Pool
    warnings: list[ImportProblem] = field(default_factory=list)
    assets: list[tuple[str, bytes]] = field(default_factory=list)


def bank_format(path: str | os.PathLike[str]) -> str | None:
    """The bank format its extension gives a file ("txt" for Aiken-or-GIFT); None for others (a pool)."""
    return EXTENSIONS.get(Path(path).suffix.lower())


def parse_bank(data: str | bytes, source: str, format: str, *, strict: bool = False) -> ParsedBank:
    """Parse bank contents with the parser for `format` (no ``.txt`` fallback, no pool check)."""
    return _PARSERS[format](data, source, strict=strict)


def import_bank(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    title: str | None = None,
    time_limit: int | None = None,
    score_fn: str | None = None,
    strict: bool = False,
) -> ImportResult:
    """Read a question bank and return it as a checked pool; `BankError` lists every problem.

    The format comes from the extension (``.gift``, ``.xml`` Moodle XML, ``.csv``; ``.txt``
    is tried as Aiken, then as GIFT) unless `format` (one of `FORMATS`) says otherwise.
    `title`, `time_limit` and `score_fn` set the pool's ``title``, ``time_limit_default``
    and ``score_fn`` (over what the bank says); the title defaults to the file's stem.
    With `strict`, questions quizctl cannot run are errors instead of skipped.
    """
    source = os.fspath(path)
    if format is not None and format not in FORMATS:
        raise BankError([ImportProblem(source, 0, f"unknown format {format!r}", f"use one of {', '.join(FORMATS)}")])
    chosen = format or bank_format(source)
    if chosen is None:
        suffix = Path(source).suffix.lower() or "(none)"
        raise BankError(
            [ImportProblem(source, 0, f"cannot tell the bank's format from the extension {suffix!r}", _FORMAT_FIX)]
        )
    data = _read_bytes(Path(source), source)
    return import_data(
        data, source, format=chosen, title=title, time_limit=time_limit, score_fn=score_fn, strict=strict
    )


def import_data(
    data: str | bytes,
    source: str,
    *,
    format: str,
    title: str | None = None,
    time_limit: int | None = None,
    score_fn: str | None = None,
    strict: bool = False,
) -> ImportResult:
    """`import_bank` for contents already read; `source` is the bank's path (images beside it)."""
    parsed = _parse_with_fallback(format, data, source, strict)
    if len(parsed.questions) > QUESTIONS_MAX:
        # No pool can hold them: say so at once rather than render thousands of questions.
        message = f"{len(parsed.questions)} questions; a pool holds at most {QUESTIONS_MAX}"
        fix = "split the bank (in Moodle, export one category at a time); each part's questions are then checked"
        raise BankError([ImportProblem(source, 0, message, fix)], parsed.warnings)
    pool, from_bank = _pool_dict(parsed, source, title, time_limit, score_fn)
    checker = _Checker(source, parsed, from_bank)
    assets = checker.bring_images(pool["questions"])
    checked = checker.check(pool, assets)
    return ImportResult(pool, checked, parsed.warnings, assets)


def _parse_with_fallback(fmt: str, data: str | bytes, source: str, strict: bool) -> ParsedBank:
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


def _pool_dict(
    parsed: ParsedBank, source: str, title: str | None, time_limit: int | None, score_fn: str | None
) -> tuple[dict[str, Any], set[str]]:
    """The pool dict, in the order a pool file has; and the pool keys whose value the bank gave."""
    given = {
        "title": title.strip() if title is not None else None,
        "time_limit_default": time_limit,
        "score_fn": score_fn,
    }
    fallback = {
        "title": _title_from_stem(source),
        "time_limit_default": DEFAULT_TIME_LIMIT_S,
        "score_fn": DEFAULT_SCORE_FN,
    }
    values = {**fallback, **parsed.pool, **{key: value for key, value in given.items() if value is not None}}
    pool = {key: values[key] for key in ROOT_KEYS if key in values}
    from_bank = {key for key in parsed.pool if given.get(key) is None}
    return {**pool, "questions": parsed.questions}, from_bank


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


# ---------------------------------------------------------------- the pool loader's check

# "questions[3].options.B.text (line 1, column 5)": which question, which field, where in it.
_QUESTION_LOCATION_RE = re.compile(r"questions\[(\d+)\]\.?([^ ]*)(?: \((.*)\))?")
_UNKNOWN_KEY_RE = re.compile(r"unknown key '([^']*)'")
_FIELD_NAMES = {"text": "question text", "accept": "accepted answer", "image_alt": "image alt text"}


class _Checker:
    """Checks one import's pool with the pool loader; reports its problems at the bank's lines."""

    def __init__(self, source: str, parsed: ParsedBank, from_bank: set[str]) -> None:
        self.source = source
        self.parsed = parsed
        self.from_bank = from_bank
        self.errors: list[ImportProblem] = []
        self.reported: set[str] = set()  # loader locations already reported here

    def bring_images(self, questions: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
        """The bank's assets, and the images its questions refer to beside the bank (read and checked)."""
        assets = dict(self.parsed.assets)
        for index, question in enumerate(questions):
            references = [("image", question.get("image"))]
            options = question.get("options")
            if isinstance(options, dict):
                references += [(f"options.{key}", o.get("image")) for key, o in options.items() if isinstance(o, dict)]
            for location, path in references:
                if isinstance(path, str) and path not in assets:
                    self._bring(index, location, path, assets)
        return list(assets.items())

    def _bring(self, index: int, location: str, path: str, assets: dict[str, bytes]) -> None:
        try:
            image = content.load_image(Path(self.source).resolve().parent, path, "image")
        except content.ContentError as problem:
            line = self.parsed.places[index].line_of(location.split(".")[0])
            self.errors.append(ImportProblem(self.source, line, problem.message, problem.fix))
            self.reported.add(
                f"questions[{index}].{location}.image" if "." in location else f"questions[{index}].image"
            )
            return
        assets[PurePosixPath(path).as_posix()] = image.data

    def screen_lengths(self, questions: list[Question]) -> list[Question]:
        """The questions for the loader, texts over the pool's limits reported here and left out.

        The loader refuses them too, but only after checking and rendering them as Markdown,
        which a hostile bank can make take seconds (a 300,000-character question); so a text
        over its limit is reported with the loader's words and the loader gets a stand-in.
        """
        screened = []
        for index, question in enumerate(questions):
            copy = dict(question)
            self._screen(index, copy, "text", QUESTION_TEXT_MAX_CHARS)
            options = copy.get("options")
            if isinstance(options, dict):
                copy["options"] = options = dict(options)
                for key, option in options.items():
                    if isinstance(option, dict):
                        options[key] = option = dict(option)
                        self._screen(index, option, "text", OPTION_TEXT_MAX_CHARS, f"options.{key}.text")
                    else:
                        self._screen(index, options, key, OPTION_TEXT_MAX_CHARS, f"options.{key}")
            accept = copy.get("accept")
            if isinstance(accept, list):
                copy["accept"] = accept = list(accept)
                for position in range(len(accept)):
                    self._screen(index, accept, position, FREE_TEXT_MAX_CHARS, f"accept[{position}]")
            screened.append(copy)
        return screened

    def _screen(self, index: int, holder: Any, key: Any, limit: int, path: str = "") -> None:
        value = holder[key]
        if isinstance(value, str) and len(value) > limit:
            path = path or str(key)
            line = self.parsed.places[index].line_of(path.split(".")[0].split("[")[0])
            message = f"{_field_name(path)} is {len(value)} characters long, the limit is {limit}"
            self.errors.append(ImportProblem(self.source, line, message, "shorten it"))
            holder[key] = "x"

    def check(self, pool: dict[str, Any], assets: list[tuple[str, bytes]]) -> Pool:
        """The pool as the loader reads it; `BankError` with every problem at its bank line."""
        pool = {**pool, "questions": self.screen_lengths(pool["questions"])}
        checked: Pool | None = None
        try:
            # The images go where the loader finds them, as they will beside the written pool.
            with tempfile.TemporaryDirectory(prefix="quizctl-import-") as folder:
                for name, data in assets:
                    target = Path(folder, name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                checked = parse_pool(pool, self.source, base_dir=Path(folder) if assets else None)
        except PoolError as error:
            located = [
                self._locate(message) for message in error.problems if message.split(": ")[0] not in self.reported
            ]
            self.errors += located
        if self.errors or checked is None:
            raise BankError(sorted(self.errors, key=lambda p: p.line), self.parsed.warnings)
        return checked

    def _locate(self, message: str) -> ImportProblem:
        """A loader problem ("LOCATION: what (fix: how)") at the line of the bank it came from."""
        location, _, rest = message.partition(": ")
        what, _, fix = rest.rpartition(" (fix: ")
        what, fix = (what, fix[:-1]) if what else (rest, "see docs/importing.md")
        match = _QUESTION_LOCATION_RE.fullmatch(location)
        if match is None or int(match[1]) >= len(self.parsed.places):
            line = self.parsed.pool_line if location in self.from_bank else 0
            return ImportProblem(self.source, line, f"{location}: {what}", fix)
        path, inside = match[2], match[3]
        unknown = _UNKNOWN_KEY_RE.match(what)  # a misspelt key: at the line that gave it (a GIFT comment's)
        key = re.split(r"[.\[]", path)[0] or (unknown[1] if unknown and not path else "")
        line = self.parsed.places[int(match[1])].line_of(key)
        name = ", ".join(part for part in (_field_name(path), inside) if part)
        if not name:
            return ImportProblem(self.source, line, what, fix)
        # "question text is empty" reads better than "question text: is empty".
        joined = f"{name} {what}" if what.startswith(("is ", "has ")) and not inside else f"{name}: {what}"
        return ImportProblem(self.source, line, joined, fix)


def _field_name(path: str) -> str:
    """A pool key path as a person names it: "options.B.text" -> "option B", "accept[1]" -> "accepted answer 2"."""
    if not path:
        return ""
    words = []
    for part in path.split("."):
        key, _, index = part.partition("[")
        if key == "options":
            words.append("option")
            continue
        word = _FIELD_NAMES.get(key, key.replace("_", " ")) if key != "text" or not words else ""
        words.append(f"{word} {int(index.rstrip(']')) + 1}" if index.rstrip("]").isdigit() else word)
    return " ".join(word for word in words if word)
