"""A throwaway redis-server on a free loopback port, for the benchmarks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """Start redis-server on loopback (no persistence, scratch dir); yield its port."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
             "--save", "", "--appendonly", "no", "--logfile", f"{tmp}/redis.log"],
        )  # fmt: skip
        try:
            admin = redis.Redis(port=port)
            for _ in range(100):  # bounded wait for the server
                with contextlib.suppress(redis.ConnectionError):
                    admin.ping()
                    break
                time.sleep(0.05)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=10)
