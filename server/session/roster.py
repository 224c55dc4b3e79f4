"""The class list: who may join, with their names and extra time (`Roster`, `RosterEntry`).

Reading and writing roster files is roster_file.py; this module holds the entries and the
rules each field follows, shared by a file's rows and `quizctl roster add`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from server.session.errors import RoomError
from server.session.identity import validate_name, validate_student_id

__all__ = ["EXTRA_TIME_RANGE", "ROSTER_COLUMNS", "FieldProblem", "Roster", "RosterEntry", "RosterError", "new_entry"]

ROSTER_COLUMNS = ("student_id", "name", "first_name", "last_name", "email", "section", "extra_time", "login")
EXTRA_TIME_RANGE = (1.0, 10.0)
# A class list of 10,000 students with every LMS column is about 2 MiB.
ROSTER_MAX_BYTES = 16 * 1024 * 1024
EMAIL_MAX_LENGTH = 254  # RFC 5321's limit on a forward path
# The longest problem list printed in the exception's message; `.problems` keeps them all.
MESSAGE_MAX_PROBLEMS = 30
_EXTRA_TIME_RE = re.compile(r"[0-9]{1,3}(?:[.,][0-9]{1,6})?")
_EMAIL_RE = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f.]+(?:\.[^@\s\x00-\x1f\x7f.]+)+")


class RosterError(ValueError):
    """A roster that cannot be used; `problems` lists every problem, each as
    ``FILE:LINE: what is wrong (fix: how)`` (no location for a single entry being added)."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:MESSAGE_MAX_PROBLEMS]
        more = len(self.problems) - len(shown)
        super().__init__("\n".join(shown) + (f"\n… and {more} more" if more > 0 else ""))


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One student on the class list.

    `extra_time` is the accommodation multiplier (1 = none): the student's own deadline is
    the question's limit times it. `login` is the student's login name in the LMS (Canvas's
    SIS Login ID, Moodle's or Blackboard's Username), used to match gradebook rows there.
    """

    student_id: str
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    section: str = ""
    extra_time: float = 1.0
    login: str = ""

    @property
    def display_name(self) -> str:
        """`name`, else "first last", else the student ID."""
        if self.name:
            return self.name
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.student_id


class Roster:
    """The students of a class in file order, by student ID."""

    def __init__(self, entries: Iterable[RosterEntry] = (), source: str = "roster") -> None:
        self.source = source
        self.entries: dict[str, RosterEntry] = {}
        for entry in entries:
            self.add(entry)

    def get(self, student_id: str) -> RosterEntry | None:
        """The student with this ID, or None."""
        return self.entries.get(student_id)

    def __contains__(self, student_id: object) -> bool:
        return student_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[RosterEntry]:
        return iter(self.entries.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Roster) and list(self.entries.items()) == list(other.entries.items())

    def __repr__(self) -> str:
        return f"Roster({self.source!r}, {len(self)} students)"

    def add(self, entry: RosterEntry) -> None:
        """Add a student at the end; `RosterError` if the ID is already on the roster."""
        if entry.student_id in self.entries:
            raise RosterError(
                [f"student ID {entry.student_id!r} is already on the roster (fix: remove it first, or use another ID)"]
            )
        self.entries[entry.student_id] = entry

    def remove(self, student_id: str) -> RosterEntry:
        """Take a student off the roster and return their entry; `RosterError` if not on it."""
        entry = self.entries.pop(student_id, None)
        if entry is None:
            raise RosterError([f"student ID {student_id!r} is not on the roster (fix: check the ID)"])
        return entry


# ---------------------------------------------------------------- reading


class FieldProblem(Exception):
    """One bad cell: what is wrong and how to fix it."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix


def new_entry(
    student_id: str,
    name: str = "",
    *,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    section: str = "",
    extra_time: str | float = 1.0,
    login: str = "",
) -> RosterEntry:
    """A checked entry (for `quizctl roster add`), by the same rules as a roster file's rows.

    `RosterError` lists what is wrong, each as "what (fix: how)".
    """
    values = {
        "name": name,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "section": section,
        "extra_time": extra_time if isinstance(extra_time, str) else repr(float(extra_time)),
        "login": login,
    }
    entry, problems = checked_entry(student_id.strip(), {key: value.strip() for key, value in values.items()})
    if entry is None or problems:
        raise RosterError(f"{problem.what} (fix: {problem.fix})" for problem in problems)
    return entry


def checked_entry(student_id: str, values: dict[str, str]) -> tuple[RosterEntry | None, list[FieldProblem]]:
    problems: list[FieldProblem] = []

    def checked(check: type[_Check], raw: str) -> str:
        try:
            return check.clean(raw)
        except FieldProblem as problem:
            problems.append(problem)
            return ""

    clean_id = checked(_StudentIdCheck, student_id)
    names = {field: checked(_NameCheck, values.get(field, "")) for field in ("name", "first_name", "last_name")}
    email = checked(_EmailCheck, values.get("email", ""))
    extra_time_text = checked(_ExtraTimeCheck, values.get("extra_time", ""))
    entry = RosterEntry(
        student_id=clean_id,
        email=email,
        section=" ".join(values.get("section", "").split()),
        extra_time=float(extra_time_text) if extra_time_text else 1.0,
        login=values.get("login", ""),
        **names,
    )
    if not problems and entry.display_name != entry.student_id:
        # Each part may be short enough while "first last" together is not.
        checked(_NameCheck, entry.display_name)
    if problems:
        return None, problems
    return entry, []


class _Check:
    @staticmethod
    def clean(raw: str) -> str:
        raise NotImplementedError


class _StudentIdCheck(_Check):
    @staticmethod
    def clean(raw: str) -> str:
        try:
            return validate_student_id(raw)
        except RoomError:
            shown = raw if len(raw) <= 70 else raw[:67] + "..."
            raise FieldProblem(
                f"student ID {shown!r} is not valid",
                "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            ) from None


class _NameCheck(_Check):
    @staticmethod
    def clean(raw: str) -> str:
        if not raw.strip():
            return ""
        try:
            return validate_name(raw)
        except RoomError as exc:
            shown = raw if len(raw) <= 40 else raw[:37] + "..."
            raise FieldProblem(f"name {shown!r}: {exc.message}", "correct the name in the file") from None


class _EmailCheck(_Check):
    @staticmethod
    def clean(raw: str) -> str:
        if not raw:
            return ""
        if len(raw) > EMAIL_MAX_LENGTH or not _EMAIL_RE.fullmatch(raw):
            shown = raw if len(raw) <= 70 else raw[:67] + "..."
            raise FieldProblem(
                f"email {shown!r} is not an email address", "write it as name@example.edu, or leave the cell empty"
            )
        return raw


class _ExtraTimeCheck(_Check):
    @staticmethod
    def clean(raw: str) -> str:
        """The multiplier as text Python's float() reads ("" for none); a decimal comma is accepted."""
        if not raw:
            return ""
        value = math.nan
        if _EXTRA_TIME_RE.fullmatch(raw):
            value = float(raw.replace(",", "."))
        low, high = EXTRA_TIME_RANGE
        if not low <= value <= high:
            shown = raw if len(raw) <= 20 else raw[:17] + "..."
            raise FieldProblem(
                f"extra_time {shown!r} is not a number from 1 to 10",
                "write the time multiplier, such as 1.5 for time and a half, or leave the cell empty for none",
            )
        return repr(value)


# ---------------------------------------------------------------- writing
