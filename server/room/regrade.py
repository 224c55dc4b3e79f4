"""Regrading a session after an answer-key fix: every stored answer scored again with the fixed pool.

A wrong `correct`, a too-tight `tolerance` or `range`, a missing `accept` spelling, a changed
`points` weight or `score_fn`: `quizctl regrade POOL` grades every answer of the session again
with the fixed pool's questions, exactly as the room grades a new answer (`students.grade`:
the type's `grade`, then `points_for` over the answer's own window, the question's time limit
× the student's extra time), writes the answers whose score changed, makes the fixed pool the
session's pool, and records a `regrade` event (no student; its detail lists the changes) in
the session's history.

What is graded again: every submitted answer to every asked question except skipped ones
(they count for nobody). The window is the question's time limit as stored, which includes
any `extend`: an answer given before an extension is rescored against the longer window.

The pool must have the same questions as the session's, each of the same type with the same
option keys: a regrade fixes answer keys, it does not swap questions (that is a new session).

The session a server is running is regraded in its room (`regrade_room`, the control
command): under the room's transition lock, with no question open (so no answer can arrive
meanwhile), the new scores are written through the room's writer and taken into memory, with
the totals and ranking, in the write's commit callback, so memory and the database never
disagree. Any other session is regraded in the database directly (`regrade_stored`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.quiz.pool import Pool, PoolError
from server.quiz.scoring import units_to_score
from server.room.students import grade
from server.session.errors import RoomError
from server.session.machine import SessionState
from server.session.model import Participant, SessionRecord, Submission, SubmissionStatus
from server.storage.loading import MissingImage, load_session, stored_pool, stored_states
from server.storage.operations import Statement
from server.storage.semester import RegradeLog, Rescored, write_now
from server.storage.writer import StorageError

if TYPE_CHECKING:
    from server.room.room import Room

# A question open (or paused) could take answers graded by the old key while the regrade runs.
QUESTION_OPEN = RoomError("question_open", "A question is open; close (or skip) it first, then regrade.", 409)


@dataclass(frozen=True, slots=True)
class ScoreChange:
    """One answer whose weighted score or correctness the regrade changed."""

    student_id: str
    name: str
    question_idx: int
    old_units: int
    new_units: int
    old_correct: bool
    new_correct: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "student_id": self.student_id,
            "name": self.name,
            "question_idx": self.question_idx,
            "old_score": units_to_score(self.old_units),
            "new_score": units_to_score(self.new_units),
            "old_correct": self.old_correct,
            "new_correct": self.new_correct,
        }


@dataclass(slots=True)
class Regrade:
    """What regrading `sid` with `pool` gives: each answer's new submission, and what changed."""

    sid: str
    pool: Pool
    rescored: list[tuple[Participant, Submission]] = field(default_factory=list)
    changes: list[ScoreChange] = field(default_factory=list)
    # Answers the fixed question cannot grade (stored text it cannot read): kept as they were.
    unreadable: list[tuple[str, int]] = field(default_factory=list)
    # Pictures of the fixed pool that could not be read where the server looked (left out).
    missing_images: list[MissingImage] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        """The command's result, and the detail of the history event."""
        return {
            "sid": self.sid,
            "pool": self.pool.source,
            "answers": len(self.rescored),
            "changes": [change.as_json() for change in self.changes],
            "unreadable": [{"student_id": sid, "question_idx": idx} for sid, idx in self.unreadable],
        }


def check_same_questions(session_pool: Pool, fixed: Pool) -> None:
    """RoomError `pool_mismatch` unless `fixed` has the session's questions (count, types, option keys)."""
    if len(fixed.questions) != len(session_pool.questions):
        raise RoomError(
            "pool_mismatch",
            f"The pool has {len(fixed.questions)} questions and the session {len(session_pool.questions)}: "
            "regrade takes the session's own pool with its answer keys fixed.",
            409,
        )
    for number, (old, new) in enumerate(zip(session_pool.questions, fixed.questions, strict=True), start=1):
        if type(old) is not type(new):
            raise RoomError(
                "pool_mismatch",
                f"Question {number} is a {new.kind} question in the pool but a {old.kind} question in the session: "
                "regrade fixes answer keys, it does not change questions.",
                409,
            )
        old_keys, new_keys = list(getattr(old, "options", {})), list(getattr(new, "options", {}))
        if old_keys != new_keys:
            raise RoomError(
                "pool_mismatch",
                f"Question {number} has options {', '.join(new_keys)} in the pool but {', '.join(old_keys)} "
                "in the session: regrade fixes answer keys, it does not change options.",
                409,
            )


def plan(record: SessionRecord, fixed: Pool) -> Regrade:
    """Grade every answer of the session again with `fixed` (memory is not changed; see `apply`)."""
    check_same_questions(record.pool, fixed)
    regrade = Regrade(record.sid, fixed)
    participants = sorted(record.participants.values(), key=lambda p: p.student_id)
    for idx in sorted(record.asked):
        asked = record.asked[idx]
        if asked.skipped:
            continue
        question = fixed.questions[idx]
        for participant in participants:
            old = participant.submissions.get(idx)
            if old is None or old.status is not SubmissionStatus.SUBMITTED:
                continue
            window_ms = asked.window_ms(participant.extra_time)
            try:
                new = grade(fixed.score_fn, question, idx, old.answer, old.elapsed_ms or 0, window_ms)
            except (RoomError, TypeError, ValueError, KeyError, AttributeError):
                regrade.unreadable.append((participant.student_id, idx))
                continue
            regrade.rescored.append((participant, new))
            if (new.units, new.correct) != (old.units, old.correct):
                regrade.changes.append(
                    ScoreChange(
                        participant.student_id, participant.name, idx, old.units, new.units, old.correct, new.correct
                    )
                )
    return regrade


def apply(record: SessionRecord, regrade: Regrade) -> None:
    """Take a committed regrade into memory: answers, totals of revealed questions, the pool, the tallies."""
    for participant, new in regrade.rescored:
        if record.participants.get(participant.student_id) is not participant:
            continue  # cleared while the regrade was being written; its rows are gone too
        old = participant.submissions[new.question_idx]
        asked = record.asked[new.question_idx]
        if asked.closed_at_ms is not None and not asked.skipped:  # revealed: it counts in the totals
            participant.total_units += new.units - old.units
            participant.correct_count += int(new.correct) - int(old.correct)
        participant.submissions[new.question_idx] = new
    old_pool, record.pool = record.pool, regrade.pool
    for idx, asked in record.asked.items():
        question = regrade.pool.questions[idx]
        if question.to_json() == old_pool.questions[idx].to_json():
            continue
        asked.tally = question.new_tally()  # e.g. a numeric question's histogram marks the right range
        for participant in record.participants.values():
            submission = participant.submissions.get(idx)
            if submission is not None and submission.status is SubmissionStatus.SUBMITTED:
                try:
                    asked.tally.add(submission.answer)
                except (TypeError, ValueError, KeyError):
                    pass  # an answer the question cannot read is counted, not tallied (as on load)


def _statements(regrade: Regrade, pool_dir: str | None, now_ms: int) -> list[Statement]:
    """What the regrade writes (before `apply`): only the rows whose points or correctness changed."""
    rescored = []
    for participant, new in regrade.rescored:
        old = participant.submissions[new.question_idx]
        if (new.points, new.correct) != (old.points, old.correct):
            rescored.append(Rescored(participant.student_id, new.question_idx, new.points, new.correct))
    detail = json.dumps(regrade.result(), ensure_ascii=False, separators=(",", ":"))
    pool_json = json.dumps(regrade.pool.to_json(), ensure_ascii=False)
    return RegradeLog(regrade.sid).regraded(rescored, pool_json, regrade.pool.title, pool_dir, detail, now_ms)


def fixed_pool(data: Any, source: Any, sid: str, fallback_dir: Path) -> tuple[Pool, str | None, list[MissingImage]]:
    """The pool a regrade command sent (its JSON and the path it was read from): RoomError `bad_pool` if invalid.

    Its pictures are read from the pool file's folder when this machine has it, else from the
    session's; one that cannot be read is left out (grading never needs it) and listed.
    """
    if not isinstance(data, dict):
        raise RoomError("bad_pool", "pool must be the pool file's JSON object.")
    if source is not None and not isinstance(source, str):
        raise RoomError("bad_message", "source must be the pool file's path.")
    folder = Path(source).parent if source else None
    image_dir = folder if folder is not None and folder.is_dir() else fallback_dir
    try:
        pool, missing = stored_pool(data, sid, image_dir)
    except PoolError as exc:
        raise RoomError("bad_pool", "The pool is not valid: " + "; ".join(exc.problems[:5])) from None
    if source:
        pool = replace(pool, source=source)  # the file it came from, for the history event
    return pool, str(image_dir) if folder is not None and folder.is_dir() else None, missing


async def regrade_room(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    """The `regrade` control command: regrade the running session, memory and database together."""
    pool, pool_dir, missing = fixed_pool(args.get("pool"), args.get("source"), room.record.sid, room.pool.base_dir)
    async with room._transition():  # the room's own lock: no transition runs meanwhile
        if room.state in (SessionState.QUESTION_OPEN, SessionState.QUESTION_PAUSED):
            raise QUESTION_OPEN
        regrade = plan(room.record, pool)
        regrade.missing_images = missing

        def on_commit() -> None:
            apply(room.record, regrade)
            room.pool = room.record.pool
            room.ranking.invalidate()
            room.views.mark(lobby=True, histogram=True, everyone=True)

        try:
            await room.storage.write(_statements(regrade, pool_dir, room.clock.now_ms()), on_commit)
        except StorageError as exc:
            raise RoomError(
                "storage_unavailable", "The database cannot be written; nothing was regraded.", 503
            ) from exc
    return {**regrade.result(), "missing_images": [image.path for image in missing], "status": room.status()}


def regrade_stored(connection: sqlite3.Connection, sid: str, pool: Pool) -> Regrade:
    """Regrade a session no server is running, in the database directly (one transaction).

    RoomError `unknown_session` when the data dir has no such session.
    """
    try:
        record = load_session(connection, sid)
    except KeyError:
        known = ", ".join(sorted(stored_states(connection))) or "none"
        raise RoomError("unknown_session", f"No session {sid!r} in this data dir (stored: {known}).", 404) from None
    regrade = plan(record, pool)
    pool_dir = None if pool.source.startswith("<") else str(pool.base_dir)
    write_now(connection, _statements(regrade, pool_dir, int(time.time() * 1000)))  # no room, so no room clock
    return regrade
