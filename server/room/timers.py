"""The open question's timer: a task and its cancel scope, kept by the room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio


class QuestionTimer:
    """At most one running timer; starting another cancels the first.

    `on_time_up(question_idx)` runs when a timer reaches its deadline without having been
    cancelled; it must itself check that the question is still the open one (a close may
    have won the race for the room's transition lock).
    """

    def __init__(self, on_time_up: Callable[[int], Awaitable[None]]) -> None:
        self._on_time_up = on_time_up
        self._nursery: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        """The nursery timers run in (the room's, started in `Room.run`)."""
        self._nursery = nursery

    def start(self, question_idx: int, deadline: float) -> None:
        """Fire at trio time `deadline` for `question_idx`."""
        assert self._nursery is not None, "Room.run() must be started first"
        self.cancel()
        scope = self._scope = trio.CancelScope()
        self._nursery.start_soon(self._run, question_idx, deadline, scope)

    def cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None

    async def _run(self, question_idx: int, deadline: float, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep_until(deadline)
        if not scope.cancel_called:
            await self._on_time_up(question_idx)
