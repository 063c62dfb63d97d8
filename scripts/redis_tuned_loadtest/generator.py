"""One load-generator process of the capacity study (``redis-tuned-loadtest capacity``).

The study runs several of these, so that the load generator is not the hidden limit;
each holds its share of the WebSocket clients, connected once, and sends at the rate
each step asks for. It reads one JSON command per line on standard input and answers
each with one JSON line on standard output:

- ``{"cmd": "connect", "bases": [host:port...], "first": i, "count": n, "group_size": g,
  "ramp": s}``: clients ``first .. first+n-1``, client ``i`` in room ``i // g`` on
  application process ``bases[i % len(bases)]`` (a room spans the processes: its
  broadcast crosses Redis). Answer: ``connected``, ``errors``.
- ``{"cmd": "step", "rate": r, "start": t, "duration": d}``: every client sends ``r``
  messages/s during ``[t, t + d)`` (``t`` on the monotonic clock, which every process
  on the machine shares), then waits up to ``DRAIN`` s for its own copies. Answer: the
  latencies of own messages back, ``sent``, ``back``, ``delivered`` and ``expected``
  copies, ``errors``, ``connected`` (still open).
- ``{"cmd": "close"}``: closes every client and answers (the next setup connects
  its own). The end of standard input closes them too and ends the process.

Every wait has a deadline; nothing is sent anywhere but the bases given.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from redis_tuned_loadtest import gcwatch
from redis_tuned_loadtest.driver import (
    CONNECT_TIMEOUT,
    DRAIN,
    MAX_RECEIVED,
    exception_kind,
    parse_message,
)

CLOSE_TIMEOUT = 3.0
COMMAND_LIMIT = 1 << 20  # bytes in one command line


@dataclass
class StepStats:
    start: float
    end: float
    latencies_ms: list[float] = field(default_factory=list)
    sent: int = 0
    back: int = 0
    delivered: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Client:
    me: int
    room: int
    ws: ClientConnection
    pending: set[int] = field(default_factory=set)
    seq: int = 0
    received: int = 0
    receiver: asyncio.Task[None] | None = None


class Generator:
    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.errors: Counter[str] = Counter()
        self.step: StepStats | None = None
        self.room_size: Counter[int] = Counter()

    async def connect(
        self, bases: list[str], first: int, count: int, group: int, ramp: float
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        began = loop.time()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, began + (i - first) * ramp / max(count, 1) - loop.time()))
            base = bases[i % len(bases)]
            room = i // group
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    ws = await connect(
                        f"ws://{base}/ws/room/{room}",
                        ping_interval=None,
                        close_timeout=2,
                        max_queue=64,
                    )
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.errors[f"websocket connect: {exception_kind(exc)}"] += 1
                return
            client = Client(i, room, ws)
            client.receiver = asyncio.create_task(self._receive(client))
            self.clients.append(client)
            self.room_size[room] += 1

        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        return {"connected": len(self.clients), "errors": dict(self.errors)}

    async def _receive(self, client: Client) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for text in client.ws:
                now = loop.time()
                client.received += 1
                step = self.step
                if client.received > MAX_RECEIVED:
                    self.errors["client: too many messages"] += 1
                    return
                sender, seq, sent_at = parse_message(text)
                if step is None or sent_at is None or not step.start <= sent_at < step.end:
                    continue
                step.delivered += 1
                if sender == client.me and seq in client.pending:
                    client.pending.discard(seq)
                    step.back += 1
                    step.latencies_ms.append((now - sent_at) * 1000)
        except (OSError, WebSocketException) as exc:
            self.errors[f"websocket closed: {exception_kind(exc)}"] += 1

    async def run_step(self, rate: float, start: float, duration: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        step = self.step = StepStats(start, start + duration)
        gcwatch.read()  # this step's pauses only
        before = Counter(self.errors)
        sent_by_room: Counter[int] = Counter()

        async def send(client: Client) -> None:
            interval = 1.0 / rate
            due = start + random.uniform(0, interval)
            client.pending.clear()
            try:
                while due < step.end and client.receiver is not None and not client.receiver.done():
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    now = loop.time()
                    if now >= step.end:  # woken late: past the window, not its message
                        break
                    client.pending.add(client.seq)
                    step.sent += 1
                    sent_by_room[client.room] += 1
                    await client.ws.send(f"{client.me} {client.seq} {now!r}")
                    client.seq += 1
                    due += interval
            except (OSError, WebSocketException) as exc:
                step.errors[f"websocket send: {exception_kind(exc)}"] += 1

        await asyncio.gather(*(send(c) for c in self.clients))
        deadline = max(loop.time(), step.end) + DRAIN
        while loop.time() < deadline and any(c.pending for c in self.clients):
            await asyncio.sleep(0.05)
        await asyncio.sleep(
            max(0.0, min(deadline, step.end + 0.5) - loop.time())
        )  # the room's last copies
        self.step = None
        errors = step.errors + (self.errors - before)
        return {
            "latencies_ms": [round(x, 3) for x in step.latencies_ms],
            "sent": step.sent,
            "back": step.back,
            "delivered": step.delivered,
            "expected": sum(n * self.room_size[r] for r, n in sent_by_room.items()),
            "errors": dict(errors),
            "gc": gcwatch.read(),
            "connected": sum(
                1 for c in self.clients if c.receiver is not None and not c.receiver.done()
            ),
        }

    async def close(self) -> dict[str, Any]:
        async def one(client: Client) -> None:
            if client.receiver is not None:
                client.receiver.cancel()
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await client.ws.close()
            except (OSError, TimeoutError, WebSocketException):
                pass

        await asyncio.gather(*(one(c) for c in self.clients))
        closed = len(self.clients)
        self.clients.clear()
        self.room_size.clear()
        self.errors.clear()
        return {"closed": closed}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=COMMAND_LIMIT, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gen = Generator()
    while True:
        line = await reader.readline()
        if not line:
            await gen.close()
            return
        kind = None
        try:
            cmd = json.loads(line)
            kind = cmd["cmd"]
            if kind == "connect":
                answer = await gen.connect(
                    [str(b) for b in cmd["bases"]],
                    int(cmd["first"]),
                    int(cmd["count"]),
                    int(cmd["group_size"]),
                    float(cmd["ramp"]),
                )
            elif kind == "step":
                answer = await gen.run_step(
                    float(cmd["rate"]), float(cmd["start"]), float(cmd["duration"])
                )
            elif kind == "close":
                answer = await gen.close()
            else:
                answer = {"error": f"unknown command {kind!r}"}
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"error": f"bad command: {type(exc).__name__}: {exc}"}
        answer["cpu_s"] = time.process_time()
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def main() -> None:
    gcwatch.install()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
