"""Which session `quizctl serve` runs: a course's data dir holds every session of the semester.

An unfinished session (a crash, a Ctrl-C mid-lecture) is resumed by serving its pool
again, exactly where it was. A finished session is never reopened by `serve`: serving
its pool again (next week's section, next year's class) starts a new session named
after it and the date, unless `--resume SESSION` asks for the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from server.session.machine import SessionState

SESSION_ID_MAX_CHARS = 64


class SessionChoiceError(ValueError):
    """`--resume` named a session the data dir does not have."""


@dataclass(frozen=True, slots=True)
class Choice:
    sid: str
    how: str  # "new", "resumed", or "new: <old> is finished"


def choose_session(requested: str, stored: dict[str, str], *, resume: str | None, today: date) -> Choice:
    """The session to serve, from the requested id and the stored sessions' states (sid -> state)."""
    if resume is not None:
        if resume not in stored:
            known = ", ".join(sorted(stored)) or "none"
            raise SessionChoiceError(f"no session {resume!r} in this data dir (stored: {known})")
        return Choice(resume, "resumed")
    if requested not in stored:
        return Choice(requested, "new")
    if stored[requested] != SessionState.FINISHED:
        return Choice(requested, "resumed")
    suffix = f"-{today.isoformat()}"
    base = requested[: SESSION_ID_MAX_CHARS - len(suffix) - 3] + suffix
    candidate, n = base, 2
    while stored.get(candidate) == SessionState.FINISHED:
        candidate, n = f"{base}-{n}", n + 1
    if candidate in stored:
        return Choice(candidate, "resumed")
    return Choice(candidate, f"new: {requested} is finished")
