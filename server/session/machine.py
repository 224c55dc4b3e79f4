"""The session's rules: its states, the operator's commands, and what each command does in each state.

Everything that moves a session from one state to another is in `TRANSITIONS`, one table
of state × command (h11's `_state.py` is the model). A command is carried out as a short
sequence of `Step`s; a command the state does not allow is one failed lookup, refused
with one `Refusal` (one code, one message, one HTTP status). The room looks each move up
here, carries out the steps, and assigns `record.state` in one function (`Room._enter`).

The README's "Session states" table is `markdown_table()`, checked by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.session.errors import RoomError


class SessionState(StrEnum):
    LOBBY = "lobby"
    QUESTION_OPEN = "question_open"
    QUESTION_PAUSED = "question_paused"  # the open question with its countdown stopped
    QUESTION_CLOSED = "question_closed"
    BETWEEN_QUESTIONS = "between_questions"
    FINISHED = "finished"


class Command(StrEnum):
    """What can move a session: the operator's commands and the question timer."""

    NEXT = "next"
    OPEN = "open"
    CLOSE = "close"
    LEADERBOARD = "leaderboard"
    END = "end"
    RESET = "reset"
    PAUSE = "pause"
    RESUME = "resume"
    EXTEND = "extend"
    SKIP = "skip"
    TIME_UP = "time_up"  # the open question's timer ran out


class Step(StrEnum):
    """One thing the room does to carry out a command; each ends in one state."""

    CLOSE = "close"  # close the open question and reveal it → question_closed
    OPEN = "open"  # open the requested question → question_open
    OPEN_NEXT = "open_next"  # open the next question not yet asked → question_open; after the last → finished
    LEADERBOARD = "leaderboard"  # show everyone their rank → between_questions
    FINISH = "finish"  # end the session and show the final results → finished
    RESET = "reset"  # wipe participants, answers and events → lobby
    PAUSE = "pause"  # stop the countdown everywhere → question_paused
    RESUME = "resume"  # the countdown goes on, its deadline moved by the pause → question_open
    EXTEND = "extend"  # more seconds for the open question (the state stays)
    SKIP = "skip"  # close without a reveal; the question is not scored → question_closed


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a command is not allowed now: the contract's error code, a message for people, an HTTP status."""

    code: str
    message: str
    status: int = 409

    def error(self, **details: object) -> RoomError:
        return RoomError(self.code, self.message.format(**details), self.status)


SESSION_FINISHED = Refusal("session_finished", "The session has ended; reset it to start again.")
NOT_OPEN = Refusal("not_open", "No question is open.")
NOT_REVEALED = Refusal("bad_state", "The leaderboard is shown after a question closes.")
NOT_PAUSED = Refusal("not_paused", "The question is not paused.")
ALREADY_PAUSED = Refusal("already_paused", "The question is already paused; resume it.")
# Question-level rules, checked by the room with the question at hand.
ALREADY_ASKED = Refusal(
    "already_asked", "Question {question_idx} was already asked; reset the session to ask it again."
)

Outcome = tuple[Step, ...] | Refusal
S, C = SessionState, Command

TRANSITIONS: dict[SessionState, dict[Command, Outcome]] = {
    S.LOBBY: {
        C.NEXT: (Step.OPEN_NEXT,),
        C.OPEN: (Step.OPEN,),
        C.CLOSE: NOT_OPEN,
        C.LEADERBOARD: NOT_REVEALED,
        C.END: (Step.FINISH,),
        C.RESET: (Step.RESET,),
        C.PAUSE: NOT_OPEN,
        C.RESUME: NOT_PAUSED,
        C.EXTEND: NOT_OPEN,
        C.SKIP: NOT_OPEN,
        C.TIME_UP: (),
    },
    S.QUESTION_OPEN: {
        C.NEXT: (Step.CLOSE, Step.OPEN_NEXT),
        C.OPEN: (Step.CLOSE, Step.OPEN),
        C.CLOSE: (Step.CLOSE,),
        C.LEADERBOARD: NOT_REVEALED,
        C.END: (Step.CLOSE, Step.FINISH),
        C.RESET: (Step.RESET,),
        C.PAUSE: (Step.PAUSE,),
        C.RESUME: NOT_PAUSED,
        C.EXTEND: (Step.EXTEND,),
        C.SKIP: (Step.SKIP,),
        C.TIME_UP: (Step.CLOSE,),
    },
    S.QUESTION_PAUSED: {
        C.NEXT: (Step.CLOSE, Step.OPEN_NEXT),
        C.OPEN: (Step.CLOSE, Step.OPEN),
        C.CLOSE: (Step.CLOSE,),
        C.LEADERBOARD: NOT_REVEALED,
        C.END: (Step.CLOSE, Step.FINISH),
        C.RESET: (Step.RESET,),
        C.PAUSE: ALREADY_PAUSED,
        C.RESUME: (Step.RESUME,),
        C.EXTEND: (Step.EXTEND,),
        C.SKIP: (Step.SKIP,),
        C.TIME_UP: (),
    },
    S.QUESTION_CLOSED: {
        C.NEXT: (Step.OPEN_NEXT,),
        C.OPEN: (Step.OPEN,),
        C.CLOSE: NOT_OPEN,
        C.LEADERBOARD: (Step.LEADERBOARD,),
        C.END: (Step.FINISH,),
        C.RESET: (Step.RESET,),
        C.PAUSE: NOT_OPEN,
        C.RESUME: NOT_PAUSED,
        C.EXTEND: NOT_OPEN,
        C.SKIP: NOT_OPEN,
        C.TIME_UP: (),
    },
    S.BETWEEN_QUESTIONS: {
        C.NEXT: (Step.OPEN_NEXT,),
        C.OPEN: (Step.OPEN,),
        C.CLOSE: NOT_OPEN,
        C.LEADERBOARD: NOT_REVEALED,
        C.END: (Step.FINISH,),
        C.RESET: (Step.RESET,),
        C.PAUSE: NOT_OPEN,
        C.RESUME: NOT_PAUSED,
        C.EXTEND: NOT_OPEN,
        C.SKIP: NOT_OPEN,
        C.TIME_UP: (),
    },
    S.FINISHED: {
        C.NEXT: SESSION_FINISHED,
        C.OPEN: SESSION_FINISHED,
        C.CLOSE: NOT_OPEN,
        C.LEADERBOARD: NOT_REVEALED,
        C.END: SESSION_FINISHED,
        C.RESET: (Step.RESET,),
        C.PAUSE: NOT_OPEN,
        C.RESUME: NOT_PAUSED,
        C.EXTEND: NOT_OPEN,
        C.SKIP: NOT_OPEN,
        C.TIME_UP: (),
    },
}


def steps_for(state: SessionState, command: Command) -> tuple[Step, ...]:
    """The steps that carry out `command` in `state`; RoomError with the table's refusal if not allowed.

    An empty tuple means there is nothing to do (a timer that fired after its question closed).
    """
    outcome = TRANSITIONS[state][command]
    if isinstance(outcome, Refusal):
        raise outcome.error()
    return outcome


_STEP_WORDS = {
    Step.CLOSE: "close and reveal",
    Step.OPEN: "open N",
    Step.OPEN_NEXT: "open the next unasked question (after the last: finish)",
    Step.LEADERBOARD: "show everyone their rank",
    Step.FINISH: "finish",
    Step.RESET: "wipe participants and answers, back to the lobby",
    Step.PAUSE: "stop the countdown",
    Step.RESUME: "restart the countdown",
    Step.EXTEND: "add seconds",
    Step.SKIP: "close without a reveal, unscored",
}


def describe(outcome: Outcome) -> str:
    """One cell of the README's table: the steps in words, or the refusal's code."""
    if isinstance(outcome, Refusal):
        return f"refused `{outcome.code}`"
    if not outcome:
        return "nothing"
    return ", then ".join(_STEP_WORDS[step] for step in outcome)


README_COMMANDS = (C.NEXT, C.OPEN, C.CLOSE, C.LEADERBOARD, C.END, C.PAUSE, C.RESUME, C.EXTEND, C.SKIP)


def markdown_table(commands: tuple[Command, ...] = README_COMMANDS) -> str:
    """The README's "Session states" table: what each operator command does in each state."""
    names = {C.OPEN: "open N", C.EXTEND: "extend S"}
    header = "| state | " + " | ".join(f"`{names.get(c, c.value)}`" for c in commands) + " |"
    rule = "| --- " * (len(commands) + 1) + "|"
    rows = [
        f"| `{state.value}` | " + " | ".join(describe(TRANSITIONS[state][c]) for c in commands) + " |"
        for state in SessionState
    ]
    return "\n".join([header, rule, *rows])
