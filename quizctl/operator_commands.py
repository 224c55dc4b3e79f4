"""Commands that drive a running session over its control socket."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from quizctl.common import EXIT_REFUSED, describe, emit, operator_command, run_command
from quizctl.control_client import ControlTarget


def state_command(name: str, command: str, summary: str) -> click.Command:
    """A command without arguments that changes (or shows) the session state and prints it."""

    @click.command(name=name, help=summary)
    @operator_command
    def run(target: ControlTarget, as_json: bool, data_dir: Path) -> None:
        result = run_command(target, command)
        emit(result, as_json, describe(result))

    return run


STATE_COMMANDS = (
    state_command("status", "status", "Show the session state, participants and answers on the current question."),
    state_command("next", "next", "Open the next question (closing the open one), or finish after the last."),
    state_command("close", "close", "Close the open question now and reveal the answer."),
    state_command("leaderboard", "leaderboard", "After a reveal, show students their rank before the next question."),
    state_command("end", "end", "End the session (closing an open question) and show the final results."),
)


@click.command(name="open")
@click.argument("question", type=int)
@click.option("--time-limit", type=click.IntRange(5, 3600), help="Seconds for this question (default: the pool's).")
@operator_command
def open_command(question: int, time_limit: int | None, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Open question QUESTION: its question_idx, counted from 0 as in the pool and the protocol."""
    args: dict[str, Any] = {"question_idx": question}
    if time_limit is not None:
        args["time_limit"] = time_limit
    result = run_command(target, "open", args)
    emit(result, as_json, describe(result))


@click.command()
@click.option("--yes", is_flag=True, help="Confirm: wipe every participant, answer and event.")
@operator_command
def reset(yes: bool, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Wipe participants and answers and return to the lobby (needs --yes)."""
    if not yes:
        click.echo("quizctl reset: refused: this wipes every participant and answer; run again with --yes", err=True)
        sys.exit(EXIT_REFUSED)
    result = run_command(target, "reset", {"confirm": True})
    emit(result, as_json, "session reset: back to the lobby, 0 participants")


@click.command(name="clear-student")
@click.argument("student_id")
@operator_command
def clear_student(student_id: str, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Remove STUDENT_ID and their answers so its rightful owner can join."""
    result = run_command(target, "clear-student", {"student_id": student_id})
    emit(result, as_json, f"cleared {student_id}: the id can be claimed again")
