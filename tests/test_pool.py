import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.quiz.pool import Pool, PoolError, load_pool, parse_pool, summary_line

POOLS_DIR = Path(__file__).parent.parent / "pools"


def valid_pool_data() -> dict[str, Any]:
    return {
        "title": "Week 3: Sorting",
        "session_id": "cs101-w3",
        "time_limit_default": 30,
        "score_fn": "speed_linear",
        "questions": [
            {
                "text": "Which sort is stable?",
                "options": {"A": "Quicksort", "B": "Merge sort", "C": "Heapsort", "D": "Selection sort"},
                "correct": "B",
                "explanation": "Merge sort keeps equal keys in input order.",
                "time_limit": 20,
            },
            {
                "text": "Is insertion sort O(n) on sorted input?",
                "options": {"A": "Yes", "B": "No"},
                "correct": "A",
            },
            {
                "text": "Lower bound for comparison sorts?",
                "options": {"A": "n", "B": "n log n", "C": "n^2"},
                "correct": "B",
            },
        ],
    }


def problems_of(data: object) -> list[str]:
    with pytest.raises(PoolError) as excinfo:
        parse_pool(data, "quiz.json")
    return excinfo.value.problems


def problems_of_file(path: Path) -> list[str]:
    with pytest.raises(PoolError) as excinfo:
        load_pool(path)
    assert excinfo.value.source == str(path)
    return excinfo.value.problems


DELETE = object()


def with_change(path: str, value: object) -> dict[str, Any]:
    """A valid pool with the field at `path` (e.g. "questions.1.correct") replaced, or deleted if value is DELETE."""
    data = valid_pool_data()
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return data


def write_json(tmp_path: Path, data: object, name: str = "pool.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------- valid pools


def test_valid_pool_parses_with_effective_time_limits() -> None:
    pool = parse_pool(valid_pool_data(), "quiz.json")
    assert pool.title == "Week 3: Sorting"
    assert pool.session_id == "cs101-w3"
    assert pool.score_fn == "speed_linear"
    assert pool.source == "quiz.json"
    assert [question.time_limit for question in pool.questions] == [20, 30, 30]
    assert pool.questions[0].kind == "single"
    assert pool.questions[0].to_json() == {
        "text": "Which sort is stable?",
        "options": {"A": "Quicksort", "B": "Merge sort", "C": "Heapsort", "D": "Selection sort"},
        "correct": "B",
        "explanation": "Merge sort keeps equal keys in input order.",
        "time_limit": 20,
    }
    assert pool.questions[1].explanation.source == ""


def test_optional_fields_may_be_absent_or_null() -> None:
    data = valid_pool_data()
    del data["session_id"]
    data["questions"][0]["explanation"] = None
    data["questions"][0]["time_limit"] = None
    pool = parse_pool(data)
    assert pool.session_id is None
    assert pool.source == "<pool>"
    assert pool.questions[0].explanation.source == ""
    assert pool.questions[0].time_limit == 30


def test_time_limit_default_and_score_fn_are_optional() -> None:
    data = valid_pool_data()
    del data["time_limit_default"], data["score_fn"]
    pool = parse_pool(data)
    assert (pool.time_limit_default, pool.score_fn) == (30, "speed_linear")


def test_options_come_back_in_letter_order() -> None:
    data = with_change("questions.2.options", {"C": "n^2", "A": "n", "B": "n log n"})
    pool = parse_pool(data)
    assert list(pool.questions[2].options) == ["A", "B", "C"]


@pytest.mark.parametrize("name", ["demo.json", "sorting.json", "tiny.json"])
def test_sample_pools_are_valid(name: str) -> None:
    pool = load_pool(POOLS_DIR / name)
    assert pool.questions
    assert pool.source == str(POOLS_DIR / name)


def test_demo_pool_shows_every_question_type_with_code_math_and_an_image() -> None:
    pool = load_pool(POOLS_DIR / "demo.json")
    assert (pool.title, pool.session_id, pool.score_fn) == ("Week 3: Sorting", "cs101-w3", "speed_linear")
    assert {q.kind for q in pool.questions} == {"single", "multiple", "true_false", "numeric", "text", "poll"}
    assert any('<pre class="code"><code class="language-python">' in q.text.html for q in pool.questions)
    assert any("<math" in q.text.html or "<math" in q.explanation.html for q in pool.questions)
    assert [q.image.relative for q in pool.questions if q.image is not None] == ["figures/bubble-pass.png"]
    assert any(q.kind == "poll" and not q.scored and q.open_fields().get("open") for q in pool.questions)


def test_sorting_pool_is_a_realistic_single_choice_mix() -> None:
    pool = load_pool(POOLS_DIR / "sorting.json")
    assert (pool.title, pool.session_id, pool.score_fn, pool.time_limit_default) == (
        "Week 3: Sorting",
        "cs101-sorting",
        "speed_linear",
        30,
    )
    assert len(pool.questions) == 10
    assert {len(question.options) for question in pool.questions} == {2, 3, 4}
    assert {question.correct for question in pool.questions} == {"A", "B", "C", "D"}
    assert any(question.time_limit != 30 for question in pool.questions)
    assert all(question.explanation for question in pool.questions)


def test_tiny_pool_matches_what_tests_rely_on() -> None:
    pool = load_pool(POOLS_DIR / "tiny.json")
    assert (pool.title, pool.session_id, pool.score_fn, pool.time_limit_default) == (
        "Tiny test quiz",
        "tiny",
        "speed_linear",
        20,
    )
    assert ["".join(question.options) for question in pool.questions] == ["ABCD", "ABC", "AB"]
    assert [question.correct for question in pool.questions] == ["B", "A", "B"]
    assert all(question.explanation for question in pool.questions)


def test_summary_line() -> None:
    pool = load_pool(POOLS_DIR / "sorting.json")
    assert summary_line(pool) == (
        f"{POOLS_DIR / 'sorting.json'}: OK - 'Week 3: Sorting' (session cs101-sorting), "
        "10 questions, speed_linear, 30 s default"
    )
    demo = load_pool(POOLS_DIR / "demo.json")
    assert summary_line(demo).endswith(
        "10 questions (multiple, numeric, poll, single, text, true_false), speed_linear, 30 s default"
    )


def test_summary_line_without_session_id() -> None:
    data = valid_pool_data()
    del data["session_id"]
    data["questions"] = data["questions"][:1]
    line = summary_line(parse_pool(data, "one.json"))
    assert line == "one.json: OK - 'Week 3: Sorting' (session id from config), 1 question, speed_linear, 30 s default"


@pytest.mark.parametrize("name", ["demo.json", "sorting.json", "tiny.json"])
def test_to_json_round_trips(name: str) -> None:
    pool = load_pool(POOLS_DIR / name)
    canonical = pool.to_json()
    assert parse_pool(canonical, pool.source) == pool
    assert parse_pool(json.loads(json.dumps(canonical)), pool.source) == pool


def test_to_json_writes_every_time_limit_and_omits_what_is_absent() -> None:
    data = valid_pool_data()
    del data["session_id"]
    canonical = parse_pool(data).to_json()
    assert "session_id" not in canonical
    assert [question["time_limit"] for question in canonical["questions"]] == [20, 30, 30]
    assert "explanation" not in canonical["questions"][1]
    assert list(canonical) == ["title", "time_limit_default", "score_fn", "questions"]


# ---------------------------------------------------------------- each kind of problem, with its location


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("title", DELETE, "title: missing"),
        ("title", "   ", "title: is empty"),
        ("title", 42, "title: expected a string, got 42"),
        ("title", "x" * 201, "title: is 201 characters long, the limit is 200"),
        ("session_id", "", "session_id: is empty"),
        ("session_id", "cs 101/w3", "session_id: 'cs 101/w3' may only contain A-Z a-z 0-9 . _ -"),
        ("session_id", "s" * 65, "session_id: is 65 characters long, the limit is 64"),
        ("session_id", 7, "session_id: expected a string, got 7"),
        ("time_limit_default", 4, "time_limit_default: 4 is out of range 5..3600 seconds"),
        ("time_limit_default", 3601, "time_limit_default: 3601 is out of range 5..3600 seconds"),
        ("time_limit_default", 30.0, "time_limit_default: expected whole seconds as an integer, got 30.0"),
        ("time_limit_default", True, "time_limit_default: expected whole seconds as an integer, got true"),
        ("time_limit_default", "30", "time_limit_default: expected whole seconds as an integer, got the string '30'"),
        ("score_fn", "fastest_wins", "score_fn: 'fastest_wins' is not a score function"),
        ("questions", DELETE, "questions: missing"),
        ("questions", [], "questions: is empty"),
        ("questions", {"text": "?"}, "questions: expected an array [...], got an object"),
        ("questions.1", "What?", "questions[1]: expected a question object {...}, got the string 'What?'"),
        ("questions.1.text", DELETE, "questions[1].text: missing"),
        ("questions.1.text", "", "questions[1].text: is empty"),
        ("questions.1.text", "q" * 1001, "questions[1].text: is 1001 characters long, the limit is 1000"),
        ("questions.0.options", DELETE, "questions[0].options: missing"),
        (
            "questions.0.options",
            ["Yes", "No"],
            'questions[0].options: expected an object like {"A": "...", "B": "..."}, got an array',
        ),
        ("questions.0.options", {"A": "only"}, "questions[0].options: has 1 option(s), needs 2 to 6"),
        ("questions.0.options", {k: k for k in "ABCDEFG"}, "questions[0].options: has 7 options, the limit is 6"),
        ("questions.0.options", {"A": "x", "C": "y"}, "questions[0].options: keys A, C are not consecutive from A"),
        ("questions.0.options", {"a": "x", "b": "y"}, "questions[0].options: keys a, b are not consecutive from A"),
        ("questions.0.options.C", "", "questions[0].options.C: is empty"),
        ("questions.0.options.D", 4, "questions[0].options.D: expected a string, got 4"),
        ("questions.0.options.A", "o" * 301, "questions[0].options.A: is 301 characters long, the limit is 300"),
        ("questions.2.correct", DELETE, "questions[2].correct: missing"),
        ("questions.2.correct", "E", "questions[2].correct: 'E' is not one of the options A-C"),
        ("questions.2.correct", 1, "questions[2].correct: expected an option key such as 'A', got 1"),
        ("questions.0.explanation", 3, "questions[0].explanation: expected a string, got 3"),
        ("questions.0.explanation", "e" * 2001, "questions[0].explanation: is 2001 characters long, the limit is 2000"),
        ("questions.0.time_limit", 0, "questions[0].time_limit: 0 is out of range 5..3600 seconds"),
        ("questions.0.time_limit", 12.5, "questions[0].time_limit: expected whole seconds as an integer, got 12.5"),
        ("questions.0.time_limit", False, "questions[0].time_limit: expected whole seconds as an integer, got false"),
    ],
)
def test_each_problem_is_reported_at_its_location(path: str, value: object, expected: str) -> None:
    problems = problems_of(with_change(path, value))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected + " (fix: ")
    assert "(fix: " in problems[0] and problems[0].endswith(")")


def test_correct_message_keeps_the_contract_wording() -> None:
    data = valid_pool_data()
    data["questions"].append(copy.deepcopy(data["questions"][2]))
    data["questions"][3]["correct"] = "E"
    assert problems_of(data) == ["questions[3].correct: 'E' is not one of the options A-C (fix: use one of A, B, C)"]


def test_lower_case_correct_suggests_the_letter() -> None:
    problems = problems_of(with_change("questions.2.correct", "b"))
    assert problems == ["questions[2].correct: 'b' is not one of the options A-C (fix: use 'B')"]


def test_empty_explanation_is_allowed() -> None:
    assert parse_pool(with_change("questions.0.explanation", "")).questions[0].explanation.source == ""


def test_root_that_is_not_an_object() -> None:
    problems = problems_of([{"text": "?"}])
    assert len(problems) == 1
    assert problems[0].startswith("(root): expected a JSON object {...}, got an array (fix: ")


def test_milliseconds_time_limit_gets_a_seconds_hint() -> None:
    problems = problems_of(with_change("time_limit_default", 30_000))
    assert problems == [
        "time_limit_default: 30000 is out of range 5..3600 seconds "
        "(fix: time limits are in seconds, not milliseconds: write 30)"
    ]


def test_session_id_fix_suggests_a_valid_id() -> None:
    problems = problems_of(with_change("session_id", "CS 101 week 3"))
    assert problems == ["session_id: 'CS 101 week 3' may only contain A-Z a-z 0-9 . _ - (fix: use 'CS-101-week-3')"]


def test_options_written_with_lower_case_keys_get_an_upper_case_hint() -> None:
    problems = problems_of(with_change("questions.1.options", {"a": "Yes", "b": "No"}))
    assert problems == [
        "questions[1].options: keys a, b are not consecutive from A (fix: option keys are upper-case: use A, B)"
    ]


# ---------------------------------------------------------------- unknown keys and typos


def test_typo_in_question_key_gets_a_hint_and_no_extra_missing_line() -> None:
    data = valid_pool_data()
    data["questions"][2]["corect"] = data["questions"][2].pop("correct")
    assert problems_of(data) == ["questions[2]: unknown key 'corect' (fix: did you mean 'correct'?)"]


def test_typo_in_root_key_gets_a_hint() -> None:
    data = valid_pool_data()
    data["titel"] = data.pop("title")
    assert problems_of(data) == ["(root): unknown key 'titel' (fix: did you mean 'title'?)"]


def test_typo_in_score_fn_value_gets_a_hint() -> None:
    problems = problems_of(with_change("score_fn", "speed-linear"))
    assert problems == ["score_fn: 'speed-linear' is not a score function (fix: did you mean 'speed_linear'?)"]


def test_unrelated_unknown_key_lists_the_allowed_keys() -> None:
    data = with_change("questions.0.difficulty", "hard")
    assert problems_of(data) == [
        "questions[0]: unknown key 'difficulty' "
        "(fix: remove it; allowed keys are text, options, correct, explanation, time_limit, points, image, image_alt, "
        "tags, live_results)"
    ]


def test_duplicate_keys_in_a_file_are_reported(tmp_path: Path) -> None:
    text = json.dumps(valid_pool_data()).replace('"correct": "B"', '"correct": "B", "correct": "C"', 1)
    path = tmp_path / "dup.json"
    path.write_text(text, encoding="utf-8")
    problems = problems_of_file(path)
    assert len(problems) == 1
    assert problems[0].startswith("questions[0]: key 'correct' appears more than once (fix: ")


# ---------------------------------------------------------------- all problems at once


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    data = valid_pool_data()
    data["score_fn"] = "fastest"
    data["questions"][0]["time_limit"] = 2
    data["questions"][2]["correct"] = "E"
    path = write_json(tmp_path, data)

    with pytest.raises(PoolError) as excinfo:
        load_pool(path)

    error = excinfo.value
    assert [problem.split(":")[0] for problem in error.problems] == [
        "score_fn",
        "questions[0].time_limit",
        "questions[2].correct",
    ]
    lines = str(error).splitlines()
    assert lines[0] == f"{path}: 3 problem(s)"
    assert lines[1:] == ["  " + problem for problem in error.problems]


def test_every_broken_question_is_reported() -> None:
    data = valid_pool_data()
    for question in data["questions"]:
        question["correct"] = "Z"
    problems = problems_of(data)
    assert [problem.split(":")[0] for problem in problems] == [
        "questions[0].correct",
        "questions[1].correct",
        "questions[2].correct",
    ]


def test_broken_options_do_not_hide_other_problems_in_the_question() -> None:
    data = with_change("questions.1.options", {"A": "Yes", "C": "No"})
    data["questions"][1]["time_limit"] = 9000
    data["questions"][1]["text"] = ""
    locations = [problem.split(":")[0] for problem in problems_of(data)]
    assert locations == ["questions[1].text", "questions[1].options", "questions[1].time_limit"]


# ---------------------------------------------------------------- file problems


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of_file(tmp_path / "nope.json") == ["(file): no such file (fix: check the path)"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    problems = problems_of_file(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("(file): is a directory (fix: ")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(valid_pool_data()).replace("Week", "W\u00e9ek").encode("latin-1"))
    problems = problems_of_file(path)
    assert len(problems) == 1
    assert problems[0].startswith("(file): not valid UTF-8 (line 1, byte ")
    assert problems[0].endswith("(fix: save the file with UTF-8 encoding)")


def test_utf8_file_with_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(valid_pool_data()).encode())
    assert load_pool(path).title == "Week 3: Sorting"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("\n", encoding="utf-8")
    problems = problems_of_file(path)
    assert len(problems) == 1 and problems[0].startswith("(file): is empty (fix: ")


def test_malformed_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "title": "Quiz",\n  "score_fn": "binary"\n  "questions": []\n}\n', encoding="utf-8")
    problems = problems_of_file(path)
    assert len(problems) == 1
    assert problems[0].startswith("(json) line 4, column 3: Expecting ',' delimiter (fix: ")


def test_trailing_comma_gives_line_column_and_hint(tmp_path: Path) -> None:
    path = tmp_path / "trailing.json"
    path.write_text('{\n  "title": "Quiz",\n}\n', encoding="utf-8")
    problems = problems_of_file(path)
    assert problems == [
        "(json) line 3, column 1: Expecting property name enclosed in double quotes "
        "(fix: put keys in double quotes and remove any comma before })"
    ]


def test_file_problems_stop_further_checks(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    path.write_text('{"title": ""} {"title": ""}', encoding="utf-8")
    problems = problems_of_file(path)
    assert len(problems) == 1 and problems[0].startswith("(json) line 1, column 15: Extra data")


def test_load_pool_accepts_str_paths(tmp_path: Path) -> None:
    path = write_json(tmp_path, valid_pool_data())
    pool = load_pool(str(path))
    assert isinstance(pool, Pool) and pool.source == str(path)


# ---------------------------------------------------------------- arbitrary input never crashes the validator

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
changeable_paths = [
    "title",
    "session_id",
    "time_limit_default",
    "score_fn",
    "questions",
    "questions.0",
    "questions.1.text",
    "questions.1.options",
    "questions.1.options.A",
    "questions.1.correct",
    "questions.2.explanation",
    "questions.2.time_limit",
]


@given(data=json_values)
def test_any_json_value_is_a_pool_or_a_pool_error(data: object) -> None:
    try:
        parse_pool(data)
    except PoolError as error:
        assert error.problems


@given(path=st.sampled_from(changeable_paths), value=json_values)
def test_any_field_change_gives_a_pool_or_located_problems(path: str, value: object) -> None:
    try:
        pool = parse_pool(with_change(path, value))
    except PoolError as error:
        assert all(": " in problem and problem.endswith(")") for problem in error.problems)
    else:
        assert parse_pool(pool.to_json()) == pool
