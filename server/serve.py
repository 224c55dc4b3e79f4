"""Starting and stopping everything in one nursery: storage writer, room, Hypercorn, control socket.

Shutdown order matters for "nothing acknowledged is lost": Hypercorn and the control
socket stop first (clients are closed with 1001), then the room's tasks, and only then
is the storage queue closed, so the writer commits every queued write before returning.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import resource
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import hypercorn.trio
import trio
from hypercorn.config import Config

from server import data_dir as data_dir_files
from server import gc_policy
from server.auth import Signer, load_or_create_secret_file
from server.clock import Clock
from server.control import socket as control_socket
from server.room.room import Room
from server.session.semester import choose_session
from server.settings import Settings
from server.storage import loading
from server.storage.writer import Storage
from server.web import hypercorn_patch
from server.web.app import MAX_WS_MESSAGE_BYTES, create_app
from server.web.student_socket import StudentFastPaths

log = logging.getLogger("quizctl.serve")

# Held (flock) by a running server for its whole life: a second `serve` on the data dir is
# refused before it creates or changes anything. Never deleted: removing a lock file races.
LOCK_FILE = "serve.lock"


class DataDirInUse(Exception):
    """Another server runs with this data dir; the message is the one line `serve` prints."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"the data dir {data_dir} is in use: another quizctl serve is already running with it "
            "(stop that one first, or pass another --data-dir)"
        )
        self.data_dir = data_dir


@contextmanager
def claim_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold the data dir for as long as the block runs; `DataDirInUse` (before anything is created) if taken.

    Two checks: the lock file, which every server since it exists holds; and whether a server
    answers on the data dir's control socket (one started by an older quizctl holds no lock).
    The data dir is created (0700) only when it does not exist yet, which also means it is free.
    """
    if data_dir.is_dir():
        if _control_socket_answers(data_dir_files.control_socket(data_dir)):
            raise DataDirInUse(data_dir)
    else:
        # Student names and scores are personal data: only the operator's account may read them.
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(descriptor)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise DataDirInUse(data_dir) from None
        raise
    try:
        yield
    finally:
        os.close(descriptor)  # releases the lock


def check_data_dir_free(data_dir: Path) -> None:
    """`DataDirInUse` if a server runs with this data dir; creates nothing (the CLI asks before reading its pool).

    Only a first answer: `serve` checks again, and holds the lock, with `claim_data_dir`.
    """
    if not data_dir.is_dir():
        return
    if _control_socket_answers(data_dir_files.control_socket(data_dir)):
        raise DataDirInUse(data_dir)
    try:
        descriptor = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # never served by a quizctl that locks: the socket check above is all there is
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise DataDirInUse(data_dir) from None
        raise
    finally:
        os.close(descriptor)


def _control_socket_answers(path: Path) -> bool:
    """Whether a server accepts connections on this Unix socket (a stale file left by a crash does not)."""
    if not (path.exists() or path.is_symlink()):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(2.0)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


@dataclass(slots=True)
class RunningServer:
    """What a started server hands back to its caller (tests, the CLI)."""

    url: str
    settings: Settings
    room: Room
    storage: Storage
    admin_token: str
    control_address: str | None
    shutdown: Callable[[], None]

    @property
    def instructor_url(self) -> str:
        return f"{self.settings.base_url()}/instructor?token={self.admin_token}"

    @property
    def projector_url(self) -> str:
        return f"{self.settings.base_url()}/projector"


def tune_process_for_many_clients() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    gc_policy.tune_for_many_clients()


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"]
    config.websocket_max_message_size = MAX_WS_MESSAGE_BYTES
    # Websockets are closed by us first (1001); what is left at shutdown is mostly idle
    # keep-alive HTTP connections, which would otherwise hold the exit for the whole timeout.
    config.graceful_timeout = 1.0
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.backlog = 4096
    config.keep_alive_timeout = 30
    config.send_stall_timeout = settings.send_stall_timeout_s  # type: ignore[attr-defined]  # read by hypercorn_patch
    # No websocket_ping_interval: Hypercorn 0.18's ping task outlives a closed socket and
    # holds graceful shutdown for its full timeout. The pages ping the server instead.
    return config


@asynccontextmanager
async def open_room(
    settings: Settings, *, clock: Clock | None = None, commit_in_thread: bool = True
) -> AsyncIterator[Room]:
    """The room with its storage writer running; on exit every queued write is committed.

    The one way a room is started, by `serve` and by tests (which pass
    `commit_in_thread=False` under trio's MockClock, see `Storage`).
    """
    storage = Storage(settings.db_path, commit_in_thread=commit_in_thread)
    storage.open()
    try:
        if settings.roster is not None:
            loading.replace_roster(storage.connection, settings.roster)
        choice = choose_session(
            settings.session_id, loading.stored_states(storage.connection), resume=settings.resume, today=date.today()
        )
        settings.session_id = choice.sid
        record = storage.load_or_create(choice.sid, settings.pool)
        record.opened_as = choice.how
        room = Room(settings, storage, record, clock or Clock())
        async with trio.open_nursery() as writer_nursery:
            await writer_nursery.start(storage.run)
            try:
                async with trio.open_nursery() as room_nursery:
                    await room_nursery.start(room.run)
                    yield room
                    room_nursery.cancel_scope.cancel()
            finally:
                storage.finish()  # the writer drains the queue, then returns
    finally:
        storage.close()


async def serve(
    settings: Settings,
    *,
    shutdown_event: trio.Event | None = None,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the quiz server until `shutdown_event` is set (or the task is cancelled).

    Raises `DataDirInUse` before creating anything when another server runs with the data dir.
    """
    if shutdown_event is None:
        shutdown_event = trio.Event()
    with claim_data_dir(settings.data_dir):
        await _serve_claimed(settings, shutdown_event, task_status)


async def _serve_claimed(
    settings: Settings, shutdown_event: trio.Event, task_status: trio.TaskStatus[RunningServer]
) -> None:
    secret_key = load_or_create_secret_file(data_dir_files.secret_key(settings.data_dir), settings.secret_key)
    admin_token = load_or_create_secret_file(data_dir_files.admin_token(settings.data_dir), settings.admin_token)

    try:
        async with open_room(settings) as room:
            # The students' socket is served ahead of Quart (student_socket.py), then proxies' headers are read.
            app = _wrap_for_proxies(StudentFastPaths(create_app(room, Signer(secret_key), admin_token)), settings)
            config = hypercorn_config(settings)
            async with trio.open_nursery() as nursery:
                http_done = trio.Event()
                urls = await nursery.start(_serve_http, app, config, shutdown_event, http_done)
                if settings.port == 0:
                    settings.port = _port_of(urls[0])
                room.set_join_url(settings.join_url())
                control_address = await nursery.start(control_socket.serve_control, room, settings, admin_token)
                task_status.started(
                    RunningServer(
                        url=_local_url(urls[0]),
                        settings=settings,
                        room=room,
                        storage=room.storage,
                        admin_token=admin_token,
                        control_address=control_address,
                        shutdown=shutdown_event.set,
                    )
                )
                await shutdown_event.wait()
                log.info("shutting down")
                room.close_all_clients()
                # Hypercorn's writes cannot be cancelled; one stuck on a phone that
                # stopped reading would otherwise hold the exit until it times out.
                hypercorn_patch.expire_stalled_sends(config, config.graceful_timeout)
                await http_done.wait()
                nursery.cancel_scope.cancel()
    finally:
        log.info("stopped; everything acknowledged is committed to %s", settings.db_path)


async def _serve_http(
    app: Any,
    config: Config,
    shutdown_event: trio.Event,
    done: trio.Event,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await hypercorn.trio.serve(app, config, shutdown_trigger=shutdown_event.wait, task_status=task_status)
    finally:
        done.set()


def _wrap_for_proxies(app: Any, settings: Settings) -> Any:
    if not settings.forwarded_allow_ips:
        return app
    from server.web.proxy import TrustedProxyMiddleware

    return TrustedProxyMiddleware(app, settings.forwarded_allow_ips)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


def _local_url(url: str) -> str:
    return url.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]")


def run_until_signalled(settings: Settings, on_started: Callable[[RunningServer], None]) -> None:
    """The CLI's entry: serve until SIGINT/SIGTERM, then shut down cleanly (exit status 0)."""
    tune_process_for_many_clients()
    os.umask(0o077)  # the database, its WAL and the control socket: operator-only

    async def main() -> None:
        shutdown_event = trio.Event()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def serve_then_stop(*, task_status: trio.TaskStatus[RunningServer]) -> None:
                    await serve(settings, shutdown_event=shutdown_event, task_status=task_status)
                    nursery.cancel_scope.cancel()

                async def shut_down_on_signal() -> None:
                    # A second signal while shutting down is ignored: commits are finishing.
                    async for signum in signals:
                        log.info("received %s, shutting down", signal.Signals(signum).name)
                        shutdown_event.set()

                nursery.start_soon(shut_down_on_signal)
                running = await nursery.start(serve_then_stop)
                on_started(running)
                gc_policy.freeze_survivors()

    trio.run(main)
