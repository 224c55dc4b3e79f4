"""Client side of the control socket (see server/control.py for the framing).

Imports nothing from the server package but the data dir's file names: the CLI talks to
a running server only through this socket (and stays quick to start, which a presenter
clicker notices).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from server import data_dir as data_dir_files

MAX_RESPONSE_BYTES = 256 * 1024 * 1024
TIMEOUT_S = 30.0


class ServerUnreachable(Exception):
    """No server answered on the control socket."""


class CommandRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


@dataclass(slots=True)
class ControlTarget:
    address: str  # a Unix socket path, or tcp://HOST:PORT
    token: str | None

    @classmethod
    def resolve(cls, data_dir: Path, socket_option: str | None, token_option: str | None) -> ControlTarget:
        address = socket_option or str(data_dir_files.control_socket(data_dir))
        token = token_option or os.environ.get("QUIZ_ADMIN_TOKEN") or _read_token(data_dir_files.admin_token(data_dir))
        return cls(address, token)


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _connect(address: str) -> socket.socket:
    try:
        if address.startswith("tcp://"):
            parsed = urlparse(address)
            if not parsed.hostname or parsed.port is None:
                raise ServerUnreachable(f"bad control address {address!r}: expected tcp://HOST:PORT")
            return socket.create_connection((parsed.hostname, parsed.port), timeout=TIMEOUT_S)
        path = address[len("unix:") :] if address.startswith("unix:") else address
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(TIMEOUT_S)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return sock
    except OSError as exc:
        raise ServerUnreachable(f"cannot connect to the control socket {address}: {exc.strerror or exc}") from exc


def call(target: ControlTarget, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one command; return its result or raise CommandRefused / ServerUnreachable."""
    with _connect(target.address) as sock:
        if not target.token:
            raise CommandRefused(
                "no_token", "no admin token: pass --token, set QUIZ_ADMIN_TOKEN, or use the server's --data-dir"
            )
        request = json.dumps({"token": target.token, "cmd": command, "args": args or {}}).encode("utf-8") + b"\n"
        send_error: OSError | None = None
        try:
            sock.sendall(request)
        except OSError as exc:
            # The server may have refused the connection before reading it (busy): its
            # reason is still waiting to be read, so look before reporting the failure.
            send_error = exc
        try:
            response = _read_line(sock)
        except OSError as exc:
            raise ServerUnreachable(
                f"the control socket {target.address} stopped answering: {send_error or exc}"
            ) from exc
        if response is None and send_error is not None:
            raise ServerUnreachable(f"the control socket {target.address} stopped answering: {send_error}")
    if response is None:
        raise ServerUnreachable(f"the control socket {target.address} closed without answering")
    try:
        message = json.loads(response)
    except ValueError as exc:
        raise ServerUnreachable(f"the control socket {target.address} answered something that is not JSON") from exc
    if not isinstance(message, dict):
        raise ServerUnreachable(f"the control socket {target.address} answered something that is not a response")
    if message.get("ok") is True:
        return message.get("result") or {}
    error = message.get("error")
    if not isinstance(error, dict):
        error = {}
    raise CommandRefused(str(error.get("code", "refused")), str(error.get("message", "refused by the server")))


def _read_line(sock: socket.socket) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ServerUnreachable("the control socket's answer is too large")
