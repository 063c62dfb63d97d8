"""redis-tuned-clients: the application side of the tuning.

    redis-tuned-clients settings --channels-url URL [--cache-url URL] [--processes N]
                                 [--concurrency N] [--expect-file FILE ...] [--format django|json]
    redis-tuned-clients lint SETTINGS_FILE [--json] [--server-timeout S]
    redis-tuned-clients connections --host H --port P [--user U] [--password-file F] [--json]

Exit 0 ok, 1 findings (lint) or warnings (connections), 2 usage, unreadable input or
unreachable server: one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import redis

from redis_tuned_clients import connections, lint, settings
from redis_tuned_tools.common import inputs
from redis_tuned_tools.common import target as probe
from redis_tuned_tools.common.cli import SECRET_OPTION, HelpFormatter, OneLineParser, fail, write
from redis_tuned_tools.common.inputs import UsageError

# The role's read-only verify user (vars/main.yml): PING, INFO, CONFIG GET, SELECT,
# CLIENT LIST and CLIENT ID; its password is made on the Redis host.
VERIFY_USER = "redis-tuned-verify"
VERIFY_SECRET = "/etc/redis/redis_tuned/verify.secret"
PROG = "redis-tuned-clients"


def bounded(low: float, high: float, flag: str, kind: type = int) -> Any:
    """An argparse type: a number of ``kind`` in [low, high], or a message naming the flag."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{flag} takes {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag} must be {_shown(low)}-{_shown(high)}")
        return value

    return parse


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(
        prog=PROG, description=__doc__.split("\n\n")[0], allow_abbrev=False,
        epilog="examples:\n"
        "  redis-tuned-clients settings --channels-url redis://app@10.0.0.11:6379/0 "
        "--cache-url redis://app@10.0.0.11:6380/0 --processes 16\n"
        "  redis-tuned-clients lint myproject/settings.py\n"
        "  redis-tuned-clients connections --host 10.0.0.11 --user redis-tuned-verify "
        "--password-file verify.secret",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    s = sub.add_parser(
        "settings", help="Django settings or redis-py kwargs for the instances",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    s.add_argument(
        "--channels-url", action="append", default=[],
        help="redis[s]://[user@]host:port/db of the channel layer; repeat it for a layer over "
        "several instances (channels_redis shards over them; the second's password is read "
        "from $REDIS_CHANNELS_2_PASSWORD, and so on) (default: none)",
    )  # fmt: skip
    s.add_argument("--cache-url", help="redis[s]://[user@]host:port/db of the cache")
    s.add_argument(
        "--processes", type=bounded(1, 10000, "--processes"), default=1,
        help="every process that opens these pools, on every app server: each ASGI/WSGI "
        "worker, plus Celery workers that use the channel layer (default: 1)",
    )  # fmt: skip
    s.add_argument(
        "--concurrency", type=bounded(1, 10000, "--concurrency"), default=50,
        help="concurrent requests (cache) and WebSockets (Channels) one process serves "
        "(default: 50)",
    )  # fmt: skip
    s.add_argument(
        "--expect-file", type=Path, action="append", default=[],
        help="an instance's expectations (the role's, or its view on the control node: "
        "redis_tuned_client_view_dir); repeat per instance (default: none: maxclients 10000, "
        "timeout 300)",
    )  # fmt: skip
    s.add_argument("--cacert", help="CA file for rediss:// (default: from the expectations)")
    s.add_argument(
        "--format", choices=["django", "json"], default="django",
        help="a settings snippet, or redis-py pool kwargs (default: django)",
    )  # fmt: skip
    s.add_argument(
        "--channel-layer", choices=["core", "pubsub"], default="core",
        help="channels_redis's RedisChannelLayer or RedisPubSubChannelLayer (default: core)",
    )  # fmt: skip
    s.add_argument(
        "--cache-backend", choices=["django-redis", "django"], default="django-redis",
        help="django-redis or Django's own RedisCache (default: django-redis)",
    )  # fmt: skip
    lt = sub.add_parser(
        "lint", help="the Redis traps in a Django settings file", formatter_class=HelpFormatter
    )
    lt.add_argument("settings_file", type=Path, help="the settings module to read (never run)")
    lt.add_argument("--json", action="store_true", help="findings as JSON (default: text)")
    lt.add_argument(
        "--server-timeout", type=bounded(0, 10**9, "--server-timeout"), default=300,
        help="the server's timeout directive (default: 300)",
    )  # fmt: skip
    c = sub.add_parser(
        "connections",
        help="who holds the connections of an instance",
        formatter_class=HelpFormatter,
        description="Who holds the connections of an instance (CLIENT LIST). It needs a user "
        "allowed CLIENT LIST (@dangerous: applications' users are denied it): the role's "
        "read-only redis-tuned-verify user (its password is "
        f"{VERIFY_SECRET} on the Redis host), not the admin. Example: "
        "redis-tuned-clients connections --host 10.0.0.11 --port 6379 --user "
        "redis-tuned-verify --password-file verify.secret",
    )
    c.add_argument("--host", default="127.0.0.1", help="(default: 127.0.0.1)")
    c.add_argument("--port", type=bounded(1, 65535, "--port"), default=6379, help="(default: 6379)")
    c.add_argument("--user", help="ACL user allowed CLIENT LIST (default: the default user)")
    c.add_argument(
        "--password-file", type=Path,
        help="its password; - reads standard input (default: $REDISCLI_AUTH)",
    )  # fmt: skip
    c.add_argument("--tls", action="store_true", help="connect over TLS (default: no)")
    c.add_argument("--cacert", help="CA file for --tls (default: the system's)")
    c.add_argument("--timeout", type=float, default=5.0, help="seconds (default: 5.0)")
    c.add_argument("--json", action="store_true", help="the report as JSON (default: text)")
    if any(SECRET_OPTION.match(a) for a in argv):
        parser.error(
            "a password is never taken on the command line (it would show in ps): use "
            "--password-file FILE or the REDISCLI_AUTH variable"
        )
    args = parser.parse_args(argv)
    if args.command == "connections":
        if not inputs.valid_host(args.host):
            parser.error("--host takes a host name or an IP address")
        if args.user is not None and not inputs.USER.match(args.user):
            parser.error("--user takes an ACL user name")
        if not 0 < args.timeout <= 300:
            parser.error("--timeout must be a number of seconds in (0, 300]")
    if args.command == "settings" and not (args.channels_url or args.cache_url):
        parser.error("settings needs --channels-url, --cache-url or both")
    return args


def run_settings(args: argparse.Namespace) -> int:
    expectations = [
        inputs.parse_expectations(inputs.load_json(p), f"expectations {p}")
        for p in args.expect_file
    ]
    endpoints = [
        settings.parse_url(url, "channels", expectations, args.cacert, shard=n)
        for n, url in enumerate(args.channels_url)
    ]
    twice = {e.instance for e in endpoints if [x.instance for x in endpoints].count(e.instance) > 1}
    if twice:
        shown = ", ".join(f"{h}:{p}" for h, p in sorted(twice))
        raise inputs.UsageError(
            f"--channels-url names {shown} twice: give each instance of the layer once"
        )
    if args.cache_url:
        endpoints.append(settings.parse_url(args.cache_url, "cache", expectations, args.cacert))
    sizes = settings.pool_sizes(endpoints, args.processes, args.concurrency)
    if args.format == "json":
        write(sys.stdout, settings.as_json(endpoints, sizes))
    else:
        write(
            sys.stdout,
            settings.as_django(
                endpoints, sizes, args.processes, args.concurrency,
                args.channel_layer, args.cache_backend,
            ).rstrip("\n"),
        )  # fmt: skip
    return 0


def run_lint(args: argparse.Namespace) -> int:
    findings = lint.lint(args.settings_file, args.server_timeout)
    if args.json:
        out = {"ok": not findings, "file": str(args.settings_file)}
        write(
            sys.stdout, json.dumps({**out, "findings": [f.as_dict() for f in findings]}, indent=2)
        )
    else:
        for f in findings:
            write(sys.stdout, f"{args.settings_file}:{f.line}: {f.code}: {f.message}")
            write(sys.stdout, f"    fix: {f.fix}")
        write(sys.stdout, f"{len(findings)} finding(s) in {args.settings_file}")
    return 1 if findings else 0


def run_connections(args: argparse.Namespace) -> int:
    password = (
        inputs.read_password(args.password_file) if args.password_file else inputs.env_password()
    )
    target = probe.Target(
        args.host, args.port, password, args.user, args.timeout, tls=args.tls, cacert=args.cacert
    )
    client = target.client()
    try:
        with probe.speaks_redis():
            probe.ping(client)
            own = str(client.client_id())
            listed = client.client_list()
            limits = _limits(client)
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        raise UsageError(_login_problem(args, password, exc)) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise probe.Unreachable(" ".join(str(exc).split())) from None
    finally:
        client.close()
    clients = [{k: str(v) for k, v in c.items()} for c in listed]
    rep = connections.report(clients, limits[0], limits[1], own_id=own)
    text = json.dumps(rep, indent=2) if args.json else connections.render(rep)
    write(sys.stdout, text)
    return 1 if rep["warnings"] else 0


def _login_problem(args: argparse.Namespace, password: str | None, exc: Exception) -> str:
    """What to change, in one line, for a refused login or CLIENT LIST."""
    where = f"{args.host}:{args.port}"
    text = " ".join(str(exc).split())
    fix = (
        f"log in as a user allowed CLIENT LIST, such as the role's {VERIFY_USER} "
        f"(--user {VERIFY_USER} --password-file FILE; its password is {VERIFY_SECRET} on "
        "the Redis host)"
    )
    if text.startswith("NOPERM") or isinstance(exc, redis.exceptions.NoPermissionError):
        who = args.user or "default"
        return f"{where}: user {who} may not run CLIENT LIST (it is @dangerous): {fix}"
    if probe.is_auth_error(exc) or "HELLO" in text:
        if password is None:
            return (
                f"{where} needs a password (none given: --password-file or $REDISCLI_AUTH): {fix}"
            )
        return f"{where}: the user or password was refused: {fix}"
    return f"{where}: {text[:200]}"


def _limits(client: redis.Redis) -> tuple[int, int]:
    """(maxclients, timeout): CONFIG GET, else INFO's maxclients (timeout unknown: 0)."""
    try:
        got = client.config_get("maxclients")
        timeout = client.config_get("timeout")
        return int(str(got["maxclients"])), int(str(timeout["timeout"]))
    except redis.ResponseError:
        info = client.info("clients")
        return int(info.get("maxclients", 10000)), 0


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(given)
    except SystemExit as exc:
        return 2 if exc.code else 0
    commands = {"settings": run_settings, "lint": run_lint, "connections": run_connections}
    try:
        return commands[args.command](args)
    except UsageError as exc:
        return fail(str(exc), PROG)
    except probe.NotRedis as exc:
        return fail(f"{args.host}:{args.port} answered, but not as Redis ({exc})", PROG)
    except probe.Unreachable as exc:
        return fail(f"cannot reach {args.host}:{args.port}: {exc}", PROG)


if __name__ == "__main__":
    sys.exit(main())
