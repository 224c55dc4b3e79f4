"""What every writer of websocket frames shares: batches of messages, the stall timeout, the writes under way.

Two servers write frames: Hypercorn (patched, hypercorn_patch.py) for the instructor's
and the projector's sockets, and websocket_server.py for the students'. Both take a
`FrameBatch` as one socket write, give up on a peer that stops reading after the
stall timeout, and register each write here so that shutdown can cut every wait short.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

import trio

SEND_STALL_TIMEOUT_S = 10.0

# The socket writes under way: each one's cancel scope -> the Hypercorn Config of its server.
sends_in_flight: dict[trio.CancelScope, Any] = {}


class FrameBatch(str):
    """Text messages for one websocket, passed through the ASGI `websocket.send` as one value.

    It is a `str` only so that Quart hands it to the ASGI server unchanged; both frame
    writers recognise it and send each of `texts` as its own frame, in one socket write.
    A batch inside a batch is flattened (its own value is the empty string, never a message).
    """

    texts: tuple[str, ...]

    def __new__(cls, texts: Iterable[str]) -> Self:
        batch = super().__new__(cls, "")
        batch.texts = tuple(
            part for text in texts for part in (text.texts if isinstance(text, FrameBatch) else (text,))
        )
        return batch


def expire_stalled_sends(config: Any, grace_s: float) -> None:
    """At shutdown of the server run with `config`: its writes waiting on a peer give up within `grace_s`."""
    config.send_stall_timeout = grace_s
    deadline = trio.current_time() + grace_s
    for scope, owner in sends_in_flight.items():
        if owner is config:
            scope.deadline = min(scope.deadline, deadline)
