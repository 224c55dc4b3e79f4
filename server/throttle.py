"""Slowing down abusers: token guessing and message floods."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import trio

log = logging.getLogger("quizctl.auth")


@dataclass(slots=True)
class _Source:
    failures: int = 0
    # trio time at which this source's latest refusal is answered; refusals queue behind it.
    busy_until: float = 0.0


class FailureThrottle:
    """Each failed authentication from a source is answered later than the one before.

    The n-th failure from a source waits BASE_DELAY_S * 2**n (at most MAX_DELAY_S), and
    failures from one source are answered one after another: opening many connections
    at once does not buy more guesses per second (at most one per MAX_DELAY_S once the
    delay has grown, until a source's queue reaches MAX_QUEUE_S). Every failure is counted;
    the first LOG_FIRST of a source and then every LOG_EVERY-th are logged, so a guessing
    script cannot flood the operator's terminal.

    Bounded: only the most recent MAX_SOURCES sources are remembered.
    """

    BASE_DELAY_S = 0.05
    MAX_DELAY_S = 2.0
    MAX_QUEUE_S = 30.0
    MAX_SOURCES = 4096
    LOG_FIRST = 10
    LOG_EVERY = 100

    def __init__(self, what: str) -> None:
        self.what = what
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self.total = 0

    def delay_for(self, failures: int) -> float:
        return float(min(self.MAX_DELAY_S, self.BASE_DELAY_S * 2 ** min(failures, 30)))

    def failures(self, source: str) -> int:
        entry = self._sources.get(source)
        return entry.failures if entry is not None else 0

    async def failed(self, source: str) -> None:
        """Count a failure from `source` and wait out its penalty before the caller answers."""
        entry = self._sources.pop(source, None) or _Source()
        self._sources[source] = entry
        while len(self._sources) > self.MAX_SOURCES:
            self._sources.popitem(last=False)
        entry.failures += 1
        self.total += 1
        now = trio.current_time()
        entry.busy_until = min(max(now, entry.busy_until) + self.delay_for(entry.failures), now + self.MAX_QUEUE_S)
        wait = entry.busy_until - now
        if entry.failures <= self.LOG_FIRST or entry.failures % self.LOG_EVERY == 0:
            log.warning("wrong %s from %s (%d failures; answered in %.2f s)", self.what, source, entry.failures, wait)
        await trio.sleep_until(entry.busy_until)

    def succeeded(self, source: str) -> None:
        self._sources.pop(source, None)


class RateLimiter:
    """Token bucket per socket: `rate` messages/s with bursts of `burst`.

    Over the limit the client is told to slow down; after `strikes` refusals it is dropped.
    """

    OK, SLOW_DOWN, DROP = "ok", "slow_down", "drop"
    RATE = 10.0
    BURST = 30.0
    STRIKES = 50

    def __init__(self, rate: float | None = None, burst: float | None = None, strikes: int | None = None) -> None:
        self.rate = self.RATE if rate is None else rate
        self.burst = self.BURST if burst is None else burst
        self.strikes = self.STRIKES if strikes is None else strikes
        self._tokens = self.burst
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
