"""redis-tuned-loadtest: the guide's stress test, for real, scaled to this machine.

    redis-tuned-loadtest [--channels-url URL] [--cache-url URL] [--clients N] [--rate R]
                         [--duration S] [--idle-connections N] [--out DIR]

Runs a small Django Channels application (uvicorn, a room consumer broadcasting through
channels_redis, a view on django-redis) with the settings `redis-tuned-clients settings`
generates, drives it with WebSocket clients and compares, in one run: pooled against a
new connection per operation, and the tuned instance against Redis with the package's
default configuration while a crowd of idle connections is held open. Writes
DIR/report.md, DIR/report.png and DIR/results.json. Passwords come from
$REDIS_CHANNELS_PASSWORD and $REDIS_CACHE_PASSWORD (and $REDIS_MONITOR_PASSWORD for
--monitor-user, who reads INFO), never from the command line.

Exit 0: the pooled application held the load (every message back, no error); 1: it lost
messages or had errors (see the report); 2: usage, or a server that cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from redis_tuned_clients import settings
from redis_tuned_clients.cli import bounded
from redis_tuned_loadtest import appserver, driver, redisside, report
from redis_tuned_tools.common import target as probe
from redis_tuned_tools.common.cli import SECRET_OPTION, HelpFormatter, OneLineParser, fail
from redis_tuned_tools.common.inputs import UsageError, one_line

PROG = "redis-tuned-loadtest"
HEADROOM_FILES = 512
PACKAGES = (
    "django",
    "channels",
    "channels-redis",
    "django-redis",
    "redis",
    "uvicorn",
    "websockets",
)


# A numeric flag: name, type, range, default, help.
NumericFlag = tuple[str, type, float, float, float, str]

# The load's numeric flags.
LOAD_FLAGS: list[NumericFlag] = [
    ("--clients", int, 1, 20000, 200, "concurrent WebSocket clients"),
    ("--rate", float, 0.01, 100, 0.5, "messages per second per client"),
    ("--duration", float, 1, 3600, 30.0, "seconds measured per phase, after the ramp"),
    ("--ramp", float, 0, 600, 5.0, "seconds over which the clients connect"),
    ("--group-size", int, 1, 1000, 10, "clients per room: each message goes to its room"),
    ("--cache-rate", float, 0, 10000, 50.0, "cache requests per second"),
    ("--idle-connections", int, 0, 100000, 10000, "idle connections in the tuned/default phases"),
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(
        prog=PROG, description=__doc__.split("\n\n")[0], allow_abbrev=False,
        epilog="examples:\n"
        "  redis-tuned-loadtest --clients 200 --rate 0.5 --out report\n"
        "  REDIS_CHANNELS_PASSWORD=... redis-tuned-loadtest --channels-url "
        "redis://app@10.0.0.11:6379/0 --cache-url redis://app@10.0.0.11:6380/0",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    add = parser.add_argument
    add(
        "--channels-url",
        metavar="URL",
        default="redis://127.0.0.1:6379/0",
        help="the Channels instance, redis[s]://[user@]host:port/db (default %(default)s)",
    )
    add(
        "--cache-url",
        metavar="URL",
        help="the cache instance (default: the Channels instance, database 1)",
    )
    add_numbers(parser, LOAD_FLAGS)
    add(
        "--concurrency",
        type=bounded(1, 10000, "--concurrency"),
        metavar="N",
        help="what the pools are sized for, as redis-tuned-clients settings --concurrency "
        "(default: --clients, the WebSockets the one app process holds)",
    )
    add(
        "--baseline-url",
        metavar="URL",
        help="a server with the package's default configuration to compare against (default: "
        "start one here from /etc/redis/redis.conf, on loopback)",
    )
    add(
        "--skip",
        action="append",
        choices=["per-request", "idle"],
        default=[],
        help="leave a comparison out",
    )
    add(
        "--monitor-user",
        metavar="NAME",
        help="the ACL user that reads INFO and CONFIG on the tuned instances, its password "
        f"from ${redisside.MONITOR_PASSWORD_ENV}: an application's user may not (the role's "
        "is redis-tuned-verify) (default: the URLs' own user)",
    )
    add("--cacert", metavar="FILE", help="CA file for rediss:// URLs")
    args = parse_with_output(parser, argv, "loadtest-report", "results.json's comparisons")
    if args.concurrency is None:
        args.concurrency = args.clients
    return args


def add_numbers(parser: argparse.ArgumentParser, flags: list[NumericFlag]) -> None:
    """Numeric flags from a table: name, type, range, default, help."""
    for flag, kind, low, high, default, text in flags:
        metavar = "N" if kind is int else "S" if text.startswith("seconds") else "R"
        if text.startswith("the p99"):
            metavar = "MS"
        parser.add_argument(flag, type=bounded(low, high, flag, kind), default=default,
                            metavar=metavar, help=f"{text} (default %(default)s)")  # fmt: skip


def parse_with_output(
    parser: argparse.ArgumentParser, argv: list[str], out: str, printed: str
) -> argparse.Namespace:
    """--out and --json added, a password on the command line refused, then parsed."""
    parser.add_argument("--out", metavar="DIR", type=Path, default=Path(out),
                        help="report directory (default %(default)s)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help=f"print {printed} on stdout")
    if any(SECRET_OPTION.match(a) for a in argv):
        parser.error("a password is never taken on the command line: set $REDIS_CHANNELS_PASSWORD")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a directory")
    return args


@dataclass(frozen=True)
class Phase:
    name: str
    title: str
    server: str  # "tuned" or "default"
    variant: str  # "pooled" or "per-request"
    idle: int


def phases(args: argparse.Namespace) -> list[Phase]:
    out = [Phase("pooled", "pooled (tuned)", "tuned", "pooled", 0)]
    if "per-request" not in args.skip:
        out.append(Phase("per-request", "per-request (tuned)", "tuned", "per-request", 0))
    if "idle" not in args.skip:
        n = args.idle_connections
        out += [
            Phase("tuned+idle", f"tuned + {n} idle", "tuned", "pooled", n),
            Phase("default+idle", f"package default + {n} idle", "default", "pooled", n),
        ]
    return out


class Run:
    """One load-test run: the targets, the phases, the progress line."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.load = driver.Load(
            clients=args.clients,
            rate=args.rate,
            duration=args.duration,
            ramp=args.ramp,
            group_size=args.group_size,
            cache_rate=args.cache_rate,
        )
        channels = redisside.parse_target(
            args.channels_url, "--channels-url", "channels", "REDIS_CHANNELS_PASSWORD", args.cacert
        )
        cache = (
            redisside.parse_target(
                args.cache_url, "--cache-url", "cache", "REDIS_CACHE_PASSWORD", args.cacert
            )
            if args.cache_url
            else _cache_db(channels, password_env="REDIS_CACHE_PASSWORD")
        )
        self.targets = {"tuned": (channels, cache)}
        self.monitor_user = args.monitor_user
        self.latencies: dict[str, list[float]] = {}
        self.tty = sys.stderr.isatty()

    def say(self, text: str, transient: bool = False) -> None:
        if self.tty and transient:
            sys.stderr.write("\r" + text[:150].ljust(150))
        else:
            sys.stderr.write(("\r" if self.tty else "") + text + "\n")
        sys.stderr.flush()

    def monitored(self, server: str, target: redisside.Target) -> redisside.Target:
        """Who reads INFO and CONFIG on a target: --monitor-user on the tuned instances."""
        return target.monitored_as(self.monitor_user if server == "tuned" else None)

    async def servers(self) -> dict[str, Any]:
        """Every target answers (or one line: UsageError, probe.Unreachable or
        probe.NotRedis), and what it is, by _key."""
        out: dict[str, Any] = {}
        for name, (channels, cache) in self.targets.items():
            for target in _distinct(channels, cache):
                where = f"{target.host}:{target.port}"
                watcher = self.monitored(name, target)
                try:
                    with probe.speaks_redis():
                        out[instance_key(name, target)] = await redisside.describe(watcher)
                except redis.AuthenticationError as exc:
                    raise UsageError(
                        f"{where}: {one_line(str(exc))} "
                        f"(the password comes from ${watcher.password_env})"
                    ) from None
                except redis.exceptions.NoPermissionError as exc:
                    who = watcher.username or "the default user"
                    hint = (
                        f"--monitor-user {who} needs +info and +config|get, as the role's "
                        "redis-tuned-verify has"
                        if watcher is not target
                        else f"the test reads INFO as {who}: give --monitor-user, for "
                        f"example redis-tuned-verify, and ${redisside.MONITOR_PASSWORD_ENV}"
                    )
                    raise UsageError(f"{where}: {one_line(str(exc))} ({hint})") from None
                except redis.ResponseError as exc:
                    raise UsageError(f"{where}: {one_line(str(exc))}") from None
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    raise probe.Unreachable(f"cannot reach {where}: {one_line(str(exc))}") from None
                except (probe.NotRedis, redis.RedisError) as exc:
                    raise probe.NotRedis(
                        f"{where} answered, but not as Redis ({type(exc).__name__})"
                    ) from None
        return out

    def snippet(self, server: str, described: dict[str, Any]) -> tuple[Path, int]:
        """The generated settings for a server, as the application reads them."""
        endpoints = []
        for target in self.targets[server]:
            info = described[instance_key(server, target)]
            config = info.get("config") or {}  # empty where CONFIG GET is not allowed
            endpoint = settings.parse_url(target.url, target.label, [], target.cacert)
            endpoints.append(
                dataclasses.replace(
                    endpoint,
                    maxclients=int(config.get("maxclients") or info["maxclients"]),
                    timeout=int(config.get("timeout", settings.DEFAULT_TIMEOUT)),
                )
            )
        sizes = settings.pool_sizes(endpoints, 1, self.args.concurrency)
        path = self.workdir / f"settings_{server}.py"
        path.write_text(settings.as_django(endpoints, sizes, 1, self.args.concurrency))
        return path, sum(sizes.values())

    async def phase(
        self, phase: Phase, snippet: Path, pool_size: int, server_info: dict[str, Any]
    ) -> dict[str, Any]:
        channels, cache = self.targets[phase.server]
        log = self.workdir / f"app-{phase.name}.log"
        # The snippet reads each password with os.environ[...]: one not set is ""
        # here (no password), as for a server that takes none.
        env: dict[str, str | None] = {
            t.password_env: os.environ.get(t.password_env, "") for t in (channels, cache)
        }
        if phase.server == "default":  # the baseline's password, if it has one
            baseline = os.environ.get("REDIS_BASELINE_PASSWORD", "")
            env = {"REDIS_CHANNELS_PASSWORD": baseline, "REDIS_CACHE_PASSWORD": baseline}
        stats = driver.Stats()
        crowd = redisside.Crowd() if phase.idle else None
        samplers = [
            redisside.Sampler(
                self.monitored(phase.server, t), crowd if t.instance == channels.instance else None
            )
            for t in _distinct(channels, cache)
        ]
        async with appserver.serving(snippet, phase.variant, log, env) as base:
            loop = asyncio.get_running_loop()
            started = loop.time()
            stop = asyncio.Event()
            sampling = [asyncio.create_task(s.run(stop, started)) for s in samplers]
            progress = asyncio.create_task(
                self._progress(phase, stats, samplers[0], crowd, started)
            )
            try:
                try:
                    async with asyncio.timeout(self._bound(phase)):
                        await self._drive(phase, base, stats, crowd, channels)
                except TimeoutError:  # every step has its deadline: this is the last resort
                    stats.errors["phase: stopped at its time bound"] += 1
            finally:
                stop.set()
                progress.cancel()
                await asyncio.gather(*sampling, progress, return_exceptions=True)
                if crowd is not None:
                    crowd.close()
        keep_tail(log, self.args.out / "logs" / log.name)
        return self._summary(phase, stats, samplers, crowd, pool_size, server_info, log)

    def _bound(self, phase: Phase) -> float:
        """The longest a phase may take: every step has its own deadline, this is the last."""
        load = self.load
        return (
            load.ramp
            + driver.CONNECT_TIMEOUT
            + _crowd_bound(phase.idle)
            + load.duration
            + load.drain
            + 60
        )

    async def _drive(
        self,
        phase: Phase,
        base: str,
        stats: driver.Stats,
        crowd: redisside.Crowd | None,
        channels: redisside.Target,
    ) -> None:
        """Clients ramp up, then the idle crowd connects, then the window is measured."""
        loop = asyncio.get_running_loop()
        window = driver.Window(float("inf"), float("inf"))
        clients = asyncio.create_task(driver.run_clients(base, self.load, window, stats))
        deadline = loop.time() + self.load.ramp + driver.CONNECT_TIMEOUT
        while loop.time() < deadline and not clients.done():
            failed = sum(n for k, n in stats.errors.items() if k.startswith("websocket connect"))
            if stats.connected + failed >= self.load.clients:
                break
            await asyncio.sleep(0.1)
        if crowd is not None:
            self.say(f"  {phase.title}: opening {phase.idle} idle connections", transient=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_crowd_bound(phase.idle)):
                    await crowd.fill(channels, phase.idle)
        window.start = loop.time()
        window.end = window.start + self.load.duration
        if crowd is not None:  # held while the window is measured, not while clients leave
            await asyncio.sleep(self.load.duration)
            crowd.close()
        await clients

    async def _progress(
        self,
        phase: Phase,
        stats: driver.Stats,
        sampler: redisside.Sampler,
        crowd: redisside.Crowd | None,
        started: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        every = 1.0 if self.tty else 5.0
        while True:
            await asyncio.sleep(every)
            last = sampler.samples[-1].connected_clients if sampler.samples else "?"
            idle = f", idle {crowd.open}" if crowd is not None else ""
            self.say(
                f"  {phase.title}: {loop.time() - started:5.1f} s, clients {stats.connected_now}/"
                f"{self.load.clients}, sent {stats.sent_total}, received {stats.received_total}, "
                f"Redis clients {last}{idle}",
                transient=True,
            )

    def _summary(
        self,
        phase: Phase,
        stats: driver.Stats,
        samplers: list[redisside.Sampler],
        crowd: redisside.Crowd | None,
        pool_size: int,
        server_info: dict[str, Any],
        log: Path,
    ) -> dict[str, Any]:
        self.latencies[phase.name] = stats.latencies_ms
        per_instance = {s.target.label: s.summary() for s in samplers}
        totals: dict[str, Any] = {}
        for key in (
            "peak_app_connections",
            "connections_opened",
            "rejected_connections",
            "cpu_seconds",
            "peak_used_memory",
        ):
            totals[key] = sum(v.get(key, 0) for v in per_instance.values())
        main = samplers[0].samples
        return {
            "name": phase.name,
            "title": phase.title,
            "server_kind": phase.server,
            "variant": phase.variant,
            "idle_connections": phase.idle,
            "pool_size": pool_size,
            "server": server_info,
            "clients": {
                "connected": stats.connected,
                "sent": stats.sent,
                "own_back": stats.own_back,
                "lost": stats.sent - stats.own_back,
                "delivered": stats.delivered,
                "expected": stats.expected,
                "errors": dict(stats.errors),
            },
            "latency_ms": report.distribution(stats.latencies_ms),
            "cache_ms": report.distribution(stats.cache_ms)
            | {"requests": stats.cache_requests, "hits": stats.cache_hits},
            "app_errors": dict(appserver.errors_in(log)),
            "redis": totals | {"instances": per_instance},
            "crowd": crowd.summary() if crowd is not None else None,
            "series": {
                "t": [round(x.t, 2) for x in main],
                "connected_clients": [x.connected_clients for x in main],
                "app_connections": [x.app_connections for x in main],
            },
        }


def keep_tail(log: Path, to: Path, limit: int = 64 * 1024) -> None:
    """The end of the application's log, next to the report (bounded)."""
    to.parent.mkdir(parents=True, exist_ok=True)
    with log.open("rb") as src:
        src.seek(max(0, log.stat().st_size - limit))
        to.write_bytes(src.read())


def _crowd_bound(count: int) -> float:
    return 0.0 if count == 0 else max(60.0, count / 100)


def _cache_db(target: redisside.Target, **changes: Any) -> redisside.Target:
    """The cache beside the Channels layer on one instance: the other database."""
    return dataclasses.replace(target, label="cache", db=1 if target.db == 0 else 0, **changes)


def _distinct(*targets: redisside.Target) -> list[redisside.Target]:
    """One target per instance, the first that names it."""
    first: dict[tuple[str, int], redisside.Target] = {}
    for t in targets:
        first.setdefault(t.instance, t)
    return list(first.values())


def instance_key(server: str, target: redisside.Target) -> str:
    """Where `servers` files what it learnt of an instance."""
    return f"{server} {target.host}:{target.port}"


def findings(results: dict[str, Any]) -> list[str]:
    """The report's plain-words summary, from the measured figures only."""
    c = results["comparisons"]
    out = []
    pooling = c.get("pooling")
    if pooling:
        opened, peak = pooling["connections_opened"], pooling["peak_app_connections"]
        p50, p99 = pooling["latency_ms_p50_ratio"], pooling["latency_ms_p99_ratio"]
        out += [
            "- The guide: pooling cuts latency by 95% (per-request would be 20x pooled). Here "
            f"per-request messages took {_times(p50)} the pooled latency at p50 and {_times(p99)} "
            f"at p99; cache requests {_times(pooling['cache_ms_p50_ratio'])} at p50.",
            f"- The guide: 3200 -> 50 Redis connections. Here the pooled app held at most "
            f"{peak[0]} connections at once (its pools allow {pooling['pool_size']}) and opened "
            f"{opened[0]}; per-request opened {opened[1]} (up to {peak[1]} at once) for the same "
            f"load, and Redis spent {_times(pooling['redis_cpu_ratio'])} the CPU.",
        ]
    tuning = c.get("tuning")
    if tuning:
        mc, accepted, rejected = (
            tuning["maxclients"],
            tuning["idle_accepted"],
            tuning["idle_rejected"],
        )
        refused = tuning["app_refused"]
        out.append(
            f"- With the idle crowd, the tuned instance accepted {accepted[0]} idle connections "
            f"and rejected {rejected[0]} (maxclients {mc[0]}); the package default accepted "
            f"{accepted[1]} and rejected {rejected[1]} (maxclients {mc[1]}). "
            + (
                "Once maxclients was full, the app's new connections were refused too "
                f'({refused[0]} and {refused[1]} "max number of clients reached" errors); '
                if refused[0] or refused[1]
                else "The app needed no new connection while maxclients was full; "
            )
            + "the connections its pool already held kept working. "
            "Size maxclients above the idle connections plus every process's pools "
            "(`redis-tuned-clients settings` keeps pools under 80% of it) and watch "
            "`rejected_connections`. The pooled app's p99 latency on the default was "
            f"{_times(tuning['latency_ms_p99_ratio'])} the tuned one's."
        )
        if mc[0] == mc[1] == 10000:
            out.append(
                "- Both run with maxclients 10000: Redis's own default, which the guide's "
                "`maxclients 10000` only restates. What differs between setups is the open-files "
                "limit the service really gets (Redis lowers maxclients to fit it; the verifier "
                "checks /proc/<pid>/limits) and `timeout`: the tuned instance closes idle "
                "connections after 300 s, the default never does (this run is shorter than that)."
            )
    refused = sum(
        p["redis"]["rejected_connections"] for p in results["phases"] if p["server_kind"] == "tuned"
    )
    if refused:
        out.append(
            f"- **After this run:** the tuned instance rejected {refused} connections (the idle "
            "crowd, on purpose). `redis-tuned-verify` fails on that growth until it is "
            "acknowledged once: `redis-tuned-verify --instance NAME --accept-counters` on the "
            "host, or the play with `-e redis_tuned_verify_accept_counters=true`."
        )
    return out


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 2**20
    packages = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            packages[name] = importlib.metadata.version(name)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
    }


async def run(args: argparse.Namespace, argv: list[str]) -> int:
    began = time.monotonic()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    plan = phases(args)
    with (
        tempfile.TemporaryDirectory(prefix="redis-tuned-loadtest-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        r = Run(args, workdir)
        idle = max((p.idle for p in plan), default=0)
        redisside.raise_open_files(idle + 2 * args.clients + HEADROOM_FILES)
        if any(p.server == "default" for p in plan):
            if args.baseline_url:
                base = redisside.parse_target(
                    args.baseline_url,
                    "--baseline-url",
                    "channels",
                    "REDIS_BASELINE_PASSWORD",
                    args.cacert,
                )
                source = "given by --baseline-url"
            else:
                (workdir / "baseline").mkdir()
                server = stack.enter_context(redisside.package_default_server(workdir / "baseline"))
                base = redisside.Target(
                    "channels",
                    "redis",
                    "127.0.0.1",
                    server.port,
                    0,
                    None,
                    "REDIS_BASELINE_PASSWORD",
                )
                capped = server.nofile < redisside.PACKAGE_NOFILE
                source = (
                    f"{server.source}, open files {server.nofile} (the package unit's "
                    f"LimitNOFILE={redisside.PACKAGE_NOFILE}"
                    + (", capped by this machine's hard limit)" if capped else ")")
                )
            r.targets["default"] = (base, _cache_db(base))
        described = await r.servers()
        targets = {
            "tuned": f"{r.targets['tuned'][0].url} (Channels), {r.targets['tuned'][1].url} (cache)"
        }
        if "default" in r.targets:
            info = described[instance_key("default", r.targets["default"][0])]
            targets["default"] = f"redis-server {info['version']} at {info['address']}, {source}"
        results: dict[str, Any] = {
            "command": " ".join(shlex.quote(a) for a in [PROG, *argv]),
            "via": os.environ.get("REDIS_TUNED_LOADTEST_VIA", ""),
            "started": started,
            "machine": machine(),
            "parameters": {
                "clients": args.clients,
                "rate": args.rate,
                "duration": args.duration,
                "ramp": args.ramp,
                "group_size": args.group_size,
                "cache_rate": args.cache_rate,
                "idle_connections": args.idle_connections,
                "concurrency": args.concurrency,
            },
            "scale": report.scale(args.clients, args.rate),
            "targets": targets,
            "servers": described,
            "phases": [],
        }
        for n, phase in enumerate(plan, 1):
            r.say(f"phase {n}/{len(plan)}: {phase.title}")
            snippet, pool = r.snippet(phase.server, described)
            results["phases"].append(
                await r.phase(
                    phase,
                    snippet,
                    pool,
                    described[instance_key(phase.server, r.targets[phase.server][0])],
                )
            )
            done = results["phases"][-1]
            r.say(
                f"  {phase.title}: p50 {_ms(done['latency_ms']['p50'])} ms, p99 "
                f"{_ms(done['latency_ms']['p99'])} ms, lost {done['clients']['lost']}, Redis "
                f"connections opened {done['redis']['connections_opened']}"
            )
    results["elapsed_s"] = time.monotonic() - began
    results["comparisons"] = report.comparisons(results)
    results["findings"] = findings(results)
    report.write(args.out, results, r.latencies)
    pooled = results["phases"][0]
    failed = pooled["clients"]["lost"] > 0 or pooled["clients"]["errors"] or pooled["app_errors"]
    if args.json:
        print(
            json.dumps({"ok": not failed, "out": str(args.out), **results["comparisons"]}, indent=2)
        )
    else:
        out = args.out
        print(f"report: {out / 'report.md'} ({out / 'report.png'}, {out / 'results.json'})")
        for line in results["findings"]:
            print(line)
    return 1 if failed else 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, sys.argv[1:] if argv is None else argv, PROG)


def run_main(
    parse: Callable[[list[str]], argparse.Namespace],
    body: Callable[[argparse.Namespace, list[str]], Coroutine[Any, Any, int]],
    argv: list[str],
    prog: str,
) -> int:
    """Parse, run, and end any failure in one line: exit 2 for a misuse or a server
    that cannot be reached (or a part of the test that ended: RuntimeError)."""
    try:
        args = parse(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    try:
        return asyncio.run(body(args, argv))
    except (UsageError, probe.Unreachable, appserver.AppServerError, RuntimeError) as exc:
        return fail(str(exc), prog)
    except KeyboardInterrupt:
        return fail("interrupted", prog)


if __name__ == "__main__":
    sys.exit(main())
