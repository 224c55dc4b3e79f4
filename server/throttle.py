"""Slowing down abusers: token guessing and message floods."""
from __future__ import annotations

import logging
from collections import OrderedDict

import trio

log = logging.getLogger("quizctl.auth")


class FailureThrottle:
    """Each failed authentication from a source waits longer (up to 2 s) and is logged.

    Bounded: only the most recent 4,096 sources are remembered.
    """

    MAX_SOURCES = 4096

    def __init__(self, what: str) -> None:
        self.what = what
        self._failures: OrderedDict[str, int] = OrderedDict()
        self.total = 0

    async def failed(self, source: str) -> None:
        count = self._failures.pop(source, 0) + 1
        self._failures[source] = count
        while len(self._failures) > self.MAX_SOURCES:
            self._failures.popitem(last=False)
        self.total += 1
        log.warning("wrong %s from %s (%d failures)", self.what, source, count)
        await trio.sleep(min(2.0, 0.05 * 2 ** min(count, 10)))

    def succeeded(self, source: str) -> None:
        self._failures.pop(source, None)


class RateLimiter:
    """Token bucket per socket: `rate` messages/s with bursts of `burst`.

    Over the limit the client is told to slow down; after `strikes` refusals it is dropped.
    """

    OK, SLOW_DOWN, DROP = "ok", "slow_down", "drop"

    def __init__(self, rate: float = 10.0, burst: float = 30.0, strikes: int = 50) -> None:
        self.rate, self.burst, self.strikes = rate, burst, strikes
        self._tokens = burst
        self._last: float | None = None
        self._refusals = 0

    def hit(self, now: float) -> str:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return self.OK
        self._refusals += 1
        return self.DROP if self._refusals >= self.strikes else self.SLOW_DOWN
