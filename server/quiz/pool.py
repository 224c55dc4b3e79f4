"""Quiz pools: the one loader and validator behind `quizctl validate` and `quizctl serve`.

A pool is a JSON file (PROTOCOL.md, "Pools"). `load_pool` / `parse_pool`
either return a fully checked `Pool` or raise `PoolError` listing *every*
problem, each as "LOCATION: what is wrong (fix: how to fix it)", so an
instructor can repair a file in one pass instead of one error per run.

`null` for an optional field (`session_id`, `explanation`, `time_limit`)
means the same as leaving the field out.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.quiz.scoring import SCORE_FUNCTIONS

TITLE_MAX_CHARS = 200
SESSION_ID_MAX_CHARS = 64
QUESTION_TEXT_MAX_CHARS = 1000
OPTION_TEXT_MAX_CHARS = 300
EXPLANATION_MAX_CHARS = 2000
QUESTIONS_MAX = 500
TIME_LIMIT_MIN_S = 5
TIME_LIMIT_MAX_S = 3600
OPTION_KEYS = "ABCD"
OPTIONS_MIN = 2

ROOT_KEYS = ("title", "session_id", "time_limit_default", "score_fn", "questions")
QUESTION_KEYS = ("text", "options", "correct", "explanation", "time_limit")

_SESSION_ID_RE = re.compile(r"[A-Za-z0-9._-]+")
_SESSION_ID_BAD_CHARS_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    options: dict[str, str]
    correct: str
    explanation: str
    time_limit: int

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "options": dict(self.options), "correct": self.correct}
        if self.explanation:
            data["explanation"] = self.explanation
        data["time_limit"] = self.time_limit
        return data


@dataclass(frozen=True, slots=True)
class Pool:
    title: str
    session_id: str | None
    time_limit_default: int
    score_fn: str
    questions: tuple[Question, ...]
    source: str

    def to_json(self) -> dict[str, Any]:
        """The canonical pool file form; `parse_pool(pool.to_json(), pool.source) == pool`."""
        data: dict[str, Any] = {"title": self.title}
        if self.session_id is not None:
            data["session_id"] = self.session_id
        data["time_limit_default"] = self.time_limit_default
        data["score_fn"] = self.score_fn
        data["questions"] = [question.to_json() for question in self.questions]
        return data


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


def parse_pool(data: object, source: str = "<pool>") -> Pool:
    """Check decoded JSON; `PoolError` lists every problem at once."""
    problems = _Problems()
    pool = _check_pool(data, source, problems)
    if problems or pool is None:
        raise PoolError(source, problems.messages)
    return pool


def summary_line(pool: Pool) -> str:
    session = f"session {pool.session_id}" if pool.session_id else "session id from config"
    count = len(pool.questions)
    questions = f"{count} question" if count == 1 else f"{count} questions"
    return (
        f"{pool.source}: OK - {pool.title!r} ({session}), {questions}, "
        f"{pool.score_fn}, {pool.time_limit_default} s default"
    )


class _Problems:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.messages)

    def add(self, location: str, what: str, fix: str) -> None:
        self.messages.append(f"{location}: {what} (fix: {fix})")


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


# ---------------------------------------------------------------- generic checks


def _describe(value: object) -> str:
    """How a JSON value reads in a message: 'null', 'true', '30.0', "the string '30'", 'an array'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return f"the string {_quote(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quote(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _field(container: str, key: str) -> str:
    return f"{container}.{key}" if container else key


def _check_duplicate_keys(obj: dict[str, Any], location: str, problems: _Problems) -> None:
    for key in getattr(obj, "duplicate_keys", ()):
        problems.add(location or "(root)", f"key {key!r} appears more than once", "keep one: JSON uses only the last")


def _check_unknown_keys(obj: dict[str, Any], allowed: tuple[str, ...], location: str, problems: _Problems) -> set[str]:
    """Report unknown keys; return the allowed keys that some unknown key looks like a typo of."""
    missing = [name for name in allowed if name not in obj]
    typo_targets: set[str] = set()
    for key in map(str, obj):
        if key in allowed:
            continue
        guess = difflib.get_close_matches(key.lower(), missing, n=1)
        if guess:
            typo_targets.add(guess[0])
            fix = f"did you mean {guess[0]!r}?"
        else:
            fix = f"remove it; allowed keys are {', '.join(allowed)}"
        problems.add(location or "(root)", f"unknown key {key!r}", fix)
    return typo_targets


def _require(
    obj: dict[str, Any], key: str, location: str, typo_targets: set[str], fix: str, problems: _Problems
) -> bool:
    """True when `key` is present; otherwise reports it missing, unless a typo'd key was already reported."""
    if key in obj:
        return True
    if key not in typo_targets:
        problems.add(_field(location, key), "missing", fix)
    return False


def _check_text(
    value: object, location: str, max_chars: int, problems: _Problems, *, may_be_empty: bool = False
) -> str:
    if not isinstance(value, str):
        problems.add(location, f"expected a string, got {_describe(value)}", "write the text in double quotes")
        return ""
    if not may_be_empty and not value.strip():
        problems.add(location, "is empty", "write some text")
    if len(value) > max_chars:
        problems.add(location, f"is {len(value)} characters long, the limit is {max_chars}", "shorten it")
    return value


def _check_seconds(value: object, location: str, problems: _Problems) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        _check_seconds_range(value, location, problems)
        return value
    what = f"expected whole seconds as an integer, got {_describe(value)}"
    if isinstance(value, float) and math.isfinite(value):
        suggestion = min(max(round(value), TIME_LIMIT_MIN_S), TIME_LIMIT_MAX_S)
        problems.add(location, what, f"write {suggestion}")
    elif isinstance(value, str) and value.strip().isdigit():
        problems.add(location, what, f"write {value.strip()} without quotes")
    else:
        problems.add(location, what, f"write a number of seconds from {TIME_LIMIT_MIN_S} to {TIME_LIMIT_MAX_S}")
    return 0


def _check_seconds_range(seconds: int, location: str, problems: _Problems) -> None:
    if TIME_LIMIT_MIN_S <= seconds <= TIME_LIMIT_MAX_S:
        return
    what = f"{seconds} is out of range {TIME_LIMIT_MIN_S}..{TIME_LIMIT_MAX_S} seconds"
    looks_like_ms = seconds % 1000 == 0 and TIME_LIMIT_MIN_S <= seconds // 1000 <= TIME_LIMIT_MAX_S
    if looks_like_ms:
        problems.add(location, what, f"time limits are in seconds, not milliseconds: write {seconds // 1000}")
    else:
        problems.add(location, what, f"use a value from {TIME_LIMIT_MIN_S} to {TIME_LIMIT_MAX_S}")


# ---------------------------------------------------------------- the pool


def _check_pool(data: object, source: str, problems: _Problems) -> Pool | None:
    if not isinstance(data, dict):
        problems.add(
            "(root)",
            f"expected a JSON object {{...}}, got {_describe(data)}",
            'write {"title": ..., "time_limit_default": ..., "score_fn": ..., "questions": [...]}',
        )
        return None
    _check_duplicate_keys(data, "", problems)
    typo_targets = _check_unknown_keys(data, ROOT_KEYS, "", problems)

    title = ""
    if _require(data, "title", "", typo_targets, 'add "title": "Week 3: Sorting"', problems):
        title = _check_text(data["title"], "title", TITLE_MAX_CHARS, problems)
    session_id = _check_session_id(data.get("session_id"), problems)
    time_limit_default = 0
    if _require(data, "time_limit_default", "", typo_targets, 'add "time_limit_default": 30', problems):
        time_limit_default = _check_seconds(data["time_limit_default"], "time_limit_default", problems)
    score_fn = ""
    if _require(data, "score_fn", "", typo_targets, 'add "score_fn": "speed_linear" or "binary"', problems):
        score_fn = _check_score_fn(data["score_fn"], problems)
    questions: tuple[Question, ...] = ()
    questions_fix = 'add "questions": [{"text": ..., "options": ..., "correct": ...}]'
    if _require(data, "questions", "", typo_targets, questions_fix, problems):
        questions = _check_questions(data["questions"], time_limit_default, problems)

    return Pool(
        title=title,
        session_id=session_id,
        time_limit_default=time_limit_default,
        score_fn=score_fn,
        questions=questions,
        source=source,
    )


def _check_session_id(value: object, problems: _Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        what = f"expected a string, got {_describe(value)}"
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
        problems.add("session_id", f"{_quote(value)} may only contain A-Z a-z 0-9 . _ -", fix)
    return value


def _check_score_fn(value: object, problems: _Problems) -> str:
    choices = " or ".join(repr(name) for name in SCORE_FUNCTIONS)
    if not isinstance(value, str):
        problems.add("score_fn", f"expected a string, got {_describe(value)}", f"use {choices}")
        return ""
    if value not in SCORE_FUNCTIONS:
        guess = difflib.get_close_matches(value.lower(), SCORE_FUNCTIONS, n=1)
        fix = f"did you mean {guess[0]!r}?" if guess else f"use {choices}"
        problems.add("score_fn", f"{_quote(value)} is not a score function", fix)
    return value


def _check_questions(value: object, time_limit_default: int, problems: _Problems) -> tuple[Question, ...]:
    if not isinstance(value, list):
        problems.add("questions", f"expected an array [...], got {_describe(value)}", "put the questions in [ ]")
        return ()
    if not value:
        problems.add("questions", "is empty", "add at least one question")
    if len(value) > QUESTIONS_MAX:
        what = f"has {len(value)} questions, the limit is {QUESTIONS_MAX}"
        problems.add("questions", what, "split the pool into several files")
    checked = [
        _check_question(item, f"questions[{index}]", time_limit_default, problems) for index, item in enumerate(value)
    ]
    return tuple(question for question in checked if question is not None)


# ---------------------------------------------------------------- one question


def _check_question(value: object, location: str, time_limit_default: int, problems: _Problems) -> Question | None:
    if not isinstance(value, dict):
        what = f"expected a question object {{...}}, got {_describe(value)}"
        problems.add(location, what, 'write {"text": ..., "options": ..., "correct": ...}')
        return None
    _check_duplicate_keys(value, location, problems)
    typo_targets = _check_unknown_keys(value, QUESTION_KEYS, location, problems)

    text = ""
    if _require(value, "text", location, typo_targets, 'add "text": "the question"', problems):
        text = _check_text(value["text"], _field(location, "text"), QUESTION_TEXT_MAX_CHARS, problems)
    options: dict[str, str] | None = None
    if _require(value, "options", location, typo_targets, 'add "options": {"A": "...", "B": "..."}', problems):
        options = _check_options(value["options"], _field(location, "options"), problems)
    correct = ""
    correct_fix = f'add "correct": one of {_key_range(options)}' if options else 'add "correct": "A"'
    if _require(value, "correct", location, typo_targets, correct_fix, problems):
        correct = _check_correct(value["correct"], _field(location, "correct"), options, problems)
    explanation = ""
    if value.get("explanation") is not None:
        explanation_location = _field(location, "explanation")
        explanation = _check_text(
            value["explanation"], explanation_location, EXPLANATION_MAX_CHARS, problems, may_be_empty=True
        )
    time_limit = time_limit_default
    if value.get("time_limit") is not None:
        time_limit = _check_seconds(value["time_limit"], _field(location, "time_limit"), problems)

    return Question(text=text, options=options or {}, correct=correct, explanation=explanation, time_limit=time_limit)


def _key_range(options: dict[str, str]) -> str:
    keys = list(options)
    return f"{keys[0]}-{keys[-1]}"


def _check_options(value: object, location: str, problems: _Problems) -> dict[str, str] | None:
    """The options in A, B, C, D order, or None when their keys are unusable."""
    if not isinstance(value, dict):
        if isinstance(value, list):
            fix = 'turn the list into {"A": "first", "B": "second", ...}'
        else:
            fix = 'write {"A": "...", "B": "..."}'
        problems.add(location, f'expected an object like {{"A": "...", "B": "..."}}, got {_describe(value)}', fix)
        return None
    _check_duplicate_keys(value, location, problems)
    keys_ok = _option_keys_ok([str(key) for key in value], location, problems)
    for key, text in value.items():
        _check_text(text, f"{location}.{key}", OPTION_TEXT_MAX_CHARS, problems)
    return {key: value[key] for key in sorted(value)} if keys_ok else None


def _option_keys_ok(keys: list[str], location: str, problems: _Problems) -> bool:
    count = len(keys)
    if count < OPTIONS_MIN:
        what = f"has {count} option(s), needs {OPTIONS_MIN} to {len(OPTION_KEYS)}"
        problems.add(location, what, "add options so the keys run A, B, ...")
        return False
    if count > len(OPTION_KEYS):
        problems.add(location, f"has {count} options, the limit is {len(OPTION_KEYS)}", "keep only A, B, C and D")
        return False
    expected = list(OPTION_KEYS[:count])
    if sorted(keys) == expected:
        return True
    fix = "option keys are upper-case" if sorted(key.upper() for key in keys) == expected else "rename them"
    problems.add(location, f"keys {', '.join(keys)} are not consecutive from A", f"{fix}: use {', '.join(expected)}")
    return False


def _check_correct(value: object, location: str, options: dict[str, str] | None, problems: _Problems) -> str:
    if not isinstance(value, str):
        what = f"expected an option key such as 'A', got {_describe(value)}"
        problems.add(location, what, 'write the letter in double quotes, e.g. "A"')
        return ""
    valid_keys = list(options) if options else list(OPTION_KEYS)
    if value in valid_keys:
        return value
    key_range = f"{valid_keys[0]}-{valid_keys[-1]}"
    near = value.strip().upper()
    fix = f"use {near!r}" if near in valid_keys else f"use one of {', '.join(valid_keys)}"
    problems.add(location, f"{_quote(value)} is not one of the options {key_range}", fix)
    return value
