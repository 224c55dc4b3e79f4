"""The dashboard's presence table: who is here, connected, answering, switching tabs.

Sent whole (`presence_update`) when a dashboard connects and, for a class up to
`SMALL_CLASS`, each round something changed (cheap, and what simple clients expect).
For a larger class each round sends only the rows that changed (`presence_delta`): the
room marks the students whose row may have changed, so a round costs O(changes), not
O(class). A new question resets everyone's "answered" on the dashboard itself (the delta
says which question is current), so opening a question sends no rows at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.room import messages
from server.room.json_text import dumps
from server.session.model import Participant, SessionRecord, SubmissionStatus

SMALL_CLASS = 300
LAST_SEEN_STEP_MS = 10_000  # "last seen" moves on the dashboard in 10 s steps, not on every ping

_Key = tuple[str, int, int, int, int, bool, int]


class Presence:
    """Rows by student, the version each dashboard last saw, and what changed since."""

    def __init__(self, record: SessionRecord) -> None:
        self.record = record
        self._sent: dict[str, _Key] = {}  # what the dashboards show now, per student
        self._sent_question: int | None = None
        self._dirty: set[str] = set()
        self._everyone = True
        self._lists = True  # roster lists, refused and orphan join attempts

    def mark(self, students: Iterable[str] = (), *, everyone: bool = False, lists: bool = False) -> None:
        self._dirty.update(students)
        self._everyone |= everyone
        self._lists |= lists

    @property
    def small(self) -> bool:
        return len(self.record.participants) <= SMALL_CLASS

    def snapshot_text(self, now_ms: int) -> str:
        """The whole table (`presence_update`), as a connecting dashboard needs it."""
        record = self.record
        rows = [
            dumps(messages.presence_row(p, self._answered(p), record.duplicate_joins.get(p.student_id)))
            for p in record.participants.values()
        ]
        not_joined, refused = self._roster_lists()
        return messages.presence_update_text(
            record.current_question_idx, rows, self._orphans(), now_ms, not_joined=not_joined, refused_joins=refused
        )

    def pending(self) -> bool:
        return bool(self._dirty) or self._everyone or self._lists

    def publish_text(self, now_ms: int) -> str | None:
        """What to send the dashboards this round: the table (small class) or the changed rows, or None."""
        if not self.pending():
            return None
        if self.small:
            text = self.snapshot_text(now_ms)
            self._sent = {p.student_id: self._key(p) for p in self.record.participants.values()}
            self._sent_question = self.record.current_question_idx
            self._dirty.clear()
            self._everyone = self._lists = False
            return text
        return self._delta_text(now_ms)

    def _delta_text(self, now_ms: int) -> str | None:
        record = self.record
        current = record.current_question_idx
        new_question = current != self._sent_question
        if new_question:  # the dashboards reset every "answered" themselves
            self._sent = {sid: key[:5] + (False,) + key[6:] for sid, key in self._sent.items()}
            self._sent_question = current
        rows, removed = self._changed_rows()
        lists = self._lists
        self._dirty.clear()
        self._everyone = self._lists = False
        if not (rows or removed or lists or new_question):
            return None
        not_joined, refused = self._roster_lists() if lists else (None, None)
        delta = messages.presence_delta(
            current,
            rows,
            removed,
            now_ms,
            count=len(record.participants),
            orphans=self._orphans() if lists else None,
            not_joined=not_joined,
            refused_joins=refused,
        )
        return dumps(delta)

    def _changed_rows(self) -> tuple[list[dict[str, object]], list[str]]:
        """Rows whose content changed since the dashboards last saw them, and students gone since."""
        record = self.record
        candidates = list(record.participants) if self._everyone else list(self._dirty)
        rows: list[dict[str, object]] = []
        removed: list[str] = []
        for student_id in candidates:
            participant = record.participants.get(student_id)
            if participant is None:
                if self._sent.pop(student_id, None) is not None:
                    removed.append(student_id)
                continue
            key = self._key(participant)
            if self._sent.get(student_id) != key:
                self._sent[student_id] = key
                rows.append(messages.presence_row(participant, key[5], record.duplicate_joins.get(student_id)))
        if self._everyone:  # a reset: anyone the dashboards still show is gone
            gone = [sid for sid in self._sent if sid not in record.participants]
            for sid in gone:
                del self._sent[sid]
            removed.extend(gone)
        return rows, removed

    def _answered(self, participant: Participant) -> bool:
        current = self.record.current_question_idx
        mine = participant.submissions.get(current) if current is not None else None
        return mine is not None and mine.status is SubmissionStatus.SUBMITTED

    def _key(self, p: Participant) -> _Key:
        attempts = self.record.duplicate_joins.get(p.student_id)
        seen = (p.last_seen_ms or 0) // LAST_SEEN_STEP_MS
        return (
            p.name,
            p.connections,
            seen,
            p.blur_count,
            p.hidden_count,
            self._answered(p),
            attempts.count if attempts else 0,
        )

    def _orphans(self) -> list[dict[str, object]]:
        record = self.record
        return [
            {"student_id": student_id, **entry.as_json()}
            for student_id, entry in record.duplicate_joins.items()
            if student_id not in record.participants
        ]

    def _roster_lists(self) -> tuple[list[dict[str, str]] | None, list[dict[str, object]] | None]:
        record = self.record
        if record.roster is None:
            return None, None
        not_joined = [
            {"student_id": e.student_id, "name": e.display_name}
            for e in record.roster
            if e.student_id not in record.participants
        ]
        refused = [{"student_id": sid, **entry.as_json()} for sid, entry in record.refused_joins.items()]
        return not_joined, refused
