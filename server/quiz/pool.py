"""Quiz pools: the one loader and validator behind `quizctl validate` and `quizctl serve`.

A pool is a JSON file (docs/protocol.md, "Pools"). `load_pool` / `parse_pool` either
return a fully checked `Pool` or raise `PoolError` listing *every* problem, each as
"LOCATION: what is wrong (fix: how to fix it)", so an instructor can repair a file in
one pass instead of one error per run. Each question is checked by its type's class
(server/quiz/types/); this module checks the pool around them and renders their
Markdown once.

`null` for an optional field (`session_id`, `explanation`, `time_limit`, …) means the
same as leaving the field out.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from server.quiz import checks, content
from server.quiz.checks import Problems
from server.quiz.scoring import MAX_POINTS, SCORE_FUNCTIONS, weight_units
from server.quiz.types import DEFAULT_TYPE, QUESTION_TYPES
from server.quiz.types.base import (
    COMMON_KEYS,
    EXPLANATION_MAX_CHARS,
    QUESTION_TEXT_MAX_CHARS,
    TAG_MAX_CHARS,
    TAGS_MAX,
    Question,
    QuestionSource,
    Rendered,
    check_weight,
)

TITLE_MAX_CHARS = 200
SESSION_ID_MAX_CHARS = 64
QUESTIONS_MAX = 500
LANGUAGE_MAX_CHARS = 35
DEFAULT_TIME_LIMIT_S = 30
DEFAULT_SCORE_FN = "speed_linear"

ROOT_KEYS = ("title", "session_id", "time_limit_default", "score_fn", "language", "live_results", "questions")
REQUIRED_ROOT_KEYS = ("title", "questions")

_SESSION_ID_RE = re.compile(r"[A-Za-z0-9._-]+")
_SESSION_ID_BAD_CHARS_RE = re.compile(r"[^A-Za-z0-9._-]+")
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class Pool:
    title: str
    session_id: str | None
    time_limit_default: int
    score_fn: str
    questions: tuple[Question, ...]
    source: str
    language: str | None = None
    live_results: bool = False

    def to_json(self) -> dict[str, Any]:
        """The canonical pool file form; `parse_pool(pool.to_json(), pool.source) == pool`."""
        data: dict[str, Any] = {"title": self.title}
        if self.session_id is not None:
            data["session_id"] = self.session_id
        data["time_limit_default"] = self.time_limit_default
        data["score_fn"] = self.score_fn
        if self.language is not None:
            data["language"] = self.language
        if self.live_results:
            data["live_results"] = True
        data["questions"] = [question.to_json() for question in self.questions]
        return data

    @property
    def possible_units(self) -> int:
        """The most a student can earn: full credit on every scored question, weighted."""
        return sum(MAX_POINTS * weight_units(q.weight) for q in self.questions if q.scored)

    def media(self) -> dict[str, Any]:
        """Every image of the pool (questions' and options'), by the file name of its /media/ URL."""
        images = []
        for question in self.questions:
            images.append(question.image)
            images.extend(option.image for option in getattr(question, "options", {}).values())
        return {image.url.rsplit("/", 1)[1]: image for image in images if image is not None}

    @property
    def base_dir(self) -> Path:
        """The folder the pool's images are found in (beside the pool file)."""
        return Path(self.source).resolve().parent


class PoolError(Exception):
    """A pool file that cannot be used; `problems` lists everything wrong with it."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n  " + "\n  ".join(self.problems))


def load_pool(path: str | os.PathLike[str]) -> Pool:
    """Read and check a UTF-8 pool file; `PoolError` for a missing, unreadable or invalid file."""
    source = os.fspath(path)
    text = _read_utf8(Path(path), source)
    return parse_pool(_decode_json(text, source), source)


def parse_pool(data: object, source: str = "<pool>", *, base_dir: Path | None = None) -> Pool:
    """Check decoded JSON; `PoolError` lists every problem at once.

    Images are looked up in `base_dir` (default: the folder of `source`, when it is a path).
    """
    problems = Problems()
    pool = _PoolReader(source, problems, base_dir).read(data)
    if problems or pool is None:
        raise PoolError(source, problems.messages)
    return pool


def summary_line(pool: Pool) -> str:
    session = f"session {pool.session_id}" if pool.session_id else "session id from config"
    count = len(pool.questions)
    questions = f"{count} question" if count == 1 else f"{count} questions"
    kinds = sorted({q.kind for q in pool.questions})
    types = "" if kinds == ["single"] else f" ({', '.join(kinds)})"
    return (
        f"{pool.source}: OK - {pool.title!r} ({session}), {questions}{types}, "
        f"{pool.score_fn}, {pool.time_limit_default} s default"
    )


# ---------------------------------------------------------------- file and JSON


def _read_utf8(path: Path, source: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PoolError(source, ["(file): no such file (fix: check the path)"]) from None
    except IsADirectoryError:
        raise PoolError(source, ["(file): is a directory (fix: give the path of a .json pool file)"]) from None
    except PermissionError:
        raise PoolError(source, ["(file): permission denied (fix: make the file readable)"]) from None
    except OSError as exc:
        raise PoolError(source, [f"(file): cannot be read: {exc.strerror} (fix: check the path)"]) from None
    try:
        # utf-8-sig: editors such as Notepad start UTF-8 files with a BOM.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PoolError(
            source,
            [f"(file): not valid UTF-8 (line {line}, byte {exc.start}) (fix: save the file with UTF-8 encoding)"],
        ) from None


class _JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers keys written twice; `json` silently keeps only the last."""

    duplicate_keys: list[str]


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    seen: set[str] = set()
    obj.duplicate_keys = []
    for key, _ in pairs:
        if key in seen and key not in obj.duplicate_keys:
            obj.duplicate_keys.append(key)
        seen.add(key)
    return obj


_JSON_SYNTAX_FIXES = (
    ("Expecting property name enclosed in double quotes", "put keys in double quotes and remove any comma before }"),
    (
        "Expecting value",
        "a value is missing or malformed here: drop trailing commas, use double quotes, lower-case true/false/null",
    ),
    ("Expecting ',' delimiter", "add a comma between items, or close the open bracket or brace"),
    ("Expecting ':' delimiter", "put a colon between the key and its value"),
    ("Unterminated string", "close the string with a double quote; write line breaks inside strings as \\n"),
    ("Invalid control character", "write line breaks and tabs inside strings as \\n and \\t"),
    ("Invalid \\escape", "write a literal backslash as \\\\"),
    ("Extra data", "remove what follows the closing }: a pool is a single JSON object"),
)


def _decode_json(text: str, source: str) -> object:
    if not text.strip():
        raise PoolError(source, ["(file): is empty (fix: write the pool as a JSON object, see pools/demo.json)"])
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        where = f"(json) line {exc.lineno}, column {exc.colno}"
        raise PoolError(source, [f"{where}: {exc.msg} (fix: {_json_syntax_fix(exc.msg)})"]) from None
    except RecursionError:
        problem = "(json): nested too deeply (fix: a pool needs only three levels of nesting)"
        raise PoolError(source, [problem]) from None


def _json_syntax_fix(message: str) -> str:
    for prefix, fix in _JSON_SYNTAX_FIXES:
        if message.startswith(prefix):
            return fix
    return "correct the JSON syntax at that spot"


# ---------------------------------------------------------------- the pool


class _PoolReader:
    """Checks one pool: its own fields, then each question through its type's class."""

    def __init__(self, source: str, problems: Problems, base_dir: Path | None) -> None:
        self.source = source
        self.problems = problems
        self.base_dir = base_dir if base_dir is not None else _folder_of(source)

    def read(self, data: object) -> Pool | None:
        problems = self.problems
        if not isinstance(data, dict):
            what = f"expected a JSON object {{...}}, got {checks.describe(data)}"
            problems.add("(root)", what, 'write {"title": ..., "questions": [...]}')
            return None
        checks.check_duplicate_keys(data, "", problems)
        typo_targets = checks.check_unknown_keys(data, ROOT_KEYS, "", problems)
        title = ""
        if checks.require(data, "title", "", typo_targets, 'add "title": "Week 3: Sorting"', problems):
            title = checks.check_text(data["title"], "title", TITLE_MAX_CHARS, problems)
        session_id = _check_session_id(data.get("session_id"), problems)
        time_limit_default = DEFAULT_TIME_LIMIT_S
        if data.get("time_limit_default") is not None:
            time_limit_default = checks.check_seconds(data["time_limit_default"], "time_limit_default", problems)
        score_fn = DEFAULT_SCORE_FN
        if data.get("score_fn") is not None:
            score_fn = _check_score_fn(data["score_fn"], problems)
        language = _check_language(data.get("language"), problems)
        live_results = _check_bool(data.get("live_results"), "live_results", problems)
        questions: tuple[Question, ...] = ()
        questions_fix = 'add "questions": [{"text": ..., "options": ..., "correct": ...}]'
        if checks.require(data, "questions", "", typo_targets, questions_fix, problems):
            questions = self._questions(data["questions"], time_limit_default, live_results)
        return Pool(title, session_id, time_limit_default, score_fn, questions, self.source, language, live_results)

    def _questions(self, value: object, time_limit_default: int, live_results: bool) -> tuple[Question, ...]:
        problems = self.problems
        if not isinstance(value, list):
            what = f"expected an array [...], got {checks.describe(value)}"
            problems.add("questions", what, "put the questions in [ ]")
            return ()
        if not value:
            problems.add("questions", "is empty", "add at least one question")
        if len(value) > QUESTIONS_MAX:
            what = f"has {len(value)} questions, the limit is {QUESTIONS_MAX}"
            problems.add("questions", what, "split the pool into several files")
        checked = [
            self._question(item, f"questions[{index}]", time_limit_default, live_results)
            for index, item in enumerate(value)
        ]
        return tuple(question for question in checked if question is not None)

    def _question(self, value: object, location: str, time_limit_default: int, live_results: bool) -> Question | None:
        problems = self.problems
        if not isinstance(value, dict):
            what = f"expected a question object {{...}}, got {checks.describe(value)}"
            problems.add(location, what, 'write {"text": ..., "options": ..., "correct": ...}')
            return None
        kind = value.get("type", DEFAULT_TYPE)
        cls = QUESTION_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            guess = difflib.get_close_matches(str(kind).lower(), QUESTION_TYPES, n=1)
            fix = f"did you mean {guess[0]!r}?" if guess else f"use one of {', '.join(QUESTION_TYPES)}"
            problems.add(checks.field(location, "type"), f"{checks.describe(kind)} is not a question type", fix)
            return None
        checks.check_duplicate_keys(value, location, problems)
        allowed = ("text", *cls.own_keys, *(key for key in COMMON_KEYS if key != "text"))
        if kind == DEFAULT_TYPE and "type" not in value:
            allowed = tuple(key for key in allowed if key != "type")
        source = QuestionSource(value, location, problems, self.render, self.load_image)
        # Another type's key (`correct` on a poll, `options` on true/false) gets its own message.
        for key in [key for key in value if key in _TYPE_KEYS and key not in allowed]:
            users = [c.kind for c in QUESTION_TYPES.values() if key in c.own_keys]
            fix = f"remove {key!r}" + (f', or use "type": "{users[0]}"' if len(users) == 1 else "")
            problems.add(source.at(key), f"is not used by {cls.label}", fix)
        others = {key: value[key] for key in value if key not in _TYPE_KEYS or key in allowed}
        source.typo_targets = checks.check_unknown_keys(others, allowed, location, problems)
        # Problems come in the file's usual order: the text, the type's own fields, then the rest.
        text = ""
        if source.has("text", 'add "text": "the question"'):
            text = checks.check_text(value["text"], source.at("text"), QUESTION_TEXT_MAX_CHARS, problems)
        rendered = self.render(text, source.at("text"), False)
        return cls.from_source(  # type: ignore[attr-defined, no-any-return]
            source, lambda: {"text": rendered, **self._common(source, time_limit_default, live_results)}
        )

    def _common(self, source: QuestionSource, time_limit_default: int, live_results: bool) -> dict[str, Any]:
        """The keyword arguments every question type takes (see base.Question)."""
        data, problems = source.data, self.problems
        explanation = ""
        if data.get("explanation") is not None:
            explanation = checks.check_text(
                data["explanation"], source.at("explanation"), EXPLANATION_MAX_CHARS, problems, may_be_empty=True
            )
        time_limit = time_limit_default
        if data.get("time_limit") is not None:
            time_limit = checks.check_seconds(data["time_limit"], source.at("time_limit"), problems)
        weight = Fraction(1)
        if data.get("points") is not None:
            weight = check_weight(data["points"], source.at("points"), problems)
        image = None
        if data.get("image") is not None:
            image = self.load_image(data["image"], data.get("image_alt"), source.location)
        elif data.get("image_alt") is not None:
            problems.add(
                source.at("image_alt"), "is given without an image", 'add "image": "figures/name.png" or remove it'
            )
        question_live = _check_bool(data.get("live_results"), source.at("live_results"), problems)
        return {
            "explanation": self.render(explanation, source.at("explanation"), False),
            "time_limit": time_limit,
            "weight": weight,
            "tags": _check_tags(data.get("tags"), source.at("tags"), problems),
            "live_results": question_live if data.get("live_results") is not None else live_results,
            "image": image,
        }

    # ---------------------------------------------------------------- content

    def render(self, source_text: str, location: str, inline: bool) -> Rendered:
        """Markdown and math rendered to safe HTML once; every problem (bad LaTeX, say) reported where it is."""
        if not source_text:
            return Rendered("", "")
        problems = content.check(source_text, inline=inline)
        for problem in problems:
            where = f"line {problem.line}" if problem.line is not None else ""
            if problem.column is not None:
                where += f", column {problem.column}"
            self.problems.add(f"{location} ({where})" if where else location, problem.message, problem.fix)
        if problems:
            return Rendered(source_text, "")
        return Rendered(source_text, content.render(source_text, inline=inline))

    def load_image(self, path: object, alt: object, location: str) -> Any:
        """The image beside the pool (checked: alt text, inside the pool's folder, size, type), or None."""
        image_at, alt_at = checks.field(location, "image"), checks.field(location, "image_alt")
        if not isinstance(path, str):
            self.problems.add(
                image_at, f"expected a file path, got {checks.describe(path)}", 'write e.g. "figures/heap.png"'
            )
            return None
        if not isinstance(alt, str) or not alt.strip():
            fix = 'add "image_alt": a short description of the image for screen readers'
            self.problems.add(
                alt_at, "is missing" if alt is None else f"is empty or not text ({checks.describe(alt)})", fix
            )
            return None
        if self.base_dir is None:
            self.problems.add(image_at, "images need a pool file to be found beside", "load the pool from a file")
            return None
        try:
            return content.load_image(self.base_dir, path, alt)
        except content.ContentError as problem:
            self.problems.add(image_at, problem.message, problem.fix)
            return None


_TYPE_KEYS = {key for cls in QUESTION_TYPES.values() for key in cls.own_keys}


def _folder_of(source: str) -> Path | None:
    return None if source.startswith("<") else Path(source).resolve().parent


def _check_bool(value: object, location: str, problems: Problems) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.add(
            location, f"expected true or false, got {checks.describe(value)}", "write true or false without quotes"
        )
        return False
    return value


def _check_tags(value: object, location: str, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > TAGS_MAX:
        problems.add(
            location,
            f"expected a list of up to {TAGS_MAX} tags, got {checks.describe(value)}",
            'write e.g. ["week 3", "sorting"]',
        )
        return ()
    return tuple(checks.check_text(tag, f"{location}[{i}]", TAG_MAX_CHARS, problems) for i, tag in enumerate(value))


def _check_language(value: object, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > LANGUAGE_MAX_CHARS or not _LANGUAGE_RE.fullmatch(value):
        problems.add(
            "language",
            f"{checks.describe(value)} is not a language tag",
            'write e.g. "en", "de", "fr", "es", "zh", "ar"',
        )
        return None
    return value


def _check_session_id(value: object, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        what = f"expected a string, got {checks.describe(value)}"
        problems.add("session_id", what, 'write it in double quotes, e.g. "cs101-w3"')
        return None
    if not value:
        problems.add("session_id", "is empty", "remove it to use the configured default, or name the session")
    elif len(value) > SESSION_ID_MAX_CHARS:
        what = f"is {len(value)} characters long, the limit is {SESSION_ID_MAX_CHARS}"
        problems.add("session_id", what, "shorten it")
    elif not _SESSION_ID_RE.fullmatch(value):
        suggestion = _SESSION_ID_BAD_CHARS_RE.sub("-", value).strip("-")[:SESSION_ID_MAX_CHARS]
        fix = f"use {suggestion!r}" if suggestion else "use letters, digits, '.', '_' and '-'"
        problems.add("session_id", f"{checks.quote(value)} may only contain A-Z a-z 0-9 . _ -", fix)
    return value


def _check_score_fn(value: object, problems: Problems) -> str:
    choices = " or ".join(repr(name) for name in SCORE_FUNCTIONS)
    if not isinstance(value, str):
        problems.add("score_fn", f"expected a string, got {checks.describe(value)}", f"use {choices}")
        return ""
    if value not in SCORE_FUNCTIONS:
        guess = difflib.get_close_matches(value.lower(), SCORE_FUNCTIONS, n=1)
        fix = f"did you mean {guess[0]!r}?" if guess else f"use {choices}"
        problems.add("score_fn", f"{checks.quote(value)} is not a score function", fix)
    return value
