"""From a session's state to the report's plain input: `SessionData`, plus the pictures to inline.

The report modules (statistics, report_html) never see the room or the database; this module is
the one bridge. It reads a `SessionRecord` (server/session/model.py), which is either the live
room's memory (the dashboard's `/report`) or a session rebuilt from the data dir's database
(`quizctl report`), and maps it as docs/report.md describes:

- questions: only those asked (`record.asked`), in the order they were opened; `index` is the
  position in the session (0 = first asked), as `SessionData` defines it;
- answers: one `AnswerRow` per submission (a `missed` row has no answer); credit = points / 20,
  so speed bonuses and partial credit are in the marks, as in the gradebook;
- students: every participant, the total counting every answer, the open question's too (the
  gradebook's `all_units`: this report is the instructor's), rank by that total, tab-switch
  counters and refused duplicate joins.

Pictures: a question's image and its options' images are inlined (`InlineImage`, a `data:` URI at
render time), so the file stays self-contained. The database keeps a pool's image paths, not the
images, so a session read back from it finds them only in the folder of its pool file
(`read_stored_session(..., image_dir=...)`); a picture not found there is listed in
`missing_images` and shown as its alt text.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.quiz import content
from server.quiz.scoring import MAX_POINTS, UNITS_PER_SCORE
from server.quiz.types.base import Question
from server.reports.data import (
    QUESTION_KINDS,
    AnswerRow,
    QuestionData,
    SessionData,
    StudentData,
)
from server.reports.gradebook import all_units, ranked, right_answers, skipped_questions
from server.reports.report_html import InlineImage, QuestionImages, render_report
from server.reports.statistics import (
    CourseStats,
    SessionStats,
    analyse_course,
    analyse_session,
    utc_date,
)
from server.session.model import (
    AskedQuestion,
    SessionRecord,
    Submission,
    SubmissionStatus,
)
from server.storage.loading import MissingImage, load_session, stored_pool

# Optional columns of the `sessions` table: when present and set, they beat the question times.
STARTED_COLUMN = "started_at_ms"
FINISHED_COLUMN = "finished_at_ms"


@dataclass(frozen=True, slots=True)
class CollectedSession:
    """One session ready for the report: its figures' input and its questions' pictures (by `index`)."""

    data: SessionData
    images: dict[int, tuple[InlineImage, ...]] = field(default_factory=dict)
    missing_images: tuple[MissingImage, ...] = ()


# ---------------------------------------------------------------- from a record


def collect(
    record: SessionRecord,
    *,
    started_ms: int | None = None,
    finished_ms: int | None = None,
    now_ms: int | None = None,
    missing_images: Sequence[MissingImage] = (),
) -> CollectedSession:
    """`session_data` and the pictures of the asked questions (`missing_images` shown as their alt text)."""
    data = session_data(record, started_ms=started_ms, finished_ms=finished_ms, now_ms=now_ms)
    return CollectedSession(data, question_images(record, missing_images), tuple(missing_images))


def session_data(
    record: SessionRecord, *, started_ms: int | None = None, finished_ms: int | None = None, now_ms: int | None = None
) -> SessionData:
    """The report's input for one session: asked questions with every answer, and every participant.

    Start and finish default to the first question's opening and the last one's closing (None
    while a question is still open); `started_ms` / `finished_ms` override them (the database's
    own session times, when it has them). A session where nothing was asked starts at its first
    join, else at `now_ms` (default: the wall clock).
    """
    asked = asked_in_order(record)
    position = {asked_question.question_idx: i for i, asked_question in enumerate(asked)}
    answers: list[list[AnswerRow]] = [[] for _ in asked]
    for participant in record.participants.values():
        for idx, submission in participant.submissions.items():
            i = position.get(idx)
            if i is not None:
                answers[i].append(_answer_row(participant.student_id, record.pool.questions[idx], submission))
    questions = [_question_data(i, record.pool.questions[a.question_idx], a, answers[i]) for i, a in enumerate(asked)]
    skipped = skipped_questions(record)
    students = [
        StudentData(
            student_id=p.student_id,
            name=p.name,
            total=all_units(p, skipped) / UNITS_PER_SCORE,
            answered=p.answered_count,
            right=right_answers(p, skipped),
            rank=rank,
            blur_count=p.blur_count,
            hidden_count=p.hidden_count,
            duplicate_join_attempts=log.count if (log := record.duplicate_joins.get(p.student_id)) else 0,
        )
        for rank, p in ranked(record)
    ]
    started_ms = started_ms if started_ms is not None else record.started_at_ms
    finished_ms = finished_ms if finished_ms is not None else record.finished_at_ms
    if started_ms is None:
        joined = [p.joined_at_ms for p in record.participants.values()]
        started_ms = (
            asked[0].opened_at_ms
            if asked
            else min(joined)
            if joined
            else now_ms
            if now_ms is not None
            else int(time.time() * 1000)
        )
    if finished_ms is None and asked and all(a.closed_at_ms is not None for a in asked):
        finished_ms = max(a.closed_at_ms for a in asked if a.closed_at_ms is not None)
    return SessionData(record.sid, record.pool.title, started_ms, finished_ms, questions, students)


def asked_in_order(record: SessionRecord) -> list[AskedQuestion]:
    """The questions asked, in the order they were opened (the operator may open them out of pool order)."""
    return sorted(record.asked.values(), key=lambda a: (a.opened_at_ms, a.question_idx))


def _answer_row(student_id: str, question: Question, submission: Submission) -> AnswerRow:
    if submission.status is SubmissionStatus.MISSED or submission.answer is None:
        return AnswerRow(student_id, None, 0.0, False, None)
    return AnswerRow(
        student_id=student_id,
        answer=_answer_text(question, submission.answer),
        credit=submission.points / MAX_POINTS,
        correct=submission.correct,
        elapsed_ms=submission.elapsed_ms,
    )


def _answer_text(question: Question, answer: Any) -> str:
    # An answer stored before the pool changed the question's type is kept as its stored text
    # (server.storage.loading); the question's own formatter may not read it.
    try:
        return question.answer_text(answer)
    except (TypeError, ValueError, AttributeError):
        return str(answer)


def _question_data(index: int, question: Question, asked: AskedQuestion, answers: list[AnswerRow]) -> QuestionData:
    options = getattr(question, "options", {})
    kind = next((k for k in QUESTION_KINDS if k == question.kind), None)
    if kind is None:  # a new question type must be taught to the report first
        raise ValueError(f"the report does not know question type {question.kind!r}")
    return QuestionData(
        index=index,
        kind=kind,
        text_html=question.text.html,
        text_plain=content.plain(question.text.source),
        options={key: content.plain(option.text.source, inline=True) for key, option in options.items()},
        correct=question.correct_json(),
        weight=float(question.weight),
        time_limit_s=asked.time_limit,
        scored=question.scored,
        answers=answers,
    )


def question_images(record: SessionRecord, missing: Sequence[MissingImage] = ()) -> dict[int, tuple[InlineImage, ...]]:
    """The pictures of each asked question by its `index` in the session: its own first, then its options'."""
    lost: dict[int, list[MissingImage]] = {}
    for image in missing:
        lost.setdefault(image.question_idx, []).append(image)
    pictures: dict[int, tuple[InlineImage, ...]] = {}
    for index, asked in enumerate(asked_in_order(record)):
        question = record.pool.questions[asked.question_idx]
        found: list[InlineImage] = []
        if question.image is not None:
            found.append(_inline(question.image, ""))
        for key, option in getattr(question, "options", {}).items():
            if option.image is not None:
                found.append(_inline(option.image, f"Option {key}"))
        found += [InlineImage(alt=m.alt, label=m.label) for m in lost.get(asked.question_idx, [])]
        if found:
            pictures[index] = tuple(found)
    return pictures


def _inline(image: content.PoolImage, label: str) -> InlineImage:
    return InlineImage(alt=image.alt, content_type=image.content_type, data=image.data, label=label)


# ---------------------------------------------------------------- from the database


def read_stored_session(connection: sqlite3.Connection, sid: str, *, image_dir: Path | None = None) -> CollectedSession:
    """A stored session collected from the database alone (read-only is enough); KeyError if unknown.

    Its pool is the stored one. Pictures are read from `image_dir` (the folder of the pool file
    the session was served from); those not found there are reported in `missing_images`.
    """
    row = connection.execute("SELECT pool_json FROM sessions WHERE sid = ?", (sid,)).fetchone()
    if row is None:
        raise KeyError(sid)
    pool, missing = stored_pool(json.loads(row[0]), sid, image_dir)
    record = load_session(connection, sid, pool)
    return collect(record, now_ms=_updated_at(connection, sid), missing_images=missing)


def _updated_at(connection: sqlite3.Connection, sid: str) -> int | None:
    row = connection.execute("SELECT updated_at_ms FROM sessions WHERE sid = ?", (sid,)).fetchone()
    return row[0] if row and isinstance(row[0], int) else None


# ---------------------------------------------------------------- the report


Stats = SessionStats | CourseStats


def analyse(sessions: Sequence[CollectedSession]) -> Stats:
    """One session's statistics, or the course view over several (in chronological order)."""
    if len(sessions) == 1:
        return analyse_session(sessions[0].data)
    return analyse_course([s.data for s in sessions])


def default_title(sessions: Sequence[CollectedSession]) -> str:
    """'<quiz title> · after class' for one session; the span of dates for a course."""
    if len(sessions) == 1:
        return f"{sessions[0].data.title} \u00b7 after class"
    dates = sorted(utc_date(s.data.started_ms) for s in sessions)
    span = f"{dates[0]} to {dates[-1]}" if dates else "no sessions"
    return f"Course report \u00b7 {len(sessions)} sessions, {span}"


def render(stats: Stats, sessions: Sequence[CollectedSession], *, title: str | None = None) -> str:
    """The self-contained HTML report of `stats` (from `analyse(sessions)`), pictures inlined."""
    images: QuestionImages = {s.data.sid: s.images for s in sessions}
    return render_report(stats, title=title or default_title(sessions), images=images)
