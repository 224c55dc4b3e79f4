"""The after-class report: its figures against hand calculations, its flags, its HTML, its speed, a real browser.

The statistics are checked on sessions small enough to work out on paper; each hand calculation is
written next to the assertion. The HTML is checked for what the issue promises: no script, no URL to
another origin, every chart an image with a title, a description and a text alternative, names and
answers shown and never interpreted. The browser test opens the written file in Chromium, records
every request (there must be none), and takes the A4 screenshot shown in docs/report.md.
"""
from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from server.reports.data import AnswerRow, JsonValue, QuestionData, QuestionKind, SessionData, StudentData
from server.reports.report_html import render_report
from server.reports.statistics import (
    FLAG_GUESSING,
    FLAG_NOBODY,
    FLAG_SAME_WRONG,
    FLAG_TOO_EASY,
    QuestionStats,
    analyse_course,
    analyse_session,
)

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "screenshots" / "report-a4.png"
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_ANSWER = "<img src=x onerror=alert(2)>"
DAY_MS = 86_400_000
MONDAY_MS = 1_767_600_000_000  # 2026-01-05, a Monday


# ---------------------------------------------------------------- building sessions by hand


def question(
    index: int,
    answers: list[AnswerRow],
    *,
    kind: QuestionKind = "single",
    correct: JsonValue = "B",
    options: dict[str, str] | None = None,
    text_html: str | None = None,
    weight: float = 1.0,
    time_limit_s: int = 20,
    scored: bool = True,
) -> QuestionData:
    if options is None:
        options = {"A": "alpha", "B": "beta", "C": "gamma", "D": "delta"} if kind in ("single", "multiple") else {}
    text_html = text_html if text_html is not None else f"<p>Question number {index + 1}</p>"
    return QuestionData(
        index=index,
        kind=kind,
        text_html=text_html,
        text_plain=" ".join(re.sub(r"<[^>]+>", " ", text_html).split()),
        options=options,
        correct=correct,
        weight=weight,
        time_limit_s=time_limit_s,
        scored=scored,
        answers=answers,
    )


def row(student: str, answer: str | None, right: bool, elapsed_ms: int | None = 5000) -> AnswerRow:
    return AnswerRow(student, answer, 1.0 if right else 0.0, right, None if answer is None else elapsed_ms)


def single(student: str, answer: str | None, correct: str, elapsed_ms: int | None = 5000) -> AnswerRow:
    return row(student, answer, answer == correct, elapsed_ms)


def students_from(questions: list[QuestionData], names: dict[str, str] | None = None) -> list[StudentData]:
    """StudentData with totals, answered and right summed from the rows, ranks 1, 2, 2, 4 style."""
    ids: list[str] = []
    for q in questions:
        for r in q.answers:
            if r.student_id not in ids:
                ids.append(r.student_id)
    totals = {sid: 0.0 for sid in ids}
    answered = {sid: 0 for sid in ids}
    right = {sid: 0 for sid in ids}
    for q in questions:
        for r in q.answers:
            if r.answer is not None:
                answered[r.student_id] += 1
                right[r.student_id] += int(r.correct)
                if q.scored:
                    totals[r.student_id] += r.credit * q.weight
    ordered = sorted(ids, key=lambda sid: -totals[sid])
    ranks: dict[str, int] = {}
    for position, sid in enumerate(ordered, start=1):
        ranks[sid] = ranks[ordered[position - 2]] if position > 1 and totals[ordered[position - 2]] == totals[sid] \
            else position
    names = names or {}
    return [StudentData(sid, names.get(sid, sid.upper()), totals[sid], answered[sid], right[sid], ranks[sid])
            for sid in ids]


def session(questions: list[QuestionData], *, sid: str = "demo", started_ms: int = MONDAY_MS,
            title: str = "Hand-made session", names: dict[str, str] | None = None) -> SessionData:
    return SessionData(sid, title, started_ms, started_ms + 3_600_000, questions, students_from(questions, names))


def hand_session() -> SessionData:
    """6 students, 3 single-choice questions, weight 1, right answers B, A, C.

    Credits (1 = right):      Q1 Q2 Q3  total
        s1                     1  1  1    3
        s2                     1  1  0    2
        s3                     1  0  1    2
        s4                     0  1  0    1
        s5                     1  0  0    1
        s6                     0  -  0    0     (s6 missed Q2)
    """
    s = ["s1", "s2", "s3", "s4", "s5", "s6"]
    q1 = [single(sid, a, "B", ms) for sid, a, ms in zip(s, "BBBCBC", (2000, 4000, 6000, 8000, 10000, 12000))]
    q2 = [single(sid, a, "A") for sid, a in zip(s, ["A", "A", "D", "A", "D", None])]
    q3 = [single(sid, a, "C") for sid, a in zip(s, "CBCBBB")]
    return session([question(0, q1, correct="B"), question(1, q2, correct="A"), question(2, q3, correct="C")])


def by_number(stats: Any, number: int) -> QuestionStats:
    found: QuestionStats = stats.questions[number - 1]
    assert found.number == number
    return found


# ---------------------------------------------------------------- indices, worked out by hand


def test_facility_and_both_discrimination_indices_match_the_hand_calculation() -> None:
    stats = analyse_session(hand_session())
    q1, q2, q3 = (by_number(stats, n) for n in (1, 2, 3))

    # Facility (Moodle): mean credit. Q1 4/6, Q2 3/6, Q3 2/6. % right is the same here (no partial credit).
    assert q1.facility == pytest.approx(4 / 6)
    assert q2.facility == pytest.approx(3 / 6)
    assert q3.facility == pytest.approx(2 / 6)
    assert (q1.right, q1.right_share) == (4, pytest.approx(4 / 6))

    # Moodle discrimination index: r(x, X), X = total - x (the rest of the test).
    # Q1: x = 1 1 1 0 1 0 (mean 2/3), X = 2 1 1 1 0 0 (mean 5/6).
    #   dx = 1/3 1/3 1/3 -2/3 1/3 -2/3 ; dX = 7/6 1/6 1/6 1/6 -5/6 -5/6
    #   Sxy = (7 + 1 + 1 - 2 - 5 + 10)/18 = 2/3 ; Sxx = 12/9 = 4/3 ; SXX = (49+1+1+1+25+25)/36 = 17/6
    #   r = (2/3) / sqrt(4/3 * 17/6) = 2 / sqrt(34) = 0.3430
    assert q1.discrimination_index == pytest.approx(2 / math.sqrt(34))
    # Q2: x = 1 1 0 1 0 0, X = 2 1 2 0 1 0: dx = ±1/2, dX = 1 0 1 -1 0 -1
    #   Sxy = 1/2 + 0 - 1/2 - 1/2 + 0 + 1/2 = 0  ->  r = 0
    assert q2.discrimination_index == pytest.approx(0.0, abs=1e-12)
    # Q3: x = 1 0 1 0 0 0 (mean 1/3), X = 2 2 1 1 1 0 (mean 7/6)
    #   Sxy = (10 - 5 - 2 + 1 + 1 + 7)/18 = 2/3 ; Sxx = 4/3 ; SXX = 17/6  ->  r = 2 / sqrt(34)
    assert q3.discrimination_index == pytest.approx(2 / math.sqrt(34))

    # Classic D: thirds of 6 = 2 students. By total (ties by id): upper s1 (3), s2 (2); lower s5 (1), s6 (0).
    # Q1: upper 1,1 -> 1.0 ; lower 1,0 -> 0.5 ; D = 0.5
    # Q2: upper 1,1 -> 1.0 ; lower 0,0 -> 0.0 ; D = 1.0  (r = 0 above: D counts Q2 in the total, r does not)
    # Q3: upper 1,0 -> 0.5 ; lower 0,0 -> 0.0 ; D = 0.5
    assert (q1.group_size, q1.p_upper, q1.p_lower, q1.upper_lower_d) == (2, 1.0, 0.5, 0.5)
    assert (q2.p_upper, q2.p_lower, q2.upper_lower_d) == (1.0, 0.0, 1.0)
    assert (q3.p_upper, q3.p_lower, q3.upper_lower_d) == (0.5, 0.0, 0.5)

    # SD of Q1's credit, n - 1: Sxx / 5 = 4/15 -> 0.5164
    assert q1.score_sd == pytest.approx(math.sqrt(4 / 15))
    # Chance score of a 4-option single choice: 1/4.
    assert q1.random_guess == pytest.approx(0.25)


def test_response_time_median_and_interquartile_spread() -> None:
    q1 = by_number(analyse_session(hand_session()), 1)
    # Times 2 4 6 8 10 12 s. Type-7 quantiles: position (n-1)p = 5p.
    #   median: 2.5 -> 6 + 0.5*2 = 7 s ; q1: 1.25 -> 4 + 0.25*2 = 4.5 s ; q3: 3.75 -> 8 + 0.75*2 = 9.5 s
    spread = q1.response_time
    assert (spread.count, spread.minimum, spread.maximum) == (6, 2000, 12000)
    assert (spread.q1, spread.median, spread.q3, spread.iqr) == (4500, 7000, 9500, 5000)


def test_distribution_shares_count_every_participant_and_mark_the_right_answer() -> None:
    stats = analyse_session(hand_session())
    q2 = by_number(stats, 2)
    # Q2: A x3 (right), D x2, s6 missed -> "No answer" 1; shares of 6.
    bars = {(bar.kind, bar.key): bar for bar in q2.distribution.bars}
    assert bars[("option", "A")].count == 3 and bars[("option", "A")].right
    assert bars[("option", "D")].count == 2 and not bars[("option", "D")].right
    assert bars[("option", "B")].count == 0
    assert bars[("missing", "")].count == 1
    assert sum(bar.share for bar in q2.distribution.bars) == pytest.approx(1.0)
    assert q2.answered == 5


def test_partial_credit_and_weights_enter_facility_and_discrimination_as_marks() -> None:
    # 3 students, Q1 weight 2 with credits 1, 0.5, 0; Q2 weight 1 with credits 0, 1, 1.
    # Facility Q1 = mean credit = 0.5 (Moodle: mean mark / max mark = (2 + 1 + 0)/3 / 2).
    # Marks Q1 = 2, 1, 0 ; rest = Q2 marks = 0, 1, 1 -> r(2 1 0, 0 1 1):
    #   dx = 1 0 -1 ; dX = -2/3 1/3 1/3 ; Sxy = -2/3 + 0 - 1/3 = -1 ; Sxx = 2 ; SXX = 6/9 = 2/3
    #   r = -1 / sqrt(4/3) = -0.8660
    q1 = question(0, [AnswerRow("a", "x", 1.0, True, 1), AnswerRow("b", "y", 0.5, False, 1),
                      AnswerRow("c", "z", 0.0, False, 1)], kind="text", correct=["x"], weight=2)
    q2 = question(1, [AnswerRow(s, "ok", 1.0 if s != "a" else 0.0, s != "a", 1) for s in "abc"],
                  kind="text", correct=["ok"])
    stats = analyse_session(session([q1, q2]))
    assert by_number(stats, 1).facility == pytest.approx(0.5)
    assert by_number(stats, 1).discrimination_index == pytest.approx(-1 / math.sqrt(4 / 3))
    assert by_number(stats, 1).group_size == 1  # 3 // 3


def test_numeric_histogram_has_at_most_ten_bins_and_marks_the_right_range() -> None:
    values = [9.7, 9.8, 9.81, 9.81, 9.82, 10.0, 9.0, 98.1, 9.81, 9.79, 9.8, 9.85, 9.6, 9.81, "ten", None]
    rows = []
    for i, v in enumerate(values):
        answer = None if v is None else str(v)
        right = isinstance(v, float) and abs(v - 9.81) <= 0.05
        rows.append(row(f"s{i}", answer, right))
    q = question(0, rows, kind="numeric", correct={"value": 9.81, "tolerance": 0.05})
    stats = by_number(analyse_session(session([q])), 1)
    bins = [bar for bar in stats.distribution.bars if bar.kind == "bin"]
    assert 1 <= len(bins) <= 10
    assert sum(bar.count for bar in bins) == 14  # every number lands in a bin, 98.1 included
    assert stats.distribution.right_range == pytest.approx((9.76, 9.86))
    assert any(bar.right for bar in bins)
    for bar in bins:
        assert bar.lo is not None and bar.hi is not None
        assert bar.right == (bar.lo <= 9.86 and bar.hi >= 9.76)
    others = {bar.label: bar.count for bar in stats.distribution.bars if bar.kind != "bin"}
    assert others == {"Not a number": 1, "No answer": 1}


def test_text_answers_are_grouped_case_and_space_insensitively_top_first() -> None:
    answers = ["Photosynthesis", "photosynthesis ", "PHOTOSYNTHESIS", "respiration", "Respiration", "osmosis"]
    rows = [row(f"s{i}", a, a.strip().lower() == "photosynthesis") for i, a in enumerate(answers)]
    q = by_number(analyse_session(session([question(0, rows, kind="text", correct=["photosynthesis"])])), 1)
    bars = [(bar.label, bar.count, bar.right) for bar in q.distribution.bars]
    assert bars == [("Photosynthesis", 3, True), ("respiration", 2, False), ("osmosis", 1, False)]


# ---------------------------------------------------------------- flags


def flag_codes(q: QuestionStats) -> set[str]:
    return {flag.code for flag in q.flags}


def test_same_wrong_answer_flag_when_a_distractor_beats_the_right_answer_or_passes_forty_percent() -> None:
    stats = analyse_session(hand_session())
    # Q3: B chosen by 4 of 6 (67 %), right answer C by 2.
    q3 = by_number(stats, 3)
    assert FLAG_SAME_WRONG in flag_codes(q3)
    assert "B: beta" in next(f.detail for f in q3.flags if f.code == FLAG_SAME_WRONG)
    # Q1: C chosen by 2 of 6 (33 %), right by 4: no flag.
    assert FLAG_SAME_WRONG not in flag_codes(by_number(stats, 1))

    # 10 students: right A 2, B 3, C 3, D 2 -> B (30 %) beats the right answer.
    picks = "AABBBCCCDD"
    beaten = by_number(analyse_session(session([
        question(0, [single(f"s{i}", a, "A") for i, a in enumerate(picks)], correct="A")])), 1)
    assert FLAG_SAME_WRONG in flag_codes(beaten)

    # 10 students: right A 5, B 5 (50 % > 40 %) although B does not beat A.
    half = by_number(analyse_session(session([
        question(0, [single(f"s{i}", a, "A") for i, a in enumerate("AAAAABBBBB")], correct="A")])), 1)
    assert FLAG_SAME_WRONG in flag_codes(half)

    # One student alone on a wrong answer is not "the class": 1 wrong vs 0 right, no flag.
    alone = by_number(analyse_session(session([question(0, [single("s0", "B", "A")], correct="A")])), 1)
    assert FLAG_SAME_WRONG not in flag_codes(alone)


def test_same_wrong_answer_counts_multiple_response_combinations() -> None:
    # Right A+C. 6 students: "A,C" x2, "A" x3 (the same incomplete answer), "B,D" x1.
    picks = ["A,C", "C,A", "A", "A", "A", "B,D"]
    rows = [row(f"s{i}", p, p in ("A,C", "C,A")) for i, p in enumerate(picks)]
    q = by_number(analyse_session(session([question(0, rows, kind="multiple", correct=["A", "C"])])), 1)
    assert FLAG_SAME_WRONG in flag_codes(q)
    per_key = {bar.key: (bar.count, bar.right) for bar in q.distribution.bars if bar.kind == "option"}
    assert per_key == {"A": (5, True), "B": (1, False), "C": (2, True), "D": (1, False)}


def test_guessing_flag_needs_chance_facility_and_no_discrimination() -> None:
    # 24 students. Q1 (other question): right for s0..s11. Q2 (4 options, right A): right for
    # s0, s1, s2 (Q1 right) and s12, s13, s14 (Q1 wrong) -> facility 6/24 = 0.25 = chance 1/4, and
    # the rest-of-test mark (= Q1) is the same on average for right and wrong -> r = 0 exactly.
    # Wrong answers spread B, C, D 6 each: none beats the right answer's 6, none passes 40 %.
    ids = [f"s{i:02d}" for i in range(24)]
    q1 = [single(sid, "A" if i < 12 else "B", "A") for i, sid in enumerate(ids)]
    right_q2 = {0, 1, 2, 12, 13, 14}
    wrong_cycle = iter("BCD" * 6)
    q2 = [single(sid, "A" if i in right_q2 else next(wrong_cycle), "A") for i, sid in enumerate(ids)]
    stats = analyse_session(session([question(0, q1, correct="A"), question(1, q2, correct="A")]))
    guessed = by_number(stats, 2)
    assert guessed.facility == pytest.approx(0.25)
    assert guessed.discrimination_index == pytest.approx(0.0, abs=1e-12)
    assert flag_codes(guessed) == {FLAG_GUESSING}

    # Same facility, but the right answers all come from the strong students: not guessing.
    strong = {0, 1, 2, 3, 4, 5}
    wrong_cycle = iter("BCD" * 6)
    q2_strong = [single(sid, "A" if i in strong else next(wrong_cycle), "A") for i, sid in enumerate(ids)]
    stats = analyse_session(session([question(0, q1, correct="A"), question(1, q2_strong, correct="A")]))
    discriminating = by_number(stats, 2)
    assert discriminating.discrimination_index is not None and discriminating.discrimination_index > 0.5
    assert FLAG_GUESSING not in flag_codes(discriminating)


def test_too_easy_and_nobody_answered_flags() -> None:
    easy = question(0, [single(f"s{i}", "B", "B") for i in range(10)], correct="B")
    silent = question(1, [row(f"s{i}", None, False) for i in range(10)], correct="B")
    nearly = question(2, [single(f"s{i}", "B" if i else "C", "B") for i in range(10)], correct="B")  # 90 %: not > 90 %
    stats = analyse_session(session([easy, silent, nearly]))
    assert flag_codes(by_number(stats, 1)) == {FLAG_TOO_EASY}
    assert flag_codes(by_number(stats, 2)) == {FLAG_NOBODY}
    assert FLAG_TOO_EASY not in flag_codes(by_number(stats, 3))
    assert by_number(stats, 2).facility == 0.0 and by_number(stats, 2).answered == 0


def test_polls_have_a_distribution_but_no_right_answer_no_indices_and_do_not_count_in_totals() -> None:
    poll = question(0, [row(s, a, False) for s, a in zip("abcd", "AABC")], kind="poll", correct=None,
                    scored=False, options={"A": "yes", "B": "no", "C": "unsure"})
    scored = question(1, [single(s, a, "B") for s, a in zip("abcd", "BBAB")], correct="B")
    stats = analyse_session(session([poll, scored]))
    p = by_number(stats, 1)
    assert (p.facility, p.discrimination_index, p.upper_lower_d, p.flags) == (None, None, None, ())
    assert not any(bar.right for bar in p.distribution.bars)
    assert [bar.count for bar in p.distribution.bars] == [2, 1, 1]
    assert stats.summary.possible == 1.0 and stats.summary.scored_questions == 1


def test_answers_from_unknown_students_are_refused() -> None:
    data = hand_session()
    stranger = [*data.questions[0].answers, single("intruder", "B", "B")]
    broken = SessionData(data.sid, data.title, data.started_ms, None,
                         [question(0, stranger, correct="B"), *data.questions[1:]], data.students)
    with pytest.raises(ValueError, match="intruder"):
        analyse_session(broken)


# ---------------------------------------------------------------- students and the summary


def test_needs_help_list_and_student_order() -> None:
    stats = analyse_session(hand_session())
    # Totals 3 2 2 1 1 0 of 3; median total 1.5.
    # s6: nobody scores lower (0 % of the class < 15 %) and 0 < 1.5 -> bottom 15 %; 0 % < 40 % -> low score.
    # s4, s5: 1 of 6 scores lower (17 %, not bottom 15 %), but 1/3 = 33 % < 40 % -> low score.
    # s6 missed 1 of 3 questions: not more than half.
    order = [s.student_id for s in stats.students]
    assert order == ["s6", "s4", "s5", "s1", "s2", "s3"]
    reasons = {s.student_id: s.reasons for s in stats.students}
    assert reasons["s6"] == ("in the bottom 15 % of the class", "scored 0 % of the possible")
    assert reasons["s4"] == ("scored 33 % of the possible",)
    assert reasons["s1"] == ()
    assert stats.summary.needs_help == 3
    # Mean 9/6 = 1.5, median 1.5, of 3 possible.
    assert (stats.summary.mean_score, stats.summary.median_score) == (1.5, 1.5)
    assert stats.summary.mean_share == pytest.approx(0.5)
    # Hardest first: Q3 (1/3), Q2 (1/2), Q1 (2/3).
    assert stats.summary.hardest == (2, 1, 0)
    assert [bar.count for bar in stats.summary.score_bins] == [1, 0, 0, 2, 0, 0, 2, 0, 0, 1]


def test_missing_more_than_half_puts_a_student_on_the_help_list() -> None:
    # 4 questions; "late" answered only the last one (right): 1 of 4 = 25 %, missed 3 of 4.
    qs = [question(i, [single(s, "B", "B") for s in ("a", "b", "c", "d")]
                   + ([single("late", "B", "B")] if i == 3 else []), correct="B") for i in range(4)]
    stats = analyse_session(session(qs))
    late = next(s for s in stats.students if s.student_id == "late")
    assert "missed 3 of 4 questions" in late.reasons
    assert all(not s.needs_help for s in stats.students if s.student_id != "late")


def test_json_is_plain_and_round_trips() -> None:
    stats = analyse_session(hand_session())
    text = json.dumps(stats.to_json(), allow_nan=False)
    data = json.loads(text)
    assert data["questions"][0]["discrimination_index"] == pytest.approx(2 / math.sqrt(34))
    assert data["questions"][1]["distribution"]["bars"][0]["key"] == "A"
    assert data["students"][0]["student_id"] == "s6"
    assert data["questions"][0]["response_time"]["iqr"] == 5000


# ---------------------------------------------------------------- the course view


def test_course_view_with_two_sessions_and_an_absent_student() -> None:
    # Week 1: a, b, c. Week 2: a, c, d (b absent, d new). Passed out of order: the course sorts by date.
    week1 = session([question(0, [single(s, a, "B") for s, a in zip("abc", "BBA")], correct="B"),
                     question(1, [single(s, a, "A") for s, a in zip("abc", "ABB")], correct="A")],
                    sid="w1", title="Week 1", started_ms=MONDAY_MS)
    week2 = session([question(0, [single(s, a, "C") for s, a in zip("acd", "CCC")], correct="C")],
                    sid="w2", title="Week 2", started_ms=MONDAY_MS + 7 * DAY_MS)
    course = analyse_course([week2, week1])
    assert [r.sid for r in course.rows] == ["w1", "w2"]
    assert [r.date for r in course.rows] == ["2026-01-05", "2026-01-12"]
    assert [r.participants for r in course.rows] == [3, 3]
    # Week 1 totals a 2, b 1, c 0 of 2 -> mean 1 = 50 %; week 2 all right -> 100 %.
    assert course.trend == (pytest.approx(0.5), pytest.approx(1.0))
    # Week 1 hardest: Q2 (1/3 right) before Q1 (2/3).
    assert (course.rows[0].hardest_index, course.rows[0].hardest_facility) == (1, pytest.approx(1 / 3))
    attendance = {a.student_id: a.attended for a in course.attendance}
    assert attendance == {"a": (True, True), "b": (True, False), "c": (True, True), "d": (False, True)}
    b = next(a for a in course.attendance if a.student_id == "b")
    assert (b.sessions_attended, b.mean_share) == (1, pytest.approx(0.5))
    assert json.loads(json.dumps(course.to_json()))["attendance"][1]["attended"] == [True, False]

    page = render_report(course, title="Physics 101")
    assert page.count('class="absent"') == 2  # b in week 2, d in week 1
    assert "Course overview" in page and "Week 1" in page and "Week 2" in page
    check_self_contained(page)


def test_a_session_nobody_joined_and_an_empty_course_still_give_a_report() -> None:
    nobody = SessionData("empty", "Nobody came", MONDAY_MS, None, [question(0, [], correct="B")], [])
    stats = analyse_session(nobody)
    assert (stats.summary.participants, stats.summary.mean_score, stats.summary.hardest) == (0, None, ())
    assert flag_codes(by_number(stats, 1)) == {FLAG_NOBODY}
    assert "Nobody came" in render_report(stats, title="Nobody came")
    assert json.loads(json.dumps(analyse_course([]).to_json())) == {
        "sessions": [], "rows": [], "attendance": [], "trend": []}
    assert "Course overview" in render_report(analyse_course([]), title="No sessions yet")


# ---------------------------------------------------------------- the HTML


class SvgCheck(HTMLParser):
    """Collects, per <svg>, its attributes and whether a <title> and a <desc> are inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[dict[str, Any]] = []
        self.depth = 0
        self.scripts = 0
        self.figures_without_caption = 0
        self._figure_has_caption: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag == "figure":
            self._figure_has_caption.append(False)
        if tag == "figcaption" and self._figure_has_caption:
            self._figure_has_caption[-1] = True
        if tag == "svg":
            self.svgs.append({"attrs": dict(attrs), "title": False, "desc": False})
            self.depth += 1
        elif self.depth and tag in ("title", "desc"):
            self.svgs[-1][tag] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.depth -= 1
        if tag == "figure" and self._figure_has_caption and not self._figure_has_caption.pop():
            self.figures_without_caption += 1


def check_self_contained(page: str) -> SvgCheck:
    """No script, no URL to anywhere, a CSP that forbids fetching, every chart an accessible image."""
    assert "<script" not in page.lower()
    assert not re.search(r"https?:", page, re.IGNORECASE)
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?//""", page, re.IGNORECASE)  # no protocol-relative URL
    assert (
        '<meta http-equiv="Content-Security-Policy" '
        'content="default-src &#x27;none&#x27;; style-src &#x27;unsafe-inline&#x27;; img-src data:">'
    ) in page
    parsed = SvgCheck()
    parsed.feed(page)
    assert parsed.scripts == 0
    assert parsed.svgs, "the report has charts"
    for svg in parsed.svgs:
        assert svg["attrs"].get("role") == "img" and svg["title"] and svg["desc"], svg
    assert parsed.figures_without_caption == 0
    return parsed


def test_report_html_is_self_contained_accessible_and_escapes_names_and_answers() -> None:
    data = demo_session()
    page = render_report(analyse_session(data), title="Lecture 5 <b>after class</b>")
    parsed = check_self_contained(page)
    # One answers chart per question with answers, one time chart per question with times, one score chart.
    assert len(parsed.svgs) >= len(data.questions) * 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the hostile name, shown as text
    assert HOSTILE_NAME not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page  # a free-text answer, shown as text
    assert HOSTILE_ANSWER not in page
    assert "Lecture 5 &lt;b&gt;after class&lt;/b&gt;" in page
    # The question text is the sanitized HTML from upstream, code and MathML intact.
    assert "<pre><code>print(2 ** 3)</code></pre>" in page
    assert "<math><mi>x</mi><mo>+</mo><mn>2</mn><mo>=</mo><mn>5</mn></math>" in page
    assert "Instructor only" in page
    # Needs help comes first in the student table, the right answer is marked with a ✓ and the word.
    table = page[page.index('class="student-table"'):]
    assert table.index('<tr class="help">') < table.index('<tr><th scope="row">')
    assert "\u2713 right" in page and "url(#" in page


# ---------------------------------------------------------------- speed


def test_a_report_for_5000_students_and_30_questions_takes_seconds() -> None:
    rng = random.Random(15)
    ids = [f"st{i:05d}" for i in range(5000)]
    ability = {sid: rng.random() for sid in ids}
    kinds: list[QuestionKind] = ["single", "single", "multiple", "true_false", "numeric", "text"]
    questions = []
    for index in range(30):
        kind = kinds[index % len(kinds)]
        rows = []
        for sid in ids:
            if rng.random() < 0.05:
                rows.append(row(sid, None, False))
                continue
            right = rng.random() < 0.3 + 0.6 * ability[sid]
            answer = {
                "single": "B" if right else rng.choice("ACD"),
                "multiple": "A,C" if right else rng.choice(["A", "C", "A,B", "B,D"]),
                "true_false": "true" if right else "false",
                "numeric": str(round(9.81 + rng.gauss(0, 0.02), 3)) if right else str(round(rng.uniform(0, 20), 2)),
                "text": "Acceleration" if right else rng.choice(["speed", "velocity", f"guess {rng.randint(0, 400)}"]),
            }[kind]
            rows.append(row(sid, answer, right, rng.randint(800, 19_000)))
        correct: JsonValue = {"single": "B", "multiple": ["A", "C"], "true_false": True,
                              "numeric": {"value": 9.81, "tolerance": 0.05}, "text": ["acceleration"]}[kind]
        questions.append(question(index, rows, kind=kind, correct=correct))
    data = session(questions)

    started = time.perf_counter()
    stats = analyse_session(data)
    analysed = time.perf_counter()
    page = render_report(stats, title="Large lecture")
    rendered = time.perf_counter()
    json.dumps(stats.to_json())
    finished = time.perf_counter()
    total = finished - started
    print(f"\n5000 students x 30 questions: analyse {analysed - started:.2f} s, render {rendered - analysed:.2f} s "
          f"({len(page) / 1e6:.1f} MB), json {finished - rendered:.2f} s, total {total:.2f} s")
    assert total < 60  # a guard against pathological growth; bench/README.md has the figures
    assert page.count('<tr class="help">') + page.count('<tr><th scope="row">') >= 5000


# ---------------------------------------------------------------- a demo session (also the screenshot's)


def demo_session() -> SessionData:
    """A lecture of 14 students and 8 questions of every kind, with a hostile name and answer."""
    rng = random.Random(5)
    names = {
        "s01": "Ada Lovelace", "s02": "Alan Turing", "s03": "Grace Hopper", "s04": "Edsger Dijkstra",
        "s05": "Barbara Liskov", "s06": "Donald Knuth", "s07": "Katherine Johnson", "s08": "Tim Berners-Lee",
        "s09": "Margaret Hamilton", "s10": "Ken Thompson", "s11": "Frances Allen", "s12": HOSTILE_NAME,
        "s13": "Niklaus Wirth", "s14": "Radia Perlman",
    }
    ids = list(names)
    skill = {sid: 1 - i / len(ids) for i, sid in enumerate(ids)}

    def answers(pick: Callable[[str, bool], str | None], grade: Callable[[str], bool], p_base: float,
                missing: float = 0.07) -> list[AnswerRow]:
        out = []
        for sid in ids:
            if (sid != "s12" and rng.random() < missing) or (sid == "s14" and rng.random() < 0.8):
                out.append(row(sid, None, False))
                continue
            answer = pick(sid, rng.random() < p_base + 0.5 * skill[sid])
            assert answer is not None
            out.append(row(sid, answer, grade(answer), rng.randint(2500, 17_000)))
        return out

    qs = [
        question(0, answers(lambda s, ok: "B" if ok else rng.choice("AAAC"), lambda a: a == "B", 0.15),
                 correct="B", text_html="<p>What is the SI unit of acceleration?</p>",
                 options={"A": "m/s", "B": "m/s\u00b2", "C": "N", "D": "kg\u00b7m"}),
        question(1, answers(lambda s, ok: "false" if ok else "true", lambda a: a == "false", -0.1),
                 kind="true_false", correct=False,
                 text_html="<p>A ball thrown straight up has <em>zero</em> acceleration at the top.</p>"),
        question(2, answers(lambda s, ok: str(round(9.81 + rng.uniform(-0.04, 0.04), 2)) if ok
                            else rng.choice(["9.8", "10", "9.7", "32", "1.62", "9,1"]),
                            lambda a: a.replace(",", ".").replace(".", "", 1).isdigit()
                            and abs(float(a.replace(",", ".")) - 9.81) <= 0.05, 0.4),
                 kind="numeric", correct={"value": 9.81, "tolerance": 0.05},
                 text_html="<p>Free-fall acceleration on Earth, in m/s\u00b2 (two decimals)?</p>"),
        question(3, answers(lambda s, ok: "A,C" if ok else rng.choice(["A", "A,B,C", "B,D"]),
                            lambda a: a == "A,C", 0.3),
                 kind="multiple", correct=["A", "C"], text_html="<p>Which of these are vectors?</p>",
                 options={"A": "velocity", "B": "speed", "C": "displacement", "D": "mass"}),
        question(4, answers(lambda s, ok: HOSTILE_ANSWER if s == "s12" else
                            rng.choice(["acceleration", "Acceleration"]) if ok else rng.choice(["velocity", "speed", "jerk"]),
                            lambda a: a.lower() == "acceleration", 0.4),
                 kind="text", correct=["acceleration"],
                 text_html="<p>Name the rate of change of velocity.</p>"),
        question(5, answers(lambda s, ok: "B" if ok or rng.random() < 0.9 else "C", lambda a: a == "B", 0.6),
                 correct="B", text_html="<p>What does this print?</p><pre><code>print(2 ** 3)</code></pre>",
                 options={"A": "6", "B": "8", "C": "9", "D": "23"}),
        question(6, answers(lambda s, ok: rng.choice("ABCD"), lambda a: a == "C", 0.0),
                 correct="C", text_html="<p>Solve <math><mi>x</mi><mo>+</mo><mn>2</mn><mo>=</mo><mn>5</mn></math> "
                 "in your head, no time to think:</p>", options={"A": "x = 2", "B": "x = 7", "C": "x = 3", "D": "x = 5"}),
        question(7, answers(lambda s, ok: rng.choice("AABBBC"), lambda a: False, 0.0), kind="poll", correct=None,
                 scored=False, text_html="<p>How confident do you feel about kinematics?</p>",
                 options={"A": "Very", "B": "Somewhat", "C": "Not at all"}),
    ]
    data = session(qs, sid="phys101-l5", title="Physics 101 \u00b7 Lecture 5: Kinematics", names=names)
    # Presence signals as the room would report them.
    students = [StudentData(s.student_id, s.name, s.total, s.answered, s.right, s.rank,
                            blur_count=rng.choice([0, 0, 0, 1, 4]), hidden_count=rng.choice([0, 0, 2]),
                            duplicate_join_attempts=1 if s.student_id == "s09" else 0) for s in data.students]
    return SessionData(data.sid, data.title, data.started_ms, data.finished_ms, data.questions, students)


# ---------------------------------------------------------------- in Chromium


def run_in_thread(work: Callable[[], None], timeout_s: float = 120) -> None:
    """Playwright's sync API on a thread of its own (no event loop of the test's in the way), with a deadline."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - pytest.fail raises a BaseException; handed to the test
            failures.append(exc)

    thread = threading.Thread(target=target, name="report-browser", daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"the browser did not finish within {timeout_s} s"
    if failures:
        raise failures[0]


def browse(path: Path, visit: Callable[[Any, list[str], list[str]], None]) -> None:
    """Open `path` in Chromium; `visit(page, requests, console_errors)` does the checks."""
    from tests.chromium import chromium

    def work() -> None:
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 794, "height": 1123})  # A4 at 96 dpi
            page = context.new_page()
            requests: list[str] = []
            errors: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri(), wait_until="load", timeout=30_000)
            visit(page, [url for url in requests if url != path.as_uri()], errors)

    run_in_thread(work)


def test_report_in_chromium_makes_no_request_has_text_alternatives_and_prints_on_a4(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(render_report(analyse_session(demo_session()), title="Physics 101: after class"),
                      encoding="utf-8")

    def visit(page: Any, requests: list[str], errors: list[str]) -> None:
        figures = page.locator("figure.chart")
        count = figures.count()
        assert count >= 10
        for i in range(count):
            figure = figures.nth(i)
            svg = figure.locator("svg")
            assert svg.get_attribute("role") == "img"
            assert svg.locator("title").text_content().strip()
            assert svg.locator("desc").text_content().strip()
            alternative = figure.locator("figcaption")
            assert alternative.is_visible() and len(alternative.inner_text().strip()) > 20
        # Each chart is an image with a name in the accessibility tree.
        assert page.get_by_role("img").count() == count
        assert page.get_by_role("img", name="Question 1: answers").count() == 1
        # The hostile name is text on the page, not an element.
        assert page.get_by_text(HOSTILE_NAME).count() >= 1
        assert page.locator("script").count() == 0

        page.emulate_media(media="print")
        # The printable width of A4 and US Letter at 96 dpi (paper less the 14 mm side margins of @page):
        # nothing may be wider, or the printout cuts it off.
        for width in (687, 710):
            page.set_viewport_size({"width": width, "height": 1123})
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.locator("article.question").first.evaluate("e => getComputedStyle(e).breakInside") == "avoid"
        # The screenshot: the first A4 page as printed, 794 x 1123 px (210 x 297 mm at 96 dpi), the
        # @page margins drawn as padding (a screenshot has no page box).
        page.set_viewport_size({"width": 794, "height": 1123})
        page.add_style_tag(content="body { padding: 14mm 14mm 0; }")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=False)
        page.pdf(path=str(tmp_path / "report-a4.pdf"), format="A4")
        page.pdf(path=str(tmp_path / "report-letter.pdf"), format="Letter")
        assert requests == [], requests
        assert errors == [], errors

    browse(report, visit)
    assert SCREENSHOT.stat().st_size > 10_000
    assert (tmp_path / "report-a4.pdf").read_bytes().startswith(b"%PDF")


def test_the_request_recorder_notices_a_fetch(tmp_path: Path) -> None:
    """The no-request check can fail: a page that tries to load an image is caught (blocked by the CSP)."""
    data = hand_session()
    leaky = question(0, data.questions[0].answers, correct="B",
                     text_html='<p>Look: <img alt="x" src="http://127.0.0.1:9/leak.png"></p>')
    page_html = render_report(analyse_session(session([leaky, *data.questions[1:]])), title="leak")
    report = tmp_path / "leaky.html"
    report.write_text(page_html, encoding="utf-8")
    seen: list[list[str]] = []

    def visit(page: Any, requests: list[str], errors: list[str]) -> None:
        seen.append(requests + errors)

    browse(report, visit)
    assert seen and any("leak.png" in entry or "Content Security Policy" in entry for entry in seen[0]), seen
