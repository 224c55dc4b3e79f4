"""The three websockets (student, instructor, projector) and the one receive loop they share.

Every connection gets a `ClientConnection` (bounded queue + sender task) and runs inside
its own cancel scope; the room only ever queues text on it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from quart import Blueprint, websocket

from server.control import commands
from server.room import messages
from server.room.hub import ClientConnection, ClientKind, CloseCode
from server.room.messages import dumps
from server.room.room import Room
from server.session.errors import RoomError
from server.session.model import Participant
from server.throttle import RateLimiter
from server.web.hypercorn_patch import FrameBatch
from server.web.quiz_app import quiz_app
from server.web.security import current_participant, instructor_authorized, refuse_instructor

MAX_WS_MESSAGE_BYTES = 16 * 1024

sockets = Blueprint("sockets", __name__)

OnMessage = Callable[[ClientConnection, dict[str, Any]], Awaitable[None]]


# ---------------------------------------------------------------- the shared loop


async def run_connection(
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
    app = quiz_app()
    address = websocket.remote_addr or "?"
    if not app.limits.admit_connection(address, app.room.settings.max_connections_per_ip):
        await websocket.close(CloseCode.POLICY, "too many connections from this address")
        return
    try:
        with client.cancel_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.run_sender, send_batch, websocket.close)
                on_connect(client)
                try:
                    await receive_messages(client, on_message, on_frame)
                finally:
                    on_disconnect(client)
    finally:
        app.limits.release_connection(address)


async def send_batch(texts: list[str]) -> None:
    """Queued messages in one socket write (see hypercorn_patch.FrameBatch)."""
    await websocket.send(texts[0] if len(texts) == 1 else FrameBatch(texts))


async def receive_messages(client: ClientConnection, on_message: OnMessage, on_frame: Callable[[], None]) -> None:
    """Read frames until the socket closes, handing each acceptable message to `on_message`."""
    rate = RateLimiter()
    while True:
        data = await websocket.receive()
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


# ---------------------------------------------------------------- the sockets


@sockets.websocket("/ws/student")
async def ws_student() -> None:
    """A joined student's phone: the room's updates in, answers out."""
    room = quiz_app().room
    participant = current_participant(websocket.cookies)
    await websocket.accept()
    if participant is None:
        await websocket.close(CloseCode.UNAUTHORIZED, "not joined or cookie no longer valid")
        return
    client = ClientConnection(ClientKind.STUDENT, room.settings.student_queue_size, participant.student_id)
    await run_connection(
        client,
        lambda c: room.connect_student(c, participant),
        partial(student_message, room, participant),
        lambda c: room.disconnect_student(c, participant),
        on_frame=lambda: room.touch(participant),
    )


async def student_message(
    room: Room, participant: Participant, client: ClientConnection, message: dict[str, Any]
) -> None:
    """A student sends only answers (`submit`); the reply is the ack or the refusal."""
    kind = message["type"]
    if kind != "submit":
        unknown_message(client, kind)
        return
    try:
        client.send(await room.submit(participant, message.get("question_idx"), message.get("answer")))
    except RoomError as exc:
        client.send(dumps(messages.error(exc.code, exc.message)))


@sockets.websocket("/ws/instructor")
async def ws_instructor() -> None:
    """The dashboard: live views in, operator commands out (token or instructor cookie required)."""
    room = quiz_app().room
    authorized = instructor_authorized(websocket.cookies, websocket.headers, websocket.args)
    await websocket.accept()
    if not authorized:
        await refuse_instructor(websocket.remote_addr or "?")
        await websocket.close(CloseCode.UNAUTHORIZED, "instructor token required")
        return
    client = ClientConnection(ClientKind.INSTRUCTOR, room.settings.instructor_queue_size)
    await run_connection(client, room.connect_instructor, partial(instructor_message, room), room.disconnect)


async def instructor_message(room: Room, client: ClientConnection, message: dict[str, Any]) -> None:
    """Run the operator command a dashboard message names; reply with its result or refusal."""
    kind = message["type"]
    command = commands.INSTRUCTOR_MESSAGES.get(kind)
    if command is None:
        unknown_message(client, kind)
        return
    args = {k: v for k, v in message.items() if k != "type"}
    if command == "reset":
        args["confirm"] = True  # the dashboard asks before sending it
    try:
        result = await commands.run_command(room, command, args)
        client.send(dumps(messages.command_result(kind, result)))
    except RoomError as exc:
        client.send(dumps(messages.error(exc.code, exc.message)))


@sockets.websocket("/ws/projector")
async def ws_projector() -> None:
    """The projector: public views in; it only listens (and pings)."""
    room = quiz_app().room
    await websocket.accept()
    client = ClientConnection(ClientKind.PROJECTOR, room.settings.instructor_queue_size)
    await run_connection(client, room.connect_projector, projector_message, room.disconnect)


async def projector_message(client: ClientConnection, message: dict[str, Any]) -> None:
    """The projector sends nothing but pings (answered by the loop); anything else is ignored."""
