"""The application under test in its own process: uvicorn serving the Channels app with a
generated settings snippet, on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from redis_tuned_loadtest.driver import error_kind
from redis_tuned_loadtest.redisside import free_port

START_TIMEOUT = 30.0
ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exhausted)): ?(.*)$")


class AppServerError(Exception):
    """The application server did not come up."""


@contextlib.asynccontextmanager
async def serving(
    snippet: Path,
    variant: str,
    log: Path,
    overrides: dict[str, str | None] | None = None,
    pids: list[int] | None = None,
) -> AsyncIterator[str]:
    """Yields host:port once /health answers; the server is stopped after the block.
    ``overrides``: environment variables to set, or to unset where None; ``pids``: the
    server's process id is appended there (the capacity study reads its CPU time)."""
    port = free_port()
    env = dict(os.environ)
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env |= {
        "REDIS_TUNED_LOADTEST_SNIPPET": str(snippet),
        "REDIS_TUNED_LOADTEST_VARIANT": variant,
        "DJANGO_SETTINGS_MODULE": "redis_tuned_loadtest.app.settings",
        "PYTHONUNBUFFERED": "1",
    }
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "redis_tuned_loadtest.app.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backlog",
        "4096",
        "--ws",
        "websockets-sansio",
        "--ws-ping-interval",
        "0",
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "3",
    ]
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=out, stderr=out)
    if pids is not None:
        pids.append(proc.pid)
    try:
        await _wait_ready(port, proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_ready(port: int, proc: asyncio.subprocess.Process, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            if b" 200 " in status:
                return
        except (OSError, TimeoutError):
            pass
        if proc.returncode is not None or loop.time() > deadline:
            tail = " ".join(log.read_text(errors="replace").split())[-300:]
            raise AppServerError(f"the application server did not start: {tail}")
        await asyncio.sleep(0.1)


def errors_in(log: Path) -> Counter[str]:
    """The exceptions the application logged, by kind (type and first words)."""
    found: Counter[str] = Counter()
    with log.open(errors="replace") as lines:
        for line in lines:
            match = ERROR_LINE.match(line.strip())
            if match:
                found[error_kind(match.group(1).rsplit(".", 1)[-1], match.group(2))] += 1
    return found
