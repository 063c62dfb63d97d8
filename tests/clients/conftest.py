"""Real redis-server processes on free loopback ports, with ACL users made the way the
role makes them, for the application-side tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from clients_support import ADMIN_PASSWORD, SENTINEL_PASSWORD, Server
from support import REDIS_SERVER, free_port, start_sentinel


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: ``redis_server(timeout=300, maxclients=...)``; the default user needs
    ADMIN_PASSWORD. Every server is shut down at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**options: object) -> Server:
        port = free_port()
        workdir = tmp_path / f"redis-{port}"
        workdir.mkdir()
        args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                "--save", "", "--appendonly", "no", "--requirepass", ADMIN_PASSWORD]  # fmt: skip
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        admin = redis.Redis(port=port, password=ADMIN_PASSWORD, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                admin.ping()
                return Server(port, admin)
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Callable[..., int]]:
    """Factory: ``sentinel({"channels": port, ...})`` starts one Sentinel on loopback
    watching those primaries (quorum 1, logged in to them as their default user),
    its clients logging in with SENTINEL_PASSWORD; its port once it knows them."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(primaries: dict[str, int]) -> int:
        proc, port = start_sentinel(tmp_path, primaries, SENTINEL_PASSWORD, ADMIN_PASSWORD)
        procs.append(proc)
        return port

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)
