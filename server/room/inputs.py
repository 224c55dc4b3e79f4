"""What students and operators may send: ids, names, question numbers, time limits, event kinds.

Each rule is checked by one function that returns the clean value or raises RoomError with
the contract's code, so every transport refuses the same input the same way.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from server.session.errors import RoomError

STUDENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_MAX_LENGTH = 80
# Bidi overrides/isolates and zero-width characters could make a name on the projector read
# as another; the zero-width joiner stays allowed (emoji sequences use it).
_INVISIBLE_OR_REORDERING = frozenset(
    "\u200b\u200c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2060\ufeff"
)


def validate_student_id(value: Any) -> str:
    """The id itself, or RoomError `bad_student_id`."""
    if not isinstance(value, str) or not STUDENT_ID_PATTERN.fullmatch(value):
        raise RoomError(
            "bad_student_id",
            "Student ID must be 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return value


def validate_name(value: Any) -> str:
    """The name with whitespace runs folded and NFC-normalised, or RoomError `bad_name`."""
    if not isinstance(value, str):
        raise RoomError("bad_name", "Name must be text.")
    name = unicodedata.normalize("NFC", " ".join(value.split()))
    if not name:
        raise RoomError("bad_name", "Please enter your name.")
    if len(name) > NAME_MAX_LENGTH:
        raise RoomError("bad_name", f"Name must be at most {NAME_MAX_LENGTH} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in _INVISIBLE_OR_REORDERING for ch in name):
        raise RoomError("bad_name", "Name contains characters that are not allowed.")
    return name


EVENT_KINDS = ("blur", "focus", "visibility_hidden", "visibility_visible")
TIME_LIMIT_RANGE = (5, 3600)
EVENT_QUESTION_LIMIT = 1_000_000  # an event's question number is only logged; it need not be the pool's


def question_idx(value: Any, *, count: int | None = None, optional: bool = False) -> int | None:
    """A 0-based question index from the wire, or RoomError `bad_question`.

    With `count`, it must be below it (one of the pool's questions, say); with `optional`,
    None passes. Without `count` any whole number passes: a submit for a question that is
    not open is `not_open`, whatever its number.
    """
    if value is None and optional:
        return None
    if type(value) is not int:
        raise RoomError("bad_question", "question_idx must be a whole number" + (" or absent." if optional else "."))
    if count is not None and not 0 <= value < count:
        raise RoomError("bad_question", f"question_idx must be a whole number from 0 to {count - 1}.")
    return value


def time_limit(value: Any) -> int | None:
    """Whole seconds from 5 to 3600, or None for the question's own; RoomError `bad_time_limit`."""
    if value is None:
        return None
    if type(value) is not int or not TIME_LIMIT_RANGE[0] <= value <= TIME_LIMIT_RANGE[1]:
        raise RoomError("bad_time_limit", "time_limit must be whole seconds from 5 to 3600.")
    return value


def event_kind(value: Any) -> str:
    if value not in EVENT_KINDS:
        raise RoomError("bad_event", f"kind must be one of: {', '.join(EVENT_KINDS)}.")
    return str(value)
