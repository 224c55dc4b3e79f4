"""Wall-clock milliseconds derived from trio's clock.

Deadlines, elapsed times and persisted timestamps all come from one Clock, anchored to
wall time when the room starts and advanced by trio's clock. Under
`trio.testing.MockClock` the whole room therefore runs on mock time: a 30 s question
closes in microseconds of real time, and elapsed times and scores stay consistent.
"""

from __future__ import annotations

import time

import trio


class Clock:
    def __init__(self) -> None:
        self._wall_anchor_ms = time.time() * 1000.0
        self._trio_anchor = trio.current_time()

    def now_ms(self) -> int:
        return int(self._wall_anchor_ms + (trio.current_time() - self._trio_anchor) * 1000.0)

    def trio_time_at(self, wall_ms: int) -> float:
        """The trio clock reading at which `now_ms()` will reach `wall_ms`."""
        return self._trio_anchor + (wall_ms - self._wall_anchor_ms) / 1000.0
