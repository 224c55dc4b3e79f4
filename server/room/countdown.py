"""The open question's countdown: its timer, pauses, extensions, and waiting for extra time.

A student with extra time (the roster's multiplier, an accommodation) has their own
deadline: `opened + limit × multiplier`, moved by every pause. When the question's own
deadline passes, the question stays open for the connected students with extra time who
have not answered yet, until the latest of their deadlines (or until the last of them
answers); the projector and dashboard show how many are waited for. The instructor's
Close still closes at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.clock import Clock
from server.room.timers import QuestionTimer
from server.session.model import AskedQuestion, Participant, SessionRecord, SubmissionStatus


class Countdown:
    """Decides when the open question's timer fires; the room carries out what it means."""

    def __init__(self, record: SessionRecord, clock: Clock, on_time_up: Callable[[int], Awaitable[None]]) -> None:
        self._record = record
        self.clock = clock
        self.timer = QuestionTimer(on_time_up)
        # Students with extra time the open question is being kept open for, past its own deadline.
        self.waiting: set[str] = set()

    def start(self, asked: AskedQuestion) -> None:
        """Run the timer to the question's own deadline (after opening, resuming, extending, restarting)."""
        self.timer.start(asked.question_idx, self.clock.trio_time_at(asked.deadline_ms))

    def stop(self) -> None:
        """The question closed or paused: no timer, nobody waited for."""
        self.timer.cancel()
        self.waiting.clear()

    def pause(self, asked: AskedQuestion) -> None:
        asked.paused_at_ms = self.clock.now_ms()
        self.stop()

    def resume(self, asked: AskedQuestion) -> None:
        """Every deadline moves by the time spent paused."""
        assert asked.paused_at_ms is not None
        asked.paused_ms += max(0, self.clock.now_ms() - asked.paused_at_ms)
        asked.paused_at_ms = None
        self.start(asked)

    def extend(self, asked: AskedQuestion, seconds: int) -> None:
        asked.time_limit += seconds
        self.waiting.clear()
        if asked.paused_at_ms is None:
            self.start(asked)

    def time_up(self, asked: AskedQuestion) -> bool:
        """The timer fired: True to close now, False when students with extra time are still answering."""
        now = self.clock.now_ms()
        still_answering = [p for p in self._extra_time_students(asked) if asked.deadline_for(p.extra_time) > now]
        self.waiting = {p.student_id for p in still_answering}
        if not still_answering:
            return True
        latest = max(asked.deadline_for(p.extra_time) for p in still_answering)
        self.timer.start(asked.question_idx, self.clock.trio_time_at(latest))
        return False

    def answered(self, participant: Participant, asked: AskedQuestion) -> None:
        """The last student waited for has answered: close now rather than at their deadline."""
        if participant.student_id in self.waiting:
            self.waiting.discard(participant.student_id)
            if not self.waiting:
                self.timer.start(asked.question_idx, self.clock.trio_time_at(self.clock.now_ms()))

    def _extra_time_students(self, asked: AskedQuestion) -> list[Participant]:
        """Connected students with extra time who have not answered (a few, in a large class)."""
        found = []
        for participant in self._record.participants.values():
            if participant.extra_time <= 1.0 or participant.connections == 0:
                continue
            mine = participant.submissions.get(asked.question_idx)
            if mine is None or mine.status is not SubmissionStatus.SUBMITTED:
                found.append(participant)
        return found
