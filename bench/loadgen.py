#!/usr/bin/env python3
"""Load generator for a running `quizctl serve`: N students and one instructor over loopback.

Everything goes through the wire contract (shared/PROTOCOL.md), as phones would:

  * each student POSTs /join (its own TCP connection, h11), takes the `quiz_student`
    cookie from Set-Cookie and opens one websocket at /ws/student with it;
  * joins start at a fixed rate (default 200/s) across all generator processes;
  * on each `question_open` a student answers at a uniformly random moment within
    `--spread` seconds, an answer of the question's type (`"B"`, `["A","C"]`, `true`, `3.1`, a word);
  * the instructor (websocket /ws/instructor?token=...) sends `next`, waits until the
    live histogram says every connected student answered (or spread + grace seconds),
    sends `next` again (close + open) ... and a last `next` finishes the session
    (`end_session` when the pool has more questions than `--questions`).

Latencies are measured client-side with `time.monotonic()` (CLOCK_MONOTONIC, one
system-wide clock, so stamps from several generator processes compare directly):

  fan-out  instructor `next` sent -> each student's `question_open`
  ack      student `submit` sent  -> its `submit_ack`
  reveal   the `next` that closed question i -> each student's `question_closed` i

Server cost comes from /proc/<server pid>: CPU seconds (utime+stime, all threads) per
question, and peak RSS (VmHWM). The generator's own CPU use is sampled too, so a run
where the generator (not the server) was the bottleneck is visible, and so is the CPU
everything else on the machine used meanwhile (/proc/stat), so a disturbed run is too.

Students use a minimal one-task websocket client by default (`--client raw`, about half
the CPU per message of trio-websocket, `--client trio-websocket`). They can be split over
several processes (`--procs`); the instructor (trio-websocket) runs in the main process. Traffic is refused unless the server address is a loopback address, and
the whole run is bounded by `--timeout`.

Prints a table and one line `RESULT {json}`.
"""
from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import math
import multiprocessing
import os
import random
import resource
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h11
import trio
import trio_websocket

CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_INTERVAL_S = 0.1


# --------------------------------------------------------------------------- helpers


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def require_loopback(host: str) -> None:
    """Refuse anything but loopback: this tool opens thousands of sockets."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        sys.exit(f"loadgen: cannot resolve {host!r}: {exc}")
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_loopback:
            sys.exit(f"loadgen: refusing non-loopback target {host} ({address}); this benchmark is loopback-only")


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (nearest-rank)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50": round(rank(50) * 1000, 1),
        "p95": round(rank(95) * 1000, 1),
        "p99": round(rank(99) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes on the machine have used (from /proc/stat), all cores together."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / CLK_TCK


def proc_status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_between(samples: list[tuple[float, float]], start: float, end: float) -> float | None:
    """CPU seconds used between two monotonic instants, interpolated from (mono, cpu) samples."""
    if len(samples) < 2:
        return None

    def at(t: float) -> float:
        if t <= samples[0][0]:
            return samples[0][1]
        for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * ((t - t0) / (t1 - t0) if t1 > t0 else 0)
        return samples[-1][1]

    return at(end) - at(start)


def peak_utilization(samples: list[tuple[float, float]], start: float, end: float, window: float = 0.5) -> float | None:
    """Highest CPU use (cores) over any `window`-second stretch of [start, end]."""
    inside = [s for s in samples if start - window <= s[0] <= end + window]
    best = None
    j = 0
    for i in range(len(inside)):
        while j < len(inside) and inside[j][0] - inside[i][0] < window:
            j += 1
        if j < len(inside):
            dt = inside[j][0] - inside[i][0]
            if dt > 0:
                use = (inside[j][1] - inside[i][1]) / dt
                best = use if best is None else max(best, use)
    return best


async def sample_cpu(read: Any, into: list[tuple[float, float]]) -> None:
    while True:
        value = read()
        if value is not None:
            into.append((time.monotonic(), value))
        await trio.sleep(SAMPLE_INTERVAL_S)


async def recv_pipe(conn: Any) -> Any:
    """Receive from a multiprocessing connection without blocking the trio loop."""
    while not conn.poll():
        await trio.lowlevel.wait_readable(conn.fileno())
    return conn.recv()


async def recv_result(conn: Any) -> Any:
    while True:
        kind, payload = await recv_pipe(conn)
        if kind == "result":
            return payload


def trio_time_at(mono: float) -> float:
    return trio.current_time() + (mono - time.monotonic())


# --------------------------------------------------------------------------- HTTP join


class JoinFailed(Exception):
    pass


async def http_join(host: str, port: int, student_id: str, name: str) -> str:
    """POST /join on a fresh connection; return the `quiz_student=...` cookie pair."""
    body = json.dumps({"student_id": student_id, "name": name}).encode()
    connection = h11.Connection(h11.CLIENT)
    request = connection.send(
        h11.Request(
            method="POST",
            target="/join",
            headers=[
                ("Host", f"{host}:{port}"),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("User-Agent", "quizctl-loadgen"),
                ("Connection", "close"),
            ],
        )
    )
    request += connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage())
    stream = await trio.open_tcp_stream(host, port)
    try:
        await stream.send_all(request)
        status, cookie, payload = None, None, b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                for key, value in event.headers:
                    if key == b"set-cookie" and value.startswith(b"quiz_student="):
                        cookie = value.split(b";", 1)[0].decode()
            elif isinstance(event, h11.Data):
                payload += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
    finally:
        await stream.aclose()
    if status != 200 or cookie is None:
        raise JoinFailed(f"HTTP {status}: {payload[:120]!r}")
    return cookie


# --------------------------------------------------------------------------- lean websocket client


class RawClosed(Exception):
    """The server closed the websocket (or the TCP connection ended)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"{code} {reason}".strip())
        self.code = code
        self.reason = reason


class RawWebSocket:
    """A minimal RFC 6455 client: one task, no reader task, no extensions.

    Enough for this benchmark (text frames, fragmentation, ping/pong, close) and about
    a third of the CPU per received message of trio-websocket, which matters when one
    generator process plays thousands of students on the server's own machine.
    """

    def __init__(self, stream: trio.SocketStream, buffered: bytes) -> None:
        self.stream = stream
        self.buffer = bytearray(buffered)
        self.ready: list[str] = []
        self.fragments: list[bytes] = []
        self._pongs: list[bytes] = []
        self.closed = False

    @classmethod
    async def connect(cls, host: str, port: int, path: str, headers: list[tuple[str, str]]) -> "RawWebSocket":
        import base64

        stream = await trio.open_tcp_stream(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in headers]
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                await stream.aclose()
                raise RawClosed(None, "connection closed during handshake")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            await stream.aclose()
            status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
            raise RawClosed(None, f"handshake refused: {status_line}")
        return cls(stream, rest)

    def _parse(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            b0, b1 = buffer[0], buffer[1]
            length, offset = b1 & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = int.from_bytes(buffer[2:10], "big"), 10
            if b1 & 0x80:
                offset += 4  # servers do not mask; tolerate it anyway (payload left masked)
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset:offset + length])
            del buffer[:offset + length]
            opcode = b0 & 0x0F
            if opcode in (0x0, 0x1, 0x2):
                self.fragments.append(payload)
                if b0 & 0x80:
                    self.ready.append(b"".join(self.fragments).decode("utf-8"))
                    self.fragments = []
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                raise RawClosed(code, payload[2:].decode("utf-8", "replace"))
            elif opcode == 0x9:
                self._pongs.append(payload)

    async def get_message(self) -> str:
        while not self.ready:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise RawClosed(1006, "connection lost")
            self.buffer += chunk
            self._pongs = []
            try:
                self._parse()
            except RawClosed:
                self.closed = True
                with trio.move_on_after(1):
                    await self._send_frame(0x8, (1000).to_bytes(2, "big"))
                    await self.stream.aclose()
                raise
            for payload in self._pongs:
                await self._send_frame(0xA, payload)
        return self.ready.pop(0)

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big") if n else b""
        try:
            await self.stream.send_all(header + mask + masked)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise RawClosed(1006, "connection lost") from exc

    async def send_message(self, text: str) -> None:
        await self._send_frame(0x1, text.encode("utf-8"))

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self._send_frame(0x8, (1000).to_bytes(2, "big"))
            with trio.move_on_after(1):  # wait for the server's close frame
                while True:
                    chunk = await self.stream.receive_some(65536)
                    if not chunk:
                        break
        except (RawClosed, OSError, trio.BrokenResourceError):
            pass
        finally:
            await self.stream.aclose()


CLOSED_ERRORS = (trio_websocket.ConnectionClosed, RawClosed)


def close_reason(exc: BaseException) -> str:
    if isinstance(exc, RawClosed):
        return f"{exc.code} {exc.reason}".strip()
    reason = getattr(exc, "reason", None)
    return f"{getattr(reason, 'code', '?')} {getattr(reason, 'reason', '') or ''}".strip()


# --------------------------------------------------------------------------- students (worker process)


WORDS = ("merge", "quick", "heap", "bubble", "stable", "fast", "recursive", "pivot")


def answer_for(question: dict[str, Any], rng: random.Random) -> Any:
    """A plausible answer of the question's type, as a phone would send it."""
    kind = question.get("question_type", "single")
    keys = list(question.get("options") or {})
    if kind == "multiple":
        return sorted(rng.sample(keys, rng.randint(1, len(keys))))
    if kind == "true_false":
        return rng.random() < 0.5
    if kind == "numeric":
        return round(rng.uniform(0, 30), 1)
    if kind == "text" or (kind == "poll" and question.get("open")):
        return rng.choice(WORDS)
    return rng.choice(keys)


@dataclass
class WorkerStats:
    joins_ok: int = 0
    joins_failed: int = 0
    connect_failed: int = 0
    connected: int = 0
    dropped: int = 0
    ended: int = 0
    submits: int = 0
    acks: int = 0
    unacked: int = 0
    skipped: int = 0
    fail_reasons: Counter = field(default_factory=Counter)
    drop_reasons: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    open_recv: dict[int, list[float]] = field(default_factory=dict)
    closed_recv: dict[int, list[float]] = field(default_factory=dict)
    ended_recv: list[float] = field(default_factory=list)
    ack_latency: list[float] = field(default_factory=list)
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)


class StudentWorker:
    def __init__(self, cfg: dict[str, Any], indices: list[int]) -> None:
        self.cfg = cfg
        self.indices = indices
        self.stats = WorkerStats()
        self.settled = 0  # students whose join+connect has succeeded or failed
        self.all_settled = trio.Event()
        self.rng = random.Random(cfg["seed"] * 1000 + (indices[0] if indices else 0))

    def _settle(self) -> None:
        self.settled += 1
        if self.settled == len(self.indices):
            self.all_settled.set()

    async def run_student(self, index: int, t0: float) -> None:
        cfg, stats = self.cfg, self.stats
        await trio.sleep_until(trio_time_at(t0 + index / cfg["join_rate"]))
        student_id = f"lg{index:05d}"
        try:
            with trio.fail_after(cfg["connect_timeout"]):
                cookie = await http_join(cfg["host"], cfg["port"], student_id, f"Load Student {index}")
        except (JoinFailed, OSError, trio.TooSlowError, h11.ProtocolError) as exc:
            stats.joins_failed += 1
            stats.fail_reasons[f"join: {type(exc).__name__}: {str(exc)[:80]}"] += 1
            self._settle()
            return
        stats.joins_ok += 1
        try:
            async with trio.open_nursery() as nursery:
                try:
                    with trio.fail_after(cfg["connect_timeout"]):
                        if cfg["client"] == "raw":
                            ws = await RawWebSocket.connect(cfg["host"], cfg["port"], "/ws/student", [("Cookie", cookie)])
                        else:
                            ws = await trio_websocket.connect_websocket_url(
                                nursery,
                                cfg["ws_base"] + "/ws/student",
                                extra_headers=[(b"Cookie", cookie.encode())],
                            )
                except (OSError, trio.TooSlowError, trio_websocket.HandshakeError, RawClosed) as exc:
                    stats.connect_failed += 1
                    stats.fail_reasons[f"ws: {type(exc).__name__}: {str(exc)[:80]}"] += 1
                    self._settle()
                    return
                stats.connected += 1
                self._settle()
                try:
                    await self._converse(ws, nursery)
                finally:
                    nursery.cancel_scope.cancel()
        except Exception as exc:  # a bug here must not take the other students down
            stats.fail_reasons[f"student task: {type(exc).__name__}: {str(exc)[:80]}"] += 1

    async def _converse(self, ws: Any, nursery: trio.Nursery) -> None:
        stats, spread = self.stats, self.cfg["spread"]
        pending: dict[int, float] = {}  # question_idx -> submit time (replies come in order)
        seen: set[int] = set()
        closed: set[int] = set()
        ended = False

        async def answer(question_idx: int, question: dict[str, Any], delay: float) -> None:
            await trio.sleep(delay)
            if question_idx in closed or ended:
                stats.skipped += 1  # the page locks once the reveal is in; a phone would not submit
                return
            pending[question_idx] = time.monotonic()
            stats.submits += 1
            choice = json.dumps(answer_for(question, self.rng))
            try:
                await ws.send_message(f'{{"type":"submit","question_idx":{question_idx},"answer":{choice}}}')
            except CLOSED_ERRORS:
                pass  # counted by the reader

        try:
            async with trio.open_nursery() as answers:
                try:
                    while True:
                        text = await ws.get_message()
                        now = time.monotonic()
                        message = json.loads(text)
                        kind = message.get("type")
                        if kind == "question_open":
                            idx = message["question_idx"]
                            if idx not in seen:
                                seen.add(idx)
                                stats.open_recv.setdefault(idx, []).append(now)
                                answers.start_soon(answer, idx, message, self.rng.uniform(0, spread))
                        elif kind == "submit_ack":
                            sent = pending.pop(message["question_idx"], None)
                            if sent is not None:
                                stats.acks += 1
                                stats.ack_latency.append(now - sent)
                        elif kind == "error":
                            stats.errors[message.get("code", "?")] += 1
                            if pending:  # the server answers one socket's messages in order
                                pending.pop(next(iter(pending)))
                        elif kind == "question_closed":
                            closed.add(message["question_idx"])
                            stats.closed_recv.setdefault(message["question_idx"], []).append(now)
                        elif kind == "session_ended":
                            stats.ended += 1
                            stats.ended_recv.append(now)
                            ended = True
                            break
                except CLOSED_ERRORS as exc:
                    stats.dropped += 1
                    stats.drop_reasons[close_reason(exc)] += 1
                finally:
                    answers.cancel_scope.cancel()
            if ended and pending:
                # An answer committed just before the close is acked after the reveal; wait for it.
                with trio.move_on_after(2):
                    while pending:
                        text = await ws.get_message()
                        now = time.monotonic()
                        message = json.loads(text)
                        if message.get("type") == "submit_ack":
                            sent = pending.pop(message["question_idx"], None)
                            if sent is not None:
                                stats.acks += 1
                                stats.ack_latency.append(now - sent)
                        elif message.get("type") == "error":
                            stats.errors[message.get("code", "?")] += 1
                            pending.pop(next(iter(pending)))
        except CLOSED_ERRORS:
            pass
        finally:
            stats.unacked += len(pending)
            if ended:
                with trio.move_on_after(2):
                    await ws.aclose()

    async def main(self, conn: Any) -> None:
        command, t0 = await recv_pipe(conn)
        assert command == "start"
        async with trio.open_nursery() as outer:
            outer.start_soon(sample_cpu, time.process_time, self.stats.cpu_samples)

            async def report_ready() -> None:
                if self.indices:
                    await self.all_settled.wait()
                gc.freeze()  # thousands of long-lived connection objects: keep full GC passes short
                s = self.stats
                conn.send(("ready", {"joins_ok": s.joins_ok, "joins_failed": s.joins_failed,
                                     "connect_failed": s.connect_failed, "connected": s.connected}))

            async def stop_on_command() -> None:
                await recv_pipe(conn)  # "stop"
                students_scope.cancel()

            outer.start_soon(report_ready)
            outer.start_soon(stop_on_command)
            with trio.CancelScope() as students_scope:
                async with trio.open_nursery() as students:
                    for index in self.indices:
                        students.start_soon(self.run_student, index, t0)
            outer.cancel_scope.cancel()
        s = self.stats
        conn.send(("result", {
            "joins_ok": s.joins_ok, "joins_failed": s.joins_failed, "connect_failed": s.connect_failed,
            "connected": s.connected, "dropped": s.dropped, "ended": s.ended, "submits": s.submits,
            "acks": s.acks, "unacked": s.unacked, "skipped": s.skipped, "fail_reasons": dict(s.fail_reasons),
            "drop_reasons": dict(s.drop_reasons), "errors": dict(s.errors),
            "open_recv": s.open_recv, "closed_recv": s.closed_recv, "ended_recv": s.ended_recv,
            "ack_latency": s.ack_latency, "cpu_samples": s.cpu_samples,
        }))


def worker_process(conn: Any, cfg: dict[str, Any], indices: list[int]) -> None:
    raise_nofile_limit()
    gc.set_threshold(100_000, 50, 1000)
    try:
        trio.run(StudentWorker(cfg, indices).main, conn)
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------- instructor + coordination


class Instructor:
    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.submitted: dict[int, int] = {}
        self.changed = trio.Event()
        self.errors: list[str] = []
        self.messages = 0
        self.bytes = 0
        self.total_questions: int | None = None

    async def read_forever(self) -> None:
        while True:
            text = await self.ws.get_message()
            self.messages += 1
            self.bytes += len(text)
            head = text[:40]
            if '"live_histogram"' in head:
                message = json.loads(text)
                self.submitted[message["question_idx"]] = message["submitted_count"]
                self.changed.set()
                self.changed = trio.Event()
            elif '"type":"state"' in head:
                self.total_questions = json.loads(text).get("total_questions")
            elif '"error"' in head:
                self.errors.append(text[:200])

    async def wait_answers(self, question_idx: int, expected: int) -> None:
        while self.submitted.get(question_idx, 0) < expected:
            await self.changed.wait()

    async def send(self, kind: str) -> float:
        sent = time.monotonic()
        await self.ws.send_message(json.dumps({"type": kind}))
        return sent


async def coordinate(cfg: dict[str, Any], conns: list[Any]) -> dict[str, Any]:
    server_pid = cfg.get("server_pid")
    server_samples: list[tuple[float, float]] = []
    coordinator_samples: list[tuple[float, float]] = []
    machine_samples: list[tuple[float, float]] = []
    n = cfg["students"]
    result: dict[str, Any] = {"students": n, "questions": cfg["questions"], "spread_s": cfg["spread"],
                              "join_rate": cfg["join_rate"], "procs": len(conns), "client": cfg["client"]}
    t_next: list[float] = []
    with trio.move_on_after(cfg["timeout"]) as overall:
        async with trio.open_nursery() as nursery:
            if server_pid:
                nursery.start_soon(sample_cpu, lambda: proc_cpu_seconds(server_pid), server_samples)
            nursery.start_soon(sample_cpu, time.process_time, coordinator_samples)
            nursery.start_soon(sample_cpu, machine_busy_seconds, machine_samples)
            result["loadavg_at_start"] = round(os.getloadavg()[0], 2)
            ws = await trio_websocket.connect_websocket_url(
                nursery, f"{cfg['ws_base']}/ws/instructor?token={cfg['token']}",
                max_message_size=256 * 1024 * 1024, receive_buffer_size=None, message_queue_size=64,
            )
            instructor = Instructor(ws)
            nursery.start_soon(instructor.read_forever)

            # Joins: every worker starts its students on the same global schedule.
            t0 = time.monotonic() + 0.5
            for conn in conns:
                conn.send(("start", t0))
            ready = {"joins_ok": 0, "joins_failed": 0, "connect_failed": 0, "connected": 0}
            with trio.move_on_after(n / cfg["join_rate"] + cfg["connect_timeout"] + 30):
                for conn in conns:
                    kind, counts = await recv_pipe(conn)
                    assert kind == "ready", kind
                    for key in ready:
                        ready[key] += counts[key]
            t_ready = time.monotonic()
            result["join_phase_s"] = round(t_ready - t0, 2)
            result["connected"] = ready["connected"]
            if server_pid:
                result["server_cpu_join_phase_s"] = _round(cpu_between(server_samples, t0, t_ready), 2)
            await trio.sleep(cfg["settle"])

            # Questions: next, wait for every answer (or spread + grace), next ... next finishes.
            # After the pool's last question `next` finishes the session; when we stop
            # earlier, `end_session` does the same (close the open question, finish).
            expected = ready["connected"]
            for question_idx in range(cfg["questions"]):
                t_next.append(await instructor.send("next"))
                with trio.move_on_at(trio_time_at(t_next[-1] + cfg["spread"] + cfg["grace"])):
                    await instructor.wait_answers(question_idx, expected)
            last = "next" if instructor.total_questions == cfg["questions"] else "end_session"
            result["final_command"] = last
            t_next.append(await instructor.send(last))

            # Wait for the workers' results (students leave on session_ended).
            results = []
            with trio.move_on_after(cfg["end_timeout"]) as end_wait:
                for conn in conns:
                    results.append(await recv_result(conn))
            if end_wait.cancelled_caught:
                for conn in conns:
                    conn.send(("stop", None))
                for conn in conns[len(results):]:
                    results.append(await recv_result(conn))
            result["instructor_messages"] = instructor.messages
            result["instructor_mbytes"] = round(instructor.bytes / 1e6, 1)
            result["instructor_errors"] = instructor.errors[:5]
            if server_pid:
                result["server_peak_rss_mib"] = _round((proc_status_kib(server_pid, "VmHWM") or 0) / 1024, 1)
                result["server_rss_end_mib"] = _round((proc_status_kib(server_pid, "VmRSS") or 0) / 1024, 1)
            nursery.cancel_scope.cancel()
    if overall.cancelled_caught:
        result["timed_out"] = True
        return result
    return _merge(cfg, result, t_next, results, server_samples, coordinator_samples, machine_samples)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _merge(cfg, result, t_next, results, server_samples, coordinator_samples, machine_samples) -> dict[str, Any]:
    q = cfg["questions"]
    total = Counter()
    for key in ("joins_ok", "joins_failed", "connect_failed", "connected", "dropped", "ended", "submits", "acks", "unacked", "skipped"):
        total[key] = sum(r[key] for r in results)
    errors, fail_reasons, drop_reasons = Counter(), Counter(), Counter()
    fanout, reveal, acks, ended_recv = [], [], [], []
    fanout_by_q: dict[int, list[float]] = {}
    reveal_by_q: dict[int, list[float]] = {}
    for r in results:
        errors.update(r["errors"])
        fail_reasons.update(r["fail_reasons"])
        drop_reasons.update(r["drop_reasons"])
        acks.extend(r["ack_latency"])
        ended_recv.extend(r["ended_recv"])
        for idx, stamps in r["open_recv"].items():
            fanout_by_q.setdefault(idx, []).extend(t - t_next[idx] for t in stamps)
        for idx, stamps in r["closed_recv"].items():
            reveal_by_q.setdefault(idx, []).extend(t - t_next[idx + 1] for t in stamps)
    for values in fanout_by_q.values():
        fanout.extend(values)
    for values in reveal_by_q.values():
        reveal.extend(values)
    expected_deliveries = total["connected"] * q
    result.update({
        "joins_failed": total["joins_failed"] + total["connect_failed"],
        "sockets_dropped": total["dropped"],
        "answers_without_ack": total["unacked"],
        "answers_sent": total["submits"],
        "answers_acked": total["acks"],
        "answer_errors": dict(errors),
        "answers_skipped_after_reveal": total["skipped"],
        "question_open_missing": expected_deliveries - len(fanout),
        "question_closed_missing": expected_deliveries - len(reveal),
        "session_ended_received": total["ended"],
        "fanout_ms": percentiles(fanout),
        "ack_ms": percentiles(acks),
        "reveal_ms": percentiles(reveal),
        # per question: [p50, max] in ms, to tell a steady cost from a one-off stall
        "fanout_by_question_ms": [[percentiles(fanout_by_q.get(i, []))[k] for k in ("p50", "max")] for i in range(q)],
        "reveal_by_question_ms": [[percentiles(reveal_by_q.get(i, []))[k] for k in ("p50", "max")] for i in range(q)],
        "next_times_s": [round(t - t_next[0], 3) for t in t_next],
    })
    if fail_reasons:
        result["join_fail_reasons"] = dict(fail_reasons.most_common(5))
    if drop_reasons:
        result["drop_reasons"] = dict(drop_reasons.most_common(5))
    start = t_next[0]
    end = max(ended_recv) if ended_recv else t_next[-1]
    result["question_phase_s"] = round(end - start, 2)
    server_cpu = cpu_between(server_samples, start, end)
    if server_cpu is not None:
        result["server_cpu_per_question_s"] = round(server_cpu / q, 3)
        result["server_cpu_util"] = round(server_cpu / (end - start), 2)
        result["server_cpu_peak"] = _round(peak_utilization(server_samples, start, end), 2)
    utils = []
    peaks = []
    for r in results + [{"cpu_samples": coordinator_samples}]:
        samples = [tuple(s) for s in r["cpu_samples"]]
        used = cpu_between(samples, start, end)
        if used is not None:
            utils.append(used / (end - start))
            peaks.append(peak_utilization(samples, start, end) or 0)
    result["gen_cpu_util"] = [round(u, 2) for u in utils]  # per worker, the instructor process last
    result["gen_cpu_peak"] = [round(p, 2) for p in peaks]
    # Everything else on the machine (other users' tests, browsers...) during the question phase,
    # in cores: a number well above 0 means the run competed for the 2 CPUs and is not clean.
    machine = cpu_between(machine_samples, start, end)
    if machine is not None and server_cpu is not None:
        others = machine - server_cpu - sum(utils) * (end - start)
        result["other_cpu_util"] = round(max(0.0, others) / (end - start), 2)
    return result


# --------------------------------------------------------------------------- output


COLUMNS = [
    ("N", lambda r: r["students"]),
    ("joinfail", lambda r: r.get("joins_failed")),
    ("drops", lambda r: r.get("sockets_dropped")),
    ("noack", lambda r: r.get("answers_without_ack")),
    ("fanout p50/p95/p99/max ms", lambda r: _pct(r.get("fanout_ms"))),
    ("ack p50/p95/p99/max ms", lambda r: _pct(r.get("ack_ms"))),
    ("reveal p50/p95/p99/max ms", lambda r: _pct(r.get("reveal_ms"))),
    ("srv CPU s/q", lambda r: r.get("server_cpu_per_question_s")),
    ("ms/st/q", lambda r: _per_student(r.get("server_cpu_per_question_s"), r)),
    ("join ms/st", lambda r: _per_student(r.get("server_cpu_join_phase_s"), r)),
    ("srv peak RSS MiB", lambda r: r.get("server_peak_rss_mib")),
    ("dash KB/s", lambda r: _dashboard_rate(r)),
    ("gen CPU", lambda r: "/".join(str(u) for u in r.get("gen_cpu_util", []))),
    ("other CPU", lambda r: r.get("other_cpu_util")),
]


def _per_student(seconds: float | None, r: dict[str, Any]) -> str | None:
    """Server CPU in milliseconds per student (the issue's unit)."""
    return None if seconds is None or not r.get("students") else f"{seconds * 1000 / r['students']:.3f}"


def _dashboard_rate(r: dict[str, Any]) -> str | None:
    """What the dashboard received, per second of the run."""
    seconds = (r.get("join_phase_s") or 0) + (r.get("question_phase_s") or 0)
    megabytes = r.get("instructor_mbytes")
    return None if megabytes is None or not seconds else f"{megabytes * 1000 / seconds:.0f}"


def _pct(p: dict | None) -> str:
    if not p or p.get("p50") is None:
        return "-"
    return "/".join(f"{p[k]:.0f}" for k in ("p50", "p95", "p99", "max"))


def format_table(rows: list[dict[str, Any]]) -> str:
    cells = [[name for name, _ in COLUMNS]] + [[str(get(r)) if get(r) is not None else "-" for _, get in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8000 (loopback only)")
    parser.add_argument("--token", help="instructor token (or --data-dir to read DATA_DIR/admin.token)")
    parser.add_argument("--data-dir", help="the server's data dir (for admin.token)")
    parser.add_argument("--students", "-n", type=int, default=500)
    parser.add_argument("--questions", "-q", type=int, default=5)
    parser.add_argument("--spread", type=float, default=3.0, help="answers come at a uniformly random moment in [0, spread] s")
    parser.add_argument("--grace", type=float, default=1.0, help="instructor waits at most spread + grace s per question")
    parser.add_argument("--join-rate", type=float, default=200.0, help="joins per second (all processes together)")
    parser.add_argument("--procs", type=int, default=0, help="student processes (0: 1 per 2,500 students)")
    parser.add_argument("--server-pid", type=int, help="server pid, for CPU and RSS from /proc")
    parser.add_argument("--timeout", type=float, default=300.0, help="global time bound in seconds")
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    parser.add_argument("--end-timeout", type=float, default=20.0, help="wait this long for session_ended after the last next")
    parser.add_argument("--settle", type=float, default=1.0, help="pause after every student is connected")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--client", choices=["raw", "trio-websocket"], default="raw",
                        help="student websocket client: a lean one-task RFC 6455 client, or trio-websocket")
    parser.add_argument("--json-only", action="store_true", help="print only the RESULT line")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = urlsplit(args.url)
    if parts.scheme != "http" or not parts.hostname:
        sys.exit("loadgen: --url must be http://HOST:PORT")
    require_loopback(parts.hostname)
    token = args.token
    if token is None and args.data_dir:
        with open(os.path.join(args.data_dir, "admin.token")) as handle:
            token = handle.read().strip()
    if not token:
        sys.exit("loadgen: give --token or --data-dir")
    nofile = raise_nofile_limit()
    procs = args.procs or max(1, math.ceil(args.students / 2500))
    if args.students + 64 > nofile * procs:
        sys.exit(f"loadgen: open-files limit {nofile} too low for {args.students} students in {procs} process(es)")
    host = parts.hostname
    port = parts.port or 80
    cfg = {
        "host": host, "port": port, "ws_base": f"ws://{host}:{port}", "token": token,
        "students": args.students, "questions": args.questions, "spread": args.spread, "grace": args.grace,
        "join_rate": args.join_rate, "server_pid": args.server_pid, "timeout": args.timeout,
        "connect_timeout": args.connect_timeout, "end_timeout": args.end_timeout, "settle": args.settle,
        "seed": args.seed, "client": args.client,
    }
    conns, workers = start_workers(procs, cfg, args.students)
    try:
        gc.set_threshold(100_000, 50, 1000)
        result = trio.run(coordinate, cfg, conns)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
    return result


def start_workers(procs: int, cfg: dict, students: int) -> tuple[list, list]:
    """Fork `procs` student processes (before any trio loop or browser thread exists), students dealt round-robin.

    Returns each process's end of its pipe, and the processes.
    """
    context = multiprocessing.get_context("fork")
    conns, workers = [], []
    for w in range(procs):
        parent, child = context.Pipe()
        indices = list(range(w, students, procs))
        worker = context.Process(target=worker_process, args=(child, cfg, indices), daemon=True)
        worker.start()
        child.close()
        conns.append(parent)
        workers.append(worker)
    return conns, workers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    if not args.json_only:
        if result.get("timed_out"):
            print(f"TIMED OUT after {args.timeout:g} s")
        print(format_table([result]))
        extras = {k: result[k] for k in ("answer_errors", "answers_skipped_after_reveal", "join_fail_reasons", "drop_reasons", "question_open_missing",
                                         "question_closed_missing", "server_cpu_util", "server_cpu_peak",
                                         "gen_cpu_peak", "join_phase_s", "question_phase_s",
                                         "fanout_by_question_ms", "reveal_by_question_ms",
                                         "loadavg_at_start") if k in result}
        print("details:", json.dumps(extras))
    print("RESULT " + json.dumps(result, separators=(",", ":")))
    return 0 if not result.get("timed_out") else 1


if __name__ == "__main__":
    sys.exit(main())
