"""`quizctl`: validate pools, serve a live quiz, and drive it from the terminal.

Exit codes: 0 ok; 1 refused or invalid, a mistyped command line included (the reason
on stderr); 2 no server reachable. Click's own convention (2 for a usage error) is
overridden so that a script can retry on 2 without retrying a typo forever.
"""
from __future__ import annotations

import errno
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from server import data_dir as data_dir_files
from quizctl.control_client import CommandRefused, ControlTarget, ServerUnreachable, call

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
UNREACHABLE_HINT = "Is `quizctl serve` running with this --data-dir? (Or pass --socket, or set QUIZ_CONTROL.)"


class QuizctlGroup(click.Group):
    """Exit 1 on a usage error: exit 2 means "no server reachable" for the operator commands."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        standalone = kwargs.pop("standalone_mode", True)
        if not standalone:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            exc.show()
            sys.exit(EXIT_REFUSED)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_REFUSED)
        except BrokenPipeError:  # `quizctl export | head`: the reader left; say nothing more
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_REFUSED)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=QuizctlGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="quizctl")
def main() -> None:
    """Live classroom quizzes, run from the terminal.

    \b
    Start a class:      quizctl serve pools/week3.json --host 0.0.0.0
    Drive it:           quizctl next | open N | close | end | status
    After class:        quizctl export -o grades.csv
    """


# ---------------------------------------------------------------- validate


@main.command()
@click.argument("pools", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per pool.")
def validate(pools: tuple[Path, ...], as_json: bool) -> None:
    """Check pool files; report every problem with its location and a fix.

    Exit status 0 when every pool is valid, 1 otherwise.
    """
    from server.quiz.pool import PoolError, load_pool, summary_line

    failed = False
    for path in pools:
        try:
            pool = load_pool(path)
        except PoolError as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"pool": str(path), "ok": False, "problems": exc.problems}))
            else:
                click.echo(str(exc), err=True)
            continue
        if as_json:
            click.echo(json.dumps({"pool": str(path), "ok": True, "title": pool.title, "questions": len(pool.questions)}))
        else:
            click.echo(summary_line(pool))
    sys.exit(EXIT_REFUSED if failed else 0)


# ---------------------------------------------------------------- serve


def _data_dir_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=data_dir_files.DEFAULT,
        show_default=True,
        envvar="QUIZ_DATA_DIR",
        show_envvar=True,
        help="Where the database, secrets and control socket live.",
    )(function)


@main.command()
@click.argument("pool_path", metavar="POOL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, envvar="QUIZ_HOST", help="Address to listen on (0.0.0.0 for phones on the LAN).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), envvar="QUIZ_PORT", help="TCP port (0 picks a free one).")
@_data_dir_option
@click.option("--public-url", envvar="QUIZ_PUBLIC_URL", help="The URL students open (behind a proxy, or a hostname); shown as the QR code.")
@click.option("--session-id", envvar="QUIZ_SESSION_ID", help="Session id when the pool has none.  [default: default]")
@click.option("--control", envvar="QUIZ_CONTROL", help="Control socket: unix:PATH (default: DATA_DIR/control.sock) or tcp://HOST:PORT.")
@click.option("--control-allow-remote", is_flag=True, help="Allow a non-loopback tcp:// control address (the token is then the only gate).")
@click.option("--forwarded-allow-ips", envvar="QUIZ_FORWARDED_ALLOW_IPS", help="Proxies whose X-Forwarded-For/-Proto to trust (comma-separated, or *).")
@click.option("--max-connections-per-ip", type=click.IntRange(0), default=0, show_default=True, help="Websockets per client address (0 = unlimited; a hall is often one NAT address).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True)
def serve(
    pool_path: Path,
    host: str,
    port: int,
    data_dir: Path,
    public_url: str | None,
    session_id: str | None,
    control: str | None,
    control_allow_remote: bool,
    forwarded_allow_ips: str | None,
    max_connections_per_ip: int,
    log_level: str,
) -> None:
    """Serve a live quiz from POOL until Ctrl-C.

    Prints the student, instructor and projector URLs and a QR code of the join URL.
    Restarting with the same --data-dir resumes the session where it was, an open
    question's timer included. Secrets come from QUIZ_SECRET_KEY and QUIZ_ADMIN_TOKEN,
    else they are generated once and kept in the data dir (mode 0600).
    """
    from server.control.socket import ControlAddressError, parse_control_address
    from server.quiz.pool import PoolError, load_pool
    from server.serve import run_until_signalled
    from server.settings import DEFAULT_SESSION_ID, Settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        pool = load_pool(pool_path)
    except PoolError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"Fix the pool and run `quizctl validate {pool_path}` to check it.", err=True)
        sys.exit(EXIT_REFUSED)
    if public_url and not public_url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--public-url")
    try:
        parse_control_address(control, data_dir, control_allow_remote)
    except ControlAddressError as exc:
        raise click.UsageError(str(exc)) from exc
    if forwarded_allow_ips:
        from server.web.proxy import TrustedProxyMiddleware

        try:
            TrustedProxyMiddleware(None, forwarded_allow_ips)
        except ValueError as exc:
            raise click.BadParameter(f"{exc} (use addresses or networks like 10.0.0.1,192.168.0.0/24, or *)", param_hint="--forwarded-allow-ips") from exc
    settings = Settings(
        pool=pool,
        data_dir=data_dir,
        host=host,
        port=port,
        public_url=public_url,
        session_id=pool.session_id or session_id or DEFAULT_SESSION_ID,
        control=control,
        control_allow_remote=control_allow_remote,
        forwarded_allow_ips=forwarded_allow_ips,
        secret_key=os.environ.get("QUIZ_SECRET_KEY") or None,
        admin_token=os.environ.get("QUIZ_ADMIN_TOKEN") or None,
        max_connections_per_ip=max_connections_per_ip,
    )

    def announce(running: Any) -> None:
        status = running.room.status()
        out = click.get_text_stream("stdout")
        click.echo(f"quizctl: serving {pool.title!r} ({len(pool.questions)} questions, session {settings.session_id}, state {status['state']}, {status['participants']} participants)")
        click.echo(f"  Students:   {running.room.join_url}")
        click.echo(f"  Instructor: {running.instructor_url}")
        click.echo(f"  Projector:  {running.projector_url}")
        click.echo(f"  Control:    {running.control_address}")
        click.echo(f"  Data:       {settings.db_path}")
        if host in ("127.0.0.1", "localhost", "::1") and not public_url:
            click.echo("  (listening on loopback only: use --host 0.0.0.0 so phones on the network can join)")
        _print_qr(running.room.join_url, out)
        click.echo("Press Ctrl-C to stop.", nl=True)
        out.flush()

    try:
        run_until_signalled(settings, announce)
    except (OSError, BaseExceptionGroup) as exc:
        failure = _first_os_error(exc)
        if failure is None:
            raise
        click.echo(f"quizctl serve: cannot start on {host}:{port} with data dir {data_dir}: {failure}", err=True)
        if failure.errno == errno.EADDRINUSE:
            click.echo("Another program uses that port or data dir: pick another --port or --data-dir.", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo("quizctl: stopped; all answers are saved.")


def _first_os_error(exc: BaseException) -> OSError | None:
    """The OSError inside (possibly nested) exception groups, if that is what stopped the server."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_os_error(inner)
            if found is not None:
                return found
    return None


def _print_qr(url: str, out: Any) -> None:
    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(url)
    try:
        code.print_ascii(out=out, invert=True)
    except (OSError, UnicodeEncodeError):
        click.echo(f"(QR code not printable on this terminal; open {url})")


# ---------------------------------------------------------------- operator commands


def _operator_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """Common options of commands that talk to a running server."""

    @_data_dir_option
    @click.option("--socket", "socket_option", envvar="QUIZ_CONTROL", help="Control socket path or tcp://HOST:PORT (default: DATA_DIR/control.sock).")
    @click.option("--token", "token_option", help="Admin token (default: QUIZ_ADMIN_TOKEN, else DATA_DIR/admin.token).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @functools.wraps(function)
    def wrapper(*args: Any, data_dir: Path, socket_option: str | None, token_option: str | None, as_json: bool, **kwargs: Any) -> None:
        target = ControlTarget.resolve(data_dir, socket_option, token_option)
        function(*args, target=target, as_json=as_json, data_dir=data_dir, **kwargs)

    return wrapper


def _run(target: ControlTarget, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return call(target, command, args)
    except ServerUnreachable as exc:
        click.echo(f"quizctl {command}: {exc}", err=True)
        click.echo(UNREACHABLE_HINT, err=True)
        sys.exit(EXIT_UNREACHABLE)
    except CommandRefused as exc:
        click.echo(f"quizctl {command}: refused: {exc.message} ({exc.code})", err=True)
        sys.exit(EXIT_REFUSED)


def _emit(result: dict[str, Any], as_json: bool, line: str) -> None:
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


def _state_command(name: str, command: str, summary: str) -> None:
    """A command without arguments that changes (or shows) the session state and prints it."""

    @main.command(name=name, help=summary)
    @_operator_command
    def run(target: ControlTarget, as_json: bool, data_dir: Path) -> None:
        result = _run(target, command)
        _emit(result, as_json, describe(result))


_state_command("status", "status", "Show the session state, participants and answers on the current question.")
_state_command("next", "next", "Open the next question (closing the open one), or finish after the last.")
_state_command("close", "close", "Close the open question now and reveal the answer.")
_state_command("leaderboard", "leaderboard", "After a reveal, show students their rank before the next question.")
_state_command("end", "end", "End the session (closing an open question) and show the final results.")


@main.command(name="open")
@click.argument("question", type=int)
@click.option("--time-limit", type=click.IntRange(5, 3600), help="Seconds for this question (default: the pool's).")
@_operator_command
def open_command(question: int, time_limit: int | None, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Open question QUESTION: its question_idx, counted from 0 as in the pool and the protocol."""
    args: dict[str, Any] = {"question_idx": question}
    if time_limit is not None:
        args["time_limit"] = time_limit
    result = _run(target, "open", args)
    _emit(result, as_json, describe(result))


@main.command()
@click.option("--yes", is_flag=True, help="Confirm: wipe every participant, answer and event.")
@_operator_command
def reset(yes: bool, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Wipe participants and answers and return to the lobby (needs --yes)."""
    if not yes:
        click.echo("quizctl reset: refused: this wipes every participant and answer; run again with --yes", err=True)
        sys.exit(EXIT_REFUSED)
    result = _run(target, "reset", {"confirm": True})
    _emit(result, as_json, "session reset: back to the lobby, 0 participants")


@main.command(name="clear-student")
@click.argument("student_id")
@_operator_command
def clear_student(student_id: str, target: ControlTarget, as_json: bool, data_dir: Path) -> None:
    """Remove STUDENT_ID and their answers so its rightful owner can join."""
    result = _run(target, "clear-student", {"student_id": student_id})
    _emit(result, as_json, f"cleared {student_id}: the id can be claimed again")


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@click.option("--format", "layout", type=click.Choice(["wide", "long"]), default="wide", show_default=True, help="wide: a row per student; long: a row per student and question.")
@click.option("--excel", is_flag=True, help="Start with a UTF-8 byte-order mark so Excel reads accents right.")
@click.option("--offline", is_flag=True, help="Read the data dir's database directly (no running server needed).")
@click.option("--session-id", help="With --offline: which stored session (default: the most recent).")
@_operator_command
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
    """Write the gradebook CSV (q1..qN, total, answered, correct, rank)."""
    if offline:
        result = _export_offline(data_dir, session_id, layout, excel)
    else:
        result = _run(target, "export", {"format": layout, "excel": excel})
    text = result["csv"]
    if output is not None:
        try:
            output.write_bytes(text.encode("utf-8"))
        except OSError as exc:
            click.echo(f"quizctl export: cannot write {output}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_REFUSED)
        summary = {"path": str(output), "rows": result["rows"], "format": layout}
        _emit(summary, as_json, f"wrote {result['rows']} {layout} rows to {output}")
    elif as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()


def _export_offline(data_dir: Path, session_id: str | None, layout: str, excel: bool) -> dict[str, Any]:
    """The same CSV as a running server's, from the data dir's database alone."""
    import sqlite3

    from server.reports.gradebook import export_result
    from server.quiz.pool import PoolError
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
            click.echo(f"quizctl export: no session {sid!r} in {db_path} (stored: {', '.join(sessions) or 'none'})", err=True)
            sys.exit(EXIT_REFUSED)
        record = load_session(connection, sid)
    except (sqlite3.Error, PoolError, ValueError, KeyError) as exc:
        click.echo(f"quizctl export: cannot read {db_path}: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    finally:
        connection.close()
    return export_result(record, layout=layout, excel=excel)


if __name__ == "__main__":
    main()
