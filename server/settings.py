"""One settings object for a running server, built from CLI options and the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from server import data_dir as data_dir_files
from server.quiz.pool import Pool
from server.session.roster import Roster

DEFAULT_SESSION_ID = "default"


@dataclass(slots=True)
class Settings:
    pool: Pool
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    # The URL students type or scan; derived from host and port when not given.
    public_url: str | None = None
    session_id: str = DEFAULT_SESSION_ID
    # Control socket: None means a Unix socket in the data dir; "tcp://HOST:PORT" otherwise.
    control: str | None = None
    control_allow_remote: bool = False
    forwarded_allow_ips: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    # Limits (documented in the README).
    max_connections_per_ip: int = 0  # 0 = unlimited (a lecture hall is often one NAT address)
    student_queue_size: int = 32
    instructor_queue_size: int = 512
    view_interval_s: float = 0.2
    # A socket write that makes no progress this long drops its connection (a phone that stopped reading).
    send_stall_timeout_s: float = 10.0
    # The class list given to `serve --roster` (it replaces the data dir's); None keeps the stored one.
    roster: Roster | None = None
    # `serve --resume SESSION`: reopen that stored session, even a finished one.
    resume: str | None = None
    # The pages' language for the projector and dashboard (`--lang`, QUIZ_LANG, the pool's "language").
    language: str = "en"

    @property
    def db_path(self) -> Path:
        return data_dir_files.database(self.data_dir)

    def join_url(self) -> str:
        return self.base_url().rstrip("/") + "/"

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = _guess_lan_address()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def cookies_secure(self) -> bool:
        return self.base_url().startswith("https://")


def _guess_lan_address() -> str:
    """The address other machines on the LAN reach us at (no packets are sent)."""
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()
