"""The students' websocket and POST /join served without Hypercorn (server/web/front_door.py, websocket_server.py).

The contract tests (test_hostile_input, test_faults, test_end_to_end…) run through it
already; these pin down what only the lean server itself does: which connections it
takes, RFC 6455 details a browser relies on, and that Hypercorn still sees every other
connection exactly as it arrived.
"""

from __future__ import annotations

import json
import os
import struct
from urllib.parse import urlparse

import h11
import httpx
import pytest
import trio
from wsproto.frame_protocol import CloseReason

from server.serve import RunningServer
from server.web.security import MAX_BODY_BYTES
from server.web.websocket_server import FrameReader, ProtocolViolation, accept_token, frame, unmask
from tests.helpers import WAIT_S, WebSocketClient, WebSocketRejected, join_all


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        header = struct.pack("!BB", first, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", first, 0x80 | 126, len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_accept_token_is_rfc_6455s_example() -> None:
    assert accept_token("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_frames_are_read_whole_whatever_the_reads_split() -> None:
    data = masked(0x1, b"hello") + masked(0x1, b"x" * 300) + masked(0x9, b"p")
    reader = FrameReader(16 * 1024)
    got: list[tuple[int, bytes]] = []
    for byte in data:  # one byte at a time: every header length, every mask, split
        reader.buffer.append(byte)
        while (item := reader.next_frame()) is not None:
            got.append((item.opcode, item.payload))
    assert got == [(0x1, b"hello"), (0x1, b"x" * 300), (0x9, b"p")]


def test_unmask_is_rfc_6455s_xor() -> None:
    mask, payload = b"\x37\xfa\x21\x3d", b"\x7f\x9f\x4d\x51\x58"
    assert unmask(payload, mask) == b"Hello"
    assert unmask(b"", mask) == b""


def test_broken_frames_are_protocol_errors() -> None:
    cases = {
        b"\x81\x05hello": 1002,  # not masked
        b"\xc1\x80abcd": 1002,  # a reserved bit (no extension was agreed)
        b"\x09\x80abcd": 1002,  # a fragmented ping
        b"\x81\xff" + struct.pack("!Q", 1 << 20) + b"abcd": 1009,  # announced over the limit
    }
    for data, code in cases.items():
        reader = FrameReader(16 * 1024, data)
        try:
            reader.next_frame()
        except ProtocolViolation as violation:
            assert violation.code == code, data
        else:
            raise AssertionError(f"{data!r} was accepted")
    assert frame(0x1, b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"  # 16-bit length for 126-65535 bytes


async def raw_upgrade(server: RunningServer, cookie: str, *, split: bool = False) -> tuple[trio.SocketStream, bytes]:
    """Open /ws/student by hand; the stream and whatever followed the 101 head."""
    url = urlparse(server.url)
    assert url.hostname is not None and url.port is not None
    stream = await trio.open_tcp_stream(url.hostname, url.port)
    request = (
        f"GET /ws/student HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
    ).encode()
    if split:  # a byte at a time: the front door must wait for the whole request line and head
        for byte in request:
            await stream.send_all(bytes([byte]))
            await trio.sleep(0.001)
    else:
        await stream.send_all(request)
    head = b""
    with trio.fail_after(WAIT_S):
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(65536)
    status, _, rest = head.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101 "), status
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in status
    return stream, rest


async def read_frames(stream: trio.SocketStream, buffer: bytes, until_opcode: int) -> list[tuple[int, bytes]]:
    """Server frames (unmasked) until one with `until_opcode`."""
    frames: list[tuple[int, bytes]] = []
    with trio.fail_after(WAIT_S):
        while True:
            while len(buffer) >= 2:
                length, offset = buffer[1] & 0x7F, 2
                if length == 126:
                    (length,), offset = struct.unpack_from("!H", buffer, 2), 4
                if len(buffer) < offset + length:
                    break
                frames.append((buffer[0] & 0x0F, buffer[offset : offset + length]))
                buffer = buffer[offset + length :]
                if frames[-1][0] == until_opcode:
                    return frames
            data = await stream.receive_some(65536)
            assert data, f"connection closed after {frames}"
            buffer += data


async def test_a_byte_at_a_time_handshake_pings_and_the_closing_handshake(server: RunningServer) -> None:
    cookies = await join_all(server.url, ["s1"])
    stream, rest = await raw_upgrade(server, cookies["s1"], split=True)
    frames = await read_frames(stream, rest, 0x1)
    assert json.loads(frames[0][1])["type"] == "state"
    await stream.send_all(masked(0x9, b"are you there"))
    frames = await read_frames(stream, b"", 0xA)
    assert frames[-1] == (0xA, b"are you there")  # a protocol ping gets its pong
    # A message in three fragments, with a ping between them, is one message.
    message = json.dumps({"type": "ping"}).encode()
    await stream.send_all(masked(0x1, message[:3], fin=False) + masked(0x9, b"") + masked(0x0, message[3:6], fin=False))
    await stream.send_all(masked(0x0, message[6:]))
    frames = await read_frames(stream, b"", 0x1)
    assert [json.loads(payload)["type"] for opcode, payload in frames if opcode == 0x1] == ["pong"]
    # The client closes with 4321: the server answers with the same code and ends the connection.
    await stream.send_all(masked(0x8, struct.pack("!H", 4321) + b"bye"))
    frames = await read_frames(stream, b"", 0x8)
    assert frames[-1] == (0x8, struct.pack("!H", 4321))
    with trio.fail_after(WAIT_S):
        assert await stream.receive_some(100) == b""
    await stream.aclose()


async def test_an_unmasked_frame_closes_the_socket_with_1002(server: RunningServer) -> None:
    cookies = await join_all(server.url, ["s1"])
    stream, rest = await raw_upgrade(server, cookies["s1"])
    await read_frames(stream, rest, 0x1)
    await stream.send_all(b"\x81\x02{}")
    frames = await read_frames(stream, b"", 0x8)
    assert struct.unpack_from("!H", frames[-1][1])[0] == CloseReason.PROTOCOL_ERROR
    await stream.aclose()


async def test_other_requests_reach_hypercorn_as_they_arrived(server: RunningServer) -> None:
    url = urlparse(server.url)
    assert url.hostname is not None and url.port is not None
    # Two requests on one kept-alive connection, the first split before its path is known.
    stream = await trio.open_tcp_stream(url.hostname, url.port)
    await stream.send_all(b"GE")
    await trio.sleep(0.01)
    await stream.send_all(b"T /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    with trio.fail_after(WAIT_S):
        while b"HTTP/1.1 200 " not in received or not received.rstrip().endswith(b"}"):
            received += await stream.receive_some(65536)
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        while received.count(b'"storage_ok"') < 2:
            received += await stream.receive_some(65536)
    assert received.count(b"HTTP/1.1 200 ") == 2, received[:300]
    await stream.aclose()
    # /ws/student without an upgrade, and a websocket version the lean server does not speak, go to Hypercorn too.
    async with httpx.AsyncClient(base_url=server.url) as http:
        plain = await http.get("/ws/student")
        old = await http.get(
            "/ws/student",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "8",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
    assert plain.status_code in (400, 404, 405, 426) and old.status_code in (400, 404, 405, 426)


async def test_a_refused_handshake_is_an_http_answer(server: RunningServer) -> None:
    with pytest.raises(WebSocketRejected) as refused:
        await WebSocketClient.open(server.url, "/ws/student", headers=[(b"origin", b"https://evil.example")])
    assert refused.value.status == 403


def test_the_lean_server_takes_only_clean_upgrades() -> None:
    from server.web.front_door import _parse_upgrade

    good = (
        b"GET /ws/student?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nrest"
    )
    upgrade = _parse_upgrade(good)
    assert upgrade is not None and upgrade.rest == b"rest" and upgrade.request.target == b"/ws/student?x=1"
    for change in (
        (b"Upgrade: WebSocket", b"Upgrade: h2c"),
        (b"Connection: Upgrade", b"Connection: keep-alive"),
        (b"Version: 13", b"Version: 8"),
        (b"Key: dGhlIHNhbXBsZSBub25jZQ==", b"Key: short"),
        (b"HTTP/1.1\r\n", b"HTTP/1.0\r\n"),
        (b"\r\n\r\nrest", b"\r\n"),
    ):
        assert _parse_upgrade(good.replace(*change)) is None, change


# ---------------------------------------------------------------- POST /join at the front door


class RawHttp:
    """One kept-alive HTTP/1.1 connection driven by hand (h11 on the client side), to see what goes on the wire."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self.stream = stream
        self.host = host
        self.client = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, server: RunningServer) -> RawHttp:
        url = urlparse(server.url)
        assert url.hostname is not None and url.port is not None
        return cls(await trio.open_tcp_stream(url.hostname, url.port), url.netloc)

    def post_join(self, body: bytes, *extra: tuple[str, str], length: bool = True) -> bytes:
        headers = [("Host", self.host), ("Content-Type", "application/json"), *extra]
        headers += [("Content-Length", str(len(body)))] if length else [("Transfer-Encoding", "chunked")]
        return (
            self.client.send(h11.Request(method="POST", target="/join", headers=headers))
            + self.client.send(h11.Data(data=body))
            + self.client.send(h11.EndOfMessage())
        )

    async def response(self) -> tuple[h11.Response, bytes]:
        """The next whole response, then ready for the next request on the same connection."""
        response, body = None, b""
        with trio.fail_after(WAIT_S):
            while True:
                event = self.client.next_event()
                if event is h11.NEED_DATA:
                    self.client.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
        assert response is not None
        if self.client.our_state is h11.DONE and self.client.their_state is h11.DONE:
            self.client.start_next_cycle()
        return response, body


async def test_joins_are_answered_at_the_front_door_on_a_kept_alive_connection(server: RunningServer) -> None:
    http = await RawHttp.open(server)
    request = http.post_join(json.dumps({"student_id": "s1", "name": "Ada"}).encode())
    # In three pieces: the method alone, the rest of the head, then the body.
    head_end = request.index(b"\r\n\r\n") + 4
    for piece in (request[:4], request[4:head_end], request[head_end:]):
        await http.stream.send_all(piece)
        await trio.sleep(0.01)
    response, body = await http.response()
    assert response.status_code == 200 and json.loads(body)["student_id"] == "s1"
    headers = dict(response.headers)
    assert headers[b"set-cookie"].startswith(b"quiz_student=") and b"HttpOnly" in headers[b"set-cookie"]
    assert headers[b"cache-control"] == b"no-store" and b"content-security-policy" in headers
    assert b"server" not in headers  # Hypercorn's answers name it: this one came from the front door
    # A refused join on the same connection is the same JSON error as Quart's routes give.
    await http.stream.send_all(http.post_join(b"[1, 2]"))
    response, body = await http.response()
    assert response.status_code == 400 and json.loads(body)["error"] == "bad_json"
    # The next request is not a join: it goes on to Hypercorn on the same connection.
    await http.stream.send_all(http.client.send(h11.Request(method="GET", target="/healthz", headers=[("Host", "x")])))
    await http.stream.send_all(http.client.send(h11.EndOfMessage()))
    response, body = await http.response()
    assert (
        response.status_code == 200 and b"storage_ok" in body and dict(response.headers)[b"server"] == b"hypercorn-h11"
    )
    await http.stream.aclose()
    # Connection: close is honoured: the answer says so and the server hangs up.
    http = await RawHttp.open(server)
    await http.stream.send_all(http.post_join(b'{"student_id": "s2", "name": "Bo"}', ("Connection", "close")))
    response, _ = await http.response()
    assert response.status_code == 200 and (b"connection", b"close") in response.headers
    with trio.fail_after(WAIT_S):
        assert await http.stream.receive_some(100) == b""
    await http.stream.aclose()
    assert set(server.room.record.participants) == {"s1", "s2"}


async def test_joins_the_front_door_does_not_take_are_answered_by_hypercorn_alike(server: RunningServer) -> None:
    http = await RawHttp.open(server)
    await http.stream.send_all(http.post_join(b'{"student_id": "s3", "name": "Cy"}', length=False))
    response, body = await http.response()  # chunked: through Hypercorn to the same route
    assert response.status_code == 200 and json.loads(body)["name"] == "Cy" and b"server" in dict(response.headers)
    await http.stream.aclose()
    http = await RawHttp.open(server)
    huge = b'{"student_id": "s4", "name": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    await http.stream.send_all(http.post_join(huge))
    response, body = await http.response()
    assert response.status_code == 413 and json.loads(body)["error"] == "body_too_large"
    await http.stream.aclose()
    assert "s4" not in server.room.record.participants


def test_the_front_door_takes_only_plain_joins() -> None:
    from server.web.front_door import _parse_join

    good = b"POST /join HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    join = _parse_join(good)
    assert join is not None and join.length == 2 and join.rest == b"{}" and join.keep_alive
    assert not _parse_join(good.replace(b"Host: h", b"Host: h\r\nConnection: close")).keep_alive  # type: ignore[union-attr]
    for change in (
        (b"POST /join ", b"POST /join?x=1 "),
        (b"Content-Length: 2", b"Transfer-Encoding: chunked"),
        (b"Content-Length: 2", b"Content-Length: 2\r\nExpect: 100-continue"),
        (b"Content-Length: 2", f"Content-Length: {MAX_BODY_BYTES + 1}".encode()),
        (b"\r\n\r\n{}", b"\r\n"),
    ):
        assert _parse_join(good.replace(*change)) is None, change


async def test_a_direct_write_the_socket_takes_only_part_of_is_finished_before_anything_else() -> None:
    import socket
    from types import SimpleNamespace

    from server.room.hub import DirectWrite
    from server.web.websocket_server import WebsocketConnection

    ours, theirs = trio.socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # a phone's full buffer, in small
    server_stream, client_stream = trio.SocketStream(ours), trio.SocketStream(theirs)
    config = SimpleNamespace(websocket_max_message_size=16 * 1024, send_stall_timeout=WAIT_S)
    connection = WebsocketConnection(server_stream, {"extensions": {}}, "dGhlIHNhbXBsZSBub25jZQ==", b"", config)
    connection.accepted = True
    big = "x" * 60_000  # more than the socket takes at once
    assert connection.write_now([big]) is DirectWrite.STARTED
    assert connection.write_now(["next"]) is DirectWrite.REFUSED  # the rest of `big` must go first
    async with trio.open_nursery() as nursery:
        nursery.start_soon(connection.finish_write)
        frames = await read_frames(client_stream, b"", 0x1)
    assert frames == [(0x1, big.encode())]
    assert connection.write_now(["next", "and more"]) is DirectWrite.DONE
    expected = frame(0x1, b"next") + frame(0x1, b"and more")  # both in one write
    received = b""
    with trio.fail_after(WAIT_S):
        while len(received) < len(expected):
            received += await client_stream.receive_some(65536)
    assert received == expected
    await server_stream.aclose()
    await client_stream.aclose()
