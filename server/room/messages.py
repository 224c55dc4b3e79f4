"""Message shapes of the wire contract (../shared/PROTOCOL.md), named once.

Builders return dicts; `dumps` serializes them compactly. A broadcast is serialized once
and the same text is queued for every recipient.
"""
from __future__ import annotations

import json
from typing import Any

from server.session.model import AskedQuestion, Participant, Submission
from server.quiz.pool import Pool
from server.quiz.scoring import points_to_score

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
dumps = _encoder.encode


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def state(state: str, current_question_idx: int | None, title: str, total_questions: int, now_ms: int) -> dict:
    return {
        "type": "state",
        "state": state,
        "current_question_idx": current_question_idx,
        "title": title,
        "total_questions": total_questions,
        "server_ts": now_ms,
    }


def question_open(pool: Pool, asked: AskedQuestion, now_ms: int) -> dict[str, Any]:
    question = pool.questions[asked.question_idx]
    return {
        "type": "question_open",
        "question_idx": asked.question_idx,
        "text": question.text,
        "options": question.options,
        "time_limit": asked.time_limit,
        "total_questions": len(pool.questions),
        "opened_at_server_ts": asked.opened_at_ms,
        "remaining_ms": max(0, asked.deadline_ms - now_ms),
        "server_ts": now_ms,
    }


def submit_ack(submission: Submission) -> dict[str, Any]:
    return {
        "type": "submit_ack",
        "question_idx": submission.question_idx,
        "answer": submission.answer,
        "score": points_to_score(submission.points),
        "elapsed_ms": submission.elapsed_ms,
    }


def histogram(asked: AskedQuestion) -> dict[str, int]:
    return {**asked.answer_counts, "missed": asked.missed_count}


def live_histogram(asked: AskedQuestion, participant_count: int) -> dict[str, Any]:
    submitted = asked.submitted_count
    pending = max(0, participant_count - submitted - asked.missed_count)
    return {
        "type": "live_histogram",
        "question_idx": asked.question_idx,
        "histogram": {**histogram(asked), "pending": pending},
        "submitted_count": submitted,
        "total_count": submitted + asked.missed_count + pending,
    }


def leaderboard_row(rank: int, participant: Participant, *, with_id: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {"rank": rank, "name": participant.name, "score": points_to_score(participant.total_points)}
    if with_id:
        row["student_id"] = participant.student_id
    return row


def personal_fields(rank: int | None, participant: Participant) -> str:
    """`,"your_rank":..,"your_total":..` to splice into a pre-serialized broadcast."""
    return f',"your_rank":{dumps(rank)},"your_total":{dumps(points_to_score(participant.total_points))}'


def response_time_distribution(asked: AskedQuestion) -> dict[str, Any]:
    bins = len(asked.response_time_bins)
    width_s = asked.time_limit / bins
    buckets = [
        {"label": f"{_seconds(width_s * i)}-{_seconds(width_s * (i + 1))}s", "count": count}
        for i, count in enumerate(asked.response_time_bins)
    ]
    return {"buckets": buckets, "total": sum(asked.response_time_bins)}


def _seconds(value: float) -> str:
    """Whole seconds where the bins are wide, tenths where they are narrow (5 s / 8 bins)."""
    return f"{round(value, 1):g}"


SCORE_BINS = 10


def score_distribution(totals_points: list[int], question_count: int) -> dict[str, Any]:
    max_total = max(1, question_count)
    edge = max_total / SCORE_BINS
    counts = [0] * SCORE_BINS
    for points in totals_points:
        counts[min(SCORE_BINS - 1, max(0, int(points_to_score(points) // edge)))] += 1
    buckets = [
        {"label": f"{round(edge * i, 1)}-{round(edge * (i + 1), 1)}", "count": count} for i, count in enumerate(counts)
    ]
    return {"buckets": buckets, "max_total": max_total, "n": len(totals_points)}
