"""Small helpers the test suites share (tests/conftest.py puts this directory on sys.path)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
LIBRARY = Path(__file__).resolve().parents[1] / "roles" / "redis_tuned" / "library"
# The checks redis-tuned-verify makes of a replication group as its Sentinels see it.
GROUP_CHECKS = (
    "Sentinels answer",
    "Sentinels agree on the primary",
    "quorum reachable (SENTINEL CKQUORUM)",
    "every Sentinel sees the others",
    "this node as the Sentinels see it",
)


def run_module(module: str, tmp: Path, check: bool = False, diff: bool = True, **args: Any) -> dict:  # type: ignore[type-arg]
    """One of the role's modules (its library/) run as Ansible runs it: a Python
    process given its arguments in a file, answering in JSON (``_raw``: all it printed)."""
    params = {**args, "_ansible_check_mode": check, "_ansible_diff": diff}
    argfile = tmp / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    proc = subprocess.run(
        [sys.executable, str(LIBRARY / f"{module}.py"), str(argfile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    result["_raw"] = proc.stdout + proc.stderr
    return result


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def environ(values: dict[str, str], drop: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` (and unset ``drop``) in os.environ for the block, then restore."""
    keys = set(values) | set(drop)
    saved = {k: os.environ.get(k) for k in keys}
    for key in drop:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def loopback_only(real: Callable[..., Any]) -> Callable[..., Any]:
    """A socket.getaddrinfo that resolves loopback names only: generated host names
    never leave this machine."""

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.strip("[]") not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, "not resolved in these tests")
        return real(host, *args, **kwargs)

    return guarded


def server_cert(d: Path, name: str, days: int, san: str = "IP:127.0.0.1,DNS:localhost") -> None:
    """``d/NAME.crt`` and ``d/NAME.key`` for ``san`` (127.0.0.1 and localhost), valid
    ``days``, signed by ``d/ca.crt``."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", f"{name}.key", "-out", f"{name}.csr",
    )  # fmt: skip
    (d / "san.cnf").write_text(
        f"subjectAltName={san}\n"
        "authorityKeyIdentifier=keyid,issuer\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", str(days), "-extfile", "san.cnf", "-out", f"{name}.crt",
    )  # fmt: skip


def own_ca(d: Path) -> None:
    """``d/ca.crt`` and ``d/ca.key``: a CA of the tests' own, valid two days."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-days", "2",
         "-subj", "/CN=redis-tuned test CA", "-keyout", "ca.key", "-out", "ca.crt"],
        cwd=d, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@contextlib.contextmanager
def redis_server(workdir: Path, *options: str, tls: Path | None = None) -> Iterator[int]:
    """A throwaway redis-server on a free loopback port (``options``: more of its
    flags), ready when this yields its port; stopped after the block. ``tls``: a
    directory with ca.crt and server.crt/.key: TLS only, on that port."""
    port = free_port()
    listen = ["--port", str(port)]
    if tls is not None:
        listen = ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no",
                  "--tls-cert-file", str(tls / "server.crt"),
                  "--tls-key-file", str(tls / "server.key"),
                  "--tls-ca-cert-file", str(tls / "ca.crt")]  # fmt: skip
    proc = subprocess.Popen(
        [REDIS_SERVER, *listen, "--bind", "127.0.0.1", "--dir", str(workdir),
         "--save", "", "--appendonly", "no", *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no redis-server"
                time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def start_sentinel(
    workdir: Path,
    primaries: dict[str, int],
    password: str,
    auth_pass: str | None = None,
    quorum: int = 1,
    down_after_ms: int = 30000,
    tls: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """A Sentinel on loopback watching ``primaries`` (name -> port on 127.0.0.1),
    asking its clients for ``password``, logging in to the nodes with ``auth_pass``;
    (its process, its port) once it answers for every group. The caller stops it.
    ``tls`` (a directory with ca.crt, server.crt, server.key): TLS only, to its
    clients, the nodes and the other Sentinels, as the role writes it."""
    import redis

    port = free_port()
    home = workdir / f"sentinel-{port}"
    home.mkdir()
    listen = [f"port {port}"]
    if tls is not None:
        listen = ["port 0", f"tls-port {port}", f"tls-cert-file {tls / 'server.crt'}",
                  f"tls-key-file {tls / 'server.key'}", f"tls-ca-cert-file {tls / 'ca.crt'}",
                  "tls-auth-clients no", "tls-replication yes"]  # fmt: skip
    lines = [*listen, "bind 127.0.0.1", "daemonize no", "protected-mode no",
             f"dir {home}", f"requirepass {password}",
             f"sentinel sentinel-pass {password}"]  # fmt: skip
    for name, primary in primaries.items():
        lines += [f"sentinel monitor {name} 127.0.0.1 {primary} {quorum}",
                  f"sentinel down-after-milliseconds {name} {down_after_ms}"]  # fmt: skip
        if auth_pass:
            lines.append(f"sentinel auth-pass {name} {auth_pass}")
    conf = home / "sentinel.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(
        [REDIS_SERVER, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    over_tls: dict[str, Any] = (
        {"ssl": True, "ssl_ca_certs": str(tls / "ca.crt")} if tls is not None else {}
    )
    client = redis.Redis(port=port, password=password, decode_responses=True, **over_tls)
    deadline = time.monotonic() + 10
    while True:
        try:
            if all(client.sentinel_get_master_addr_by_name(n) for n in primaries):
                return proc, port
        except redis.RedisError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "no Sentinel"
        time.sleep(0.05)
