"""After-class statistics: per question, per student, per session and over a course of sessions.

`analyse_session(SessionData) -> SessionStats` and `analyse_course([SessionData, ...]) -> CourseStats`
are pure: plain data in, frozen dataclasses out (defined in `results`, re-exported here), `to_json()`
for `--json`. Shares are fractions (0..1), never percentages; times are milliseconds. The formulas
and their sources are in docs/report.md; the hand-worked examples are in tests/test_report.py.

Who counts: every student of the session is a participant of every question asked in it. A student
with no answer row for a question missed it and scores 0 there, the way Moodle treats an omitted
item ("treat omitted items as having a score of 0"), so a question's figures and the test totals
agree with each other.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import time
from collections import Counter
from collections.abc import Sequence

from server.reports.data import AnswerRow, QuestionData, SessionData
from server.reports.measures import (
    Bar,
    answer_group,
    choice_options,
    distribution,
    mean,
    pearson,
    percent,
    quantile,
    sample_sd,
    time_spread,
)
from server.reports.results import (
    AttendanceRow,
    CourseSessionRow,
    CourseStats,
    Flag,
    QuestionStats,
    SessionStats,
    SessionSummary,
    StudentStats,
)

__all__ = [
    "AttendanceRow",
    "CourseSessionRow",
    "CourseStats",
    "Flag",
    "QuestionStats",
    "SessionStats",
    "SessionSummary",
    "StudentStats",
    "analyse_course",
    "analyse_session",
    "utc_date",
]

# Flags (plain-language warnings on a question). Thresholds, and why, in docs/report.md.
FLAG_SAME_WRONG = "same_wrong_answer"
FLAG_GUESSING = "guessing"
FLAG_TOO_EASY = "too_easy"
FLAG_NOBODY = "nobody_answered"
SAME_WRONG_SHARE = 0.40  # a wrong answer chosen by more than this share of participants
SAME_WRONG_MIN_COUNT = 2  # one student's slip is not "the class chose"
TOO_EASY_FACILITY = 0.90
GUESS_MARGIN = 0.10  # facility among those who answered within this of the chance score 1/k
GUESS_DISCRIMINATION = 0.15  # |discrimination| below this counts as "near zero"
GUESS_MIN_ANSWERS = 5  # fewer answers than this cannot tell guessing from bad luck
GUESSABLE_KINDS = frozenset({"single", "true_false"})

# Needs help: any one of these.
HELP_BOTTOM_SHARE = 0.15  # bottom 15 % of the class ...
HELP_LOW_SCORE = 0.40  # ... or under 40 % of the possible score ...
HELP_MISSED_SHARE = 0.5  # ... or missed more than half the questions
HARDEST_SHOWN = 3
SCORE_BINS = 10


# ---------------------------------------------------------------- one session


def analyse_session(session: SessionData) -> SessionStats:
    """Every figure of one session's report; ValueError if answers name unknown students or repeat."""
    position = _student_positions(session)
    n = len(session.students)
    credits = [_credits(question, position, n) for question in session.questions]
    marks = [0.0] * n  # each student's test total, summed from the answer rows (as Moodle does)
    for question, column in zip(session.questions, credits, strict=True):
        if question.scored:
            for s, credit in enumerate(column):
                marks[s] += credit * question.weight
    # Upper and lower thirds by test total; ties broken by student id so a report is reproducible.
    ordered = sorted(range(n), key=lambda s: (-marks[s], session.students[s].student_id))
    group = n // 3
    upper, lower = ordered[:group], ordered[n - group :]
    questions = tuple(
        _question_stats(question, column, marks, upper, lower)
        for question, column in zip(session.questions, credits, strict=True)
    )
    possible = math.fsum(q.weight for q in session.questions if q.scored)
    students = _student_stats(session, possible)
    return SessionStats(
        sid=session.sid,
        title=session.title,
        started_ms=session.started_ms,
        finished_ms=session.finished_ms,
        summary=_summary(session, questions, students, possible),
        questions=questions,
        students=students,
    )


def _student_positions(session: SessionData) -> dict[str, int]:
    position: dict[str, int] = {}
    for s, student in enumerate(session.students):
        if student.student_id in position:
            raise ValueError(f"session {session.sid}: student {student.student_id!r} is listed twice")
        position[student.student_id] = s
    for question in session.questions:
        seen: set[str] = set()
        for row in question.answers:
            if row.student_id not in position:
                raise ValueError(
                    f"session {session.sid}, question {question.index + 1}: "
                    f"answer from {row.student_id!r}, who is not among the students"
                )
            if row.student_id in seen:
                raise ValueError(
                    f"session {session.sid}, question {question.index + 1}: two answers from {row.student_id!r}"
                )
            seen.add(row.student_id)
    return position


def _credits(question: QuestionData, position: dict[str, int], n: int) -> list[float]:
    column = [0.0] * n
    for row in question.answers:
        if row.answer is not None:
            column[position[row.student_id]] = min(1.0, max(0.0, row.credit))
    return column


def _question_stats(
    question: QuestionData, column: list[float], marks: list[float], upper: list[int], lower: list[int]
) -> QuestionStats:
    participants = len(column)
    given = [row for row in question.answers if row.answer is not None]
    right = sum(1 for row in given if row.correct)
    scored = question.scored and question.kind != "poll"
    facility = mean(column) if scored else None
    r: float | None = None
    d = p_upper = p_lower = None
    if scored:
        own = [credit * question.weight for credit in column]
        rest = [total - mark for total, mark in zip(marks, own, strict=True)]
        r = pearson(own, rest)
        if upper:
            p_upper = math.fsum(column[s] for s in upper) / len(upper)
            p_lower = math.fsum(column[s] for s in lower) / len(lower)
            d = p_upper - p_lower
    chance = 1 / len(choice_options(question)) if scored and question.kind in GUESSABLE_KINDS else None
    stats = QuestionStats(
        index=question.index,
        number=question.index + 1,
        kind=question.kind,
        text_html=question.text_html,
        text_plain=question.text_plain,
        options=dict(question.options),
        scored=scored,
        weight=question.weight,
        time_limit_s=question.time_limit_s,
        participants=participants,
        answered=len(given),
        right=right if scored else 0,
        right_share=(right / participants if participants else None) if scored else None,
        facility=facility,
        score_sd=sample_sd(column) if scored else None,
        random_guess=chance,
        discrimination_index=r,
        upper_lower_d=d,
        p_upper=p_upper,
        p_lower=p_lower,
        group_size=len(upper) if scored else 0,
        distribution=distribution(question, given, participants),
        response_time=time_spread(row.elapsed_ms for row in given if row.elapsed_ms is not None),
        flags=(),
    )
    return dataclasses.replace(stats, flags=_flags(question, stats, given))


def _flags(question: QuestionData, stats: QuestionStats, given: Sequence[AnswerRow]) -> tuple[Flag, ...]:
    if not given:
        detail = (
            f"None of the {stats.participants} participants answered."
            if stats.participants
            else "Nobody took part in the session."
        )
        return (Flag(FLAG_NOBODY, "Nobody answered", detail),)
    if not stats.scored:
        return ()
    flags: list[Flag] = []
    same_wrong = _same_wrong_answer(question, stats, given)
    if same_wrong is not None:
        flags.append(same_wrong)
    if stats.random_guess is not None and len(given) >= GUESS_MIN_ANSWERS:
        answered_facility = math.fsum(min(1.0, max(0.0, row.credit)) for row in given) / len(given)
        discrimination = stats.discrimination_index if stats.discrimination_index is not None else stats.upper_lower_d
        if (
            abs(answered_facility - stats.random_guess) <= GUESS_MARGIN
            and discrimination is not None
            and abs(discrimination) < GUESS_DISCRIMINATION
        ):
            flags.append(
                Flag(
                    FLAG_GUESSING,
                    "Answered by guessing",
                    f"{percent(answered_facility)} of those who answered got it right, about what blind guessing "
                    f"among {len(choice_options(question))} options gives ({percent(stats.random_guess)}), and the "
                    "stronger students did no better than the weaker ones.",
                )
            )
    if stats.facility is not None and stats.facility > TOO_EASY_FACILITY:
        flags.append(
            Flag(FLAG_TOO_EASY, "Too easy", f"Facility {percent(stats.facility)}: almost everyone got it right.")
        )
    return tuple(flags)


def _same_wrong_answer(question: QuestionData, stats: QuestionStats, given: Sequence[AnswerRow]) -> Flag | None:
    counts: Counter[str] = Counter()
    right_votes: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for row in given:
        assert row.answer is not None
        group = answer_group(question, row.answer)
        counts[group] += 1
        right_votes[group] += 1 if row.correct else -1
        shown.setdefault(group, row.answer.strip())
    wrong = [(count, group) for group, count in counts.items() if right_votes[group] <= 0]
    if not wrong:
        return None
    count, group = min(wrong, key=lambda item: (-item[0], item[1]))
    share = count / stats.participants
    if count < SAME_WRONG_MIN_COUNT or not (count > stats.right or share > SAME_WRONG_SHARE):
        return None
    return Flag(
        FLAG_SAME_WRONG,
        "Most chose the same wrong answer",
        f"{count} of {stats.participants} ({percent(share)}) answered \u201c{_answer_label(question, group, shown)}"
        f"\u201d; {stats.right} got it right.",
    )


def _answer_label(question: QuestionData, group: str, shown: dict[str, str]) -> str:
    options = choice_options(question)
    if question.kind == "multiple":
        return " + ".join(f"{key}: {options.get(key, '?')}" for key in group.split(",") if key) or "(nothing)"
    if question.kind == "true_false":
        return options.get(group, group)
    if question.kind == "single":
        return f"{group}: {options[group]}" if group in options else group
    return " ".join(shown[group].split())


def _student_stats(session: SessionData, possible: float) -> tuple[StudentStats, ...]:
    asked = len(session.questions)
    totals = sorted(student.total for student in session.students)
    median_total = quantile(totals, 0.5) if totals else 0.0
    rows: list[StudentStats] = []
    for student in session.students:
        share = student.total / possible if possible > 0 else None
        missed = max(0, asked - student.answered)
        reasons: list[str] = []
        below = bisect.bisect_left(totals, student.total)  # classmates with a strictly lower score
        if below / len(totals) < HELP_BOTTOM_SHARE and student.total < median_total:
            reasons.append("in the bottom 15 % of the class")
        if share is not None and share < HELP_LOW_SCORE:
            reasons.append(f"scored {percent(share)} of the possible")
        if asked and missed > asked * HELP_MISSED_SHARE:
            reasons.append(f"missed {missed} of {asked} questions")
        rows.append(
            StudentStats(
                student_id=student.student_id,
                name=student.name,
                score=student.total,
                score_share=share,
                answered=student.answered,
                missed=missed,
                right=student.right,
                rank=student.rank,
                blur_count=student.blur_count,
                hidden_count=student.hidden_count,
                duplicate_join_attempts=student.duplicate_join_attempts,
                needs_help=bool(reasons),
                reasons=tuple(reasons),
            )
        )
    # Those who need help first, the one in most trouble on top; then everyone else by rank.
    rows.sort(key=lambda r: (0, r.score, r.name.casefold()) if r.needs_help else (1, r.rank, r.name.casefold()))
    return tuple(rows)


def _summary(
    session: SessionData, questions: Sequence[QuestionStats], students: Sequence[StudentStats], possible: float
) -> SessionSummary:
    scores = sorted(student.total for student in session.students)
    mean_score = mean(scores)
    median_score = quantile(scores, 0.5) if scores else None
    rated = [q for q in questions if q.facility is not None and q.participants]
    hardest = tuple(q.index for q in sorted(rated, key=lambda q: (q.facility, q.index))[:HARDEST_SHOWN])
    return SessionSummary(
        participants=len(students),
        questions=len(questions),
        scored_questions=sum(1 for q in questions if q.scored),
        possible=possible,
        mean_score=mean_score,
        median_score=median_score,
        mean_share=mean_score / possible if mean_score is not None and possible > 0 else None,
        median_share=median_score / possible if median_score is not None and possible > 0 else None,
        hardest=hardest,
        needs_help=sum(1 for s in students if s.needs_help),
        score_bins=_score_bins([s.score_share for s in students if s.score_share is not None], len(students)),
    )


def _score_bins(shares: Sequence[float], participants: int) -> tuple[Bar, ...]:
    counts = [0] * SCORE_BINS
    for share in shares:
        counts[min(SCORE_BINS - 1, max(0, int(share * SCORE_BINS + 1e-9)))] += 1
    step = 100 // SCORE_BINS
    return tuple(
        Bar(
            f"{i * step}-{(i + 1) * step}",
            f"{i * step}\u2013{(i + 1) * step} %",
            count,
            count / participants if participants else 0.0,
            False,
            "bin",
            i / SCORE_BINS,
            (i + 1) / SCORE_BINS,
        )
        for i, count in enumerate(counts)
    )


# ---------------------------------------------------------------- a course of sessions


def analyse_course(sessions: Sequence[SessionData]) -> CourseStats:
    """Every session analysed, in chronological order, with attendance and the trend of the mean score."""
    ordered = sorted(sessions, key=lambda s: (s.started_ms, s.sid))
    analysed = tuple(analyse_session(session) for session in ordered)
    rows = tuple(_course_row(stats) for stats in analysed)
    names: dict[str, str] = {}
    present: dict[str, list[bool]] = {}
    shares: dict[str, list[float]] = {}
    for i, stats in enumerate(analysed):
        for student in stats.students:
            names[student.student_id] = student.name  # later sessions overwrite: the latest name wins
            present.setdefault(student.student_id, [False] * len(analysed))[i] = True
            if student.score_share is not None:
                shares.setdefault(student.student_id, []).append(student.score_share)
    attendance = tuple(
        AttendanceRow(sid, names[sid], tuple(flags), sum(flags), mean(shares.get(sid, [])))
        for sid, flags in sorted(present.items(), key=lambda item: (names[item[0]].casefold(), item[0]))
    )
    return CourseStats(analysed, rows, attendance, tuple(row.mean_share for row in rows))


def _course_row(stats: SessionStats) -> CourseSessionRow:
    hardest = stats.questions[stats.summary.hardest[0]] if stats.summary.hardest else None
    return CourseSessionRow(
        sid=stats.sid,
        title=stats.title,
        started_ms=stats.started_ms,
        date=utc_date(stats.started_ms),
        participants=stats.summary.participants,
        mean_score=stats.summary.mean_score,
        mean_share=stats.summary.mean_share,
        hardest_index=None if hardest is None else hardest.index,
        hardest_text=None if hardest is None else hardest.text_plain,
        hardest_facility=None if hardest is None else hardest.facility,
    )


# ---------------------------------------------------------------- small shared helpers


def utc_date(ms: int) -> str:
    """YYYY-MM-DD of a millisecond timestamp, in UTC."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))
