"""The gradebook CSV, from a session's state (live memory or loaded from the data dir alone).

Safe in spreadsheets: RFC 4180 quoting (csv module, CRLF), UTF-8 (optionally with a BOM
for Excel), and any cell starting with = + - @ tab or CR is prefixed with a single
quote so it cannot run as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from server.quiz.scoring import points_to_score, units_to_score
from server.session.model import Participant, SessionRecord, SubmissionStatus, rank_by_total

LAYOUTS = ("wide", "long")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _score_text(points: int) -> str:
    return f"{points_to_score(points):.2f}"


def _units_text(units: int) -> str:
    return f"{units_to_score(units):.2f}"


def skipped_questions(record: SessionRecord) -> frozenset[int]:
    """Questions closed without a reveal: they count for nobody."""
    return frozenset(idx for idx, asked in record.asked.items() if asked.skipped)


def all_units(participant: Participant, skipped: frozenset[int] = frozenset()) -> int:
    """Every counted answer's weighted score, the open question's too (the gradebook is the instructor's)."""
    return sum(s.units for idx, s in participant.submissions.items() if idx not in skipped)


def right_answers(participant: Participant, skipped: frozenset[int] = frozenset()) -> int:
    return sum(
        1
        for idx, s in participant.submissions.items()
        if s.correct and s.status is SubmissionStatus.SUBMITTED and idx not in skipped
    )


def ranked(record: SessionRecord) -> list[tuple[int, Participant]]:
    """Rows ordered by rank then student id."""
    skipped = skipped_questions(record)
    return rank_by_total(
        record.participants.values(), tiebreak=lambda p: p.student_id, total=lambda p: all_units(p, skipped)
    )


def wide_rows(record: SessionRecord) -> Iterable[list[str]]:
    """A row per student: each scored question's weighted score (polls have no column), the total."""
    scored = [idx for idx, question in enumerate(record.pool.questions) if question.scored]
    skipped = skipped_questions(record)
    yield ["student_id", "name", *(f"q{i + 1}" for i in scored), "total", "answered", "correct", "rank"]
    for rank, p in ranked(record):
        cells = []
        for idx in scored:
            submission = p.submissions.get(idx)
            cells.append(_units_text(submission.units) if submission is not None and idx not in skipped else "")
        yield [
            neutralise(p.student_id),
            neutralise(p.name),
            *cells,
            _units_text(all_units(p, skipped)),
            str(p.answered_count),
            str(right_answers(p, skipped)),
            str(rank),
        ]


def long_rows(record: SessionRecord) -> Iterable[list[str]]:
    """A row per student and asked question: the answer as text (`A;C`, `true`, `3.14`, the text)."""
    yield ["student_id", "name", "question", "answer", "status", "elapsed_ms", "score", "correct", "type", "points"]
    for _, p in ranked(record):
        for idx in sorted(record.asked):
            submission = p.submissions.get(idx)
            if submission is None:
                continue
            question = record.pool.questions[idx]
            answer = "" if submission.answer is None else question.answer_text(submission.answer)
            yield [
                neutralise(p.student_id),
                neutralise(p.name),
                f"q{idx + 1}",
                neutralise(answer),
                str(submission.status),
                "" if submission.elapsed_ms is None else str(submission.elapsed_ms),
                _score_text(submission.points) if question.scored else "",
                "1" if submission.correct and submission.status is SubmissionStatus.SUBMITTED else "0",
                question.kind,
                _units_text(submission.units) if question.scored else "",
            ]


def _render(record: SessionRecord, layout: str, excel: bool) -> tuple[str, int]:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    buffer = io.StringIO()
    if excel:
        buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")  # QUOTE_MINIMAL, doubled quotes: RFC 4180
    rows = -1  # the header is not a data row
    for row in wide_rows(record) if layout == "wide" else long_rows(record):
        writer.writerow(row)
        rows += 1
    return buffer.getvalue(), rows


def render_csv(record: SessionRecord, *, layout: str = "wide", excel: bool = False) -> str:
    return _render(record, layout, excel)[0]


def export_result(record: SessionRecord, *, layout: str = "wide", excel: bool = False) -> dict[str, object]:
    """What the `export` command returns: the CSV text and how many data rows it has."""
    text, rows = _render(record, layout, excel)
    return {"csv": text, "rows": rows, "format": layout, "participants": len(record.participants)}
