"""Roster files: an LMS export or a plain CSV read into a `Roster`, and a roster written back.

A roster is a CSV file with a header row. `student_id` is required; `name`, `first_name`,
`last_name`, `email`, `section`, `extra_time` and `login` are optional. Header names are
matched case-insensitively and ignoring spaces, `_`, `-` and other punctuation, so
`Student ID`, `student_id` and `student-id` are one name; the spellings of the Canvas,
Moodle and Blackboard exports are accepted too (see `_FIELD_SPELLINGS`) and any other
column is ignored, so an LMS export can be used as it is.

Several columns can hold a student ID (a Canvas gradebook export has `ID`, Canvas's own
internal number, and `SIS User ID`, the university's). The one used is the first of
`_ID_COLUMNS_BY_PRIORITY` that the header has and that is filled in on at least one row;
its value must follow the server's rule for student IDs (`validate_student_id`).

Files may be UTF-8 with or without a BOM, with CRLF or LF line ends, and comma-,
semicolon- or tab-separated (sniffed from the header, or given by Excel's `sep=;` line).
Every problem is reported at once as ``FILE:LINE: what is wrong (fix: how)``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from server.session.roster import (
    ROSTER_COLUMNS,
    ROSTER_MAX_BYTES,
    Roster,
    RosterEntry,
    RosterError,
    checked_entry,
)


def load_roster(path: str | os.PathLike[str]) -> Roster:
    """Read and check a roster file; `RosterError` for a missing, unreadable or invalid one."""
    source = str(path)
    try:
        with open(path, "rb") as file:
            raw = file.read(ROSTER_MAX_BYTES + 1)
    except FileNotFoundError:
        raise RosterError([f"{source}: no such file (fix: check the path)"]) from None
    except IsADirectoryError:
        raise RosterError([f"{source}: is a directory (fix: give the path of the roster's .csv file)"]) from None
    except PermissionError:
        raise RosterError([f"{source}: permission denied (fix: make the file readable)"]) from None
    except OSError as exc:
        raise RosterError([f"{source}: cannot be read: {exc.strerror} (fix: check the path)"]) from None
    if len(raw) > ROSTER_MAX_BYTES:
        limit = ROSTER_MAX_BYTES // (1024 * 1024)
        raise RosterError([f"{source}: is larger than {limit} MiB (fix: give the class list as a CSV file)"])
    try:
        text = raw.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts the file with a BOM
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RosterError(
            [f'{source}:{line}: not valid UTF-8 (fix: save the file as UTF-8, in Excel as "CSV UTF-8")']
        ) from None
    return parse_roster(text, source)


def parse_roster(text: str, source: str) -> Roster:
    """Check roster CSV text; `RosterError` lists every problem at once."""
    return _RosterReader(text, source).read()


# One header spelling per line of the docs: the key is the header with everything but
# letters and digits removed, lower-cased.
_FIELD_SPELLINGS: dict[str, str] = {
    # name
    "name": "name",
    "fullname": "name",
    "studentname": "name",
    "student": "canvas_student",  # Canvas: "Last, First"
    # first and last name (Moodle: First name, Surname / Last name; Blackboard: First Name, Last Name)
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    # email (Moodle: Email address)
    "email": "email",
    "mail": "email",
    "emailaddress": "email",
    # the rest
    "section": "section",
    "extratime": "extra_time",
    "login": "login",
    "loginid": "login",
}
# Columns that can hold the student ID, most preferred first. The first one present in the
# header and filled in on some row is the ID. `SIS User ID` (the university's ID in Canvas)
# beats Canvas's own `ID`; Moodle's `ID number` is the institution's ID; a Blackboard
# `Student ID` beats its `Username`; a plain `id` is used only when nothing better is there.
_ID_COLUMNS_BY_PRIORITY: tuple[tuple[str, ...], ...] = (
    ("studentid", "studentnumber"),
    ("sisuserid",),
    ("idnumber",),
    ("username",),
    ("sisloginid",),
    ("id",),
)
_ID_SPELLINGS = {key: rank for rank, keys in enumerate(_ID_COLUMNS_BY_PRIORITY) for key in keys}
# Columns that also give the login name used by the LMS (besides `login` itself).
_LOGIN_SPELLINGS = frozenset(("sisloginid", "username"))
_ID_COLUMNS_FIX = (
    "name the column of student IDs student_id (also read: Student ID, SIS User ID, ID number, Username, "
    "SIS Login ID, ID)"
)
_DELIMITERS = (",", ";", "\t")
_SEP_LINE_RE = re.compile(r"sep=([^\r\n\"])(?:\r\n|\n|\r|$)", re.IGNORECASE)
# Canvas's gradebook export has a "Points Possible" row and, with manual posting, a
# "Manual Posting" (formerly "Muted") row; neither is a student, and Canvas's own importer
# skips both. Its "Test Student" has no SIS User ID.
_CANVAS_POSTING_CELL_RE = re.compile(r"\s*(?:muted|manual posting.*)?\s*", re.IGNORECASE)
_CANVAS_TEST_STUDENT = frozenset(("student, test", "test student"))


def _header_key(cell: str) -> str:
    return "".join(ch for ch in cell.casefold() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where each field is in a row (column index), the columns that can hold the ID (best first)
    and the ones that also give the login."""

    fields: dict[str, int]
    id_candidates: list[tuple[int, int, str]]  # (priority, index, header text), best first
    login_candidates: list[int]


class _RosterReader:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.text = text.removeprefix("\ufeff")

    def problem(self, line: int, what: str, fix: str) -> None:
        self.problems.append(f"{self.source}:{line}: {what} (fix: {fix})")

    def fail(self) -> RosterError:
        return RosterError(self.problems)

    def read(self) -> Roster:
        text, delimiter, first_line = self._delimiter()
        rows = self._rows(text, delimiter, first_line)
        header_at = next((at for at, (_, cells) in enumerate(rows) if _filled(cells)), None)
        if header_at is None:
            self.problem(first_line, "the file is empty", f"start it with a header line such as {_EXAMPLE_HEADER}")
            raise self.fail()
        header_line, header = rows[header_at]
        columns = self._columns(header, header_line)
        if columns is None:
            raise self.fail()
        data = [
            (line, cells)
            for line, cells in rows[header_at + 1 :]
            if _filled(cells) and not _canvas_non_student(cells, columns)
        ]
        id_index, id_header = _id_column(columns, data)
        if data and not any(id_index < len(cells) and cells[id_index].strip() for _, cells in data):
            self.problem(
                header_line,
                f"the student ID column {id_header!r} is empty on every row",
                "fill in the students' IDs, or name the column that holds them student_id",
            )
            raise self.fail()
        roster = Roster(source=self.source)
        first_line_of: dict[str, int] = {}
        for line, cells in data:
            entry = self._entry(line, cells, columns, id_index, id_header)
            if entry is None:
                continue
            if entry.student_id in first_line_of:
                self.problem(
                    line,
                    f"student ID {entry.student_id!r} is also on line {first_line_of[entry.student_id]}",
                    "keep one of the two rows, or correct the ID",
                )
                continue
            first_line_of[entry.student_id] = line
            roster.add(entry)
        if not data:
            self.problem(header_line, "the roster has no students", "add one row per student under the header")
        if self.problems:
            raise self.fail()
        return roster

    def _delimiter(self) -> tuple[str, str, int]:
        """(text without any `sep=` line, the delimiter, the line number the rest starts on)."""
        sep_line = _SEP_LINE_RE.match(self.text)
        if sep_line:
            return self.text[sep_line.end() :], sep_line.group(1), 2
        header_line = next((line for line in self.text.splitlines() if line.strip()), "")

        def recognised(delimiter: str) -> int:
            try:
                cells = next(csv.reader([header_line], delimiter=delimiter), [])
            except csv.Error:
                return 0
            keys = [_header_key(cell) for cell in cells]
            return sum(key in _FIELD_SPELLINGS or key in _ID_SPELLINGS for key in keys)

        return self.text, max(_DELIMITERS, key=recognised), 1  # max() keeps "," on a tie

    def _rows(self, text: str, delimiter: str, first_line: int) -> list[tuple[int, list[str]]]:
        """(line the row starts on, cells) for every row; a broken CSV file stops at its line."""
        # strict: an unclosed quote would otherwise swallow every later row into one cell.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        rows: list[tuple[int, list[str]]] = []
        end_of_previous = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return rows
            except csv.Error as exc:
                self.problem(
                    first_line + end_of_previous,
                    f"cannot read the CSV: {exc}",
                    'check the quotes on this row: a cell with a quote inside is written "like ""this"""',
                )
                raise self.fail() from None
            rows.append((first_line + end_of_previous, cells))
            end_of_previous = reader.line_num

    def _columns(self, header: list[str], line: int) -> _Columns | None:
        fields: dict[str, int] = {}
        header_of: dict[str, str] = {}
        id_candidates: list[tuple[int, int, str]] = []
        login_candidates: list[int] = []
        seen_id_keys: dict[str, str] = {}
        for index, raw in enumerate(header):
            key = _header_key(raw)
            name = raw.strip()
            if key in _ID_SPELLINGS:
                if key in seen_id_keys:
                    self.problem(
                        line,
                        f"columns {seen_id_keys[key]!r} and {name!r} both give the student ID",
                        "delete one of the two columns",
                    )
                    continue
                seen_id_keys[key] = name
                id_candidates.append((_ID_SPELLINGS[key], index, name))
                if key in _LOGIN_SPELLINGS:
                    login_candidates.append(index)
                continue
            field = _FIELD_SPELLINGS.get(key)
            if field is None:
                continue  # an LMS export's other columns (grades, last access, ...)
            target = "name" if field == "canvas_student" else field
            if target in header_of:
                self.problem(
                    line,
                    f"columns {header_of[target]!r} and {name!r} both give the {target}",
                    "delete one of the two columns or rename it",
                )
                continue
            header_of[target] = name
            fields[field] = index
        if not id_candidates:
            self.problem(line, "the header has no student ID column", _ID_COLUMNS_FIX)
            return None
        id_candidates.sort()
        return _Columns(fields, id_candidates, login_candidates)

    def _entry(
        self, line: int, cells: list[str], columns: _Columns, id_index: int, id_header: str
    ) -> RosterEntry | None:
        def cell(index: int | None) -> str:
            return cells[index].strip() if index is not None and index < len(cells) else ""

        values = {field: cell(index) for field, index in columns.fields.items()}
        if "canvas_student" in values:
            for field, value in _split_canvas_student(values.pop("canvas_student")).items():
                values[field] = values.get(field) or value  # explicit first/last name columns win
        if not values.get("login"):
            values["login"] = next((cell(i) for i in columns.login_candidates if cell(i)), "")
        student_id = cell(id_index)
        if not student_id and cell(columns.fields.get("canvas_student")).casefold() in _CANVAS_TEST_STUDENT:
            return None
        if not student_id:
            self.problem(line, f"no student ID in column {id_header!r}", "fill it in, or delete the row")
            return None
        entry, problems = checked_entry(student_id, values)
        for problem in problems:
            self.problem(line, problem.what, problem.fix)
        return entry


_EXAMPLE_HEADER = "student_id,name,email,section,extra_time"


def _filled(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def _canvas_non_student(cells: list[str], columns: _Columns) -> bool:
    """Canvas's "Points Possible" and posting rows: no ID anywhere, and Canvas's own labels."""
    if any(index < len(cells) and cells[index].strip() for _, index, _ in columns.id_candidates):
        return False
    first = next(cell.strip() for cell in cells if cell.strip())
    return first.casefold().startswith("points possible") or all(_CANVAS_POSTING_CELL_RE.fullmatch(c) for c in cells)


def _id_column(columns: _Columns, data: list[tuple[int, list[str]]]) -> tuple[int, str]:
    """The best ID column that is filled in on some row (else the best one, to report it empty)."""
    for _, index, header in columns.id_candidates:
        if any(index < len(cells) and cells[index].strip() for _, cells in data):
            return index, header
    _, index, header = columns.id_candidates[0]
    return index, header


def _split_canvas_student(value: str) -> dict[str, str]:
    """Canvas's Student column is "Last, First"; without a comma it is the whole name."""
    last, comma, first = value.partition(",")
    if not comma:
        return {"name": value}
    return {"last_name": last.strip(), "first_name": first.strip()}


# ---------------------------------------------------------------- checking one entry


def roster_to_rows(roster: Roster) -> list[list[str]]:
    """The roster as CSV rows in quizctl's own columns (`ROSTER_COLUMNS`), header first.

    `parse_roster` reads them back into an equal roster. Cells are written as they are,
    without the formula guard of the exports: this file is quizctl's input, and a guard
    quote would become part of the name when it is read back.
    """
    rows = [list(ROSTER_COLUMNS)]
    for entry in roster:
        rows.append(
            [
                entry.student_id,
                entry.name,
                entry.first_name,
                entry.last_name,
                entry.email,
                entry.section,
                "" if entry.extra_time == 1.0 else f"{entry.extra_time:g}",
                entry.login,
            ]
        )
    return rows


def render_roster(roster: Roster) -> str:
    """The roster as CSV text (RFC 4180: CRLF line ends, quotes where needed)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(roster_to_rows(roster))
    return buffer.getvalue()


def write_roster(roster: Roster, path: str | os.PathLike[str]) -> None:
    """Replace the file at `path` with the roster, atomically: a crash leaves the old file or the new one."""
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(render_roster(roster))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
