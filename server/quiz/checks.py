"""The vocabulary of pool validation: a collector of located problems and the checks every field shares.

A problem reads "LOCATION: what is wrong (fix: how to fix it)", so an instructor can
repair a file in one pass. The pool (pool.py) and each question type (types/) use these.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

TIME_LIMIT_MIN_S = 5
TIME_LIMIT_MAX_S = 3600


class Problems:
    """Everything wrong with a pool, collected so all of it is reported at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.messages)

    def add(self, location: str, what: str, fix: str) -> None:
        self.messages.append(f"{location}: {what} (fix: {fix})")


def describe(value: object) -> str:
    """How a JSON value reads in a message: 'null', 'true', '30.0', "the string '30'", 'an array'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return f"the string {quote(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def quote(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def field(container: str, key: str) -> str:
    return f"{container}.{key}" if container else key


def check_duplicate_keys(obj: dict[str, Any], location: str, problems: Problems) -> None:
    for key in getattr(obj, "duplicate_keys", ()):
        problems.add(location or "(root)", f"key {key!r} appears more than once", "keep one: JSON uses only the last")


def check_unknown_keys(obj: dict[str, Any], allowed: tuple[str, ...], location: str, problems: Problems) -> set[str]:
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


def require(obj: dict[str, Any], key: str, location: str, typo_targets: set[str], fix: str, problems: Problems) -> bool:
    """True when `key` is present; otherwise reports it missing, unless a typo'd key was already reported."""
    if key in obj:
        return True
    if key not in typo_targets:
        problems.add(field(location, key), "missing", fix)
    return False


def check_text(value: object, location: str, max_chars: int, problems: Problems, *, may_be_empty: bool = False) -> str:
    if not isinstance(value, str):
        problems.add(location, f"expected a string, got {describe(value)}", "write the text in double quotes")
        return ""
    if not may_be_empty and not value.strip():
        problems.add(location, "is empty", "write some text")
    if len(value) > max_chars:
        problems.add(location, f"is {len(value)} characters long, the limit is {max_chars}", "shorten it")
    return value


def check_seconds(value: object, location: str, problems: Problems) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        check_seconds_range(value, location, problems)
        return value
    what = f"expected whole seconds as an integer, got {describe(value)}"
    if isinstance(value, float) and math.isfinite(value):
        suggestion = min(max(round(value), TIME_LIMIT_MIN_S), TIME_LIMIT_MAX_S)
        problems.add(location, what, f"write {suggestion}")
    elif isinstance(value, str) and value.strip().isdigit():
        problems.add(location, what, f"write {value.strip()} without quotes")
    else:
        problems.add(location, what, f"write a number of seconds from {TIME_LIMIT_MIN_S} to {TIME_LIMIT_MAX_S}")
    return 0


def check_seconds_range(seconds: int, location: str, problems: Problems) -> None:
    if TIME_LIMIT_MIN_S <= seconds <= TIME_LIMIT_MAX_S:
        return
    what = f"{seconds} is out of range {TIME_LIMIT_MIN_S}..{TIME_LIMIT_MAX_S} seconds"
    looks_like_ms = seconds % 1000 == 0 and TIME_LIMIT_MIN_S <= seconds // 1000 <= TIME_LIMIT_MAX_S
    if looks_like_ms:
        problems.add(location, what, f"time limits are in seconds, not milliseconds: write {seconds // 1000}")
    else:
        problems.add(location, what, f"use a value from {TIME_LIMIT_MIN_S} to {TIME_LIMIT_MAX_S}")
