"""What a (re)connecting page is sent first: enough to render the session's current state."""

from __future__ import annotations

from server.room import messages
from server.room.broadcasts import Broadcasts
from server.room.json_text import dumps
from server.room.ranking import Ranking
from server.room.views import OPEN_STATES, CoalescedViews
from server.session.machine import SessionState
from server.session.model import Participant, SessionRecord, SubmissionStatus


class Snapshots:
    """Builds the first messages of each connection from the room's memory."""

    def __init__(self, record: SessionRecord, ranking: Ranking, views: CoalescedViews, broadcasts: Broadcasts) -> None:
        self._record = record
        self._ranking = ranking
        self._views = views
        self._broadcasts = broadcasts

    def state_text(self, now_ms: int) -> str:
        return dumps(messages.state(self._record, now_ms))

    def for_student(self, participant: Participant, now_ms: int) -> list[str]:
        """State, then the open question (with their own ack and countdown), the reveal, or the summary."""
        record = self._record
        texts = [self.state_text(now_ms)]
        asked = record.asked.get(record.current_question_idx) if record.current_question_idx is not None else None
        if record.state in OPEN_STATES and asked is not None:
            texts.append(dumps(messages.question_open(record.pool, asked, now_ms, participant.extra_time)))
            mine = participant.submissions.get(asked.question_idx)
            if mine is not None and mine.status is SubmissionStatus.SUBMITTED:
                question = record.pool.questions[asked.question_idx]
                texts.append(dumps(messages.submit_ack(question, mine)))
        elif record.state is SessionState.QUESTION_CLOSED and asked is not None:
            texts.append(dumps(messages.question_open(record.pool, asked, now_ms, participant.extra_time)))
            if asked.skipped:
                texts.append(dumps(messages.question_skipped(asked)))
            else:
                texts.append(self._broadcasts.reveal(asked).for_student(participant))
        elif record.state is SessionState.BETWEEN_QUESTIONS:
            texts.append(self._broadcasts.between().for_student(participant))
        elif record.state is SessionState.FINISHED:
            texts.append(self._broadcasts.ended().for_student(participant))
        return texts

    def for_instructor(self, now_ms: int) -> list[str]:
        record = self._record
        texts = [self.state_text(now_ms), dumps(self._views.lobby_update()), self._views.presence_text()]
        asked = record.asked.get(record.current_question_idx) if record.current_question_idx is not None else None
        if record.state in OPEN_STATES and asked is not None:
            texts.append(dumps(messages.question_open(record.pool, asked, now_ms)))
            texts.append(self._views.live_histogram_text(asked))
        elif record.state is SessionState.QUESTION_CLOSED and asked is not None:
            texts.append(dumps(messages.question_open(record.pool, asked, now_ms)))
            skipped = dumps(messages.question_skipped(asked))
            texts.append(skipped if asked.skipped else self._broadcasts.reveal(asked).for_instructor())
        elif record.state is SessionState.BETWEEN_QUESTIONS:
            texts.append(self._broadcasts.between().for_instructor())
        elif record.state is SessionState.FINISHED:
            texts.append(self._broadcasts.ended().for_instructor())
        if record.state is not SessionState.LOBBY:
            texts.append(dumps(messages.full_leaderboard(self._ranking.ranked())))
        return texts
