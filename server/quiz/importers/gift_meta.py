"""The quizctl comment: what GIFT cannot say about a question, on a comment line Moodle skips.

GIFT has no place for a question's time limit, points, image, numeric unit, exact
matching, tags beyond its category, or for polls. `quizctl export-pool` writes those as
pool-file JSON on a comment line right above the question, and the pool's own settings
once at the top of the file::

    // quizctl pool: {"title": "Week 3: Sorting", "session_id": "cs101-w3", "time_limit_default": 30}

    // quizctl: {"time_limit": 40, "points": 2, "image": "figures/heap.png", "image_alt": "A heap"}
    [markdown]Which of these is a max-heap?{ ... }

Moodle replaces every line that starts with ``//`` by a blank (its own exports begin each
question with ``// question: 12  name: ...``), so the file stays a GIFT bank Moodle
imports. quizctl reads the comments back: a key in a question's comment wins over what
the GIFT text says (``options`` key by key), ``null`` removes a key, and ``"type"`` names
the type when GIFT's own kinds cannot (a poll, written as multiple choice with no right
answer or as an essay ``{}``; a short answer that GIFT would take for matching). The
values are checked by the pool loader like any pool file's, and reported at the
comment's line.
"""

from __future__ import annotations

import json
from typing import Any

from server.quiz.pool import ROOT_KEYS

from .problems import Problems, Question

__all__ = [
    "FORCED_TYPES",
    "POOL_KEYS",
    "POOL_PREFIX",
    "QUESTION_PREFIX",
    "apply_comment",
    "read_comment",
    "write_comment",
]

QUESTION_PREFIX = "// quizctl:"
POOL_PREFIX = "// quizctl pool:"
# The pool-wide settings the pool comment carries: everything but the questions.
POOL_KEYS = tuple(key for key in ROOT_KEYS if key != "questions")
# The types a comment may name; GIFT's answer block tells the others apart by itself.
FORCED_TYPES = ("poll", "text")
# A comment longer than this is not one quizctl wrote (a question's fields fit in ~8 KB).
COMMENT_MAX_CHARS = 64 * 1024


def comment_prefix(line: str) -> str | None:
    """POOL_PREFIX or QUESTION_PREFIX when `line` is such a comment, else None."""
    stripped = line.lstrip()
    for prefix in (POOL_PREFIX, QUESTION_PREFIX):
        if stripped.startswith(prefix):
            return prefix
    return None


def read_comment(line: str, number: int, problems: Problems) -> dict[str, Any] | None:
    """The JSON object of a quizctl comment line, or None (each problem reported at `number`)."""
    prefix = comment_prefix(line)
    assert prefix is not None  # callers pass comment lines only
    start = line.index(prefix) + len(prefix)
    body = line[start:]
    if len(body) > COMMENT_MAX_CHARS:
        problems.error(number, f"a quizctl comment of {len(body)} characters", "shorten it", start + 1)
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        problems.error(
            number,
            f"the quizctl comment is not valid JSON: {exc.msg}",
            'write a JSON object after the colon, e.g. // quizctl: {"time_limit": 40}',
            start + exc.colno,
        )
        return None
    except RecursionError:
        problems.error(number, "the quizctl comment is nested too deeply", "write a flat JSON object")
        return None
    at = start + len(body) - len(body.lstrip()) + 1  # the column the JSON starts at
    if not isinstance(value, dict):
        problems.error(number, "the quizctl comment is not a JSON object", 'write it as {"key": value, ...}', at)
        return None
    if prefix == QUESTION_PREFIX and value.get("type") not in (None, *FORCED_TYPES):
        problems.error(
            number,
            f"the quizctl comment's type {value['type']!r} cannot be forced",
            f"use {' or '.join(map(repr, FORCED_TYPES))}, or remove it: the answer block gives the other types",
            at,
        )
        return None
    if prefix == POOL_PREFIX:
        unknown = [key for key in value if key not in POOL_KEYS]
        if unknown:
            problems.error(
                number,
                f"unknown key(s) {', '.join(map(repr, unknown))} in the pool comment",
                f"use {', '.join(POOL_KEYS)}",
            )
            return None
    return value


def apply_comment(question: Question, fields: dict[str, Any]) -> None:
    """Overlay a question comment's fields (except ``type``) on what the GIFT text gave."""
    for key, value in fields.items():
        if key == "type":
            continue
        if value is None:
            question.pop(key, None)
        elif key == "options" and isinstance(value, dict) and isinstance(question.get("options"), dict):
            question["options"] = {**question["options"], **value}
        else:
            question[key] = value


def write_comment(prefix: str, fields: dict[str, Any]) -> str:
    """One comment line: `prefix` and the fields as JSON (newlines inside strings escaped)."""
    return f"{prefix} {json.dumps(fields, ensure_ascii=False)}"
