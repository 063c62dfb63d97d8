"""Real redis-server processes on free loopback ports, for the verification CLI's tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class Server:
    """One running redis-server: its port, pid, log and an admin client."""

    port: int
    pid: int
    log: Path
    dir: Path
    password: str | None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, decode_responses=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: ``redis_server(maxclients=..., nofile=1024, conf=PATH, requirepass=...)``.

    Keyword arguments become redis-server options (underscores to dashes);
    ``nofile`` starts it under ``prlimit --nofile=N``. Every server started is
    shut down at the end of the test.
    """
    procs: list[subprocess.Popen[bytes]] = []

    def start(nofile: int | None = None, conf: Path | None = None, **options: object) -> Server:
        port = free_port()
        workdir = tmp_path / f"redis-{port}"
        workdir.mkdir()
        log = workdir / "redis.log"
        args = [
            REDIS_SERVER,
            *([str(conf)] if conf else []),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--logfile",
            str(log),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        if nofile is not None:
            args = ["prlimit", f"--nofile={nofile}", *args]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        password = str(options["requirepass"]) if "requirepass" in options else None
        server = Server(port, proc.pid, log, workdir, password)
        deadline = time.monotonic() + 10
        while True:
            try:
                server.client().ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {log.read_text()}") from None
                time.sleep(0.02)
        return server

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
