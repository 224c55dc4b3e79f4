"""Commands that drive a running session over its control socket."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from quizctl.common import EXIT_REFUSED, describe, emit, operator_command, question_number, run_command
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
    state_command("pause", "pause", "Stop the open question's countdown everywhere (answers wait for resume)."),
    state_command("resume", "resume", "Restart the paused countdown; every deadline moves by the pause."),
)


@click.command(name="open")
@click.argument("question", type=click.IntRange(min=1))
@click.option("--time-limit", type=click.IntRange(5, 3600), help="Seconds for this question (default: the pool's).")
@operator_command
def open_command(question: int, time_limit: int | None, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Open question QUESTION, counted from 1 (`open 4` opens the fourth question)."""
    args: dict[str, Any] = {"question_idx": question - 1}  # the wire counts from 0
    if time_limit is not None:
        args["time_limit"] = time_limit
    reworded = {
        "bad_question": f"the pool has no question {question} (questions are numbered from 1; see `quizctl status`)",
        "already_asked": f"question {question} was already asked; reset the session to ask it again",
    }
    result = run_command(target, "open", args, reworded=reworded)
    emit(result, as_json, describe(result))


@click.command()
@click.argument("seconds", type=click.IntRange(1, 3600))
@operator_command
def extend(seconds: int, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Give the open (or paused) question SECONDS more, everyone's deadline included (1-3600)."""
    result = run_command(target, "extend", {"seconds": seconds})
    emit(result, as_json, f"extended by {seconds} s: {describe(result)}")


@click.command()
@operator_command
def skip(target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Close the open question without a reveal; it is not scored for anyone."""
    result = run_command(target, "skip")
    idx = result.get("current_question_idx")
    what = f"question {question_number(idx)} of {result.get('question_count', 0)}" if idx is not None else "question"
    people = f"{result.get('participants', 0)} participants ({result.get('connected', 0)} connected)"
    emit(result, as_json, f"{what} skipped: closed without a reveal, not scored; {people}")


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
