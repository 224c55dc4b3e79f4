"""One websocket connection, whatever serves it: its sender task, the receive loop and its limits.

Two transports carry the same contract: Quart's `websocket` (the instructor's and the
projector's sockets) and plain ASGI (the students' socket, the hot path: see
student_socket.py). Both hand this module a `Transport`; everything the contract says
about frames (rates, sizes, JSON, pings, `bad_message`) is here once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from server.room import messages
from server.room.hub import ClientConnection, CloseCode
from server.room.json_text import dumps
from server.throttle import RateLimiter
from server.web.quiz_app import QuizApp

MAX_WS_MESSAGE_BYTES = 16 * 1024

OnMessage = Callable[[ClientConnection, dict[str, Any]], Awaitable[None]]


class Transport(Protocol):
    """What a connection needs from whatever carries its frames."""

    address: str

    async def receive(self) -> str | bytes | None:
        """The next frame, or None once the peer has gone."""

    async def send_batch(self, texts: list[str]) -> None:
        """Send queued messages, in one socket write when there are several."""

    async def close(self, code: int, reason: str = "") -> None: ...


async def run_connection(
    app: QuizApp,
    transport: Transport,
    client: ClientConnection,
    on_connect: Callable[[ClientConnection], None],
    on_message: OnMessage,
    on_disconnect: Callable[[ClientConnection], None],
    on_frame: Callable[[], None] = lambda: None,
) -> None:
    """Serve one accepted websocket: its sender task, the receive loop with its limits, and pings.

    `on_message` gets each parsed message other than `ping`; malformed frames are
    answered with `bad_message` here and the socket stays open.
    """
    if not app.limits.admit_connection(transport.address, app.room.settings.max_connections_per_ip):
        await transport.close(CloseCode.POLICY, "too many connections from this address")
        return
    try:
        with client.cancel_scope:
            async with trio.open_nursery() as nursery:
                direct_writes = getattr(transport, "direct_writes", None)
                if direct_writes is not None:
                    client.write_directly(direct_writes)
                nursery.start_soon(client.run_sender, transport.send_batch, transport.close)
                on_connect(client)
                try:
                    await receive_messages(transport, client, on_message, on_frame)
                finally:
                    on_disconnect(client)
                nursery.cancel_scope.cancel()  # the peer is gone: so is the sender
    finally:
        app.limits.release_connection(transport.address)


async def receive_messages(
    transport: Transport, client: ClientConnection, on_message: OnMessage, on_frame: Callable[[], None]
) -> None:
    """Read frames until the peer goes, handing each acceptable message to `on_message`."""
    rate = RateLimiter()
    while (data := await transport.receive()) is not None:
        on_frame()
        message = screen_frame(client, data, rate)
        if message is not None:
            await on_message(client, message)


def screen_frame(client: ClientConnection, data: str | bytes, rate: RateLimiter) -> dict[str, Any] | None:
    """The message in `data` for the socket's handler, or None when it is refused or already answered.

    Over the rate the client is told to slow down (and eventually closed); binary, oversized
    and malformed frames get `bad_message`; a ping gets its pong here.
    """
    verdict = rate.hit(trio.current_time())
    if verdict == RateLimiter.DROP:
        client.close(CloseCode.POLICY, "too many messages")
        return None
    if verdict == RateLimiter.SLOW_DOWN:
        client.send(dumps(messages.error("rate_limited", "Too many messages; slow down.")))
        return None
    if not isinstance(data, str) or len(data) > MAX_WS_MESSAGE_BYTES:
        client.send(dumps(messages.error("bad_message", "Send JSON text messages.")))
        return None
    message = parse_message(client, data)
    if message is not None and message["type"] == "ping":
        client.send(messages.PONG)
        return None
    return message


def parse_message(client: ClientConnection, data: str) -> dict[str, Any] | None:
    """A JSON object with a string `type`, or None after answering `bad_message`.

    NaN and Infinity parse (as floats): a numeric answer made of them is refused by its
    question as `bad_answer`, and no other field takes a float.
    """
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        message = None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        client.send(dumps(messages.error("bad_message", 'Messages are JSON objects with a "type".')))
        return None
    return message


def unknown_message(client: ClientConnection, kind: str) -> None:
    """Answer a message type this socket does not take."""
    client.send(dumps(messages.error("bad_message", f"Unknown message type {kind[:40]!r}.")))
