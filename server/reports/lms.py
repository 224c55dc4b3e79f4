"""Semester gradebooks: many sessions, one CSV that Canvas, Moodle or Blackboard imports as it is.

One row per student (the roster's students and everyone who joined any of the sessions),
one column per session with the points earned, then a total. A student who did not take
part in a session gets 0 there, not a blank: Canvas and Moodle read a blank cell as "no
grade", which Canvas's current score leaves out, so an absence would not count against the
student. The layouts, checked against each LMS's import (docs/gradebooks.md gives the sources):

- ``plain``: student_id, name, one column per session, total, possible.
- ``canvas``: Student, ID, SIS User ID, SIS Login ID, Section, one column per session named by
  its title, then Final Points (a column Canvas's import leaves alone), and a Points Possible
  row under the header.
- ``moodle``: ID number (mapped to useridnumber), Email address (useremail), First name,
  Last name, the sessions, Total.
- ``blackboard``: Last Name, First Name, Username, the sessions, Total, every value quoted.

Where the LMS has no points-possible row (all but Canvas), a session's header says it:
"Week 3 (out of 10)". Same CSV hygiene as the session export (server/reports/gradebook.py):
RFC 4180 via the csv module with CRLF, UTF-8 (with a BOM for Excel on request), and the
formula-injection guard on every text cell.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from server.reports.gradebook import neutralise
from server.session.roster import Roster

__all__ = ["LMS_LAYOUTS", "SessionGrades", "gradebook_rows", "render_gradebook", "session_titles"]

LMS_LAYOUTS = ("plain", "canvas", "moodle", "blackboard")

PLAIN_COLUMNS = ("student_id", "name")
PLAIN_TRAILER = ("total", "possible")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
# Canvas's importer never turns a column whose header contains one of its read-only
# names (such as Final Points) into an assignment, so the total can stay in the file.
CANVAS_TOTAL = "Final Points"
CANVAS_POINTS_POSSIBLE = "Points Possible"
CANVAS_READ_ONLY = "(read only)"
# Moodle's CSV import starts "Map from" at the first column, so the ID comes first; its headers
# are Moodle's own labels of the user fields useridnumber and useremail, which its "paste from
# spreadsheet" import preselects.
MOODLE_COLUMNS = ("ID number", "Email address", "First name", "Last name")
BLACKBOARD_COLUMNS = ("Last Name", "First Name", "Username")
LMS_TOTAL = "Total"

# Headers Canvas's importer treats as its own read-only columns, by substring and case
# (gradebook_importer.rb, NON_ASSIGNMENT_COLUMN_HEADERS): a session titled "Final Score
# review" would be dropped, so its title is written "Final score review" for Canvas.
_CANVAS_READ_ONLY_NAMES = (
    "Current Score",
    "Current Points",
    "Current Grade",
    "Final Score",
    "Final Points",
    "Final Grade",
    "Override Score",
    "Override Grade",
    "Override Status",
)
# Canvas reads a header ending in " (123)" as "assignment 123" (Assignment.title_and_id).
_CANVAS_ID_SUFFIX_RE = re.compile(r"\s\((\d+)\)\Z")
# Every fixed header of any layout: a session with such a title is told apart like a repeat.
_FIXED_HEADERS = frozenset(
    name.casefold()
    for name in (
        *PLAIN_COLUMNS,
        *PLAIN_TRAILER,
        *CANVAS_COLUMNS,
        CANVAS_TOTAL,
        *MOODLE_COLUMNS,
        *BLACKBOARD_COLUMNS,
        LMS_TOTAL,
    )
)
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class SessionGrades:
    """One session's grades, as the gradebook needs them.

    `points` holds the points each student earned, by student ID; a student absent from it
    did not take part. `names` holds the name each participant joined with; the roster's
    name wins where there is one. `started_ms` is the session's start (Unix ms).
    """

    sid: str
    title: str
    started_ms: int
    points_possible: float
    points: dict[str, float] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Student:
    student_id: str
    first_name: str
    last_name: str
    full_name: str
    canvas_name: str
    email: str = ""
    section: str = ""
    login: str = ""

    @property
    def order(self) -> tuple[str, str, str, str, str]:
        """Last name, first name, ID; accents count only between names that are otherwise equal."""
        return (
            _sort_text(self.last_name),
            _sort_text(self.first_name),
            self.last_name.casefold(),
            self.first_name.casefold(),
            self.student_id,
        )


def _sort_text(name: str) -> str:
    """The name without accents, case-folded: "Ångström" sorts with the A's."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def render_gradebook(sessions: Sequence[SessionGrades], roster: Roster | None, lms: str, *, excel: bool = False) -> str:
    """The semester gradebook as CSV text in the layout `lms` imports (one of `LMS_LAYOUTS`).

    `excel` starts the text with a UTF-8 BOM so that Excel reads it as UTF-8.
    """
    rows = gradebook_rows(sessions, roster, lms)
    buffer = io.StringIO()
    if excel:
        buffer.write("\ufeff")
    # Blackboard's upload wants every value of a comma-separated file in quotes.
    if lms == "blackboard":
        writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    else:
        writer = csv.writer(buffer, lineterminator="\r\n")  # QUOTE_MINIMAL, doubled quotes: RFC 4180
    writer.writerows(rows)
    return buffer.getvalue()


def gradebook_rows(sessions: Sequence[SessionGrades], roster: Roster | None, lms: str) -> list[list[str]]:
    """The gradebook's rows (header first) before CSV quoting; see `render_gradebook`."""
    if lms not in LMS_LAYOUTS:
        raise ValueError(f"lms must be one of {', '.join(LMS_LAYOUTS)}, not {lms!r}")
    ordered = sorted(sessions, key=lambda s: (s.started_ms, s.sid))
    students = sorted(_students(ordered, roster), key=lambda student: student.order)
    cells = [[_points(session.points.get(student.student_id, 0.0)) for session in ordered] for student in students]
    totals = [sum(row, Decimal(0)) for row in cells]
    possible = [_points(session.points_possible) for session in ordered]
    if lms == "canvas":
        titles = session_titles(ordered, _canvas_safe_title)
    else:
        titles = [
            f"{title} (out of {_text(points)})" for title, points in zip(session_titles(ordered), possible, strict=True)
        ]
    titles = [neutralise(title) for title in titles]
    return _layout_rows(_LAYOUTS[lms], titles, possible, students, cells, totals)


def session_titles(sessions: Sequence[SessionGrades], transform: Callable[[str], str] = lambda t: t) -> list[str]:
    """The sessions' column titles in the given order, each one different (compared ignoring case).

    A title shared by several sessions, or equal to a fixed column of some layout, gets the
    session's start date (UTC) appended, "Week 3 (2025-03-04)"; a title that still repeats
    gets "#2", "#3", … in order. An empty title is the session ID. `transform` adapts a
    title to an LMS before the comparison.
    """
    titles = [transform(" ".join(s.title.split()) or s.sid) for s in sessions]
    counts = Counter(title.casefold() for title in titles)
    dated = [
        f"{title} ({_date(s.started_ms)})"
        if counts[title.casefold()] > 1 or title.casefold() in _FIXED_HEADERS
        else title
        for title, s in zip(titles, sessions, strict=True)
    ]
    seen: Counter[str] = Counter()
    unique: list[str] = []
    taken = Counter(title.casefold() for title in dated)
    for title in dated:
        key = title.casefold()
        seen[key] += 1
        if taken[key] > 1 and seen[key] > 1:
            suffix = seen[key]
            while f"{title} #{suffix}".casefold() in taken:
                suffix += 1
            title = f"{title} #{suffix}"
            taken[title.casefold()] += 1
        unique.append(title)
    return unique


def _canvas_safe_title(title: str) -> str:
    """The title, changed just enough that Canvas's import creates an assignment with it."""
    for name in _CANVAS_READ_ONLY_NAMES:
        first, second = name.split(" ")
        title = title.replace(name, f"{first} {second.lower()}")
    return _CANVAS_ID_SUFFIX_RE.sub(r" (#\1)", title)


def _date(started_ms: int) -> str:
    return datetime.fromtimestamp(started_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _points(value: float) -> Decimal:
    """Points rounded half up to the cent, as every cell and sum shows them."""
    return Decimal(repr(float(value))).quantize(_CENT, rounding=ROUND_HALF_UP)


def _text(points: Decimal) -> str:
    """Up to two decimals, without trailing zeros: 10, 7.5, 0.95."""
    text = f"{points:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------- who is in the gradebook


def _students(sessions: Sequence[SessionGrades], roster: Roster | None) -> list[_Student]:
    """The roster's students, then everyone else who joined or scored, with the latest name they used."""
    joined_names: dict[str, str] = {}
    for session in sessions:  # in start order, so the latest name a student joined with wins
        for student_id in (*session.points, *session.names):
            joined_names.setdefault(student_id, "")
        joined_names.update({sid: " ".join(name.split()) for sid, name in session.names.items() if name.strip()})
    students: dict[str, _Student] = {}
    for entry in roster or ():
        first, last = entry.first_name, entry.last_name
        if not (first or last):
            first, last = _split_name(entry.name)
        canvas_name = ", ".join(part for part in (entry.last_name, entry.first_name) if part) or entry.display_name
        students[entry.student_id] = _Student(
            student_id=entry.student_id,
            first_name=first,
            last_name=last,
            full_name=entry.display_name,
            canvas_name=canvas_name,
            email=entry.email,
            section=entry.section,
            login=entry.login,
        )
    for student_id, name in joined_names.items():
        if student_id in students:
            continue
        first, last = _split_name(name)
        # Canvas matches an unknown row by name too, against "First Last" or "Last, First".
        students[student_id] = _Student(student_id, first, last, name or student_id, canvas_name=name or student_id)
    return list(students.values())


def _split_name(name: str) -> tuple[str, str]:
    """("first", "last") from a whole name: the last word is taken as the family name.

    Only for sorting and the LMS's informational name columns; a roster with first_name
    and last_name columns is used as it is.
    """
    words = name.split()
    if not words:
        return "", ""
    return " ".join(words[:-1]), words[-1]


# ---------------------------------------------------------------- the four layouts


@dataclass(frozen=True, slots=True)
class _Layout:
    """What one LMS's import wants around the points: a header, a student's identifying cells, the cells after."""

    header: tuple[str, ...]
    identity: Callable[[_Student], list[str]]
    after_points: Callable[[Decimal, Decimal], list[str]]  # (student's total, total possible) -> cells
    total_header: Callable[[Decimal], list[str]]  # total possible -> the header's cells after the sessions
    points_possible_row: bool = False  # Canvas takes a new assignment's points possible from a row under the header


_LAYOUTS: dict[str, _Layout] = {
    "plain": _Layout(
        header=PLAIN_COLUMNS,
        identity=lambda student: [student.student_id, student.full_name],
        after_points=lambda total, possible: [_text(total), _text(possible)],
        total_header=lambda possible: list(PLAIN_TRAILER),
    ),
    "canvas": _Layout(
        header=CANVAS_COLUMNS,
        # The second cell is Canvas's own user ID: unknown here, and Canvas then matches by SIS User ID.
        identity=lambda student: [
            student.canvas_name,
            "",
            student.student_id,
            student.login or student.email,
            student.section,
        ],
        after_points=lambda total, possible: [_text(total)],
        total_header=lambda possible: [CANVAS_TOTAL],
        points_possible_row=True,
    ),
    "moodle": _Layout(
        header=MOODLE_COLUMNS,
        identity=lambda student: [student.student_id, student.email, student.first_name, student.last_name],
        after_points=lambda total, possible: [_text(total)],
        total_header=lambda possible: [f"{LMS_TOTAL} (out of {_text(possible)})"],
    ),
    "blackboard": _Layout(
        header=BLACKBOARD_COLUMNS,
        identity=lambda student: [student.last_name, student.first_name, student.login or student.student_id],
        after_points=lambda total, possible: [_text(total)],
        total_header=lambda possible: [f"{LMS_TOTAL} (out of {_text(possible)})"],
    ),
}


def _layout_rows(
    layout: _Layout,
    titles: list[str],
    possible: list[Decimal],
    students: list[_Student],
    cells: list[list[Decimal]],
    totals: list[Decimal],
) -> list[list[str]]:
    """The header (and Canvas's points-possible row), then one row per student in `layout`."""
    possible_total = sum(possible, Decimal(0))
    rows = [[*layout.header, *titles, *layout.total_header(possible_total)]]
    if layout.points_possible_row:
        blanks = [""] * (len(layout.header) - 1)
        rows.append([CANVAS_POINTS_POSSIBLE, *blanks, *map(_text, possible), CANVAS_READ_ONLY])
    for student, row, total in zip(students, cells, totals, strict=True):
        identity = [neutralise(cell) for cell in layout.identity(student)]
        rows.append([*identity, *map(_text, row), *layout.after_points(total, possible_total)])
    return rows
