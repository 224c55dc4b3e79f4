"""The room: one live quiz session in memory, with SQLite as its durable log.

Knows nothing of HTTP or websockets: transports call its methods and hand it
`ClientConnection`s; it answers with messages queued on those connections. The room
orchestrates small parts, each in its own module:

- `server.session.machine`: which command may do what in which state (the transition table);
- `Students` (students.py): joins, answers and presence events;
- `server.storage.operations.SessionLog`: the statements each change writes;
- `Hub` (hub.py): who is connected, fan-out through bounded queues;
- `CoalescedViews` (views.py): the instructors' and projectors' screens, a few times a second;
- `Ranking`, `QuestionTimer`, `JoinLink`, and `messages` for every shape sent.

Invariants worth knowing before editing:
- Memory is the source of truth while the process runs. Every change is also written
  through `Storage`, whose single writer commits writes in the order they were queued.
- Transitions are serialized by one lock and change `record.state` (in `_enter`, the one
  place it is assigned) before their first await, so an answer arriving mid-transition
  sees the new state.
- Work per answer is O(1) (see students.py); views are rebuilt at most every
  `view_interval_s`; ranks are sorted once per change of scores when someone needs them.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from server.clock import Clock
from server.gc_policy import CollectorPause, freeze_survivors
from server.room import inputs, messages
from server.room.hub import ClientConnection, CloseCode, Hub
from server.room.join_link import JoinLink
from server.room.messages import PersonalBroadcast, dumps
from server.room.ranking import Ranking
from server.room.students import Students
from server.room.timers import QuestionTimer
from server.room.views import CoalescedViews
from server.session.machine import ALREADY_ASKED, Command, SessionState, Step, steps_for
from server.session.model import AskedQuestion, Participant, SessionRecord, Submission, SubmissionStatus
from server.settings import Settings
from server.storage.operations import SessionLog
from server.storage.writer import Storage

log = logging.getLogger("quizctl.room")


class Room:
    """One session, live: the facade every transport (web, control socket) calls."""

    def __init__(self, settings: Settings, storage: Storage, record: SessionRecord, clock: Clock | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.record = record
        self.pool = record.pool
        self._clock = clock or Clock()
        self.hub = Hub()
        self.ranking = Ranking(record)
        self.join_link = JoinLink(settings.join_url())
        self.views = CoalescedViews(
            self.hub, record, self.clock, self.ranking, self.join_link, interval_s=settings.view_interval_s
        )
        self.students = Students(record, storage, self.clock, self.views, self.ranking)
        self.timer = QuestionTimer(self._time_up)
        self._log = SessionLog(record.sid)
        self._transition_lock = trio.Lock()
        self._collector = CollectorPause()

    @property
    def clock(self) -> Clock:
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Use another time source everywhere in the room (tests move time by hand)."""
        self._clock = self.students.clock = self.views.clock = clock

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the timers and the view publisher; resume an open question's timer."""
        async with trio.open_nursery() as nursery:
            self.timer.attach(nursery)
            nursery.start_soon(self.views.publish_forever)
            nursery.start_soon(self._collector.run)
            asked = self.current_asked
            if self.state is SessionState.QUESTION_OPEN and asked is not None:
                self.timer.start(asked.question_idx, self.clock.trio_time_at(asked.deadline_ms))
            task_status.started()

    def set_join_url(self, join_url: str) -> None:
        self.join_link.set(join_url)

    @property
    def join_url(self) -> str:
        return self.join_link.url

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

    # ------------------------------------------------------------------ students (see students.py)

    def authenticate(self, sid: str, student_id: str, cookie_id: str) -> Participant | None:
        return self.students.authenticate(sid, student_id, cookie_id)

    async def join(
        self, student_id: Any, name: Any, *, current: Participant | None = None, detail: str | None = None
    ) -> Participant:
        return await self.students.join(student_id, name, current=current, detail=detail)

    async def submit(self, participant: Participant, question_idx: Any, answer: Any) -> str:
        return await self.students.submit(participant, question_idx, answer)

    async def record_event(self, participant: Participant, kind: Any, question_idx: Any = None) -> None:
        await self.students.record_event(participant, kind, question_idx)

    def me(self, participant: Participant) -> dict[str, Any]:
        return messages.me(self.record, participant)

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
        return dumps(messages.state(self.record, self.clock.now_ms()))

    def _student_snapshot(self, participant: Participant) -> list[str]:
        """What a (re)connecting phone needs to render the current state."""
        texts = [self._state_text()]
        asked = self.current_asked
        if self.state is SessionState.QUESTION_OPEN and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            mine = participant.submissions.get(asked.question_idx)
            if mine is not None and mine.status is SubmissionStatus.SUBMITTED:
                texts.append(dumps(messages.submit_ack(self.pool.questions[asked.question_idx], mine)))
        elif self.state is SessionState.QUESTION_CLOSED and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            texts.append(self._reveal(asked).for_student(participant))
        elif self.state is SessionState.BETWEEN_QUESTIONS:
            texts.append(self._between().for_student(participant))
        elif self.state is SessionState.FINISHED:
            texts.append(self._ended().for_student(participant))
        return texts

    def _instructor_snapshot(self) -> list[str]:
        texts = [self._state_text(), dumps(self.views.lobby_update()), self.views.presence_text()]
        asked = self.current_asked
        if self.state is SessionState.QUESTION_OPEN and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            texts.append(dumps(messages.live_histogram(asked, len(self.participants))))
        elif self.state is SessionState.QUESTION_CLOSED and asked is not None:
            texts.append(dumps(messages.question_open(self.pool, asked, self.clock.now_ms())))
            texts.append(self._reveal(asked).for_instructor())
        elif self.state is SessionState.BETWEEN_QUESTIONS:
            texts.append(self._between().for_instructor())
        elif self.state is SessionState.FINISHED:
            texts.append(self._ended().for_instructor())
        if self.state is not SessionState.LOBBY:
            texts.append(dumps(messages.full_leaderboard(self.ranking.ranked())))
        return texts

    # ------------------------------------------------------------------ operator commands

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
        """See `server.session.machine.TRANSITIONS`: open the next question, or finish after the last."""
        return await self._command(Command.NEXT)

    async def open_question(self, question_idx: Any, time_limit: Any = None) -> dict[str, Any]:
        idx = inputs.question_idx(question_idx, count=len(self.pool.questions))
        limit = inputs.time_limit(time_limit)
        assert idx is not None
        return await self._command(Command.OPEN, question_idx=idx, time_limit=limit)

    async def close_question(self) -> dict[str, Any]:
        return await self._command(Command.CLOSE)

    async def show_leaderboard(self) -> dict[str, Any]:
        """question_closed → between_questions: students see their rank before the next question."""
        return await self._command(Command.LEADERBOARD)

    async def end_session(self) -> dict[str, Any]:
        return await self._command(Command.END)

    async def reset(self) -> dict[str, Any]:
        """Wipe participants, answers and events; back to the lobby. Connected students are told and closed."""
        return await self._command(Command.RESET)

    async def clear_student(self, student_id: Any) -> dict[str, Any]:
        """Remove a participant and their answers so the rightful owner can claim the id again."""
        participant = self.students.clear(student_id)
        self.hub.close_student(participant.student_id, CloseCode.SESSION_RESET, messages.SESSION_RESET)
        now = self.clock.now_ms()
        detail = dumps({"name": participant.name})
        await self.storage.save(self._log.student_cleared(participant.student_id, detail, now), what="clear student")
        self.views.mark(lobby=True, presence=True, histogram=True)
        log.info("cleared student %s", participant.student_id)
        return {**self.status(), "cleared": participant.student_id}

    # ------------------------------------------------------------------ transitions

    @asynccontextmanager
    async def _transition(self) -> AsyncIterator[None]:
        """Serialize state transitions; keep the collector quiet while their broadcast drains."""
        async with self._transition_lock:
            self._collector.pause()
            yield

    async def _command(self, command: Command, question_idx: int | None = None, time_limit: int | None = None) -> dict[str, Any]:
        """Look the command up in the transition table and carry out its steps, under the lock."""
        async with self._transition():
            steps = steps_for(self.state, command)
            if Step.OPEN in steps and question_idx in self.record.asked:
                raise ALREADY_ASKED.error(question_idx=question_idx)
            for step in steps:
                await self._carry_out(step, question_idx, time_limit)
        return self.status()

    async def _time_up(self, question_idx: int) -> None:
        async with self._transition():
            if self.record.current_question_idx == question_idx:
                for step in steps_for(self.state, Command.TIME_UP):
                    await self._carry_out(step, None, None)

    async def _carry_out(self, step: Step, question_idx: int | None, time_limit: int | None) -> None:
        if step is Step.CLOSE:
            await self._close_current()
        elif step is Step.OPEN:
            assert question_idx is not None
            await self._open(question_idx, time_limit or self.pool.questions[question_idx].time_limit)
        elif step is Step.OPEN_NEXT:
            current = self.record.current_question_idx
            start = 0 if current is None else current + 1
            upcoming = [i for i in range(start, len(self.pool.questions)) if i not in self.record.asked]
            if upcoming:
                await self._open(upcoming[0], self.pool.questions[upcoming[0]].time_limit)
            else:
                await self._finish()
        elif step is Step.LEADERBOARD:
            await self._show_leaderboard()
        elif step is Step.FINISH:
            await self._finish()
        elif step is Step.RESET:
            await self._reset()

    def _enter(self, state: SessionState, current_question_idx: int | None) -> None:
        """The one place the session's state changes (before the step's first await)."""
        self.record.state = state
        self.record.current_question_idx = current_question_idx

    async def _open(self, question_idx: int, time_limit: int) -> None:
        asked = AskedQuestion.of(self.pool, question_idx, self.clock.now_ms(), time_limit)
        self.record.asked[question_idx] = asked
        self._enter(SessionState.QUESTION_OPEN, question_idx)
        # Queued before any answer to this question can be (no await since the state changed),
        # so the writer commits it first; the broadcast need not wait for the commit.
        saved = await self.storage.queue_save(
            self._log.question_opened(asked, self.state, self.clock.now_ms()), what="open question"
        )
        freeze_survivors()
        self.timer.start(question_idx, self.clock.trio_time_at(asked.deadline_ms))
        text = dumps(messages.question_open(self.pool, asked, self.clock.now_ms()))
        self.hub.send_to_students(text)
        self.hub.send_to_instructors(text)
        self.views.mark(presence=True, histogram=True)
        log.info("question %d open (%d s)", question_idx, time_limit)
        await saved

    async def _close_current(self) -> None:
        asked = self.current_asked
        assert asked is not None
        self.timer.cancel()
        self._enter(SessionState.QUESTION_CLOSED, asked.question_idx)
        asked.closed_at_ms = self.clock.now_ms()
        await self.storage.save(self._log.question_closed(asked, self.state, self.clock.now_ms()), what="close question")
        # Answers committed before the close are in memory already (their on_commit ran first);
        # their scores join the totals now, at the reveal, and everyone else gets a `missed` row.
        for participant in self.participants.values():
            if asked.question_idx in participant.submissions:
                participant.reveal(asked.question_idx)
            else:
                missed = Submission(asked.question_idx, SubmissionStatus.MISSED)
                participant.record(missed, revealed=True)
                asked.count(missed)
        self.ranking.invalidate()
        self._broadcast(self._reveal(asked))
        self.views.mark(presence=True, histogram=True)
        log.info(
            "question %d closed: %d answered, %d missed", asked.question_idx, asked.submitted_count, asked.missed_count
        )

    async def _show_leaderboard(self) -> None:
        self._enter(SessionState.BETWEEN_QUESTIONS, self.record.current_question_idx)
        await self._save_state("between questions")
        self._broadcast(self._between())
        self.views.mark()

    async def _finish(self) -> None:
        self._enter(SessionState.FINISHED, None)
        await self._save_state("end session")
        self._broadcast(self._ended())
        self.views.mark(presence=True)
        log.info("session finished")

    async def _reset(self) -> None:
        self.timer.cancel()
        self.students.forget_all()
        self.record.asked = {}
        self._enter(SessionState.LOBBY, None)
        for student_id in list(self.hub.students):
            self.hub.close_student(student_id, CloseCode.SESSION_RESET, messages.SESSION_RESET)
        await self.storage.save(self._log.reset(self.clock.now_ms()), what="reset")
        self.hub.send_to_instructors(self._state_text())
        self.views.mark(lobby=True, presence=True, histogram=True)
        log.info("session reset")

    async def _save_state(self, what: str) -> None:
        statement = self._log.session_state(self.state, self.record.current_question_idx, self.clock.now_ms())
        await self.storage.save([statement], what=what)

    # ------------------------------------------------------------------ broadcasts

    def _reveal(self, asked: AskedQuestion) -> PersonalBroadcast:
        question = self.pool.questions[asked.question_idx]
        return messages.reveal(question, asked, self.ranking.top(5), self.ranking.rank_of)

    def _between(self) -> PersonalBroadcast:
        current = self.record.current_question_idx
        return messages.between_questions(0 if current is None else current + 1, self.ranking.top(5), self.ranking.rank_of)

    def _ended(self) -> PersonalBroadcast:
        return messages.session_ended(self.pool, self.ranking.top(5), self.ranking.rank_of)

    def _broadcast(self, broadcast: PersonalBroadcast) -> None:
        """Each connected student their own text; the instructors the common one and the full leaderboard."""
        for student_id, client in self.hub.student_connections():
            participant = self.participants.get(student_id)
            if participant is not None:
                client.send(broadcast.for_student(participant))
        self.hub.send_to_instructors(broadcast.for_instructor())
        self.hub.send_to_instructors(dumps(messages.full_leaderboard(self.ranking.ranked())))
