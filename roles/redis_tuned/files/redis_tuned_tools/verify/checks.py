"""Pure evaluation: expected values and observations in, check results out."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from redis_tuned_tools.common.values import SENSITIVE_DIRECTIVES, normalise

PASS, WARN, FAIL = "pass", "warn", "fail"

REDACTED = "(redacted)"


@dataclass
class Check:
    """One check's outcome. ``status`` is pass, warn (not in force, and why) or fail."""

    name: str
    status: str
    expected: Any = None
    observed: Any = None
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class Report:
    """Every check of one run, plus the figures the run measured."""

    checks: list[Check] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=dict)
    mode: str = "client"
    # What was verified: host, port, tls (as connected, after the defaults).
    target: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "target": self.target,
            "checks": [c.as_dict() for c in self.checks],
            "latency": self.latency,
        }


def _split_classes(text: str) -> list[str]:
    parts = text.split()
    return [" ".join(parts[i : i + 4]) for i in range(0, len(parts), 4)]


def compare_config(
    expected: Mapping[str, Any],
    live: Mapping[str, str | None],
    pending: Collection[str] = (),
) -> list[Check]:
    """One check per expected directive against its CONFIG GET value; a directive
    whose change waits for a restart (``pending``) that differs is a warning."""
    checks = []
    for directive in sorted(expected):
        want = normalise(directive, expected[directive])
        seen = live.get(directive)
        if seen is None:
            checks.append(
                Check(
                    f"config {directive}",
                    FAIL,
                    REDACTED if directive in SENSITIVE_DIRECTIVES else want,
                    None,
                    "the server does not know this directive (CONFIG GET is empty)",
                )
            )
            continue
        got = normalise(directive, seen)
        if directive == "client-output-buffer-limit":  # the classes the expectation names
            named = {c.split()[0] for c in _split_classes(want)}
            got = " ".join(c for c in _split_classes(got) if c.split()[0] in named)
        ok = got == want
        if directive in SENSITIVE_DIRECTIVES:  # compared, but the values are never shown
            want_shown, got_shown = REDACTED, REDACTED
            hint = "" if ok else f"live value differs (CONFIG GET {directive}; not shown)"
        else:
            want_shown, got_shown = want, got
            hint = "" if ok else f"live value differs: CONFIG GET {directive} answers {got!r}"
        status = PASS if ok else FAIL
        if not ok and directive in pending:
            status = WARN
            hint = (
                f"restart pending: the config file says {want_shown}, the running process has "
                f"{got_shown} (redis_tuned_restart_policy: deferred); restart the instance"
            )
        checks.append(Check(f"config {directive}", status, want_shown, got_shown, hint))
    return checks


def unreadable_config(expected: Mapping[str, Any], why: str) -> list[Check]:
    """CONFIG GET cannot be run (this user may not, or the server has it disabled or
    renamed): each expected directive fails; none expected, a warning."""
    if "unknown command" in why.lower():
        seen = "unknown command"
        hint = (
            f"{why}: CONFIG is disabled or renamed on this server (rename-command): the live "
            "config cannot be compared"
        )
    else:
        seen = "NOPERM"
        hint = (
            f"{why}: this user may not read the config; verify as an admin user or leave out "
            "--expect"
        )
    if not expected:
        return [Check("live config readable", WARN, "CONFIG GET", seen, hint)]
    return [
        Check(f"config {d}", FAIL, normalise(d, expected[d]), None, hint) for d in sorted(expected)
    ]


def check_nofile(
    soft_limit: int,
    maxclients_configured: int | None,
    maxclients_live: int,
    expected_nofile: int | None,
    cap: int | None = None,
) -> list[Check]:
    """The running process's open-files limit and the maxclients Redis really applies."""
    checks = []
    if expected_nofile is not None:
        if soft_limit >= expected_nofile:
            checks.append(Check("open files limit", PASS, expected_nofile, soft_limit))
        elif cap is not None and soft_limit >= cap:
            checks.append(
                Check(
                    "open files limit",
                    WARN,
                    expected_nofile,
                    soft_limit,
                    f"capped at {cap} by the hard limit of PID 1 (a container's ulimit); the unit "
                    f"asks for {expected_nofile}",
                )
            )
        else:
            checks.append(
                Check(
                    "open files limit",
                    FAIL,
                    expected_nofile,
                    soft_limit,
                    "the process runs with fewer open files than asked: set LimitNOFILE= in the "
                    "unit (limits.conf does not apply to services) and restart",
                )
            )
    need = (maxclients_configured or maxclients_live) + 32
    checks.append(
        Check(
            "open files >= maxclients + 32",
            PASS if soft_limit >= need else FAIL,
            need,
            soft_limit,
            ""
            if soft_limit >= need
            else "Redis needs maxclients + 32 descriptors; raise LimitNOFILE",
        )
    )
    if maxclients_configured is not None:
        lowered = maxclients_live < maxclients_configured
        checks.append(
            Check(
                "effective maxclients",
                FAIL if lowered else PASS,
                maxclients_configured,
                maxclients_live,
                (
                    f"Redis silently lowered maxclients from {maxclients_configured} to "
                    f"{maxclients_live} because it got only {soft_limit} open files"
                )
                if lowered
                else "",
            )
        )
    return checks


def check_sysctl(name: str, want: int, live: int, read_only: bool, at_least: bool) -> Check:
    """A kernel setting; read-only /proc/sys (a container) makes a miss a warning, not a lie."""
    ok = live >= want if at_least else live == want
    expected: Any = f">= {want}" if at_least else want
    if ok:
        return Check(f"sysctl {name}", PASS, expected, live)
    if read_only:
        return Check(
            f"sysctl {name}",
            WARN,
            expected,
            live,
            "not in force: /proc/sys is read-only here (a container); the host "
            "kernel's value applies and only the host can change it",
        )
    return Check(
        f"sysctl {name}",
        FAIL,
        expected,
        live,
        f"set {name}={want} (sysctl -w, and in /etc/sysctl.d for reboots)",
    )


def check_sysctl_text(name: str, want: str, live: str, read_only: bool) -> Check:
    """Any sysctl the role set, as text (whitespace folded): "4096 87380 6291456"."""
    if live == want:
        return Check(f"sysctl {name}", PASS, want, live)
    status = WARN if read_only else FAIL
    hint = (
        "not in force: /proc/sys is read-only here (a container)"
        if read_only
        else f"set {name}={want} (sysctl -w, and in /etc/sysctl.d for reboots)"
    )
    return Check(f"sysctl {name}", status, want, live, hint)


def thp_mode(text: str) -> str:
    """The selected mode in the THP switch's text ("always [madvise] never" -> madvise)."""
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else text.strip()


def check_thp(want: str, live_text: str, read_only: bool) -> Check:
    """Transparent huge pages as configured."""
    live = thp_mode(live_text)
    if want == "unchanged" or live == want:
        return Check("transparent hugepages", PASS, want, live)
    if read_only:
        return Check(
            "transparent hugepages",
            WARN,
            want,
            live,
            "not in force: /sys is read-only here (a container); the host decides",
        )
    return Check(
        "transparent hugepages",
        FAIL,
        want,
        live,
        f"echo {want} > /sys/kernel/mm/transparent_hugepage/enabled, and at boot",
    )


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``samples`` (not empty)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


LATENCY_BATCHES = 5


def latency_summary(samples_ms: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of round trips in milliseconds, and the robust p99: the
    median of the p99s of LATENCY_BATCHES consecutive batches, so that one
    stall (a page fault, a noisy neighbour) moves one batch, not the verdict."""
    size = max(1, len(samples_ms) // LATENCY_BATCHES)
    batches = [samples_ms[i : i + size] for i in range(0, size * LATENCY_BATCHES, size)]
    batch_p99s = [percentile(b, 99) for b in batches if b]
    return {
        "p50_ms": percentile(samples_ms, 50),
        "p95_ms": percentile(samples_ms, 95),
        "p99_ms": percentile(samples_ms, 99),
        "max_ms": max(samples_ms),
        "robust_p99_ms": statistics.median(batch_p99s),
    }


def check_latency(summary: Mapping[str, float], budget_p99_ms: float) -> Check:
    """The robust p99 of pooled PINGs (median of batch p99s) against the budget."""
    p99 = summary.get("robust_p99_ms", summary["p99_ms"])
    ok = p99 <= budget_p99_ms
    return Check(
        "latency p99",
        PASS if ok else FAIL,
        f"<= {budget_p99_ms} ms",
        f"{p99:.3f} ms (median of {LATENCY_BATCHES} batch p99s; overall p99 "
        f"{summary['p99_ms']:.3f} ms)",
        ""
        if ok
        else "round trips are slower than the budget: check load, network, "
        "slow commands (SLOWLOG GET) and swapping",
    )


COUNTERS = ("rejected_connections", "evicted_keys", "oom_refusals")


def counters(info: Mapping[str, Any]) -> dict[str, Any]:
    """The counters the health checks gate on, with the run_id they belong to."""
    oom = info.get("errorstat_OOM")
    return {
        "run_id": str(info.get("run_id", "")),
        "rejected_connections": int(info.get("rejected_connections", 0)),
        "evicted_keys": int(info.get("evicted_keys", 0)),
        "oom_refusals": int(oom.get("count", 0)) if isinstance(oom, Mapping) else 0,
    }


def _counter_check(
    name: str,
    now: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    keys: tuple[str, ...],
    hint: str,
    acknowledged: bool = False,
) -> Check:
    """A counter gated on what changed since the last successful verification of the
    same server process (same run_id): growth fails, unless the operator
    acknowledged it (--accept-counters: a warning, and the baseline moves on); without
    such a baseline, counts are history (since the process started), a warning with
    the numbers."""
    total = {k: int(now[k]) for k in keys}
    shown = ", ".join(f"{v} {k}" for k, v in total.items())
    same = bool(baseline) and baseline.get("run_id") == now["run_id"]  # type: ignore[union-attr]
    if same:
        grown = {k: total[k] - int(baseline.get(k, 0)) for k in keys}  # type: ignore[union-attr]
        if any(v > 0 for v in grown.values()):
            since = ", ".join(f"+{v} {k}" for k, v in grown.items() if v > 0)
            observed = f"{since} since the last successful verification"
            if acknowledged:
                return Check(
                    name, WARN, "no growth", observed,
                    "acknowledged with --accept-counters: growth from now on fails",
                )  # fmt: skip
            return Check(name, FAIL, "no growth", observed, hint)
        return Check(name, PASS, "no growth", f"{shown} (none new since the last verification)")
    if any(total.values()):
        return Check(
            name,
            WARN,
            "0",
            f"{shown} since the server started",
            "history: no earlier successful verification of this process to compare with; "
            "growth from now on fails. " + hint,
        )
    return Check(name, PASS, "0", shown)


def check_health(
    info: Mapping[str, Any],
    expect_aof: bool | None,
    policy: str | None,
    baseline: Mapping[str, Any] | None = None,
    acknowledged: bool = False,
) -> list[Check]:
    """Persistence status; rejected connections and, on noeviction, evictions and
    OOM refusals, gated on growth since ``baseline`` (see _counter_check)."""
    checks = []
    now = counters(info)
    if expect_aof is not None:
        aof = str(info.get("aof_enabled", "0")) == "1"
        checks.append(
            Check(
                "aof enabled",
                PASS if aof == expect_aof else FAIL,
                expect_aof,
                aof,
                "" if aof == expect_aof else "appendonly differs from what was asked",
            )
        )
    for key in ("aof_last_write_status", "rdb_last_bgsave_status", "aof_last_bgrewrite_status"):
        status = str(info.get(key, "ok"))
        checks.append(
            Check(
                key,
                PASS if status == "ok" else FAIL,
                "ok",
                status,
                ""
                if status == "ok"
                else "the last write failed: check disk space, permissions of dir, and the log",
            )
        )
    checks.append(
        _counter_check(
            "rejected connections",
            now,
            baseline,
            ("rejected_connections",),
            "clients were turned away at maxclients: raise maxclients (and LimitNOFILE) or "
            "pool; after a deliberate overload (redis-tuned-loadtest's idle crowd), "
            "acknowledge it with --accept-counters",
            acknowledged,
        )
    )
    if policy == "noeviction":
        checks.append(
            _counter_check(
                "no evictions or OOM on noeviction",
                now,
                baseline,
                ("evicted_keys", "oom_refusals"),
                "writes were refused at maxmemory: raise maxmemory or find the growth",
                acknowledged,
            )
        )
    return checks


KERNEL_WARNINGS = ("overcommit", "transparent huge pages", "transparent_hugepage", "somaxconn")


def startup_warnings(log_lines: Iterable[str]) -> list[str]:
    """Warnings Redis logged during its last start (lowered maxclients among them):
    from "Redis is starting" to "Ready to accept connections". A warning logged
    later (a refused CONFIG SET bind, say) is about that command, not the start."""
    current: list[str] = []
    starting = True
    for line in log_lines:
        if "Redis is starting" in line:
            current, starting = [], True
        elif "Ready to accept connections" in line:
            starting = False
        low = line.lower()
        warned = "# warning" in low or " warning " in low or "maxclients has been reduced" in low
        if starting and warned:
            current.append(line.strip())
    return current


def check_startup_warnings(lines: list[str], kernel_read_only: bool) -> Check:
    """Startup warnings fail the run, except kernel ones a read-only /proc/sys explains."""
    if not lines:
        return Check("startup warnings", PASS, "none", "none")
    unexplained = [
        ln
        for ln in lines
        if not (kernel_read_only and any(k in ln.lower() for k in KERNEL_WARNINGS))
    ]
    status = FAIL if unexplained else WARN
    shown = unexplained or lines
    hint = (
        "Redis warned at startup: "
        + " | ".join(_short(ln) for ln in shown[:3])
        + ("" if unexplained else " (kernel settings this container cannot change)")
    )
    return Check("startup warnings", status, "none", f"{len(lines)} warning(s)", hint)


def _short(line: str) -> str:
    """A log line without Redis's pid/role/timestamp prefix, cut to a readable length."""
    text = re.sub(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [#*.-] ", "", line)
    return text if len(text) <= 160 else text[:157] + "..."


TLS_WARN_DAYS = 14


def check_plain_port_closed(port: int, answered: bool, seen: str) -> Check:
    """A TLS-only instance: its plain port must not speak Redis in clear text."""
    name = f"plain port {port} closed (TLS only)"
    if answered:
        return Check(
            name,
            FAIL,
            "no clear-text Redis",
            seen,
            "the instance still serves clear text (passwords included): CONFIG SET port 0, "
            "or run the role again",
        )
    return Check(name, PASS, "no clear-text Redis", seen)


SOCKET_MODE = 0o660


def check_unixsocket(
    path: str, group: str, seen: tuple[bool, str, int] | None, error: str | None
) -> Check:
    """The unix socket the role made for a group's local applications: there, a socket,
    in that group, mode 660 (the group may connect, no one else)."""
    name = f"unix socket {path}"
    want = f"a socket of group {group}, mode 660"
    if seen is None:
        return Check(name, FAIL, want, error, "the server has no socket there: run the role again")
    is_socket, owner_group, mode = seen
    shown = f"{'a socket' if is_socket else 'not a socket'} of group {owner_group}, mode {mode:o}"
    if not is_socket or owner_group != group or mode != SOCKET_MODE:
        return Check(
            name, FAIL, want, shown,
            f"members of {group} cannot connect, or others can: the unit's ExecStartPost sets "
            "the group at each start; restart the instance (or run the role again)",
        )  # fmt: skip
    return Check(name, PASS, want, shown)


def check_tls(where: str, days_left: float | None, error: str | None) -> Check:
    """The server's TLS certificate: verified against the CA, and how long it has left."""
    name = f"TLS certificate ({where})"
    if error is not None:
        return Check(
            name,
            FAIL,
            "verified by the CA",
            error,
            "the handshake failed: is the port TLS, is the certificate signed by this CA, "
            "does it name the host and is it still valid?",
        )
    assert days_left is not None
    observed = f"verified, expires in {days_left:.0f} days"
    if days_left < TLS_WARN_DAYS:
        return Check(
            name,
            WARN,
            f">= {TLS_WARN_DAYS} days left",
            observed,
            "renew the certificate: clients refuse it once it expires",
        )
    return Check(name, PASS, f">= {TLS_WARN_DAYS} days left", observed)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text exposition: metric name -> [(labels, value)]; comments skipped."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or line.startswith("#"):
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        out.setdefault(name, []).append((dict(_LABEL.findall(labels or "")), number))
    return out


def check_exporter(url: str, text: str | None, error: str | None, run_id: str | None) -> Check:
    """The instance's exporter answers, reaches Redis (redis_up 1, no scrape error)
    and scrapes this instance (its run_id), not some other one."""
    name = "exporter"
    if text is None:
        return Check(
            name,
            FAIL,
            "redis_up 1",
            error,
            f"nothing answers at {url}: systemctl status 'redis-tuned-exporter@*'",
        )
    metrics = parse_metrics(text)
    up = [v for _, v in metrics.get("redis_up", [])]
    scrape_error = [v for _, v in metrics.get("redis_exporter_last_scrape_error", [])]
    ids = {labels.get("run_id") for labels, _ in metrics.get("redis_instance_info", [])}
    duration = [v for _, v in metrics.get("redis_exporter_last_scrape_duration_seconds", [])]
    observed = f"redis_up {up[0]:g}" if up else "no redis_up"
    if duration:
        observed += f", scrape {duration[0] * 1000:.1f} ms"
    if up != [1.0]:
        hint = "the exporter cannot log in to Redis: check its password file and ACL user"
        return Check(name, FAIL, "redis_up 1", observed, hint)
    if scrape_error and scrape_error[0] != 0:
        hint = "the exporter reports a scrape error: journalctl -u 'redis-tuned-exporter@*'"
        return Check(name, FAIL, "redis_up 1", observed + ", scrape error", hint)
    if run_id is not None and run_id not in ids:
        hint = "this exporter scrapes another Redis instance than the one verified"
        return Check(name, FAIL, f"run_id {run_id}", f"run_id {sorted(map(str, ids))}", hint)
    return Check(name, PASS, "redis_up 1", observed)


# --- a node of a replication group, and its Sentinels (issue 20 #3) -----------------


@dataclass
class SentinelView:
    """What one Sentinel answered of a group: where it says the primary is, its
    CKQUORUM answer, how many other Sentinels it sees; ``error`` where it did not
    answer."""

    address: str
    primary: str | None = None
    ckquorum: str | None = None
    other_sentinels: int | None = None
    replicas: int | None = None
    error: str | None = None


def _replica_lags(info: Mapping[str, Any]) -> dict[str, tuple[str, int | None]]:
    """A primary's replicas from INFO replication: ip:port -> (state, lag in s)."""
    out: dict[str, tuple[str, int | None]] = {}
    for key, value in info.items():
        if not re.fullmatch(r"slave\d+", key):
            continue
        # redis-py parses "ip=...,port=...,state=online,lag=0" into a dict already.
        if isinstance(value, Mapping):
            fields = {str(k): str(v) for k, v in value.items()}
        else:
            fields = dict(part.split("=", 1) for part in str(value).split(",") if "=" in part)
        lag = fields.get("lag")
        out[f"{fields.get('ip')}:{fields.get('port')}"] = (
            fields.get("state", "?"),
            int(lag) if lag is not None and lag.lstrip("-").isdigit() else None,
        )
    return out


def check_replication(
    info: Mapping[str, Any], max_lag_s: float, known_replicas: int | None
) -> list[Check]:
    """This node's side of replication, from its INFO replication: a replica's link
    up and recent, a primary's replicas all connected, online and within the lag
    bound (``known_replicas``: how many the Sentinels know of, when they said)."""
    role = str(info.get("role", "?"))
    if role == "slave":
        link = str(info.get("master_link_status", "?"))
        checks = [
            Check(
                "replication: link to the primary",
                PASS if link == "up" else FAIL,
                "up",
                f"{link} ({info.get('master_host')}:{info.get('master_port')})",
                ""
                if link == "up"
                else "the replica cannot reach or log in to its primary: "
                "check the primary, the replication user and masterauth",
            )
        ]
        last = info.get("master_last_io_seconds_ago")
        seconds = int(str(last)) if str(last).lstrip("-").isdigit() else None
        if link == "up":
            late = seconds is None or seconds > max_lag_s
            checks.append(
                Check(
                    "replication: lag",
                    FAIL if late else PASS,
                    f"<= {max_lag_s:g} s",
                    f"{seconds} s since the primary last spoke",
                    "the replica is behind: a failover now would lose what it lacks"
                    if late
                    else "",
                )
            )
        if str(info.get("master_sync_in_progress", "0")) == "1":
            checks.append(
                Check(
                    "replication: full sync",
                    WARN,
                    "done",
                    "in progress",
                    "the replica is loading a full copy from its primary",
                )
            )
        return checks
    if role != "master":
        return [Check("replication: role", FAIL, "master or slave", role)]
    replicas = _replica_lags(info)
    connected = sum(1 for state, _ in replicas.values() if state == "online")
    want = known_replicas if known_replicas is not None else connected
    checks = [
        Check(
            "replication: replicas connected",
            PASS if connected >= want and want > 0 else FAIL,
            f"{want} online (as the Sentinels know them)"
            if known_replicas is not None
            else "at least 1 online",
            f"{connected} online of {len(replicas)}",
            ""
            if connected >= want and want > 0
            else "a replica is down or cannot sync: a "
            "failover now has fewer (or no) nodes to promote",
        )
    ]
    lagging = sorted(a for a, (_, lag) in replicas.items() if lag is None or lag > max_lag_s)
    checks.append(
        Check(
            "replication: replica lag",
            FAIL if lagging else PASS,
            f"<= {max_lag_s:g} s",
            ", ".join(f"{a}: {replicas[a][1]}" for a in sorted(replicas)) or "no replicas",
            f"behind: {', '.join(lagging)}" if lagging else "",
        )
    )
    return checks


def check_sentinels(
    views: list[SentinelView], node: str, node_role: str, node_primary: str | None
) -> list[Check]:
    """The group as its Sentinels see it: every one answers, all name one primary,
    each reaches the quorum and sees the others, and this node (``node``, ip:port)
    is what they say (the primary, or a replica of it: ``node_primary``)."""
    answered = [v for v in views if v.error is None]
    silent = [f"{v.address} ({v.error})" for v in views if v.error is not None]
    checks = [
        Check(
            "Sentinels answer",
            FAIL if silent or not views else PASS,
            f"{len(views)} answer",
            f"{len(answered)} answer" + (f"; not: {', '.join(silent)}" if silent else ""),
            "a Sentinel down or unreachable: fewer votes for a failover" if silent else "",
        )
    ]
    seen = {v.address: v.primary for v in answered}
    primaries = sorted({p for p in seen.values() if p})
    agree = len(primaries) == 1 and all(seen.values())
    checks.append(
        Check(
            "Sentinels agree on the primary",
            PASS if agree else FAIL,
            "one primary",
            ", ".join(f"{a}: {p}" for a, p in sorted(seen.items())) or "none",
            ""
            if agree
            else "the Sentinels disagree (a split view) or one does not watch "
            "the group: clients may write to two primaries",
        )
    )
    short = [f"{v.address}: {v.ckquorum}" for v in answered if not str(v.ckquorum).startswith("OK")]
    checks.append(
        Check(
            "quorum reachable (SENTINEL CKQUORUM)",
            FAIL if short or not answered else PASS,
            "OK",
            "; ".join(short) or f"OK from {len(answered)}",
            "too few Sentinels reachable to agree on or authorise a failover" if short else "",
        )
    )
    blind = [
        f"{v.address}: {v.other_sentinels}" for v in answered if v.other_sentinels != len(views) - 1
    ]
    checks.append(
        Check(
            "every Sentinel sees the others",
            FAIL if blind else PASS,
            f"{len(views) - 1} others each",
            "; ".join(blind) or "yes",
            "a Sentinel that does not see the others (a network split, a wrong password, "
            "announce addresses)"
            if blind
            else "",
        )
    )
    if agree:
        primary = primaries[0]
        fits = (
            (node_role == "master")
            if primary == node
            else (node_role == "slave" and node_primary == primary)
        )
        checks.append(
            Check(
                "this node as the Sentinels see it",
                PASS if fits else FAIL,
                "the primary" if primary == node else f"a replica of {primary}",
                f"{node_role}" + (f" of {node_primary}" if node_primary else ""),
                ""
                if fits
                else "the node is not what the Sentinels say: they will reconfigure "
                "it, or a client of the node writes where Sentinel clients do not",
            )
        )
    return checks
