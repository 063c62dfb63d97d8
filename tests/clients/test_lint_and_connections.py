"""redis-tuned-clients lint on the guide's settings and on generated ones, and the
connection report on a server with known clients."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import redis
from clients_support import ADMIN_PASSWORD

from redis_tuned_clients.cli import main

HERE = Path(__file__).resolve().parent
GUIDE = HERE / "guide_settings.py.txt"


def test_lint_reports_every_trap_of_the_guide(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(GUIDE), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    found = sorted((f["line"], f["code"]) for f in report["findings"])
    assert found == [
        (8, "channels-socket-timeout"),  # the hosts entry: redis-py 8's 5 s default
        (9, "connection-kwargs"),
        (16, "keepalive-keys"),  # one finding for the dict of three wrong keys
        (28, "shared-instance"),  # db 0 and db 1 of one instance
        (32, "pool-raises-when-full"),  # max_connections 50, IGNORE_EXCEPTIONS: misses
        (37, "parser-class"),
        (39, "compress-min-length"),
    ]
    assert all(f["fix"] for f in report["findings"])


def test_lint_passes_generated_settings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    replicated = tmp_path / "views"
    replicated.mkdir()
    for name, port in (("channels", 6379), ("cache", 6380)):
        (replicated / f"{name}.json").write_text(json.dumps({
            "port": port, "requires_auth": True, "config": {},
            "sentinel": {"master_name": name, "sentinels": [[f"10.0.0.{n}", 26379]
                                                            for n in (5, 6, 7)]},
        }))  # fmt: skip
    sentinel_views = [f"--expect-file={replicated / n}.json" for n in ("channels", "cache")]
    for extra in ([], ["--channel-layer=pubsub", "--cache-backend=django"], sentinel_views):
        assert main(["settings", "--channels-url=redis://app@10.0.0.5:6379/0",
                     "--cache-url=redis://app@10.0.0.5:6380/0", *extra]) == 0  # fmt: skip
        generated = tmp_path / "settings.py"
        generated.write_text(capsys.readouterr().out)
        assert main(["lint", str(generated)]) == 0, capsys.readouterr().out
        assert "0 finding(s)" in capsys.readouterr().out


def test_lint_flags_health_checks_at_or_over_the_server_timeout(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.py"
    path.write_text(
        'CACHES = {"default": {"OPTIONS": {"CONNECTION_POOL_KWARGS": {\n'
        '    "health_check_interval": 300}}}}\n'
    )
    assert main(["lint", str(path)]) == 1
    assert "s.py:2: health-check-interval" in capsys.readouterr().out
    assert main(["lint", str(path), "--server-timeout", "600"]) == 0


def test_lint_flags_an_inline_password_without_showing_it(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.py"
    path.write_text('CACHES = {"default": {"LOCATION": "redis://:hunter2@10.0.0.5:6380/0"}}\n')
    assert main(["lint", str(path)]) == 1
    out = capsys.readouterr().out
    assert "inline-password" in out and "hunter2" not in out


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"CACHES = {\n", "syntax error at line 1"),
        (b"\xff\xfe", "not UTF-8 text"),
        (None, "cannot read settings"),
    ],
)
def test_lint_unreadable_input_is_one_line(
    content: bytes | None, says: str, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.py"
    if content is not None:
        path.write_bytes(content)
    assert main(["lint", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert says in captured.err and "Traceback" not in captured.err


LINT_CASES = {
    # What people really copy, and its clean counterpart (issue 22 #6).
    "a literal PASSWORD in django-redis OPTIONS": (
        'CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache",\n'
        '    "OPTIONS": {"PASSWORD": "s3cret-literal"}}}\n',
        'import os\nCACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache",\n'
        '    "OPTIONS": {"PASSWORD": os.environ["REDIS_PASSWORD"]}}}\n',
        (2, "inline-password"),
    ),
    "a literal password in a channels hosts entry": (
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"address": ("h", 6379), "password": "s3cret-literal",\n'
        '    "socket_timeout": 15}]}}}\n',
        "import os\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"address": ("h", 6379), "password": os.environ["P"],\n'
        '    "socket_timeout": 15}]}}}\n',
        (2, "inline-password"),
    ),
    "Django's own docs parser_class (gone in redis-py 5)": (
        'CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",\n'
        '    "OPTIONS": {"parser_class": "redis.connection.PythonParser"}}}\n',
        'CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",\n'
        '    "OPTIONS": {}}}\n',
        (2, "parser-class"),
    ),
    "a capped pool that raises when full (Django's RedisCache)": (
        'CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",\n'
        '    "OPTIONS": {"max_connections": 50}}}\n',
        'CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",\n'
        '    "OPTIONS": {"max_connections": 50, "pool_class": "redis.BlockingConnectionPool",\n'
        '    "timeout": 5}}}\n',
        (2, "pool-raises-when-full"),
    ),
    "hosts as a bare tuple": (
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": ("redis-host", 6379)}}}\n',
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"address": ("redis-host", 6379), "socket_timeout": 15}]}}}\n',
        (2, "hosts-not-a-list"),
    ),
    "keepalive keys in a shared pool dict that several entries unpack": (
        "POOL = dict(socket_timeout=15, socket_keepalive_options={1: 60, 2: 10, 3: 6})\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"address": "redis://a:6379/0", **POOL},\n'
        '                         {"address": "redis://b:6379/0", **POOL}]}}}\n',
        "import socket\n"
        "POOL = dict(socket_timeout=15, socket_keepalive_options={socket.TCP_KEEPIDLE: 60})\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"address": "redis://a:6379/0", **POOL},\n'
        '                         {"address": "redis://b:6379/0", **POOL}]}}}\n',
        (1, "keepalive-keys"),
    ),
    # Issue 20 #4: the Sentinel forms.
    "a channels layer through one Sentinel": (
        "import os\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"master_name": "channels", "sentinels": [("s1", 26379)],\n'
        '    "sentinel_kwargs": {"password": os.environ["S"]}, "socket_timeout": 15}]}}}\n',
        "import os\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"master_name": "channels", "sentinels": [("s1", 26379),\n'
        '    ("s2", 26379), ("s3", 26379)], "sentinel_kwargs": {"password": os.environ["S"]},\n'
        '    "socket_timeout": 15}]}}}\n',
        (3, "single-sentinel"),
    ),
    "Sentinels without their password (it is not the node's)": (
        "import os\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"master_name": "channels",\n'
        '    "sentinels": [("s1", 26379), ("s2", 26379), ("s3", 26379)],\n'
        '    "password": os.environ["P"], "socket_timeout": 15}]}}}\n',
        "import os\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"master_name": "channels",\n'
        '    "sentinels": [("s1", 26379), ("s2", 26379), ("s3", 26379)],\n'
        '    "sentinel_kwargs": {"password": os.environ["S"]},\n'
        '    "password": os.environ["P"], "socket_timeout": 15}]}}}\n',
        (4, "sentinel-password"),
    ),
    "django-redis's SentinelClient without the Sentinels' password": (
        'CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache",\n'
        '    "LOCATION": "redis://cache/0", "OPTIONS": {\n'
        '    "CLIENT_CLASS": "django_redis.client.SentinelClient",\n'
        '    "SENTINELS": [("s1", 26379), ("s2", 26379), ("s3", 26379)]}}}\n',
        "import os\n"
        'CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache",\n'
        '    "LOCATION": "redis://cache/0", "OPTIONS": {\n'
        '    "CLIENT_CLASS": "django_redis.client.SentinelClient",\n'
        '    "SENTINELS": [("s1", 26379), ("s2", 26379), ("s3", 26379)],\n'
        '    "SENTINEL_KWARGS": {"password": os.environ["S"]}}}}\n',
        (4, "sentinel-password"),
    ),
    "a group over TLS whose Sentinels are dialled in clear text": (
        "import os\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"master_name": "channels",\n'
        '    "sentinels": [("s1", 26379), ("s2", 26379), ("s3", 26379)],\n'
        '    "sentinel_kwargs": {"password": os.environ["S"]},\n'
        '    "ssl": True, "ssl_ca_certs": "/ca.crt", "socket_timeout": 15}]}}}\n',
        "import os\n"
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '    "CONFIG": {"hosts": [{"master_name": "channels",\n'
        '    "sentinels": [("s1", 26379), ("s2", 26379), ("s3", 26379)],\n'
        '    "sentinel_kwargs": {"password": os.environ["S"], "ssl": True},\n'
        '    "ssl": True, "ssl_ca_certs": "/ca.crt", "socket_timeout": 15}]}}}\n',
        (5, "sentinel-tls"),
    ),
    "django-redis's SentinelClient over TLS, its Sentinels in clear text": (
        "import os\n"
        'CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache",\n'
        '    "LOCATION": "redis://cache/0", "OPTIONS": {\n'
        '    "CLIENT_CLASS": "django_redis.client.SentinelClient",\n'
        '    "SENTINELS": [("s1", 26379), ("s2", 26379), ("s3", 26379)],\n'
        '    "CONNECTION_POOL_KWARGS": {"ssl": True},\n'
        '    "SENTINEL_KWARGS": {"password": os.environ["S"]}}}}\n',
        "import os\n"
        'CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache",\n'
        '    "LOCATION": "redis://cache/0", "OPTIONS": {\n'
        '    "CLIENT_CLASS": "django_redis.client.SentinelClient",\n'
        '    "SENTINELS": [("s1", 26379), ("s2", 26379), ("s3", 26379)],\n'
        '    "CONNECTION_POOL_KWARGS": {"ssl": True},\n'
        '    "SENTINEL_KWARGS": {"password": os.environ["S"], "ssl": True}}}}\n',
        (7, "sentinel-tls"),
    ),
}


@pytest.mark.parametrize("case", list(LINT_CASES))
def test_lint_finds_what_people_copy_and_passes_the_fix(case: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad, good, (line, code) = LINT_CASES[case]
    path = tmp_path / "settings.py"
    path.write_text(bad)
    assert main(["lint", str(path), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["line"], f["code"]) for f in findings] == [(line, code)]  # one, not one per use
    assert "s3cret-literal" not in json.dumps(findings)
    path.write_text(good)
    assert main(["lint", str(path)]) == 0, capsys.readouterr().out


def test_lint_of_a_file_without_the_settings_says_so(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Split settings (a star import): nothing to check is not "clean"."""
    path = tmp_path / "settings.py"
    path.write_text("from .base import *  # noqa\nDEBUG = False\n")
    assert main(["lint", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no module-level CHANNEL_LAYERS or CACHES" in captured.err


def test_lint_never_runs_the_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "ran"
    path = tmp_path / "s.py"
    path.write_text(f"open({str(marker)!r}, 'w').write('x')\nCACHES = {{}}\n")
    assert main(["lint", str(path)]) == 0
    assert not marker.exists()


def test_connections_report_counts_who_holds_them(redis_server, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """300 connections from three client names, one client blocked in BLPOP."""
    monkeypatch.setenv("REDISCLI_AUTH", ADMIN_PASSWORD)
    server = redis_server(timeout=300, maxclients=360)
    clients = []
    for name in ("web-1", "web-2", "worker"):
        for _ in range(100):
            c = redis.Redis(port=server.port, password=ADMIN_PASSWORD)
            c.client_setname(name)
            clients.append(c)
    blocker = redis.Redis(port=server.port, password=ADMIN_PASSWORD)
    thread = threading.Thread(target=lambda: blocker.blpop(["nothing"], timeout=5), daemon=True)
    thread.start()
    time.sleep(0.3)
    try:
        code = main(["connections", "--port", str(server.port), "--json"])
    finally:
        server.admin.lpush("nothing", "wake")  # ends the BLPOP now
        thread.join(10)
        for c in clients:
            c.close()
    out = capsys.readouterr().out
    rep = json.loads(out)
    named = {e["name"]: e["connections"] for e in rep["by_name"]}
    assert (named["web-1"], named["web-2"], named["worker"]) == (100, 100, 100)
    assert rep["connections"] >= 302  # + the blocker + the tool itself
    assert rep["by_address"]["127.0.0.1"] >= 301
    assert rep["blocked"] == 1, rep
    assert rep["maxclients"] == 360 and rep["server_timeout"] == 300
    # 300+ of 360: past the 80% warning.
    assert code == 1 and any("of maxclients 360 in use" in w for w in rep["warnings"])


def test_connections_says_which_credentials_it_needs(
    redis_server, capsys, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """CLIENT LIST is @dangerous: the role's read-only verify user may run it (its
    rules from vars/main.yml), an application's user may not; a missing or refused
    password and a user without CLIENT LIST are each one line saying what to do,
    never the admin secret asked for (issue 22 #7)."""
    import yaml

    vars_file = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned" / "vars" / "main.yml"
    rules = yaml.safe_load(vars_file.read_text())["__redis_tuned_verify_acl_rules"]
    server = redis_server()
    server.admin.execute_command("ACL", "SETUSER", "redis-tuned-verify", "on", ">verify-pw",
                                 *rules.split())  # fmt: skip
    server.admin.execute_command("ACL", "SETUSER", "app", "on", ">app-pw", "~*", "&*",
                                 "+@all", "-@dangerous")  # fmt: skip
    monkeypatch.delenv("REDISCLI_AUTH", raising=False)
    port = str(server.port)

    def one_line(*argv: str) -> str:
        assert main(["connections", "--port", port, *argv]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
        assert "verify-pw" not in captured.err and "app-pw" not in captured.err
        return captured.err

    def secret(name: str, value: str) -> str:
        path = tmp_path / name
        path.write_text(value)
        path.chmod(0o600)
        return str(path)

    assert "needs a password (none given" in one_line()
    refused = one_line("--user", "redis-tuned-verify", "--password-file", secret("bad", "nope"))
    assert "the user or password was refused" in refused and "redis-tuned-verify" in refused
    app = one_line("--user", "app", "--password-file", secret("app", "app-pw"))
    assert "user app may not run CLIENT LIST (it is @dangerous)" in app
    assert "--user redis-tuned-verify" in app and "never" not in app
    ok = main(["connections", "--port", port, "--user", "redis-tuned-verify",
               "--password-file", secret("verify", "verify-pw"), "--json"])  # fmt: skip
    assert ok in (0, 1) and json.loads(capsys.readouterr().out)["connections"] >= 1


def test_connections_to_nothing_is_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert main(["connections", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("redis-tuned-clients: cannot reach") and len(err.splitlines()) == 1


def test_connection_report_flags_idle_past_the_timeout_and_the_share() -> None:
    from redis_tuned_clients import connections

    listing = "\n".join(
        [
            "id=1 addr=10.0.0.7:5001 name=web flags=N idle=400 lib-name=redis-py",
            "id=2 addr=10.0.0.7:5002 name=web flags=N idle=10 lib-name=redis-py",
            "id=3 addr=10.0.0.8:6001 name= flags=b idle=0 lib-name=",
            "id=4 addr=127.0.0.1:7000 name= flags=N idle=0",  # the tool itself
        ]
    )
    clients = connections.parse_client_list(listing)
    rep = connections.report(clients, maxclients=5, timeout=300, own_id="4")
    assert rep["by_address"] == {"10.0.0.7": 2, "10.0.0.8": 1}
    assert rep["by_name"][0] == {"name": "web", "library": "redis-py", "connections": 2}
    assert rep["idle_past_timeout"] == 1 and rep["blocked"] == 1
    assert rep["idle_seconds"]["max"] == 400
    assert len(rep["warnings"]) == 2  # 4 of 5 in use; one idle past 300 s
    assert "health_check_interval should be below the timeout" in rep["warnings"][1]
