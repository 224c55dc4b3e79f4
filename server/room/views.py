"""Coalesced views for instructors and projectors.

The room marks what changed (`mark`); one publisher task sends the latest lobby, presence,
live histogram and projector state at most every `interval_s` (0.2 s), so their cost
is per round, not per answer, and the last change always goes out. For a large class the
lobby and presence go out at most once a second, presence as the rows that changed only
(presence.py), and the lobby as a count with the latest names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import trio

from server.clock import Clock
from server.room import messages
from server.room.hub import Hub
from server.room.join_link import JoinLink
from server.room.json_text import dumps
from server.room.presence import Presence
from server.room.ranking import Ranking
from server.session.machine import SessionState
from server.session.model import AskedQuestion, SessionRecord

OPEN_STATES = (SessionState.QUESTION_OPEN, SessionState.QUESTION_PAUSED)
# Above this many participants the O(class size) instructor views go out at most once a second.
LARGE_CLASS = 300
HEAVY_VIEW_INTERVAL_S = 1.0

LOBBY_NAMES = 50


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
        self._dirty_lobby = self._dirty_histogram = self._dirty_projector = True
        self._last_heavy_publish = float("-inf")
        self.presence = Presence(record)
        # How many students with extra time the open question waits for (set by the room).
        self.waiting_for_extra_time: Callable[[], int] = lambda: 0

    def mark(
        self,
        *,
        lobby: bool = False,
        histogram: bool = False,
        students: Iterable[str] = (),
        everyone: bool = False,
        lists: bool = False,
    ) -> None:
        """Something changed: the presence rows of `students` (or `everyone`), the roster and join lists,
        the lobby, the live histogram; the projector view always depends on it."""
        self._dirty_lobby |= lobby
        self.presence.mark(students, everyone=everyone, lists=lists)
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
        if heavy_due and (self._dirty_lobby or self.presence.pending()):
            if self._dirty_lobby:
                self._hub.send_to_instructors(dumps(self.lobby_update()))
            presence = self.presence.publish_text(self.clock.now_ms())
            if presence is not None:
                self._hub.send_to_instructors(presence)
            self._dirty_lobby = False
            self._last_heavy_publish = now
        elif self._dirty_lobby or self.presence.pending():
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
        """Everyone who joined; for a large class the count and the latest LOBBY_NAMES names."""
        participants = self.record.participants
        if len(participants) <= LARGE_CLASS:
            return messages.lobby_update(participants.values())
        latest = list(itertools.islice(reversed(participants.values()), LOBBY_NAMES))[::-1]
        return messages.lobby_update(latest, count=len(participants))

    def presence_text(self) -> str:
        """The whole presence table, for a dashboard that connects."""
        return self.presence.snapshot_text(self.clock.now_ms())

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
