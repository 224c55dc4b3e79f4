"""`quizctl report`: the after-class report as one self-contained HTML file, or its figures as JSON.

Where the figures come from: always the data dir's database, opened read-only, in one read
transaction (a consistent moment even while a server writes). The server commits an answer before
it acknowledges it, so the database holds everything a student was told was received; reading it
needs no new control command and works the same with or without a running server. What the
running server is asked, over the control socket, is only *which* session is current (`status`).

Which sessions:
- default: the running server's current session (exit 2 when no server answers);
- `--offline`: the most recently changed session in the data dir, no server needed;
- `--sessions a,b,...`: those stored sessions (one: its report; several: the course view);
- `--all`: every stored session, as a course.

The database keeps a pool's image paths, not the images: `--pool-dir` (the folder of the pool
file) lets the report inline them; without it a picture is shown as its alt text, and a warning
says so.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from quizctl.common import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    UNREACHABLE_HINT,
    operator_command,
)
from quizctl.control_client import (
    CommandRefused,
    ControlTarget,
    ServerUnreachable,
    call,
)
from server import data_dir as data_dir_files

if TYPE_CHECKING:
    from server.reports.collect import CollectedSession

# Past this many answers (rows of the report) the command says on stderr what it is doing.
PROGRESS_MIN_ANSWERS = 20_000


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the HTML report to FILE (default: stdout; with --json, no HTML unless -o).",
)
@click.option(
    "--sessions",
    "session_list",
    metavar="ID,ID,...",
    help="Stored sessions to report on, comma-separated; several make the course view.",
)
@click.option("--all", "all_sessions", is_flag=True, help="Every session stored in the data dir, as a course.")
@click.option(
    "--offline",
    is_flag=True,
    help="No running server needed: report on the most recent session stored in the data dir.",
)
@click.option(
    "--pool-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of the pool file, to inline its pictures (the database keeps only their paths).",
)
@click.option("--title", help="The report's heading (default: the quiz title, or the course's dates).")
@operator_command
def report(
    output: Path | None,
    session_list: str | None,
    all_sessions: bool,
    offline: bool,
    pool_dir: Path | None,
    title: str | None,
    target: ControlTarget,
    as_json: bool,
    data_dir: Path,
) -> None:
    """Write the after-class report: per question, per student, and for several sessions the course.

    \b
    quizctl report -o week3.html               the running server's session
    quizctl report --offline -o week3.html     the latest session in the data dir
    quizctl report --sessions w1,w2,w3 -o course.html
    quizctl report --all --json > course.json  the figures, for your own plots
    """
    if session_list is not None and all_sessions:
        _fail("give --sessions or --all, not both")
    wanted = _parse_sessions(session_list) if session_list is not None else None
    current = None
    if wanted is None and not all_sessions and not offline:
        current = _current_session(target)
    sessions = _read(data_dir, wanted, current, all_sessions, pool_dir)

    from server.reports.collect import analyse, render

    answers = sum(len(q.answers) for s in sessions for q in s.data.questions)
    if answers >= PROGRESS_MIN_ANSWERS:
        _progress(f"analysing {answers} answers")
    started = time.perf_counter()
    stats = analyse(sessions)
    if output is not None:
        page = render(stats, sessions, title=title).encode("utf-8")
        try:
            output.write_bytes(page)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}")
        students = len({s.student_id for c in sessions for s in c.data.students})
        click.echo(
            f"wrote {output}: {_describe(sessions)}, {students} students "
            f"({len(page) / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)",
            err=as_json,  # with --json, stdout holds the JSON alone
        )
    if as_json:
        sys.stdout.write(json.dumps(stats.to_json(), ensure_ascii=False) + "\n")
    elif output is None:
        sys.stdout.buffer.write(render(stats, sessions, title=title).encode("utf-8"))
    sys.stdout.flush()


def _current_session(target: ControlTarget) -> str:
    """The running server's session id (its `status`); exit 2 when no server answers."""
    try:
        status = call(target, "status")
    except ServerUnreachable as exc:
        click.echo(f"quizctl report: {exc}", err=True)
        click.echo(f"{UNREACHABLE_HINT} Without a server, --offline reports on the latest stored session.", err=True)
        sys.exit(EXIT_UNREACHABLE)
    except CommandRefused as exc:
        _fail(f"refused: {exc.message} ({exc.code})")
    return str(status["sid"])


def _parse_sessions(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        _fail("--sessions needs at least one session id (comma-separated)")
    return list(dict.fromkeys(ids))  # a repeated id is reported once


def _read(
    data_dir: Path, wanted: list[str] | None, current: str | None, all_sessions: bool, pool_dir: Path | None
) -> list[CollectedSession]:
    """The chosen sessions, collected from the database in one read transaction."""
    from server.quiz.pool import PoolError
    from server.reports.collect import read_stored_session
    from server.storage.loading import stored_session_ids
    from server.storage.schema import open_read_only

    db_path = data_dir_files.database(data_dir)
    try:
        connection = open_read_only(db_path)
    except (FileNotFoundError, OSError, sqlite3.Error):
        _fail(f"no database at {db_path}; check --data-dir")
    try:
        connection.execute("BEGIN")  # every SELECT below sees the same committed state
        stored = stored_session_ids(connection)
        if wanted is None:
            wanted = stored if all_sessions else [current] if current is not None else stored[:1]
        unknown = [sid for sid in wanted if sid not in stored]
        if not wanted or unknown:
            what = f"no session {', '.join(repr(s) for s in unknown)}" if unknown else "no session"
            _fail(f"{what} in {db_path} (stored: {', '.join(stored) or 'none'})")
        sessions = []
        for number, sid in enumerate(wanted, start=1):
            if len(wanted) > 1:
                _progress(f"reading session {sid} ({number} of {len(wanted)})")
            sessions.append(read_stored_session(connection, sid, image_dir=pool_dir))
    except (sqlite3.Error, PoolError, ValueError, KeyError) as exc:
        _fail(f"cannot read {db_path}: {exc}")
    finally:
        connection.close()
    for collected in sessions:
        for image in collected.missing_images:
            click.echo(
                f"quizctl report: warning: session {collected.data.sid}, pool question {image.question_idx + 1}"
                f"{' ' + image.label if image.label else ''}: picture {image.path!r} not included ({image.reason}); "
                "pass --pool-dir with the pool file's folder",
                err=True,
            )
    return sessions


def _describe(sessions: list[CollectedSession]) -> str:
    if len(sessions) == 1:
        data = sessions[0].data
        return f"session {data.sid}, {len(data.questions)} questions"
    return f"{len(sessions)} sessions"


def _progress(message: str) -> None:
    """A line on stderr, for work long enough to wait for (stdout may be the report itself)."""
    click.echo(f"quizctl report: {message}...", err=True)


def _fail(message: str) -> NoReturn:
    click.echo(f"quizctl report: {message}", err=True)
    sys.exit(EXIT_REFUSED)
