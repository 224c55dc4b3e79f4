"""What the CLI's commands share: exit codes, the data dir option, talking to a running server.

Question numbers are 1-based wherever a person reads or types them (`quizctl open 4`,
"question 4 of 10"); the wire's `question_idx` stays 0-based, and `question_number` is the
one place that turns one into the other.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from quizctl.control_client import CommandRefused, ControlTarget, ServerUnreachable, call
from server import data_dir as data_dir_files

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2
UNREACHABLE_HINT = "Is `quizctl serve` running with this --data-dir? (Or pass --socket, or set QUIZ_CONTROL.)"


def data_dir_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=data_dir_files.DEFAULT,
        show_default=True,
        envvar="QUIZ_DATA_DIR",
        show_envvar=True,
        help="Where the database, secrets and control socket live.",
    )(function)


def operator_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """Common options of commands that talk to a running server."""

    @data_dir_option
    @click.option(
        "--socket",
        "socket_option",
        envvar="QUIZ_CONTROL",
        show_envvar=True,
        help="Control socket path or tcp://HOST:PORT (default: DATA_DIR/control.sock).",
    )
    @click.option("--token", "token_option", help="Admin token (default: QUIZ_ADMIN_TOKEN, else DATA_DIR/admin.token).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @functools.wraps(function)
    def wrapper(
        *args: Any, data_dir: Path, socket_option: str | None, token_option: str | None, as_json: bool, **kwargs: Any
    ) -> None:
        target = ControlTarget.resolve(data_dir, socket_option, token_option)
        function(*args, target=target, as_json=as_json, data_dir=data_dir, **kwargs)

    return wrapper


def question_number(question_idx: int) -> int:
    """The number a person reads and types for the wire's 0-based `question_idx`."""
    return question_idx + 1


def run_command(
    target: ControlTarget,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    reworded: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Send one command; exit 2 when no server answers, 1 when it refuses (the reason on stderr).

    `name` is the quizctl command in messages (default: the control command); `reworded`
    replaces the server's message for some refusal codes (to say it with 1-based numbers).
    """
    shown = name or command
    try:
        return call(target, command, args)
    except ServerUnreachable as exc:
        click.echo(f"quizctl {shown}: {exc}", err=True)
        click.echo(UNREACHABLE_HINT, err=True)
        sys.exit(EXIT_UNREACHABLE)
    except CommandRefused as exc:
        message = (reworded or {}).get(exc.code, exc.message)
        click.echo(f"quizctl {shown}: refused: {message} ({exc.code})", err=True)
        sys.exit(EXIT_REFUSED)


def emit(result: dict[str, Any], as_json: bool, line: str) -> None:
    click.echo(json.dumps(result, ensure_ascii=False) if as_json else line)


def describe(status: dict[str, Any]) -> str:
    """One human line for a status object ("question 4 of 10 open, 20 s left, ...")."""
    state = status.get("state")
    count = status.get("question_count", 0)
    idx = status.get("current_question_idx")
    question = f"question {question_number(idx)} of {count}" if idx is not None else ""
    people = f"{status.get('participants', 0)} participants ({status.get('connected', 0)} connected)"
    answered = f"{status.get('answered_current', 0)} answered"
    if state in ("question_open", "question_paused") and idx is not None:
        left = (status.get("time_left_ms") or 0) / 1000
        how = "paused" if state == "question_paused" else "open"
        waiting = status.get("waiting_for_extra_time") or 0
        students = "student" if waiting == 1 else "students"
        extra = f", waiting for {waiting} {students} with extra time" if waiting else ""
        text = f"{question} {how}, {left:.0f} s left{extra}, {answered}; {people}"
    elif state == "question_closed" and idx is not None:
        text = f"{question} closed, {answered}; {people}"
    elif state == "between_questions" and idx is not None:
        text = f"leaderboard after {question}; {people}"
    elif state == "finished":
        text = f"session finished; {people}"
    else:
        text = f"lobby, {count} questions ready; {people}"
    if status.get("storage_error"):
        text += f"; DATABASE ERROR: {status['storage_error']}"
    return text
