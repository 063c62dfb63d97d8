"""I/O: what a client sees over the protocol, and what only the Redis host can see."""

from __future__ import annotations

import dataclasses
import grp
import http.client
import os
import shutil
import socket
import ssl
import stat
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

from redis_tuned_tools.common.target import (
    NotRedis,
    Target,
    Unreachable,
    is_auth_error,
    speaks_redis,
)

PROC = Path("/proc")
THP_PATH = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def anonymous_refused(target: Target) -> tuple[bool, str]:
    """(refused, what the server answered) for a PING without credentials."""
    client = target.client(anonymous=True)
    try:
        with speaks_redis():
            client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        return is_auth_error(exc), str(exc).split("\n")[0]
    finally:
        client.close()
    return False, "PONG"


def answers_in_clear(target: Target, port: int) -> tuple[bool, str]:
    """(answered, what was seen) for a PING in clear text, without credentials, to
    ``port``: a Redis server answers PONG or asks for a password; a closed port
    refuses, a TLS listener drops the connection."""
    plain = dataclasses.replace(
        target, port=port, tls=False, username=None, password=None, timeout=min(target.timeout, 2)
    )
    client = plain.client(anonymous=True)
    try:
        with speaks_redis():
            client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        return True, str(exc).split("\n")[0][:120]
    except (redis.ConnectionError, redis.TimeoutError, OSError, NotRedis) as exc:
        return False, " ".join((str(exc) or type(exc).__name__).split())[:120]
    finally:
        client.close()
    return True, "PONG"


def select(target: Target, db: int) -> None:
    """Send SELECT ``db`` for real, on a connection of its own (redis-py sends no
    SELECT for database 0, and a pooled connection must not change database)."""
    client = target.client()
    try:
        with speaks_redis():
            client.execute_command("SELECT", db)  # type: ignore[no-untyped-call]
    except (redis.AuthenticationError, redis.ResponseError):
        raise
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise Unreachable(" ".join((str(exc) or type(exc).__name__).split())) from exc
    finally:
        client.close()


def same_host(target: Target) -> bool:
    """True when a connection's two ends have the same address (loopback or an own IP)."""
    try:
        with socket.create_connection((target.host, target.port), timeout=target.timeout) as sock:
            return bool(sock.getsockname()[0] == sock.getpeername()[0])
    except OSError:
        return False


def tls_certificate(target: Target, port: int) -> tuple[float | None, str | None]:
    """(days until the server's certificate expires, None) after a verified
    handshake on ``port``, or (None, why the handshake failed)."""
    try:
        ctx = target.ssl_context()
        with (
            socket.create_connection((target.host, port), timeout=target.timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=target.host) as sock,
        ):
            cert = sock.getpeercert()
            # One round trip, so the server sees a finished handshake: a client
            # that hangs up right after its side of TLS 1.3 counts as a
            # rejected connection in the server's INFO.
            sock.sendall(b"PING\r\n")
            sock.recv(256)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        return None, " ".join(str(exc).split()) or type(exc).__name__
    not_after = ssl.cert_time_to_seconds(str((cert or {}).get("notAfter")))
    return (not_after - time.time()) / 86400, None


def scrape(url: str, timeout: float) -> tuple[str | None, str | None]:
    """(the metrics page, None), or (None, why it could not be fetched)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode("utf-8", "replace"), None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # URLError and HTTPError are OSErrors; a server that is not HTTP: BadStatusLine.
        return None, " ".join(str(exc).split())[:200] or type(exc).__name__


class NoPermission(Exception):
    """The user logged in may not run a command (NOPERM)."""


def config_get(client: redis.Redis, directives: list[str]) -> dict[str, str | None]:
    """CONFIG GET of each directive; None where the server has no such directive."""
    live: dict[str, str | None] = {}
    for directive in directives:
        try:
            answer = client.config_get(directive)
        except redis.ResponseError as exc:
            if _is_noperm(exc):
                raise NoPermission(str(exc).split("\n")[0]) from exc
            raise
        live[directive] = answer.get(directive)
    return live


def time_pings(client: redis.Redis, samples: int, warmup: int) -> list[float]:
    """Round trips of PING on one pooled connection, in ms, after a warm-up."""
    for _ in range(warmup):
        client.ping()
    out = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        client.ping()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def time_fresh_connections(target: Target, samples: int) -> list[float]:
    """Connect + AUTH + PING on a new connection each time, in ms."""
    out = []
    for _ in range(samples):
        client = target.client()
        start = time.perf_counter_ns()
        with speaks_redis():
            client.ping()
        out.append((time.perf_counter_ns() - start) / 1e6)
        client.close()
        client.connection_pool.disconnect()
    return out


# --- what only the host can see -------------------------------------------------------


def local_redis_process(pid: int) -> bool:
    """True when ``pid`` is a redis-server (or valkey-server) process on this machine."""
    try:
        comm = (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return False
    return comm.startswith(("redis-server", "valkey-server"))


def nofile_limits(pid: int) -> tuple[int, int]:
    """(soft, hard) open-files limit of a running process, from /proc/<pid>/limits."""
    for line in (PROC / str(pid) / "limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return _limit(soft), _limit(hard)
    raise OSError(f"no open-files line in /proc/{pid}/limits")


def _limit(text: str) -> int:
    return 2**63 if text == "unlimited" else int(text)


def configured_maxclients(config_file: str) -> int | None:
    """The last ``maxclients`` line of a redis.conf (and its includes), if any."""
    value = None
    for path in _config_files(Path(config_file), depth=0):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].lower() == "maxclients":
                value = int(parts[1])
    return value


def _config_files(path: Path, depth: int) -> list[Path]:
    files = [path]
    if depth > 3:
        return files
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].lower() == "include":
            included = Path(parts[1].strip('"'))
            if included.is_file():
                files.extend(_config_files(included, depth + 1))
    return files


def read_only(path: Path) -> bool:
    """True when ``path`` sits on a read-only mount (as /proc/sys in a container)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return True


def sysctl(name: str) -> tuple[int, bool]:
    """(live value, read-only) of an integer sysctl."""
    text, ro = sysctl_text(name)
    return int(text.split()[0]), ro


def sysctl_text(name: str) -> tuple[str, bool]:
    """(live value, its whitespace folded; read-only) of any sysctl."""
    path = PROC / "sys" / name.replace(".", "/")
    return " ".join(path.read_text().split()), read_only(path)


def thp() -> tuple[str, bool] | None:
    """(contents, read-only) of the THP switch; None where the kernel has none."""
    if not THP_PATH.exists():
        return None
    return THP_PATH.read_text(), read_only(THP_PATH)


def pid1_nofile_hard() -> int:
    """Hard open-files limit of PID 1: in a container, the ceiling for every unit."""
    return nofile_limits(1)[1]


def log_lines(logfile: str, pid: int, max_bytes: int = 256 * 1024) -> list[str] | None:
    """The tail of Redis's log file; for logging to stdout, the journal of that pid."""
    if logfile:
        path = Path(logfile)
        try:
            with path.open("rb") as handle:
                handle.seek(max(0, path.stat().st_size - max_bytes))
                return handle.read().decode(errors="replace").splitlines()
        except OSError:
            return None
    if shutil.which("journalctl") is None:
        return None
    result = subprocess.run(
        ["journalctl", f"_PID={pid}", "-o", "cat", "--no-pager", "-n", "500"],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    return result.stdout.splitlines() if result.returncode == 0 else None


def info(client: redis.Redis) -> dict[str, Any]:
    """INFO everything as a flat dict (errorstat_* values stay dicts)."""
    try:
        return dict(client.info("all"))
    except redis.ResponseError as exc:
        if _is_noperm(exc):
            raise NoPermission(str(exc).split("\n")[0]) from exc
        raise


def _is_noperm(exc: Exception) -> bool:
    return "NOPERM" in str(exc) or "no permissions" in str(exc)


def sentinel_views(
    sentinels: list[tuple[str, int]],
    name: str,
    password: str | None,
    timeout: float,
    node: Target | None = None,
) -> list[Any]:
    """What each Sentinel says of the group ``name`` (checks.SentinelView), dialled
    as the ``node`` is (over TLS with its CA and client certificate where the node
    is reached over TLS: a group over TLS has its Sentinels on TLS too)."""
    from redis_tuned_tools.verify.checks import SentinelView

    views = []
    for host, port in sentinels:
        view = SentinelView(address=f"{host}:{port}")
        client = dataclasses.replace(
            node or Target(host, port), host=host, port=port, password=password,
            username=None, timeout=timeout,
        ).client()  # fmt: skip
        try:
            found = client.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name
            )
            view.primary = f"{found[0]}:{found[1]}" if found else None
            try:
                answer = client.execute_command("SENTINEL", "CKQUORUM", name)  # type: ignore[no-untyped-call]
                view.ckquorum = str(answer)
            except redis.ResponseError as exc:  # -NOQUORUM ...
                view.ckquorum = str(exc).split("\n")[0][:160]
            master = client.sentinel_master(name)
            assert isinstance(master, dict)
            view.other_sentinels = int(master.get("num-other-sentinels", -1))
            view.replicas = int(master.get("num-slaves", -1))
        except (redis.RedisError, OSError) as exc:
            view.error = " ".join((str(exc) or type(exc).__name__).split())[:120]
        finally:
            client.close()
        views.append(view)
    return views


def run_id_at(target: Target, address: str) -> str | None:
    """The run_id of the server at ``address`` (ip:port), logged in as ``target`` is:
    whether the primary the Sentinels name is this very process."""
    host, _, port = address.rpartition(":")
    client = dataclasses.replace(target, host=host, port=int(port)).client()
    try:
        return str(client.info("server").get("run_id"))
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


def socket_state(path: str) -> tuple[bool, str, int]:
    """A unix socket's kind, group name and permission bits (OSError: not there)."""
    st = os.stat(path)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return stat.S_ISSOCK(st.st_mode), group, stat.S_IMODE(st.st_mode)
