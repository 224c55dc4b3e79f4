"""Commands that take results out: the gradebook CSV."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from quizctl.common import EXIT_REFUSED, EXIT_UNREACHABLE, UNREACHABLE_HINT, emit, operator_command
from quizctl.control_client import CommandRefused, ControlTarget, ServerUnreachable, call
from server import data_dir as data_dir_files


@click.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout."
)
@click.option(
    "--format",
    "layout",
    type=click.Choice(["wide", "long"]),
    default="wide",
    show_default=True,
    help="wide: a row per student; long: a row per student and question.",
)
@click.option("--excel", is_flag=True, help="Start with a UTF-8 byte-order mark so Excel reads accents right.")
@click.option("--offline", is_flag=True, help="Read the data dir's database directly, without asking a server.")
@click.option("--session-id", help="Which stored session (default: the running server's, else the most recent).")
@operator_command
def export(
    output: Path | None,
    layout: str,
    excel: bool,
    offline: bool,
    session_id: str | None,
    target: ControlTarget,
    as_json: bool,
    data_dir: Path,
) -> None:
    """Write the gradebook CSV (q1..qN, total, answered, correct, rank).

    With a server running, it answers (for another --session-id, from the database); without
    one, the database is read directly, as with --offline, and stderr says so.
    """
    if offline:
        result = export_offline(data_dir, session_id, layout, excel)
    else:
        args: dict[str, Any] = {"format": layout, "excel": excel}
        if session_id is not None:
            args["session_id"] = session_id
        try:
            result = call(target, "export", args)
        except ServerUnreachable as exc:
            result = export_without_server(data_dir, session_id, layout, excel, exc)
        except CommandRefused as exc:
            click.echo(f"quizctl export: refused: {exc.message} ({exc.code})", err=True)
            sys.exit(EXIT_REFUSED)
    text = result["csv"]
    if output is not None:
        try:
            output.write_bytes(text.encode("utf-8"))
        except OSError as exc:
            click.echo(f"quizctl export: cannot write {output}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_REFUSED)
        summary = {"path": str(output), "rows": result["rows"], "format": layout}
        emit(summary, as_json, f"wrote {result['rows']} {layout} rows to {output}")
    elif as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()


def export_without_server(
    data_dir: Path, session_id: str | None, layout: str, excel: bool, why: ServerUnreachable
) -> dict[str, Any]:
    """No server answered: the database's CSV, said on stderr; exit 2 when there is no database either."""
    db_path = data_dir_files.database(data_dir)
    if not db_path.exists():
        click.echo(f"quizctl export: {why}", err=True)
        click.echo(f"{UNREACHABLE_HINT} (No database at {db_path} to read instead.)", err=True)
        sys.exit(EXIT_UNREACHABLE)
    click.echo(f"quizctl export: no server is running with this data dir; reading {db_path} directly", err=True)
    return export_offline(data_dir, session_id, layout, excel)


def export_offline(data_dir: Path, session_id: str | None, layout: str, excel: bool) -> dict[str, Any]:
    """The same CSV as a running server's, from the data dir's database alone."""
    import sqlite3

    from server.quiz.pool import PoolError
    from server.reports.gradebook import export_result
    from server.storage.loading import load_session, stored_session_ids
    from server.storage.schema import open_read_only

    db_path = data_dir_files.database(data_dir)
    try:
        connection = open_read_only(db_path)
    except (FileNotFoundError, OSError, sqlite3.Error):
        click.echo(f"quizctl export: no database at {db_path}; check --data-dir", err=True)
        sys.exit(EXIT_REFUSED)
    try:
        sessions = stored_session_ids(connection)
        sid = session_id or (sessions[0] if sessions else None)
        if sid is None or sid not in sessions:
            click.echo(
                f"quizctl export: no session {sid!r} in {db_path} (stored: {', '.join(sessions) or 'none'})", err=True
            )
            sys.exit(EXIT_REFUSED)
        record = load_session(connection, sid)
    except (sqlite3.Error, PoolError, ValueError, KeyError) as exc:
        click.echo(f"quizctl export: cannot read {db_path}: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    finally:
        connection.close()
    return export_result(record, layout=layout, excel=excel)
