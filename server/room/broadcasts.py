"""The personal broadcasts of a session (a reveal, the leaderboard, the final results), built from memory."""

from __future__ import annotations

from server.room import messages
from server.room.messages import PersonalBroadcast
from server.room.ranking import Ranking
from server.session.model import AskedQuestion, SessionRecord

TOP_N = 5


class Broadcasts:
    """Each is built when it is sent (a transition) or replayed (a reconnect); ranks are sorted once per change."""

    def __init__(self, record: SessionRecord, ranking: Ranking) -> None:
        self._record = record
        self._ranking = ranking

    def reveal(self, asked: AskedQuestion) -> PersonalBroadcast:
        question = self._record.pool.questions[asked.question_idx]
        return messages.reveal(question, asked, self._ranking.top(TOP_N), self._ranking.rank_of)

    def between(self) -> PersonalBroadcast:
        current = self._record.current_question_idx
        next_idx = 0 if current is None else current + 1
        return messages.between_questions(next_idx, self._ranking.top(TOP_N), self._ranking.rank_of)

    def ended(self) -> PersonalBroadcast:
        return messages.session_ended(self._record.pool, self._ranking.top(TOP_N), self._ranking.rank_of)
