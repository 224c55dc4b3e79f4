"""`quizctl serve`: start the server for a pool and print where to find it."""
from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from quizctl import pool_commands
from quizctl.common import EXIT_REFUSED, data_dir_option


@click.command()
@click.argument("pool_path", metavar="POOL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, envvar="QUIZ_HOST", help="Address to listen on (0.0.0.0 for phones on the LAN).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), envvar="QUIZ_PORT", help="TCP port (0 picks a free one).")
@data_dir_option
@click.option("--public-url", envvar="QUIZ_PUBLIC_URL", help="The URL students open (behind a proxy, or a hostname); shown as the QR code.")
@click.option("--session-id", envvar="QUIZ_SESSION_ID", help="Session id when the pool has none.  [default: default]")
@click.option("--control", envvar="QUIZ_CONTROL", help="Control socket: unix:PATH (default: DATA_DIR/control.sock) or tcp://HOST:PORT.")
@click.option("--control-allow-remote", is_flag=True, help="Allow a non-loopback tcp:// control address (the token is then the only gate).")
@click.option("--forwarded-allow-ips", envvar="QUIZ_FORWARDED_ALLOW_IPS", help="Proxies whose X-Forwarded-For/-Proto to trust (comma-separated, or *).")
@click.option("--max-connections-per-ip", type=click.IntRange(0), default=0, show_default=True, help="Websockets per client address (0 = unlimited; a hall is often one NAT address).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True)
@pool_commands.format_option
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
    file_format: str | None,
) -> None:
    """Serve a live quiz from POOL until Ctrl-C.

    Prints the student, instructor and projector URLs and a QR code of the join URL.
    Restarting with the same --data-dir resumes the session where it was, an open
    question's timer included. Secrets come from QUIZ_SECRET_KEY and QUIZ_ADMIN_TOKEN,
    else they are generated once and kept in the data dir (mode 0600).
    """
    from server.control.socket import ControlAddressError, parse_control_address
    from server.serve import run_until_signalled
    from server.settings import DEFAULT_SESSION_ID, Settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    pool = pool_commands.pool_to_serve(pool_path, file_format, data_dir)  # a pool file, or a bank imported into data_dir
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
        print_qr(running.room.join_url, out)
        click.echo("Press Ctrl-C to stop.", nl=True)
        out.flush()

    try:
        run_until_signalled(settings, announce)
    except (OSError, BaseExceptionGroup) as exc:
        failure = first_os_error(exc)
        if failure is None:
            raise
        click.echo(f"quizctl serve: cannot start on {host}:{port} with data dir {data_dir}: {failure}", err=True)
        if failure.errno == errno.EADDRINUSE:
            click.echo("Another program uses that port or data dir: pick another --port or --data-dir.", err=True)
        sys.exit(EXIT_REFUSED)
    click.echo("quizctl: stopped; all answers are saved.")


def first_os_error(exc: BaseException) -> OSError | None:
    """The OSError inside (possibly nested) exception groups, if that is what stopped the server."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_os_error(inner)
            if found is not None:
                return found
    return None


def print_qr(url: str, out: Any) -> None:
    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(url)
    try:
        code.print_ascii(out=out, invert=True)
    except (OSError, UnicodeEncodeError):
        click.echo(f"(QR code not printable on this terminal; open {url})")
