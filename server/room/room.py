"""The room: one live quiz session in memory, with SQLite as its durable log.

Knows nothing of HTTP or websockets: transports call its methods and hand it
`ClientConnection`s; it answers with messages queued on those connections. The room
orchestrates small parts, each in its own module:

- `server.session.machine`: which command may do what in which state (the transition table);
- `Students` (students.py): joins, answers and presence events;
- `Countdown` (countdown.py): the open question's timer, pauses, extensions, extra time;
- `server.storage.operations.SessionLog`: the statements each change writes;
- `Hub` (hub.py): who is connected, fan-out through bounded queues;
- `CoalescedViews` (views.py): the instructors' and projectors' screens, a few times a second;
- `Broadcasts`, `Snapshots`, `Ranking`, `JoinLink`, and `messages` for every shape sent.

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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import trio

from server.clock import Clock
from server.gc_policy import CollectorPause, freeze_survivors
from server.room import inputs, messages
from server.room.broadcasts import Broadcasts
from server.room.countdown import Countdown
from server.room.hub import ClientConnection, CloseCode, Hub
from server.room.join_link import JoinLink
from server.room.json_text import dumps
from server.room.messages import PersonalBroadcast
from server.room.ranking import Ranking
from server.room.snapshots import Snapshots
from server.room.students import Students
from server.room.views import OPEN_STATES, CoalescedViews
from server.session.errors import RoomError
from server.session.machine import ALREADY_ASKED, Command, SessionState, Step, steps_for
from server.session.model import AskedQuestion, Participant, SessionRecord, Submission, SubmissionStatus
from server.session.roster import Roster
from server.settings import Settings
from server.storage.operations import RosterLog, SessionLog
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
            self.hub, record, self._clock, self.ranking, self.join_link, interval_s=settings.view_interval_s
        )
        self.countdown = Countdown(record, self._clock, self._time_up)
        self.views.waiting_for_extra_time = lambda: len(self.countdown.waiting)
        self.students = Students(record, storage, self._clock, self.views, self.ranking, self._answered)
        self.broadcasts = Broadcasts(record, self.ranking)
        self.snapshots = Snapshots(record, self.ranking, self.views, self.broadcasts)
        self._log = SessionLog(record.sid)
        self._transition_lock = trio.Lock()
        self._collector = CollectorPause()

    @property
    def clock(self) -> Clock:
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Use another time source everywhere in the room (tests move time by hand)."""
        self._clock = self.students.clock = self.views.clock = self.countdown.clock = clock

    @property
    def timer(self) -> Any:
        return self.countdown.timer

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the timers and the view publisher; resume an open question's timer."""
        async with trio.open_nursery() as nursery:
            self.countdown.timer.attach(nursery)
            nursery.start_soon(self.views.publish_forever)
            nursery.start_soon(self._collector.run)
            asked = self.current_asked
            if self.state is SessionState.QUESTION_OPEN and asked is not None:
                self.countdown.start(asked)
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

    def _answered(self, participant: Participant) -> None:
        asked = self.current_asked
        if asked is not None:
            self.countdown.answered(participant, asked)

    # ------------------------------------------------------------------ connections

    def connect_student(self, client: ClientConnection, participant: Participant) -> None:
        self.hub.add(client)
        participant.connections += 1
        participant.last_seen_ms = self.clock.now_ms()
        self.views.mark(students=[participant.student_id])
        for text in self.snapshots.for_student(participant, self.clock.now_ms()):
            client.send(text)

    def disconnect_student(self, client: ClientConnection, participant: Participant) -> None:
        self.hub.remove(client)
        participant.connections = max(0, participant.connections - 1)
        participant.last_seen_ms = self.clock.now_ms()
        self.views.mark(students=[participant.student_id])

    def touch(self, participant: Participant) -> None:
        participant.last_seen_ms = self.clock.now_ms()
        self.views.mark(students=[participant.student_id])  # sent when "last seen" moves a 10 s step

    def connect_instructor(self, client: ClientConnection) -> None:
        self.hub.add(client)
        for text in self.snapshots.for_instructor(self.clock.now_ms()):
            client.send(text)

    def connect_projector(self, client: ClientConnection) -> None:
        self.hub.add(client)
        client.send(dumps(self.views.projector_state()))

    def disconnect(self, client: ClientConnection) -> None:
        self.hub.remove(client)

    # ------------------------------------------------------------------ operator commands

    def status(self) -> dict[str, Any]:
        asked = self.current_asked
        running = self.state in OPEN_STATES and asked is not None
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
            "time_left_ms": asked.remaining_ms(self.clock.now_ms()) if running and asked else None,
            "paused": self.state is SessionState.QUESTION_PAUSED,
            "waiting_for_extra_time": len(self.countdown.waiting),
            "roster": len(self.record.roster) if self.record.roster is not None else None,
            "join_url": self.join_url,
            "storage_error": self.storage.last_error,
        }

    async def next(self) -> dict[str, Any]:
        """See `server.session.machine.TRANSITIONS`: open the next question, or finish after the last."""
        return await self._command(Command.NEXT)

    async def open_question(self, question_idx: Any, time_limit: Any = None) -> dict[str, Any]:
        idx = inputs.question_idx(question_idx, count=len(self.pool.questions))
        return await self._command(Command.OPEN, question_idx=idx, seconds=inputs.time_limit(time_limit))

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

    async def pause(self) -> dict[str, Any]:
        """Stop the open question's countdown everywhere (answers wait for the resume)."""
        return await self._command(Command.PAUSE)

    async def resume(self) -> dict[str, Any]:
        """Restart the countdown; every deadline moves by the time spent paused."""
        return await self._command(Command.RESUME)

    async def extend(self, seconds: Any) -> dict[str, Any]:
        """More time for the open question (paused or not)."""
        return await self._command(Command.EXTEND, seconds=inputs.extension(seconds))

    async def skip(self) -> dict[str, Any]:
        """Close the open question without a reveal; it counts for nobody."""
        return await self._command(Command.SKIP)

    async def roster_add(self, student_id: Any, name: Any, extra_time: Any = None) -> dict[str, Any]:
        """Put a student on the class list (missing from the LMS export, say); they may join at once."""
        entry = inputs.roster_entry(student_id, name, extra_time)
        if self.record.roster is None:
            self.record.roster = Roster(source="the data dir's roster")
        if entry.student_id in self.record.roster:
            self.record.roster.remove(entry.student_id)
        self.record.roster.add(entry)
        joined = self.participants.get(entry.student_id)
        if joined is not None:  # a new accommodation applies from the next question on
            joined.extra_time = entry.extra_time
        await self.storage.save(RosterLog.added(entry, len(self.record.roster)), what="roster add")
        self.views.mark(lists=True)
        log.info("roster: added %s (%s)", entry.student_id, entry.display_name)
        return {**self.status(), "added": entry.student_id, "name": entry.display_name}

    async def roster_remove(self, student_id: Any) -> dict[str, Any]:
        """Take a student off the class list (one who already joined stays in this session)."""
        roster = self.record.roster
        if roster is None or not isinstance(student_id, str) or student_id not in roster:
            raise RoomError("unknown_student", f"{student_id!r} is not on the roster.", 404)
        roster.remove(student_id)
        if not len(roster):  # an empty class list is no class list (as after a restart): anyone may join
            self.record.roster = None
        await self.storage.save(RosterLog.removed(student_id), what="roster remove")
        self.views.mark(lists=True)
        log.info("roster: removed %s", student_id)
        return {**self.status(), "removed": student_id}

    async def clear_student(self, student_id: Any) -> dict[str, Any]:
        """Remove a participant and their answers so the rightful owner can claim the id again."""
        participant = self.students.clear(student_id)
        self.hub.close_student(participant.student_id, CloseCode.SESSION_RESET, messages.SESSION_RESET)
        now = self.clock.now_ms()
        detail = dumps({"name": participant.name})
        await self.storage.save(self._log.student_cleared(participant.student_id, detail, now), what="clear student")
        self.views.mark(lobby=True, histogram=True, students=[participant.student_id], lists=True)
        log.info("cleared student %s", participant.student_id)
        return {**self.status(), "cleared": participant.student_id}

    # ------------------------------------------------------------------ transitions

    @asynccontextmanager
    async def _transition(self) -> AsyncIterator[None]:
        """Serialize state transitions; keep the collector quiet while their broadcast drains."""
        async with self._transition_lock:
            self._collector.pause()
            yield

    async def _command(self, command: Command, **args: Any) -> dict[str, Any]:
        """Look the command up in the transition table and carry out its steps, under the lock."""
        async with self._transition():
            steps = steps_for(self.state, command)
            if Step.OPEN in steps and args["question_idx"] in self.record.asked:
                raise ALREADY_ASKED.error(question_idx=args["question_idx"])
            # Moving on from an open question: each phone gets its reveal and the next
            # question in one socket write (released as soon as the question is sent).
            with self.hub.gathered() if steps[:2] == (Step.CLOSE, Step.OPEN_NEXT) else nullcontext():
                for step in steps:
                    await self._carry_out(step, **args)
        return self.status()

    async def _time_up(self, question_idx: int) -> None:
        async with self._transition():
            asked = self.current_asked
            if asked is None or asked.question_idx != question_idx:
                return
            for step in steps_for(self.state, Command.TIME_UP):
                if not self.countdown.time_up(asked):
                    self.views.mark(histogram=True)  # "waiting for N students with extra time"
                    return
                await self._carry_out(step)

    async def _carry_out(self, step: Step, question_idx: int | None = None, seconds: int | None = None) -> None:
        steps: dict[Step, Callable[[], Any]] = {
            Step.CLOSE: self._close_current,
            Step.OPEN_NEXT: self._open_next,
            Step.LEADERBOARD: self._show_leaderboard,
            Step.FINISH: self._finish,
            Step.RESET: self._reset,
            Step.PAUSE: self._pause,
            Step.RESUME: self._resume,
            Step.SKIP: self._skip,
        }
        if step is Step.OPEN:
            assert question_idx is not None
            await self._open(question_idx, seconds or self.pool.questions[question_idx].time_limit)
        elif step is Step.EXTEND:
            assert seconds is not None
            await self._extend(seconds)
        else:
            await steps[step]()

    def _enter(self, state: SessionState, current_question_idx: int | None) -> None:
        """The one place the session's state changes (before the step's first await)."""
        self.record.state = state
        self.record.current_question_idx = current_question_idx

    async def _open_next(self) -> None:
        current = self.record.current_question_idx
        start = 0 if current is None else current + 1
        upcoming = [i for i in range(start, len(self.pool.questions)) if i not in self.record.asked]
        if upcoming:
            await self._open(upcoming[0], self.pool.questions[upcoming[0]].time_limit)
        else:
            await self._finish()

    async def _open(self, question_idx: int, time_limit: int) -> None:
        now = self.clock.now_ms()
        asked = AskedQuestion.of(self.pool, question_idx, now, time_limit)
        self.record.asked[question_idx] = asked
        self._enter(SessionState.QUESTION_OPEN, question_idx)
        statements = self._log.question_opened(asked, self.state, now)
        if self.record.started_at_ms is None:
            self.record.started_at_ms = now
            statements.append(self._log.session_started(now))
        # Queued before any answer to this question can be (no await since the state changed),
        # so the writer commits it first; the broadcast need not wait for the commit.
        saved = await self.storage.queue_save(statements, what="open question")
        freeze_survivors()
        self.countdown.start(asked)
        self._send_timed(lambda extra_time: messages.question_open(self.pool, asked, now, extra_time))
        self.hub.release_held()  # the reveal and this question leave now, before the commit
        self.views.mark(histogram=True, everyone=True)
        log.info("question %d open (%d s)", question_idx + 1, time_limit)
        await saved

    def _stop_current(self) -> AskedQuestion:
        """The open (or paused) question stops taking answers: its timer stops and a pause ends here."""
        asked = self.current_asked
        assert asked is not None
        self.countdown.stop()
        self._enter(SessionState.QUESTION_CLOSED, asked.question_idx)
        asked.closed_at_ms = self.clock.now_ms()
        if asked.paused_at_ms is not None:
            asked.paused_ms += asked.closed_at_ms - asked.paused_at_ms
            asked.paused_at_ms = None
        return asked

    async def _close_current(self) -> None:
        asked = self._stop_current()
        await self.storage.save(
            self._log.question_closed(asked, self.state, self.clock.now_ms()), what="close question"
        )
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
        self._broadcast(self.broadcasts.reveal(asked))
        self.views.mark(histogram=True)
        log.info(
            "question %d closed: %d answered, %d missed",
            asked.question_idx + 1,
            asked.submitted_count,
            asked.missed_count,
        )

    async def _skip(self) -> None:
        """Closed without a reveal: the answers stay in the database but count for nobody."""
        asked = self._stop_current()
        asked.skipped = True
        await self.storage.save(
            self._log.question_skipped(asked, self.state, self.clock.now_ms()), what="skip question"
        )
        text = dumps(messages.question_skipped(asked))
        self.hub.send_to_students(text)
        self.hub.send_to_instructors(text)
        self.views.mark(histogram=True)
        log.info("question %d skipped", asked.question_idx + 1)

    async def _pause(self) -> None:
        asked = self.current_asked
        assert asked is not None
        self.countdown.pause(asked)
        self._enter(SessionState.QUESTION_PAUSED, asked.question_idx)
        await self.storage.save(self._log.question_timing(asked, self.state, self.clock.now_ms()), what="pause")
        self._send_timing("question_paused", asked)

    async def _resume(self) -> None:
        asked = self.current_asked
        assert asked is not None
        self.countdown.resume(asked)
        self._enter(SessionState.QUESTION_OPEN, asked.question_idx)
        await self.storage.save(self._log.question_timing(asked, self.state, self.clock.now_ms()), what="resume")
        self._send_timing("question_resumed", asked)

    async def _extend(self, seconds: int) -> None:
        asked = self.current_asked
        assert asked is not None
        self.countdown.extend(asked, seconds)
        await self.storage.save(self._log.question_timing(asked, self.state, self.clock.now_ms()), what="extend")
        self._send_timing("question_extended", asked)
        log.info("question %d extended by %d s", asked.question_idx + 1, seconds)

    async def _show_leaderboard(self) -> None:
        self._enter(SessionState.BETWEEN_QUESTIONS, self.record.current_question_idx)
        await self._save_state("between questions")
        self._broadcast(self.broadcasts.between())
        self.views.mark()

    async def _finish(self) -> None:
        self._enter(SessionState.FINISHED, None)
        now = self.clock.now_ms()
        self.record.finished_at_ms = now
        await self.storage.save([self._log.session_finished(now)], what="end session")
        self._broadcast(self.broadcasts.ended())
        self.views.mark()
        log.info("session finished")

    async def _reset(self) -> None:
        self.countdown.stop()
        self.students.forget_all()
        self.record.asked = {}
        self.record.started_at_ms = self.record.finished_at_ms = None
        self._enter(SessionState.LOBBY, None)
        for student_id in list(self.hub.students):
            self.hub.close_student(student_id, CloseCode.SESSION_RESET, messages.SESSION_RESET)
        await self.storage.save(self._log.reset(self.clock.now_ms()), what="reset")
        self.hub.send_to_instructors(self.snapshots.state_text(self.clock.now_ms()))
        self.views.mark(lobby=True, histogram=True, everyone=True, lists=True)
        log.info("session reset")

    async def _save_state(self, what: str) -> None:
        statement = self._log.session_state(self.state, self.record.current_question_idx, self.clock.now_ms())
        await self.storage.save([statement], what=what)

    # ------------------------------------------------------------------ sending

    def _send_timed(self, build: Callable[[float], dict[str, Any]]) -> None:
        """A message with a countdown: the shared text for most, their own for students with extra time.

        The instructors' copy is queued first: at 10,000 phones the operator would otherwise
        wait for the whole class's fan-out to see that their click took effect.
        """
        texts = {1.0: dumps(build(1.0))}
        self.hub.send_to_instructors(texts[1.0])
        for student_id, client in self.hub.student_connections():
            participant = self.participants.get(student_id)
            extra_time = participant.extra_time if participant is not None else 1.0
            text = texts.get(extra_time)
            if text is None:
                text = texts[extra_time] = dumps(build(extra_time))
            client.send(text)
        self.views.mark(histogram=True)

    def _send_timing(self, kind: str, asked: AskedQuestion) -> None:
        now = self.clock.now_ms()
        self._send_timed(lambda extra_time: messages.question_timing(kind, asked, now, extra_time))

    def _broadcast(self, broadcast: PersonalBroadcast) -> None:
        """Each connected student their own text; the instructors (first) the common one and the full leaderboard."""
        self.hub.send_to_instructors(broadcast.for_instructor())
        self.hub.send_to_instructors(dumps(messages.full_leaderboard(self.ranking.ranked())))
        for student_id, client in self.hub.student_connections():
            participant = self.participants.get(student_id)
            if participant is not None:
                client.send(broadcast.for_student(participant))
