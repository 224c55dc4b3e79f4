"""A client's messages leave in order, whether written at once or through its queue (server/room/hub.py).

A transport that can write without waiting gets each message directly while nothing is
queued; a message the socket does not take (or takes only part of) and everything after
it go through the queue and the sender task. These drive `ClientConnection` with a fake
transport that records the bytes "on the wire", on trio's MockClock.
"""

from __future__ import annotations

import trio
from trio.testing import MockClock, wait_all_tasks_blocked

from server.room.hub import ClientConnection, ClientKind, DirectWrite, Hub


class FakeSocket:
    """Takes direct writes whole, not at all, or half, as told; records everything written, in order."""

    def __init__(self) -> None:
        self.wire: list[str] = []
        self.direct_writes: list[list[str]] = []
        self.next_outcomes: list[DirectWrite] = []
        self.tail = ""
        self.batches: list[list[str]] = []
        self.closed: tuple[int, str] | None = None
        self.slow = trio.Event()
        self.slow.set()

    def write_now(self, texts: list[str]) -> DirectWrite:
        outcome = self.next_outcomes.pop(0) if self.next_outcomes else DirectWrite.DONE
        self.direct_writes.append(list(texts))
        if outcome is DirectWrite.DONE:
            self.wire.extend(texts)
        elif outcome is DirectWrite.STARTED:
            text = "".join(texts)
            half = len(text) // 2
            self.wire.append(text[:half])
            self.tail = text[half:]
        return outcome

    async def finish_write(self) -> None:
        await self.slow.wait()
        self.wire.append(self.tail)
        self.tail = ""

    async def send_batch(self, texts: list[str]) -> None:
        await self.slow.wait()
        assert not self.tail, "a message was sent before the rest of a partial write"
        self.batches.append(list(texts))
        self.wire.extend(texts)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)


async def test_messages_go_straight_to_the_socket_while_nothing_is_queued(autojump_clock: MockClock) -> None:
    socket = FakeSocket()
    client = ClientConnection(ClientKind.STUDENT, 8, "s1")
    client.write_directly(socket)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run_sender, socket.send_batch, socket.close)
        assert client.send("one") and client.send("two")
        assert socket.wire == ["one", "two"] and socket.batches == []  # no trip through the sender
        client.close(1000)
    assert socket.closed == (1000, "")


async def test_after_a_refused_or_partial_write_everything_waits_its_turn_in_order(autojump_clock: MockClock) -> None:
    socket = FakeSocket()
    client = ClientConnection(ClientKind.STUDENT, 8, "s1")
    client.write_directly(socket)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run_sender, socket.send_batch, socket.close)
        socket.slow = trio.Event()  # the peer reads slowly: the sender's writes wait
        socket.next_outcomes = [DirectWrite.REFUSED]
        client.send("a-refused")
        client.send("b")  # queued behind the refused one, not written directly
        assert socket.wire == []
        socket.slow.set()
        await wait_all_tasks_blocked()  # the sender has written all it could
        assert socket.wire == ["a-refused", "b"]
        assert socket.batches == [["a-refused", "b"]]  # both in one socket write

        socket.slow = trio.Event()
        socket.next_outcomes = [DirectWrite.STARTED]
        client.send("c-partly")
        client.send("d")
        assert socket.wire[2:] == ["c-pa"]  # half of it
        socket.slow.set()
        await wait_all_tasks_blocked()
        assert "".join(socket.wire[2:4]) == "c-partly" and socket.wire[4] == "d"

        client.send("e")  # the queue is empty again: straight to the socket
        assert socket.wire[-1] == "e" and socket.batches[-1] == ["d"]
        client.close(1000)


async def test_a_client_whose_queue_fills_behind_a_stalled_write_is_dropped(autojump_clock: MockClock) -> None:
    socket = FakeSocket()
    client = ClientConnection(ClientKind.STUDENT, 4, "s1")
    client.write_directly(socket)
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run_sender, socket.send_batch, socket.close)
            socket.slow = trio.Event()  # never set: the peer stopped reading
            socket.next_outcomes = [DirectWrite.STARTED]
            sent = [client.send(f"m{i}") for i in range(8)]
            assert client.dropped_reason == "outbound queue full" and sent.count(False) >= 1
            scope.cancel()
    assert socket.wire == ["m"]  # half of m0 went out; nothing after it overtook the rest


async def test_a_reveal_and_the_next_question_leave_each_phone_in_one_write(autojump_clock: MockClock) -> None:
    hub = Hub()
    sockets = {name: FakeSocket() for name in ("s1", "s2", "s3")}
    clients = {name: ClientConnection(ClientKind.STUDENT, 8, name) for name in sockets}
    async with trio.open_nursery() as nursery:
        for name, client in clients.items():
            client.write_directly(sockets[name])
            hub.add(client)
            nursery.start_soon(client.run_sender, sockets[name].send_batch, sockets[name].close)
        with hub.gathered():
            for _, client in hub.student_connections():
                client.send("reveal")
            clients["s3"].close(4002)  # closed meanwhile: what it was sent goes before the close
            for _, client in hub.student_connections():
                client.send("next question")  # refused for s3: it is closing
            assert all(socket.wire == [] for socket in sockets.values())  # held
            hub.release_held()
            for name in ("s1", "s2"):
                assert sockets[name].direct_writes == [["reveal", "next question"]]  # one write
            clients["s1"].send("an ack")  # still gathering: held until the end
            assert sockets["s1"].wire == ["reveal", "next question"]
        assert sockets["s1"].wire[-1] == "an ack"
        await wait_all_tasks_blocked()
        assert sockets["s3"].wire == ["reveal"] and sockets["s3"].closed == (4002, "")
        clients["s1"].send("after")  # not gathering: at once
        assert sockets["s1"].direct_writes[-1] == ["after"]
        for name in ("s1", "s2"):
            clients[name].close(1000)
