"""Who is connected, and fan-out to them.

Each client has a bounded outbound queue drained by its own sender task. The room only
ever calls `send` (non-blocking): a client whose queue is full is too slow to keep up
and is dropped, so one stuck phone can never stall the room. Broadcasts are serialized
once by the caller and the same text object is queued for every recipient.

A transport that can write without waiting (the lean student websocket) is handed each
message directly while the client's queue is empty: the socket nearly always takes it
whole, and the message leaves without a trip through the queue, the sender task and the
scheduler (at 10,000 phones that trip was most of a fan-out's cost). Whatever the socket
does not take at once, and everything after it, goes through the queue as before.
When the instructor moves on from an open question (`Hub.gathered`), each phone's reveal
is held and written together with the next question, in one socket write.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Protocol

import trio

log = logging.getLogger("quizctl.clients")


class ClientKind(StrEnum):
    STUDENT = "student"
    INSTRUCTOR = "instructor"
    PROJECTOR = "projector"


class CloseCode:
    GOING_AWAY = 1001
    POLICY = 1008
    UNAUTHORIZED = 4001
    SESSION_RESET = 4002


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str = ""


class DirectWrite(Enum):
    """What became of a message handed to a transport's `write_now`."""

    DONE = "done"  # written whole (or the connection is gone, and nothing more will be written)
    STARTED = "started"  # partly written: `finish_write` must write the rest before anything else
    REFUSED = "refused"  # nothing written: queue it


class DirectWriter(Protocol):
    """A transport that can write a message at once, without waiting."""

    def write_now(self, texts: list[str]) -> DirectWrite:
        """Write the messages in one go if the socket takes them, without waiting."""
        ...

    async def finish_write(self) -> None: ...


class _FinishWrite:
    """Queued after a direct write the socket took only part of: the sender writes the rest."""


_FINISH_WRITE = _FinishWrite()


class _Gathering:
    """Shared by a hub's clients: while gathering, those holding messages to write together (else None)."""

    __slots__ = ("clients",)

    def __init__(self) -> None:
        self.clients: list[ClientConnection] | None = None


class ClientConnection:
    def __init__(self, kind: ClientKind, queue_size: int, student_id: str | None = None) -> None:
        self.kind = kind
        self.student_id = student_id
        self._send_channel, self._receive_channel = trio.open_memory_channel[str | _Close | _FinishWrite](queue_size)
        # Items queued and not yet written by the sender (those it is writing included):
        # while there are any, a new message must queue behind them.
        self._unsent = 0
        self._direct: DirectWriter | None = None
        self._gathering: _Gathering | None = None  # the hub's, set when added
        self._held: list[str] = []  # messages held while the hub gathers
        # Cancelled to end the connection's handler (receive loop and sender alike).
        self.cancel_scope = trio.CancelScope()
        self.dropped_reason: str | None = None
        self.closing = False

    def write_directly(self, writer: DirectWriter) -> None:
        """Hand messages to `writer` at once whenever nothing is queued (see the module's docstring)."""
        self._direct = writer

    def send(self, text: str) -> bool:
        """Send or queue `text`; drop the client if its queue is full. Never blocks."""
        if self.closing:
            return False
        if self._direct is None or self._unsent:
            return self._enqueue(text)
        gathering = self._gathering
        if gathering is not None and gathering.clients is not None:
            if not self._held:
                gathering.clients.append(self)
            self._held.append(text)
            return True
        return self._write_now([text])

    def release_held(self) -> None:
        """Write the messages held while the hub gathered, together."""
        held, self._held = self._held, []
        if held and not self.closing:
            self._write_now(held)

    def _write_now(self, texts: list[str]) -> bool:
        assert self._direct is not None
        outcome = self._direct.write_now(texts)
        if outcome is DirectWrite.DONE:
            return True
        if outcome is DirectWrite.STARTED:
            return self._enqueue(_FINISH_WRITE)
        return all([self._enqueue(text) for text in texts])

    def _enqueue(self, item: str | _Close | _FinishWrite) -> bool:
        try:
            self._send_channel.send_nowait(item)
        except trio.WouldBlock:
            self.drop("outbound queue full")
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self._unsent += 1
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Close after everything already sent, held or queued."""
        if self.closing:
            return
        held, self._held = self._held, []
        for text in held:  # the close goes after them
            self._enqueue(text)
        if self._enqueue(_Close(code, reason)):
            self.closing = True

    def drop(self, reason: str) -> None:
        if self.dropped_reason is None:
            self.dropped_reason = reason
            log.info("dropping %s client %s: %s", self.kind, self.student_id or "", reason)
        self.closing = True
        self.cancel_scope.cancel()

    async def run_sender(
        self,
        send: Callable[[list[str]], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        """Drain the queue into the socket; on a queued close, close and end the connection.

        Everything already queued (up to MAX_BATCH messages) is handed to `send` at once,
        which writes them to the socket together (the web layer's FrameBatch): a reveal and
        the next question reach the phone together, for little more than the cost of one.
        """
        channel = self._receive_channel
        async with channel:
            while True:
                try:
                    first = await channel.receive()
                except trio.EndOfChannel:
                    return
                texts: list[str] = []
                item: str | _Close | _FinishWrite = first
                while True:
                    if isinstance(item, _Close):
                        if texts:
                            await send(texts)
                        with trio.move_on_after(2):
                            await close(item.code, item.reason)
                        self.cancel_scope.cancel()
                        return
                    if isinstance(item, _FinishWrite):
                        if texts:  # (never: a partial direct write happens only with nothing queued)
                            break
                        assert self._direct is not None
                        await self._direct.finish_write()
                        self._unsent -= 1
                    else:
                        texts.append(item)
                        if len(texts) >= MAX_BATCH:
                            break
                    try:
                        item = channel.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                if texts:
                    await send(texts)
                    self._unsent -= len(texts)
                if isinstance(item, _FinishWrite) and texts:
                    assert self._direct is not None
                    await self._direct.finish_write()
                    self._unsent -= 1


MAX_BATCH = 16


class Hub:
    """Who is connected, by kind; students indexed by student id."""

    def __init__(self) -> None:
        self.students: dict[str, set[ClientConnection]] = {}
        self.instructors: set[ClientConnection] = set()
        self.projectors: set[ClientConnection] = set()
        self.dropped_total = 0
        self._gathering = _Gathering()

    @contextmanager
    def gathered(self) -> Iterator[None]:
        """Hold each phone's messages, to write them together at `release_held` or at the end."""
        gathering = self._gathering
        if gathering.clients is not None:  # already gathering
            yield
            return
        gathering.clients = []
        try:
            yield
        finally:
            self.release_held()
            gathering.clients = None

    def release_held(self) -> None:
        """Write what each phone has been sent while gathering, in one write each (gathering goes on)."""
        clients = self._gathering.clients
        if clients:
            self._gathering.clients = []
            for client in clients:
                client.release_held()

    def add(self, client: ClientConnection) -> None:
        client._gathering = self._gathering
        if client.kind is ClientKind.STUDENT:
            assert client.student_id is not None
            self.students.setdefault(client.student_id, set()).add(client)
        elif client.kind is ClientKind.INSTRUCTOR:
            self.instructors.add(client)
        else:
            self.projectors.add(client)

    def remove(self, client: ClientConnection) -> None:
        if client.dropped_reason is not None:
            self.dropped_total += 1
        if client.kind is ClientKind.STUDENT:
            assert client.student_id is not None
            connections = self.students.get(client.student_id)
            if connections is not None:
                connections.discard(client)
                if not connections:
                    del self.students[client.student_id]
        elif client.kind is ClientKind.INSTRUCTOR:
            self.instructors.discard(client)
        else:
            self.projectors.discard(client)

    def student_connections(self) -> Iterator[tuple[str, ClientConnection]]:
        for student_id, connections in list(self.students.items()):
            for client in list(connections):
                yield student_id, client

    def send_to_students(self, text: str) -> None:
        for _, client in self.student_connections():
            client.send(text)

    def close_student(self, student_id: str, code: int, farewell: str | None = None) -> None:
        for client in list(self.students.get(student_id, ())):
            if farewell is not None:
                client.send(farewell)
            client.close(code)

    def send_to_instructors(self, text: str) -> None:
        for client in list(self.instructors):
            client.send(text)

    def send_to_projectors(self, text: str) -> None:
        for client in list(self.projectors):
            client.send(text)

    def all_clients(self) -> Iterator[ClientConnection]:
        for _, client in self.student_connections():
            yield client
        yield from list(self.instructors)
        yield from list(self.projectors)

    @property
    def student_connection_count(self) -> int:
        return sum(len(c) for c in self.students.values())
