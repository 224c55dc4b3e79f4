"""Students' requests: joining, answering, presence events, and who a cookie speaks for.

Invariants worth knowing before editing:
- Joins and answers change memory in their write's `on_commit` callback, which the
  storage writer runs in queue order before waking anyone. So when a state transition
  queued after them (a close, say) resumes, they are already in memory, and the reveal
  counts exactly the answers the database holds.
- A `submit_ack` is returned only after the answer's row is committed.
- `forget_all` (reset) and `clear` drop participants from memory at once; callbacks of
  writes queued before them check `generation` / participant identity and do nothing.
- Work per answer is O(1): counters change in place, the ranking is only invalidated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from server.auth import new_cookie_id
from server.clock import Clock
from server.quiz.scoring import points_for, weight_units
from server.quiz.types.base import Answer, Question
from server.room import inputs, messages
from server.room.json_text import dumps
from server.room.ranking import Ranking
from server.room.views import CoalescedViews
from server.session.errors import RoomError
from server.session.identity import validate_name, validate_student_id
from server.session.machine import SessionState
from server.session.model import DuplicateJoinLog, Participant, SessionRecord, Submission, SubmissionStatus
from server.storage.operations import SessionLog
from server.storage.writer import Storage, StorageError

log = logging.getLogger("quizctl.room")

DUPLICATE_ID = RoomError(
    "duplicate_student_id", "This student ID has already joined. If it is yours, ask the instructor to clear it.", 409
)
NOT_ON_ROSTER = RoomError(
    "not_on_roster", "This student ID is not on the class list. Check it, or ask the instructor.", 403
)


@dataclass(slots=True, eq=False)
class _PendingAnswer:
    done: trio.Event = field(default_factory=trio.Event)
    ack_text: str | None = None
    error: RoomError | None = None


def grade(
    score_fn: str, question: Question, question_idx: int, answer: Answer, elapsed_ms: int, window_ms: int
) -> Submission:
    """The submission for `answer`: its points (0..20, speed factor over the student's window), weighted units."""
    result = question.grade(answer)
    points = points_for(score_fn, result.credit, elapsed_ms, window_ms) if question.scored else 0
    units = points * weight_units(question.weight)
    return Submission(question_idx, SubmissionStatus.SUBMITTED, answer, elapsed_ms, points, result.correct, units)


class Students:
    """The members of a session and what they send; the room's transitions run elsewhere (`Room`)."""

    def __init__(
        self,
        record: SessionRecord,
        storage: Storage,
        clock: Clock,
        views: CoalescedViews,
        ranking: Ranking,
        on_answer: Callable[[Participant], None],
    ) -> None:
        self._record = record
        self._on_answer = on_answer  # the room's: a student waited for with extra time has answered
        self._storage = storage
        self._log = SessionLog(record.sid)
        self.clock = clock
        self._views = views
        self._ranking = ranking
        # Bumped by a reset: callbacks of writes queued before it find a newer generation and do nothing.
        self.generation = 0
        self._pending_answers: dict[tuple[str, int], _PendingAnswer] = {}
        self._pending_joins: set[str] = set()

    @property
    def participants(self) -> dict[str, Participant]:
        return self._record.participants

    def authenticate(self, sid: str, student_id: str, cookie_id: str) -> Participant | None:
        """The participant a cookie speaks for, or None if it is for another session or stale."""
        if sid != self._record.sid:
            return None
        participant = self.participants.get(student_id)
        if participant is None or participant.cookie_id != cookie_id:
            return None
        return participant

    def require_member(self, participant: Participant) -> None:
        """Refuse a participant object that `clear` or a reset has removed meanwhile."""
        if self.participants.get(participant.student_id) is not participant:
            raise RoomError("not_joined", "You are no longer in this session; join again.", 401)

    # ---------------------------------------------------------------- joining

    async def join(
        self, student_id: Any, name: Any, *, current: Participant | None = None, detail: str | None = None
    ) -> Participant:
        """First claim wins. `current` is the participant the caller's cookie already speaks for.

        With a roster only its students may join, under the roster's name (`name` may be absent),
        with the roster's extra time.
        """
        student_id = validate_student_id(student_id)
        roster = self._record.roster
        entry = roster.get(student_id) if roster is not None else None
        if roster is not None and entry is None:
            await self._log_refused_join(student_id, detail)
            raise NOT_ON_ROSTER
        name = entry.display_name if entry is not None else validate_name(name)
        existing = self.participants.get(student_id)
        if existing is not None and existing is current:
            return existing
        if existing is not None or student_id in self._pending_joins:
            await self._log_duplicate_join(student_id, name, detail)
            raise DUPLICATE_ID
        now = self.clock.now_ms()
        participant = Participant(student_id, name, new_cookie_id(), now, last_seen_ms=now)
        if entry is not None:
            participant.extra_time = entry.extra_time
        generation = self.generation

        def on_commit() -> None:
            if self.generation != generation:
                return
            for asked in self._record.asked.values():
                if (
                    asked.closed_at_ms is not None
                    and not asked.skipped
                    and asked.question_idx not in participant.submissions
                ):
                    missed = Submission(asked.question_idx, SubmissionStatus.MISSED)
                    participant.record(missed, revealed=True)
                    asked.count(missed)
            self.participants[student_id] = participant
            self._ranking.invalidate()
            self._views.mark(lobby=True, histogram=True, students=[student_id])

        self._pending_joins.add(student_id)
        try:
            await self._storage.write(self._log.participant_joined(participant), on_commit)
        except StorageError as exc:
            raise RoomError("storage_unavailable", "The server cannot save right now; try again.", 503) from exc
        finally:
            self._pending_joins.discard(student_id)
        # Not INFO: a lecture of thousands joining within a minute would flood the terminal (and cost CPU).
        log.debug("joined: %s (%s)", student_id, name)
        return participant

    async def _log_refused_join(self, student_id: str, detail: str | None) -> None:
        """An id not on the class list: counted for the dashboard, logged, audited (a typo, or a guess)."""
        now = self.clock.now_ms()
        entry = self._record.refused_joins.setdefault(student_id, DuplicateJoinLog())
        entry.count += 1
        entry.latest_ts = now
        entry.latest_detail = dumps({"from": detail})
        log.warning("join refused: student id %s is not on the roster (from %s)", student_id, detail)
        self._views.mark(lists=True)
        event = self._log.event(student_id, "not_on_roster", None, entry.latest_detail, now)
        await self._storage.save([event], what="refused join", keep=False)

    async def _log_duplicate_join(self, student_id: str, name: str, detail: str | None) -> None:
        now = self.clock.now_ms()
        entry = self._record.duplicate_joins.setdefault(student_id, DuplicateJoinLog())
        entry.count += 1
        entry.latest_ts = now
        entry.latest_detail = dumps({"name": name, "from": detail})
        log.warning("duplicate join attempt on student id %s (name %r, from %s)", student_id, name, detail)
        self._views.mark(students=[student_id], lists=True)
        event = self._log.event(student_id, "duplicate_join", None, entry.latest_detail, now)
        await self._storage.save([event], what="duplicate join", keep=False)

    # ---------------------------------------------------------------- presence

    async def record_event(self, participant: Participant, kind: Any, question_idx: Any = None) -> None:
        """A tab switch (blur, hidden) or return, counted for the dashboard and logged."""
        self.require_member(participant)
        kind = inputs.event_kind(kind)
        question_idx = inputs.question_idx(question_idx, count=inputs.EVENT_QUESTION_LIMIT, optional=True)
        now = self.clock.now_ms()
        participant.last_seen_ms = now
        if kind == "blur":
            participant.blur_count += 1
        elif kind == "visibility_hidden":
            participant.hidden_count += 1
        self._views.mark(students=[participant.student_id])
        event = self._log.event(participant.student_id, kind, question_idx, None, now)
        await self._storage.save([event], what="event", keep=False)

    # ---------------------------------------------------------------- answering

    async def submit(self, participant: Participant, question_idx: Any, answer: Any) -> str:
        """Validate, commit and return the `submit_ack` text; raise RoomError when refused.

        The ack confirms the answer, never its score or correctness: those arrive with the
        reveal (a student who answered first must not be able to tell the hall).
        """
        self.require_member(participant)
        question_idx = inputs.question_idx(question_idx)
        record = self._record
        asked = record.asked.get(question_idx) if question_idx is not None else None
        if asked is not None and record.current_question_idx == question_idx:
            if record.state is SessionState.QUESTION_PAUSED:
                raise RoomError("paused", "The question is paused; answer when it goes on.", 409)
        if (
            record.state is not SessionState.QUESTION_OPEN
            or asked is None
            or record.current_question_idx != question_idx
        ):
            raise RoomError("not_open", f"Question {question_idx} is not open.")
        question = record.pool.questions[asked.question_idx]
        value = question.parse_answer(answer)
        existing = participant.submissions.get(asked.question_idx)
        if existing is not None and existing.status is SubmissionStatus.SUBMITTED:
            return dumps(messages.submit_ack(question, existing))
        key = (participant.student_id, asked.question_idx)
        pending = self._pending_answers.get(key)
        if pending is not None:  # the same student answering twice before the first committed
            await pending.done.wait()
            if pending.ack_text is None:
                assert pending.error is not None
                raise pending.error
            return pending.ack_text

        now = self.clock.now_ms()
        # Against the student's own window (extra time) and without the time spent paused.
        elapsed_ms = asked.active_ms(now)
        window_ms = asked.window_ms(participant.extra_time)
        if elapsed_ms > window_ms:
            raise RoomError("time_expired", "Time is up for this question.")
        submission = grade(record.pool.score_fn, question, asked.question_idx, value, elapsed_ms, window_ms)

        def on_commit() -> None:
            if self.participants.get(participant.student_id) is not participant:
                return  # cleared or reset while the write was queued; the delete follows it
            participant.record(submission, revealed=False)
            participant.last_seen_ms = now
            asked.count(submission)
            self._views.mark(histogram=True, students=[participant.student_id])
            self._on_answer(participant)

        pending = self._pending_answers[key] = _PendingAnswer()
        statements = self._log.answer_submitted(participant.student_id, submission, question.answer_text(value), now)
        try:
            await self._storage.write(statements, on_commit)
            pending.ack_text = dumps(messages.submit_ack(question, submission))
            return pending.ack_text
        except StorageError as exc:
            pending.error = RoomError("storage_unavailable", "Your answer could not be saved; please try again.", 503)
            raise pending.error from exc
        finally:
            del self._pending_answers[key]
            pending.done.set()

    # ---------------------------------------------------------------- removing

    def clear(self, student_id: Any) -> Participant:
        """Remove a participant and their answers from memory (the caller saves it); RoomError if unknown."""
        if not isinstance(student_id, str) or student_id not in self.participants:
            raise RoomError("unknown_student", f"No participant with student ID {student_id!r}.", 404)
        participant = self.participants.pop(student_id)
        for submission in participant.submissions.values():
            asked = self._record.asked.get(submission.question_idx)
            if asked is not None:
                asked.count(submission, -1)
        self._ranking.invalidate()
        return participant

    def forget_all(self) -> None:
        """A reset: nobody is a member any more, and writes still queued for them change nothing."""
        self.generation += 1
        self._record.participants = {}
        self._record.duplicate_joins = {}
        self._record.refused_joins = {}
        self._ranking.invalidate()
