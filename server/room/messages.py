"""Every message the server sends, built here and nowhere else (docs/protocol.md documents each).

Builders return typed dicts; `dumps` serializes compactly. A broadcast is serialized once
and the same text is queued for every recipient; a personal broadcast (a reveal, say)
shares one serialized prefix and appends each student's own fields (`PersonalBroadcast`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, NotRequired, TypedDict

from server.quiz.pool import Pool
from server.quiz.scoring import points_to_score, units_to_score
from server.quiz.types.base import Question
from server.room.json_text import dumps, scalar
from server.session.machine import SessionState
from server.session.model import AskedQuestion, DuplicateJoinLog, Participant, SessionRecord, Submission

Ranked = list[tuple[int, Participant]]
RankOf = Callable[[Participant], "int | None"]


class ErrorMessage(TypedDict):
    type: str
    code: str
    message: str


class StateMessage(TypedDict):
    type: str
    state: str
    current_question_idx: int | None
    title: str
    total_questions: int
    server_ts: int


class SubmitAckMessage(TypedDict):
    type: str
    question_idx: int
    answer: Any
    score: None  # kept for the contract; a score arrives only with the reveal
    elapsed_ms: int | None


class LeaderboardRow(TypedDict):
    rank: int
    name: str
    score: float
    student_id: NotRequired[str]
    is_you: NotRequired[bool]


class LiveHistogramMessage(TypedDict):
    type: str
    question_idx: int
    histogram: dict[str, int]
    distribution: Any
    submitted_count: int
    total_count: int
    waiting_for_extra_time: int


PONG = '{"type":"pong"}'
SESSION_RESET = '{"type":"session_reset"}'


def error(code: str, message: str) -> ErrorMessage:
    return {"type": "error", "code": code, "message": message}


def state(record: SessionRecord, now_ms: int) -> StateMessage:
    return {
        "type": "state",
        "state": str(record.state),
        "current_question_idx": record.current_question_idx,
        "title": record.pool.title,
        "total_questions": len(record.pool.questions),
        "server_ts": now_ms,
    }


def question_block_of(question: Question) -> dict[str, Any]:
    """What every page needs to show a question, whatever its type; never its answer."""
    block: dict[str, Any] = {
        "question_type": question.kind,
        "text": question.text.source,
        "text_html": question.text.html,
        "points": float(question.weight),
        "scored": question.scored,
    }
    if question.image is not None:
        block["image"] = {"url": question.image.url, "alt": question.image.alt}
    block.update(question.open_fields())
    return block


def question_open(pool: Pool, asked: AskedQuestion, now_ms: int, extra_time: float = 1.0) -> dict[str, Any]:
    """The question for a page; a student with extra time gets their own time limit and countdown."""
    question = pool.questions[asked.question_idx]
    return {
        "type": "question_open",
        "question_idx": asked.question_idx,
        **question_block_of(question),
        "total_questions": len(pool.questions),
        "opened_at_server_ts": asked.opened_at_ms,
        **timing(asked, now_ms, extra_time),
    }


def timing(asked: AskedQuestion, now_ms: int, extra_time: float = 1.0) -> dict[str, Any]:
    """A countdown as one page shows it: its limit, what is left, whether it is stopped."""
    window_s = asked.window_ms(extra_time) / 1000
    fields: dict[str, Any] = {
        "time_limit": int(window_s) if window_s.is_integer() else window_s,
        "remaining_ms": asked.remaining_ms(now_ms, extra_time),
        "paused": asked.paused_at_ms is not None,
        "server_ts": now_ms,
    }
    if extra_time != 1.0:
        fields["extra_time"] = extra_time
    return fields


def question_timing(kind: str, asked: AskedQuestion, now_ms: int, extra_time: float = 1.0) -> dict[str, Any]:
    """`question_paused`, `question_resumed` or `question_extended`: the open question's new countdown."""
    return {"type": kind, "question_idx": asked.question_idx, **timing(asked, now_ms, extra_time)}


def question_skipped(asked: AskedQuestion) -> dict[str, Any]:
    """The question closed without a reveal: it counts for nobody."""
    return {"type": "question_skipped", "question_idx": asked.question_idx}


def submit_ack(question: Question, submission: Submission) -> SubmitAckMessage:
    """The answer as received: its score and correctness are not known to anyone until the reveal."""
    return {
        "type": "submit_ack",
        "question_idx": submission.question_idx,
        "answer": question.answer_json(submission.answer),
        "score": None,
        "elapsed_ms": submission.elapsed_ms,
    }


def command_result(command: str, result: dict[str, Any]) -> dict[str, Any]:
    """The instructor socket's answer to a command (its result is the session status)."""
    return {"type": "command_result", "command": command, "result": result}


def me(record: SessionRecord, participant: Participant) -> dict[str, Any]:
    """`GET /me`: who the cookie speaks for, their (revealed) total and every answer.

    The open question's answer is listed without its score (null) until the reveal.
    """
    rows = []
    for idx, s in sorted(participant.submissions.items()):
        asked = record.asked.get(idx)
        revealed = asked is None or (asked.closed_at_ms is not None and not asked.skipped)
        question = record.pool.questions[idx] if idx < len(record.pool.questions) else None
        rows.append(
            {
                "question_idx": idx,
                "answer": question.answer_json(s.answer) if question is not None and s.answer is not None else s.answer,
                "elapsed_ms": s.elapsed_ms,
                "score": points_to_score(s.points) if revealed else None,
                "status": str(s.status),
            }
        )
    return {
        "student_id": participant.student_id,
        "name": participant.name,
        "sid": record.sid,
        "total_score": units_to_score(participant.total_units),
        "submissions": rows,
    }


# ---------------------------------------------------------------- counts and leaderboards


def histogram(asked: AskedQuestion) -> dict[str, int]:
    """Counts per option (choice and true/false types) and the missed count.

    A choice question always has A-D (zero for options it does not have), as the
    compatibility floor's `{A,B,C,D,missed}` promises; E and F when it has them.
    """
    counts = asked.tally.histogram()
    if "A" in counts:
        counts = {**FLOOR_KEYS, **counts}
    return {**counts, "missed": asked.missed_count}


FLOOR_KEYS = dict.fromkeys("ABCD", 0)


def live_histogram(
    asked: AskedQuestion, participant_count: int, waiting_for_extra_time: int = 0
) -> LiveHistogramMessage:
    """The instructor's live view of the open question (the dashboard may see the answers' spread)."""
    submitted = asked.submitted_count
    pending = max(0, participant_count - submitted - asked.missed_count)
    return {
        "type": "live_histogram",
        "question_idx": asked.question_idx,
        "histogram": {**histogram(asked), "pending": pending},
        "distribution": asked.tally.distribution(revealed=True),  # the instructor's eyes only
        "submitted_count": submitted,
        "total_count": submitted + asked.missed_count + pending,
        "waiting_for_extra_time": waiting_for_extra_time,
    }


def leaderboard_row(rank: int, participant: Participant, *, with_id: bool = False) -> LeaderboardRow:
    row: LeaderboardRow = {"rank": rank, "name": participant.name, "score": units_to_score(participant.total_units)}
    if with_id:
        row["student_id"] = participant.student_id
    return row


def full_leaderboard(ranked: Ranked) -> dict[str, Any]:
    """The instructor's whole leaderboard (with student ids: never sent to students or the projector)."""
    return {"type": "full_leaderboard", "leaderboard": [leaderboard_row(r, p, with_id=True) for r, p in ranked]}


def personal_fields(rank: int | None, participant: Participant) -> str:
    """`,"your_rank":..,"your_total":..` to splice into a pre-serialized broadcast."""
    return f',"your_rank":{scalar(rank)},"your_total":{scalar(units_to_score(participant.total_units))}'


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


def score_distribution(totals_units: Iterable[int], possible_units: int) -> dict[str, Any]:
    """How the (revealed) totals spread over 10 bins from 0 to the most anyone can earn."""
    max_total = max(1.0, units_to_score(possible_units))
    max_total = int(max_total) if float(max_total).is_integer() else max_total
    edge = max_total / SCORE_BINS
    counts = [0] * SCORE_BINS
    n = 0
    for units in totals_units:
        counts[min(SCORE_BINS - 1, max(0, int(units_to_score(units) // edge)))] += 1
        n += 1
    buckets = [
        {"label": f"{round(edge * i, 1)}-{round(edge * (i + 1), 1)}", "count": count} for i, count in enumerate(counts)
    ]
    return {"buckets": buckets, "max_total": max_total, "n": n}


# ---------------------------------------------------------------- instructor views


def lobby_update(participants: Iterable[Participant], count: int | None = None) -> dict[str, Any]:
    """Who joined; with `count` (a large class) `participants` are only the latest and `truncated` says so."""
    rows = [{"student_id": p.student_id, "name": p.name, "joined_at_ms": p.joined_at_ms} for p in participants]
    update: dict[str, Any] = {
        "type": "lobby_update",
        "participants": rows,
        "count": len(rows) if count is None else count,
    }
    if count is not None:
        update["truncated"] = True
    return update


def presence_row(p: Participant, answered: bool, attempts: DuplicateJoinLog | None) -> dict[str, Any]:
    return {
        "student_id": p.student_id,
        "name": p.name,
        "joined_at_ms": p.joined_at_ms,
        "connected": p.connections > 0,
        "ws_count": p.connections,
        "last_seen_ms": p.last_seen_ms,
        "blur_count": p.blur_count,
        "hidden_count": p.hidden_count,
        "duplicate_join_attempts": (attempts or DuplicateJoinLog()).as_json(),
        "answered_current": answered,
    }


def presence_update_text(
    current_question_idx: int | None,
    row_texts: list[str],
    orphans: list[dict[str, Any]],
    now_ms: int,
    *,
    not_joined: list[dict[str, str]] | None = None,
    refused_joins: list[dict[str, Any]] | None = None,
) -> str:
    """`presence_update` from rows serialized (and cached) one by one.

    With a roster: `not_joined` (rostered students who have not joined) and `refused_joins`
    (ids not on the roster that tried: id, count, latest time, address).
    """
    extra = ""
    if not_joined is not None:
        extra = f',"not_joined":{dumps(not_joined)},"refused_joins":{dumps(refused_joins or [])}'
    return (
        f'{{"type":"presence_update","current_question_idx":{dumps(current_question_idx)},'
        f'"rows":[{",".join(row_texts)}],"orphan_duplicate_joins":{dumps(orphans)}{extra},"server_ts":{now_ms}}}'
    )


SHOWS_A_QUESTION = (SessionState.QUESTION_OPEN, SessionState.QUESTION_PAUSED, SessionState.QUESTION_CLOSED)


def presence_delta(
    current_question_idx: int | None,
    rows: list[dict[str, Any]],
    removed: list[str],
    now_ms: int,
    *,
    count: int,
    orphans: list[dict[str, Any]] | None = None,
    not_joined: list[dict[str, str]] | None = None,
    refused_joins: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The presence rows that changed (a large class's dashboard applies them to its table).

    When `current_question_idx` differs from the one the dashboard shows, it first clears
    every row's `answered_current`. The lists are present only when they changed.
    """
    delta: dict[str, Any] = {
        "type": "presence_delta",
        "current_question_idx": current_question_idx,
        "rows": rows,
        "removed": removed,
        "count": count,
        "server_ts": now_ms,
    }
    if orphans is not None:
        delta["orphan_duplicate_joins"] = orphans
    if not_joined is not None:
        delta["not_joined"] = not_joined
        delta["refused_joins"] = refused_joins or []
    return delta


NEWEST_NAMES = 12


def projector_state(
    record: SessionRecord,
    *,
    join_url: str,
    qr_url: str,
    connected: int,
    top10: Ranked,
    now_ms: int,
    waiting_for_extra_time: int = 0,
) -> dict[str, Any]:
    """The public big-screen view: aggregates and names only, never a student id."""
    pool = record.pool
    asked = record.asked.get(record.current_question_idx) if record.current_question_idx is not None else None
    question_block = live = reveal = response_times = None
    if asked is not None and record.state in SHOWS_A_QUESTION:
        question = pool.questions[asked.question_idx]
        is_open = record.state is not SessionState.QUESTION_CLOSED
        question_block = {
            "idx": asked.question_idx,
            **question_block_of(question),
            "opened_at_server_ts": asked.opened_at_ms,
            "time_limit": asked.time_limit,
            "remaining_ms": asked.remaining_ms(now_ms) if is_open else 0,
            "paused": asked.paused_at_ms is not None,
            "skipped": asked.skipped,
            "total_questions": len(pool.questions),
        }
        # While a question is open the hall sees how many answered, not what they chose
        # (late answerers would follow the crowd), unless the pool asks for live results.
        counts = live_histogram(asked, len(record.participants))
        shown = not is_open or question.shows_live_results
        live = {
            "counts": counts["histogram"] if shown else None,
            "distribution": asked.tally.distribution(revealed=not is_open) if shown else None,
            "submitted_count": counts["submitted_count"],
            "total_count": counts["total_count"],
        }
        response_times = response_time_distribution(asked)
        if not is_open and not asked.skipped:
            reveal = reveal_fields(question, asked)
    return {
        "type": "projector_state",
        "sid": record.sid,
        "state": str(record.state),
        "title": pool.title,
        "join_url": join_url,
        "qr_url": qr_url,
        "participant_count": len(record.participants),
        "connected_count": connected,
        "pool_meta": {
            "question_count": len(pool.questions),
            "time_limit_default": pool.time_limit_default,
            "score_fn": pool.score_fn,
        },
        "question": question_block,
        "live_histogram": live,
        "reveal": reveal,
        "response_time_distribution": response_times,
        "score_distribution": score_distribution(
            (p.total_units for p in record.participants.values()), pool.possible_units
        ),
        "leaderboard": [leaderboard_row(r, p) for r, p in top10],
        # The lobby's "just joined": participants are kept in join order, so this is O(NEWEST_NAMES).
        "newest_names": [p.name for p in islice(reversed(record.participants.values()), NEWEST_NAMES)],
        "waiting_for_extra_time": waiting_for_extra_time,
        "server_ts": now_ms,
    }


# ---------------------------------------------------------------- personal broadcasts


class PersonalBroadcast:
    """One message for every student, differing only in a few trailing fields.

    The shared part (and the top-N list) is serialized once; each student's text is that
    prefix plus their own fields. Only the few students inside the top N get a re-serialized
    top list, with their row marked `is_you`.
    """

    def __init__(
        self,
        common: dict[str, Any],
        top_key: str,
        top: Ranked,
        rank_of: RankOf,
        fields: Callable[[Participant], str],
    ) -> None:
        self._top = top
        self._top_key = top_key
        self._rank_of = rank_of
        self._fields = fields
        self._rows = [leaderboard_row(r, p) for r, p in top]
        self._common = {**common, top_key: self._rows}
        self._prefix = dumps(common)[:-1]
        self._top_text = dumps(self._rows)
        self._top_ids = {p.student_id for _, p in top}

    def for_instructor(self) -> str:
        return dumps(self._common)

    def for_student(self, participant: Participant) -> str:
        if participant.student_id in self._top_ids:
            rows = [
                {**row, "is_you": True} if p is participant else row
                for row, (_, p) in zip(self._rows, self._top, strict=True)
            ]
            top_text = dumps(rows)
        else:
            top_text = self._top_text
        return (
            f'{self._prefix},"{self._top_key}":{top_text}'
            f"{self._fields(participant)}{personal_fields(self._rank_of(participant), participant)}}}"
        )


def reveal_fields(question: Question, asked: AskedQuestion) -> dict[str, Any]:
    """What a reveal shows everyone: the right answer, the explanation, how the answers spread."""
    return {
        "question_type": question.kind,
        "correct": question.correct_json(),
        "explanation": question.explanation.source,
        "explanation_html": question.explanation.html,
        "histogram": histogram(asked),
        "distribution": asked.tally.distribution(revealed=True),
    }


def reveal(question: Question, asked: AskedQuestion, top5: Ranked, rank_of: RankOf) -> PersonalBroadcast:
    """`question_closed`: the answer, the counts, and each student's own answer, score and rank."""
    common = {"type": "question_closed", "question_idx": asked.question_idx, **reveal_fields(question, asked)}

    def fields(participant: Participant) -> str:
        mine = participant.submissions.get(asked.question_idx)
        answer = question.answer_json(mine.answer) if mine is not None and mine.answer is not None else None
        return (
            f',"your_answer":{scalar(answer)}'
            f',"your_score":{scalar(points_to_score(mine.points) if mine else 0)}'
            f',"your_points":{scalar(units_to_score(mine.units) if mine else 0)}'
            f',"your_correct":{scalar(bool(mine and mine.correct))}'
        )

    return PersonalBroadcast(common, "top5", top5, rank_of, fields)


def between_questions(next_idx: int, top5: Ranked, rank_of: RankOf) -> PersonalBroadcast:
    return PersonalBroadcast({"type": "between_questions", "next_idx": next_idx}, "top5", top5, rank_of, lambda p: "")


def session_ended(pool: Pool, top5: Ranked, rank_of: RankOf) -> PersonalBroadcast:
    question_count, points_possible = len(pool.questions), units_to_score(pool.possible_units)

    def fields(participant: Participant) -> str:
        return f',"questions_answered":{participant.answered_count},"questions_correct":{participant.correct_count}'

    common = {"type": "session_ended", "questions_total": question_count, "points_possible": points_possible}
    return PersonalBroadcast(common, "final_top5", top5, rank_of, fields)
