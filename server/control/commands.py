"""Operator commands: one implementation of each action, shared by every transport.

The instructor websocket, the control socket and the HTTP admin route all call
`run_command`, which validates arguments and calls the room. Results are JSON objects;
refusals raise RoomError with a contract error code.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.reports import gradebook as export
from server.room.room import Room
from server.session.errors import RoomError

Handler = Callable[[Room, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _status(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    return room.status()


async def _next(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    return await room.next()


async def _open(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    return await room.open_question(args.get("question_idx"), args.get("time_limit"))


async def _close(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    return await room.close_question()


async def _end(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    return await room.end_session()


async def _leaderboard(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    return await room.show_leaderboard()


async def _reset(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("confirm") is not True:
        raise RoomError("confirmation_required", "reset wipes every participant and answer; confirm it (--yes).")
    return await room.reset()


async def _clear_student(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    return await room.clear_student(args.get("student_id"))


async def _export(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    layout = args.get("format", "wide")
    if layout not in export.LAYOUTS:
        raise RoomError("bad_format", f"format must be one of: {', '.join(export.LAYOUTS)}.")
    excel = args.get("excel", False)
    if not isinstance(excel, bool):
        raise RoomError("bad_message", "excel must be true or false.")
    return export.export_result(room.record, layout=layout, excel=excel)


COMMANDS: dict[str, Handler] = {
    "status": _status,
    "next": _next,
    "open": _open,
    "close": _close,
    "end": _end,
    "leaderboard": _leaderboard,
    "reset": _reset,
    "clear-student": _clear_student,
    "export": _export,
}

# Instructor websocket message types → command names (PROTOCOL.md names).
INSTRUCTOR_MESSAGES: dict[str, str] = {
    "next": "next",
    "open_question": "open",
    "close_question": "close",
    "end_session": "end",
    "show_leaderboard": "leaderboard",
    "reset": "reset",
    "clear_student": "clear-student",
    "status": "status",
}


async def run_command(room: Room, name: Any, args: Any) -> dict[str, Any]:
    handler = COMMANDS.get(name) if isinstance(name, str) else None
    if handler is None:
        raise RoomError("unknown_command", f"unknown command {name!r}; known: {', '.join(COMMANDS)}.")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise RoomError("bad_message", "args must be a JSON object.")
    return await handler(room, args)
