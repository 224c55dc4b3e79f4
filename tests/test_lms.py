"""Semester gradebooks for Canvas, Moodle, Blackboard and plain CSV, checked byte for byte.

The headers are the ones each LMS's import reads (docs/gradebooks.md gives the sources):
Canvas's importer wants Student, ID, SIS User ID, SIS Login ID, Section and takes points
possible from a "Points Possible" row; Moodle's maps the first column, "ID number", to
useridnumber; Blackboard matches rows by Username and wants every value quoted.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.reports.lms import LMS_LAYOUTS, SessionGrades, gradebook_rows, render_gradebook, session_titles
from server.session.roster import Roster, RosterEntry
from server.session.roster_file import parse_roster

BOM = b"\xef\xbb\xbf"
DAY_MS = 86_400_000
MONDAY_MS = 1741003200000  # 2025-03-03 12:00 UTC

ROSTER = parse_roster(
    "student_id,first_name,last_name,email,section,login\n"
    "u1,Ann,Lee,ann.lee@uni.example,A,alee\n"
    "u2,Bob,Lee,,B,\n"
    "u3,=cmd|' /C calc'!A0,Smith,-evil@uni.example,+A,\n"
    "u4,Never,Joined,never@uni.example,A,\n",
    "roster.csv",
)
# u1 and u2 take part in week 1, u1 also in week 2 (overlap); g1 (not on the roster) only in
# week 1, g2 only in week 2; u4 is on the roster and never joins; u3's name is a formula.
WEEK_1 = SessionGrades(
    sid="cs101-w1",
    title="Week 1: Sorting",
    started_ms=MONDAY_MS,
    points_possible=3.0,
    points={"u1": 2.95, "u2": 1.0, "u3": 0.125, "g1": 1.5},
    names={"u1": "Annie", "u2": "Bob", "u3": "x", "g1": "Guest One"},
)
WEEK_2 = SessionGrades(
    sid="cs101-w2",
    title="Week 2: Graphs",
    started_ms=MONDAY_MS + 7 * DAY_MS,
    points_possible=2.0,
    points={"u1": 2.0, "g2": 0.333},
    names={"u1": "Ann", "g2": "@SUM(A1) Guest"},
)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# ---------------------------------------------------------------- each layout, byte for byte


def test_plain_layout() -> None:
    assert render_gradebook([WEEK_2, WEEK_1], ROSTER, "plain").encode() == (
        b"student_id,name,Week 1: Sorting (out of 3),Week 2: Graphs (out of 2),total,possible\r\n"
        b"g2,'@SUM(A1) Guest,0,0.33,0.33,5\r\n"
        b"u4,Never Joined,0,0,0,5\r\n"
        b"u1,Ann Lee,2.95,2,4.95,5\r\n"
        b"u2,Bob Lee,1,0,1,5\r\n"
        b"g1,Guest One,1.5,0,1.5,5\r\n"
        b"u3,'=cmd|' /C calc'!A0 Smith,0.13,0,0.13,5\r\n"
    )


def test_canvas_layout() -> None:
    assert render_gradebook([WEEK_2, WEEK_1], ROSTER, "canvas").encode() == (
        b"Student,ID,SIS User ID,SIS Login ID,Section,Week 1: Sorting,Week 2: Graphs,Final Points\r\n"
        b"Points Possible,,,,,3,2,(read only)\r\n"
        b"'@SUM(A1) Guest,,g2,,,0,0.33,0.33\r\n"
        b'"Joined, Never",,u4,never@uni.example,A,0,0,0\r\n'
        b'"Lee, Ann",,u1,alee,A,2.95,2,4.95\r\n'
        b'"Lee, Bob",,u2,,B,1,0,1\r\n'
        b"Guest One,,g1,,,1.5,0,1.5\r\n"
        b"\"Smith, =cmd|' /C calc'!A0\",,u3,'-evil@uni.example,'+A,0.13,0,0.13\r\n"
    )


def test_moodle_layout() -> None:
    assert render_gradebook([WEEK_2, WEEK_1], ROSTER, "moodle").encode() == (
        b"ID number,Email address,First name,Last name,"
        b"Week 1: Sorting (out of 3),Week 2: Graphs (out of 2),Total (out of 5)\r\n"
        b"g2,,'@SUM(A1),Guest,0,0.33,0.33\r\n"
        b"u4,never@uni.example,Never,Joined,0,0,0\r\n"
        b"u1,ann.lee@uni.example,Ann,Lee,2.95,2,4.95\r\n"
        b"u2,,Bob,Lee,1,0,1\r\n"
        b"g1,,Guest,One,1.5,0,1.5\r\n"
        b"u3,'-evil@uni.example,'=cmd|' /C calc'!A0,Smith,0.13,0,0.13\r\n"
    )


def test_blackboard_layout_quotes_every_value() -> None:
    text = render_gradebook([WEEK_2, WEEK_1], ROSTER, "blackboard")
    assert text.encode() == (
        b'"Last Name","First Name","Username",'
        b'"Week 1: Sorting (out of 3)","Week 2: Graphs (out of 2)","Total (out of 5)"\r\n'
        b'"Guest","\'@SUM(A1)","g2","0","0.33","0.33"\r\n'
        b'"Joined","Never","u4","0","0","0"\r\n'
        b'"Lee","Ann","alee","2.95","2","4.95"\r\n'
        b'"Lee","Bob","u2","1","0","1"\r\n'
        b'"One","Guest","g1","1.5","0","1.5"\r\n'
        b'"Smith","\'=cmd|\' /C calc\'!A0","u3","0.13","0","0.13"\r\n'
    )
    every_value_quoted = re.compile(r'"[^"]*"(,"[^"]*")*')
    assert all(every_value_quoted.fullmatch(line) for line in text.split("\r\n")[:-1])


def canvas_import(text: str) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """What Canvas's gradebook importer makes of a file, by the rules of its source
    (app/models/gradebook_importer.rb, restated here): [(new assignment, points possible)],
    and each row's grades by SIS User ID."""
    rows = rows_of(text.removeprefix("\ufeff"))
    header = rows[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1]
    student_columns = 3
    if re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        student_columns += 2
    assert "Section" in header[student_columns - 1]
    read_only = re.compile(
        "Current Score|Current Points|Current Grade|Final Score|Final Points|Final Grade|"
        "Override Score|Override Grade|Override Status"
    )
    kept = [i for i in range(student_columns, len(header)) if not read_only.search(header[i])]
    for i in kept:  # Assignment.title_and_id: "Title (123)" would name an existing assignment
        assert not re.fullmatch(r"(.*)\s\((\d+)\)", header[i])
    possible = next(row for row in rows[1:] if "Points Possible" in row[0])
    students = [row for row in rows[1:] if "Points Possible" not in row[0]]
    return [(header[i], possible[i]) for i in kept], {row[2]: [row[i] for i in kept] for row in students}


def test_canvas_importer_creates_one_assignment_per_session_with_its_points_possible() -> None:
    tricky = session("Final Score (2)", MONDAY_MS + 30 * DAY_MS)
    assignments, grades = canvas_import(render_gradebook([WEEK_1, WEEK_2, tricky], ROSTER, "canvas", excel=True))
    assert assignments == [("Week 1: Sorting", "3"), ("Week 2: Graphs", "2"), ("Final score (#2)", "1")]
    assert grades["u1"] == ["2.95", "2", "1"] and grades["u4"] == ["0", "0", "0"] and len(grades) == 6


@pytest.mark.parametrize(
    ("lms", "header"),
    [
        ("plain", b"student_id,name,"),
        ("canvas", b"Student,ID,SIS User ID,SIS Login ID,Section,"),
        ("moodle", b"ID number,Email address,"),
        ("blackboard", b'"Last Name","First Name","Username",'),
    ],
)
def test_headers_start_exactly_as_each_lms_reads_them(lms: str, header: bytes) -> None:
    assert render_gradebook([WEEK_1], None, lms).encode().startswith(header)
    assert render_gradebook([WEEK_1], None, lms, excel=True).encode().startswith(BOM + header)


# ---------------------------------------------------------------- who is in it, and what they get


@pytest.mark.parametrize("lms", LMS_LAYOUTS)
def test_every_student_once_absences_are_zero_and_totals_add_up(lms: str) -> None:
    rows = rows_of(render_gradebook([WEEK_1, WEEK_2], ROSTER, lms))
    body = rows[2:] if lms == "canvas" else rows[1:]
    id_column = {"plain": 0, "canvas": 2, "moodle": 0, "blackboard": 2}[lms]
    first_session = {"plain": 2, "canvas": 5, "moodle": 4, "blackboard": 3}[lms]
    by_id = {row[id_column]: row[first_session : first_session + 3] for row in body}
    by_id["u1"] = by_id.pop("alee") if lms == "blackboard" else by_id["u1"]  # Blackboard's Username is the login
    assert by_id == {
        "g2": ["0", "0.33", "0.33"],  # only in week 2
        "u4": ["0", "0", "0"],  # on the roster, never joined
        "u1": ["2.95", "2", "4.95"],  # in both
        "u2": ["1", "0", "1"],
        "g1": ["1.5", "0", "1.5"],  # only in week 1, not on the roster
        "u3": ["0.13", "0", "0.13"],
    }
    assert len(body) == len(by_id) == 6
    assert all(len(row) == len(rows[0]) for row in rows)


def test_without_a_roster_only_participants_are_listed_with_their_latest_name() -> None:
    week_3 = SessionGrades("w3", "Week 3", MONDAY_MS + 14 * DAY_MS, 1, {}, {"u1": "Ann Lee-Park", "u9": "Joined Only"})
    rows = rows_of(render_gradebook([WEEK_1, WEEK_2, week_3], None, "plain"))
    # Without a roster the last word of the name is taken as the family name.
    assert [row[:2] for row in rows[1:]] == [
        ["u2", "Bob"],
        ["g2", "'@SUM(A1) Guest"],
        ["u1", "Ann Lee-Park"],  # the name from the latest session
        ["g1", "Guest One"],
        ["u9", "Joined Only"],  # joined week 3 and answered nothing: still a row, with 0
        ["u3", "x"],
    ]
    assert rows[5][2:] == ["0", "0", "0", "0", "6"]


def test_the_roster_name_wins_over_the_name_joined_with() -> None:
    roster = Roster([RosterEntry("u1", "Ann Lee"), RosterEntry("u2", first_name="Bob")])
    rows = rows_of(render_gradebook([WEEK_1], roster, "plain"))
    names = {row[0]: row[1] for row in rows[1:]}
    assert (names["u1"], names["u2"]) == ("Ann Lee", "Bob")


def test_rows_are_ordered_by_last_name_first_name_then_id() -> None:
    roster = Roster(
        [
            RosterEntry("z9", first_name="ann", last_name="lee"),
            RosterEntry("a1", first_name="Ann", last_name="Lee"),
            RosterEntry("b2", first_name="Zed", last_name="Adams"),
            RosterEntry("c3", first_name="Bea", last_name="Lee"),
            RosterEntry("d4", first_name="Al", last_name="Ängström"),
        ]
    )
    rows = gradebook_rows([], roster, "plain")
    assert [row[0] for row in rows[1:]] == ["b2", "d4", "a1", "z9", "c3"]


def test_points_are_rounded_half_up_to_the_cent_and_totals_add_the_shown_cells() -> None:
    sessions = [
        SessionGrades(f"s{i}", f"Part {i}", MONDAY_MS + i, 1 / 3, {"u1": 1 / 3, "u2": value}, {})
        for i, value in enumerate([0.125, 0.005, 1.0])
    ]
    rows = gradebook_rows(sessions, None, "plain")
    assert rows[0][2:] == ["Part 0 (out of 0.33)", "Part 1 (out of 0.33)", "Part 2 (out of 0.33)", "total", "possible"]
    assert {row[0]: row[2:] for row in rows[1:]} == {
        "u1": ["0.33", "0.33", "0.33", "0.99", "0.99"],
        "u2": ["0.13", "0.01", "1", "1.14", "0.99"],
    }


def test_sessions_are_columns_in_start_order_whatever_the_input_order() -> None:
    assert gradebook_rows([WEEK_2, WEEK_1], None, "canvas")[0][5:7] == ["Week 1: Sorting", "Week 2: Graphs"]
    assert gradebook_rows([WEEK_1, WEEK_2], None, "canvas")[0][5:7] == ["Week 1: Sorting", "Week 2: Graphs"]


def test_no_sessions_gives_the_roster_with_a_zero_total() -> None:
    assert render_gradebook([], ROSTER, "canvas").split("\r\n")[:3] == [
        "Student,ID,SIS User ID,SIS Login ID,Section,Final Points",
        "Points Possible,,,,,(read only)",
        '"Joined, Never",,u4,never@uni.example,A,0',
    ]


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="lms must be one of plain, canvas, moodle, blackboard, not 'd2l'"):
        render_gradebook([WEEK_1], None, "d2l")


# ---------------------------------------------------------------- titles


def session(title: str, started_ms: int, sid: str = "") -> SessionGrades:
    return SessionGrades(sid or f"s{started_ms}", title, started_ms, 1, {"u1": 1}, {"u1": "Ann"})


def test_repeated_titles_get_their_date_then_a_number() -> None:
    sessions = [
        session("Quiz", MONDAY_MS),
        session("Quiz", MONDAY_MS + DAY_MS),
        session("quiz", MONDAY_MS + DAY_MS + 3_600_000),  # the same title up to case, the same day
        session("Other", MONDAY_MS + 2 * DAY_MS),
    ]
    assert session_titles(sessions) == ["Quiz (2025-03-03)", "Quiz (2025-03-04)", "quiz (2025-03-04) #2", "Other"]
    assert gradebook_rows(sessions, None, "canvas")[0][5:] == [*session_titles(sessions), "Final Points"]
    assert gradebook_rows(sessions, None, "moodle")[0][4:] == [
        "Quiz (2025-03-03) (out of 1)",
        "Quiz (2025-03-04) (out of 1)",
        "quiz (2025-03-04) #2 (out of 1)",
        "Other (out of 1)",
        "Total (out of 4)",
    ]


def test_a_title_equal_to_a_fixed_column_is_told_apart_and_an_empty_title_is_the_session_id() -> None:
    sessions = [
        session("Section", MONDAY_MS),
        session("total", MONDAY_MS + DAY_MS),
        session("  ", MONDAY_MS + 2 * DAY_MS, "w3"),
    ]
    assert session_titles(sessions) == ["Section (2025-03-03)", "total (2025-03-04)", "w3"]
    assert gradebook_rows(sessions, None, "plain")[0] == [
        "student_id",
        "name",
        "Section (2025-03-03) (out of 1)",
        "total (2025-03-04) (out of 1)",
        "w3 (out of 1)",
        "total",
        "possible",
    ]


def test_a_number_suffix_cannot_collide_with_a_real_title() -> None:
    sessions = [session("Quiz (2025-03-03) #2", 1), session("Quiz", MONDAY_MS), session("Quiz", MONDAY_MS + 1)]
    titles = session_titles(sessions)
    assert titles == ["Quiz (2025-03-03) #2", "Quiz (2025-03-03)", "Quiz (2025-03-03) #3"]


def test_canvas_titles_avoid_what_canvas_would_misread() -> None:
    sessions = [
        session("Final Score review", MONDAY_MS),  # Canvas drops columns named like its read-only totals
        session("Quiz (3)", MONDAY_MS + 1),  # Canvas reads " (3)" as assignment ID 3
        session("Current Points & Final Grade", MONDAY_MS + 2),
    ]
    assert gradebook_rows(sessions, None, "canvas")[0][5:] == [
        "Final score review",
        "Quiz (#3)",
        "Current points & Final grade",
        "Final Points",
    ]
    assert gradebook_rows(sessions, None, "plain")[0][2:5] == [
        "Final Score review (out of 1)",
        "Quiz (3) (out of 1)",
        "Current Points & Final Grade (out of 1)",
    ]


def test_formula_titles_are_neutralised() -> None:
    sessions = [session("=HYPERLINK(\"http://evil\")", MONDAY_MS), session("-1", MONDAY_MS + 1)]
    assert gradebook_rows(sessions, None, "canvas")[0][5:7] == ["'=HYPERLINK(\"http://evil\")", "'-1"]
    assert gradebook_rows(sessions, None, "blackboard")[0][3:5] == [
        "'=HYPERLINK(\"http://evil\") (out of 1)",
        "'-1 (out of 1)",
    ]


# ---------------------------------------------------------------- CSV hygiene


@pytest.mark.parametrize("lms", LMS_LAYOUTS)
def test_excel_adds_only_a_bom(lms: str) -> None:
    plain = render_gradebook([WEEK_1, WEEK_2], ROSTER, lms).encode()
    excel = render_gradebook([WEEK_1, WEEK_2], ROSTER, lms, excel=True).encode()
    assert excel == BOM + plain
    assert not plain.startswith(BOM)


def test_names_with_commas_quotes_and_line_breaks_survive_the_csv() -> None:
    roster = Roster([RosterEntry("u1", 'Dwayne "The Rock" Johnson, Jr.', section="A,\r\nB")])
    plain = rows_of(render_gradebook([WEEK_1], roster, "plain"))
    assert ["u1", 'Dwayne "The Rock" Johnson, Jr.'] in [row[:2] for row in plain]
    canvas = rows_of(render_gradebook([WEEK_1], roster, "canvas"))
    assert ['Dwayne "The Rock" Johnson, Jr.', "", "u1", "", "A,\r\nB"] in [row[:5] for row in canvas]
    moodle = rows_of(render_gradebook([WEEK_1], roster, "moodle"))
    # A whole name's last word is taken as the family name.
    assert ["u1", "", 'Dwayne "The Rock" Johnson,', "Jr."] in [row[:4] for row in moodle]
    for rows in (plain, canvas, moodle):
        assert all(len(row) == len(rows[0]) for row in rows)


# ---------------------------------------------------------------- any input


SIDS = st.sampled_from(["u1", "u2", "u3", "g1", "g2"])
NAMES = st.sampled_from(["", "Ann Lee", "=1+1", "Zoë", "a, b", 'q"q'])
POINTS = st.floats(min_value=0, max_value=100, allow_nan=False)
SESSIONS = st.lists(
    st.builds(
        SessionGrades,
        sid=st.from_regex(r"s[0-9]{1,3}", fullmatch=True),
        title=st.sampled_from(["Quiz", "quiz", "", "Total", "Final Score", "=x", "Week (1)"]),
        started_ms=st.integers(min_value=0, max_value=4 * DAY_MS),
        points_possible=POINTS,
        points=st.dictionaries(SIDS, POINTS, max_size=5),
        names=st.dictionaries(SIDS, NAMES, max_size=5),
    ),
    max_size=6,
    unique_by=lambda s: s.sid,
)


@settings(deadline=timedelta(milliseconds=800), max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(sessions=SESSIONS, on_roster=st.lists(SIDS, unique=True, max_size=3), lms=st.sampled_from(LMS_LAYOUTS))
def test_any_sessions_give_a_rectangular_gradebook_whose_totals_add_up(
    sessions: list[SessionGrades], on_roster: list[str], lms: str
) -> None:
    roster = Roster(RosterEntry(sid, f"Rostered {sid}") for sid in on_roster) if on_roster else None
    text = render_gradebook(sessions, roster, lms)
    rows = rows_of(text)
    assert all(len(row) == len(rows[0]) for row in rows)
    header = rows[0]
    fixed = {"plain": 2, "canvas": 5, "moodle": 4, "blackboard": 3}[lms]
    assert len(header) == fixed + len(sessions) + (2 if lms == "plain" else 1)
    assert len({title.casefold() for title in header}) == len(header)  # every column told apart
    body = rows[2:] if lms == "canvas" else rows[1:]
    expected = set(on_roster).union(*(s.points.keys() | s.names.keys() for s in sessions))
    assert len(body) == len(expected)
    for row in body:
        cells = [Decimal(cell) for cell in row[fixed : fixed + len(sessions)]]
        assert Decimal(row[fixed + len(sessions)]) == sum(cells, Decimal(0))
