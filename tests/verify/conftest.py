"""Real redis-server processes on free loopback ports, for the verification CLI's tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from support import REDIS_SERVER, free_port, own_ca, server_cert


@dataclass
class Server:
    """One running redis-server: its port, pid, log and an admin client."""

    port: int
    pid: int
    log: Path
    dir: Path
    password: str | None
    tls: Path | None = None
    tls_port: int | None = None

    def client(self) -> redis.Redis:
        extra: dict[str, object] = {}
        if self.tls is not None:
            # The chain is checked; the name is each test's own business.
            extra = {"ssl": True, "ssl_ca_certs": str(self.tls / "ca.crt"),
                     "ssl_check_hostname": False}  # fmt: skip
        return redis.Redis(port=self.port, password=self.password, decode_responses=True, **extra)


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA of the tests' own and a server certificate for 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("tls")
    own_ca(d)
    server_cert(d, "server", days=2)
    return d


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: ``redis_server(maxclients=..., nofile=1024, conf=PATH, tls=DIR, requirepass=...)``.

    Keyword arguments become redis-server options (underscores to dashes);
    ``nofile`` starts it under ``prlimit --nofile=N``. Every server started is
    shut down at the end of the test.
    """
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        nofile: int | None = None,
        conf: Path | None = None,
        tls: Path | None = None,
        tls_cert: str = "server",
        tls_and_plain: bool = False,
        **options: object,
    ) -> Server:
        """``tls``: TLS only on the port, or with ``tls_and_plain`` plain on
        the port and TLS on ``Server.tls_port``; ``tls_cert`` names the pair."""
        port = free_port()
        tls_port = free_port() if tls_and_plain else None
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
        if tls is not None:
            args += [
                "--port",
                str(port) if tls_and_plain else "0",
                "--tls-port",
                str(tls_port or port),
                "--tls-auth-clients",
                "no",
                "--tls-cert-file",
                str(tls / f"{tls_cert}.crt"),
                "--tls-key-file",
                str(tls / f"{tls_cert}.key"),
                "--tls-ca-cert-file",
                str(tls / "ca.crt"),
            ]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        if nofile is not None:
            args = ["prlimit", f"--nofile={nofile}", *args]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        password = str(options["requirepass"]) if "requirepass" in options else None
        server = Server(
            port, proc.pid, log, workdir, password, None if tls_and_plain else tls, tls_port
        )
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
