"""The files of a data dir, named once (the server, the CLI and its control client all use these).

A data dir holds one course: every session's database rows, the secrets that sign cookies
and guard operator commands, and the running server's control socket. It is created 0700.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT = "./quiz-data"
DATABASE = "quiz.sqlite3"
SECRET_KEY = "secret.key"
ADMIN_TOKEN = "admin.token"
CONTROL_SOCKET = "control.sock"


def database(data_dir: Path) -> Path:
    return data_dir / DATABASE


def secret_key(data_dir: Path) -> Path:
    return data_dir / SECRET_KEY


def admin_token(data_dir: Path) -> Path:
    return data_dir / ADMIN_TOKEN


def control_socket(data_dir: Path) -> Path:
    return data_dir / CONTROL_SOCKET
