"""Question-bank importers: GIFT, Aiken, Moodle XML and CSV into pools, GIFT back out, and the CLI.

Examples follow the shapes of Moodle's own documentation for each format (written
afresh here).  Every malformed example checks the line (and fix) it is reported with.
Every import is checked by the pool loader; round trips compare whole pools as the
loader reads them. The CLI runs as a real subprocess, and `quizctl serve BANK` as a
real server that a student joins over a websocket.
"""

from __future__ import annotations

import base64
import json
import random
import re
import struct
import time
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quizctl.pool_commands import BANK_FORMATS
from server.quiz.importers import (
    FORMATS,
    BankError,
    ImportProblem,
    ImportResult,
    export_gift,
    import_bank,
    import_data,
    parse_bank,
    pool_json,
)
from server.quiz.importers.gift import parse_gift
from server.quiz.importers.html_markdown import html_to_markdown
from server.quiz.pool import load_pool, parse_pool
from tests.helpers import WAIT_S, ServerProcess, WebSocketClient, quizctl

POOLS_DIR = Path(__file__).parent.parent / "pools"
FUZZ = settings(
    deadline=timedelta(milliseconds=800),
    max_examples=120,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def load(tmp_path: Path, name: str, content: str | bytes, **options: Any) -> ImportResult:
    return import_bank(write(tmp_path, name, content), **options)


def failure(tmp_path: Path, name: str, content: str | bytes, **options: Any) -> BankError:
    with pytest.raises(BankError) as caught:
        load(tmp_path, name, content, **options)
    return caught.value


def lines_of(problems: list[ImportProblem]) -> list[int]:
    return [problem.line for problem in problems]


def gift_questions(text: str, **options: Any) -> list[dict[str, Any]]:
    return parse_gift(text, "bank.gift", **options).questions


# ================================================================ GIFT

DOC_STYLE_GIFT = """\
// Shapes from Moodle's GIFT documentation.
Who is buried in Grant's tomb?{~Grant ~Jefferson =no one}

::Capitals::What is the capital of Australia? {
    ~Sydney#The largest city, not the capital.
    =Canberra#Right.
    ~Melbourne
}

Which two of these are prime numbers? {
    ~%50%Two
    ~%50%Three
    ~%-100%Four
}

Grant was buried in Grant's tomb.{F}

The sun rises in the east.{TRUE}

When was Ulysses S. Grant born?{#1822}

What is pi to 3 decimal places? {#3.1415:0.0005}

Name a number between 1 and 5. {#1..5}

When was Grant born? {#
    =1822:0
    =%50%1822:2
}

Who is buried in Grant's tomb?{=no one =nobody}

$CATEGORY: $course$/top/Maths

::Fractions::[html]<p>What is <b>\\(\\frac\\{1\\}\\{2\\} + \\frac\\{1\\}\\{4\\}\\)</b>?</p>{
    =\\(\\frac\\{3\\}\\{4\\}\\)
    ~\\(\\frac\\{2\\}\\{6\\}\\)
    ####<p>Use the common denominator <em>4</em>.</p>
}
"""

DOC_STYLE_EXPECTED: list[dict[str, Any]] = [
    {
        "type": "single",
        "text": "Who is buried in Grant's tomb?",
        "options": {"A": "Grant", "B": "Jefferson", "C": "no one"},
        "correct": "C",
    },
    {
        "type": "single",
        "text": "What is the capital of Australia?",
        "options": {"A": "Sydney", "B": "Canberra", "C": "Melbourne"},
        "correct": "B",
    },
    {
        "type": "multiple",
        "text": "Which two of these are prime numbers?",
        "options": {"A": "Two", "B": "Three", "C": "Four"},
        "correct": ["A", "B"],
    },
    {"type": "true_false", "text": "Grant was buried in Grant's tomb.", "correct": False},
    {"type": "true_false", "text": "The sun rises in the east.", "correct": True},
    {"type": "numeric", "text": "When was Ulysses S. Grant born?", "correct": 1822},
    {"type": "numeric", "text": "What is pi to 3 decimal places?", "correct": 3.1415, "tolerance": 0.0005},
    {"type": "numeric", "text": "Name a number between 1 and 5.", "range": [1, 5]},
    {"type": "numeric", "text": "When was Grant born?", "correct": 1822},
    {"type": "text", "text": "Who is buried in Grant's tomb?", "accept": ["no one", "nobody"]},
    {
        "type": "single",
        "text": "What is **$\\frac{1}{2} + \\frac{1}{4}$**?",
        "options": {"A": "$\\frac{3}{4}$", "B": "$\\frac{2}{6}$"},
        "correct": "A",
        "explanation": "Use the common denominator *4*.",
        "tags": ["$course$/top/Maths"],
    },
]


def test_gift_in_the_documented_shapes_imports_to_the_expected_pool(tmp_path: Path) -> None:
    result = load(tmp_path, "week3.gift", DOC_STYLE_GIFT)
    assert result.pool == {
        "title": "week3",
        "time_limit_default": 30,
        "score_fn": "speed_linear",
        "questions": DOC_STYLE_EXPECTED,
    }
    assert result.assets == []
    # Partial credit on the numeric question is dropped with a warning naming its line.
    assert [(w.line, "partial credit" in w.message) for w in result.warnings] == [(26, True)]


def test_gift_escapes_specials_and_backslash() -> None:
    (question,) = gift_questions(
        "Which is NOT a GIFT control character? {\n"
        "   ~ \\~ # tilde is one\n"
        "   ~ \\= \n"
        "   ~ \\# \n"
        "   ~ \\{ and \\} \n"
        "   ~ a\\: b\n"
        "   = \\\\ # backslash only escapes\n"
        "}"
    )
    # Plain text is escaped for Markdown: "#" and "=" at the start, "\" everywhere.
    assert question["options"] == {"A": "\\~", "B": "\\=", "C": "\\#", "D": "{ and }", "E": "a: b", "F": "\\\\"}
    assert question["correct"] == "F"


def test_gift_escaped_newline_and_multi_line_question() -> None:
    (first, second) = gift_questions(
        "First line\\nsecond line {T}\n\n::t::Japanese characters originally\ncame from what country? {=China}"
    )
    assert first["text"] == "First line\nsecond line"
    assert second == {
        "type": "text",
        "text": "Japanese characters originally\ncame from what country?",
        "accept": ["China"],
    }


@pytest.mark.parametrize(
    ("gift", "text"),
    [
        ("[plain]Is 2*3*4 = 24? #1 {T}", "Is 2\\*3\\*4 = 24? #1"),
        ("[moodle]# not a heading, <b>not bold</b> {T}", "\\# not a heading, \\<b>not bold\\</b> {T}"[:-4]),
        ("[markdown]Is **this** bold? {T}", "Is **this** bold?"),
        ("[html]<p>Is <strong>this</strong> bold?<br>Yes</p><script>x()</script> {T}", "Is **this** bold?\\\nYes"),
        ("[html]<ul><li>one</li><li>two</li></ul><pre>a < b</pre> {T}", "- one\n- two\n\n```\na < b\n```"),
        ("Costs $5, or \\(x^2\\), or $$\\int f$$, or \\[y\\] {T}", "Costs \\$5, or $x^2$, or $$\\int f$$, or $$y$$"),
    ],
)
def test_gift_text_formats_become_markdown(gift: str, text: str) -> None:
    (question,) = gift_questions(gift)
    assert question["text"] == text


def test_gift_answer_formats_and_feedback_default_to_the_question_format() -> None:
    (question,) = gift_questions("[html]<p>Pick</p>{=<b>this</b>#<i>yes</i> ~[plain]<b>that</b>####<p>Because.</p>}")
    assert question["options"] == {"A": "**this**", "B": "\\<b>that\\</b>"}
    assert question["explanation"] == "Because."


def test_gift_category_tags_following_questions_until_the_next_category() -> None:
    questions = gift_questions(
        "Untagged {T}\n\n$CATEGORY: $course$/top/Week 1\n\nOne {T}\n\nTwo {F}\n\n"
        "$CATEGORY: $course$/top/Week 2\nThree {T}"
    )
    assert [q.get("tags") for q in questions] == [
        None,
        ["$course$/top/Week 1"],
        ["$course$/top/Week 1"],
        ["$course$/top/Week 2"],
    ]


def test_gift_answer_before_closing_punctuation_is_a_blank_at_the_end() -> None:
    (question,) = gift_questions("Jesus Christ was from {=Nazareth =Nazereth}.")
    assert question["text"] == "Jesus Christ was from \\_\\_\\_\\_\\_."


def test_gift_numeric_forms() -> None:
    questions = gift_questions(
        "a {#-5}\n\nb {#2.5:0.5}\n\nc {#-3..-1}\n\nd {#=1e3:10 =%50%999}\n\ne {#\n=42#right\n~#wrong: any other}"
    )
    assert [{k: v for k, v in q.items() if k in ("correct", "tolerance", "range")} for q in questions] == [
        {"correct": -5},
        {"correct": 2.5, "tolerance": 0.5},
        {"range": [-3, -1]},
        {"correct": 1000, "tolerance": 10},
        {"correct": 42},
    ]


SKIPPED_GIFT = [
    ("Match these. {\n=cat -> animal\n=oak -> tree\n}", "matching"),
    ("Write an essay about sorting. {}", "essay"),
    ("Grant is {~buried =entombed} in Grant's tomb.", "missing-word"),
    ("Just some text that introduces the next part.", "description"),
]


@pytest.mark.parametrize(("block", "kind"), SKIPPED_GIFT)
def test_gift_kinds_quizctl_cannot_run_are_skipped_with_a_warning_naming_the_line(
    tmp_path: Path, block: str, kind: str
) -> None:
    text = f"// header\nKept {{T}}\n\n{block}\n\nAlso kept {{F}}\n"
    result = load(tmp_path, "b.gift", text)
    assert [q["text"] for q in result.pool["questions"]] == ["Kept", "Also kept"]
    (warning,) = result.warnings
    assert warning.line == 4 and kind in warning.message and "skipped" in warning.message
    assert str(warning).startswith(f"{tmp_path / 'b.gift'}:4: ")

    error = failure(tmp_path, "b.gift", text, strict=True)
    assert lines_of(error.problems) == [4] and kind in error.problems[0].message


GIFT_ERRORS = [
    ("Q {=a ~b ~c ~d ~e ~f\n~g}", 2, None, "7 options", "remove 1 option"),
    ("Q {=a ~b", 1, 3, "not closed", "close it with }"),
    ("Q } {=a ~b}", 1, 3, "} with no {", "\\}"),
    ("Q {=a ~b} }", 1, 11, "second }", "\\}"),
    ("Q {=\\frac{1}{2} ~b}", 1, 10, "{ inside an answer block", "\\{"),
    ("Q {=a =b ~c}", 1, None, "2 options are marked right", "~%50%"),
    ("Q {~a ~b ~c}", 1, None, "no option is marked right", "mark the right option with ="),
    ("Q {~%-50%a ~%0%b}", 1, None, "no option is marked right", "positive weights"),
    ("Q {#abc}", 1, None, "not a number", "{#3.14:0.01}"),
    ("Q {#5..1}", 1, None, "runs backwards", "low end first"),
    ("Q {#1:-2}", 1, None, "not a number", "tolerance"),
    ("Q {=a ~}", 1, None, "option B is empty", "write its text"),
    ("Q {~only}", 1, None, "1 option(s)", "add options"),
    ("{=a ~b}", 1, None, "question text is empty", "write some text"),
    ("Q {=%50%half}", 1, None, "no answer has full credit", "{=answer"),
    # The pool loader's own rules, reported at the question's line:
    ("Q {=" + "a" * 101 + "}", 1, None, "accepted answer 1 is 101 characters long, the limit is 100", "shorten it"),
    ("[markdown]Q {=a ~$\\frac$}", 1, None, "option B, line 1, column 2: a command", "argument"),
    ('// quizctl: {"time_limit": 3}\nQ {T}', 1, None, "time limit: 3 is out of range 5..3600", "5 to 3600"),
    ('// quizctl: {"points": 0.125}\nQ {T}', 1, None, "points: 0.125 has more than two decimals", "0.12"),
    ('// quizctl: {"time_limit": 30,}\nQ {T}', 1, 31, "not valid JSON", "JSON object"),
    ('// quizctl: {"type": "numeric"}\nQ {T}', 1, 13, "type 'numeric' cannot be forced", "'poll' or 'text'"),
    ('// quizctl: {"type": "poll"}\nQ {T}', 2, None, "neither options nor empty", "{~a ~b}"),
    ('// quizctl: {"unit": "s"}\nQ {T}', 1, None, "unit is not used by true/false questions", "numeric"),
    ('// quizctl: {"time_limt": 40}\n::t::\nQ {T}', 1, None, "unknown key 'time_limt'", "'time_limit'"),
    ('// quizctl: {"image": "../x.png", "image_alt": "x"}\nQ {T}', 1, None, "leads outside", "copy the image"),
    ('// quizctl: {"image": "no.png", "image_alt": "x"}\nQ {T}', 1, None, "'no.png' not found", "check the name"),
]


@pytest.mark.parametrize(("block", "line", "column", "message", "fix"), GIFT_ERRORS)
def test_gift_malformed_questions_are_reported_with_line_and_fix(
    tmp_path: Path, block: str, line: int, column: int | None, message: str, fix: str
) -> None:
    error = failure(tmp_path, "b.gift", f"Fine {{T}}\n\n{block}\n\nAlso fine {{F}}")
    (problem,) = error.problems
    assert problem.line == line + 2
    assert problem.column == column
    assert message in problem.message
    assert fix in problem.fix
    assert str(problem) == f"{problem.location}: {problem.message} (fix: {problem.fix})"


def test_gift_reports_every_broken_question_in_one_pass(tmp_path: Path) -> None:
    error = failure(tmp_path, "b.gift", "A {~x ~y}\n\nB {T}\n\nC {#x}\n\nD {=a =b ~c}\n")
    assert lines_of(error.problems) == [1, 5, 7]


def test_gift_question_text_over_the_pool_limit_is_an_error(tmp_path: Path) -> None:
    error = failure(tmp_path, "b.gift", "ok {T}\n\n" + "x" * 1001 + " {T}")
    assert lines_of(error.problems) == [3] and "1001 characters" in error.problems[0].message


# ---------------------------------------------------------------- GIFT round trip

MULTI_TYPE_POOL: dict[str, Any] = {
    "title": "Every type: {braces} ~tilde =equals #hash: colon",
    "session_id": "cs101-w3",
    "time_limit_default": 25,
    "score_fn": "binary",
    "language": "de",
    "questions": [
        {
            "type": "single",
            "text": "Which is **stable**? Use {braces}, ~tilde, =equals, #hash and a: colon.",
            "options": {"A": "Quicksort", "B": "Merge sort = stable", "C": "%50% not a weight", "D": "[html] text"},
            "correct": "B",
            "explanation": "Merge sort takes from the left on ties.\n\nSecond paragraph with `code`.",
            "tags": ["$course$/top/Week 3"],
            "image": "figures/heap.png",
            "image_alt": "A heap: 9 above 5 and 7",
        },
        {
            "type": "multiple",
            "text": "Which run in $O(n \\log n)$?",
            "options": {
                "A": "Merge sort",
                "B": {"text": "Heapsort", "image": "figures/heap.png", "image_alt": "a heap"},
                "C": "Bubble sort",
            },
            "correct": ["A", "B"],
            "tags": ["$course$/top/Week 3", "sorting", "complexity"],
            "points": 2.5,
        },
        {
            "type": "multiple",
            "text": "All three",
            "options": {"A": "x", "B": "y", "C": "z", "D": "w", "E": "v", "F": "u"},
            "correct": ["A", "C", "E"],
            "time_limit": 90,
        },
        {"type": "true_false", "text": "Heapsort is stable.", "correct": False, "explanation": "It is not."},
        {"type": "numeric", "text": "$\\log_2 1024$?", "correct": 10, "unit": "comparisons", "tags": ["maths"]},
        {"type": "numeric", "text": "pi?", "correct": 3.14159, "tolerance": 0.001, "explanation": "About 3.14"},
        {"type": "numeric", "text": "Any of -2.5..0.00001", "range": [-2.5, 1e-05], "live_results": True},
        {"type": "text", "text": "CPython's sort?", "accept": ["Timsort", "tim sort", "%100 tim"], "match": "exact"},
        {"type": "text", "text": "An arrow?", "accept": ["a->b", "  spaced  out  "]},
        {"type": "single", "text": "Line one\nline two\\", "options": {"A": "a\\", "B": "b"}, "correct": "A"},
        {
            "type": "single",
            "text": "Math \\(x\\) as written, and \\[y\\]",
            "options": {"A": " a", "B": "b "},
            "correct": "A",
        },
        {"type": "poll", "text": "Which topic next?", "options": {"A": "Heaps", "B": "%20% Graphs"}, "tags": []},
        {"type": "poll", "text": "One word for recursion?", "open": True, "explanation": "Thanks!", "time_limit": 60},
    ],
}


def gift_round_trip(pool: dict[str, Any], bank: Path) -> ImportResult:
    """Export `pool` as GIFT and import it again as the bank `bank` (its images beside it)."""
    return import_data(export_gift(pool), str(bank), format="gift")


def same_pools(imported: dict[str, Any], original: dict[str, Any], folder: Path) -> bool:
    """Equal as the pool loader reads them: every field, the rendered content and the images."""
    return parse_pool(imported, "pool", base_dir=folder) == parse_pool(original, "pool", base_dir=folder)


@pytest.mark.parametrize("path", sorted(POOLS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_pool_survives_a_gift_round_trip(path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    gift = export_gift(pool_json(load_pool(path)))
    assert export_gift(original) == gift  # the file as written and as loaded give one bank
    imported = import_data(gift, str(POOLS_DIR / "exported.gift"), format="gift")
    assert imported.warnings == []
    assert same_pools(imported.pool, original, POOLS_DIR)
    # Only what GIFT cannot say goes into comments: sorting.json's time limits, say.
    comments = [json.loads(line.split(":", 1)[1]) for line in gift.splitlines() if line.startswith("// quizctl: ")]
    if path.name in ("sorting.json", "tiny.json"):
        assert all(comment.keys() == {"time_limit"} for comment in comments)
        assert len(comments) == sum("time_limit" in question for question in original["questions"])


def test_the_demo_pool_in_gift_keeps_in_comments_only_what_gift_cannot_say() -> None:
    gift = export_gift(pool_json(load_pool(POOLS_DIR / "demo.json")))
    comments = [json.loads(line.split(":", 1)[1]) for line in gift.splitlines() if line.startswith("// quizctl: ")]
    assert comments == [
        {"time_limit": 40},
        {"time_limit": 60, "points": 2},
        {"time_limit": 15},
        {"unit": "comparisons"},
        {
            "image": "figures/bubble-pass.png",
            "image_alt": "Bar chart of the array 1, 4, 2, 5, 8; the last bar, 8, is highlighted.",
        },
        {"type": "poll"},
        {"type": "poll", "time_limit": 45},
    ]
    header = next(line for line in gift.splitlines() if line.startswith("// quizctl pool: "))
    assert json.loads(header.split(":", 1)[1]) == {
        "title": "Week 3: Sorting",
        "session_id": "cs101-w3",
        "time_limit_default": 30,
        "score_fn": "speed_linear",
    }


def test_a_pool_of_every_type_and_field_survives_a_gift_round_trip(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "heap.png").write_bytes(PNG)
    imported = gift_round_trip(MULTI_TYPE_POOL, tmp_path / "bank.gift")
    assert imported.warnings == [] and imported.assets == [("figures/heap.png", PNG)]
    assert same_pools(imported.pool, MULTI_TYPE_POOL, tmp_path)


def test_the_example_csv_bank_survives_a_gift_round_trip_polls_included() -> None:
    pool = import_bank(POOLS_DIR / "example-bank.csv").pool
    assert {q["type"] for q in pool["questions"]} >= {"poll"}
    assert same_pools(gift_round_trip(pool, POOLS_DIR / "bank.gift").pool, pool, POOLS_DIR)


def test_options_override_only_the_arguments_the_bank_does_not_fix(tmp_path: Path) -> None:
    gift = export_gift(MULTI_TYPE_POOL | {"questions": MULTI_TYPE_POOL["questions"][3:5]})
    bank = write(tmp_path, "bank.gift", gift)
    pool = import_bank(bank).pool
    assert (pool["title"], pool["time_limit_default"], pool["score_fn"]) == (MULTI_TYPE_POOL["title"], 25, "binary")
    pool = import_bank(bank, title="Week 4", time_limit=45, score_fn="speed_linear").pool
    assert (pool["title"], pool["time_limit_default"], pool["score_fn"]) == ("Week 4", 45, "speed_linear")
    assert (pool["session_id"], pool["language"]) == ("cs101-w3", "de")


# Moodle's grade list (question/format.php, get_grade_options): the only weights an import accepts.
MOODLE_GRADES = {
    "100", "90", "83.33333", "80", "75", "70", "66.66667", "60", "50", "40", "33.33333", "30", "25", "20",
    "16.66667", "14.28571", "12.5", "11.11111", "10", "5", "0",
}  # fmt: skip


def moodle_kinds(gift: str) -> list[tuple[str, list[str]]]:
    """Moodle's GIFT importer restated: each question's kind and answer weights, comment lines dropped."""
    kinds = []
    for block in gift.split("\n\n"):
        text = "\n".join(line for line in block.split("\n") if not line.strip().startswith("//")).strip()
        if not text or text.startswith("$CATEGORY:"):
            continue
        text = text.replace("\\\\", "").replace("\\{", "").replace("\\}", "").replace("\\~", "").replace("\\=", "")
        answers = text[text.index("{") + 1 : text.index("}")].rsplit("####", 1)[0].strip()
        weights = re.findall(r"(?:^|\s)[~=]%(-?[0-9.]+)%", answers)
        if not answers:
            kind = "essay"
        elif answers.startswith("#"):
            kind = "numerical"
        elif "~" in answers:
            kind = "multichoice"
        elif answers in ("TRUE", "FALSE"):
            kind = "truefalse"
        else:
            kind = "shortanswer"
        kinds.append((kind, weights))
    return kinds


def test_exported_gift_is_a_bank_moodle_imports() -> None:
    gift = export_gift(MULTI_TYPE_POOL)
    # Every comment is one line starting with "//" (Moodle blanks those lines).
    assert all(line.startswith("// ") for line in gift.splitlines() if "quizctl" in line and "{" in line[:20])
    kinds = moodle_kinds(gift)
    assert [kind for kind, _ in kinds] == [
        "multichoice", "multichoice", "multichoice", "truefalse", "numerical", "numerical", "numerical",
        "shortanswer", "shortanswer", "multichoice", "multichoice", "multichoice", "essay",
    ]  # fmt: skip
    for kind, weights in kinds:
        assert {weight.lstrip("-") for weight in weights} <= MOODLE_GRADES, weights
        positive = [float(weight) for weight in weights if float(weight) > 0]
        if kind == "multichoice" and positive:  # several right answers: Moodle wants them to add up to 100%
            assert round(sum(positive), 2) == 100


_ROUND_TRIP_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]) | st.sampled_from("~=#{}:\\%[]\n*_$-> ()"),
    min_size=1,
    max_size=40,
).filter(lambda t: bool(t.strip()))
_ROUND_TRIP_WORD = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1, max_size=12
)
_ROUND_TRIP_NUMBER = st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, allow_infinity=False, width=64)
_ROUND_TRIP_TAGS = st.lists(_ROUND_TRIP_WORD | _ROUND_TRIP_TEXT, max_size=3)


def _round_trip_answers(draw: st.DrawFn, question: dict[str, Any]) -> None:
    kind = question["type"]
    if kind in ("single", "multiple") or (kind == "poll" and not draw(st.booleans())):
        count = draw(st.integers(2, 6))
        options: dict[str, Any] = {key: draw(_ROUND_TRIP_TEXT) for key in "ABCDEF"[:count]}
        if draw(st.booleans()):
            options["B"] = {"text": options["B"], "image": "figures/b.png", "image_alt": draw(_ROUND_TRIP_TEXT)}
        question["options"] = options
        if kind == "single":
            question["correct"] = draw(st.sampled_from(list(options)))
        elif kind == "multiple":
            question["correct"] = sorted(draw(st.sets(st.sampled_from(list(options)), min_size=1)))
    elif kind == "poll":
        question["open"] = True
    elif kind == "true_false":
        question["correct"] = draw(st.booleans())
    elif kind == "numeric":
        low, high = sorted((draw(_ROUND_TRIP_NUMBER), draw(_ROUND_TRIP_NUMBER)))
        if draw(st.booleans()):
            question["range"] = [low, high]
        else:
            question["correct"] = low
            if high and draw(st.booleans()):
                question["tolerance"] = abs(high)
        if draw(st.booleans()):
            question["unit"] = draw(_ROUND_TRIP_WORD)
    else:
        question["accept"] = draw(st.lists(_ROUND_TRIP_TEXT | _ROUND_TRIP_WORD, min_size=1, max_size=3, unique=True))
        if draw(st.booleans()):
            question["match"] = "exact"


@st.composite
def _round_trip_questions(draw: st.DrawFn) -> dict[str, Any]:
    """A question in the form the importer gives back: every field given, no defaults spelt out."""
    kind = draw(st.sampled_from(["single", "multiple", "true_false", "numeric", "text", "poll"]))
    question: dict[str, Any] = {"type": kind, "text": draw(_ROUND_TRIP_TEXT)}
    _round_trip_answers(draw, question)
    if draw(st.booleans()):
        question["explanation"] = draw(_ROUND_TRIP_TEXT)
    optional = {
        "time_limit": st.integers(5, 3600).filter(lambda s: s != 30),
        "points": st.sampled_from([0.5, 2, 1.25, 100]),
        "tags": _ROUND_TRIP_TAGS.filter(bool),
        "live_results": st.just(True),
        "image": st.just("figures/q.png"),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            question[key] = draw(values)
    if "image" in question:
        question["image_alt"] = draw(_ROUND_TRIP_TEXT)
    return question


@FUZZ
@given(st.lists(_round_trip_questions(), min_size=1, max_size=5), _ROUND_TRIP_TEXT, st.booleans())
def test_generated_pools_survive_a_gift_round_trip(questions: list[dict[str, Any]], title: str, extra: bool) -> None:
    header = {"title": title, "time_limit_default": 30} | ({"session_id": "s-1", "language": "fr"} if extra else {})
    parsed = parse_bank(export_gift(header | {"questions": questions}), "generated.gift", "gift")
    assert (parsed.questions, parsed.pool, parsed.warnings) == (questions, header, [])


# ================================================================ Aiken

AIKEN_DOC_STYLE = """\
What is the correct answer to this question?
A. Is it this one?
B. Maybe this answer?
C. Possibly this one?
D. Must be this one!
ANSWER: D

Which LMS has the most quiz import formats?
A) Moodle
B) ATutor
C) Claroline
D) Blackboard
E) WebCT
F) Ilias
ANSWER: A

A question may run over
two lines, with *stars* and $5.
A. yes
B. no
ANSWER: A
"""


def test_aiken_in_the_documented_shape_imports_to_the_expected_pool(tmp_path: Path) -> None:
    result = load(tmp_path, "quiz.txt", AIKEN_DOC_STYLE)
    assert result.pool["questions"] == [
        {
            "type": "single",
            "text": "What is the correct answer to this question?",
            "options": {
                "A": "Is it this one?",
                "B": "Maybe this answer?",
                "C": "Possibly this one?",
                "D": "Must be this one!",
            },
            "correct": "D",
        },
        {
            "type": "single",
            "text": "Which LMS has the most quiz import formats?",
            "options": dict(
                zip("ABCDEF", ["Moodle", "ATutor", "Claroline", "Blackboard", "WebCT", "Ilias"], strict=True)
            ),
            "correct": "A",
        },
        {
            "type": "single",
            "text": "A question may run over\ntwo lines, with \\*stars\\* and \\$5.",
            "options": {"A": "yes", "B": "no"},
            "correct": "A",
        },
    ]
    assert result.warnings == []


# (block, line within the block, message, fix)
AIKEN_ERRORS = [
    ("Q\nA. a\nB. b\n", 1, "no ANSWER line", "ANSWER: B"),
    ("Q\nA. a\nB. b\nANSWER: C\n", 4, "ANSWER C is not one of the options A-B", "letter of the right option"),
    ("Q\nA. a\nB. b\nANSWER:\n", 4, "ANSWER (nothing)", "letter of the right option"),
    ("Q\nA. a\nANSWER: A\n", 1, "1 option(s)", "add options"),
    ("Q\nA. a\nB. b\nC. c\nD. d\nE. e\nF. f\nG. g\nANSWER: A\n", 8, "more than 6 options", "remove 1 option"),
    ("Q\nA. a\nC. c\nANSWER: A\n", 3, "option C is out of order: option B was expected", "in order"),
    ("Q\nA. a\nB.\nANSWER: A\n", 3, "option B is empty", "write the option's text"),
    ("A. a\nB. b\nANSWER: A\n", 1, "option A comes before any question text", "write the question"),
    ("ANSWER: A\n", 1, "ANSWER line with no question", "put the question"),
    ("Q\nA. a\nB. " + "b" * 301 + "\nANSWER: A\n", 1, "option B is 301 characters long, the limit is 300", "shorten"),
]


@pytest.mark.parametrize(("block", "line", "message", "fix"), AIKEN_ERRORS)
def test_aiken_malformed_blocks_are_reported_with_line_and_fix(
    tmp_path: Path, block: str, line: int, message: str, fix: str
) -> None:
    error = failure(tmp_path, "quiz.txt", f"Fine\nA. x\nB. y\nANSWER: A\n\n{block}", format="aiken")
    # Each malformed block is one problem, however many lines it has.
    (problem,) = error.problems
    assert (problem.line, message in problem.message, fix in problem.fix) == (line + 5, True, True), problem


def test_aiken_reports_every_malformed_block(tmp_path: Path) -> None:
    text = "Q1\nA. a\nB. b\n\nQ2\nA. a\nB. b\nANSWER: Z\n\nQ3\nA. a\nB. b\nANSWER: B\n\nQ4\nB. a\n"
    error = failure(tmp_path, "quiz.txt", text, format="aiken")
    assert lines_of(error.problems) == [1, 8, 16]


# ================================================================ .txt detection


def test_txt_is_gift_when_aiken_fails_and_gift_parses(tmp_path: Path) -> None:
    result = load(tmp_path, "moodle-export.txt", DOC_STYLE_GIFT)
    assert result.pool["questions"] == DOC_STYLE_EXPECTED


def test_txt_failing_both_ways_reports_the_format_that_got_further(tmp_path: Path) -> None:
    aiken_like = "Q1\nA. a\nB. b\nANSWER: A\n\nQ2\nA. a\nB. b\nANSWER: A\n\nQ3\nA. a\nB. b\nANSWER: X\n"
    error = failure(tmp_path, "a.txt", aiken_like)
    assert [(p.line, "ANSWER X" in p.message) for p in error.problems] == [(14, True)]
    gift_like = "Q1 {T}\n\nQ2 {T}\n\nQ3 {#x}\n"
    error = failure(tmp_path, "g.txt", gift_like)
    assert [(p.line, "not a number" in p.message) for p in error.problems] == [(5, True)]


# ================================================================ Moodle XML


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


PNG = tiny_png()
PNG64 = base64.b64encode(PNG).decode()

MOODLE_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<quiz>
<!-- question: 0  -->
  <question type="category">
    <category>
      <text>$course$/top/Week 3</text>
    </category>
  </question>

<!-- question: 101  -->
  <question type="multichoice">
    <name><text>Stable sort</text></name>
    <questiontext format="html">
      <text><![CDATA[<p>Which sort is <strong>stable</strong>?</p>
<p><img src="@@PLUGINFILE@@/sort%20chart.png" alt="Bar chart of sorts" width="300" height="200"></p>]]></text>
      <file name="sort chart.png" path="/" encoding="base64">{PNG64}</file>
    </questiontext>
    <generalfeedback format="html">
      <text><![CDATA[<p>Merge sort keeps <em>equal</em> keys in order.</p>]]></text>
    </generalfeedback>
    <defaultgrade>2.0000000</defaultgrade>
    <penalty>0.3333333</penalty>
    <hidden>0</hidden>
    <single>true</single>
    <shuffleanswers>true</shuffleanswers>
    <answernumbering>abc</answernumbering>
    <answer fraction="0" format="html">
      <text><![CDATA[<p>Quicksort</p>]]></text>
      <feedback format="html"><text>Not stable.</text></feedback>
    </answer>
    <answer fraction="100" format="html">
      <text><![CDATA[<p>Merge sort</p>]]></text>
      <feedback format="html"><text></text></feedback>
    </answer>
    <answer fraction="0" format="html">
      <text><![CDATA[<p><img src="@@PLUGINFILE@@/heap.png" alt=""></p>]]></text>
      <file name="heap.png" path="/" encoding="base64">{PNG64}</file>
    </answer>
    <tags><tag><text>sorting</text></tag></tags>
  </question>

  <question type="multichoice">
    <questiontext format="html"><text>Which run in O(n log n)?</text></questiontext>
    <single>false</single>
    <answer fraction="50"><text>Merge sort</text></answer>
    <answer fraction="50"><text>Heapsort</text></answer>
    <answer fraction="-100"><text>Bubble sort</text></answer>
  </question>

  <question type="truefalse">
    <questiontext format="moodle_auto_format"><text>Insertion sort is O(n) on sorted input.</text></questiontext>
    <answer fraction="100"><text>true</text></answer>
    <answer fraction="0"><text>false</text></answer>
  </question>

  <question type="numerical">
    <questiontext format="html"><text><![CDATA[<p>g in m/s<sup>2</sup>?</p>]]></text></questiontext>
    <answer fraction="100"><text>9.81</text><tolerance>0.05</tolerance></answer>
    <answer fraction="0"><text>*</text><tolerance>0</tolerance></answer>
    <units><unit><multiplier>1</multiplier><unit_name>m/s^2</unit_name></unit></units>
  </question>

  <question type="shortanswer">
    <questiontext format="html"><text>Capital of France?</text></questiontext>
    <usecase>1</usecase>
    <answer fraction="100"><text>Paris</text></answer>
    <answer fraction="100"><text>PARIS</text></answer>
    <answer fraction="0"><text>Lyon</text></answer>
  </question>

  <question type="matching">
    <questiontext format="html"><text>Match</text></questiontext>
  </question>

  <question type="shortanswer">
    <questiontext format="markdown"><text>Name a **stable** sort</text></questiontext>
    <answer fraction="100"><text>merge sort</text></answer>
  </question>
</quiz>
"""


def test_moodle_xml_imports_to_the_expected_pool_with_assets(tmp_path: Path) -> None:
    result = load(tmp_path, "export.xml", MOODLE_XML)
    ((sort_chart, _),) = result.assets
    assert sort_chart.startswith("sort_chart-") and sort_chart.endswith(".png")
    week3 = "$course$/top/Week 3"
    assert result.pool["questions"] == [
        {
            "type": "single",
            "text": "Which sort is **stable**?",
            "image": sort_chart,
            "image_alt": "Bar chart of sorts",
            "options": {
                "A": "Quicksort",
                "B": "Merge sort",
                "C": {"text": "heap", "image": sort_chart, "image_alt": "heap"},
            },
            "correct": "B",
            "explanation": "Merge sort keeps *equal* keys in order.",
            "points": 2,
            "tags": [week3, "sorting"],
        },
        {
            "type": "multiple",
            "text": "Which run in O(n log n)?",
            "options": {"A": "Merge sort", "B": "Heapsort", "C": "Bubble sort"},
            "correct": ["A", "B"],
            "tags": [week3],
        },
        {"type": "true_false", "text": "Insertion sort is O(n) on sorted input.", "correct": True, "tags": [week3]},
        {"type": "numeric", "text": "g in m/s2?", "correct": 9.81, "tolerance": 0.05, "unit": "m/s^2", "tags": [week3]},
        {"type": "text", "text": "Capital of France?", "accept": ["Paris", "PARIS"], "match": "exact", "tags": [week3]},
        {"type": "text", "text": "Name a **stable** sort", "accept": ["merge sort"], "tags": [week3]},
    ]
    # Both images are the same bytes: one asset, written once.
    assert result.assets == [(sort_chart, PNG)]
    assert [(w.line, w.message.split(";")[0]) for w in result.warnings] == [
        (11, "image heap.png has no alt text"),
        (71, "a Moodle 'matching' question: quizctl cannot run this kind of question"),
    ]


@pytest.mark.parametrize(
    ("qtype", "fix"),
    [
        ("essay", "open poll"),
        ("multianswer", "cloze"),
        ("description", "not questions"),
        ("ddwtos", "single, multiple"),
        ("calculated", "numeric"),
        ("ordering", "single, multiple"),
    ],
)
def test_moodle_xml_unsupported_types_warn_with_their_line_and_fail_under_strict(
    tmp_path: Path, qtype: str, fix: str
) -> None:
    xml = (
        '<?xml version="1.0"?>\n<quiz>\n  <question type="truefalse">\n'
        "    <questiontext><text>Ok</text></questiontext>\n"
        '    <answer fraction="100"><text>true</text></answer>\n  </question>\n'
        f'  <question type="{qtype}">\n    <questiontext><text>x</text></questiontext>\n  </question>\n</quiz>\n'
    )
    (warning,) = load(tmp_path, "b.xml", xml).warnings
    assert (warning.line, qtype in warning.message, fix in warning.fix) == (7, True, True)
    error = failure(tmp_path, "b.xml", xml, strict=True)
    assert lines_of(error.problems) == [7]


def xml_question(body: str, qtype: str = "multichoice") -> str:
    question = f'<question type="{qtype}">\n<questiontext format="html"><text>Q</text></questiontext>'
    return f"<quiz>\n{question}\n{body}\n</question>\n</quiz>"


def answers(*fractions: int) -> str:
    return "\n".join(f'<answer fraction="{f}"><text>opt{i}</text></answer>' for i, f in enumerate(fractions))


XML_ERRORS = [
    (xml_question(answers(100, 0, 0, 0, 0, 0, 0)), 2, "7 answers", "remove 1 option"),
    (xml_question(answers(100)), 2, "1 answer(s)", "add answers"),
    (xml_question(answers(100, 100, 0)), 2, "exactly one answer at 100%, found 2", "give one answer 100%"),
    (xml_question("<single>false</single>" + answers(0, -50)), 2, "no answer has a positive grade", "positive"),
    (xml_question('<answer fraction="abc"><text>x</text></answer>'), 2, "fraction 'abc'", "100 or 0"),
    (xml_question('<answer fraction="100"><text>ten</text></answer>', "numerical"), 2, "not a number", "3.14"),
    (xml_question('<answer fraction="0"><text>true</text></answer>', "truefalse"), 2, "graded 100%", "100%"),
    (xml_question('<answer fraction="50"><text>x</text></answer>', "shortanswer"), 2, "no answer is graded", "100%"),
    ("<quiz>\n<question type='truefalse'>\n<questiontext><text>Q</quiz>", 3, "not well-formed", "export"),
    ("<notquiz/>", 1, "not <quiz>", "Moodle XML format"),
    (
        xml_question('<answer fraction="100"><text>' + "a" * 101 + "</text></answer>", "shortanswer"),
        2,
        "accepted answer 1 is 101 characters long, the limit is 100",
        "shorten it",
    ),
]


@pytest.mark.parametrize(("xml", "line", "message", "fix"), XML_ERRORS)
def test_moodle_xml_problems_are_reported_with_line_and_fix(
    tmp_path: Path, xml: str, line: int, message: str, fix: str
) -> None:
    error = failure(tmp_path, "b.xml", xml)
    problem = error.problems[0]
    assert (problem.line, message in problem.message, fix in problem.fix) == (line, True, True), problem


def test_moodle_xml_refuses_entity_declarations_quickly(tmp_path: Path) -> None:
    laughs = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        + "".join(
            f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n' for i in range(1, 10)
        )
        + "]>\n<quiz><question type='truefalse'><questiontext><text>&lol9;</text></questiontext></question></quiz>\n"
    )
    started = time.perf_counter()
    error = failure(tmp_path, "lol.xml", laughs)
    assert time.perf_counter() - started < 1
    assert "DOCTYPE" in error.problems[0].message and error.problems[0].line == 2
    external = '<?xml version="1.0"?>\n<!DOCTYPE quiz SYSTEM "file:///etc/passwd">\n<quiz/>'
    assert "DOCTYPE" in failure(tmp_path, "ext.xml", external).problems[0].message


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("../../etc/evil.png", "evil"),
        ("..\\..\\win.png", "win"),
        ("..", "image"),
        ("a b/../c$d.png", "c_d"),
        ("", "image"),
    ],
)
def test_moodle_xml_asset_names_are_sanitised(tmp_path: Path, name: str, stem: str) -> None:
    xml = xml_question(
        '<single>true</single><answer fraction="100"><text>a</text></answer>'
        '<answer fraction="0"><text>b</text></answer>'
    ).replace(
        "<text>Q</text>",
        f'<text><![CDATA[Q <img src="@@PLUGINFILE@@/{quote(name)}" alt="x">]]></text>'
        f'<file name="{name}" path="/" encoding="base64">{PNG64}</file>',
    )
    result = load(tmp_path, "b.xml", xml)
    ((asset, _),) = result.assets
    assert "/" not in asset and "\\" not in asset and ".." not in asset
    assert asset.startswith(stem + "-") and asset.endswith(".png")
    assert result.pool["questions"][0]["image"] == asset


@pytest.mark.parametrize(
    ("img", "file", "message"),
    [
        ('<img src="https://example.org/x.png" alt="x">', "", "not embedded"),
        ('<img src="@@PLUGINFILE@@/missing.png" alt="x">', "", "missing from the file"),
        (
            '<img src="@@PLUGINFILE@@/x.svg" alt="x">',
            f'<file name="x.svg" encoding="base64">{base64.b64encode(b"<svg/>").decode()}</file>',
            "not a PNG",
        ),
        (
            '<img src="@@PLUGINFILE@@/x.png" alt="x">',
            '<file name="x.png" encoding="base64">!!!</file>',
            "not valid base64",
        ),
    ],
)
def test_moodle_xml_questions_with_unusable_images_are_skipped(
    tmp_path: Path, img: str, file: str, message: str
) -> None:
    body = '<answer fraction="100"><text>true</text></answer>'
    xml = (
        '<quiz>\n<question type="truefalse">\n'
        f'<questiontext format="html"><text><![CDATA[Q {img}]]></text>{file}</questiontext>{body}</question>\n'
        f'<question type="truefalse"><questiontext><text>ok</text></questiontext>{body}</question></quiz>'
    )
    result = load(tmp_path, "b.xml", xml)
    assert [q["text"] for q in result.pool["questions"]] == ["ok"]
    (warning,) = result.warnings
    assert warning.line == 2 and message in warning.message


def test_a_skipped_question_leaves_no_stray_assets(tmp_path: Path) -> None:
    good = f'<file name="a.png" encoding="base64">{PNG64}</file>'
    xml = (
        '<quiz>\n<question type="multichoice">\n<questiontext format="html">'
        f'<text><![CDATA[Q <img src="@@PLUGINFILE@@/a.png" alt="a">]]></text>{good}</questiontext>'
        '<answer fraction="100"><text><![CDATA[<img src="https://example.org/b.png">]]></text></answer>'
        '<answer fraction="0"><text>c</text></answer></question>\n'
        '<question type="truefalse"><questiontext><text>ok</text></questiontext>'
        '<answer fraction="100"><text>true</text></answer></question></quiz>'
    )
    result = load(tmp_path, "b.xml", xml)
    assert (result.assets, [w.line for w in result.warnings]) == ([], [2])


# ================================================================ CSV

EXAMPLE_CSV_EXPECTED_TYPES = [
    "single",
    "single",
    "single",
    "multiple",
    "true_false",
    "numeric",
    "numeric",
    "numeric",
    "text",
    "poll",
    "poll",
]


def test_the_example_csv_bank_exercises_every_type() -> None:
    result = import_bank(POOLS_DIR / "example-bank.csv")
    questions = result.pool["questions"]
    assert [q["type"] for q in questions] == EXAMPLE_CSV_EXPECTED_TYPES
    assert result.warnings == []
    assert questions[3] == {
        "type": "multiple",
        "text": "Which of these sort in $O(n \\log n)$ time in the worst case? Select all that apply.",
        "options": {"A": "Merge sort", "B": "Quicksort", "C": "Heapsort", "D": "Bubble sort"},
        "correct": ["A", "C"],
        "explanation": "Quicksort is $O(n^2)$ in the worst case; bubble sort always is.",
        "time_limit": 45,
        "points": 2,
    }
    assert {
        json.dumps({k: v for k, v in q.items() if k in ("correct", "tolerance", "range", "accept", "open")})
        for q in questions[4:]
    } >= {
        '{"correct": true}',
        '{"correct": 9.97, "tolerance": 0.01}',
        '{"range": [1, 5]}',
        '{"accept": ["Timsort", "Tim sort"]}',
        '{"open": true}',
    }


CSV_TEMPLATE = """type,question,A,B,C,D,E,F,correct,time_limit,points,explanation
,Pick B,a,b,,,,,B,20,,Because b.
multiple,Pick A and C,a,b,c,,,,A;C,,2,
true_false,True?,,,,,,,T,,,
numeric,Pi,,,,,,,3.14+-0.01,,,
numeric,Pi too,,,,,,,3.14±0.01,,,
numeric,Range,,,,,,,1..5,,,
numeric,Exact,,,,,,,42,,,
text,Capital,,,,,,,Paris|paris,,,
poll,Colour,red,blue,,,,,,,,
poll,Word,,,,,,,open,,,
"""

CSV_EXPECTED: list[dict[str, Any]] = [
    {
        "type": "single",
        "text": "Pick B",
        "options": {"A": "a", "B": "b"},
        "correct": "B",
        "explanation": "Because b.",
        "time_limit": 20,
    },
    {
        "type": "multiple",
        "text": "Pick A and C",
        "options": {"A": "a", "B": "b", "C": "c"},
        "correct": ["A", "C"],
        "points": 2,
    },
    {"type": "true_false", "text": "True?", "correct": True},
    {"type": "numeric", "text": "Pi", "correct": 3.14, "tolerance": 0.01},
    {"type": "numeric", "text": "Pi too", "correct": 3.14, "tolerance": 0.01},
    {"type": "numeric", "text": "Range", "range": [1, 5]},
    {"type": "numeric", "text": "Exact", "correct": 42},
    {"type": "text", "text": "Capital", "accept": ["Paris", "paris"]},
    {"type": "poll", "text": "Colour", "options": {"A": "red", "B": "blue"}},
    {"type": "poll", "text": "Word", "open": True},
]


def test_csv_template_imports_to_the_expected_pool(tmp_path: Path) -> None:
    result = load(tmp_path, "bank.csv", CSV_TEMPLATE)
    assert result.pool["questions"] == CSV_EXPECTED
    assert result.pool["title"] == "bank"


def test_csv_from_european_excel_semicolons_bom_and_decimal_commas(tmp_path: Path) -> None:
    text = CSV_TEMPLATE.replace(",", ";").replace("A;C", '"A;C"').replace("3.14", "3,14").replace("0.01", "0,01")
    result = load(tmp_path, "bank.csv", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert result.pool["questions"] == CSV_EXPECTED


def test_csv_header_is_case_insensitive_in_any_order_with_optional_columns_missing(tmp_path: Path) -> None:
    text = "Correct,QUESTION,b,a,Type\nB,Pick,yes,no,\ntrue,Sky is blue,,,TRUE_FALSE\n"
    result = load(tmp_path, "bank.csv", text)
    assert result.pool["questions"] == [
        {"type": "single", "text": "Pick", "options": {"A": "no", "B": "yes"}, "correct": "B"},
        {"type": "true_false", "text": "Sky is blue", "correct": True},
    ]


def test_csv_excel_booleans_in_other_languages(tmp_path: Path) -> None:
    text = "type;question;correct\ntrue_false;a;WAHR\ntrue_false;b;FAUX\n"
    assert [q["correct"] for q in load(tmp_path, "b.csv", text).pool["questions"]] == [True, False]


CSV_ERRORS = [
    ("poll,P,a,b,,,,,A,,,", "a poll has no right answer", "leave correct blank"),
    ("poll,P,a,b,,,,,open,,,", "an open poll has no options", "clear the option columns"),
    ("single,Q,a,b,,,,,C,,,", "names no option", "A;C"),
    ("single,Q,a,b,,,,,A;B,,,", "not one option letter", "type multiple"),
    ("single,Q,a,,c,,,,A,,,", "column B is empty but column C is not", "without gaps"),
    ("single,Q,a,,,,,,A,,,", "1 option(s)", "columns A and B"),
    ("true_false,Q,,,,,,,maybe,,,", "not true or false", "T / F"),
    ("numeric,Q,,,,,,,5..1,,,", "not a range", "1..5"),
    ("numeric,Q,,,,,,,ten,,,", "not a number", "3.14±0.01"),
    ("text,Q,,,,,,,,,,", "no accepted answer", "Paris|paris"),
    ("essay,Q,,,,,,,,,,", "type 'essay' is unknown", "true_false"),
    ("single,Q,a,b,,,,,A,soon,,", "time_limit 'soon' is not a number", "seconds"),
    ("single,Q,a,b,,,,,A,,many,", "points 'many' is not a number", "positive"),
    # The pool loader's own rules, reported at the row:
    ("single,Q,a,b,,,,,A,3,,", "time limit: 3 is out of range 5..3600 seconds", "5 to 3600"),
    ("single,Q,a,b,,,,,A,2.5,,", "time limit: expected whole seconds as an integer, got 2.5", "write 5"),
    ("single,Q,a,b,,,,,A,,-1,", "points: -1 is out of range", "above 0"),
    ("single,,a,b,,,,,A,,,", "question text is empty", "write some text"),
    ("single,Q,a $x^$,b,,,,,A,,,", "option A, line 1, column 4: ^ or _ has nothing after it", "x^{2}"),
]


@pytest.mark.parametrize(("row", "message", "fix"), CSV_ERRORS)
def test_csv_bad_rows_are_reported_with_their_line_and_fix(tmp_path: Path, row: str, message: str, fix: str) -> None:
    header = "type,question,A,B,C,D,E,F,correct,time_limit,points,explanation\n"
    # A quoted cell over two lines: the rows after it still get their own line numbers.
    text = header + 'single,"Two\nlines",a,b,,,,,A,,,\n\n' + row + "\nsingle,Fine,a,b,,,,,B,,,\n"
    error = failure(tmp_path, "b.csv", text)
    (problem,) = error.problems
    assert (problem.line, message in problem.message, fix in problem.fix) == (5, True, True), problem


def test_csv_more_than_six_options(tmp_path: Path) -> None:
    text = "question,A,B,C,D,E,F,G,correct\nQ,a,b,c,d,e,f,g,A\nOk,a,b,,,,,,A\n"
    (problem,) = failure(tmp_path, "b.csv", text).problems
    assert (problem.line, "7 options" in problem.message, "remove 1 option" in problem.fix) == (2, True, True)


def test_csv_without_a_question_column_says_what_the_header_must_be(tmp_path: Path) -> None:
    (problem,) = failure(tmp_path, "b.csv", "foo,bar\n1,2\n").problems
    assert problem.line == 1 and "type,question,A,B" in problem.fix


# ================================================================ import_bank


def test_arguments_set_the_pool_level_fields(tmp_path: Path) -> None:
    result = load(tmp_path, "w.gift", "Q {T}", title="Week 3", time_limit=45, score_fn="binary")
    assert {k: v for k, v in result.pool.items() if k != "questions"} == {
        "title": "Week 3",
        "time_limit_default": 45,
        "score_fn": "binary",
    }


def test_format_overrides_the_extension(tmp_path: Path) -> None:
    result = load(tmp_path, "bank.dat", "Q\nA. a\nB. b\nANSWER: B\n", format="aiken")
    assert result.pool["questions"][0]["correct"] == "B"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "docx"}, "unknown format 'docx'"),
        ({"time_limit": 2}, "time_limit_default: 2 is out of range 5..3600 seconds"),
        ({"time_limit": 7200}, "time_limit_default: 7200 is out of range"),
        ({"score_fn": "fast"}, "score_fn: 'fast' is not a score function"),
        ({"title": " "}, "title: is empty"),
        ({"title": "x" * 201}, "title: is 201 characters long, the limit is 200"),
    ],
)
def test_bad_arguments_are_reported(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    (problem,) = failure(tmp_path, "w.gift", "Q {T}", **options).problems
    assert message in problem.message and problem.line == 0
    assert str(problem).startswith(f"{tmp_path / 'w.gift'}: ")


def test_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(BankError, match="no such file"):
        import_bank(tmp_path / "missing.gift")
    (problem,) = failure(tmp_path, "bank.docx", "x").problems
    assert "--format" in problem.fix
    with pytest.raises(BankError, match="is a directory"):
        import_bank(tmp_path, format="gift")


def test_a_file_that_is_not_utf8_names_the_line_and_column_of_the_bad_byte(tmp_path: Path) -> None:
    (problem,) = failure(tmp_path, "b.csv", "question,A,B,correct\nCaf\xe9,a,b,A\n".encode("latin-1")).problems
    assert (problem.line, problem.column) == (2, 4)
    assert "UTF-8" in problem.fix


def test_utf16_with_bom_from_excel_unicode_text(tmp_path: Path) -> None:
    result = load(tmp_path, "b.csv", "question\tA\tB\tcorrect\nQ\ta\tb\tB\n".encode("utf-16"))
    assert result.pool["questions"][0]["correct"] == "B"


def test_an_empty_bank_or_one_with_nothing_runnable_is_an_error(tmp_path: Path) -> None:
    (problem,) = failure(tmp_path, "e.gift", "// nothing here\n").problems
    assert "no question quizctl can run" in problem.message
    error = failure(tmp_path, "e.gift", "Essay {}\n")
    assert "1 warning" in error.problems[0].message and lines_of(error.warnings) == [1]


def test_a_bank_over_the_pool_size_is_an_error_that_says_to_split_it(tmp_path: Path) -> None:
    assert len(load(tmp_path, "ok.gift", "\n\n".join(f"Q{i} {{T}}" for i in range(500))).pool["questions"]) == 500
    error = failure(tmp_path, "big.gift", "\n\n".join(f"Q{i} {{T}}" for i in range(501)) + "\n\nBad {#x}")
    # Every parse error still comes first; the pool size is reported once, for the file.
    assert [(p.line, p.message.split(":")[0]) for p in error.problems] == [
        (1003, "'x' is not a number with an optional tolerance")
    ]
    error = failure(tmp_path, "big.gift", "\n\n".join(f"Q{i} {{T}}" for i in range(501)))
    ((problem,),) = [error.problems]
    assert (problem.line, problem.message) == (0, "501 questions; a pool holds at most 500")
    assert "split the bank" in problem.fix


DOCS = Path(__file__).parent.parent / "docs" / "importing.md"


def test_the_examples_in_the_importing_guide_and_the_readme_import_cleanly() -> None:
    blocks = DOCS.read_text(encoding="utf-8").split("```\n")[1::2]
    gift = next(b for b in blocks if b.startswith("::Stable"))
    aiken = next(b for b in blocks if b.startswith("Which planet"))
    csv = next(b for b in blocks if b.startswith("type,question") and b.count("\n") > 1)
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Moodle to quizctl", 1)[1].split("\n## ", 1)[0]
    readme_csv = re.findall(r"```\n(type,question.*?)```", section, re.DOTALL)[0]
    for fmt, text, count in [("gift", gift, 5), ("aiken", aiken, 1), ("csv", csv, 7), ("csv", readme_csv, 5)]:
        result = import_data(text, f"docs.{fmt}", format=fmt)
        assert (len(result.checked.questions), result.warnings) == (count, [])


# ================================================================ hostile input

PARSERS = ["gift", "aiken", "moodle-xml", "csv"]
SEEDS = {
    "gift": [DOC_STYLE_GIFT, export_gift(MULTI_TYPE_POOL)],  # Moodle's shapes, and quizctl's comments
    "aiken": [AIKEN_DOC_STYLE],
    "moodle-xml": [MOODLE_XML],
    "csv": [CSV_TEMPLATE],
}
SPECIALS = "{}~=#:%\\[]<>&;,\"'\n\t.-$()|A)ANSWER: <question></question><![CDATA[]]>@@PLUGINFILE@@/// quizctl:"
# Beside no files: an image a fuzzed GIFT comment names is never found.
FUZZ_BANK = "/nonexistent-quizctl-fuzz/bank"


def parse_or_bank_error(fmt: str, data: str | bytes) -> None:
    """The whole import (parser, pool, the loader's check) either gives a checked pool or a BankError."""
    try:
        result = import_data(data, FUZZ_BANK, format=fmt)
    except BankError as error:
        assert error.problems and all(isinstance(p, ImportProblem) for p in error.problems)
        assert all(p.file == FUZZ_BANK and p.line >= 0 for p in error.problems)
        str(error)
    else:
        json.dumps(result.pool)  # whatever came out is a JSON-able pool, checked by the loader
        assert len(result.checked.questions) == len(result.pool["questions"]) > 0


@pytest.mark.parametrize("fmt", PARSERS)
@FUZZ
@given(data=st.text(max_size=400))
def test_random_text_raises_nothing_but_bank_error(fmt: str, data: str) -> None:
    parse_or_bank_error(fmt, data)


@pytest.mark.parametrize("fmt", PARSERS)
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_raise_nothing_but_bank_error(fmt: str, data: bytes) -> None:
    parse_or_bank_error(fmt, data)


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> str:
    text = seed
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "swap"]))
        if action == "insert":
            text = text[:at] + draw(st.text(alphabet=SPECIALS, min_size=1, max_size=6)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif action == "duplicate":
            text = text[:at] + text[at : at + 60] + text[at:]
        else:
            other = draw(st.integers(0, len(text)))
            low, high = sorted((at, other))
            text = text[high:] + text[low:high] + text[:low]
    return text


@pytest.mark.parametrize("fmt", PARSERS)
@FUZZ
@given(data=st.data())
def test_mutated_valid_banks_raise_nothing_but_bank_error(fmt: str, data: st.DataObject) -> None:
    parse_or_bank_error(fmt, data.draw(mutated(data.draw(st.sampled_from(SEEDS[fmt])))))


@FUZZ
@given(
    html=st.lists(
        st.sampled_from(
            [*"<>/=\"' abpiul!-&#;\\()[]$*`\n", "<b>", "</b>", "<li>", "<pre>", "<img src=x alt=y>", "<script>"]
        ),
        max_size=120,
    ).map("".join)
)
def test_html_conversion_never_fails_and_never_passes_tags_through(html: str) -> None:
    markdown, _ = html_to_markdown(html)
    assert "<b>" not in markdown and "<script>" not in markdown


HOSTILE = {
    "unclosed tags": "<a " * 30_000,
    "unclosed quotes": "<a href='" * 10_000,
    "comments": "<!--" * 25_000,
    "deep nesting": "<b><i>" * 15_000 + "x",
    "lists": "<ul><li>" * 10_000,
    "math openers": "\\(" * 50_000,
}


@pytest.mark.parametrize("html", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_html_converts_in_linear_time(html: str) -> None:
    started = time.perf_counter()
    html_to_markdown(html)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("gift", "{" * 200_000),
        ("gift", "Q {" + "~a " * 100_000 + "}"),
        ("gift", "::" * 100_000),
        ("gift", "Q {#" + "=" * 100_000 + "}"),
        ("gift", "\\(" * 100_000 + " {T}"),
        ("gift", "[markdown]" + "\\*" * 150_000 + " {=" + "\\_" * 150_000 + " ~b}"),
        ("aiken", "A. x\n" * 100_000),
        ("moodle-xml", "<quiz>" + "<a>" * 10_000 + "</quiz>"),
        ("moodle-xml", "<quiz>" + "<question type='essay'/>" * 20_000 + "</quiz>"),
        ("csv", '"' * 200_000),
        ("csv", "question,A,B,correct\n" + "Q,a,b,A\n" * 20_000),
    ],
    ids=[
        "braces",
        "options",
        "colons",
        "equals",
        "math",
        "long-texts",
        "aiken",
        "xml-depth",
        "xml-many",
        "csv-quotes",
        "csv-rows",
    ],
)
def test_hostile_banks_fail_or_parse_quickly(fmt: str, data: str) -> None:
    started = time.perf_counter()
    parse_or_bank_error(fmt, data)
    assert time.perf_counter() - started < 3


# ================================================================ size


def big_gift(target_bytes: int) -> str:
    rng = random.Random(7)
    templates = [
        (
            "// Question {i}\n::Q{i}::Which of these sorts is stable? (variant {i}) {{\n"
            "  ~Quicksort#No\n  =Merge sort#Yes\n  ~Heapsort\n  ~Selection sort\n"
            "  ####Merge sort keeps equal keys in order.\n}}"
        ),
        "[html]<p>Is <b>{i}</b> even?</p>{{{tf}####<p>Look at the <em>last digit</em>.</p>}}",
        "What is {i} + 1? {{#{j}:0.5}}",
        "Pick the primes among {i} and friends. {{~%50%2 ~%50%3 ~%-100%4 ~%-100%6}}",
        "Name the sort CPython uses (copy {i}). {{=Timsort =Tim sort =%50%merge sort}}",
        "$CATEGORY: $course$/top/Week {i}",
    ]
    parts: list[str] = []
    size = 0
    i = 0
    while size < target_bytes:
        block = rng.choice(templates).format(i=i, j=i + 1, tf="T" if i % 2 == 0 else "F")
        parts.append(block)
        size += len(block) + 2
        i += 1
    return "\n\n".join(parts) + "\n"


def big_csv(target_bytes: int) -> str:
    rows = [CSV_TEMPLATE.splitlines()[0]]
    body = CSV_TEMPLATE.splitlines()[1:]
    size = 0
    i = 0
    while size < target_bytes:
        row = body[i % len(body)].replace(",Pick", f",Pick {i}", 1)
        rows.append(row)
        size += len(row) + 1
        i += 1
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(("name", "make"), [("big.gift", big_gift), ("big.csv", big_csv)])
def test_a_5mb_bank_parses_in_a_few_seconds_and_is_too_big_for_one_pool(tmp_path: Path, name: str, make: Any) -> None:
    path = write(tmp_path, name, make(5 * 1024 * 1024))
    # CPU time of this process: what the import costs, whatever else the machine is running.
    started = time.process_time()
    with pytest.raises(BankError) as caught:
        import_bank(path)
    elapsed = time.process_time() - started
    ((problem,),) = [caught.value.problems]
    count = len(parse_bank(path.read_bytes(), str(path), path.suffix[1:]).questions)
    print(
        f"\n{name}: {path.stat().st_size / 2**20:.1f} MiB, {count} questions parsed and refused in {elapsed:.2f} s of CPU"
    )
    assert count > 10_000 and problem.message == f"{count} questions; a pool holds at most 500"
    assert elapsed < 10


def big_moodle_xml(count: int, image_bytes: int) -> str:
    """A Moodle XML bank of `count` questions, each with its own image of about `image_bytes`."""
    rng = random.Random(11)
    questions = []
    for i in range(count):
        image = base64.b64encode(PNG + rng.randbytes(image_bytes)).decode()
        questions.append(
            f'<question type="multichoice"><questiontext format="html"><text><![CDATA[<p>Which sort is '
            f'<b>stable</b> ({i})? <img src="@@PLUGINFILE@@/chart{i}.png" alt="Chart {i}"></p>]]></text>'
            f'<file name="chart{i}.png" path="/" encoding="base64">{image}</file></questiontext>'
            '<single>true</single><answer fraction="0"><text>Quicksort</text></answer>'
            '<answer fraction="100"><text>Merge sort</text></answer></question>'
        )
    return '<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n' + "\n".join(questions) + "\n</quiz>\n"


def test_a_5mb_moodle_xml_bank_of_500_questions_with_images_imports_and_checks_in_a_few_seconds(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "big.xml", big_moodle_xml(500, 7_600))
    started = time.process_time()
    result = import_bank(path)
    elapsed = time.process_time() - started
    print(
        f"\nbig.xml: {path.stat().st_size / 2**20:.1f} MiB, 500 questions and images checked in {elapsed:.2f} s of CPU"
    )
    assert path.stat().st_size > 5 * 2**20
    assert len(result.checked.questions) == 500 and len(result.assets) == 500
    assert len(result.checked.media()) == 500  # every image read by the pool loader
    assert elapsed < 10


# ================================================================ the CLI, end to end

BANKS = {
    "gift": ("week3.gift", DOC_STYLE_GIFT),
    "aiken": ("week3.txt", AIKEN_DOC_STYLE),
    "moodle-xml": ("week3.xml", MOODLE_XML),
    "csv": ("week3.csv", CSV_TEMPLATE),
}


def test_the_cli_offers_every_bank_format() -> None:
    assert BANK_FORMATS == FORMATS


async def first_question_served(process: ServerProcess) -> dict[str, Any]:
    """Join as a student, open question 0 with `quizctl next`, and return what the phone gets."""
    async with httpx.AsyncClient(base_url=process.url, timeout=WAIT_S) as http:
        health = (await http.get("/healthz")).json()
        assert health["ok"] is True and health["state"] == "lobby"
        assert (await http.post("/join", json={"student_id": "s1", "name": "Ann"})).status_code == 200
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        async with await WebSocketClient.open(process.url, "/ws/student", cookie=cookie) as ws:
            assert await ws.expect("state") is not None
            done = await quizctl("next", data_dir=process.data_dir)
            assert done.returncode == 0, done.stderr
            opened = await ws.expect("question_open")
            assert opened is not None
        if "image" in opened:
            opened["image_bytes"] = (await http.get(opened["image"]["url"])).content
        return opened


@pytest.mark.parametrize("fmt", BANKS)
async def test_cli_imports_validates_and_serves_each_format(tmp_path: Path, fmt: str) -> None:
    name, text = BANKS[fmt]
    bank = write(tmp_path, name, text)
    expected = import_bank(bank)
    output = tmp_path / "pools" / "week3.json"
    done = await quizctl("import", str(bank), "-o", str(output))
    assert done.returncode == 0, done.stderr
    count = len(expected.pool["questions"])
    assert done.stdout.startswith(f"{bank}: imported {count} questions (") and f"into {output};" in done.stdout
    # Warnings go to stderr, each with the bank's file and line.
    assert done.stderr.splitlines() == [warning.as_warning() for warning in expected.warnings]
    assert all(line.startswith(f"{bank}:") for line in done.stderr.splitlines())
    assert json.loads(output.read_text(encoding="utf-8")) == expected.pool
    for asset, data in expected.assets:  # images beside the written pool
        assert (output.parent / asset).read_bytes() == data
    summaries = []
    for path in (output, bank):  # the written pool, and the bank itself: the same pool
        done = await quizctl("validate", str(path))
        assert done.returncode == 0 and done.stdout.startswith(f"{path}: OK - "), done.stderr
        assert f", {count} questions" in done.stdout
        summaries.append(done.stdout.split(" OK - ", 1)[1])
    assert summaries[0] == summaries[1]
    process = await ServerProcess(bank, tmp_path / "data").start()
    try:
        opened = await first_question_served(process)
        assert await process.stop() == 0
    finally:
        process.ensure_stopped()
    first = expected.checked.questions[0]
    assert (opened["question_idx"], opened["question_type"], opened["text"]) == (0, first.kind, first.text.source)
    assert opened.get("image_bytes") == (first.image.data if first.image is not None else None)
    # The served pool is a file the loader read: DATA_DIR/imported/<bank name>/pool.json, images beside it.
    folder = tmp_path / "data" / "imported" / name.replace(".", "-")
    assert json.loads((folder / "pool.json").read_text(encoding="utf-8")) == expected.pool
    assert sorted(path.name for path in folder.iterdir()) == sorted(["pool.json", *(a for a, _ in expected.assets)])


async def test_cli_import_to_stdout_with_options(tmp_path: Path) -> None:
    bank = write(tmp_path, "bank.csv", CSV_TEMPLATE)
    done = await quizctl("import", str(bank), "--title", "Week 4", "--time-limit", "45", "--score-fn", "binary")
    assert done.returncode == 0, done.stderr
    pool = json.loads(done.stdout)
    assert (pool["title"], pool["time_limit_default"], pool["score_fn"]) == ("Week 4", 45, "binary")
    assert pool["questions"] == CSV_EXPECTED
    assert done.stderr.startswith(f"{bank}: imported 10 questions") and "into stdout" in done.stderr
    report = (await quizctl("import", str(bank), "--json")).json()
    assert (report["ok"], report["questions"], report["pool_file"], report["warnings"]) == (True, 10, None, [])
    assert report["pool"]["questions"] == CSV_EXPECTED


async def test_cli_import_errors_exit_1_listing_each_with_file_line_and_fix(tmp_path: Path) -> None:
    bank = write(tmp_path, "bank.gift", "Fine {T}\n\nQ {=a ~b\n\nMatch {=a -> b =c -> d}\n\nQ {#x}\n")
    output = tmp_path / "pool.json"
    done = await quizctl("import", str(bank), "-o", str(output))
    assert (done.returncode, done.stdout) == (1, "")
    skipped = "a matching question (->): quizctl cannot run this kind of question; skipped"
    unclosed = "the answer block opened here is not closed before the blank line"
    numbers = "write numbers like {#42}, {#3.14:0.01} (tolerance) or {#1..5} (range)"
    assert done.stderr.splitlines() == [
        f"{bank}:5: warning: {skipped} (fix: rewrite it as several single-choice questions)",
        f"{bank}:3:3: {unclosed} (fix: close it with }}, remove blank lines inside it, or escape a literal brace as \\{{)",
        f"{bank}:7: 'x' is not a number with an optional tolerance (fix: {numbers})",
        f"{bank}: 2 error(s); nothing written.",
    ]
    assert not output.exists()
    report = json.loads((await quizctl("import", str(bank), "--json")).stdout)
    assert report["ok"] is False
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(3, 3), (7, None)]
    assert [w["line"] for w in report["warnings"]] == [5]
    # validate and serve report the same problems, and exit 1.
    for command in (("validate", str(bank)), ("serve", str(bank), "--port", "0", "--data-dir", str(tmp_path / "d"))):
        done = await quizctl(*command)
        assert done.returncode == 1 and f"{bank}:3:3: the answer block" in done.stderr, done.stderr
    assert not (tmp_path / "d" / "imported").exists()


async def test_cli_strict_makes_skipped_questions_errors(tmp_path: Path) -> None:
    bank = write(tmp_path, "bank.gift", "Fine {T}\n\nEssay {}\n")
    done = await quizctl("import", str(bank), "-o", str(tmp_path / "pool.json"))
    assert done.returncode == 0 and f"{bank}:3: warning: an essay question" in done.stderr
    done = await quizctl("import", str(bank), "--strict", "-o", str(tmp_path / "strict.json"))
    assert done.returncode == 1 and f"{bank}:3: an essay question" in done.stderr
    assert not (tmp_path / "strict.json").exists()


async def test_cli_import_writes_images_beside_the_pool_and_overwrites_only_with_force(tmp_path: Path) -> None:
    bank = write(tmp_path, "export.xml", MOODLE_XML)
    ((asset, data),) = import_bank(bank).assets
    output = tmp_path / "course" / "week3.json"
    assert (await quizctl("import", str(bank), "-o", str(output))).returncode == 0
    assert (output.parent / asset).read_bytes() == data
    assert load_pool(output).questions[0].image.data == data
    # Importing again: the pool file exists, so nothing is written without --force.
    output.write_text("{}", encoding="utf-8")
    done = await quizctl("import", str(bank), "-o", str(output))
    assert done.returncode == 1 and "already exist" in done.stderr and "--force" in done.stderr
    assert output.read_text(encoding="utf-8") == "{}"
    (output.parent / asset).write_bytes(b"another file")
    output.unlink()
    done = await quizctl("import", str(bank), "-o", str(output))
    assert done.returncode == 1 and asset in done.stderr and not output.exists()
    assert (await quizctl("import", str(bank), "-o", str(output), "--force")).returncode == 0
    assert (output.parent / asset).read_bytes() == data and load_pool(output).title == "export"
    # A bank with images cannot go to stdout: there is no folder to put them in.
    done = await quizctl("import", str(bank))
    assert done.returncode == 1 and "give -o" in done.stderr and done.stdout == ""


async def test_cli_export_pool_and_import_give_the_same_pool_back(tmp_path: Path) -> None:
    bank = tmp_path / "gift" / "demo.gift"
    bank.parent.mkdir()
    done = await quizctl("export-pool", str(POOLS_DIR / "demo.json"), "-o", str(bank))
    assert done.returncode == 0, done.stderr
    assert (bank.parent / "figures" / "bubble-pass.png").read_bytes() == (
        POOLS_DIR / "figures" / "bubble-pass.png"
    ).read_bytes()
    assert (await quizctl("export-pool", str(POOLS_DIR / "demo.json"), "-o", str(bank))).returncode == 1
    output = tmp_path / "again" / "demo.json"
    done = await quizctl("import", str(bank), "-o", str(output))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    original = json.loads((POOLS_DIR / "demo.json").read_text(encoding="utf-8"))
    assert same_pools(json.loads(output.read_text(encoding="utf-8")), original, POOLS_DIR)
    assert (output.parent / "figures" / "bubble-pass.png").is_file()
    done = await quizctl("export-pool", str(POOLS_DIR / "sorting.json"))
    assert done.returncode == 0 and done.stdout == export_gift(pool_json(load_pool(POOLS_DIR / "sorting.json")))


async def test_cli_format_option_overrides_the_extension(tmp_path: Path) -> None:
    bank = write(tmp_path, "questions.dat", AIKEN_DOC_STYLE)
    done = await quizctl("validate", str(bank))  # read as a pool file: not JSON
    assert done.returncode == 1 and "line 1, column 1" in done.stderr
    done = await quizctl("validate", "--format", "aiken", str(bank))
    assert done.returncode == 0 and "3 questions" in done.stdout
    done = await quizctl("import", str(bank), "--format", "gift")
    assert done.returncode == 1 and f"{bank}:" in done.stderr


async def test_cli_help_shows_examples() -> None:
    for command in ("import", "export-pool", "validate"):
        done = await quizctl(command, "--help")
        assert done.returncode == 0 and "Examples:" in done.stdout, command
    assert "--format" in (await quizctl("serve", "--help")).stdout
