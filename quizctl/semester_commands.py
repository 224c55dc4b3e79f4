"""Commands for a course's semester: its sessions, its gradebook, regrading, and the class list.

A data dir holds one course: every session of the semester and the class list (roster).
- `sessions`: what is stored, read from the database (no server needed);
- `gradebook`: one CSV for the LMS (Canvas, Moodle, Blackboard, or plain) over the sessions;
- `regrade POOL`: score a session's answers again after an answer-key fix;
- `roster add` / `roster remove`: change the running server's class list;
- `validate --roster FILE` (registered with `validate`): check a class list alone.

Reading is always from the database, opened read-only in one read transaction: the server
commits an answer before acknowledging it, so the database holds everything a student was
told was received, and the gradebook is the same file with or without a running server
(`--offline` only skips asking the server which session is live).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from quizctl.common import (
    EXIT_REFUSED,
    data_dir_option,
    emit,
    operator_command,
    question_number,
    run_command,
)
from quizctl.control_client import CommandRefused, ControlTarget, ServerUnreachable, call
from server import data_dir as data_dir_files

if TYPE_CHECKING:
    from server.reports.lms import SessionGrades
    from server.session.model import SessionRecord
    from server.session.roster import Roster

LMS_CHOICES = ("plain", "canvas", "moodle", "blackboard")  # server.reports.lms.LMS_LAYOUTS (a test checks)
# The control socket's request line limit (server/control/socket.py, MAX_LINE_BYTES), less the envelope.
REGRADE_REQUEST_MAX_BYTES = 64 * 1024 - 1024


def _fail(command: str, message: str) -> NoReturn:
    click.echo(f"quizctl {command}: {message}", err=True)
    sys.exit(EXIT_REFUSED)


def _open_database(command: str, data_dir: Path) -> sqlite3.Connection:
    """The data dir's database, read-only; exit 1 when there is none."""
    from server.storage.schema import open_read_only

    db_path = data_dir_files.database(data_dir)
    try:
        return open_read_only(db_path)
    except (FileNotFoundError, OSError, sqlite3.Error):
        _fail(command, f"no database at {db_path}; check --data-dir")


def _local_time(ms: int | None) -> str | None:
    """Unix ms as local time, ISO 8601 with the UTC offset (None stays None)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------- sessions


@click.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help='Print {"sessions": [...]} as JSON.')
def sessions(data_dir: Path, as_json: bool) -> None:
    """List the data dir's sessions: id, title, start and end (local time), questions asked, participants.

    Read from the database; works with or without a running server.
    """
    from server.storage.semester import list_sessions

    connection = _open_database("sessions", data_dir)
    try:
        stored = list_sessions(connection)
    except sqlite3.Error as exc:
        _fail("sessions", f"cannot read {data_dir_files.database(data_dir)}: {exc}")
    finally:
        connection.close()
    if as_json:
        listed = [
            {
                "sid": s.sid,
                "title": s.title,
                "state": s.state,
                "started_at": _local_time(s.started_at_ms),
                "finished_at": _local_time(s.finished_at_ms),
                "started_at_ms": s.started_at_ms,
                "finished_at_ms": s.finished_at_ms,
                "questions_asked": s.questions_asked,
                "question_count": s.question_count,
                "participants": s.participants,
            }
            for s in stored
        ]
        click.echo(json.dumps({"sessions": listed}, ensure_ascii=False))
        return
    if not stored:
        click.echo(f"no sessions in {data_dir_files.database(data_dir)}")
        return
    header = ("SESSION", "TITLE", "STATE", "STARTED", "FINISHED", "ASKED", "PARTICIPANTS")
    rows = [
        (
            s.sid,
            s.title if len(s.title) <= 40 else s.title[:39] + "…",
            s.state,
            (_local_time(s.started_at_ms) or "-")[:19],  # local time without the offset, in the table
            (_local_time(s.finished_at_ms) or "-")[:19],
            f"{s.questions_asked} of {s.question_count}",
            str(s.participants),
        )
        for s in stored
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# ---------------------------------------------------------------- gradebook


@click.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout."
)
@click.option(
    "--sessions",
    "session_list",
    metavar="ID,ID,...",
    help="The sessions to include (default: every session with a question asked).",
)
@click.option(
    "--lms",
    type=click.Choice(LMS_CHOICES),
    default="plain",
    show_default=True,
    help="The layout the LMS's gradebook import reads (docs/gradebooks.md).",
)
@click.option("--excel", is_flag=True, help="Start with a UTF-8 byte-order mark so Excel reads accents right.")
@click.option("--offline", is_flag=True, help="Do not ask a server which session is live; read the database only.")
@operator_command
def gradebook(
    output: Path | None,
    session_list: str | None,
    lms: str,
    excel: bool,
    offline: bool,
    target: ControlTarget,
    as_json: bool,
    data_dir: Path,
) -> None:
    """Write the semester's gradebook: a row per student, a column per session, for your LMS.

    Students: the roster's and everyone who joined a chosen session (0 where absent).
    Points: each student's weighted total per session; points possible: the scored questions
    that were asked (neither unasked nor skipped questions count).

    \b
    quizctl gradebook --lms canvas -o semester.csv
    quizctl gradebook --sessions cs101-w1,cs101-w2 --lms moodle -o weeks1-2.csv
    """
    from server.reports.lms import gradebook_rows, render_gradebook

    wanted = _parse_sessions(session_list) if session_list is not None else None
    live: dict[str, Any] | None = None
    if not offline:
        try:
            live = call(target, "status")
        except ServerUnreachable:
            click.echo("quizctl gradebook: no server is running with this data dir; reading the database", err=True)
        except CommandRefused as exc:
            _fail("gradebook", f"refused: {exc.message} ({exc.code})")
    grades, roster = _read_semester(data_dir, wanted)
    if live is not None and live.get("state") != "finished" and any(g.sid == live.get("sid") for g in grades):
        click.echo(
            f"quizctl gradebook: session {live['sid']} is still running: its column has the answers so far", err=True
        )
    text = render_gradebook(grades, roster, lms, excel=excel)
    students = len(gradebook_rows(grades, roster, lms)) - (2 if lms == "canvas" else 1)
    summary = {
        "lms": lms,
        "sessions": [g.sid for g in sorted(grades, key=lambda g: (g.started_ms, g.sid))],
        "students": students,
    }
    if output is not None:
        try:
            output.write_bytes(text.encode("utf-8"))
        except OSError as exc:
            _fail("gradebook", f"cannot write {output}: {exc.strerror or exc}")
        emit(
            {"path": str(output), **summary},
            as_json,
            f"wrote {output}: {students} students, {len(grades)} sessions ({lms})",
        )
    elif as_json:
        click.echo(json.dumps({"csv": text, **summary}, ensure_ascii=False))
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()


def _parse_sessions(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        _fail("gradebook", "--sessions needs at least one session id (comma-separated)")
    return list(dict.fromkeys(ids))


def _read_semester(data_dir: Path, wanted: list[str] | None) -> tuple[list[SessionGrades], Roster | None]:
    """The chosen sessions' grades and the data dir's roster, in one read transaction."""
    from server.quiz.pool import PoolError
    from server.storage.loading import load_roster, load_session
    from server.storage.semester import list_sessions

    db_path = data_dir_files.database(data_dir)
    connection = _open_database("gradebook", data_dir)
    try:
        connection.execute("BEGIN")  # every SELECT below sees the same committed state
        stored = list_sessions(connection)
        if wanted is None:
            chosen = [s.sid for s in stored if s.questions_asked > 0]
            idle = [s.sid for s in stored if s.questions_asked == 0]
            if idle:
                click.echo(f"quizctl gradebook: left out (no question asked yet): {', '.join(idle)}", err=True)
        else:
            known = {s.sid for s in stored}
            unknown = [sid for sid in wanted if sid not in known]
            if unknown:
                listed = ", ".join(s.sid for s in stored) or "none"
                _fail("gradebook", f"no session {', '.join(map(repr, unknown))} in {db_path} (stored: {listed})")
            chosen = wanted
        if not chosen:
            _fail("gradebook", f"no session with a question asked in {db_path}; see `quizctl sessions`")
        grades = [session_grades(load_session(connection, sid)) for sid in chosen]
        roster = load_roster(connection)
    except (sqlite3.Error, PoolError, ValueError, KeyError) as exc:
        _fail("gradebook", f"cannot read {db_path}: {exc}")
    finally:
        connection.close()
    return grades, roster


def session_grades(record: SessionRecord) -> SessionGrades:
    """One session's column: each participant's weighted total, out of the asked scored questions.

    Questions never asked, and skipped ones (closed without a reveal, scored for nobody), count
    neither in a student's points nor in the points possible.
    """
    from server.quiz.scoring import units_to_score
    from server.reports.lms import SessionGrades

    pool = record.pool
    counted = sorted(
        idx
        for idx, asked in record.asked.items()
        if not asked.skipped and idx < len(pool.questions) and pool.questions[idx].scored
    )
    possible = replace(pool, questions=tuple(pool.questions[idx] for idx in counted)).possible_units
    points = {
        p.student_id: units_to_score(sum(s.units for idx, s in p.submissions.items() if idx in counted))
        for p in record.participants.values()
    }
    names = {p.student_id: p.name for p in record.participants.values()}
    return SessionGrades(record.sid, pool.title, record.started_at_ms or 0, units_to_score(possible), points, names)


# ---------------------------------------------------------------- regrade


@click.command()
@click.argument("pool_path", metavar="POOL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--session-id", help="The session to regrade (default: the running server's, else the most recent).")
@operator_command
def regrade(pool_path: Path, session_id: str | None, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Score a session's answers again with POOL, its answer keys fixed.

    For a fixed `correct`, `tolerance`/`range`, `accept`, `points` or `score_fn`: every
    answer is graded again as the room grades one (speed over the student's own window),
    the changes are written and listed, and the regrade is kept in the session's history.
    The session the server is running is regraded in the server (no question may be open);
    any other, or every one without a server, in the database.
    """
    from server.quiz.pool import PoolError, load_pool

    try:
        pool = load_pool(pool_path)
    except PoolError as exc:
        click.echo(str(exc), err=True)
        _fail("regrade", f"fix the pool (`quizctl validate {pool_path}`) and run regrade again")
    live_sid: str | None = None
    try:
        live_sid = str(call(target, "status")["sid"])
    except ServerUnreachable:
        pass
    except CommandRefused as exc:
        _fail("regrade", f"refused: {exc.message} ({exc.code})")
    sid = session_id or live_sid
    if live_sid is not None and sid == live_sid:
        payload = {"pool": pool.to_json(), "source": str(Path(pool.source).resolve())}
        size = len(json.dumps(payload).encode("utf-8"))  # as the control client sends it (ASCII escapes)
        if size > REGRADE_REQUEST_MAX_BYTES:
            _fail(
                "regrade",
                f"the pool is too large to send to the running server ({size // 1024} KiB, the control socket "
                f"takes {REGRADE_REQUEST_MAX_BYTES // 1024} KiB); stop the server and run regrade again: "
                "without a server it works on the database directly",
            )
        result = run_command(target, "regrade", payload)
        where = "in the running server"
    else:
        result = _regrade_in_database(data_dir, sid, pool, another_session_is_live=live_sid is not None)
        where = "in the database"
    emit(result, as_json, _regrade_lines(result, where))


def _regrade_in_database(
    data_dir: Path, sid: str | None, pool: Any, *, another_session_is_live: bool
) -> dict[str, Any]:
    """Regrade a session no server is running. Without any server, the data dir is held meanwhile
    (the server's own lock), so none can start and load the session half rewritten."""
    from contextlib import nullcontext

    from server.room.regrade import regrade_stored
    from server.serve import DataDirInUse, claim_data_dir
    from server.session.errors import RoomError
    from server.storage.loading import stored_session_ids
    from server.storage.schema import connect, create_or_upgrade

    db_path = data_dir_files.database(data_dir)
    if not db_path.exists():
        _fail("regrade", f"no database at {db_path}; check --data-dir")
    try:
        with nullcontext() if another_session_is_live else claim_data_dir(data_dir):
            connection = connect(db_path)
            try:
                create_or_upgrade(connection)
                stored = stored_session_ids(connection)
                sid = sid or (stored[0] if stored else None)
                if sid is None:
                    _fail("regrade", f"no session in {db_path}")
                return regrade_stored(connection, sid, pool).result()
            finally:
                connection.close()
    except DataDirInUse:
        _fail(
            "regrade",
            "a server holds this data dir but did not answer on its control socket: pass its --socket "
            "and --token, or stop it and run regrade again",
        )
    except RoomError as exc:
        _fail("regrade", f"refused: {exc.message} ({exc.code})")
    except sqlite3.Error as exc:
        _fail("regrade", f"cannot write {db_path}: {exc}")


def _regrade_lines(result: dict[str, Any], where: str) -> str:
    """Who changed, one line each: student, question (1-based), old → new score."""
    changes = result.get("changes", [])
    head = f"regraded session {result['sid']} {where}: {result['answers']} answers graded again, "
    head += f"{len(changes)} changed" if changes else "none changed"
    lines = [head]
    for change in changes:
        verdict = ""
        if change["new_correct"] != change["old_correct"]:
            verdict = " (now right)" if change["new_correct"] else " (now wrong)"
        lines.append(
            f"  {change['student_id']} {change['name']}, question {question_number(change['question_idx'])}: "
            f"{change['old_score']:.2f} → {change['new_score']:.2f}{verdict}"
        )
    unreadable = result.get("unreadable", [])
    if unreadable:
        which = ", ".join(f"{u['student_id']} question {question_number(u['question_idx'])}" for u in unreadable)
        lines.append(f"  kept as they were (the fixed questions cannot read these answers): {which}")
    for path in result.get("missing_images", []):
        lines.append(f"  note: picture {path!r} not found on the server; left out of the pool until the next serve")
    return "\n".join(lines)


# ---------------------------------------------------------------- the class list


@click.group()
def roster() -> None:
    """Change the running server's class list (kept in the data dir for later sessions)."""


@roster.command(name="add")
@click.argument("student_id")
@click.argument("name")
@click.option("--extra-time", metavar="X", help="Time multiplier from 1 to 10 (1.5 = time and a half).")
@operator_command
def roster_add(
    student_id: str, name: str, extra_time: str | None, target: ControlTarget, as_json: bool, data_dir: Path
) -> None:
    """Put STUDENT_ID (called NAME) on the class list: they can join at once."""
    args: dict[str, Any] = {"student_id": student_id, "name": name}
    if extra_time is not None:
        args["extra_time"] = extra_time
    result = run_command(target, "roster-add", args, name="roster add")
    size = result.get("roster")
    line = f"added {result['added']} ({result['name']}) to the roster ({size} students): they can join now"
    emit(result, as_json, line)


@roster.command(name="remove")
@click.argument("student_id")
@operator_command
def roster_remove(student_id: str, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Take STUDENT_ID off the class list (if they already joined, they stay in this session)."""
    result = run_command(target, "roster-remove", {"student_id": student_id}, name="roster remove")
    emit(result, as_json, f"removed {result['removed']} from the roster ({result.get('roster')} students)")


def validate_roster(path: Path, as_json: bool) -> bool:
    """`quizctl validate --roster FILE`: check a class list; print a summary or every problem; True if valid."""
    from server.session.roster import RosterError
    from server.session.roster_file import load_roster

    try:
        checked = load_roster(path)
    except RosterError as exc:
        if as_json:
            click.echo(json.dumps({"roster": str(path), "ok": False, "problems": exc.problems}, ensure_ascii=False))
        else:
            for problem in exc.problems:
                click.echo(problem, err=True)
        return False
    extra = sum(1 for entry in checked if entry.extra_time > 1)
    if as_json:
        click.echo(json.dumps({"roster": str(path), "ok": True, "students": len(checked), "extra_time": extra}))
    else:
        accommodations = f", {extra} with extra time" if extra else ""
        click.echo(f"{path}: OK - {len(checked)} students{accommodations}")
    return True
