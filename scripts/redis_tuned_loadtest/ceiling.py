"""Redis's own ceiling for the channel layers' command shapes, on the instance under
test: pipelined connections that send the shape of one message over and over, as fast
as the server answers (``redis-tuned-loadtest capacity`` runs several of these
processes and reads the server's CPU meanwhile).

Why not redis-benchmark: it takes a password only as ``-a`` on its command line, where
``ps`` shows it to every user of the machine. This speaks RESP itself (hiredis parses
the replies), the password read from the environment.

Shapes, one message each:

- ``core``: what channels_redis's core layer sends for one ``group_send`` to a room
  and its delivery: ``ZREMRANGEBYSCORE`` (the group's expired members), ``ZRANGE`` (the
  members), ``ZREMRANGEBYSCORE`` (the channel's expired messages), ``EVAL`` (its
  group_send script: ``ZCOUNT``, ``ZADD``, ``EXPIRE``), and the receiving process's
  ``ZPOPMIN`` (the ``BZPOPMIN`` of its receive loop, which finds the message waiting);
- ``pubsub``: the pubsub layer's ``PUBLISH`` to the group's channel, one subscriber
  (as an application process is) reading every message.

Run as ``python -m redis_tuned_loadtest.ceiling SHAPE HOST PORT SECONDS`` with
``$REDIS_CEILING_USER``/``$REDIS_CEILING_PASSWORD``; prints one JSON line: messages,
seconds, the process's CPU seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import hiredis

CONNECTIONS = 4
DEPTH = 64  # messages in flight per connection
KEY = "asgi:redis-tuned-ceiling"  # the channels ACL rules allow ~asgi*
# The shape of channels_redis's group_send script (ZCOUNT under capacity, ZADD, EXPIRE).
GROUP_SEND = (
    "local n = 0 for i=1,#KEYS do if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < "
    "tonumber(ARGV[i + #KEYS]) then redis.call('ZADD', KEYS[i], ARGV[#ARGV - 1], ARGV[i]) "
    "redis.call('EXPIRE', KEYS[i], ARGV[#ARGV]) else n = n + 1 end end return n"
)
MESSAGE = "x" * 120  # a chat message with its envelope, about the size the study sends


def command(*parts: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


COMMANDS = {"core": 5, "pubsub": 1}  # per message, as shape() sends them


def shape(kind: str, n: int) -> tuple[bytes, int]:
    """One message's commands on connection ``n``, and how many replies they get."""
    group, channel = f"{KEY}:group", f"{KEY}:channel:{n}"
    if kind == "pubsub":
        return command("PUBLISH", f"{KEY}:pubsub", MESSAGE), 1
    now = str(int(time.time()))
    commands = [
        command("ZREMRANGEBYSCORE", group, "0", "1"),
        command("ZRANGE", group, "0", "-1"),
        command("ZREMRANGEBYSCORE", channel, "0", "1"),
        command("EVAL", GROUP_SEND, "1", channel, MESSAGE, "100", now, "60"),
        command("ZPOPMIN", channel),
    ]
    return b"".join(commands), len(commands)


async def _login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    user, password = os.environ.get("REDIS_CEILING_USER"), os.environ.get("REDIS_CEILING_PASSWORD")
    if not password:
        return
    writer.write(command("AUTH", *([user] if user else []), password))
    await writer.drain()
    reply = await reader.readline()
    if not reply.startswith(b"+OK"):
        raise ConnectionError(f"AUTH refused: {reply[:80]!r}")


async def _connection(kind: str, n: int, host: str, port: int, until: float) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await _login(reader, writer)
        if kind == "core":  # the group has the room's members, as in the study
            writer.write(command("ZADD", f"{KEY}:group", str(2**31), "member-1"))
            await writer.drain()
            await reader.readline()
        burst, replies = shape(kind, n)
        parser = hiredis.Reader()
        done = 0
        while time.monotonic() < until:
            writer.write(burst * DEPTH)
            await writer.drain()
            want = replies * DEPTH
            while want:
                reply = parser.gets()
                if reply is False:
                    data = await reader.read(1 << 16)
                    if not data:
                        raise ConnectionError("closed by the server")
                    parser.feed(data)
                elif isinstance(reply, hiredis.ReplyError):
                    raise ConnectionError(f"the server refused: {reply}")
                else:
                    want -= 1
            done += DEPTH
        return done
    finally:
        writer.close()


PUSHED = b"$7\r\nmessage\r\n"  # how each message pushed to a subscriber begins


async def _subscriber(host: str, port: int, subscribed: asyncio.Event, stop: asyncio.Event) -> int:
    """The pubsub shape's one subscriber: counts the messages pushed to it (a message
    counts once delivered: a subscriber that falls behind is cut off by Redis's
    client-output-buffer-limit, and then PUBLISH would cost nothing)."""
    reader, writer = await asyncio.open_connection(host, port)
    count, tail = 0, b""
    try:
        await _login(reader, writer)
        writer.write(command("SUBSCRIBE", f"{KEY}:pubsub"))
        await writer.drain()
        await reader.readuntil(b":1\r\n")  # the subscription confirmed
        subscribed.set()
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.5):
                    data = await reader.read(1 << 16)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError("the subscriber was cut off by the server")
            chunk = tail + data
            count += chunk.count(PUSHED)
            tail = chunk[-(len(PUSHED) - 1) :]
        return count
    finally:
        writer.close()


async def measure(kind: str, host: str, port: int, seconds: float) -> dict[str, float]:
    subscribed, stop = asyncio.Event(), asyncio.Event()
    subscriber = None
    if kind == "pubsub":
        subscriber = asyncio.create_task(_subscriber(host, port, subscribed, stop))
        async with asyncio.timeout(10):
            await asyncio.wait(
                [subscriber, asyncio.create_task(subscribed.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        if subscriber.done():
            await subscriber  # its error
    began = time.monotonic()
    try:
        counts = await asyncio.gather(
            *(_connection(kind, n, host, port, began + seconds) for n in range(CONNECTIONS))
        )
    finally:
        elapsed = time.monotonic() - began
        if subscriber is not None:
            await asyncio.sleep(0.5)  # what is still on its way
            stop.set()
    delivered = await subscriber if subscriber is not None else sum(counts)
    return {
        "messages": float(delivered),
        "sent": float(sum(counts)),
        "seconds": elapsed,
        "cpu_s": time.process_time(),
    }


def main(argv: list[str]) -> int:
    kind, host, port, seconds = argv[0], argv[1], int(argv[2]), min(float(argv[3]), 120.0)
    if kind not in ("core", "pubsub"):
        sys.stderr.write(f"unknown shape {kind!r}\n")
        return 2
    try:
        result = asyncio.run(measure(kind, host, port, seconds))
    except (OSError, ConnectionError, hiredis.ProtocolError) as exc:
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
