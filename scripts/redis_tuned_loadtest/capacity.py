"""redis-tuned-loadtest capacity: where the limit is, measured, not guessed.

    redis-tuned-loadtest capacity [--channels-url URL] [--clients N] [--setups LIST]
                                  [--rates LIST] [--step-duration S] [--budget-ms MS]
                                  [--generators N] [--repeats N] [--unix-socket PATH]

The same Channels application as the load test, in one or more uvicorn processes, is
driven by WebSocket clients held open by several load-generator processes while the
offered message rate is raised in steps; a setup's ramp stops at the first step whose
p99 passes the budget or that loses a message. Its knee is the highest step with every
message back within the budget. At every step the CPU of each part is read (each
application process and load generator from /proc, Redis from INFO, the machine's
steal from /proc/stat), so the report names what saturated. The setups run
interleaved (A B C, A B C ...) for --repeats rounds; the report gives each knee's
spread. Redis's own ceiling for the layers' command shapes is measured on the same
instance (redis_tuned_loadtest.ceiling), so the report says what fraction of it the
application reached.

Setups (--setups, comma-separated; each a '+'-joined list of): ``core`` or ``pubsub``
(the channels_redis layer), a number (application processes), ``tcp`` or ``unix`` (the
transport; unix needs --unix-socket), ``pooled`` or ``per-request``, ``gc-freeze`` (each
app process calls gc.freeze() every 2 s).

Exit 0: every setup ran (a knee found or not, as measured); 1: no client connected or
a setup could not run; 2: usage, or a server that cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import math
import os
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis_tuned_loadtest import appserver, capacity_report, ceiling, cli, redisside, report
from redis_tuned_loadtest.driver import DRAIN
from redis_tuned_tools.common.cli import HelpFormatter, OneLineParser

PROG = "redis-tuned-loadtest capacity"
DEFAULT_SETUPS = "core,core+2,pubsub,core+per-request"
DEFAULT_RATES = "50,100,200,400,700,1000,1500,2000,3000"
CEILING_SECONDS = 5.0
CEILING_PROCESSES = 2
ANSWER_GRACE = 60.0  # beyond a command's own length, how long a generator may take
SATURATED = 75.0  # % of one core: a single-threaded part this busy queues its work
STEAL_LIMIT = 10.0  # % of the machine stolen by the hypervisor: the machine is the limit
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The study's numeric flags: name, type, range, default, help (cli.add_numbers).
NUMERIC_FLAGS: list[cli.NumericFlag] = [
    ("--clients", int, 1, 20000, 1000, "WebSocket clients held open through every ramp"),
    ("--step-duration", float, 1, 600, 8.0, "seconds measured per step"),
    ("--budget-ms", float, 0.01, 60000, 50.0, "the p99 a step may reach and count, ms"),
    ("--group-size", int, 1, 1000, 10, "clients per room: each message goes to its room"),
    ("--ramp", float, 0, 600, 10.0, "seconds over which the clients connect"),
    ("--generators", int, 1, 16, 2, "load-generator processes"),
    ("--repeats", int, 1, 10, 2, "rounds, the setups interleaved in each"),
    ("--ceiling-seconds", float, 0, 120, CEILING_SECONDS, "seconds per shape of the ceiling"),
]


@dataclass(frozen=True)
class Setup:
    layer: str = "core"
    processes: int = 1
    transport: str = "tcp"
    variant: str = "pooled"
    gc_freeze: bool = False

    @property
    def key(self) -> str:
        key = f"{self.layer}-x{self.processes}-{self.transport}-{self.variant}"
        return key + ("-gc-freeze" if self.gc_freeze else "")

    @property
    def title(self) -> str:
        procs = f"{self.processes} app process{'es' if self.processes > 1 else ''}"
        title = f"{self.layer} layer, {procs}, {self.transport.upper()}, {self.variant}"
        return title + (", gc.freeze()" if self.gc_freeze else "")


def parse_setups(text: str) -> list[Setup]:
    out: list[Setup] = []
    for item in text.split(","):
        fields: dict[str, Any] = {}
        for token in item.strip().split("+"):
            if token in ("core", "pubsub"):
                fields["layer"] = token
            elif token in ("tcp", "unix"):
                fields["transport"] = token
            elif token in ("pooled", "per-request"):
                fields["variant"] = token
            elif token == "gc-freeze":
                fields["gc_freeze"] = True
            elif token.isdigit() and 1 <= int(token) <= 8:
                fields["processes"] = int(token)
            else:
                raise argparse.ArgumentTypeError(
                    f"--setups: {token!r} in {item.strip()!r} is none of core, pubsub, tcp, unix, "
                    "pooled, per-request, gc-freeze or a number of app processes (1 to 8)"
                )
        setup = Setup(**fields)
        if setup.variant == "per-request" and setup.layer != "core":
            raise argparse.ArgumentTypeError(
                f"--setups: {item.strip()!r}: per-request is a variant of the core layer only"
            )
        if setup in out:
            raise argparse.ArgumentTypeError(f"--setups: {item.strip()!r} is given twice")
        out.append(setup)
    return out


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--rates {text!r}: messages per second, comma-separated (e.g. 50,100,200)"
        ) from None
    if not rates or any(not 0 < r <= 100000 for r in rates) or rates != sorted(set(rates)):
        raise argparse.ArgumentTypeError(
            f"--rates {text!r}: rising rates, each above 0 and at most 100000 messages/s"
        )
    return rates


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        allow_abbrev=False,
        formatter_class=HelpFormatter,
        epilog="example:\n  redis-tuned-loadtest capacity --clients 5000 --repeats 2 "
        "--unix-socket /run/redis/channels.sock --out capacity-report",
    )
    add = parser.add_argument
    add(
        "--channels-url",
        metavar="URL",
        default="redis://127.0.0.1:6379/0",
        help="the Channels instance, redis://[user@]host:port/db (default %(default)s)",
    )
    add(
        "--cache-url",
        metavar="URL",
        help="the cache instance the app is configured with (default: the Channels one, db 1)",
    )
    cli.add_numbers(parser, NUMERIC_FLAGS)
    add(
        "--setups",
        type=parse_setups,
        default=parse_setups(DEFAULT_SETUPS),
        metavar="LIST",
        help=f"what to compare (default {DEFAULT_SETUPS}, and core+unix with --unix-socket)",
    )
    add(
        "--rates",
        type=parse_rates,
        default=parse_rates(DEFAULT_RATES),
        metavar="LIST",
        help=f"the ramp's steps, messages/s all clients together (default {DEFAULT_RATES})",
    )
    add(
        "--unix-socket",
        metavar="PATH",
        help="the Channels instance's unix socket, as this machine reaches it: adds core+unix",
    )
    add(
        "--monitor-user",
        metavar="NAME",
        help=f"the ACL user that reads INFO, its password from ${redisside.MONITOR_PASSWORD_ENV}",
    )
    args = cli.parse_with_output(parser, argv, "capacity-report", "the knees as JSON")
    if args.unix_socket:
        if not Path(args.unix_socket).is_socket():
            parser.error(f"--unix-socket {args.unix_socket} is not a socket on this machine")
        if not any(s.transport == "unix" for s in args.setups):
            args.setups.append(Setup(transport="unix"))
    elif any(s.transport == "unix" for s in args.setups):
        parser.error("--setups names unix: give the instance's socket with --unix-socket")
    # What cli.Run reads: the load test's own arguments.
    args.cacert = None
    args.rate, args.duration, args.cache_rate = 1.0, args.step_duration, 0.0
    args.concurrency = args.clients
    return args


# -- CPU, read from the kernel and from Redis ------------------------------------------


def process_cpu(pid: int) -> float:
    """A process's user + system CPU seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_rss_mb(pid: int) -> float:
    """A process's resident memory, MB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def open_files(pid: int) -> int:
    """A process's open file descriptors (0 when they cannot be read)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def machine_cpu() -> dict[str, float]:
    """The machine's CPU seconds so far: busy, idle, steal (all cores together)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return {
        "busy": (user + nice + system + irq + softirq) / CLK_TCK,
        "idle": (idle + iowait) / CLK_TCK,
        "steal": steal / CLK_TCK,
    }


async def redis_counters(target: redisside.Target) -> dict[str, float]:
    client = target.client()
    try:
        info = await client.info()
    finally:
        await client.aclose()
    return {
        "cpu": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
        "commands": float(info["total_commands_processed"]),
        "clients": float(info["connected_clients"]),
    }


@dataclass
class Snapshot:
    t: float
    parts: dict[str, float]  # CPU seconds by part
    machine: dict[str, float]
    redis: dict[str, float]


class Parts:
    """The processes whose CPU the study reads: the app processes, the generators."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}

    async def snapshot(self, monitor: redisside.Target) -> Snapshot:
        return Snapshot(
            time.monotonic(),
            {name: process_cpu(pid) for name, pid in self.pids.items()},
            machine_cpu(),
            await redis_counters(monitor),
        )


def shares(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Each part's CPU as % of one core over the interval; the machine's busy and
    stolen share as % of all its cores."""
    wall = max(after.t - before.t, 1e-6)
    cores = os.cpu_count() or 1
    m = {k: after.machine[k] - before.machine[k] for k in after.machine}
    total = max(sum(m.values()), 1e-6)
    parts = {
        k: round(100 * (after.parts[k] - before.parts.get(k, 0)) / wall, 1) for k in after.parts
    }
    parts["redis"] = round(100 * (after.redis["cpu"] - before.redis["cpu"]) / wall, 1)
    return {
        "parts": parts,
        "machine_busy": round(100 * m["busy"] / total, 1),
        "steal": round(100 * m["steal"] / total, 1),
        "cores": cores,
        "redis_commands": after.redis["commands"] - before.redis["commands"],
        "wall_s": round(wall, 2),
    }


def verdict(
    sent: int, back: int, errors: dict[str, int], p99: float | None, budget_ms: float
) -> list[str]:
    """Why a step does not count toward the knee (empty: it does)."""
    why = []
    if sent - back:
        why.append(f"{sent - back} of {sent} messages not back within {DRAIN:g} s")
    if errors:
        why.append(f"{sum(errors.values())} client errors")
    if p99 is None or p99 > budget_ms:
        why.append(f"p99 {_ms(p99)} ms over the {budget_ms:g} ms budget")
    return why


def bottleneck(step: dict[str, Any]) -> str:
    """What a step's own measurements name as the limit."""
    cpu = step["cpu"]
    if cpu["steal"] >= STEAL_LIMIT:
        return f"the machine: {cpu['steal']:.0f}% of its CPU stolen by the hypervisor"
    part, share = max(cpu["parts"].items(), key=lambda kv: kv[1])
    if share >= SATURATED and part.startswith("generator"):
        return (
            f"{_part_name(part)} at {share:.0f}% of a core: the tool's limit, not the "
            "system's (raise --generators)"
        )
    if share >= SATURATED:
        return f"{_part_name(part)} at {share:.0f}% of a core"
    # (A few messages per step fall short by chance: each client's first is at a random phase.)
    if step.get("sent", 100) >= 100 and step["achieved"] < 0.9 * step["rate"]:
        return (
            f"the load generators sent {step['achieved']:g} of {step['rate']:g} msg/s: the "
            "tool's limit, not the system's (raise --generators)"
        )
    if cpu["machine_busy"] >= 90:
        return (
            f"the machine's {cpu['cores']} cores, {cpu['machine_busy']:.0f}% busy "
            f"(no single part saturated; the busiest, {_part_name(part)}, at {share:.0f}%)"
        )
    return (
        f"no part saturated (the busiest, {_part_name(part)}, at {share:.0f}% of a core; the "
        f"machine {cpu['machine_busy']:.0f}% busy): waiting, not CPU"
    )


def _part_name(part: str) -> str:
    if part == "redis":
        return "Redis"
    kind, n = part.split(" ")
    return f"{'application process' if kind == 'app' else 'load generator'} {n}"


async def app_gc(base: str) -> dict[str, float]:
    """An application process's GC pauses since the last read (its GET /gc)."""
    host, port = base.rsplit(":", 1)
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"GET /gc HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            await writer.drain()
            head, _, body = (await reader.read(1 << 16)).partition(b"\r\n\r\n")
            while len(body) < int(_header(head, b"content-length") or 0):
                more = await reader.read(1 << 16)
                if not more:
                    break
                body += more
        finally:
            writer.close()
    found: dict[str, float] = json.loads(body)
    return found


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def gc_limit(step: dict[str, Any], budget_ms: float) -> str | None:
    """A part whose garbage collector stopped it for longer than the budget."""
    pauses = step.get("gc") or {}
    if not pauses:
        return None
    part, seen = max(pauses.items(), key=lambda kv: kv[1]["longest_ms"])
    if seen["longest_ms"] < budget_ms:
        return None
    tool = ": the tool's limit, not the system's" if part.startswith("generator") else ""
    return (
        f"{_part_name(part)}'s garbage collector: stopped {seen['longest_ms']:.0f} ms at once "
        f"({seen['full']:g} full collections, {seen['total_ms']:.0f} ms in all){tool}"
    )


# -- the load generators -----------------------------------------------------------------


class Generators:
    """The load-generator processes (redis_tuned_loadtest.generator), one JSON line
    each way per command."""

    def __init__(self, count: int, logdir: Path) -> None:
        self.count = count
        self.logdir = logdir
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, parts: Parts) -> None:
        for n in range(self.count):
            with (self.logdir / f"generator-{n + 1}.log").open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "redis_tuned_loadtest.generator",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                    limit=1 << 26,
                )
            self.procs.append(proc)
            parts.pids[f"generator {n + 1}"] = proc.pid

    async def ask(self, commands: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
        """One command to each generator, at once; their answers."""

        async def one(proc: asyncio.subprocess.Process, cmd: dict[str, Any]) -> dict[str, Any]:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write((json.dumps(cmd) + "\n").encode())
            await proc.stdin.drain()
            async with asyncio.timeout(seconds + ANSWER_GRACE):
                line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(f"a load generator ended (see {self.logdir})")
            answer: dict[str, Any] = json.loads(line)
            if "error" in answer:
                raise RuntimeError(f"a load generator refused: {answer['error']}")
            return answer

        # Fewer commands than generators: fewer rooms than generators, the rest idle.
        mine = self.procs[: len(commands)]
        return await asyncio.gather(*(one(p, c) for p, c in zip(mine, commands, strict=True)))

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def shares_of_clients(clients: int, generators: int, group: int) -> list[tuple[int, int]]:
    """(first, count) per generator: whole rooms each, as even as rooms allow."""
    rooms = math.ceil(clients / group)
    out, first = [], 0
    for n in range(generators):
        mine = rooms // generators + (1 if n < rooms % generators else 0)
        count = min(mine * group, clients - first)
        out.append((first, max(count, 0)))
        first += max(count, 0)
    return [(f, c) for f, c in out if c > 0]


# -- one setup's ramp -------------------------------------------------------------------


class Study:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.run = cli.Run(args, workdir)
        self.channels = self.run.targets["tuned"][0]
        self.monitor = self.run.monitored("tuned", self.channels)
        self.parts = Parts()
        self.logdir = args.out / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.generators = Generators(args.generators, self.logdir)
        self.bases: list[str] = []  # the application processes of the setup running

    def say(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def environment(self, setup: Setup) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            t.password_env: os.environ.get(t.password_env, "") for t in self.run.targets["tuned"]
        }
        env["REDIS_TUNED_LOADTEST_LAYER"] = setup.layer
        env["REDIS_TUNED_LOADTEST_UNIX"] = (
            self.args.unix_socket if setup.transport == "unix" else None
        )
        env["REDIS_TUNED_LOADTEST_GC"] = "freeze" if setup.gc_freeze else None
        return env

    async def setup_ramp(self, setup: Setup, described: dict[str, Any], rnd: int) -> dict[str, Any]:
        args = self.args
        self.run.args.concurrency = math.ceil(args.clients / setup.processes)
        snippet, pool = self.run.snippet("tuned", described)
        logs = [self.workdir / f"app-{setup.key}-{rnd}-{n + 1}.log" for n in range(setup.processes)]
        pids: list[int] = []
        result: dict[str, Any] = {
            "setup": setup.key,
            "title": setup.title,
            "round": rnd,
            "pool_size": pool,
            "steps": [],
        }
        async with contextlib.AsyncExitStack() as stack:
            bases = [
                await stack.enter_async_context(
                    appserver.serving(snippet, setup.variant, log, self.environment(setup), pids)
                )
                for log in logs
            ]
            for n, pid in enumerate(pids):
                self.parts.pids[f"app {n + 1}"] = pid
            try:
                result |= await self._ramp(setup, bases)
            finally:
                for n in range(len(pids)):
                    self.parts.pids.pop(f"app {n + 1}", None)
                with contextlib.suppress(RuntimeError, TimeoutError):
                    await self.generators.ask([{"cmd": "close"}] * len(self.generators.procs), 10)
        app_errors: dict[str, int] = {}
        for log in logs:
            for kind, n in appserver.errors_in(log).items():
                app_errors[kind] = app_errors.get(kind, 0) + n
            cli.keep_tail(log, self.logdir / log.name, limit=16 * 1024)
        result["app_errors"] = app_errors
        return result

    async def _ramp(self, setup: Setup, bases: list[str]) -> dict[str, Any]:
        args = self.args
        self.bases = bases
        blocks = shares_of_clients(args.clients, len(self.generators.procs), args.group_size)
        began = time.monotonic()
        answers = await self.generators.ask(
            [
                {
                    "cmd": "connect",
                    "bases": bases,
                    "first": f,
                    "count": c,
                    "group_size": args.group_size,
                    "ramp": args.ramp,
                }
                for f, c in blocks
            ],
            args.ramp + 30,
        )
        connected = sum(a["connected"] for a in answers)
        connect_errors: dict[str, int] = {}
        for a in answers:
            for kind, n in a["errors"].items():
                connect_errors[kind] = connect_errors.get(kind, 0) + n
        out: dict[str, Any] = {
            "connected": connected,
            "connect_s": round(time.monotonic() - began, 1),
            "connect_errors": connect_errors,
            "redis_clients_held": int((await redis_counters(self.monitor))["clients"]),
            # What holding them costs each part: memory and descriptors.
            "held": {
                part: {"rss_mb": process_rss_mb(pid), "open_files": open_files(pid)}
                for part, pid in self.parts.pids.items()
            },
        }
        self.say(f"  {setup.title}: {connected} of {args.clients} clients connected")
        if connected == 0:
            return out | {"knee": None, "limit": "no client connected"}
        knee, steps = None, []
        for rate in args.rates:
            step = await self._step(rate, connected, blocks)
            steps.append(step)
            cpu = ", ".join(f"{k} {v:.0f}%" for k, v in step["cpu"]["parts"].items())
            self.say(
                f"    {rate:g} msg/s: p50 {_ms(step['p50'])} p99 {_ms(step['p99'])} ms, lost "
                f"{step['lost']}, CPU {cpu}"
            )
            if not step["ok"]:
                break
            knee = rate
        last = steps[-1]
        where = f"past {knee:g} msg/s" if knee is not None else f"at {last['rate']:g} msg/s"
        limit = (
            f"{where}: {last['why']}; limit: {last['limit']}"
            if not last["ok"]
            else f"held every step up to {last['rate']:g} msg/s (raise --rates); busiest: "
            f"{last['limit']}"
        )
        return out | {"knee": knee, "limit": limit, "steps": steps}

    async def _step(
        self, rate: float, connected: int, blocks: list[tuple[int, int]]
    ) -> dict[str, Any]:
        args = self.args
        per_client = rate / connected
        bases = self.bases
        await asyncio.gather(*(app_gc(b) for b in bases))  # this step's pauses only
        before = await self.parts.snapshot(self.monitor)
        start = time.monotonic() + 0.3
        answers = await self.generators.ask(
            [{"cmd": "step", "rate": per_client, "start": start, "duration": args.step_duration}]
            * len(blocks),
            args.step_duration + 5,
        )
        after = await self.parts.snapshot(self.monitor)
        pauses = {
            f"app {n + 1}": g
            for n, g in enumerate(await asyncio.gather(*(app_gc(b) for b in bases)))
        }
        pauses |= {f"generator {n + 1}": a["gc"] for n, a in enumerate(answers)}
        latencies = [x for a in answers for x in a["latencies_ms"]]
        sent, back = sum(a["sent"] for a in answers), sum(a["back"] for a in answers)
        errors: dict[str, int] = {}
        for a in answers:
            for kind, n in a["errors"].items():
                errors[kind] = errors.get(kind, 0) + n
        dist = report.distribution(latencies)
        cpu = shares(before, after)
        step = {
            "rate": rate,
            "achieved": round(sent / args.step_duration, 1),
            "sent": sent,
            "lost": sent - back,
            "delivered": sum(a["delivered"] for a in answers),
            "expected": sum(a["expected"] for a in answers),
            "p50": dist.get("p50"),
            "p95": dist.get("p95"),
            "p99": dist.get("p99"),
            "max": dist.get("max"),
            "errors": errors,
            "connected": sum(a["connected"] for a in answers),
            "cpu": cpu,
            "commands_per_message": round(cpu["redis_commands"] / sent, 2) if sent else None,
            "gc": pauses,
        }
        why = verdict(sent, back, errors, step["p99"], args.budget_ms)
        step["ok"] = not why
        step["why"] = "; ".join(why)
        named, paused = bottleneck(step), gc_limit(step, args.budget_ms)
        # No part saturated: a collector that stopped one longer than the budget is why.
        step["limit"] = (
            paused if paused and named.startswith(("no part", "the machine's")) else named
        )
        return step

    async def redis_ceiling(self, shape: str) -> dict[str, Any]:
        """Redis's own ceiling for a layer's command shape on the same instance."""
        c = self.channels
        env = dict(os.environ) | {
            "REDIS_CEILING_USER": c.username or "",
            "REDIS_CEILING_PASSWORD": c.password or "",
        }
        before = await self.parts.snapshot(self.monitor)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "redis_tuned_loadtest.ceiling",
                shape,
                c.host,
                str(c.port),
                str(self.args.ceiling_seconds),
                env=env,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(CEILING_PROCESSES)
        ]
        outputs = await asyncio.gather(
            *(asyncio.wait_for(p.communicate(), self.args.ceiling_seconds + 30) for p in procs)
        )
        after = await self.parts.snapshot(self.monitor)
        results = [json.loads(out.decode() or "{}") for out, _ in outputs]
        failed = [r["error"] for r in results if "error" in r or not r]
        if failed:
            return {"shape": shape, "error": failed[0]}
        seconds = max(r["seconds"] for r in results)
        wall = max(after.t - before.t, 1e-6)
        rate = sum(r["messages"] for r in results) / seconds
        return {
            "shape": shape,
            "messages_per_s": round(rate),
            "commands_per_message": ceiling.COMMANDS[shape],
            "commands_per_s": round(rate * ceiling.COMMANDS[shape]),
            "redis_cpu": round(100 * (after.redis["cpu"] - before.redis["cpu"]) / wall, 1),
            "driver_cpu": round(100 * sum(r["cpu_s"] for r in results) / wall, 1),
            "steal": shares(before, after)["steal"],
        }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def summarize(rounds: list[dict[str, Any]], setups: list[Setup]) -> list[dict[str, Any]]:
    """Per setup: the knee of each round, their spread, and the limit named."""
    out = []
    for s in setups:
        mine = [r for r in rounds if r["setup"] == s.key]
        knees = [r.get("knee") for r in mine]
        found = [k for k in knees if k is not None]
        at_knee = [
            next(st for st in r["steps"] if st["rate"] == r["knee"])
            for r in mine
            if r.get("knee") is not None
        ]
        out.append(
            {
                "setup": s.key,
                "title": s.title,
                "varies": dataclasses.asdict(s),
                "knees": knees,
                "knee_median": statistics.median(found) if found else None,
                "spread": (min(found), max(found)) if found else None,
                "limits": [r.get("limit") for r in mine],
                "redis_cpu_at_knee": [st["cpu"]["parts"]["redis"] for st in at_knee],
                "p99_at_knee": [st["p99"] for st in at_knee],
                "clients_held": [r.get("connected") for r in mine],
                "commands_per_message": [st["commands_per_message"] for st in at_knee],
            }
        )
    return out


async def run(args: argparse.Namespace, argv: list[str]) -> int:
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    began = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    redisside.raise_open_files(2 * args.clients + cli.HEADROOM_FILES)
    with tempfile.TemporaryDirectory(prefix="redis-tuned-capacity-") as tmp:
        study = Study(args, Path(tmp))
        described = await study.run.servers()
        await study.generators.start(study.parts)
        rounds: list[dict[str, Any]] = []
        ceilings: list[dict[str, Any]] = []
        try:
            for rnd in range(1, args.repeats + 1):
                for setup in args.setups:
                    study.say(f"round {rnd}/{args.repeats}: {setup.title}")
                    rounds.append(await study.setup_ramp(setup, described, rnd))
            if args.ceiling_seconds:
                for shape in sorted({s.layer for s in args.setups}):
                    study.say(f"Redis's ceiling, {shape} layer's shape")
                    ceilings.append(await study.redis_ceiling(shape))
        finally:
            await study.generators.stop()
    results = {
        "command": " ".join(shlex.quote(a) for a in ["redis-tuned-loadtest", "capacity", *argv]),
        "via": os.environ.get("REDIS_TUNED_LOADTEST_VIA", ""),
        "started": started,
        "elapsed_s": round(time.monotonic() - began),
        "machine": cli.machine(),
        "server": described[cli.instance_key("tuned", study.channels)],
        "parameters": {
            "clients": args.clients,
            "rates": args.rates,
            "step_duration": args.step_duration,
            "budget_ms": args.budget_ms,
            "group_size": args.group_size,
            "generators": args.generators,
            "repeats": args.repeats,
            "setups": [s.key for s in args.setups],
            "unix_socket": args.unix_socket,
        },
        "rounds": rounds,
        "ceilings": ceilings,
        "summary": summarize(rounds, args.setups),
    }
    capacity_report.write(args.out, results)
    if args.json:
        print(json.dumps({"out": str(args.out), "summary": results["summary"]}, indent=2))
    else:
        print(f"report: {args.out / 'report.md'} ({args.out / 'report.png'}, results.json)")
        for line in capacity_report.headline(results):
            print(line)
    held = all(r.get("connected") for r in rounds)
    return 0 if held else 1


def main(argv: list[str]) -> int:
    return cli.run_main(parse_args, run, argv, PROG)
