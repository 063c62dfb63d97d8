"""redis-tuned-verify: the command line.

``main(argv) -> int``: exit 0 every check passed, 1 a check failed, 2 usage or
connection error (one line on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import sys
from pathlib import Path
from typing import Any, NoReturn

import redis

from redis_tuned_tools.verify import checks as ck
from redis_tuned_tools.verify import probe

EXPECT_DIR = Path("/etc/redis/redis_tuned")
INSTANCE_NAME = re.compile(r"^[a-z0-9_-]+$")
# Where --instance keeps the counters of its last successful verification.
STATE_DIR = Path("/var/lib/redis_tuned")
DEFAULT_DATABASES = "0,1"  # the guide's workload: db 0 Channels layer, db 1 Django cache


class UsageError(Exception):
    """Bad flags or unreadable inputs: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a misuse in one line (no usage block) and exits 2."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            # Name the options only: a value after a mistyped --passwd may be a secret.
            names = [a.split("=", 1)[0] for a in message[len(prefix) :].split() if a[:1] == "-"]
            message = prefix + (" ".join(names) or "(values not shown)")
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="redis-tuned-verify",
        description="Prove that a Redis server's tuning is in force, from a client and, "
        "on the Redis host, from what only the host can see. The password comes from "
        "--password-file or $REDISCLI_AUTH, never from the command line.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--host", help="default: the address in the expectations (--instance), or 127.0.0.1"
    )
    parser.add_argument("--port", type=int, default=None, help="default: from --instance, or 6379")
    parser.add_argument(
        "--user", default=None, help="ACL user to log in as (default user if unset)"
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        help="file holding the password; - reads it from standard input",
    )
    parser.add_argument("--tls", action="store_true", help="connect over TLS")
    parser.add_argument("--cacert", help="CA certificate that signed the server's (with --tls)")
    parser.add_argument("--cert", help="client certificate, where the server asks for one")
    parser.add_argument("--key", help="client key, with --cert")
    parser.add_argument(
        "--require-auth",
        action="store_true",
        help="fail if a client without credentials is served (implied by "
        "requires_auth in the expectations)",
    )
    parser.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a directive the live config must have (repeatable)",
    )
    parser.add_argument("--expect-file", type=Path, help="expectations JSON written by the role")
    parser.add_argument("--instance", help=f"read {EXPECT_DIR}/NAME.json (on the Redis host)")
    parser.add_argument(
        "--exporter-url",
        help="the instance's redis_exporter metrics URL (default: from the expectations)",
    )
    parser.add_argument(
        "--databases",
        default=DEFAULT_DATABASES,
        help="databases that must accept SELECT (default %(default)s)",
    )
    parser.add_argument("--latency-samples", type=int, default=1000)
    parser.add_argument("--latency-p99-ms", type=float, default=5.0)
    parser.add_argument(
        "--fresh-samples",
        type=int,
        default=50,
        help="fresh connections timed for the pooling ratio",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="socket timeout, seconds")
    parser.add_argument(
        "--mode",
        choices=["auto", "host", "client"],
        default="auto",
        help="host checks (limits, kernel, log) need the server's machine",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        help="counters of the last successful verification: rejected connections, "
        "evictions and OOM refusals fail only when they grew since then (default with "
        f"--instance: {STATE_DIR}/NAME.verify.json; without one, counts are warnings)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    given = sys.argv[1:] if argv is None else argv
    if any(a in ("-a", "--pass", "--password") or a.startswith("--password=") for a in given):
        parser.error(
            "a password is never taken on the command line (it would show in ps): "
            "use --password-file FILE or the REDISCLI_AUTH variable"
        )
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port must be 1-65535, got {args.port}")
    if args.instance is not None and not INSTANCE_NAME.match(args.instance):
        parser.error("--instance takes an instance name ([a-z0-9_-]+), not a path or other text")
    if not 1 <= args.latency_samples <= 1_000_000:
        parser.error("--latency-samples must be 1-1000000")
    if not 0 <= args.fresh_samples <= 10_000:
        parser.error("--fresh-samples must be 0-10000")
    # NaN compares false with everything: these bounds refuse it too.
    if not 0 < args.timeout <= 300:
        parser.error(f"--timeout must be a number of seconds in (0, 300], got {args.timeout}")
    if not 0 < args.latency_p99_ms < float("inf"):
        parser.error(f"--latency-p99-ms must be a positive number, got {args.latency_p99_ms}")
    if (args.cacert or args.cert) and not args.tls:
        parser.error("--cacert and --cert go with --tls")
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    for flag in ("cacert", "cert", "key"):  # --password-file is read later: it may be stdin
        path = getattr(args, flag)
        if path and not Path(path).is_file():
            parser.error(f"--{flag} {path}: no such file")
    if args.exporter_url and not args.exporter_url.startswith(("http://", "https://")):
        parser.error(f"--exporter-url takes an http:// or https:// URL, got {args.exporter_url}")
    if args.latency_p99_ms <= 0 or args.timeout <= 0:
        parser.error("--latency-p99-ms and --timeout must be positive")
    return args


def load_expectations(args: argparse.Namespace) -> dict[str, Any]:
    """Merge the expectations file(s) and --expect pairs; --expect wins."""
    data: dict[str, Any] = {"config": {}}
    paths = []
    if args.instance:
        paths.append(EXPECT_DIR / f"{args.instance}.json")
    if args.expect_file:
        paths.append(args.expect_file)
    for path in paths:
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read expectations {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise UsageError(f"{path}: expected a JSON object")
        data = {**data, **loaded, "config": {**data["config"], **loaded.get("config", {})}}
    for pair in args.expect:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--expect takes KEY=VALUE, got {pair!r}")
        data["config"][key.strip()] = value
    return data


ADMIN_USER = "redis-tuned"
ADMIN_SECRET = EXPECT_DIR / "admin.secret"


def read_credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(user, password): --password-file or $REDISCLI_AUTH for --user (or the default
    user); with --instance and neither, the role's own user and its secret on this host."""
    if args.password_file:
        path: Path = args.password_file
        if str(path) == "-":
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            try:
                password = path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise UsageError(f"cannot read --password-file: {exc.strerror}") from exc
        if not password:
            # Not "no password": an empty file is a mistake, and the server's refusal
            # would then blame the password.
            raise UsageError(f"--password-file {path} holds no password")
        return args.user, password
    env = os.environ.get("REDISCLI_AUTH")
    if env:
        return args.user, env
    if args.instance and args.user is None and ADMIN_SECRET.is_file():
        try:
            return ADMIN_USER, ADMIN_SECRET.read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read {ADMIN_SECRET}: {exc.strerror} (run as root)") from exc
    return args.user, None


def connection(
    args: argparse.Namespace, expected: dict[str, Any], user: str | None, password: str | None
) -> probe.Target:
    """Where and how to connect: the flags, else the expectations (an instance
    that is TLS-only, plain port 0, is reached over TLS with its CA)."""
    tls_exp = expected.get("tls") or {}
    # The role writes the address it reaches the instance at on its host: an
    # instance bound to a private address only is not on 127.0.0.1.
    args.host = args.host or str(expected.get("host") or "127.0.0.1")
    tls, cacert, cert, key = args.tls, args.cacert, args.cert, args.key
    port = args.port or _port(expected.get("port") or 6379, "port")
    if tls_exp and not expected.get("port"):
        port, tls = args.port or _port(tls_exp.get("port"), "tls.port"), True
        cacert = cacert or tls_exp.get("ca_file")
        if not cert and tls_exp.get("auth_clients", "no") != "no":
            cert, key = tls_exp.get("cert_file"), tls_exp.get("key_file")
    return probe.Target(
        args.host,
        port,
        password,
        user,
        args.timeout,
        tls=tls,
        cacert=cacert,
        cert=cert,
        key=key,
        # Over loopback the chain is verified but not the name: a server
        # certificate names the host as clients on the network address it.
        check_hostname=not ck.is_loopback(args.host),
    )


def _port(value: Any, field: str) -> int:
    """A port from the expectations, 1-65535, never wrapped around to another server's."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if number is None or not 1 <= number <= 65535:
        raise UsageError(f"expectations: {field} must be a port number 1-65535, got {value!r}")
    return number


def exporter_url(exporter: dict[str, Any] | None, host: str) -> str | None:
    """The metrics URL of the exporter the expectations name: on its listen
    address, or on the verified host's address where it listens on all."""
    if not exporter:
        return None
    listen = str(exporter.get("listen") or "0.0.0.0")
    where = host if listen in ("0.0.0.0", "::", "") else listen
    where = f"[{where}]" if ":" in where else where
    return f"http://{where}:{int(exporter['port'])}/metrics"


def run(args: argparse.Namespace) -> ck.Report:
    expected = load_expectations(args)
    user, password = read_credentials(args)
    target = connection(args, expected, user, password)
    args.port = target.port  # for the error line, should it come to that
    try:
        databases = [int(d) for d in args.databases.split(",") if d.strip()]
    except ValueError as exc:
        raise UsageError(f"--databases takes numbers like 0,1, got {args.databases!r}") from exc
    report = ck.Report(target={"host": target.host, "port": target.port, "tls": target.tls})
    client = target.client()
    try:
        probe.ping(client)
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        if not probe.is_auth_error(exc):
            raise
        hint = (
            "the server wants a password: give --password-file or REDISCLI_AUTH"
            if target.password is None
            else "the password (or user) was refused: check the file / REDISCLI_AUTH"
        )
        report.checks.append(ck.Check("auth", ck.FAIL, "PONG", str(exc).split("\n")[0], hint))
        return report
    report.checks.append(ck.Check("reachable + auth + PING", ck.PASS, "PONG", "PONG"))
    tls_port = (expected.get("tls") or {}).get("port") or (target.port if target.tls else None)
    if tls_port:
        tls_target = dataclasses.replace(
            target, tls=True, cacert=target.cacert or (expected.get("tls") or {}).get("ca_file")
        )
        days, error = probe.tls_certificate(tls_target, int(tls_port))
        report.checks.append(ck.check_tls(f"port {tls_port}", days, error))
    if args.require_auth or expected.get("requires_auth"):
        refused, answer = probe.anonymous_refused(target)
        report.checks.append(
            ck.Check(
                "anonymous access refused",
                ck.PASS if refused else ck.FAIL,
                "NOAUTH",
                answer,
                ""
                if refused
                else "a client without credentials is served: set a password "
                "(requirepass) or disable the default user (ACL SETUSER default off)",
            )
        )

    for db in databases:
        try:
            probe.select(target, db)
            report.checks.append(ck.Check(f"SELECT {db}", ck.PASS, "OK", "OK"))
        except redis.ResponseError as exc:
            report.checks.append(
                ck.Check(
                    f"SELECT {db}",
                    ck.FAIL,
                    "OK",
                    str(exc),
                    "raise `databases` or use a database that exists",
                )
            )

    try:
        info: dict[str, Any] | None = probe.info(client)
    except probe.NoPermission as exc:
        info = None
        report.checks.append(
            ck.Check(
                "server info readable",
                ck.WARN,
                "INFO",
                "NOPERM",
                f"{exc}: health and host checks need INFO; verify as an admin user for those",
            )
        )
    directives = sorted(
        set(expected["config"])
        | {"maxclients", "tcp-backlog", "logfile", "maxmemory-policy", "appendonly"}
    )
    try:
        live = probe.config_get(client, directives)
        report.checks.extend(ck.compare_config(expected["config"], live))
    except probe.NoPermission as exc:
        live = {}
        report.checks.extend(ck.unreadable_config(expected["config"], str(exc)))

    want_aof = None
    if "appendonly" in expected["config"]:
        want_aof = ck.normalise("appendonly", expected["config"]["appendonly"]) == "yes"
    state_file = args.state_file or (
        STATE_DIR / f"{args.instance}.verify.json" if args.instance else None
    )
    baseline = read_state(state_file)
    if info is not None:
        report.checks.extend(
            ck.check_health(info, want_aof, live.get("maxmemory-policy"), baseline)
        )

    url = args.exporter_url or exporter_url(expected.get("exporter"), target.host)
    if url:
        text, error = probe.scrape(url, args.timeout)
        run_id = str(info["run_id"]) if info and "run_id" in info else None
        report.checks.append(ck.check_exporter(url, text, error, run_id))

    pid = int((info or {}).get("process_id", 0))
    host_mode = args.mode == "host" or (
        args.mode == "auto" and probe.same_host(target) and probe.local_redis_process(pid)
    )
    if args.mode == "host" and not probe.local_redis_process(pid):
        raise UsageError(f"--mode host: no redis-server with pid {pid} on this machine")
    if host_mode:
        report.mode = "host"
        report.checks.extend(host_checks(pid, info or {}, live, expected))

    samples = probe.time_pings(client, args.latency_samples, warmup=min(100, args.latency_samples))
    summary: dict[str, Any] = dict(ck.latency_summary(samples))
    summary["samples"] = args.latency_samples
    if args.fresh_samples:
        fresh = probe.time_fresh_connections(target, args.fresh_samples)
        summary["fresh_connection_p50_ms"] = statistics.median(fresh)
        summary["fresh_samples"] = args.fresh_samples
        summary["fresh_over_pooled_p50"] = summary["fresh_connection_p50_ms"] / summary["p50_ms"]
    report.latency = summary
    report.checks.append(ck.check_latency(summary, args.latency_p99_ms))
    client.close()
    if state_file is not None and info is not None and report.ok:
        error = write_state(state_file, ck.counters(info))
        if error:
            report.checks.append(
                ck.Check("state saved", ck.WARN, str(state_file), error, "growth cannot be gated")
            )
    return report


def read_state(path: Path | None) -> dict[str, Any] | None:
    """The counters saved by the last successful verification, or None."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(path: Path, counters: dict[str, Any]) -> str | None:
    """Save the counters of a successful verification (0600); the error, if any."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(counters) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def host_checks(
    pid: int, info: dict[str, Any], live: dict[str, str | None], expected: dict[str, Any]
) -> list[ck.Check]:
    """What only the Redis host can see: process limits, kernel settings, the log."""
    out: list[ck.Check] = []
    config_file = str(info.get("config_file", "") or "")
    configured = expected["config"].get("maxclients")
    if configured is None and config_file:
        try:
            configured = probe.configured_maxclients(config_file)
        except OSError:
            configured = None
    try:
        soft, _hard = probe.nofile_limits(pid)
        cap = probe.pid1_nofile_hard()
        out.extend(
            ck.check_nofile(
                soft,
                int(configured) if configured is not None else None,
                int(live.get("maxclients") or 0),
                expected.get("nofile"),
                cap,
            )
        )
    except OSError as exc:
        out.append(
            ck.Check(
                "open files limit",
                ck.FAIL,
                expected.get("nofile"),
                None,
                f"cannot read /proc/{pid}/limits ({exc.strerror or exc}): run as root",
            )
        )
    sysctls = expected.get("sysctl", {})
    overcommit, ro = probe.sysctl("vm.overcommit_memory")
    out.append(
        ck.check_sysctl(
            "vm.overcommit_memory",
            int(sysctls.get("vm.overcommit_memory", 1)),
            overcommit,
            ro,
            False,
        )
    )
    somaxconn, ro_net = probe.sysctl("net.core.somaxconn")
    backlog = int(live.get("tcp-backlog") or 511)
    out.append(ck.check_sysctl("net.core.somaxconn", backlog, somaxconn, ro_net, True))
    thp = probe.thp()
    if thp is not None:
        out.append(ck.check_thp(str(expected.get("transparent_hugepages", "never")), *thp))
    lines = probe.log_lines(str(live.get("logfile") or ""), pid)
    if lines is None:
        out.append(
            ck.Check(
                "startup warnings",
                ck.WARN,
                "none",
                "log not readable",
                "cannot read the log file or journal: run as root",
            )
        )
    else:
        out.append(ck.check_startup_warnings(ck.startup_warnings(lines), ro or ro_net))
    return out


def render_table(report: ck.Report) -> str:
    rows = [("", "check", "expected", "observed", "hint")]
    marks = {ck.PASS: "ok", ck.WARN: "WARN", ck.FAIL: "FAIL"}
    for c in report.checks:
        rows.append((marks[c.status], c.name, _cell(c.expected), _cell(c.observed), c.hint))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    lat = report.latency
    if lat:
        line = (
            f"latency ({lat['samples']} PINGs, one pooled connection): p50 {lat['p50_ms']:.3f} "
            f"p95 {lat['p95_ms']:.3f} p99 {lat['p99_ms']:.3f} max {lat['max_ms']:.3f} ms"
        )
        if "fresh_connection_p50_ms" in lat:
            line += (
                f"; fresh connect+AUTH+PING p50 {lat['fresh_connection_p50_ms']:.3f} ms = "
                f"{lat['fresh_over_pooled_p50']:.1f}x pooled"
            )
        lines.append(line)
    counts = {s: sum(c.status == s for c in report.checks) for s in (ck.PASS, ck.WARN, ck.FAIL)}
    where = report.target
    at = (
        f" at {where['host']}:{where['port']}{' (TLS)' if where.get('tls') else ''}"
        if where
        else ""
    )
    lines.append(
        f"{report.mode} mode{at}: {counts[ck.PASS]} passed, {counts[ck.WARN]} warnings, "
        f"{counts[ck.FAIL]} failed"
    )
    return "\n".join(ln.rstrip() for ln in lines)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse already printed one usage line
        return 2 if exc.code else 0
    try:
        report = run(args)
    except UsageError as exc:
        print(f"redis-tuned-verify: {exc}", file=sys.stderr)
        return 2
    except probe.Unreachable as exc:
        print(
            f"redis-tuned-verify: cannot reach {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 2
    except redis.RedisError as exc:
        print(f"redis-tuned-verify: {args.host}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(render_table(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
