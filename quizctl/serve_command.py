"""`quizctl serve`: start the server for a pool and print where to find it."""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from quizctl import pool_commands
from quizctl.common import EXIT_REFUSED, data_dir_option, question_number
from server import data_dir as data_dir_files


@click.command()
@click.argument("pool_path", metavar="POOL", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="QUIZ_HOST",
    show_envvar=True,
    help="Address to listen on (0.0.0.0 for phones on the LAN).",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="QUIZ_PORT",
    show_envvar=True,
    help="TCP port (0 picks a free one).",
)
@data_dir_option
@click.option(
    "--roster",
    "roster_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="QUIZ_ROSTER",
    show_envvar=True,
    help="Class list CSV: only its students may join (kept in the data dir for later sessions).",
)
@click.option(
    "--public-url",
    envvar="QUIZ_PUBLIC_URL",
    show_envvar=True,
    help="The URL students open (behind a proxy, or a hostname); shown as the QR code.",
)
@click.option(
    "--session-id",
    envvar="QUIZ_SESSION_ID",
    show_envvar=True,
    show_default="the pool's session_id, else default",
    help="Session id; wins over the pool's session_id.",
)
@click.option(
    "--resume", metavar="SESSION", help="Reopen this stored session, even a finished one (see `quizctl sessions`)."
)
@click.option(
    "--lang",
    envvar="QUIZ_LANG",
    show_envvar=True,
    show_default="the pool's language, else en",
    help="Language of the projector and dashboard (en, de, fr, es, zh, ar).",
)
@click.option(
    "--control",
    envvar="QUIZ_CONTROL",
    show_envvar=True,
    help="Control socket: unix:PATH (default: DATA_DIR/control.sock) or tcp://HOST:PORT.",
)
@click.option(
    "--control-allow-remote",
    is_flag=True,
    help="Allow a non-loopback tcp:// control address (the token is then the only gate).",
)
@click.option(
    "--forwarded-allow-ips",
    envvar="QUIZ_FORWARDED_ALLOW_IPS",
    show_envvar=True,
    help="Proxies whose X-Forwarded-For/-Proto to trust (comma-separated, or *).",
)
@click.option(
    "--max-connections-per-ip",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Websockets per client address (0 = unlimited; a hall is often one NAT address).",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@pool_commands.format_option
def serve(
    pool_path: Path,
    host: str,
    port: int,
    data_dir: Path,
    roster_path: Path | None,
    public_url: str | None,
    session_id: str | None,
    resume: str | None,
    lang: str | None,
    control: str | None,
    control_allow_remote: bool,
    forwarded_allow_ips: str | None,
    max_connections_per_ip: int,
    log_level: str,
    file_format: str | None,
) -> None:
    """Serve a live quiz from POOL (a pool file, or a question bank) until Ctrl-C.

    Prints the student, instructor and projector URLs and a QR code of the join URL.
    An unfinished session (a crash, a Ctrl-C mid-lecture) is resumed where it was, an
    open question's timer included. A finished one is never reopened: serving its pool
    again starts a new session (its id plus the date), unless --resume SESSION asks for
    it. Secrets come from QUIZ_SECRET_KEY and QUIZ_ADMIN_TOKEN, else they are generated
    once and kept in the data dir (mode 0600).
    """
    from server.serve import DataDirInUse, check_data_dir_free, run_until_signalled
    from server.session.semester import SessionChoiceError
    from server.settings import Settings

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        check_data_dir_free(data_dir)  # before anything is read or written for the pool
    except DataDirInUse as exc:
        click.echo(f"quizctl serve: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    pool = pool_commands.pool_to_serve(
        pool_path, file_format, data_dir
    )  # a pool file, or a bank imported into data_dir
    check_network_options(public_url, control, data_dir, control_allow_remote, forwarded_allow_ips)
    requested = chosen_session_id(session_id, pool.session_id)
    if resume is not None:
        check_resume(resume, session_id, data_dir)
    roster = read_roster(roster_path) if roster_path is not None else None
    settings = Settings(
        pool=pool,
        data_dir=data_dir,
        host=host,
        port=port,
        public_url=public_url,
        session_id=requested,
        control=control,
        control_allow_remote=control_allow_remote,
        forwarded_allow_ips=forwarded_allow_ips,
        secret_key=os.environ.get("QUIZ_SECRET_KEY") or None,
        admin_token=os.environ.get("QUIZ_ADMIN_TOKEN") or None,
        max_connections_per_ip=max_connections_per_ip,
        roster=roster,
        resume=resume,
        language=chosen_language(lang, pool.language),
    )

    try:
        run_until_signalled(
            settings, functools.partial(announce, settings=settings, pool_path=pool_path, roster_path=roster_path)
        )
    except (OSError, BaseExceptionGroup, DataDirInUse, SessionChoiceError) as exc:
        explain_start_failure(exc, settings)
    click.echo("quizctl: stopped; all answers are saved.")


def check_network_options(
    public_url: str | None,
    control: str | None,
    data_dir: Path,
    control_allow_remote: bool,
    forwarded_allow_ips: str | None,
) -> None:
    """Refuse a malformed --public-url, --control or --forwarded-allow-ips before anything starts."""
    from server.control.socket import ControlAddressError, parse_control_address

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
            raise click.BadParameter(
                f"{exc} (use addresses or networks like 10.0.0.1,192.168.0.0/24, or *)",
                param_hint="--forwarded-allow-ips",
            ) from exc


def announce(running: Any, *, settings: Any, pool_path: Path, roster_path: Path | None) -> None:
    """Print what is being served and where: the URLs, the session, the roster and a QR code."""
    pool = settings.pool
    record = running.room.record
    status = running.room.status()
    out = click.get_text_stream("stdout")
    click.echo(
        f"quizctl: serving {pool.title!r} ({len(pool.questions)} questions, state {status['state']}, "
        f"{status['participants']} participants, language {settings.language})"
    )
    click.echo(f"  Session:    {record.sid} ({describe_choice(record.opened_as)})")
    click.echo(f"  Roster:     {describe_roster(record.roster, roster_path)}")
    click.echo(f"  Students:   {running.room.join_url}")
    click.echo(f"  Instructor: {running.instructor_url}")
    click.echo(f"  Projector:  {running.projector_url}")
    click.echo(f"  Control:    {running.control_address}")
    click.echo(f"  Data:       {settings.db_path}")
    if settings.host in ("127.0.0.1", "localhost", "::1") and not settings.public_url:
        click.echo("  (listening on loopback only: use --host 0.0.0.0 so phones on the network can join)")
    if record.changed_questions:
        click.echo(changed_warning(record.sid, record.changed_questions, sorted(record.asked), pool_path), err=True)
    print_qr(running.room.join_url, out)
    click.echo("Press Ctrl-C to stop.", nl=True)
    out.flush()


def explain_start_failure(exc: BaseException, settings: Any) -> NoReturn:
    """One line on why the server did not start, and exit non-zero; anything else is re-raised."""
    from server.serve import DataDirInUse
    from server.session.semester import SessionChoiceError

    refused = find_exception(exc, (DataDirInUse, SessionChoiceError))
    if refused is not None:  # one line: the server did not start
        click.echo(f"quizctl serve: {refused}", err=True)
        sys.exit(EXIT_REFUSED)
    failure = first_os_error(exc)
    if failure is None:
        raise exc
    click.echo(
        f"quizctl serve: cannot start on {settings.host}:{settings.port} with data dir {settings.data_dir}: {failure}",
        err=True,
    )
    if failure.errno == errno.EADDRINUSE:
        click.echo("Another program uses that port or data dir: pick another --port or --data-dir.", err=True)
    sys.exit(EXIT_REFUSED)


def chosen_session_id(option: str | None, from_pool: str | None) -> str:
    """`--session-id` (checked by the pool's own rule for `session_id`), else the pool's, else `default`."""
    from server.quiz.checks import Problems
    from server.quiz.pool import _check_session_id  # the one rule for session ids (pool files use it)
    from server.settings import DEFAULT_SESSION_ID

    if option is None:
        return from_pool or DEFAULT_SESSION_ID
    problems = Problems()
    _check_session_id(option, problems)
    if problems:
        raise click.BadParameter(problems.messages[0].removeprefix("session_id: "), param_hint="--session-id")
    return option


def check_resume(resume: str, session_id: str | None, data_dir: Path) -> None:
    """`--resume` must name a stored session (and not contradict `--session-id`); a usage error if not."""
    import sqlite3

    from server.storage.loading import stored_states
    from server.storage.schema import open_read_only

    if session_id is not None and session_id != resume:
        raise click.UsageError("give --resume SESSION or --session-id ID, not both")
    try:
        connection = open_read_only(data_dir_files.database(data_dir))
    except (OSError, sqlite3.Error):
        stored: list[str] = []
    else:
        try:
            stored = sorted(stored_states(connection))
        except sqlite3.Error:
            stored = []
        finally:
            connection.close()
    if resume not in stored:
        raise click.BadParameter(
            f"no session {resume!r} in {data_dir} (stored: {', '.join(stored) or 'none'}; see `quizctl sessions`)",
            param_hint="--resume",
        )


def chosen_language(option: str | None, from_pool: str | None) -> str:
    """`--lang` (it must have a catalog), else the pool's `language` where one is shipped, else en."""
    from server.web.pages import DEFAULT_LANGUAGE, match_language, shipped_languages

    shipped = shipped_languages()
    if option is not None:
        matched = match_language([option], shipped)
        if matched is None:
            raise click.BadParameter(f"{option!r} has no catalog; use one of {', '.join(shipped)}", param_hint="--lang")
        return matched
    return (match_language([from_pool], shipped) if from_pool else None) or DEFAULT_LANGUAGE


def read_roster(path: Path) -> Any:
    """The class list, or exit 1 with every problem as `FILE:LINE: what (fix: how)`."""
    from server.session.roster import RosterError
    from server.session.roster_file import load_roster

    try:
        return load_roster(path)
    except RosterError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"Fix the roster and check it with `quizctl validate --roster {path}`.", err=True)
        sys.exit(EXIT_REFUSED)


def describe_choice(opened_as: str) -> str:
    """How the session was chosen, for the start-up lines."""
    if opened_as.startswith("new: ") and opened_as.endswith(" is finished"):
        old = opened_as[len("new: ") : -len(" is finished")]
        return f"{opened_as}; `--resume {old}` reopens it"
    return {"new": "new", "resumed": "resumed where it was"}.get(opened_as, opened_as)


def describe_roster(roster: Any, given: Path | None) -> str:
    if roster is None or len(roster) == 0:
        return "none: any student ID can join (serve --roster FILE to admit only the class)"
    extra = sum(1 for entry in roster if entry.extra_time > 1)
    where = f"from {given}" if given is not None else "the data dir's, from an earlier --roster"
    accommodations = f", {extra} with extra time" if extra else ""
    return f"{len(roster)} students ({where}{accommodations}); only they can join"


def changed_warning(sid: str, changed: list[int], asked: list[int], pool_path: Path) -> str:
    """The warning for questions that differ from the pool the session last ran with (numbers 1-based)."""
    names = _numbers(changed)
    text = f"quizctl: warning: {names} changed since session {sid} last ran"
    answered = [idx for idx in changed if idx in asked]
    if answered:
        text += (
            f"; the answers to {_numbers(answered)} were scored with the old version: "
            f"`quizctl regrade {pool_path}` scores them again"
        )
    return text


def _numbers(indexes: list[int]) -> str:
    numbers = [str(question_number(idx)) for idx in indexes]
    if len(numbers) == 1:
        return f"question {numbers[0]}"
    return f"questions {', '.join(numbers[:-1])} and {numbers[-1]}"


def find_exception(exc: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first exception of `types` in `exc` or (possibly nested) exception groups."""
    if isinstance(exc, types):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_exception(inner, types)
            if found is not None:
                return found
    return None


def first_os_error(exc: BaseException) -> OSError | None:
    """The OSError inside (possibly nested) exception groups, if that is what stopped the server."""
    found = find_exception(exc, (OSError,))
    return found if isinstance(found, OSError) else None


def print_qr(url: str, out: Any) -> None:
    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(url)
    try:
        code.print_ascii(out=out, invert=True)
    except (OSError, UnicodeEncodeError):
        click.echo(f"(QR code not printable on this terminal; open {url})")
