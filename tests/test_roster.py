"""Rosters: the class list read from a CSV file, from quizctl's own columns or an LMS export.

The LMS examples have the header rows Canvas, Moodle and Blackboard write in their gradebook
exports (with made-up students), so a lecturer can hand quizctl the file they downloaded.
Every malformed example checks the exact message: file, line, what is wrong and the fix.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.session.roster import ROSTER_COLUMNS, Roster, RosterEntry, RosterError, new_entry
from server.session.roster_file import load_roster, parse_roster, render_roster, roster_to_rows, write_roster

POOLS = Path(__file__).parent.parent / "pools"
FUZZ = settings(
    deadline=timedelta(milliseconds=800),
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ID_FIX = "(fix: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)"
EMAIL_FIX = "(fix: write it as name@example.edu, or leave the cell empty)"
EXTRA_TIME_FIX = (
    "(fix: write the time multiplier, such as 1.5 for time and a half, or leave the cell empty for none)"
)


def problems_of(text: str, source: str = "class.csv") -> list[str]:
    with pytest.raises(RosterError) as caught:
        parse_roster(text, source)
    return caught.value.problems


# ---------------------------------------------------------------- quizctl's own columns


def test_all_columns_are_read_in_file_order() -> None:
    roster = parse_roster(
        "student_id,name,first_name,last_name,email,section,extra_time,login\n"
        "s2,Zoë Ångström,Zoë,Ångström,zoe@uni.example,A,1.5,zangst\n"
        "s1,,Ann,Lee,,B,,\n",
        "class.csv",
    )
    assert list(roster.entries) == ["s2", "s1"]
    assert roster.entries["s2"] == RosterEntry(
        "s2", "Zoë Ångström", "Zoë", "Ångström", "zoe@uni.example", "A", 1.5, "zangst"
    )
    assert roster.get("s1") == RosterEntry("s1", first_name="Ann", last_name="Lee", section="B")
    assert roster.get("nobody") is None
    assert "s1" in roster and "S1" not in roster  # IDs are case-sensitive, as on the server
    assert len(roster) == 2


def test_display_name_is_the_name_else_first_and_last_else_the_id() -> None:
    assert RosterEntry("s1", "Ann Lee", "A", "L").display_name == "Ann Lee"
    assert RosterEntry("s1", first_name="Ann", last_name="Lee").display_name == "Ann Lee"
    assert RosterEntry("s1", last_name="Lee").display_name == "Lee"
    assert RosterEntry("s1", first_name="Ann").display_name == "Ann"
    assert RosterEntry("s1").display_name == "s1"


def test_the_example_roster_has_six_students_one_with_extra_time() -> None:
    roster = load_roster(POOLS / "example-roster.csv")
    assert len(roster) == 6
    assert [entry.student_id for entry in roster if entry.extra_time != 1.0] == ["s2025003"]
    assert roster.entries["s2025003"].extra_time == 1.5
    assert all(entry.email and entry.section and entry.first_name and entry.last_name for entry in roster)


# ---------------------------------------------------------------- header spellings

SPELLINGS = [
    # (header, field, cell, expected value)
    ("student_id", "student_id", "u1", "u1"),
    ("Student ID", "student_id", "u1", "u1"),
    ("STUDENT-ID", "student_id", "u1", "u1"),
    ("studentid", "student_id", "u1", "u1"),
    ("Student number", "student_id", "u1", "u1"),
    ("SIS User ID", "student_id", "u1", "u1"),
    ("ID number", "student_id", "u1", "u1"),
    ("idnumber", "student_id", "u1", "u1"),
    ("Username", "student_id", "u1", "u1"),
    ("SIS Login ID", "student_id", "u1", "u1"),
    ("ID", "student_id", "u1", "u1"),
    ("id", "student_id", "u1", "u1"),
    ("  Id  ", "student_id", "u1", "u1"),
    ("name", "name", "Ann Lee", "Ann Lee"),
    ("Full name", "name", "Ann Lee", "Ann Lee"),
    ("Student name", "name", "Ann Lee", "Ann Lee"),
    ("first_name", "first_name", "Ann", "Ann"),
    ("First name", "first_name", "Ann", "Ann"),
    ("First Name", "first_name", "Ann", "Ann"),
    ("firstname", "first_name", "Ann", "Ann"),
    ("Given name", "first_name", "Ann", "Ann"),
    ("last_name", "last_name", "Lee", "Lee"),
    ("Last name", "last_name", "Lee", "Lee"),
    ("Last Name", "last_name", "Lee", "Lee"),
    ("Surname", "last_name", "Lee", "Lee"),
    ("Family name", "last_name", "Lee", "Lee"),
    ("email", "email", "ann@uni.example", "ann@uni.example"),
    ("Email", "email", "ann@uni.example", "ann@uni.example"),
    ("e-mail", "email", "ann@uni.example", "ann@uni.example"),
    ("E-Mail", "email", "ann@uni.example", "ann@uni.example"),
    ("mail", "email", "ann@uni.example", "ann@uni.example"),
    ("Email address", "email", "ann@uni.example", "ann@uni.example"),
    ("section", "section", "CS101 A", "CS101 A"),
    ("Section", "section", "CS101 A", "CS101 A"),
    ("extra_time", "extra_time", "1.5", 1.5),
    ("Extra Time", "extra_time", "2", 2.0),
    ("login", "login", "alee", "alee"),
    ("Login ID", "login", "alee", "alee"),
]


@pytest.mark.parametrize(("header", "field", "cell", "expected"), SPELLINGS)
def test_every_accepted_spelling_is_read(header: str, field: str, cell: str, expected: object) -> None:
    if field == "student_id":
        roster = parse_roster(f"{header},name\n{cell},Ann\n", "class.csv")
    else:
        roster = parse_roster(f"student_id,{header}\nu1,{cell}\n", "class.csv")
    (entry,) = roster
    assert getattr(entry, field) == expected


def test_canvas_student_column_holds_last_comma_first() -> None:
    (entry,) = parse_roster('Student,SIS User ID\n"García López, Lucía María",u1\n', "canvas.csv")
    assert (entry.first_name, entry.last_name, entry.name) == ("Lucía María", "García López", "")
    assert entry.display_name == "Lucía María García López"
    (entry,) = parse_roster("Student,SIS User ID\nMadonna,u1\n", "canvas.csv")
    assert (entry.first_name, entry.last_name, entry.name) == ("", "", "Madonna")


def test_first_and_last_name_columns_win_over_canvas_student_split() -> None:
    (entry,) = parse_roster('Student,First Name,SIS User ID\n"Lee, Ann",Annie,u1\n', "c.csv")
    assert (entry.first_name, entry.last_name) == ("Annie", "Lee")


def test_unknown_columns_are_ignored() -> None:
    (entry,) = parse_roster("Phone,student_id,Favourite colour,,Notes\n555,u1,blue,x,=1+1\n", "class.csv")
    assert entry == RosterEntry("u1")


# ---------------------------------------------------------------- LMS exports


CANVAS_EXPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Integration ID,Section,Week 1 Quiz (48213),Essay (48214),"
    "Assignments Current Score,Assignments Unposted Current Score,Current Score,Unposted Current Score,"
    "Final Score,Unposted Final Score\r\n"
    "    Points Possible,,,,,,10.00,20.00,(read only),(read only),(read only),(read only),(read only),(read only)\r\n"
    '"Lee, Ann",90001,2025001,alee,,CS101 Section A,8.00,15.00,76.67,76.67,76.67,76.67,76.67,76.67\r\n'
    '"Okafor, Amara",90002,2025002,aokafor,,CS101 Section A,10.00,,100.00,100.00,100.00,100.00,33.33,33.33\r\n'
    '"Student, Test",90003,,90003-test,,CS101 Section A,,,,,,,,\r\n'
)


def test_canvas_gradebook_export_reads_sis_user_id_as_the_student_id() -> None:
    roster = parse_roster(CANVAS_EXPORT, "canvas.csv")
    assert list(roster) == [
        RosterEntry("2025001", first_name="Ann", last_name="Lee", section="CS101 Section A", login="alee"),
        RosterEntry("2025002", first_name="Amara", last_name="Okafor", section="CS101 Section A", login="aokafor"),
    ]  # the Points Possible row and Canvas's Test Student (no SIS User ID) are not students


def test_canvas_export_without_sis_user_ids_falls_back_to_sis_login_id() -> None:
    text = 'Student,ID,SIS User ID,SIS Login ID,Section\n"Lee, Ann",90001,,alee,A\n"Okafor, Amara",90002,,aokafor,A\n'
    assert [entry.student_id for entry in parse_roster(text, "canvas.csv")] == ["alee", "aokafor"]


def test_canvas_manual_posting_row_is_skipped() -> None:
    text = "Student,ID,SIS User ID,Section,Quiz\n,,,,Manual Posting\n\"Lee, Ann\",1,u1,A,5\n"
    assert [entry.student_id for entry in parse_roster(text, "canvas.csv")] == ["u1"]


MOODLE_EXPORT = (
    "First name,Last name,ID number,Institution,Department,Email address,"
    "Quiz: Week 1 (Real),Course total (Real),Last downloaded from this course\r\n"
    "Ann,Lee,2025001,Uni,CS,ann.lee@uni.example,8.00,8.00,1741000000\r\n"
    "Amara,Okafor,2025002,Uni,CS,amara@uni.example,-,-,1741000000\r\n"
)


def test_moodle_grade_export_reads_id_number_and_email() -> None:
    assert list(parse_roster(MOODLE_EXPORT, "moodle.csv")) == [
        RosterEntry("2025001", first_name="Ann", last_name="Lee", email="ann.lee@uni.example"),
        RosterEntry("2025002", first_name="Amara", last_name="Okafor", email="amara@uni.example"),
    ]


def test_older_moodle_export_with_surname_and_username() -> None:
    text = "First name,Surname,Username,ID number,Email address\nAnn,Lee,alee,,ann@uni.example\n"
    (entry,) = parse_roster(text, "moodle.csv")
    # ID number is empty on every row, so the next ID column, Username, is the student ID.
    assert entry == RosterEntry("alee", first_name="Ann", last_name="Lee", email="ann@uni.example", login="alee")


BLACKBOARD_EXPORT = (
    '"Last Name","First Name","Username","Student ID","Last Access","Availability",'
    '"Quiz 1 [Total Pts: 10 Score] |1234"\r\n'
    '"Lee","Ann","alee","2025001","2025-03-01 10:00:00","Yes","8.00"\r\n'
    '"Okafor","Amara","aokafor","2025002","2025-03-01 10:05:00","Yes",""\r\n'
)


def test_blackboard_export_prefers_student_id_and_keeps_the_username_as_login() -> None:
    assert list(parse_roster(BLACKBOARD_EXPORT, "bb.csv")) == [
        RosterEntry("2025001", first_name="Ann", last_name="Lee", login="alee"),
        RosterEntry("2025002", first_name="Amara", last_name="Okafor", login="aokafor"),
    ]


def test_blackboard_export_without_student_ids_uses_the_username() -> None:
    text = BLACKBOARD_EXPORT.replace('"2025001"', '""').replace('"2025002"', '""')
    assert [(e.student_id, e.login) for e in parse_roster(text, "bb.csv")] == [("alee", "alee"), ("aokafor", "aokafor")]


def test_an_explicit_student_id_column_beats_every_lms_id_column() -> None:
    text = "ID,SIS Login ID,Username,ID number,SIS User ID,student_id\n1,login,user,idnum,sis,mine\n"
    assert [entry.student_id for entry in parse_roster(text, "class.csv")] == ["mine"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ID,SIS Login ID,Username,ID number,SIS User ID", "sis"),
        ("ID,SIS Login ID,Username,ID number", "idnum"),
        ("ID,SIS Login ID,Username", "user"),
        ("ID,SIS Login ID", "login"),
        ("ID", "1"),
    ],
)
def test_id_column_precedence(header: str, expected: str) -> None:
    values = {"ID": "1", "SIS Login ID": "login", "Username": "user", "ID number": "idnum", "SIS User ID": "sis"}
    row = ",".join(values[name] for name in header.split(","))
    assert [entry.student_id for entry in parse_roster(f"{header}\n{row}\n", "class.csv")] == [expected]


# ---------------------------------------------------------------- encodings and separators


def test_utf8_bom_crlf_and_semicolons_with_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffstudent_id;Name;extra_time\r\nu1;Zoë Ångström;1,5\r\nu2;Ann;\r\n".encode())
    roster = load_roster(path)
    assert list(roster) == [RosterEntry("u1", "Zoë Ångström", extra_time=1.5), RosterEntry("u2", "Ann")]


def test_tab_separated_file() -> None:
    roster = parse_roster("student_id\tname\nu1\tLee, Ann\n", "class.tsv")
    assert list(roster) == [RosterEntry("u1", "Lee, Ann")]


def test_excel_sep_line_chooses_the_separator_and_counts_as_a_line() -> None:
    assert list(parse_roster("sep=;\nid;name\nu1;Ann, Lee\n", "x.csv")) == [RosterEntry("u1", "Ann, Lee")]
    assert problems_of("sep=;\r\nid;email\r\nu1;nope\r\n") == [
        f"class.csv:3: email 'nope' is not an email address {EMAIL_FIX}"
    ]


def test_blank_lines_are_skipped_and_lines_are_counted_as_in_an_editor() -> None:
    text = '\n\nstudent_id,name\n\nu1,"Ann\nLee"\n ,  \n u2 ,Bob\nbad id,Cid\n'
    assert problems_of(text) == [
        f"class.csv:9: student ID 'bad id' is not valid {ID_FIX}"
    ]
    roster = parse_roster(text.replace("bad id", "u3"), "class.csv")
    assert list(roster.entries) == ["u1", "u2", "u3"]  # cells are trimmed
    assert roster.entries["u1"].name == "Ann Lee"  # whitespace folded as the server folds names


# ---------------------------------------------------------------- problems


def test_every_problem_is_reported_with_its_line_and_fix() -> None:
    text = (
        "student_id,name,email,extra_time\n"
        "u1,Ann,ann@uni.example,\n"
        "-u2,Bob,bob@uni.example,\n"
        "u3,Cid,not-an-email,\n"
        "u1,Ann again,,\n"
        "u4,Dee,,0.5\n"
        "u5,Eve,,11\n"
        "u6,Fay,,one and a half\n"
        ",Gus,,\n"
        "u7,\u202eevil,,\n"
        "u8,Hal,,10\n"
    )
    assert problems_of(text) == [
        f"class.csv:3: student ID '-u2' is not valid {ID_FIX}",
        f"class.csv:4: email 'not-an-email' is not an email address {EMAIL_FIX}",
        "class.csv:5: student ID 'u1' is also on line 2 (fix: keep one of the two rows, or correct the ID)",
        f"class.csv:6: extra_time '0.5' is not a number from 1 to 10 {EXTRA_TIME_FIX}",
        f"class.csv:7: extra_time '11' is not a number from 1 to 10 {EXTRA_TIME_FIX}",
        f"class.csv:8: extra_time 'one and a half' is not a number from 1 to 10 {EXTRA_TIME_FIX}",
        "class.csv:9: no student ID in column 'student_id' (fix: fill it in, or delete the row)",
        "class.csv:10: name '\\u202eevil': Name contains characters that are not allowed. "
        + "(fix: correct the name in the file)",
    ]


@pytest.mark.parametrize("value", ["nan", "inf", "1e0", "1_0", "-1.5", "1.5x", "0", "10.01", "1..5"])
def test_extra_time_must_be_a_plain_number_from_1_to_10(value: str) -> None:
    (problem,) = problems_of(f"student_id,extra_time\nu1,{value}\n")
    assert problem.startswith(f"class.csv:2: extra_time {value!r} is not a number from 1 to 10 (fix: ")


@pytest.mark.parametrize("value", ["1", "1.0", "10", "2,25", "1.333333"])
def test_extra_time_accepts_multipliers_from_1_to_10(value: str) -> None:
    (entry,) = parse_roster(f"student_id;extra_time\nu1;{value}\n", "class.csv")
    assert entry.extra_time == float(value.replace(",", "."))


@pytest.mark.parametrize("value", ["ann", "ann@", "@uni.example", "ann@uni", "ann@@uni.example", "a b@uni.example"])
def test_malformed_emails_are_errors(value: str) -> None:
    assert problems_of(f"student_id,email\nu1,{value}\n") == [
        f"class.csv:2: email {value!r} is not an email address {EMAIL_FIX}"
    ]


def test_a_duplicate_names_both_lines_even_far_apart() -> None:
    rows = "".join(f"u{i},Student {i}\n" for i in range(1, 40))
    assert problems_of(f"student_id,name\n{rows}u7,Again\n") == [
        "class.csv:41: student ID 'u7' is also on line 8 (fix: keep one of the two rows, or correct the ID)"
    ]


def test_header_problems() -> None:
    assert problems_of("name,email\nAnn,ann@uni.example\n") == [
        "class.csv:1: the header has no student ID column (fix: name the column of student IDs student_id "
        + "(also read: Student ID, SIS User ID, ID number, Username, SIS Login ID, ID))"
    ]
    assert problems_of("student_id,email,E-mail\nu1,a@uni.example,b@uni.example\n") == [
        "class.csv:1: columns 'email' and 'E-mail' both give the email "
        + "(fix: delete one of the two columns or rename it)"
    ]
    assert problems_of("ID,name,id\n1,Ann,2\n") == [
        "class.csv:1: columns 'ID' and 'id' both give the student ID (fix: delete one of the two columns)"
    ]


def test_empty_file_header_only_and_empty_id_column() -> None:
    empty = "class.csv:1: the file is empty (fix: start it with a header line such as {})"
    assert problems_of("") == [empty.format("student_id,name,email,section,extra_time")]
    assert problems_of("\ufeff\r\n \r\n") == [empty.format("student_id,name,email,section,extra_time")]
    assert problems_of("student_id,name\r\n\r\n") == [
        "class.csv:1: the roster has no students (fix: add one row per student under the header)"
    ]
    assert problems_of("ID number,First name\n,Ann\n,Bob\n") == [
        "class.csv:1: the student ID column 'ID number' is empty on every row "
        + "(fix: fill in the students' IDs, or name the column that holds them student_id)"
    ]


def test_broken_quotes_stop_at_the_row_they_are_on() -> None:
    (problem,) = problems_of('student_id,name\nu1,Ann\nu2,"Bob\nu3,Cid\n')  # would swallow u3
    assert problem.startswith("class.csv:3: cannot read the CSV: unexpected end of data (fix: ")
    (problem,) = problems_of('student_id,name\nu1,"Ann" Lee\n')
    assert problem.startswith("class.csv:2: cannot read the CSV: ")
    assert problem.endswith(
        '(fix: check the quotes on this row: a cell with a quote inside is written "like ""this""")')


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(RosterError) as caught:
        load_roster(tmp_path / "missing.csv")
    assert caught.value.problems == [f"{tmp_path / 'missing.csv'}: no such file (fix: check the path)"]
    with pytest.raises(RosterError) as caught:
        load_roster(tmp_path)
    assert caught.value.problems == [f"{tmp_path}: is a directory (fix: give the path of the roster's .csv file)"]
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("student_id,name\nu1,Ann\nu2,Zo\u00eb\n".encode("latin-1"))
    with pytest.raises(RosterError) as caught:
        load_roster(latin1)
    assert caught.value.problems == [
        f'{latin1}:3: not valid UTF-8 (fix: save the file as UTF-8, in Excel as "CSV UTF-8")'
    ]


def test_the_message_lists_the_problems() -> None:
    text = "student_id\n" + "".join("bad id\n" for _ in range(40))
    with pytest.raises(RosterError) as caught:
        parse_roster(text, "class.csv")
    assert len(caught.value.problems) == 40
    lines = str(caught.value).split("\n")
    assert lines[0] == caught.value.problems[0] and lines[-1] == "… and 10 more"


# ---------------------------------------------------------------- changing and writing back


def test_add_and_remove() -> None:
    roster = parse_roster("student_id,name\nu1,Ann\n", "class.csv")
    roster.add(new_entry("u2", "Bob Lee", email="bob@uni.example", extra_time="1,5"))
    assert roster.get("u2") == RosterEntry("u2", "Bob Lee", email="bob@uni.example", extra_time=1.5)
    with pytest.raises(RosterError) as caught:
        roster.add(RosterEntry("u1", "Other Ann"))
    assert caught.value.problems == [
        "student ID 'u1' is already on the roster (fix: remove it first, or use another ID)"
    ]
    assert roster.remove("u1") == RosterEntry("u1", "Ann")
    assert list(roster.entries) == ["u2"]
    with pytest.raises(RosterError) as caught:
        roster.remove("u1")
    assert caught.value.problems == ["student ID 'u1' is not on the roster (fix: check the ID)"]


def test_new_entry_checks_like_a_file_row() -> None:
    with pytest.raises(RosterError) as caught:
        new_entry("bad id", "Ann", email="nope", extra_time=20.0)
    assert caught.value.problems == [
        "student ID 'bad id' is not valid " + ID_FIX,
        f"email 'nope' is not an email address {EMAIL_FIX}",
        f"extra_time '20.0' is not a number from 1 to 10 {EXTRA_TIME_FIX}",
    ]
    assert new_entry(" u1 ", "  Ann   Lee ") == RosterEntry("u1", "Ann Lee")


def test_written_roster_reads_back_equal(tmp_path: Path) -> None:
    roster = parse_roster(CANVAS_EXPORT, "canvas.csv")
    roster.add(new_entry("u9", 'Dwayne "The Rock" Johnson, Jr.', section="B; evening", extra_time=2.5))
    assert roster_to_rows(roster)[0] == list(ROSTER_COLUMNS)
    assert roster_to_rows(roster)[-1] == ["u9", 'Dwayne "The Rock" Johnson, Jr.', "", "", "", "B; evening", "2.5", ""]
    text = render_roster(roster)
    assert text.startswith("student_id,name,first_name,last_name,email,section,extra_time,login\r\n")
    assert parse_roster(text, "again.csv") == roster
    path = tmp_path / "roster.csv"
    path.write_text("old contents")
    write_roster(roster, path)
    assert load_roster(path) == roster
    assert [p.name for p in tmp_path.iterdir()] == ["roster.csv"]  # no temporary file left behind


# ---------------------------------------------------------------- fuzzing


@FUZZ
@given(st.text())
def test_arbitrary_text_raises_nothing_but_roster_error(text: str) -> None:
    try:
        roster = parse_roster(text, "fuzz.csv")
    except RosterError as exc:
        assert exc.problems and all(problem.startswith("fuzz.csv:") for problem in exc.problems)
    else:
        assert len(roster) > 0


ROSTER_ALPHABET = st.sampled_from(
    ["u1", "u2", "Ann", "", " ", ",", ";", "\t", '"', "\n", "\r\n", "@", "1,5", "é", "\x00"]
)
HEADER_NAMES = [*ROSTER_COLUMNS, "ID", "Student", "SIS User ID", "Email address", "x"]


@FUZZ
@given(
    header=st.lists(st.sampled_from(HEADER_NAMES), max_size=6),
    cells=st.lists(ROSTER_ALPHABET, max_size=40),
)
def test_near_valid_rosters_raise_nothing_but_roster_error(header: list[str], cells: list[str]) -> None:
    text = ",".join(header) + "\n" + "".join(cells)
    try:
        roster = parse_roster(text, "fuzz.csv")
    except RosterError as exc:
        assert exc.problems and all(problem.startswith("fuzz.csv:") for problem in exc.problems)
    else:
        assert parse_roster(render_roster(roster), "again.csv") == roster


NAME = st.text(st.characters(codec="utf-8", categories=("L", "Zs", "P")), max_size=30)


@FUZZ
@given(
    st.lists(
        st.builds(
            new_entry,
            student_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
            name=NAME,
            first_name=NAME,
            last_name=NAME,
            section=NAME,
            extra_time=st.sampled_from([1.0, 1.25, 1.5, 2.0, 10.0]),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda entry: entry.student_id,
    )
)
def test_any_valid_roster_round_trips(entries: list[RosterEntry]) -> None:
    roster = Roster(entries, "generated")
    assert parse_roster(render_roster(roster), "again.csv") == roster
