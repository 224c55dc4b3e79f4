"""Four changes to Hypercorn 0.18.0 that a 10,000-phone lecture needs.

Hypercorn has no settings for them, so each replaces a function in Hypercorn. They were
written against hypercorn 0.18.0 (pinned in pyproject.toml), and `apply()` refuses to run
on anything else: another version, or a function whose source differs from the one
fingerprinted here, raises `HypercornPatchError` before anything is replaced.

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
  bench/: fan-out p99 at N = 5,000 went from 690 to 421 ms. An empty batch sends nothing.

- Each accepted connection is first seen by `front_door.serve_connection`, which serves
  the students' websocket itself (websocket_server.py) and hands every other connection
  to Hypercorn's own handler unchanged: Hypercorn's layers cost more per message than
  everything else a question does (see bench/README.md).

To move to another Hypercorn: read each function named in EXPECTED_FINGERPRINTS in the
new version, adapt the replacement if it changed, then update HYPERCORN_VERSION, the
fingerprints (`fingerprint(function)`) and the pin in pyproject.toml together.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import textwrap
from collections.abc import Callable
from importlib import metadata
from typing import Any, NoReturn

import trio
import wsproto.handshake
from hypercorn.events import Closed, RawData
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import Data
from hypercorn.trio import run as trio_run
from hypercorn.trio import tcp_server
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

from server.web.socket_writes import SEND_STALL_TIMEOUT_S, FrameBatch, expire_stalled_sends, sends_in_flight

__all__ = ["FrameBatch", "HypercornPatchError", "apply", "expire_stalled_sends", "verify"]

log = logging.getLogger("quizctl.http")
_sends_in_flight = sends_in_flight  # the name the fault tests watch

HYPERCORN_VERSION = "0.18.0"
# sha256 (first 16 hex digits) of the dedented source of each function, as in hypercorn 0.18.0.
EXPECTED_FINGERPRINTS = {
    # Not replaced, but it calls the module's `server_extensions_handshake`, which is, and
    # must treat its None as "no extension accepted".
    "hypercorn.protocol.ws_stream.Handshake.accept": "9734b31d6fc403a4",
    # Wrapped: a FrameBatch is framed here, everything else goes through the original.
    "hypercorn.protocol.ws_stream.WSStream.app_send": "05aef97d75f5d0c6",
    # Replaced for RawData (the socket write), the original for every other event.
    "hypercorn.trio.tcp_server.TCPServer.protocol_send": "22b51ba714d07580",
    # Not replaced, but it must build each connection's handler as `TCPServer(app, config,
    # context, state)(stream)` from the module's name `TCPServer`, which is replaced.
    "hypercorn.trio.run.worker_serve": "8dc8347a9fc357ca",
}
_applied = False


class HypercornPatchError(RuntimeError):
    """The installed Hypercorn is not the one the patch was written for: the server must not start."""


def apply() -> None:
    """Patch Hypercorn (once per process), after checking it is the version the patch was written for.

    Raises HypercornPatchError, replacing nothing, when the installed Hypercorn is another
    version or one of the functions involved is not the one expected.
    """
    global _applied
    if _applied:
        return
    verify()
    ws_stream.server_extensions_handshake = _accept_no_extensions  # type: ignore[attr-defined]
    ws_stream.WSStream.app_send = _app_send  # type: ignore[method-assign]
    tcp_server.TCPServer.protocol_send = _protocol_send  # type: ignore[method-assign]
    from server.web.front_door import serve_connection

    trio_run.TCPServer = serve_connection  # type: ignore[attr-defined,assignment]
    _applied = True


def installed_hypercorn_version() -> str:
    """The version of the installed Hypercorn distribution."""
    return metadata.version("hypercorn")


def fingerprint(function: Callable[..., Any]) -> str:
    """sha256 (first 16 hex digits) of the function's dedented source; '(no source)' if it has none."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return "(no source)"
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def verify() -> None:
    """Raise HypercornPatchError unless Hypercorn is exactly what the patch was written against."""
    installed = installed_hypercorn_version()
    if installed != HYPERCORN_VERSION:
        raise HypercornPatchError(
            f"quizctl's Hypercorn patch (server/web/hypercorn_patch.py) was written for hypercorn "
            f"{HYPERCORN_VERSION}, but hypercorn {installed} is installed. Install the pinned version: "
            f"pip install 'hypercorn[trio]=={HYPERCORN_VERSION}'."
        )
    if getattr(trio_run, "TCPServer", None) is not tcp_server.TCPServer:
        _refuse_changed("hypercorn.trio.run.TCPServer", "is not hypercorn.trio.tcp_server.TCPServer")
    if getattr(ws_stream, "server_extensions_handshake", None) is not wsproto.handshake.server_extensions_handshake:
        _refuse_changed("hypercorn.protocol.ws_stream.server_extensions_handshake", "is not wsproto's function")
    for name, function in _functions_checked().items():
        actual = fingerprint(function)
        if actual != EXPECTED_FINGERPRINTS[name]:
            _refuse_changed(name, f"has source fingerprint {actual}, not {EXPECTED_FINGERPRINTS[name]}")


def _functions_checked() -> dict[str, Callable[..., Any]]:
    """Each function named in EXPECTED_FINGERPRINTS, as installed right now."""
    return {
        "hypercorn.protocol.ws_stream.Handshake.accept": ws_stream.Handshake.accept,
        "hypercorn.protocol.ws_stream.WSStream.app_send": ws_stream.WSStream.app_send,
        "hypercorn.trio.tcp_server.TCPServer.protocol_send": tcp_server.TCPServer.protocol_send,
        "hypercorn.trio.run.worker_serve": trio_run.worker_serve,
    }


def _refuse_changed(name: str, difference: str) -> NoReturn:
    raise HypercornPatchError(
        f"quizctl's Hypercorn patch (server/web/hypercorn_patch.py) expects {name} as in hypercorn "
        f"{HYPERCORN_VERSION}, but the installed one {difference}: this Hypercorn was modified or "
        "patched by something else. Reinstall it: "
        f"pip install --force-reinstall 'hypercorn[trio]=={HYPERCORN_VERSION}'."
    )


def _accept_no_extensions(*args: Any, **kwargs: Any) -> None:
    """Hypercorn's extension handshake, accepting none (so permessage-deflate is never enabled)."""


_original_app_send = ws_stream.WSStream.app_send


async def _app_send(self: Any, message: Any) -> None:
    """Hypercorn's ASGI send, with a FrameBatch written as its texts' frames in one socket write."""
    text = message.get("text") if message is not None else None
    if isinstance(text, FrameBatch) and message.get("type") == "websocket.send":
        if self.closed or self.state != ws_stream.ASGIWebsocketState.CONNECTED:
            return
        if not text.texts:
            return  # nothing to send; written as-is it would be an empty text frame
        try:
            data = b"".join(self.connection.send(TextMessage(data=part)) for part in text.texts)
        except LocalProtocolError:
            return
        await self.send(Data(stream_id=self.stream_id, data=data))
        return
    await _original_app_send(self, message)


_original_protocol_send = tcp_server.TCPServer.protocol_send


async def _protocol_send(self: Any, event: Any) -> None:
    """Hypercorn's write, shielded as before, but given up on when the peer stops reading."""
    if not isinstance(event, RawData):
        await _original_protocol_send(self, event)
        return
    async with self.send_lock:
        try:
            # One scope: shielded from outside cancellation (as Hypercorn's), ended by its own deadline.
            timeout = getattr(self.config, "send_stall_timeout", SEND_STALL_TIMEOUT_S)
            with trio.CancelScope(shield=True, deadline=trio.current_time() + timeout) as deadline:
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
