"""The room: the quiz session's state machine, in memory, with SQLite as its durable log.

Knows nothing of HTTP or websockets: transports call its methods and hand it
`ClientConnection`s; it answers with messages queued on those connections.

Invariants worth knowing before editing:
- Memory is the source of truth while the process runs. Every change is also written
  through `Storage`, whose single writer commits writes in the order they were queued.
- Answers and joins change memory in their write's `on_commit` callback, which the
  writer runs in queue order before waking anyone. So when a state transition that
  was queued after them (a close, say) resumes, they are already in memory, and the
  reveal counts exactly the answers the database holds.
- A `submit_ack` is queued only after the answer's row is committed.
- Transitions (next/open/close/end/reset/leaderboard) are serialized by one lock and
  change `record.state` before their first await, so an answer arriving mid-transition
  sees the new state.
- `reset` and `clear_student` drop participants from memory at once; callbacks of
  writes queued before them check `generation` / participant identity and do nothing.
- Work per answer is O(1): counters are updated in place, views are rebuilt by the
  coalescing publisher (server/views.py) at most every `view_interval_s`, ranks are sorted lazily once
  per change of scores when someone needs them (a reveal), never per answer.
"""
from __future__ import annotations

import base64
import io
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import qrcode
import qrcode.image.svg
import trio

from server.room import messages
from server.auth import new_cookie_id
from server.room.hub import ClientConnection, CloseCode, Hub
from server.clock import Clock
from server.gc_policy import CollectorPause
from server.room.messages import dumps
from server.session.model import (
    AskedQuestion,
    DuplicateJoinLog,
    Participant,
    SessionRecord,
    SessionState,
    Submission,
    SubmissionStatus,
    rank_by_total,
)
from server.quiz.scoring import points_for, points_to_score
from server.settings import Settings
from server.storage.writer import Statement, Storage, StorageError
from server.room.views import CoalescedViews

log = logging.getLogger("quizctl.room")

STUDENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_MAX_LENGTH = 80
EVENT_KINDS = ("blur", "focus", "visibility_hidden", "visibility_visible")
TIME_LIMIT_RANGE = (5, 3600)
ANSWER_KEYS = ("A", "B", "C", "D")
# Bidi overrides/isolates and zero-width characters could make a name on the projector read
# as another; the zero-width joiner stays allowed (emoji sequences use it).
_INVISIBLE_OR_REORDERING = frozenset("\u200b\u200c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2060\ufeff")


class RoomError(Exception):
    """A refused request: `code` is the contract's error code, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def as_message(self) -> dict[str, Any]:
        return messages.error(self.code, self.message)


@dataclass(slots=True, eq=False)
class _PendingAnswer:
    done: trio.Event = field(default_factory=trio.Event)
    ack_text: str | None = None
    error: RoomError | None = None


def validate_student_id(value: Any) -> str:
    if not isinstance(value, str) or not STUDENT_ID_PATTERN.fullmatch(value):
        raise RoomError(
            "bad_student_id",
            "Student ID must be 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return value


def validate_name(value: Any) -> str:
    if not isinstance(value, str):
        raise RoomError("bad_name", "Name must be text.")
    name = unicodedata.normalize("NFC", " ".join(value.split()))
    if not name:
        raise RoomError("bad_name", "Please enter your name.")
    if len(name) > NAME_MAX_LENGTH:
        raise RoomError("bad_name", f"Name must be at most {NAME_MAX_LENGTH} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in _INVISIBLE_OR_REORDERING for ch in name):
        raise RoomError("bad_name", "Name contains characters that are not allowed.")
    return name


def qr_svg_data_url(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Room:
    def __init__(self, settings: Settings, storage: Storage, record: SessionRecord, clock: Clock | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.record = record
        self.pool = record.pool
        self.clock = clock or Clock()
        self.hub = Hub()
        self.generation = 0
        self.join_url = settings.join_url()
        self.qr_url = qr_svg_data_url(self.join_url)
        self._transition_lock = trio.Lock()
        self._collector = CollectorPause()
        self._pending_answers: dict[tuple[str, int], _PendingAnswer] = {}
        self._pending_joins: set[str] = set()
        self._nursery: trio.Nursery | None = None
        self._timer_scope: trio.CancelScope | None = None
        self._ranking: list[tuple[int, Participant]] | None = None
        self._rank_of: dict[str, int] = {}
        self.views = CoalescedViews(self)

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the timers and the view publisher; resume an open question's timer."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.views.publish_forever)
            nursery.start_soon(self._collector.run)
            if self.record.state is SessionState.QUESTION_OPEN and self.record.current_question_idx is not None:
                asked = self.record.asked[self.record.current_question_idx]
                self._start_timer(asked)
            task_status.started()

    def set_join_url(self, join_url: str) -> None:
        if join_url != self.join_url:
            self.join_url = join_url
            self.qr_url = qr_svg_data_url(join_url)

    def close_all_clients(self, code: int = CloseCode.GOING_AWAY) -> None:
        for client in self.hub.all_clients():
            client.close(code)

    @property
    def state(self) -> SessionState:
        return self.record.state

    @property
    def participants(self) -> dict[str, Participant]:
        return self.record.participants

    @property
    def current_asked(self) -> AskedQuestion | None:
        idx = self.record.current_question_idx
        return self.record.asked.get(idx) if idx is not None else None

    # ------------------------------------------------------------------ students

    def authenticate(self, sid: str, student_id: str, cookie_id: str) -> Participant | None:
        """The participant a cookie speaks for, or None if it is for another session or stale."""
        if sid != self.record.sid:
            return None
        participant = self.participants.get(student_id)
        if participant is None or participant.cookie_id != cookie_id:
            return None
        return participant

    async def join(
        self, student_id: Any, name: Any, *, current: Participant | None = None, detail: str | None = None
    ) -> Participant:
        """First claim wins. `current` is the participant the caller's cookie already speaks for."""
        student_id = validate_student_id(student_id)
        name = validate_name(name)
        existing = self.participants.get(student_id)
        if existing is not None and existing is current:
            return existing
        if existing is not None or student_id in self._pending_joins:
            await self._log_duplicate_join(student_id, name, detail)
            raise RoomError(
                "duplicate_student_id",
                "This student ID has already joined. If it is yours, ask the instructor to clear it.",
                status=409,
            )
        now = self.clock.now_ms()
        participant = Participant(student_id, name, new_cookie_id(), now, last_seen_ms=now)
        generation = self.generation
        sid = self.record.sid

        def on_commit() -> None:
            if self.generation != generation:
                return
            for asked in self.record.asked.values():
                if asked.closed_at_ms is not None and asked.question_idx not in participant.submissions:
                    missed = Submission(asked.question_idx, SubmissionStatus.MISSED)
                    participant.record(missed)
                    asked.count(missed)
            self.participants[student_id] = participant
            self._scores_changed()
            self.views.mark(lobby=True, presence=True, histogram=True)

        self._pending_joins.add(student_id)
        try:
            await self.storage.write(
                [
                    (
                        "INSERT INTO participants (sid, student_id, name, cookie_id, joined_at_ms) VALUES (?, ?, ?, ?, ?)",
                        (sid, student_id, name, participant.cookie_id, now),
                    ),
                    (
                        "INSERT OR IGNORE INTO submissions (sid, student_id, question_idx, status, points, score) "
                        "SELECT sid, ?, question_idx, 'missed', 0, 0 FROM questions WHERE sid = ? AND closed_at_ms IS NOT NULL",
                        (student_id, sid),
                    ),
                ],
                on_commit,
            )
        except StorageError as exc:
            raise RoomError("storage_unavailable", "The server cannot save right now; try again.", 503) from exc
        finally:
            self._pending_joins.discard(student_id)
        log.info("joined: %s (%s)", student_id, name)
        return participant

    async def _log_duplicate_join(self, student_id: str, name: str, detail: str | None) -> None:
        now = self.clock.now_ms()
        entry = self.record.duplicate_joins.setdefault(student_id, DuplicateJoinLog())
        entry.count += 1
        entry.latest_ts = now
        entry.latest_detail = dumps({"name": name, "from": detail})
        log.warning("duplicate join attempt on student id %s (name %r, from %s)", student_id, name, detail)
        self.views.mark(presence=True)
        await self._persist(
            [self._event_row(student_id, "duplicate_join", None, entry.latest_detail, now)],
            what="duplicate join",
            keep=False,
        )

    async def record_event(self, participant: Participant, kind: Any, question_idx: Any = None) -> None:
        self._require_member(participant)
        if kind not in EVENT_KINDS:
            raise RoomError("bad_event", f"kind must be one of: {', '.join(EVENT_KINDS)}.")
        if question_idx is not None and (type(question_idx) is not int or not 0 <= question_idx < 1_000_000):
            raise RoomError("bad_question", "question_idx must be a whole number or absent.")
        now = self.clock.now_ms()
        participant.last_seen_ms = now
        if kind == "blur":
            participant.blur_count += 1
        elif kind == "visibility_hidden":
            participant.hidden_count += 1
        self.views.mark(presence=True)
        await self._persist(
            [self._event_row(participant.student_id, kind, question_idx, None, now)], what="event", keep=False
        )

    def _require_member(self, participant: Participant) -> None:
        """Refuse a participant object that `clear_student` or `reset` has removed meanwhile."""
        if self.participants.get(participant.student_id) is not participant:
            raise RoomError("not_joined", "You are no longer in this session; join again.", 401)

    def _event_row(
        self, student_id: str | None, kind: str, question_idx: int | None, detail: str | None, now: int
    ) -> Statement:
        return (
            "INSERT INTO student_events (sid, student_id, question_idx, kind, detail, ts_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (self.record.sid, student_id, question_idx, kind, detail, now),
        )

    def me(self, participant: Participant) -> dict[str, Any]:
        return {
            "student_id": participant.student_id,
            "name": participant.name,
            "sid": self.record.sid,
            "total_score": points_to_score(participant.total_points),
            "submissions": [
                {
                    "question_idx": s.question_idx,
                    "answer": s.answer,
                    "elapsed_ms": s.elapsed_ms,
                    "score": points_to_score(s.points),
                    "status": str(s.status),
                }
                for _, s in sorted(participant.submissions.items())
            ],
        }

    async def submit(self, participant: Participant, question_idx: Any, answer: Any) -> str:
        """Validate, commit and return the `submit_ack` text; raise RoomError when refused."""
        self._require_member(participant)
        if type(question_idx) is not int:
            raise RoomError("bad_question", "question_idx must be a whole number.")
        if not isinstance(answer, str) or answer not in ANSWER_KEYS:
            raise RoomError("bad_answer", "answer must be one of A, B, C, D.")
        asked = self.current_asked
        if self.state is not SessionState.QUESTION_OPEN or asked is None or asked.question_idx != question_idx:
            raise RoomError("not_open", f"Question {question_idx} is not open.")
        question = self.pool.questions[question_idx]
        if answer not in question.options:
            raise RoomError("bad_answer", f"answer must be one of {', '.join(question.options)}.")
        existing = participant.submissions.get(question_idx)
        if existing is not None and existing.status is SubmissionStatus.SUBMITTED:
            return dumps(messages.submit_ack(existing))
        key = (participant.student_id, question_idx)
        pending = self._pending_answers.get(key)
        if pending is not None:
            await pending.done.wait()
            if pending.ack_text is None:
                assert pending.error is not None
                raise pending.error
            return pending.ack_text

        now = self.clock.now_ms()
        elapsed_ms = max(0, now - asked.opened_at_ms)
        if elapsed_ms > asked.time_limit * 1000:
            raise RoomError("time_expired", "Time is up for this question.")
        correct = answer == question.correct
        points = points_for(self.pool.score_fn, correct, elapsed_ms, asked.time_limit * 1000)
        submission = Submission(question_idx, SubmissionStatus.SUBMITTED, answer, elapsed_ms, points, correct)

        def on_commit() -> None:
            if self.participants.get(participant.student_id) is not participant:
                return  # cleared or reset while the write was queued; the delete follows it
            participant.record(submission)
            participant.last_seen_ms = now
            asked.count(submission)
            self._scores_changed()
            self.views.mark(presence=True, histogram=True)

        pending = self._pending_answers[key] = _PendingAnswer()
        try:
            await self.storage.write(
                [
                    (
                        "INSERT INTO submissions (sid, student_id, question_idx, status, answer, elapsed_ms, points, score,"
                        " correct, submitted_at_ms) VALUES (?, ?, ?, 'submitted', ?, ?, ?, ?, ?, ?)",
                        (
                            self.record.sid,
                            participant.student_id,
                            question_idx,
                            answer,
                            elapsed_ms,
                            points,
                            points_to_score(points),
                            int(correct),
                            now,
                        ),
                    )
                ],
                on_commit,
            )
            pending.ack_text = dumps(messages.submit_ack(submission))
            return pending.ack_text
        except StorageError as exc:
            pending.error = RoomError("storage_unavailable", "Your answer could not be saved; please try again.", 503)
            raise pending.error from exc
        finally:
            del self._pending_answers[key]
            pending.done.set()

    # ------------------------------------------------------------------ connections

    def connect_student(self, client: ClientConnection, participant: Participant) -> None:
        self.hub.add(client)
        participant.connections += 1
        participant.last_seen_ms = self.clock.now_ms()
        self.views.mark(presence=True)
        for text in self._student_snapshot(participant):
            client.send(text)

    def disconnect_student(self, client: ClientConnection, participant: Participant) -> None:
        self.hub.remove(client)
        participant.connections = max(0, participant.connections - 1)
        participant.last_seen_ms = self.clock.now_ms()
        self.views.mark(presence=True)

    def touch(self, participant: Participant) -> None:
        participant.last_seen_ms = self.clock.now_ms()

    def connect_instructor(self, client: ClientConnection) -> None:
        self.hub.add(client)
        for text in self._instructor_snapshot():
            client.send(text)

    def connect_projector(self, client: ClientConnection) -> None:
        self.hub.add(client)
        client.send(dumps(self.views.projector_state()))

    def disconnect(self, client: ClientConnection) -> None:
        self.hub.remove(client)

    def _state_text(self) -> str:
        return dumps(
            messages.state(
                str(self.state),
                self.record.current_question_idx,
                self.pool.title,
                len(self.pool.questions),
                self.clock.now_ms(),
            )
        )

    def _student_snapshot(self, participant: Participant) -> list[str]:
        texts = [self._state_text()]
        asked = self.current_asked
        if self.state is SessionState.QUESTION_OPEN and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            mine = participant.submissions.get(asked.question_idx)
            if mine is not None and mine.status is SubmissionStatus.SUBMITTED:
                texts.append(dumps(messages.submit_ack(mine)))
        elif self.state is SessionState.QUESTION_CLOSED and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            texts.append(self._reveal_broadcast(asked).for_student(participant))
        elif self.state is SessionState.BETWEEN_QUESTIONS:
            texts.append(self._between_broadcast().for_student(participant))
        elif self.state is SessionState.FINISHED:
            texts.append(self._ended_broadcast().for_student(participant))
        return texts

    def _instructor_snapshot(self) -> list[str]:
        texts = [self._state_text(), dumps(self.views.lobby_update()), self.views.presence_text()]
        asked = self.current_asked
        if self.state is SessionState.QUESTION_OPEN and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            texts.append(dumps(messages.live_histogram(asked, len(self.participants))))
        elif self.state is SessionState.QUESTION_CLOSED and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            texts.append(self._reveal_broadcast(asked).for_instructor())
        elif self.state is SessionState.BETWEEN_QUESTIONS:
            texts.append(self._between_broadcast().for_instructor())
        elif self.state is SessionState.FINISHED:
            texts.append(self._ended_broadcast().for_instructor())
        if self.state is not SessionState.LOBBY:
            texts.append(dumps(self._full_leaderboard()))
        return texts

    # ------------------------------------------------------------------ operator actions

    def status(self) -> dict[str, Any]:
        asked = self.current_asked
        open_now = self.state is SessionState.QUESTION_OPEN and asked is not None
        return {
            "sid": self.record.sid,
            "title": self.pool.title,
            "state": str(self.state),
            "current_question_idx": self.record.current_question_idx,
            "question_count": len(self.pool.questions),
            "questions_asked": sorted(self.record.asked),
            "participants": len(self.participants),
            "connected": len(self.hub.students),
            "answered_current": asked.submitted_count if asked is not None else 0,
            "time_left_ms": max(0, asked.deadline_ms - self.clock.now_ms()) if open_now and asked else None,
            "join_url": self.join_url,
            "storage_error": self.storage.last_error,
        }

    async def next(self) -> dict[str, Any]:
        """Lobby → question 0; open → close it and open the next; closed → open the next; last → finish."""
        async with self._transition():
            self._refuse_if_finished()
            if self.state is SessionState.QUESTION_OPEN:
                await self._close_current()
            current = self.record.current_question_idx
            start = 0 if current is None else current + 1
            upcoming = [i for i in range(start, len(self.pool.questions)) if i not in self.record.asked]
            if upcoming:
                await self._open(upcoming[0], self.pool.questions[upcoming[0]].time_limit)
            else:
                await self._finish()
        return self.status()

    async def open_question(self, question_idx: Any, time_limit: Any = None) -> dict[str, Any]:
        if type(question_idx) is not int or not 0 <= question_idx < len(self.pool.questions):
            raise RoomError(
                "bad_question", f"question_idx must be a whole number from 0 to {len(self.pool.questions) - 1}."
            )
        if time_limit is not None and (
            type(time_limit) is not int or not TIME_LIMIT_RANGE[0] <= time_limit <= TIME_LIMIT_RANGE[1]
        ):
            raise RoomError("bad_time_limit", "time_limit must be whole seconds from 5 to 3600.")
        async with self._transition():
            self._refuse_if_finished()
            if question_idx in self.record.asked:
                raise RoomError(
                    "already_asked", f"Question {question_idx} was already asked; reset the session to ask it again.", 409
                )
            if self.state is SessionState.QUESTION_OPEN:
                await self._close_current()
            await self._open(question_idx, time_limit or self.pool.questions[question_idx].time_limit)
        return self.status()

    async def close_question(self) -> dict[str, Any]:
        async with self._transition():
            if self.state is not SessionState.QUESTION_OPEN:
                raise RoomError("not_open", "No question is open.", 409)
            await self._close_current()
        return self.status()

    async def show_leaderboard(self) -> dict[str, Any]:
        """question_closed → between_questions: students see their rank before the next question."""
        async with self._transition():
            if self.state is not SessionState.QUESTION_CLOSED:
                raise RoomError("bad_state", "The leaderboard is shown after a question closes.", 409)
            self.record.state = SessionState.BETWEEN_QUESTIONS
            await self._persist([self._session_row()], what="between questions")
            broadcast = self._between_broadcast()
            self._broadcast_personal(broadcast)
            self.hub.send_to_instructors(broadcast.for_instructor())
            self.hub.send_to_instructors(dumps(self._full_leaderboard()))
            self.views.mark()
        return self.status()

    async def end_session(self) -> dict[str, Any]:
        async with self._transition():
            self._refuse_if_finished()
            if self.state is SessionState.QUESTION_OPEN:
                await self._close_current()
            await self._finish()
        return self.status()

    async def reset(self) -> dict[str, Any]:
        """Wipe participants, answers and events; back to the lobby. Connected students are told and closed."""
        async with self._transition():
            self._cancel_timer()
            self.generation += 1
            self.record.participants = {}
            self.record.asked = {}
            self.record.duplicate_joins = {}
            self.record.state = SessionState.LOBBY
            self.record.current_question_idx = None
            self._scores_changed()
            farewell = dumps({"type": "session_reset"})
            for student_id in list(self.hub.students):
                self.hub.close_student(student_id, CloseCode.SESSION_RESET, farewell)
            sid = self.record.sid
            await self._persist(
                [
                    ("DELETE FROM submissions WHERE sid = ?", (sid,)),
                    ("DELETE FROM questions WHERE sid = ?", (sid,)),
                    ("DELETE FROM participants WHERE sid = ?", (sid,)),
                    ("DELETE FROM student_events WHERE sid = ?", (sid,)),
                    self._session_row(),
                ],
                what="reset",
            )
            self.hub.send_to_instructors(self._state_text())
            self.views.mark(lobby=True, presence=True, histogram=True)
            log.info("session reset")
        return self.status()

    async def clear_student(self, student_id: Any) -> dict[str, Any]:
        """Remove a participant and their answers so the rightful owner can claim the id again."""
        if not isinstance(student_id, str) or student_id not in self.participants:
            raise RoomError("unknown_student", f"No participant with student ID {student_id!r}.", 404)
        participant = self.participants.pop(student_id)
        for submission in participant.submissions.values():
            asked = self.record.asked.get(submission.question_idx)
            if asked is not None:
                asked.count(submission, -1)
        self._scores_changed()
        self.hub.close_student(student_id, CloseCode.SESSION_RESET, dumps({"type": "session_reset"}))
        sid = self.record.sid
        await self._persist(
            [
                ("DELETE FROM submissions WHERE sid = ? AND student_id = ?", (sid, student_id)),
                ("DELETE FROM participants WHERE sid = ? AND student_id = ?", (sid, student_id)),
                self._event_row(student_id, "cleared", None, dumps({"name": participant.name}), self.clock.now_ms()),
            ],
            what="clear student",
        )
        self.views.mark(lobby=True, presence=True, histogram=True)
        log.info("cleared student %s", student_id)
        return {**self.status(), "cleared": student_id}

    @asynccontextmanager
    async def _transition(self) -> AsyncIterator[None]:
        """Serialize state transitions; keep the collector quiet while their broadcast drains."""
        async with self._transition_lock:
            self._collector.pause()
            yield

    def _refuse_if_finished(self) -> None:
        if self.state is SessionState.FINISHED:
            raise RoomError("session_finished", "The session has ended; reset it to start again.", 409)

    # ------------------------------------------------------------------ transitions (lock held)

    async def _open(self, question_idx: int, time_limit: int) -> None:
        asked = AskedQuestion(question_idx, self.clock.now_ms(), time_limit)
        self.record.asked[question_idx] = asked
        self.record.state = SessionState.QUESTION_OPEN
        self.record.current_question_idx = question_idx
        # Queued before any answer to this question can be (no await since the state changed),
        # so the writer commits it first; the broadcast need not wait for the commit.
        saved = await self._queue_persist(
            [
                (
                    "INSERT OR REPLACE INTO questions (sid, question_idx, opened_at_ms, time_limit, closed_at_ms)"
                    " VALUES (?, ?, ?, ?, NULL)",
                    (self.record.sid, question_idx, asked.opened_at_ms, time_limit),
                ),
                self._session_row(),
            ],
            what="open question",
        )
        self._collector.freeze_survivors()
        self._start_timer(asked)
        text = dumps(messages.question_open(self.pool, asked, self.clock.now_ms()))
        self.hub.send_to_students(text)
        self.hub.send_to_instructors(text)
        self.views.mark(presence=True, histogram=True)
        log.info("question %d open (%d s)", question_idx, time_limit)
        await saved

    async def _close_current(self) -> None:
        asked = self.current_asked
        assert asked is not None
        self._cancel_timer()
        self.record.state = SessionState.QUESTION_CLOSED
        asked.closed_at_ms = self.clock.now_ms()
        sid = self.record.sid
        await self._persist(
            [
                (
                    "UPDATE questions SET closed_at_ms = ? WHERE sid = ? AND question_idx = ?",
                    (asked.closed_at_ms, sid, asked.question_idx),
                ),
                (
                    "INSERT OR IGNORE INTO submissions (sid, student_id, question_idx, status, points, score)"
                    " SELECT sid, student_id, ?, 'missed', 0, 0 FROM participants WHERE sid = ?",
                    (asked.question_idx, sid),
                ),
                self._session_row(),
            ],
            what="close question",
        )
        # Answers committed before the close are in memory already (their on_commit ran first).
        for participant in self.participants.values():
            if asked.question_idx not in participant.submissions:
                missed = Submission(asked.question_idx, SubmissionStatus.MISSED)
                participant.record(missed)
                asked.count(missed)
        self._scores_changed()
        broadcast = self._reveal_broadcast(asked)
        self._broadcast_personal(broadcast)
        self.hub.send_to_instructors(broadcast.for_instructor())
        self.hub.send_to_instructors(dumps(self._full_leaderboard()))
        self.views.mark(presence=True, histogram=True)
        log.info(
            "question %d closed: %d answered, %d missed", asked.question_idx, asked.submitted_count, asked.missed_count
        )

    async def _finish(self) -> None:
        self.record.state = SessionState.FINISHED
        self.record.current_question_idx = None
        await self._persist([self._session_row()], what="end session")
        broadcast = self._ended_broadcast()
        self._broadcast_personal(broadcast)
        self.hub.send_to_instructors(broadcast.for_instructor())
        self.hub.send_to_instructors(dumps(self._full_leaderboard()))
        self.views.mark(presence=True)
        log.info("session finished")

    def _session_row(self) -> Statement:
        return (
            "UPDATE sessions SET state = ?, current_question_idx = ?, updated_at_ms = ? WHERE sid = ?",
            (str(self.state), self.record.current_question_idx, self.clock.now_ms(), self.record.sid),
        )

    async def _persist(self, statements: list[Statement], *, what: str, keep: bool = True) -> None:
        """Write a change memory has already made. A failure is logged and shown in `status`.

        With `keep` (state transitions, clears, resets) a write that fails while the database
        cannot be written is kept and saved once it can; audit events are not kept, so an
        outage cannot pile them up.
        """
        await (await self._queue_persist(statements, what=what, keep=keep))

    async def _queue_persist(
        self, statements: list[Statement], *, what: str, keep: bool = True
    ) -> Awaitable[None]:
        """Queue the write now; the returned awaitable waits for its commit (see `_persist`)."""
        try:
            request = await self.storage.queue(statements, keep=keep)
        except StorageError as exc:
            log.error("could not save %s: %s", what, exc)
            return trio.lowlevel.checkpoint()

        async def committed() -> None:
            try:
                await self.storage.wait(request)
            except StorageError as exc:
                outcome = "kept, and saved once the database can be written" if keep else "lost"
                log.error("could not save %s now (%s): %s", what, outcome, exc)

        return committed()

    # ------------------------------------------------------------------ timers

    def _start_timer(self, asked: AskedQuestion) -> None:
        assert self._nursery is not None, "Room.run() must be started first"
        self._cancel_timer()
        scope = self._timer_scope = trio.CancelScope()
        self._nursery.start_soon(self._autoclose, asked.question_idx, self.clock.trio_time_at(asked.deadline_ms), scope)

    def _cancel_timer(self) -> None:
        if self._timer_scope is not None:
            self._timer_scope.cancel()
            self._timer_scope = None

    async def _autoclose(self, question_idx: int, deadline: float, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep_until(deadline)
        if scope.cancel_called:
            return
        async with self._transition():
            if self.state is SessionState.QUESTION_OPEN and self.record.current_question_idx == question_idx:
                await self._close_current()

    # ------------------------------------------------------------------ ranking and broadcasts

    def _scores_changed(self) -> None:
        self._ranking = None

    def ranking(self) -> list[tuple[int, Participant]]:
        """(rank, participant) best first; ties share a rank (1, 2, 2, 4). Sorted once per change."""
        if self._ranking is None:
            ranking = rank_by_total(self.participants.values(), tiebreak=lambda p: (p.name.casefold(), p.student_id))
            self._ranking = ranking
            self._rank_of = {p.student_id: r for r, p in ranking}
        return self._ranking

    def rank_of(self, participant: Participant) -> int | None:
        self.ranking()
        return self._rank_of.get(participant.student_id)

    def top(self, n: int) -> list[tuple[int, Participant]]:
        return self.ranking()[:n]

    def _full_leaderboard(self) -> dict[str, Any]:
        return {
            "type": "full_leaderboard",
            "leaderboard": [messages.leaderboard_row(r, p, with_id=True) for r, p in self.ranking()],
        }

    def _reveal_broadcast(self, asked: AskedQuestion) -> _PersonalBroadcast:
        question = self.pool.questions[asked.question_idx]
        common = {
            "type": "question_closed",
            "question_idx": asked.question_idx,
            "correct": question.correct,
            "explanation": question.explanation,
            "histogram": messages.histogram(asked),
        }

        def fields(participant: Participant) -> str:
            mine = participant.submissions.get(asked.question_idx)
            return (
                f',"your_answer":{dumps(mine.answer if mine else None)}'
                f',"your_score":{dumps(points_to_score(mine.points) if mine else 0)}'
            )

        return _PersonalBroadcast(self, common, "top5", 5, fields)

    def _between_broadcast(self) -> _PersonalBroadcast:
        current = self.record.current_question_idx
        common = {"type": "between_questions", "next_idx": 0 if current is None else current + 1}
        return _PersonalBroadcast(self, common, "top5", 5, lambda p: "")

    def _ended_broadcast(self) -> _PersonalBroadcast:
        common = {"type": "session_ended", "questions_total": len(self.pool.questions)}

        def fields(participant: Participant) -> str:
            return (
                f',"questions_answered":{participant.answered_count}'
                f',"questions_correct":{participant.correct_count}'
            )

        return _PersonalBroadcast(self, common, "final_top5", 5, fields)

    def _broadcast_personal(self, broadcast: _PersonalBroadcast) -> None:
        for student_id, client in self.hub.student_connections():
            participant = self.participants.get(student_id)
            if participant is not None:
                client.send(broadcast.for_student(participant))


class _PersonalBroadcast:
    """One message for every student, differing only in a few trailing fields.

    The shared part (and the top-N list) is serialized once; each student's text is that
    prefix plus their own fields. Only the few students inside the top N get a re-serialized
    top list, with their row marked `is_you`.
    """

    def __init__(self, room: Room, common: dict[str, Any], top_key: str, top_n: int, fields: Any) -> None:
        self._room = room
        self._top = room.top(top_n)
        self._top_key = top_key
        self._fields = fields
        rows = [messages.leaderboard_row(r, p) for r, p in self._top]
        self._rows = rows
        self._common = {**common, top_key: rows}
        self._prefix = dumps(common)[:-1]
        self._top_text = dumps(rows)
        self._top_ids = {p.student_id for _, p in self._top}

    def for_instructor(self) -> str:
        return dumps(self._common)

    def for_student(self, participant: Participant) -> str:
        if participant.student_id in self._top_ids:
            rows = [
                {**row, "is_you": True} if p is participant else row for row, (_, p) in zip(self._rows, self._top)
            ]
            top_text = dumps(rows)
        else:
            top_text = self._top_text
        return (
            f'{self._prefix},"{self._top_key}":{top_text}'
            f"{self._fields(participant)}{messages.personal_fields(self._room.rank_of(participant), participant)}}}"
        )
