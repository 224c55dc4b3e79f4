"""The one error type for a refused request, shared by the room, its commands and every transport."""

from __future__ import annotations


class RoomError(Exception):
    """A refused request: `code` is the contract's error code, `status` the HTTP status.

    Transports turn it into their own shape: `{"error": code, "message"}` with `status`
    over HTTP, an `error` message on a websocket, `{"ok": false, "error": ...}` on the
    control socket. The room's state is never changed by a request it refuses.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
