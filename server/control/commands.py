"""Operator commands: one implementation of each action, shared by every transport.

The instructor websocket, the control socket and the HTTP admin route all call
`run_command`, which validates arguments and calls the room. Results are JSON objects;
refusals raise RoomError with a contract error code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from server.reports import gradebook as export
from server.room import regrade
from server.room.room import Room
from server.session.errors import RoomError
from server.session.model import SessionRecord
from server.storage.loading import load_session, stored_states
from server.storage.schema import open_read_only

Handler = Callable[[Room, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _reset(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("confirm") is not True:
        raise RoomError("confirmation_required", "reset wipes every participant and answer; confirm it (--yes).")
    return await room.reset()


async def _export(room: Room, args: dict[str, Any]) -> dict[str, Any]:
    """The gradebook CSV of the live session, or of another stored one (`session_id`), read from the database."""
    layout = args.get("format", "wide")
    if layout not in export.LAYOUTS:
        raise RoomError("bad_format", f"format must be one of: {', '.join(export.LAYOUTS)}.")
    excel = args.get("excel", False)
    if not isinstance(excel, bool):
        raise RoomError("bad_message", "excel must be true or false.")
    sid = args.get("session_id")
    if sid is None or sid == room.record.sid:
        return export.export_result(room.record, layout=layout, excel=excel)
    if not isinstance(sid, str):
        raise RoomError("bad_session", "session_id must be text.")
    record = await trio.to_thread.run_sync(stored_session, room.storage.db_path, sid)
    return export.export_result(record, layout=layout, excel=excel)


def stored_session(db_path: Path, sid: str) -> SessionRecord:
    """A session read back from the database (read-only), or RoomError `unknown_session`."""
    connection = open_read_only(db_path)
    try:
        return load_session(connection, sid)
    except KeyError:
        known = ", ".join(sorted(stored_states(connection))) or "none"
        raise RoomError("unknown_session", f"No session {sid!r} in this data dir (stored: {known}).", 404) from None
    finally:
        connection.close()


COMMANDS: dict[str, Handler] = {
    "status": lambda room, args: _now(room.status()),
    "next": lambda room, args: room.next(),
    "open": lambda room, args: room.open_question(args.get("question_idx"), args.get("time_limit")),
    "close": lambda room, args: room.close_question(),
    "end": lambda room, args: room.end_session(),
    "leaderboard": lambda room, args: room.show_leaderboard(),
    "pause": lambda room, args: room.pause(),
    "resume": lambda room, args: room.resume(),
    "extend": lambda room, args: room.extend(args.get("seconds")),
    "skip": lambda room, args: room.skip(),
    "reset": _reset,
    "clear-student": lambda room, args: room.clear_student(args.get("student_id")),
    "roster-add": lambda room, args: room.roster_add(args.get("student_id"), args.get("name"), args.get("extra_time")),
    "roster-remove": lambda room, args: room.roster_remove(args.get("student_id")),
    "export": _export,
    "regrade": regrade.regrade_room,
}

# Instructor websocket message types → command names (docs/protocol.md, "Instructor socket").
INSTRUCTOR_MESSAGES: dict[str, str] = {
    "next": "next",
    "open_question": "open",
    "close_question": "close",
    "end_session": "end",
    "show_leaderboard": "leaderboard",
    "pause": "pause",
    "resume": "resume",
    "extend": "extend",
    "skip": "skip",
    "reset": "reset",
    "clear_student": "clear-student",
    "roster_add": "roster-add",
    "roster_remove": "roster-remove",
    "status": "status",
}


async def _now(result: dict[str, Any]) -> dict[str, Any]:
    return result


async def run_command(room: Room, name: Any, args: Any) -> dict[str, Any]:
    handler = COMMANDS.get(name) if isinstance(name, str) else None
    if handler is None:
        raise RoomError("unknown_command", f"unknown command {name!r}; known: {', '.join(COMMANDS)}.")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise RoomError("bad_message", "args must be a JSON object.")
    return await handler(room, args)
