"""Who a student may be: the rules for student ids and display names (joins and the roster alike)."""

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
