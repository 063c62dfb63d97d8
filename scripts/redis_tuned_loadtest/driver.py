"""The load: WebSocket clients in rooms at a fixed message rate, and cache requests over
HTTP keep-alive, all from one asyncio loop with bounded loops and deadlines.

A message carries its sender, its number and the time it was sent (this process's
monotonic clock); the sender's own copy coming back through the group broadcast gives
the end-to-end latency: client -> ASGI server -> channel layer (Redis) -> every member.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0
CACHE_KEYS = 1000
CACHE_WORKERS = 8
DRAIN = 3.0  # seconds a sender waits for its last messages; later ones count as lost
FANOUT_GRACE = 1.0  # seconds after the window that other members' copies may still arrive
MAX_RECEIVED = 10_000_000  # per client: a runaway server cannot grow memory without bound


@dataclass(frozen=True)
class Load:
    clients: int
    rate: float  # messages per second per client
    duration: float  # seconds measured, after the ramp
    ramp: float  # seconds over which clients connect
    group_size: int
    cache_rate: float  # cache requests per second, all workers together
    drain: float = DRAIN


@dataclass
class Window:
    """The measured interval, on the event loop's clock."""

    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    cache_ms: list[float] = field(default_factory=list)
    sent: int = 0  # in the window
    own_back: int = 0  # own messages of the window that came back
    delivered: int = 0  # every copy of a window message received, by all members
    expected: int = 0  # sent x room members
    connected: int = 0
    connected_now: int = 0
    sent_total: int = 0
    received_total: int = 0
    cache_requests: int = 0
    cache_hits: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    room_members: Counter[int] = field(default_factory=Counter)
    sent_by_room: Counter[int] = field(default_factory=Counter)

    def finish(self) -> None:
        self.expected = sum(n * self.room_members[r] for r, n in self.sent_by_room.items())


async def run_clients(base: str, load: Load, window: Window, stats: Stats) -> None:
    """Every client, started over the ramp, sending until the window ends."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = [
        asyncio.create_task(
            _client(i, base, load, window, stats, start + i * load.ramp / load.clients)
        )
        for i in range(load.clients)
    ]
    tasks += [
        asyncio.create_task(_cache_worker(base, load, window, stats, w))
        for w in range(CACHE_WORKERS if load.cache_rate > 0 else 0)
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        stats.finish()


async def _client(
    me: int, base: str, load: Load, window: Window, stats: Stats, start_at: float
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start_at - loop.time()))
    room = me // load.group_size
    pending: set[int] = set()
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            ws = await connect(f"ws://{base}/ws/room/{room}", ping_interval=None, close_timeout=2)
    except (OSError, TimeoutError, WebSocketException) as exc:
        stats.errors[f"websocket connect: {exception_kind(exc)}"] += 1
        return
    stats.connected += 1
    stats.connected_now += 1
    stats.room_members[room] += 1
    receiver = asyncio.create_task(_receive(me, ws, window, stats, pending))
    try:
        interval = 1.0 / load.rate
        due = loop.time() + random.uniform(0, interval)
        seq = 0
        while due < window.end and not receiver.done():
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
            if now in window:
                stats.sent += 1
                stats.sent_by_room[room] += 1
                pending.add(seq)
            await ws.send(f"{me} {seq} {now!r}")
            stats.sent_total += 1
            seq += 1
            due += interval
        # Own copies for up to `drain` seconds; the room's last broadcasts for at least 1 s.
        deadline = min(loop.time(), window.end) + load.drain
        while not receiver.done() and loop.time() < deadline:
            if not pending and loop.time() >= window.end + FANOUT_GRACE:
                break
            await asyncio.sleep(0.05)
    except (OSError, WebSocketException) as exc:
        stats.errors[f"websocket send: {exception_kind(exc)}"] += 1
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        stats.connected_now -= 1
        try:
            async with asyncio.timeout(3):
                await ws.close()
        except (OSError, TimeoutError, WebSocketException):
            pass


async def _receive(me: int, ws: object, window: Window, stats: Stats, pending: set[int]) -> None:
    loop = asyncio.get_running_loop()
    received = 0
    try:
        async for text in ws:  # type: ignore[attr-defined]
            now = loop.time()
            received += 1
            stats.received_total += 1
            if received > MAX_RECEIVED:
                stats.errors["client: too many messages"] += 1
                return
            sender, seq, sent_at = parse_message(text)
            if sent_at is None:
                stats.errors["client: malformed message"] += 1
                continue
            if sent_at in window:
                stats.delivered += 1
                if sender == me and seq in pending:
                    pending.discard(seq)
                    stats.own_back += 1
                    stats.latencies_ms.append((now - sent_at) * 1000)
    except (OSError, WebSocketException) as exc:
        stats.errors[f"websocket closed: {exception_kind(exc)}"] += 1


def parse_message(text: object) -> tuple[int, int, float | None]:
    try:
        sender, seq, sent_at = str(text).split(" ")
        return int(sender), int(seq), float(sent_at)
    except ValueError:
        return -1, -1, None


async def _cache_worker(base: str, load: Load, window: Window, stats: Stats, n: int) -> None:
    """One keep-alive HTTP connection requesting /cache/<key> at its share of the rate."""
    loop = asyncio.get_running_loop()
    host, port = base.rsplit(":", 1)
    interval = CACHE_WORKERS / load.cache_rate
    due = loop.time() + n * interval / CACHE_WORKERS
    stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        while due < window.end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += interval
            started = loop.time()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    if stream is None:
                        stream = await asyncio.open_connection(host, int(port))
                    status, hit = await _get(stream, f"/cache/{random.randrange(CACHE_KEYS)}")
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
                if started in window:
                    stats.errors[f"cache request: {exception_kind(exc)}"] += 1
                if stream is not None:
                    stream[1].close()
                stream = None
                continue
            if started not in window:
                continue
            stats.cache_requests += 1
            if status != 200:
                stats.errors[f"cache request: HTTP {status}"] += 1
                continue
            stats.cache_hits += hit
            stats.cache_ms.append((loop.time() - started) * 1000)
    finally:
        if stream is not None:
            stream[1].close()


async def _get(
    stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str
) -> tuple[int, bool]:
    """One HTTP/1.1 GET on a kept-alive connection: (status, cache hit)."""
    reader, writer = stream
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    words = (await reader.readline()).split()
    if len(words) < 2 or not words[1].isdigit():
        raise ConnectionResetError("no HTTP status line")
    status = int(words[1])
    length = 0
    for _ in range(100):
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(min(length, 1 << 20))
    return status, b'"hit": true' in body


def exception_kind(exc: BaseException) -> str:
    return error_kind(type(exc).__name__, str(exc))


def error_kind(name: str, message: str) -> str:
    """An error's kind for the report: its type and the first words of its message,
    numbers (ports, ids) folded so that one kind is counted once."""
    words = re.sub(r"\d+", "N", " ".join(message.split()))[:60]
    return f"{name}: {words}" if words else name
