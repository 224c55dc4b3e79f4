"""The six question types: pool validation, answers and their grading, reveals, /me and the gradebook.

Room-level tests drive a real room (MockClock, real SQLite) with a pool holding one
question of each type; the wire tests go through the real server and websockets.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from server import serve
from server.quiz.pool import Pool, PoolError, parse_pool
from server.quiz.scoring import points_for
from server.quiz.types.choice import MultipleChoice
from server.quiz.types.text import fold
from server.reports.gradebook import render_csv
from server.room.room import Room
from server.session.errors import RoomError
from server.settings import Settings
from tests.helpers import Student, running_server

EVERY_TYPE: dict[str, Any] = {
    "title": "Every type",
    "session_id": "types",
    "time_limit_default": 20,
    "questions": [
        {"text": "Single?", "options": {"A": "a", "B": "b", "C": "c", "D": "d", "E": "e", "F": "f"}, "correct": "F"},
        {"type": "multiple", "text": "Which are prime?", "options": {"A": "2", "B": "4", "C": "5", "D": "9"},
         "correct": ["A", "C"], "points": 2},
        {"type": "true_false", "text": "The sky is blue.", "correct": True},
        {"type": "numeric", "text": "Pi to two decimals?", "correct": 3.14, "tolerance": 0.005, "unit": "rad"},
        {"type": "text", "text": "Capital of France?", "accept": ["Paris"]},
        {"type": "poll", "text": "Tea or coffee?", "options": {"A": "Tea", "B": "Coffee"}},
        {"type": "poll", "open": True, "text": "One word for today?"},
        {"type": "numeric", "text": "Between one and five?", "range": [1, 5]},
        {"type": "text", "text": "Exact case?", "accept": ["NaCl"], "match": "exact"},
    ],
}
SINGLE, MULTIPLE, TRUE_FALSE, NUMERIC, TEXT, POLL, OPEN_POLL, RANGE, EXACT = range(9)


def every_type_pool() -> Pool:
    return parse_pool(json.loads(json.dumps(EVERY_TYPE)), "types.json")


def problems_of(question: dict[str, Any]) -> list[str]:
    with pytest.raises(PoolError) as refused:
        parse_pool({"title": "t", "questions": [question]}, "q.json")
    return refused.value.problems


# ---------------------------------------------------------------- validation


def test_a_pool_with_every_type_is_valid_and_round_trips() -> None:
    pool = every_type_pool()
    assert [q.kind for q in pool.questions] == [
        "single", "multiple", "true_false", "numeric", "text", "poll", "poll", "numeric", "text",
    ]
    assert parse_pool(pool.to_json(), pool.source) == pool
    assert pool.questions[MULTIPLE].weight == 2 and not pool.questions[POLL].scored


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ({"type": "multiple", "text": "q", "options": {"A": "a", "B": "b"}, "correct": "A"},
         "questions[0].correct: expected a list of option keys, got the string 'A'"),
        ({"type": "multiple", "text": "q", "options": {"A": "a", "B": "b"}, "correct": ["A", "A"]},
         "questions[0].correct: 'A' given more than once"),
        ({"type": "multiple", "text": "q", "options": {"A": "a", "B": "b"}, "correct": ["C"]},
         "questions[0].correct: 'C' not among the options A-B"),
        ({"type": "multiple", "text": "q", "options": {"A": "a", "B": "b"}, "correct": []},
         "questions[0].correct: expected a list of one or more option keys, got an array"),
        ({"type": "true_false", "text": "q", "correct": "true"},
         "questions[0].correct: expected true or false, got the string 'true'"),
        ({"type": "true_false", "text": "q", "correct": True, "options": {"A": "a", "B": "b"}},
         "questions[0].options: is not used by true/false questions"),
        ({"type": "numeric", "text": "q", "correct": 1, "tolerance": -0.5},
         "questions[0].tolerance: must be >= 0"),
        ({"type": "numeric", "text": "q", "correct": "3.14"},
         "questions[0].correct: expected a number, got the string '3.14'"),
        ({"type": "numeric", "text": "q", "range": [5, 1]}, "questions[0].range: low 5 is above high 1"),
        ({"type": "numeric", "text": "q", "range": [1]}, "questions[0].range: expected [low, high], got an array"),
        ({"type": "numeric", "text": "q", "range": [1, 2], "correct": 1},
         "questions[0].correct: cannot be given with a range"),
        ({"type": "numeric", "text": "q"}, "questions[0].correct: missing"),
        ({"type": "text", "text": "q", "accept": []},
         "questions[0].accept: expected a list of one or more answers, got an array"),
        ({"type": "text", "text": "q", "accept": ["x" * 101]},
         "questions[0].accept[0]: is 101 characters long, the limit is 100"),
        ({"type": "text", "text": "q", "accept": ["x"], "match": "fuzzy"},
         "questions[0].match: the string 'fuzzy' is not a match mode"),
        ({"type": "poll", "text": "q", "options": {"A": "a", "B": "b"}, "correct": "A"},
         "questions[0].correct: is not used by polls"),
        ({"type": "poll", "text": "q", "open": True, "options": {"A": "a", "B": "b"}},
         "questions[0].options: is not used by open polls"),
        ({"type": "quiz", "text": "q"}, "questions[0].type: the string 'quiz' is not a question type"),
        ({"text": "q", "options": {"A": "a", "B": "b"}, "correct": "A", "points": 0},
         "questions[0].points: 0 is out of range"),
        ({"text": "q", "options": {"A": "a", "B": "b"}, "correct": "A", "points": 1.005},
         "questions[0].points: 1.005 has more than two decimals"),
        ({"text": "$\\frac{a$", "options": {"A": "a", "B": "b"}, "correct": "A"}, "questions[0].text (line 1"),
        ({"text": "q", "options": {"A": "a", "B": "b"}, "correct": "A", "image": "x.png"},
         "questions[0].image_alt: is missing"),
    ],
)
def test_each_type_reports_its_bad_fields_at_their_location(question: dict[str, Any], expected: str) -> None:
    problems = problems_of(question)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected) and "(fix: " in problems[0], problems[0]


def test_images_are_checked_beside_the_pool(tmp_path: Path) -> None:
    (tmp_path / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 60)
    (tmp_path / "notes.txt").write_text("not an image")
    base = {"text": "q", "options": {"A": "a", "B": "b"}, "correct": "A", "image_alt": "a figure"}
    pool = parse_pool({"title": "t", "questions": [{**base, "image": "fig.png"}]}, str(tmp_path / "p.json"))
    image = pool.questions[0].image
    assert image.content_type == "image/png" and image.url.startswith("/media/") and pool.media() == {
        image.url.rsplit("/", 1)[1]: image
    }
    for path, why in [("../fig.png", "outside"), ("notes.txt", "PNG"), ("missing.png", "not found")]:
        with pytest.raises(PoolError) as refused:
            parse_pool({"title": "t", "questions": [{**base, "image": path}]}, str(tmp_path / "p.json"))
        assert refused.value.problems[0].startswith("questions[0].image: "), refused.value.problems
        assert why.lower() in refused.value.problems[0].lower(), refused.value.problems


# ---------------------------------------------------------------- answers and grading


@pytest.mark.parametrize(
    ("index", "bad", "expected"),
    [
        (SINGLE, ["A"], "one of A, B, C, D, E, F"),
        (SINGLE, "G", "one of A, B, C, D, E, F"),
        (MULTIPLE, "A", "a list of distinct keys"),
        (MULTIPLE, ["A", "A"], "a list of distinct keys"),
        (MULTIPLE, ["E"], "a list of distinct keys"),
        (MULTIPLE, [], "a list of distinct keys"),
        (TRUE_FALSE, "true", "true or false"),
        (TRUE_FALSE, 1, "true or false"),
        (NUMERIC, "3.14", "a number"),
        (NUMERIC, float("nan"), "a number"),
        (NUMERIC, float("inf"), "a number"),
        (NUMERIC, True, "a number"),
        (TEXT, "", "text of 1 to 100 characters"),
        (TEXT, "   ", "text of 1 to 100 characters"),
        (TEXT, "x" * 101, "text of 1 to 100 characters"),
        (TEXT, 42, "text of 1 to 100 characters"),
        (POLL, "C", "one of A, B"),
        (OPEN_POLL, ["word"], "text of 1 to 100 characters"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_refused_saying_what_was_expected(index: int, bad: Any, expected: str) -> None:
    with pytest.raises(RoomError) as refused:
        every_type_pool().questions[index].parse_answer(bad)
    assert refused.value.code == "bad_answer" and expected in refused.value.message


@pytest.mark.parametrize(
    ("index", "answer", "credit", "correct"),
    [
        (SINGLE, "F", 1, True),
        (SINGLE, "A", 0, False),
        (MULTIPLE, ["C", "A"], 1, True),
        (MULTIPLE, ["A"], Fraction(1, 2), False),
        (MULTIPLE, ["A", "B"], 0, False),
        (MULTIPLE, ["A", "C", "D"], Fraction(1, 2), False),
        (MULTIPLE, ["B", "D"], 0, False),
        (TRUE_FALSE, True, 1, True),
        (TRUE_FALSE, False, 0, False),
        (NUMERIC, 3.14, 1, True),
        (NUMERIC, 3.145, 1, True),  # the tolerance is inclusive
        (NUMERIC, 3.146, 0, False),
        (NUMERIC, 3, 0, False),
        (RANGE, 1, 1, True),
        (RANGE, 5.0, 1, True),
        (RANGE, 5.01, 0, False),
        (TEXT, "  paris ", 1, True),
        (TEXT, "ＰＡＲＩＳ", 1, True),  # NFKC: full-width letters
        (TEXT, "Lyon", 0, False),
        (EXACT, "NaCl", 1, True),
        (EXACT, "nacl", 0, False),
        (POLL, "A", 0, False),
    ],
)
def test_each_type_grades_its_answers(index: int, answer: Any, credit: Fraction, correct: bool) -> None:
    question = every_type_pool().questions[index]
    grade = question.grade(question.parse_answer(answer))
    assert (grade.credit, grade.correct) == (credit, correct)


@pytest.mark.parametrize(
    ("credit", "elapsed_ms", "points"),
    [
        (Fraction(1), 0, 20), (Fraction(1), 10_000, 15), (Fraction(1), 20_000, 10),
        (Fraction(1, 2), 0, 10), (Fraction(1, 2), 10_000, 8), (Fraction(1, 2), 20_000, 5),
        (Fraction(1, 3), 0, 7), (Fraction(2, 3), 5_000, 12), (Fraction(0), 0, 0),
    ],
)
def test_partial_credit_and_the_speed_factor_land_on_the_005_grid(credit: Fraction, elapsed_ms: int, points: int) -> None:
    # speed_linear: credit × (1 - 0.5 × elapsed/limit), to the nearest twentieth, halves up.
    assert points_for("speed_linear", credit, elapsed_ms, 20_000) == points
    assert points_for("binary", credit, elapsed_ms, 20_000) == int(20 * credit + Fraction(1, 2))


_POOL = every_type_pool()


@settings(deadline=None)  # no timing here: a loaded machine must not turn the property into a flake
@given(
    right=st.sets(st.sampled_from("ABCDEF"), min_size=1),
    chosen=st.sets(st.sampled_from("ABCDEF"), min_size=1),
)
def test_multiple_answer_credit_is_right_minus_wrong_over_k_floored_at_zero(right: set[str], chosen: set[str]) -> None:
    template = _POOL.questions[MULTIPLE]
    question = MultipleChoice(
        text=template.text, explanation=template.text, time_limit=20,
        options=dict(_POOL.questions[SINGLE].options), correct=tuple(sorted(right)),
    )
    grade = question.grade(question.parse_answer(sorted(chosen)))
    expected = max(Fraction(0), Fraction(len(chosen & right) - len(chosen - right), len(right)))
    assert grade.credit == expected and 0 <= grade.credit <= 1
    assert grade.correct is (chosen == right) and (grade.credit == 1) is (chosen == right)


@settings(deadline=None)
@given(st.text(max_size=40))
def test_text_folding_is_idempotent_and_ignores_case_and_spacing(text: str) -> None:
    assert fold(fold(text)) == fold(text)
    assert fold(text.upper()) == fold(text.lower()) or fold(text.upper()) == fold(text.upper().lower())
    assert fold("  " + text.replace(" ", "   ") + "\t") == fold(text)


# ---------------------------------------------------------------- in a room


@asynccontextmanager
async def types_room(tmp_path: Path, resume: str | None = None, pool: Pool | None = None) -> AsyncIterator[Room]:
    pool = pool or every_type_pool()
    settings = Settings(pool=pool, data_dir=tmp_path, port=8000, session_id="types", resume=resume)
    async with serve.open_room(settings, commit_in_thread=False) as room:
        yield room


async def test_every_type_round_trips_through_answer_reveal_restart_and_gradebook(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    answers = {
        SINGLE: ("F", "A"), MULTIPLE: (["A", "C"], ["A"]), TRUE_FALSE: (True, False), NUMERIC: (3.14, 2.5),
        TEXT: ("paris", "=HYPERLINK(\"x\")"), POLL: ("B", "A"), OPEN_POLL: ("Sunny", "sunny"),
        RANGE: (4, 9), EXACT: ("NaCl", "nacl"),
    }
    async with types_room(tmp_path) as room:
        ann = await room.join("ann", "Ann")
        bob = await room.join("bob", "Bob")
        for index in range(len(EVERY_TYPE["questions"])):
            await room.next()
            await trio.sleep(2)  # a tenth of the 20 s: a right answer scores 0.95
            total_before = room.me(ann)["total_score"]
            for participant, answer in zip((ann, bob), answers[index]):
                ack = json.loads(await room.submit(participant, index, answer))
                assert ack["score"] is None  # nothing tells who is right before the reveal
                assert ack["answer"] == (list(answer) if isinstance(answer, list) else answer)
            me = room.me(ann)
            assert me["submissions"][-1]["score"] is None and me["total_score"] == total_before
            await room.close_question()
        await room.end_session()
        reveal_texts = {i: room.broadcasts.reveal(room.record.asked[i]) for i in range(9)}
        wide = list(csv.reader(io.StringIO(render_csv(room.record))))
        long = list(csv.DictReader(io.StringIO(render_csv(room.record, layout="long"))))

    # Wide: weighted scores per scored question, no column for the two polls, totals add up.
    assert wide[0] == ["student_id", "name", "q1", "q2", "q3", "q4", "q5", "q8", "q9", "total", "answered", "correct", "rank"]
    assert wide[1][:2] == ["ann", "Ann"] and wide[1][2:10] == ["0.95", "1.90", "0.95", "0.95", "0.95", "0.95", "0.95", "7.60"]
    # Bob's half-right multiple answer: 1/2 × 0.95 = 0.475, to the grid 0.50, weighted ×2.
    assert wide[2][:2] == ["bob", "Bob"] and wide[2][2:10] == ["0.00", "1.00", "0.00", "0.00", "0.00", "0.00", "0.00", "1.00"]
    # Long: the answer as text by type, the type, no score for polls, formulas neutralised.
    rows = {(r["student_id"], r["question"]): r for r in long}
    assert [rows["ann", f"q{i + 1}"]["answer"] for i in range(9)] == ["F", "A;C", "true", "3.14", "paris", "B", "Sunny", "4", "NaCl"]
    assert rows["bob", "q5"]["answer"] == "'=HYPERLINK(\"x\")" and rows["bob", "q2"]["answer"] == "A"
    assert [rows["ann", f"q{i + 1}"]["type"] for i in (0, 1, 2, 3, 4, 5)] == ["single", "multiple", "true_false", "numeric", "text", "poll"]
    assert rows["ann", "q6"]["score"] == "" and rows["ann", "q6"]["points"] == "" and rows["ann", "q2"]["points"] == "1.90"

    # Reveals carry each type's right answer and distribution, and each student's own result.
    def reveal(index: int, participant: Any) -> dict[str, Any]:
        return json.loads(reveal_texts[index].for_student(participant))

    assert reveal(MULTIPLE, bob)["correct"] == ["A", "C"] and reveal(MULTIPLE, bob)["your_answer"] == ["A"]
    assert reveal(MULTIPLE, bob)["your_score"] == 0.5 and reveal(MULTIPLE, bob)["your_points"] == 1.0
    assert reveal(TRUE_FALSE, ann)["correct"] is True and reveal(TRUE_FALSE, ann)["histogram"] == {"true": 1, "false": 1, "missed": 0}
    correct = reveal(NUMERIC, ann)["correct"]
    assert (correct["value"], correct["tolerance"]) == (3.14, 0.005) and correct["range"] == pytest.approx([3.135, 3.145])
    assert sum(b["count"] for b in reveal(NUMERIC, ann)["distribution"]["bins"]) == 2
    assert reveal(TEXT, ann)["correct"] == ["Paris"] and reveal(TEXT, ann)["your_correct"] is True
    assert reveal(OPEN_POLL, ann)["distribution"]["top"] == [{"text": "Sunny", "count": 2}]  # folded together
    assert reveal(POLL, ann)["correct"] is None and reveal(POLL, ann)["histogram"] == {"A": 1, "B": 1, "C": 0, "D": 0, "missed": 0}

    # A restart rebuilds every answer in its type's form, and the totals (--resume: it is finished).
    async with types_room(tmp_path, resume="types") as room:
        ann = room.participants["ann"]
        assert ann.submissions[MULTIPLE].answer == ("A", "C") and ann.submissions[TRUE_FALSE].answer is True
        assert ann.submissions[NUMERIC].answer == 3.14 and ann.submissions[OPEN_POLL].answer == "Sunny"
        assert room.me(ann)["total_score"] == 7.6
        assert room.record.asked[MULTIPLE].answer_counts == {"A": 2, "B": 0, "C": 1, "D": 0}


async def test_an_open_question_counts_in_no_total_until_its_reveal(autojump_clock: MockClock, tmp_path: Path) -> None:
    async with types_room(tmp_path) as room:
        ann = await room.join("ann", "Ann")
        await room.join("bob", "Bob")
        await room.next()
        await room.submit(ann, SINGLE, "F")
        projector = room.views.projector_state()
        assert projector["live_histogram"]["counts"] is None and projector["live_histogram"]["submitted_count"] == 1
        assert [row["score"] for row in projector["leaderboard"]] == [0.0, 0.0]
        assert room.me(ann)["total_score"] == 0.0 and room.me(ann)["submissions"][0]["score"] is None
        assert room.ranking.rank_of(ann) == 1 and room.ranking.rank_of(room.participants["bob"]) == 1
        await room.close_question()
        assert room.me(ann)["total_score"] == 1.0 and room.me(ann)["submissions"][0]["score"] == 1.0
        assert room.views.projector_state()["live_histogram"]["counts"]["F"] == 1


async def test_a_poll_shows_its_results_live_on_the_projector(autojump_clock: MockClock, tmp_path: Path) -> None:
    async with types_room(tmp_path) as room:
        ann = await room.join("ann", "Ann")
        await room.open_question(POLL)
        await room.submit(ann, POLL, "B")
        live = room.views.projector_state()["live_histogram"]
        assert live["counts"] == {"A": 0, "B": 1, "C": 0, "D": 0, "missed": 0, "pending": 0}  # A-D always (the floor)


async def test_live_results_never_show_where_the_right_answer_is_until_the_reveal(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    # A numeric question with live results: the projector shows the spread of the answers,
    # but neither the right range nor bins stretched to reach it (far from every answer here).
    live_pool = json.loads(json.dumps(EVERY_TYPE))
    live_pool["live_results"] = True
    live_pool["questions"][NUMERIC]["correct"] = 314
    async with types_room(tmp_path, pool=parse_pool(live_pool, "live.json")) as room:
        ann, bob = await room.join("ann", "Ann"), await room.join("bob", "Bob")
        await room.open_question(NUMERIC)
        await room.submit(ann, NUMERIC, 3.0)
        await room.submit(bob, NUMERIC, 4.0)
        live = room.views.projector_state()["live_histogram"]["distribution"]
        assert "right" not in live and "314" not in json.dumps(live)
        assert min(b["low"] for b in live["bins"]) == 3.0 and max(b["high"] for b in live["bins"]) == 4.0
        await room.close_question()
        revealed = room.views.projector_state()["live_histogram"]["distribution"]
        assert revealed["right"] == pytest.approx([313.995, 314.005])  # 314 with the pool's tolerance of 0.005
        assert max(b["high"] for b in revealed["bins"]) == pytest.approx(314.005)
        # A text question's reveal marks which of the top answers were accepted, as the server grades them.
        await room.open_question(EXACT)
        await room.submit(ann, EXACT, "NaCl")
        await room.submit(bob, EXACT, "nacl")
        assert "correct" not in json.dumps(room.views.projector_state()["live_histogram"]["distribution"])
        await room.close_question()
        top = room.views.projector_state()["reveal"]["distribution"]["top"]
        assert sorted((entry["text"], entry["correct"]) for entry in top) == [("NaCl", True), ("nacl", False)]
        # The lobby's "just joined", newest first.
        assert room.views.projector_state()["newest_names"] == ["Bob", "Ann"]


# ---------------------------------------------------------------- on the wire


async def test_the_pages_get_each_type_without_its_answer_and_a_wrong_shape_is_bad_answer(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data", every_type_pool()) as server:
        ann = Student(server.url, "ann", "Ann")
        assert (await ann.join()).status_code == 200
        async with ann.connect():
            await ann.expect("state")
            seen = []
            for index in range(len(EVERY_TYPE["questions"])):
                await server.room.open_question(index) if index == 0 else await server.room.next()
                opened = await ann.expect("question_open")
                seen.append(opened)
                assert "correct" not in opened and "accept" not in opened and "range" not in opened
            assert [m["question_type"] for m in seen] == [
                "single", "multiple", "true_false", "numeric", "text", "poll", "poll", "numeric", "text",
            ]
            assert list(seen[SINGLE]["options"]) == list("ABCDEF") and seen[MULTIPLE]["multiple"] is True
            assert seen[NUMERIC]["unit"] == "rad" and seen[TEXT]["max_length"] == 100 and seen[OPEN_POLL]["open"] is True
            assert seen[TEXT]["text_html"] == "<p>Capital of France?</p>"
            await ann.send({"type": "submit", "question_idx": EXACT, "answer": ["NaCl"]})
            error = await ann.expect("error")
            assert error["code"] == "bad_answer" and "text of 1 to 100 characters" in error["message"]
        await ann.aclose()


async def test_nan_and_infinity_answers_are_bad_answers(tmp_path: Path) -> None:
    async with running_server(tmp_path / "data", every_type_pool()) as server:
        ann = Student(server.url, "ann", "Ann")
        assert (await ann.join()).status_code == 200
        await server.room.open_question(NUMERIC)
        async with ann.connect():
            await ann.expect("question_open")
            for raw in ('{"type":"submit","question_idx":3,"answer":NaN}', '{"type":"submit","question_idx":3,"answer":1e999}'):
                assert ann.ws is not None
                await ann.ws.send_text(raw)
                error = await ann.expect("error")
                assert error["code"] == "bad_answer"
        await ann.aclose()


async def test_pool_images_are_served_at_their_content_hash_url_and_cached_for_good(tmp_path: Path) -> None:
    from server.quiz.pool import load_pool
    from tests.helpers import REPO

    pool = load_pool(REPO / "pools" / "demo.json")
    image = next(q.image for q in pool.questions if q.image is not None)
    async with running_server(tmp_path / "data", pool) as server:
        student = Student(server.url, "ann", "Ann")
        response = await student.http.get(image.url)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content == (REPO / "pools" / "figures" / "bubble-pass.png").read_bytes()
        assert "immutable" in response.headers["cache-control"] and "max-age=31536000" in response.headers["cache-control"]
        missing = await student.http.get("/media/0000000000000000.png")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        await student.aclose()
