"""The three websockets (student, instructor, projector) as Quart routes; connection.py has their loop.

Every connection gets a `ClientConnection` (bounded queue + sender task) and runs inside
its own cancel scope; the room only ever queues text on it. In `quizctl serve` the
students' socket is served by student_socket.py ahead of Quart (the same handler,
`serve_student`, on plain ASGI); this route serves it wherever the app runs alone.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from quart import Blueprint, websocket

from server.control import commands
from server.room import messages
from server.room.hub import ClientConnection, ClientKind, CloseCode
from server.room.json_text import dumps
from server.room.room import Room
from server.session.errors import RoomError
from server.session.model import Participant
from server.web.connection import Transport, run_connection, unknown_message
from server.web.quiz_app import QuizApp, quiz_app
from server.web.security import current_participant, instructor_authorized, refuse_instructor
from server.web.socket_writes import FrameBatch

sockets = Blueprint("sockets", __name__)


class QuartTransport:
    """A websocket served by Quart (the request's `websocket`)."""

    def __init__(self) -> None:
        self.address = websocket.remote_addr or "?"

    async def receive(self) -> str | bytes | None:
        # Quart cancels the handler when the peer goes; it hands an empty binary frame on as None.
        data = await websocket.receive()
        return b"" if data is None else data

    async def send_batch(self, texts: list[str]) -> None:
        """Queued messages in one socket write (see hypercorn_patch.FrameBatch)."""
        await websocket.send(texts[0] if len(texts) == 1 else FrameBatch(texts))

    async def close(self, code: int, reason: str = "") -> None:
        await websocket.close(code, reason)


# ---------------------------------------------------------------- the sockets


@sockets.websocket("/ws/student")
async def ws_student() -> None:
    """A joined student's phone: the room's updates in, answers out."""
    participant = current_participant(websocket.cookies)
    await websocket.accept()
    if participant is None:
        await websocket.close(CloseCode.UNAUTHORIZED, "not joined or cookie no longer valid")
        return
    await serve_student(quiz_app(), QuartTransport(), participant)


async def serve_student(app: QuizApp, transport: Transport, participant: Participant) -> None:
    """A joined student's connection, accepted, whichever transport carries it (see student_socket.py)."""
    room = app.room
    client = ClientConnection(ClientKind.STUDENT, room.settings.student_queue_size, participant.student_id)
    await run_connection(
        app,
        transport,
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
    transport = QuartTransport()
    await run_connection(
        quiz_app(), transport, client, room.connect_instructor, partial(instructor_message, room), room.disconnect
    )


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
    await run_connection(
        quiz_app(), QuartTransport(), client, room.connect_projector, projector_message, room.disconnect
    )


async def projector_message(client: ClientConnection, message: dict[str, Any]) -> None:
    """The projector sends nothing but pings (answered by the loop); anything else is ignored."""
