"""The transition table is the session's rules: every state × command, checked against a real room.

Each cell of `server.session.machine.TRANSITIONS` is tried on a room (MockClock, real
SQLite) brought into that state; the resulting state, or the refusal code, must be what
the table says. The README's table is the table's own rendering.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from server import serve
from server.quiz.pool import Pool
from server.room.room import Room
from server.session.errors import RoomError
from server.session.machine import TRANSITIONS, Command, Refusal, SessionState, Step, markdown_table
from server.settings import Settings
from tests.helpers import REPO

# How to bring a fresh room (tiny pool: 3 questions) into each state.
REACH: dict[SessionState, list[str]] = {
    SessionState.LOBBY: [],
    SessionState.QUESTION_OPEN: ["next"],
    SessionState.QUESTION_PAUSED: ["next", "pause"],
    SessionState.QUESTION_CLOSED: ["next", "close"],
    SessionState.BETWEEN_QUESTIONS: ["next", "close", "leaderboard"],
    SessionState.FINISHED: ["next", "end"],
}

COMMANDS: dict[Command, Callable[[Room], Awaitable[Any]]] = {
    Command.NEXT: lambda room: room.next(),
    Command.OPEN: lambda room: room.open_question(2),
    Command.CLOSE: lambda room: room.close_question(),
    Command.LEADERBOARD: lambda room: room.show_leaderboard(),
    Command.END: lambda room: room.end_session(),
    Command.RESET: lambda room: room.reset(),
    Command.PAUSE: lambda room: room.pause(),
    Command.RESUME: lambda room: room.resume(),
    Command.EXTEND: lambda room: room.extend(30),
    Command.SKIP: lambda room: room.skip(),
}

STEP_ENDS_IN = {
    Step.CLOSE: SessionState.QUESTION_CLOSED,
    Step.OPEN: SessionState.QUESTION_OPEN,
    Step.OPEN_NEXT: SessionState.QUESTION_OPEN,  # the tiny pool always has a next question here
    Step.LEADERBOARD: SessionState.BETWEEN_QUESTIONS,
    Step.FINISH: SessionState.FINISHED,
    Step.RESET: SessionState.LOBBY,
    Step.PAUSE: SessionState.QUESTION_PAUSED,
    Step.RESUME: SessionState.QUESTION_OPEN,
    Step.SKIP: SessionState.QUESTION_CLOSED,
}


def test_the_table_covers_every_state_and_command() -> None:
    assert set(TRANSITIONS) == set(SessionState)
    for state, row in TRANSITIONS.items():
        assert set(row) == set(Command), state


def test_the_readme_shows_the_table() -> None:
    assert markdown_table() in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("state", list(SessionState))
@pytest.mark.parametrize("command", list(COMMANDS))
async def test_each_cell_of_the_table_is_what_the_room_does(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool, state: SessionState, command: Command
) -> None:
    settings = Settings(pool=tiny_pool, data_dir=tmp_path, port=8000, session_id="tiny")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        for step in REACH[state]:
            await COMMANDS[Command(step)](room)
        assert room.state is state
        outcome = TRANSITIONS[state][command]
        if isinstance(outcome, Refusal):
            with pytest.raises(RoomError) as refused:
                await COMMANDS[command](room)
            assert (refused.value.code, refused.value.status) == (outcome.code, outcome.status)
            assert room.state is state  # a refusal changes nothing
        else:
            await COMMANDS[command](room)
            # An extension keeps the state (open or paused); every other step ends in its own.
            assert room.state is STEP_ENDS_IN.get(outcome[-1], state)


async def test_opening_a_question_already_asked_is_refused_in_any_state(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool
) -> None:
    settings = Settings(pool=tiny_pool, data_dir=tmp_path, port=8000, session_id="tiny")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        await room.next()
        with pytest.raises(RoomError) as refused:
            await room.open_question(0)  # while it is open
        assert (refused.value.code, room.state) == ("already_asked", SessionState.QUESTION_OPEN)
        await room.close_question()
        with pytest.raises(RoomError) as refused:
            await room.open_question(0)  # after it closed
        assert (refused.value.code, room.state) == ("already_asked", SessionState.QUESTION_CLOSED)


async def test_the_timer_closes_only_the_question_it_was_started_for(
    autojump_clock: MockClock, tmp_path: Path, tiny_pool: Pool
) -> None:
    settings = Settings(pool=tiny_pool, data_dir=tmp_path, port=8000, session_id="tiny")
    async with serve.open_room(settings, commit_in_thread=False) as room:
        await room.next()
        await room.close_question()
        await room.next()  # question 1 opens; question 0's timer was cancelled with its close
        limit = tiny_pool.questions[1].time_limit
        assert room.record.current_question_idx == 1
        await trio.sleep(limit - 1)
        assert room.state is SessionState.QUESTION_OPEN
        await trio.sleep(2)
        assert room.state is SessionState.QUESTION_CLOSED and room.record.current_question_idx == 1
