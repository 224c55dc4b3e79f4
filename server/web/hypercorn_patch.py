"""Three changes to Hypercorn 0.18 that a 5,000-phone lecture needs.

Hypercorn has no settings for them, so each replaces a function in Hypercorn (the
versions are pinned in pyproject.toml):

- A socket write that makes no progress for SEND_STALL_TIMEOUT_S aborts the connection.
  Hypercorn shields every `send_all` from cancellation, so a peer that stops reading
  (a phone whose radio went quiet, a client that never reads) pinned its connection's
  tasks forever, and with them the server's shutdown: Ctrl-C waited for a phone that
  would never read. At shutdown `expire_stalled_sends` cuts the wait short.

- permessage-deflate is refused: Hypercorn accepts it whenever a browser offers it, at
  ~95 KiB of memory per connection plus CPU per message (see STACK-NOTES.md).
- A `FrameBatch` sent through the ordinary ASGI `websocket.send` is framed as several
  text messages and written to the socket at once. Per message, the cost is in the
  layers (Quart, ASGI, wsproto, trio's send machinery), not in the bytes: a reveal and
  the next question written together cost little more than one. Measured with
  bench/: fan-out p99 at N = 5,000 went from 690 to 421 ms.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import hypercorn.protocol.ws_stream as ws_stream
import hypercorn.trio.tcp_server as tcp_server
import trio
from hypercorn.events import Closed, RawData
from hypercorn.protocol.events import Data
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

log = logging.getLogger("quizctl.http")

SEND_STALL_TIMEOUT_S = 10.0
_applied = False
# The socket writes under way (each shielded from cancellation): deadline -> its server's Config.
_sends_in_flight: dict[trio.CancelScope, Any] = {}


class FrameBatch(str):
    """Text messages for one websocket, passed through Quart's `websocket.send` as one value.

    It is a `str` only so that Quart hands it to the ASGI server unchanged; the patched
    Hypercorn stream recognises it and sends each of `texts` as its own frame.
    """

    texts: tuple[str, ...]

    def __new__(cls, texts: Iterable[str]) -> FrameBatch:
        batch = super().__new__(cls, "")
        batch.texts = tuple(texts)
        return batch


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    ws_stream.server_extensions_handshake = lambda *args, **kwargs: None  # type: ignore[assignment]
    original_app_send = ws_stream.WSStream.app_send

    async def app_send(self: Any, message: Any) -> None:
        text = message.get("text") if message is not None else None
        if isinstance(text, FrameBatch) and message.get("type") == "websocket.send":
            if self.closed or self.state != ws_stream.ASGIWebsocketState.CONNECTED:
                return
            try:
                data = b"".join(self.connection.send(TextMessage(data=part)) for part in text.texts)
            except LocalProtocolError:
                return
            await self.send(Data(stream_id=self.stream_id, data=data))
            return
        await original_app_send(self, message)

    ws_stream.WSStream.app_send = app_send  # type: ignore[method-assign]
    tcp_server.TCPServer.protocol_send = _protocol_send  # type: ignore[method-assign]


_original_protocol_send = tcp_server.TCPServer.protocol_send


async def _protocol_send(self: Any, event: Any) -> None:
    """Hypercorn's write, shielded as before, but given up on when the peer stops reading."""
    if not isinstance(event, RawData):
        await _original_protocol_send(self, event)
        return
    async with self.send_lock:
        try:
            with trio.CancelScope(shield=True):
                timeout = getattr(self.config, "send_stall_timeout", SEND_STALL_TIMEOUT_S)
                with trio.move_on_after(timeout) as deadline:
                    _sends_in_flight[deadline] = self.config
                    try:
                        await self.stream.send_all(event.data)
                    finally:
                        del _sends_in_flight[deadline]
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await self.protocol.handle(Closed())
            return
    if deadline.cancelled_caught:
        log.info("dropping a connection whose peer stopped reading (a write stalled)")
        await self.stream.aclose()
        await self.protocol.handle(Closed())


def expire_stalled_sends(config: Any, grace_s: float) -> None:
    """At shutdown of the server run with `config`: its writes waiting on a peer give up within `grace_s`."""
    config.send_stall_timeout = grace_s
    deadline = trio.current_time() + grace_s
    for scope, owner in _sends_in_flight.items():
        if owner is config:
            scope.deadline = min(scope.deadline, deadline)
