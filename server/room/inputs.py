"""What students and operators may send: ids, names, question numbers, time limits, event kinds.

Each rule is checked by one function that returns the clean value or raises RoomError with
the contract's code, so every transport refuses the same input the same way.
"""

from __future__ import annotations

from typing import Any

from server.session.errors import RoomError
from server.session.roster import RosterEntry, RosterError, new_entry

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


EXTENSION_RANGE = (1, 3600)


def extension(value: Any) -> int:
    """Seconds to add to the open question: whole seconds from 1 to 3600; RoomError `bad_seconds`."""
    if type(value) is not int or not EXTENSION_RANGE[0] <= value <= EXTENSION_RANGE[1]:
        raise RoomError("bad_seconds", "seconds must be whole seconds from 1 to 3600.")
    return value


def roster_entry(student_id: Any, name: Any, extra_time: Any = None) -> RosterEntry:
    """A class-list entry from an operator's command (the roster file's rules); RoomError `bad_roster_entry`."""
    try:
        multiplier = "" if extra_time is None else str(extra_time)
        return new_entry(str(student_id) if isinstance(student_id, str) else "", name or "", extra_time=multiplier)
    except RosterError as exc:
        raise RoomError("bad_roster_entry", "; ".join(exc.problems)) from exc


def event_kind(value: Any) -> str:
    if value not in EVENT_KINDS:
        raise RoomError("bad_event", f"kind must be one of: {', '.join(EVENT_KINDS)}.")
    return str(value)
