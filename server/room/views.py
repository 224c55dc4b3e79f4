"""Coalesced views for instructors and projectors.

The room marks what changed (`mark`); one publisher task sends the latest lobby, presence,
live histogram and projector state at most every `view_interval_s` (0.2 s), so their cost
is per round, not per answer, and the last change always goes out. For a large class the
O(class size) instructor views (lobby, presence) go out at most once a second, and presence
rows are re-encoded only for students whose row changed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from server.room import messages
from server.room.messages import dumps
from server.session.model import DuplicateJoinLog, Participant, SessionState, SubmissionStatus

if TYPE_CHECKING:
    from server.room.room import Room

# Above this many participants the O(class size) instructor views go out at most once a second.
LARGE_CLASS = 300
HEAVY_VIEW_INTERVAL_S = 1.0


class CoalescedViews:
    def __init__(self, room: Room) -> None:
        self._room = room
        self._changed = trio.Event()
        self._dirty_lobby = self._dirty_presence = self._dirty_histogram = self._dirty_projector = True
        self._last_heavy_publish = float("-inf")
        self._presence_rows: dict[str, tuple[tuple, str]] = {}

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
            await trio.sleep(self._room.settings.view_interval_s)

    def publish(self) -> None:
        """Send what changed since the last round to instructors and projectors.

        The per-student views (lobby, presence) are O(class size) to send: for a large class
        they go out at most once a second (HEAVY_VIEW_INTERVAL_S), and presence rows are
        re-encoded only for students whose row changed.
        """
        room = self._room
        if room.hub.instructors:
            now = trio.current_time()
            heavy_due = (
                len(room.participants) <= LARGE_CLASS
                or now - self._last_heavy_publish >= HEAVY_VIEW_INTERVAL_S
            )
            if heavy_due and (self._dirty_lobby or self._dirty_presence):
                if self._dirty_lobby:
                    room.hub.send_to_instructors(dumps(self.lobby_update()))
                if self._dirty_presence:
                    room.hub.send_to_instructors(self.presence_text())
                self._dirty_lobby = self._dirty_presence = False
                self._last_heavy_publish = now
            elif self._dirty_lobby or self._dirty_presence:
                self._changed.set()  # due in a later round
            asked = room.current_asked
            if self._dirty_histogram and asked is not None and room.state is SessionState.QUESTION_OPEN:
                room.hub.send_to_instructors(dumps(messages.live_histogram(asked, len(room.participants))))
            self._dirty_histogram = False
        if room.hub.projectors and self._dirty_projector:
            room.hub.send_to_projectors(dumps(self.projector_state()))
            self._dirty_projector = False

    def lobby_update(self) -> dict[str, Any]:
        room = self._room
        participants = [
            {"student_id": p.student_id, "name": p.name, "joined_at_ms": p.joined_at_ms}
            for p in room.participants.values()
        ]
        return {"type": "lobby_update", "participants": participants, "count": len(participants)}

    def presence_text(self) -> str:
        """The serialized `presence_update`; a row is re-encoded only when its content changed."""
        room = self._room
        current = room.record.current_question_idx
        previous, cache = self._presence_rows, {}
        rows = []
        for p in room.participants.values():
            mine = p.submissions.get(current) if current is not None else None
            answered = mine is not None and mine.status is SubmissionStatus.SUBMITTED
            attempts = room.record.duplicate_joins.get(p.student_id)
            key = (p.name, p.connections, p.last_seen_ms, p.blur_count, p.hidden_count, answered,
                   attempts.count if attempts else 0)
            entry = previous.get(p.student_id)
            if entry is None or entry[0] != key:
                entry = (key, dumps(self._presence_row(p, answered, attempts)))
            cache[p.student_id] = entry
            rows.append(entry[1])
        self._presence_rows = cache
        orphans = [
            {"student_id": student_id, **entry.as_json()}
            for student_id, entry in room.record.duplicate_joins.items()
            if student_id not in room.participants
        ]
        return (
            f'{{"type":"presence_update","current_question_idx":{dumps(current)},"rows":[{",".join(rows)}],'
            f'"orphan_duplicate_joins":{dumps(orphans)},"server_ts":{room.clock.now_ms()}}}'
        )

    @staticmethod
    def _presence_row(p: Participant, answered: bool, attempts: DuplicateJoinLog | None) -> dict[str, Any]:
        return {
            "student_id": p.student_id,
            "name": p.name,
            "joined_at_ms": p.joined_at_ms,
            "connected": p.connections > 0,
            "ws_count": p.connections,
            "last_seen_ms": p.last_seen_ms,
            "blur_count": p.blur_count,
            "hidden_count": p.hidden_count,
            "duplicate_join_attempts": (attempts or DuplicateJoinLog()).as_json(),
            "answered_current": answered,
        }

    def projector_state(self) -> dict[str, Any]:
        """The public big-screen view: aggregates and names only, never a student id."""
        room = self._room
        now = room.clock.now_ms()
        asked = room.current_asked
        question_block = live = reveal = response_times = None
        if asked is not None and room.state in (SessionState.QUESTION_OPEN, SessionState.QUESTION_CLOSED):
            question = room.pool.questions[asked.question_idx]
            is_open = room.state is SessionState.QUESTION_OPEN
            question_block = {
                "idx": asked.question_idx,
                "text": question.text,
                "options": question.options,
                "opened_at_server_ts": asked.opened_at_ms,
                "time_limit": asked.time_limit,
                "remaining_ms": max(0, asked.deadline_ms - now) if is_open else 0,
                "total_questions": len(room.pool.questions),
            }
            histogram = messages.live_histogram(asked, len(room.participants))
            live = {
                "counts": histogram["histogram"],
                "submitted_count": histogram["submitted_count"],
                "total_count": histogram["total_count"],
            }
            response_times = messages.response_time_distribution(asked)
            if not is_open:
                reveal = {"correct": question.correct, "explanation": question.explanation}
        return {
            "type": "projector_state",
            "sid": room.record.sid,
            "state": str(room.state),
            "title": room.pool.title,
            "join_url": room.join_url,
            "qr_url": room.qr_url,
            "participant_count": len(room.participants),
            "connected_count": len(room.hub.students),
            "pool_meta": {
                "question_count": len(room.pool.questions),
                "time_limit_default": room.pool.time_limit_default,
                "score_fn": room.pool.score_fn,
            },
            "question": question_block,
            "live_histogram": live,
            "reveal": reveal,
            "response_time_distribution": response_times,
            "score_distribution": messages.score_distribution(
                [p.total_points for p in room.participants.values()], len(room.pool.questions)
            ),
            "leaderboard": [messages.leaderboard_row(r, p) for r, p in room.top(10)],
            "server_ts": now,
        }
