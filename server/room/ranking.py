"""Who is ahead: participants by total, sorted lazily once per change of scores, never per answer."""

from __future__ import annotations

from server.session.model import Participant, SessionRecord, rank_by_total


class Ranking:
    """(rank, participant) best first; ties share a rank (1, 2, 2, 4); ties broken by name for display."""

    def __init__(self, record: SessionRecord) -> None:
        self._record = record
        self._ranked: list[tuple[int, Participant]] | None = None
        self._rank_of: dict[str, int] = {}

    def invalidate(self) -> None:
        """Scores or participants changed: sort again when someone next asks."""
        self._ranked = None

    def ranked(self) -> list[tuple[int, Participant]]:
        if self._ranked is None:
            self._ranked = rank_by_total(
                self._record.participants.values(), tiebreak=lambda p: (p.name.casefold(), p.student_id)
            )
            self._rank_of = {p.student_id: r for r, p in self._ranked}
        return self._ranked

    def rank_of(self, participant: Participant) -> int | None:
        self.ranked()
        return self._rank_of.get(participant.student_id)

    def top(self, n: int) -> list[tuple[int, Participant]]:
        return self.ranked()[:n]
