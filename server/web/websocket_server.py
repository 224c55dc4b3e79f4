"""A minimal RFC 6455 server for one ASGI websocket route: the students' socket, without Hypercorn's layers.

Profiling 10,000 phones (bench/README.md) put most of the server's cost per message in the
layers between the socket and the room: Hypercorn's protocol objects, its ASGI queues,
wsproto's event machinery, a lock and a shielded cancel scope per write. This module
reads and writes the frames of an accepted `/ws/student` connection itself and speaks
plain ASGI to the same application (the proxy middleware, then `student_socket.py`), so
the contract is still implemented once. What it supports is what a browser uses: text
and binary messages (fragmented or not), ping/pong, the closing handshake; no extensions
(permessage-deflate is refused, as `hypercorn_patch` refuses it), no subprotocols.

`front_door.py` decides which connections come here; everything else stays Hypercorn's.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import struct
from dataclasses import dataclass
from typing import Any

import trio

from server.room.hub import DirectWrite
from server.web.socket_writes import SEND_STALL_TIMEOUT_S, FrameBatch, sends_in_flight

log = logging.getLogger("quizctl.http")

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSING_HANDSHAKE_TIMEOUT_S = 1.0
READ_SIZE = 65536
# The ASGI scope extension by which the app finds `write_now` (absent under Hypercorn).
DIRECT_WRITES_EXTENSION = "quizctl.direct_writes"


class CloseStatus:
    """RFC 6455 close codes this server sends on its own."""

    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    MESSAGE_TOO_BIG = 1009
    ABNORMAL = 1006  # never sent: the ASGI disconnect code when the peer vanished without a close frame


class Opcode:
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class ProtocolViolation(Exception):
    """The peer broke RFC 6455; the connection is closed with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept_token(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + WEBSOCKET_GUID).digest()).decode("ascii")


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final server frame."""
    length = len(payload)
    if length < 126:
        return bytes((0x80 | opcode, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, length) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, length) + payload


def text_frames(texts: tuple[str, ...] | list[str]) -> bytes:
    return b"".join(frame(Opcode.TEXT, text.encode("utf-8")) for text in texts)


_last_text_frame: tuple[str, bytes] = ("", frame(1, b""))


def _text_frame(text: str) -> bytes:
    """The frame of `text`, made once for a broadcast: the same text object goes to every phone in turn."""
    global _last_text_frame
    last_text, last_frame = _last_text_frame
    if text is last_text:
        return last_frame
    data = frame(Opcode.TEXT, text.encode("utf-8"))
    _last_text_frame = (text, data)
    return data


def close_payload(code: int, reason: str) -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR `payload` with the 4-byte `mask`, repeated (one big-integer operation, not a byte loop)."""
    length = len(payload)
    if not length:
        return payload
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(length, "little")


@dataclass(slots=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


class FrameReader:
    """Client frames from a byte buffer (masked, RFC 6455 section 5.2), within a message size limit."""

    def __init__(self, max_message_bytes: int, initial: bytes = b"") -> None:
        self.buffer = bytearray(initial)
        self.max_message_bytes = max_message_bytes

    def next_frame(self) -> Frame | None:
        """The next complete frame in the buffer, or None until more bytes arrive."""
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        if first & 0x70:
            raise ProtocolViolation(CloseStatus.PROTOCOL_ERROR, "no extension was negotiated")
        if not second & 0x80:
            raise ProtocolViolation(CloseStatus.PROTOCOL_ERROR, "client frames must be masked")
        opcode, length, offset = first & 0x0F, second & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,) = struct.unpack_from("!H", buffer, 2)
            offset = 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buffer, 2)
            offset = 10
        if opcode >= Opcode.CLOSE and (length > 125 or not first & 0x80):
            raise ProtocolViolation(CloseStatus.PROTOCOL_ERROR, "control frames are short and unfragmented")
        if length > self.max_message_bytes:
            raise ProtocolViolation(CloseStatus.MESSAGE_TOO_BIG, "message too big")
        end = offset + 4 + length
        if len(buffer) < end:
            return None
        payload = unmask(bytes(buffer[offset + 4 : end]), bytes(buffer[offset : offset + 4]))
        del buffer[:end]
        return Frame(bool(first & 0x80), opcode, payload)


class WebsocketConnection:
    """One accepted-or-refused websocket on a raw trio stream, served to an ASGI app.

    `head_rest` is whatever followed the request head in the first reads (frames a client
    sent without waiting for the 101). `scope` is the ASGI websocket scope of the request;
    `config` Hypercorn's (the message size limit, the write stall timeout).
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        scope: dict[str, Any],
        key: str,
        head_rest: bytes,
        config: Any,
    ) -> None:
        self.stream = stream
        self.scope = scope
        self.key = key
        self.config = config  # Hypercorn's: the message size limit and the write stall timeout
        self.max_message_bytes = config.websocket_max_message_size
        self.reader = FrameReader(self.max_message_bytes, head_rest)
        self.write_lock = trio.Lock()
        # Writes go straight to the socket when it takes them whole (nearly always): no lock,
        # no cancel scope, no trip through the scheduler. Only a write the socket cannot take
        # at once, and every write queued behind it, waits its turn on the lock.
        socket = getattr(stream, "socket", None)
        self._fd: int | None = socket.fileno() if socket is not None else None
        self._slow_writes = 0
        self._tail = b""  # the rest of a direct write the socket took only part of (see write_now)
        # The app may hand messages to write_now (hub.DirectWriter) instead of awaiting `send`.
        scope.setdefault("extensions", {})[DIRECT_WRITES_EXTENSION] = self
        self.connect_sent = False
        self.accepted = False
        self.responded = False  # an HTTP answer instead of the handshake
        self.close_sent = False
        self.close_received = False
        self.broken = False
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._fragment_bytes = 0

    async def serve(self, app: Any) -> None:
        """Run the app for this connection, then finish the closing handshake and close the stream."""
        try:
            await app(self.scope, self.receive, self.send)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSING_HANDSHAKE_TIMEOUT_S):
                await self._finish()

    async def _finish(self) -> None:
        if self.broken:
            return
        if not self.accepted and not self.responded:
            await self._http_response(403, [], b"")  # ASGI: a close before accept refuses the handshake
        elif self.accepted and not self.close_sent:  # the app's close was cut short, or it never closed
            await self._send_close(*self._close_wanted)
        if self.accepted and not self.close_received:
            while not self.broken and not self.close_received:  # the peer's close, or its EOF
                if await self._next_message() is None:
                    break
        await self.stream.aclose()

    # ------------------------------------------------------------------ ASGI receive

    async def receive(self) -> dict[str, Any]:
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        message = await self._next_message() if self.accepted and not self.close_sent else None
        if message is None:
            code = CloseStatus.ABNORMAL if not self.close_received else self._peer_close_code
            return {"type": "websocket.disconnect", "code": code}
        return message

    _peer_close_code = CloseStatus.NORMAL

    async def _next_message(self) -> dict[str, Any] | None:
        """The next data message; control frames are answered on the way; None once the peer closed or left."""
        while True:
            try:
                item = self.reader.next_frame()
            except ProtocolViolation as violation:
                await self._fail(violation)
                return None
            if item is None:
                if not await self._read_more():
                    return None
                continue
            try:
                message = await self._handle_frame(item)
            except ProtocolViolation as violation:
                await self._fail(violation)
                return None
            if message is not None or self.close_received:
                return message

    async def _read_more(self) -> bool:
        try:
            data = await self.stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self.broken = True
            return False
        self.reader.buffer += data
        return True

    async def _handle_frame(self, item: Frame) -> dict[str, Any] | None:
        opcode = item.opcode
        if opcode == Opcode.PING:
            if not self.close_sent:  # after our close frame, nothing more is sent
                await self._write(frame(Opcode.PONG, item.payload))
            return None
        if opcode == Opcode.PONG:
            return None
        if opcode == Opcode.CLOSE:
            await self._peer_closed(item.payload)
            return None
        if opcode == Opcode.CONTINUATION:
            if not self._fragment_opcode:
                raise ProtocolViolation(CloseStatus.PROTOCOL_ERROR, "continuation without a message")
        elif opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._fragment_opcode:
                raise ProtocolViolation(CloseStatus.PROTOCOL_ERROR, "a new message inside a fragmented one")
            if item.fin:
                return self._data_message(opcode, item.payload)
            self._fragment_opcode = opcode
        else:
            raise ProtocolViolation(CloseStatus.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        self._fragment_bytes += len(item.payload)
        if self._fragment_bytes > self.max_message_bytes:
            raise ProtocolViolation(CloseStatus.MESSAGE_TOO_BIG, "message too big")
        self._fragments.append(item.payload)
        if not item.fin:
            return None
        payload, opcode = b"".join(self._fragments), self._fragment_opcode
        self._fragments, self._fragment_opcode, self._fragment_bytes = [], 0, 0
        return self._data_message(opcode, payload)

    @staticmethod
    def _data_message(opcode: int, payload: bytes) -> dict[str, Any]:
        if opcode == Opcode.BINARY:
            return {"type": "websocket.receive", "bytes": payload, "text": None}
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation(CloseStatus.INVALID_DATA, "text frames must be UTF-8") from None
        return {"type": "websocket.receive", "bytes": None, "text": text}

    async def _peer_closed(self, payload: bytes) -> None:
        self.close_received = True
        code = CloseStatus.NORMAL
        if len(payload) >= 2:
            (code,) = struct.unpack_from("!H", payload)
        self._peer_close_code = code
        if not self.close_sent:  # answer with the same code, as RFC 6455 section 5.5.1 asks
            await self._send_close(code if 1000 <= code < 5000 and code not in (1005, 1006, 1015) else 1000, "")

    async def _fail(self, violation: ProtocolViolation) -> None:
        log.info("closing a student websocket: %s", violation.reason)
        if not self.close_sent:
            await self._send_close(violation.code, violation.reason)
        self.close_received = True  # read no further: its frames cannot be trusted

    # ------------------------------------------------------------------ ASGI send

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if not self.accepted or self.close_sent or self.broken:
                return
            text = message.get("text")
            if isinstance(text, FrameBatch):
                if text.texts:
                    await self._write(text_frames(text.texts))
            elif text is not None:
                await self._write(frame(Opcode.TEXT, text.encode("utf-8")))
            else:
                await self._write(frame(Opcode.BINARY, message.get("bytes") or b""))
        elif kind == "websocket.accept":
            await self._accept(message.get("headers") or [])
        elif kind == "websocket.close":
            if self.accepted:
                if not self.close_sent:
                    await self._send_close(message.get("code", CloseStatus.NORMAL), message.get("reason") or "")
            elif not self.responded:
                await self._http_response(403, [], b"")
        elif kind == "websocket.http.response.start":
            self._response_start = message
        elif kind == "websocket.http.response.body":
            start = self._response_start
            await self._http_response(start["status"], start.get("headers") or [], message.get("body", b""))

    _response_start: dict[str, Any] = {}

    async def _accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        if self.accepted or self.responded:
            return
        self.accepted = True
        lines = [
            b"HTTP/1.1 101 Switching Protocols",
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Accept: " + accept_token(self.key).encode("ascii"),
        ]
        lines += [name + b": " + value for name, value in headers]
        await self._write(b"\r\n".join(lines) + b"\r\n\r\n")

    async def _http_response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.responded = True
        names = {name.lower() for name, _ in headers}
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}".encode("ascii")]
        lines += [name + b": " + value for name, value in headers]
        if b"content-length" not in names:
            lines.append(b"content-length: " + str(len(body)).encode("ascii"))
        lines.append(b"connection: close")
        await self._write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.close_received = True  # nothing more is read: the connection ends with this answer

    _close_wanted: tuple[int, str] = (CloseStatus.NORMAL, "")

    async def _send_close(self, code: int, reason: str) -> None:
        if self._close_wanted == (CloseStatus.NORMAL, ""):
            self._close_wanted = (code, reason)
        await self._write(frame(Opcode.CLOSE, close_payload(code, reason)))
        self.close_sent = not self.broken

    # ------------------------------------------------------------------ writes

    def write_now(self, texts: list[str]) -> DirectWrite:
        """Write text messages in one go if the socket takes them, without waiting (hub.DirectWriter)."""
        if self.broken or self.close_sent:
            return DirectWrite.DONE  # nothing more goes out on this connection
        if self._fd is None or self._slow_writes or self._tail or not self.accepted:
            return DirectWrite.REFUSED
        data = _text_frame(texts[0]) if len(texts) == 1 else text_frames(texts)
        try:
            sent = os.write(self._fd, data)  # the socket is non-blocking (trio's)
        except BlockingIOError:
            return DirectWrite.REFUSED
        except OSError:
            self.broken = True
            return DirectWrite.DONE
        if sent == len(data):
            return DirectWrite.DONE
        self._tail = data[sent:]  # the next write starts with it; the sender writes it if nothing else does
        return DirectWrite.STARTED

    async def finish_write(self) -> None:
        """Write what a direct write left over, waiting for the peer as any write does."""
        await self._write(b"")

    async def _write(self, data: bytes) -> None:
        """One socket write; a peer that does not take it within the stall timeout is dropped."""
        if self.broken:
            return
        if self._tail:
            data, self._tail = self._tail + data, b""
        if self._fd is not None and not self._slow_writes:
            try:
                sent = os.write(self._fd, data)  # the socket is non-blocking (trio's)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.broken = True
                return
            if sent == len(data):
                return
            data = data[sent:]
        self._slow_writes += 1  # from here on, later writes queue behind this one
        try:
            await self._write_waiting(data)
        finally:
            self._slow_writes -= 1

    async def _write_waiting(self, data: bytes) -> None:
        """The rest of a write the socket did not take at once: waits for the peer, at most the stall timeout."""
        async with self.write_lock:
            timeout = getattr(self.config, "send_stall_timeout", SEND_STALL_TIMEOUT_S)
            with trio.move_on_after(timeout) as stalled:
                sends_in_flight[stalled] = self.config  # so that shutdown can cut the wait short
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.broken = True
                    return
                except trio.Cancelled:
                    self.broken = True  # part of a frame may be out: nothing more can follow it
                    raise
                finally:
                    del sends_in_flight[stalled]
        if stalled.cancelled_caught:
            log.info("dropping a connection whose peer stopped reading (a write stalled)")
            self.broken = True
            await trio.aclose_forcefully(self.stream)


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 426: "Upgrade Required", 429: "Too Many Requests"}
