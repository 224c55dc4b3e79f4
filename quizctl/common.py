"""What the CLI's commands share: exit codes, the data dir option, talking to a running server."""
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
    @click.option("--socket", "socket_option", envvar="QUIZ_CONTROL", help="Control socket path or tcp://HOST:PORT (default: DATA_DIR/control.sock).")
    @click.option("--token", "token_option", help="Admin token (default: QUIZ_ADMIN_TOKEN, else DATA_DIR/admin.token).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @functools.wraps(function)
    def wrapper(*args: Any, data_dir: Path, socket_option: str | None, token_option: str | None, as_json: bool, **kwargs: Any) -> None:
        target = ControlTarget.resolve(data_dir, socket_option, token_option)
        function(*args, target=target, as_json=as_json, data_dir=data_dir, **kwargs)

    return wrapper


def run_command(target: ControlTarget, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return call(target, command, args)
    except ServerUnreachable as exc:
        click.echo(f"quizctl {command}: {exc}", err=True)
        click.echo(UNREACHABLE_HINT, err=True)
        sys.exit(EXIT_UNREACHABLE)
    except CommandRefused as exc:
        click.echo(f"quizctl {command}: refused: {exc.message} ({exc.code})", err=True)
        sys.exit(EXIT_REFUSED)


def emit(result: dict[str, Any], as_json: bool, line: str) -> None:
    click.echo(json.dumps(result, ensure_ascii=False) if as_json else line)


def describe(status: dict[str, Any]) -> str:
    """One human line for a status object."""
    state = status.get("state")
    count = status.get("question_count", 0)
    idx = status.get("current_question_idx")
    people = f"{status.get('participants', 0)} participants ({status.get('connected', 0)} connected)"
    if state == "question_open" and idx is not None:
        left = (status.get("time_left_ms") or 0) / 1000
        text = f"question {idx} ({idx + 1} of {count}) open, {left:.0f} s left, {status.get('answered_current', 0)} answered; {people}"
    elif state == "question_closed" and idx is not None:
        text = f"question {idx} ({idx + 1} of {count}) closed, {status.get('answered_current', 0)} answered; {people}"
    elif state == "between_questions":
        text = f"leaderboard after question {idx} ({(idx or 0) + 1} of {count}); {people}"
    elif state == "finished":
        text = f"session finished; {people}"
    else:
        text = f"lobby, {count} questions ready; {people}"
    if status.get("storage_error"):
        text += f"; DATABASE ERROR: {status['storage_error']}"
    return text
