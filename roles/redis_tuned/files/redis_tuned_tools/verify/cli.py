"""redis-tuned-verify: the command line.

``main(argv) -> int``: exit 0 every check passed, 1 a check failed, 2 usage or
connection error (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import redis

from redis_tuned_tools.common import inputs
from redis_tuned_tools.common.cli import SECRET_OPTION, HelpFormatter, OneLineParser, fail, write
from redis_tuned_tools.common.inputs import Expectations, UsageError
from redis_tuned_tools.common.target import (
    SHAPE_ERRORS,
    NotRedis,
    Target,
    Unreachable,
    is_auth_error,
    ping,
)
from redis_tuned_tools.common.values import WILDCARDS, is_loopback, normalise, url_host
from redis_tuned_tools.verify import checks as ck
from redis_tuned_tools.verify import probe

# The role's own directory per server flavour (Redis, Valkey): a host has one.
EXPECT_DIRS = (Path("/etc/redis/redis_tuned"), Path("/etc/valkey/redis_tuned"))
INSTANCE_NAME = re.compile(r"^[a-z0-9_-]+$")
# Where --instance keeps the counters of its last successful verification.
STATE_DIR = Path("/var/lib/redis_tuned")
PROG = "redis-tuned-verify"
DEFAULT_DATABASES = "0,1"  # the guide's workload: db 0 Channels layer, db 1 Django cache


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="redis-tuned-verify",
        description="Prove that a Redis server's tuning is in force, from a client and, "
        "on the Redis host, from what only the host can see. The password comes from "
        "--password-file or $REDISCLI_AUTH, never from the command line.",
        epilog="examples:\n"
        "  redis-tuned-verify --instance main --mode host   (on the Redis host, as root)\n"
        "  REDISCLI_AUTH=... redis-tuned-verify --host 10.0.0.11 --port 6379 "
        "--user redis-tuned-verify --mode client",
        formatter_class=HelpFormatter,
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
    parser.add_argument(
        "--instance",
        help="read NAME.json of the role's directory on this host "
        f"({' or '.join(map(str, EXPECT_DIRS))})",
    )
    parser.add_argument(
        "--exporter-url",
        help="the instance's redis_exporter metrics URL (default: from the expectations)",
    )
    parser.add_argument(
        "--databases",
        help=f"databases that must accept SELECT (default {DEFAULT_DATABASES}, those of them "
        "below an expected `databases`)",
    )
    parser.add_argument("--latency-samples", type=int, default=1000, help="PINGs timed")
    parser.add_argument(
        "--latency-p99-ms", type=float, default=5.0, help="p99 budget of those PINGs, in ms"
    )
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
    parser.add_argument(
        "--accept-counters",
        action="store_true",
        help="acknowledge what those counters grew by since the last successful verification "
        "(a deliberate overload, an incident dealt with): a warning, and the baseline moves on",
    )
    parser.add_argument(
        "--sentinel",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a Sentinel of the instance's replication group (each one: repeat it); with "
        "them, the group is checked too (default: the expect-file's sentinels)",
    )
    parser.add_argument(
        "--master-name", help="the group's name at the Sentinels (default: the expect-file's)"
    )
    parser.add_argument(
        "--sentinel-password-file",
        type=Path,
        help="the Sentinels' password; - reads it from standard input (default: "
        "$REDIS_SENTINEL_PASSWORD, else the expect-file's password_file, which the role "
        "writes on a node's host, else none)",
    )
    parser.add_argument(
        "--max-lag-s", type=float, default=10.0, help="replication lag bound, in seconds"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--batch",
        action="store_true",
        help='alone: read {"runs": [[ARG, ...], ...], "password": P} on standard input '
        "and verify each run (its own arguments; P is its --password-file -) in this one "
        'process; print {"runs": [{"exit", "stdout", "stderr"}, ...]}, exit the worst '
        "run's code (the role verifies a host's instances so)",
    )
    given = sys.argv[1:] if argv is None else argv
    if any(SECRET_OPTION.match(a) for a in given):
        parser.error(
            "a password is never taken on the command line (it would show in ps): "
            "use --password-file FILE or the REDISCLI_AUTH variable"
        )
    args = parser.parse_args(argv)
    if args.batch:
        parser.error("--batch goes alone: each run's arguments are in its input")
    if args.accept_counters and not (args.state_file or args.instance):
        parser.error("--accept-counters moves the baseline in a state file: give --state-file "
                     "or --instance")  # fmt: skip
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
    if args.host is not None and not inputs.valid_host(args.host):
        parser.error("--host takes a host name or an IP address")
    if args.user is not None and not inputs.USER.match(args.user):
        parser.error("--user takes an ACL user name (printable, no spaces, at most 128)")
    try:
        if args.exporter_url:
            inputs.exporter_url(args.exporter_url)
        args.database_list = inputs.databases(args.databases) if args.databases else None
        args.sentinel_list = [inputs.host_port(s, "--sentinel") for s in args.sentinel]
    except UsageError as exc:
        parser.error(str(exc))
    if args.master_name is not None and not INSTANCE_NAME.match(args.master_name):
        parser.error("--master-name takes a group name ([a-z0-9_-]+)")
    if str(args.sentinel_password_file) == "-" and str(args.password_file) == "-":
        parser.error("only one of --password-file and --sentinel-password-file can be -")
    if not 0 < args.max_lag_s < float("inf"):
        parser.error(f"--max-lag-s must be a positive number, got {args.max_lag_s}")
    return args


def load_expectations(args: argparse.Namespace) -> Expectations:
    """The expectations file(s) and --expect pairs (they win), typed."""
    paths = []
    if args.instance:
        paths.append(expect_dir(args.instance) / f"{args.instance}.json")
    if args.expect_file:
        paths.append(args.expect_file)
    return inputs.merge(paths, args.expect)


def expect_dir(instance: str | None) -> Path:
    """The role's directory on this host that holds the instance's expectations (the
    server flavour's: /etc/redis or /etc/valkey), the first where there is none."""
    for directory in EXPECT_DIRS:
        if instance and (directory / f"{instance}.json").is_file():
            return directory
    return EXPECT_DIRS[0]


ADMIN_USER = "redis-tuned"
ADMIN_SECRET_NAME = "admin.secret"


def read_credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(user, password): --password-file or $REDISCLI_AUTH for --user (or the default
    user); with --instance and neither, the role's own user and its secret on this host
    (``admin_secret_allowed`` decides where it may be sent)."""
    if args.password_file:
        return args.user, inputs.read_password(args.password_file)
    env = inputs.env_password()
    if env:
        return args.user, env
    secret = expect_dir(args.instance) / ADMIN_SECRET_NAME
    if args.instance and args.user is None and secret.is_file():
        return ADMIN_USER, inputs.read_secret_file(secret)
    return args.user, None


def admin_secret_allowed(args: argparse.Namespace, target: Target) -> bool:
    """The role's admin secret goes only to the instance it belongs to: the one its
    expectations name (no --host or --port of the caller's), on this machine."""
    return args.host is None and args.port is None and probe.same_host(target)


def connection(
    args: argparse.Namespace, expected: Expectations, user: str | None, password: str | None
) -> Target:
    """Where and how to connect: the flags, else the expectations (an instance
    that is TLS-only, plain port 0, is reached over TLS with its CA)."""
    # The role writes the address it reaches the instance at on its host: an
    # instance bound to a private address only is not on 127.0.0.1.
    host = args.host or expected.host or "127.0.0.1"
    tls, cacert, cert, key = args.tls, args.cacert, args.cert, args.key
    port = args.port or expected.port or 6379
    tls_exp = expected.tls
    if tls_exp and not expected.port:
        port, tls = args.port or tls_exp.port, True
        cacert = cacert or tls_exp.ca_file
        if not cert and tls_exp.auth_clients != "no":
            cert, key = tls_exp.cert_file, tls_exp.key_file
    return Target(
        host,
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
        check_hostname=not is_loopback(host),
    )


def exporter_url(exporter: inputs.ExporterExpect | None, host: str) -> str | None:
    """The metrics URL of the exporter the expectations name: on its listen
    address, or on the verified host's address where it listens on all."""
    if not exporter:
        return None
    listen = exporter.listen
    where = host if listen in (*WILDCARDS, "") else listen
    return f"http://{url_host(where)}:{exporter.port}/metrics"


class Stage:
    """Report instead of abort: a command the server refuses (disabled, renamed,
    not permitted) or an answer that is not Redis's ends the one check that
    needed it, as a check in the report; the other checks still run. A lost
    connection still ends the run (nothing else could be checked)."""

    def __init__(self, report: ck.Report, name: str, expected: Any = None) -> None:
        self.report, self.name, self.expected = report, name, expected

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> bool:
        if exc is None or isinstance(exc, (Unreachable, UsageError)):
            return False
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            return False
        if isinstance(exc, redis.ResponseError):
            first = str(exc).split("\n")[0][:120]
            hint = "the server refused the command: disabled or renamed (rename-command)?"
            self.report.checks.append(ck.Check(self.name, ck.WARN, self.expected, first, hint))
            return True
        if isinstance(exc, (redis.RedisError, *SHAPE_ERRORS)):
            hint = "the server's answer is not what Redis answers: is this a Redis server?"
            seen = type(exc).__name__
            self.report.checks.append(ck.Check(self.name, ck.FAIL, self.expected, seen, hint))
            return True
        return False


def run(args: argparse.Namespace) -> ck.Report:
    expected = load_expectations(args)
    user, password = read_credentials(args)
    target = connection(args, expected, user, password)
    if user == ADMIN_USER and not admin_secret_allowed(args, target):
        # Never send the role's secret to a server the caller pointed us at.
        target = dataclasses.replace(target, username=None, password=None)
    args.host, args.port = target.host, target.port  # for the error line, should it come to that
    report = ck.Report(target={"host": target.host, "port": target.port, "tls": target.tls})
    client = target.client()
    try:
        ping(client)
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        if not is_auth_error(exc):
            report.checks.append(
                ck.Check(
                    "reachable + auth + PING",
                    ck.FAIL,
                    "PONG",
                    str(exc).split("\n")[0][:120],
                    "the server refused PING: is this a Redis server?",
                )
            )
            return report
        hint = (
            "the server wants a password: give --password-file or REDISCLI_AUTH"
            if target.password is None
            else "the password (or user) was refused: check the file / REDISCLI_AUTH"
        )
        report.checks.append(ck.Check("auth", ck.FAIL, "PONG", str(exc).split("\n")[0], hint))
        return report
    report.checks.append(ck.Check("reachable + auth + PING", ck.PASS, "PONG", "PONG"))
    tls_port = expected.tls.port if expected.tls else (target.port if target.tls else None)
    if tls_port:
        ca = target.cacert or (expected.tls.ca_file if expected.tls else None)
        tls_target = dataclasses.replace(target, tls=True, cacert=ca)
        if expected.tls and expected.tls.auth_clients != "no" and not target.cert:
            # The TLS port beside a plain one asks for the role's client certificate too.
            tls_target = dataclasses.replace(
                tls_target, cert=expected.tls.cert_file, key=expected.tls.key_file
            )
        days, error = probe.tls_certificate(tls_target, tls_port)
        report.checks.append(ck.check_tls(f"port {tls_port}", days, error))
    if expected.closed_port:
        answered, seen = probe.answers_in_clear(target, expected.closed_port)
        report.checks.append(ck.check_plain_port_closed(expected.closed_port, answered, seen))
    if args.require_auth or expected.requires_auth:
        with Stage(report, "anonymous access refused", "NOAUTH"):
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

    for db in args.database_list or default_databases(expected):
        try:
            probe.select(target, db)
            report.checks.append(ck.Check(f"SELECT {db}", ck.PASS, "OK", "OK"))
        except redis.ResponseError as exc:
            report.checks.append(
                ck.Check(
                    f"SELECT {db}",
                    ck.FAIL,
                    "OK",
                    str(exc).split("\n")[0][:120],
                    "raise `databases` or use a database that exists",
                )
            )

    info: dict[str, Any] | None = None
    with Stage(report, "server info readable", "INFO"):
        try:
            info = probe.info(client)
        except probe.NoPermission as exc:
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
        set(expected.config)
        | {"maxclients", "tcp-backlog", "logfile", "maxmemory-policy", "appendonly"}
    )
    live: dict[str, str | None] = {}
    if expected.config.get("dir") and probe.same_host(target):
        # Redis answers the directory it is in: a dir under a symlink is its target.
        expected.config["dir"] = os.path.realpath(str(expected.config["dir"]))
    try:
        live = probe.config_get(client, directives)
        report.checks.extend(ck.compare_config(expected.config, live, expected.pending_restart))
    except probe.NoPermission as exc:
        report.checks.extend(ck.unreadable_config(expected.config, str(exc)))
    except (redis.ResponseError, redis.DataError, ValueError, TypeError, KeyError) as exc:
        why = str(exc).split("\n")[0][:120] or type(exc).__name__
        report.checks.extend(ck.unreadable_config(expected.config, why))

    want_aof = None
    if "appendonly" in expected.config:
        want_aof = normalise("appendonly", expected.config["appendonly"]) == "yes"
    state_file = args.state_file or (
        STATE_DIR / f"{args.instance}.verify.json" if args.instance else None
    )
    baseline = read_state(state_file)
    if info is not None:
        with Stage(report, "server health", "INFO"):
            report.checks.extend(
                ck.check_health(
                    info, want_aof, live.get("maxmemory-policy"), baseline, args.accept_counters
                )
            )

    sentinels = args.sentinel_list or (
        list(expected.sentinel.sentinels) if expected.sentinel else []
    )
    if sentinels:
        group_checks(args, expected, target, info or {}, sentinels, report)

    url = args.exporter_url or exporter_url(expected.exporter, target.host)
    if url:
        text, error = probe.scrape(url, args.timeout)
        run_id = str(info["run_id"]) if info and "run_id" in info else None
        report.checks.append(ck.check_exporter(url, text, error, run_id))

    pid = _int((info or {}).get("process_id"))
    host_mode = args.mode == "host" or (
        args.mode == "auto" and probe.same_host(target) and probe.local_redis_process(pid)
    )
    if args.mode == "host" and not probe.local_redis_process(pid):
        raise UsageError(f"--mode host: no redis-server with pid {pid} on this machine")
    if host_mode:
        report.mode = "host"
        with Stage(report, "host checks", "readable"):
            report.checks.extend(host_checks(pid, info or {}, live, expected))

    with Stage(report, "latency", "PONG"):
        samples = probe.time_pings(
            client, args.latency_samples, warmup=min(100, args.latency_samples)
        )
        summary: dict[str, Any] = dict(ck.latency_summary(samples))
        summary["samples"] = args.latency_samples
        if args.fresh_samples:
            fresh = probe.time_fresh_connections(target, args.fresh_samples)
            summary["fresh_connection_p50_ms"] = statistics.median(fresh)
            summary["fresh_samples"] = args.fresh_samples
            summary["fresh_over_pooled_p50"] = (
                summary["fresh_connection_p50_ms"] / summary["p50_ms"]
            )
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


def group_checks(
    args: argparse.Namespace,
    expected: Expectations,
    target: Target,
    info: dict[str, Any],
    sentinels: list[tuple[str, int]],
    report: ck.Report,
) -> None:
    """The instance as one node of a replication group: its replication (link and
    lag, or its replicas), and the group as its Sentinels see it."""
    name = args.master_name or (expected.sentinel.master_name if expected.sentinel else None)
    if not name:
        raise UsageError("--sentinel needs --master-name (or an expect-file with sentinels)")
    password: str | None = None
    if args.sentinel_password_file:
        password = inputs.read_password(args.sentinel_password_file)
    elif os.environ.get("REDIS_SENTINEL_PASSWORD"):
        password = os.environ["REDIS_SENTINEL_PASSWORD"]
    elif expected.sentinel and expected.sentinel.password_file:
        # On a node's host: the file the role keeps it in (root only).
        password = inputs.read_password(Path(expected.sentinel.password_file))
    views = probe.sentinel_views(sentinels, name, password, min(args.timeout, 5.0), target)
    known = [v.replicas for v in views if v.replicas is not None and v.replicas >= 0]
    with Stage(report, "replication", "INFO"):
        report.checks.extend(
            ck.check_replication(info, args.max_lag_s, max(known) if known else None)
        )
    role = str(info.get("role", "?"))
    node_primary = (
        f"{info.get('master_host')}:{info.get('master_port')}" if role == "slave" else None
    )
    agreed = {v.primary for v in views if v.error is None and v.primary}
    node = f"{target.host}:{target.port}"
    if role == "master" and len(agreed) == 1:
        (primary,) = agreed
        if probe.run_id_at(target, primary) == str(info.get("run_id")):
            node = primary  # the primary they name is this very process
    report.checks.extend(ck.check_sentinels(views, node, role, node_primary))


def default_databases(expected: Expectations) -> list[int]:
    """The guide's databases 0 and 1, those of them an expected ``databases`` has."""
    count = _int(expected.config.get("databases")) or 16
    return [d for d in inputs.databases(DEFAULT_DATABASES) if d < count]


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


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
    pid: int, info: dict[str, Any], live: dict[str, str | None], expected: Expectations
) -> list[ck.Check]:
    """What only the Redis host can see: process limits, kernel settings, the log,
    the unix socket."""
    out: list[ck.Check] = []
    path = expected.config.get("unixsocket")
    if expected.unixsocket_group and path:
        try:
            seen, error = probe.socket_state(str(path)), None
        except OSError as exc:
            seen, error = None, f"{exc.strerror or exc}"
        out.append(ck.check_unixsocket(str(path), expected.unixsocket_group, seen, error))
    config_file = str(info.get("config_file", "") or "")
    configured = expected.config.get("maxclients")
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
                expected.nofile,
                cap,
            )
        )
    except OSError as exc:
        out.append(
            ck.Check(
                "open files limit",
                ck.FAIL,
                expected.nofile,
                None,
                f"cannot read /proc/{pid}/limits ({exc.strerror or exc}): run as root",
            )
        )
    sysctls = expected.sysctl
    overcommit, ro = probe.sysctl("vm.overcommit_memory")
    out.append(
        ck.check_sysctl(
            "vm.overcommit_memory",
            _int(sysctls.get("vm.overcommit_memory", 1)),
            overcommit,
            ro,
            False,
        )
    )
    # At least the largest backlog Redis asks for, and what the role set (4096 or more).
    somaxconn, ro_net = probe.sysctl("net.core.somaxconn")
    backlog = int(live.get("tcp-backlog") or 511)
    floor = max(backlog, _int(sysctls.get("net.core.somaxconn")))
    out.append(ck.check_sysctl("net.core.somaxconn", floor, somaxconn, ro_net, True))
    # The operator's own (redis_tuned_sysctl), each as the role wrote it.
    for name, want in sorted(sysctls.items()):
        if name in ("vm.overcommit_memory", "net.core.somaxconn"):
            continue
        try:
            text, ro_own = probe.sysctl_text(name)
        except OSError as exc:
            why = f"cannot read it: {exc.strerror or exc}"
            out.append(ck.Check(f"sysctl {name}", ck.WARN, want, None, why))
            continue
        out.append(ck.check_sysctl_text(name, " ".join(str(want).split()), text, ro_own))
    thp = probe.thp()
    if thp is not None:
        out.append(ck.check_thp(expected.transparent_hugepages, *thp))
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


def _fail(message: str) -> int:
    return fail(message, PROG)


MAX_RUNS = 64


def batch() -> int:
    """--batch: every run of the document on standard input (see its help) in turn,
    each as its own command line would be, its output captured; one JSON document out."""
    try:
        stream = inputs.stdin_stream("--batch input")
        doc = json.loads(inputs.read_bounded(stream, inputs.MAX_EXPECTATIONS, "--batch input"))
    except UsageError as exc:
        return _fail(str(exc))
    except ValueError:
        return _fail("--batch input is not JSON")
    runs = doc.get("runs") if isinstance(doc, dict) else None
    password = doc.get("password") if isinstance(doc, dict) else None
    if (
        not isinstance(runs, list)
        or not 1 <= len(runs) <= MAX_RUNS
        or not all(isinstance(r, list) and all(isinstance(a, str) for a in r) for r in runs)
    ):
        return _fail(f'--batch input: "runs" must be 1-{MAX_RUNS} lists of argument strings')
    if any("--batch" in r for r in runs):  # refused before any run
        return _fail("--batch input: a run cannot itself be a --batch")
    if password is not None and not isinstance(password, str):
        return _fail('--batch input: "password" must be a string')
    results: list[dict[str, Any]] = []
    codes: list[int] = []
    for run_argv in runs:
        out, err = io.StringIO(), io.StringIO()
        # What the run's --password-file - reads; nothing else to read.
        given = io.TextIOWrapper(io.BytesIO((password or "").encode("utf-8")), encoding="utf-8")
        saved, sys.stdin = sys.stdin, given
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(run_argv)
        finally:
            sys.stdin = saved
        codes.append(code)
        results.append({"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
    write(sys.stdout, json.dumps({"runs": results}))
    return max(codes)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 every check passed, 1 a check failed, 2 usage or connection error."""
    if (sys.argv[1:] if argv is None else argv) == ["--batch"]:
        return batch()
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse already printed one usage line
        return 2 if exc.code else 0
    try:
        report = run(args)
    except UsageError as exc:
        return _fail(str(exc))
    except NotRedis as exc:
        return _fail(f"{args.host}:{args.port} answered, but not as Redis does ({exc})")
    except Unreachable as exc:
        return _fail(f"cannot reach {args.host}:{args.port}: {exc}")
    except redis.RedisError as exc:
        first = str(exc).split("\n")[0][:200]
        return _fail(f"{args.host}:{args.port}: {type(exc).__name__}: {first}")
    except RecursionError:
        return _fail("internal error: input nested too deeply")
    if args.json:
        write(sys.stdout, json.dumps(report.as_dict(), indent=2, default=str))
    else:
        write(sys.stdout, render_table(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
