"""Coalesced views for instructors and projectors.

The room marks what changed (`mark`); one publisher task sends the latest lobby, presence,
live histogram and projector state at most every `interval_s` (0.2 s), so their cost
is per round, not per answer, and the last change always goes out. For a large class the
O(class size) instructor views (lobby, presence) go out at most once a second, and presence
rows are re-encoded only for students whose row changed.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from server.clock import Clock
from server.room import messages
from server.room.hub import Hub
from server.room.join_link import JoinLink
from server.room.messages import dumps
from server.room.ranking import Ranking
from server.session.machine import SessionState
from server.session.model import AskedQuestion, SessionRecord, SubmissionStatus

OPEN_STATES = (SessionState.QUESTION_OPEN, SessionState.QUESTION_PAUSED)
# Above this many participants the O(class size) instructor views go out at most once a second.
LARGE_CLASS = 300
HEAVY_VIEW_INTERVAL_S = 1.0

_PresenceKey = tuple[str, int, int | None, int, int, bool, int]


class CoalescedViews:
    """What the instructors' and projectors' screens show, sent a few times a second at most."""

    def __init__(
        self,
        hub: Hub,
        record: SessionRecord,
        clock: Clock,
        ranking: Ranking,
        join_link: JoinLink,
        *,
        interval_s: float,
    ) -> None:
        self._hub = hub
        self.record = record
        self.clock = clock
        self._ranking = ranking
        self._join_link = join_link
        self._interval_s = interval_s
        self._changed = trio.Event()
        self._dirty_lobby = self._dirty_presence = self._dirty_histogram = self._dirty_projector = True
        self._last_heavy_publish = float("-inf")
        self._presence_rows: dict[str, tuple[_PresenceKey, str]] = {}
        # How many students with extra time the open question waits for (set by the room).
        self.waiting_for_extra_time: Callable[[], int] = lambda: 0

    def mark(self, *, lobby: bool = False, presence: bool = False, histogram: bool = False) -> None:
        """Something changed; the projector view always depends on it."""
        self._dirty_lobby |= lobby
        self._dirty_presence |= presence
        self._dirty_histogram |= histogram
        self._dirty_projector = True
        self._changed.set()

    async def publish_forever(self) -> None:
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            self.publish()
            await trio.sleep(self._interval_s)

    def publish(self) -> None:
        """Send what changed since the last round to instructors and projectors."""
        if self._hub.instructors:
            self._publish_to_instructors()
        if self._hub.projectors and self._dirty_projector:
            self._hub.send_to_projectors(dumps(self.projector_state()))
            self._dirty_projector = False

    def _publish_to_instructors(self) -> None:
        # The per-student views (lobby, presence) are O(class size) to send: for a large
        # class they go out at most once a second, and the rest wait for a later round.
        now = trio.current_time()
        heavy_due = (
            len(self.record.participants) <= LARGE_CLASS or now - self._last_heavy_publish >= HEAVY_VIEW_INTERVAL_S
        )
        if heavy_due and (self._dirty_lobby or self._dirty_presence):
            if self._dirty_lobby:
                self._hub.send_to_instructors(dumps(self.lobby_update()))
            if self._dirty_presence:
                self._hub.send_to_instructors(self.presence_text())
            self._dirty_lobby = self._dirty_presence = False
            self._last_heavy_publish = now
        elif self._dirty_lobby or self._dirty_presence:
            self._changed.set()  # due in a later round
        record = self.record
        asked = record.asked.get(record.current_question_idx) if record.current_question_idx is not None else None
        if self._dirty_histogram and asked is not None and record.state in OPEN_STATES:
            self._hub.send_to_instructors(self.live_histogram_text(asked))
        self._dirty_histogram = False

    def live_histogram_text(self, asked: AskedQuestion) -> str:
        participants = len(self.record.participants)
        return dumps(messages.live_histogram(asked, participants, self.waiting_for_extra_time()))

    def lobby_update(self) -> dict[str, object]:
        return messages.lobby_update(self.record.participants.values())

    def presence_text(self) -> str:
        """The serialized `presence_update`; a row is re-encoded only when its content changed."""
        record = self.record
        current = record.current_question_idx
        previous, cache = self._presence_rows, {}
        rows = []
        for p in record.participants.values():
            mine = p.submissions.get(current) if current is not None else None
            answered = mine is not None and mine.status is SubmissionStatus.SUBMITTED
            attempts = record.duplicate_joins.get(p.student_id)
            key: _PresenceKey = (
                p.name,
                p.connections,
                p.last_seen_ms,
                p.blur_count,
                p.hidden_count,
                answered,
                attempts.count if attempts else 0,
            )
            entry = previous.get(p.student_id)
            if entry is None or entry[0] != key:
                entry = (key, dumps(messages.presence_row(p, answered, attempts)))
            cache[p.student_id] = entry
            rows.append(entry[1])
        self._presence_rows = cache
        orphans = [
            {"student_id": student_id, **entry.as_json()}
            for student_id, entry in record.duplicate_joins.items()
            if student_id not in record.participants
        ]
        not_joined = refused = None
        if record.roster is not None:
            not_joined = [
                {"student_id": e.student_id, "name": e.display_name}
                for e in record.roster
                if e.student_id not in record.participants
            ]
            refused = [{"student_id": sid, **entry.as_json()} for sid, entry in record.refused_joins.items()]
        return messages.presence_update_text(
            current, rows, orphans, self.clock.now_ms(), not_joined=not_joined, refused_joins=refused
        )

    def projector_state(self) -> dict[str, object]:
        return messages.projector_state(
            self.record,
            join_url=self._join_link.url,
            qr_url=self._join_link.qr_data_url,
            connected=len(self._hub.students),
            top10=self._ranking.top(10),
            now_ms=self.clock.now_ms(),
            waiting_for_extra_time=self.waiting_for_extra_time(),
        )
