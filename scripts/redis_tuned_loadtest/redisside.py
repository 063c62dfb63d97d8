"""The Redis side of the test: who it is, what it counted (INFO every quarter second), the
crowd of idle connections held open next to the load, and the package-default baseline."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import resource
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from redis_tuned_clients import settings
from redis_tuned_tools.common.inputs import UsageError

SAMPLE_EVERY = 0.25
CROWD_PARALLEL = 200
CROWD_TIMEOUT = 10.0
PACKAGE_CONF = Path("/etc/redis/redis.conf")
PACKAGE_NOFILE = 65535  # LimitNOFILE= in Debian's redis-server.service
SAMPLER_NAME = "redis-tuned-loadtest"
MONITOR_PASSWORD_ENV = "REDIS_MONITOR_PASSWORD"


@dataclass(frozen=True)
class Target:
    """One Redis database as the application reaches it."""

    label: str
    scheme: str
    host: str
    port: int
    db: int
    username: str | None
    password_env: str
    cacert: str | None = None
    named: bool = True  # CLIENT SETNAME, which the role's verify user may not send

    @property
    def url(self) -> str:
        user = f"{urllib.parse.quote(self.username, safe='')}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}/{self.db}"

    @property
    def instance(self) -> tuple[str, int]:
        return (self.host, self.port)

    def monitored_as(self, user: str | None) -> Target:
        """The same instance as the user that reads INFO and CONFIG (the role's
        redis-tuned-verify user: an application's user may not), its password from
        $REDIS_MONITOR_PASSWORD; without one, the application's own login."""
        if not user:
            return self
        return dataclasses.replace(
            self, username=user, password_env=MONITOR_PASSWORD_ENV, named=False
        )

    @property
    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None

    def client(self) -> redis.asyncio.Redis:
        tls: dict[str, Any] = {}
        if self.scheme == "rediss":
            tls = {"ssl": True, "ssl_ca_certs": self.cacert, "ssl_cert_reqs": "required"}
        return redis.asyncio.Redis(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            socket_timeout=5,
            socket_connect_timeout=5,
            client_name=SAMPLER_NAME if self.named else None,
            decode_responses=True,
            **tls,
        )


def parse_target(text: str, flag: str, label: str, password_env: str, cacert: str | None) -> Target:
    """A URL flag, checked as redis-tuned-clients settings checks it."""
    e = settings.parse_url(text, label, [], cacert, flag=flag, password_env=password_env)
    return Target(label, e.scheme, e.host, e.port, e.db, e.user, password_env, e.ca_file)


async def describe(target: Target) -> dict[str, Any]:
    """What the server is and the limits it runs with (CONFIG GET where the user may)."""
    client = target.client()
    try:
        info = await client.info()
        out: dict[str, Any] = {
            "address": f"{target.host}:{target.port}",
            "version": info.get("redis_version"),
            "maxclients": int(info.get("maxclients", 0)),
        }
        with contextlib.suppress(redis.ResponseError):
            got = await client.config_get("*")
            out["config"] = {
                k: got.get(k)
                for k in (
                    "maxclients",
                    "timeout",
                    "tcp-keepalive",
                    "tcp-backlog",
                    "maxmemory",
                    "maxmemory-policy",
                    "appendonly",
                    "save",
                    "io-threads",
                )
            }
        return out
    finally:
        await client.aclose()


@dataclass
class Sample:
    t: float
    connected_clients: int
    crowd: int | None  # our idle connections open on this instance; None while they open
    rejected_connections: int
    total_connections_received: int
    cpu: float  # used_cpu_sys + used_cpu_user, seconds
    used_memory: int

    @property
    def app_connections(self) -> int | None:
        """The instance's clients less this sampler and the crowd (unknown while the
        crowd is opening: the server counts a connection before its PONG comes back)."""
        return None if self.crowd is None else self.connected_clients - 1 - self.crowd


@dataclass
class Sampler:
    """INFO from one instance every SAMPLE_EVERY seconds until stopped."""

    target: Target
    crowd: Crowd | None = None
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    async def run(self, stop: asyncio.Event, started: float) -> None:
        client = self.target.client()
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                try:
                    info = await client.info()
                except (redis.RedisError, OSError) as exc:
                    self.errors[f"INFO: {type(exc).__name__}"] += 1
                else:
                    self.samples.append(
                        Sample(
                            t=loop.time() - started,
                            connected_clients=int(info["connected_clients"]),
                            crowd=_settled(self.crowd),
                            rejected_connections=int(info["rejected_connections"]),
                            total_connections_received=int(info["total_connections_received"]),
                            cpu=float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
                            used_memory=int(info["used_memory"]),
                        )
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
        finally:
            await client.aclose()

    def summary(self) -> dict[str, Any]:
        """Peaks and deltas over the phase; the application's connections are the
        instance's clients less this sampler and the crowd."""
        s = self.samples
        if len(s) < 2:
            return {"samples": len(s)}
        app = [x.app_connections for x in s if x.app_connections is not None]
        crowd = self.crowd.accepted if self.crowd else 0
        return {
            "samples": len(s),
            "peak_connected_clients": max(x.connected_clients for x in s),
            "peak_app_connections": max(app, default=0),
            "connections_opened": s[-1].total_connections_received
            - s[0].total_connections_received
            - crowd,
            "rejected_connections": s[-1].rejected_connections - s[0].rejected_connections,
            "cpu_seconds": round(s[-1].cpu - s[0].cpu, 3),
            "peak_used_memory": max(x.used_memory for x in s),
            "errors": dict(self.errors),
        }


def _settled(crowd: Crowd | None) -> int | None:
    if crowd is None:
        return 0
    return None if crowd.filling else crowd.open


class Crowd:
    """Idle client connections held open: each says PING (after AUTH when the instance
    has a password) and counts as accepted on +PONG, rejected on Redis's
    "max number of clients reached" or a closed connection."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.accepted = 0
        self.rejected = 0
        self.errors: Counter[str] = Counter()
        self.filling = False

    @property
    def open(self) -> int:
        return len(self.writers)

    async def fill(self, target: Target, count: int) -> None:
        gate = asyncio.Semaphore(CROWD_PARALLEL)
        hello = _command("PING")
        if target.password:
            user = [target.username] if target.username else []
            hello = _command("AUTH", *user, target.password) + hello
        context = None
        if target.scheme == "rediss":
            context = ssl.create_default_context(cafile=target.cacert)

        async def one() -> None:
            async with gate:
                writer = None
                try:
                    async with asyncio.timeout(CROWD_TIMEOUT):
                        reader, writer = await asyncio.open_connection(
                            target.host, target.port, ssl=context
                        )
                        writer.write(hello)
                        await writer.drain()
                        reply = await reader.readline()
                        if target.password and reply.startswith(b"+OK"):
                            reply = await reader.readline()
                except (OSError, TimeoutError) as exc:
                    self.rejected += 1
                    self.errors[f"connect: {type(exc).__name__}"] += 1
                    if writer is not None:
                        writer.close()
                    return
                if reply.startswith(b"+PONG"):
                    self.accepted += 1
                    self.writers.append(writer)
                    return
                writer.close()
                self.rejected += 1
                if b"max number of clients" in reply:
                    self.errors["max number of clients reached"] += 1
                elif not reply:
                    self.errors["closed by the server"] += 1
                else:
                    self.errors[reply.decode(errors="replace").split(" ")[0].strip()[:40]] += 1

        self.filling = True
        try:
            await asyncio.gather(*(one() for _ in range(count)))
        finally:
            self.filling = False

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    def summary(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected, "errors": dict(self.errors)}


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def raise_open_files(needed: int) -> int:
    """The soft open-files limit raised to what the crowd and the clients need (up to
    the hard limit); a clear error when the hard limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if needed > soft:
        if hard != resource.RLIM_INFINITY and needed > hard:
            raise UsageError(
                f"this test needs {needed} open files (--idle-connections + --clients + "
                f"headroom), the hard limit here is {hard}: lower them or raise `ulimit -Hn`"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    return soft


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Baseline:
    port: int
    source: str
    nofile: int


@contextlib.contextmanager
def package_default_server(workdir: Path) -> Iterator[Baseline]:
    """redis-server with the distro package's configuration file (Debian's
    /etc/redis/redis.conf, as its unit starts it, with its LimitNOFILE=65535), on a free
    loopback port; only the port, bind, paths and daemonizing are changed."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise UsageError(
            "the package-default baseline needs redis-server: apt-get install redis-server"
        )
    port = free_port()
    args = [binary]
    source = "Redis's built-in defaults (no readable /etc/redis/redis.conf)"
    if os.access(PACKAGE_CONF, os.R_OK):
        args.append(str(PACKAGE_CONF))
        source = f"{PACKAGE_CONF}, the redis-server package's file"
    args += [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--daemonize",
        "no",
        "--supervised",
        "no",
        "--pidfile",
        str(workdir / "redis.pid"),
        "--logfile",
        "",
        "--dir",
        str(workdir),
    ]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = PACKAGE_NOFILE if hard == resource.RLIM_INFINITY else min(PACKAGE_NOFILE, hard)

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with (workdir / "redis.log").open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=log, preexec_fn=limits)
    try:
        deadline = time.monotonic() + 15
        probe = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (workdir / "redis.log").read_text(errors="replace")[-300:]
                    raise UsageError(
                        f"the package-default redis-server did not start: {' '.join(tail.split())}"
                    ) from None
                time.sleep(0.05)
        probe.close()
        yield Baseline(port, source, nofile)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
