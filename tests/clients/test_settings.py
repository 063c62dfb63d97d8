"""redis-tuned-clients settings, loaded by a real Django with the installed
channels_redis, django-redis and redis-py, against real redis-server processes and
ACL users made the way the role makes them."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import django
import pytest
import redis
from clients_support import ADMIN_PASSWORD, SENTINEL_PASSWORD, role_rules
from django.conf import settings as django_settings
from django_round_trip import group_round_trip
from support import environ

from redis_tuned_clients import lint
from redis_tuned_clients.cli import main

APP_PASSWORD = "app-test-secret"
# The role's rule strings per use (defaults/main.yml: redis_tuned_acl_rules).
CHANNELS_RULES = role_rules("channels")
CACHE_RULES = role_rules("cache")


def generate(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["settings", *argv]) == 0
    return capsys.readouterr().out


def load(snippet: str, env: dict[str, str]) -> dict[str, Any]:
    """Run the generated snippet as Django would import it, with its environment."""
    namespace: dict[str, Any] = {}
    with environ(env):
        exec(compile(snippet, "generated_settings.py", "exec"), namespace)  # our own output
    return namespace


@pytest.fixture(scope="module", autouse=True)
def django_configured() -> None:
    """One Django per test process; each test swaps CHANNEL_LAYERS and CACHES in."""
    if not django_settings.configured:
        django_settings.configure(INSTALLED_APPS=[], CHANNEL_LAYERS={}, CACHES={})
        django.setup()


_overrides: list[Any] = []


@pytest.fixture(autouse=True)
def restore_settings() -> Any:
    yield
    while _overrides:
        _overrides.pop().disable()


def use(namespace: dict[str, Any]) -> None:
    """Swap the snippet's CHANNEL_LAYERS and CACHES in (Django's setting_changed
    signal makes the cache and channel-layer handlers start afresh)."""
    from django.test import override_settings

    override = override_settings(
        CHANNEL_LAYERS=namespace.get("CHANNEL_LAYERS", {}),
        CACHES=namespace.get(
            "CACHES", {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        ),
    )
    override.enable()
    _overrides.append(override)


def two_instances(redis_server: Any) -> tuple[Any, Any]:
    channels, cache = redis_server(timeout=300), redis_server(timeout=300)
    channels.add_user("app", APP_PASSWORD, CHANNELS_RULES)
    cache.add_user("app", APP_PASSWORD, CACHE_RULES)
    return channels, cache


ENV = {"REDIS_CHANNELS_PASSWORD": APP_PASSWORD, "REDIS_CACHE_PASSWORD": APP_PASSWORD}


async def layer_round_trip() -> dict[str, Any]:
    """A group round trip through the channel layer the settings in use give, flushed after."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    message = await group_round_trip(layer)
    await layer.flush()
    return message


def test_generated_settings_work_in_django_with_acl_users(redis_server, capsys) -> None:  # type: ignore[no-untyped-def]
    """A group round trip through the channel layer and set/get/clear through the
    cache, as the app's ACL user (docs/clients.md's rule strings)."""
    from django.core.cache import cache

    channels, cache_server = two_instances(redis_server)
    snippet = generate(
        capsys,
        f"--channels-url=redis://app@127.0.0.1:{channels.port}/0",
        f"--cache-url=redis://app@127.0.0.1:{cache_server.port}/0",
        "--processes=2",
    )
    assert APP_PASSWORD not in snippet and "REDIS_CHANNELS_PASSWORD" in snippet
    use(load(snippet, ENV))

    assert asyncio.run(layer_round_trip()) == {"type": "chat.message", "text": "hi"}
    cache.set("k", "v", 30)
    assert cache.get("k") == "v"
    cache.clear()
    assert cache.get("k") is None
    # The app user may not do what an app has no business doing.
    app = redis.Redis(port=cache_server.port, username="app", password=APP_PASSWORD)
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.config_set("maxmemory", "1")


def test_the_roles_default_rules_refuse_cache_clear(redis_server, capsys) -> None:  # type: ignore[no-untyped-def]
    """Why the cache rule adds +flushdb: Django's cache.clear() is FLUSHDB."""
    from django.core.cache import cache

    server = redis_server()
    server.add_user("app", APP_PASSWORD, role_rules("default"))
    snippet = generate(capsys, f"--cache-url=redis://app@127.0.0.1:{server.port}/0")
    use(load(snippet, ENV))
    cache.set("k", "v", 30)
    with pytest.raises(redis.exceptions.NoPermissionError):
        cache.clear()


def test_an_idle_consumer_keeps_its_connection(redis_server, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Waiting 12 s for a message with the generated settings: no timeout, no reconnect.
    A hosts entry without socket_timeout (redis-py 8: 5 s, the layer's BZPOPMIN wait)
    fails within the same wait, and the linter flags that entry's line."""
    from channels.layers import get_channel_layer

    server = redis_server()
    server.add_user("app", APP_PASSWORD, CHANNELS_RULES)
    url = f"redis://app@127.0.0.1:{server.port}/0"
    snippet = generate(capsys, f"--channels-url={url}")
    use(load(snippet, ENV))

    async def idle(seconds: float) -> str:
        layer = get_channel_layer()
        name = await layer.new_channel()
        try:
            await asyncio.wait_for(layer.receive(name), seconds)
        except TimeoutError:
            return "waited"  # our own bound: nothing came, nothing broke
        except Exception as exc:  # the failure under test
            return type(exc).__name__
        return "message"

    before = int(server.admin.info("stats")["total_connections_received"])
    assert asyncio.run(idle(12)) == "waited"
    after = int(server.admin.info("stats")["total_connections_received"])
    assert after - before <= 2  # the layer's connection(s), not one per 5 s

    bare = tmp_path / "bare_settings.py"
    bare.write_text(
        "CHANNEL_LAYERS = {\n"
        '    "default": {\n'
        '        "BACKEND": "channels_redis.core.RedisChannelLayer",\n'
        '        "CONFIG": {"hosts": [\n'
        f'            {{"address": "redis://app:{APP_PASSWORD}@127.0.0.1:{server.port}/0"}},\n'
        "        ]},\n"
        "    },\n"
        "}\n"
    )
    use(load(bare.read_text(), {}))
    start = time.monotonic()
    assert asyncio.run(idle(12)) == "TimeoutError"  # redis-py's, after its 5 s default
    assert time.monotonic() - start < 11
    flagged = {(f.line, f.code) for f in lint.lint(bare)}
    assert (5, "channels-socket-timeout") in flagged


def test_keepalive_options_on_the_pooled_socket_are_the_generated_ones(
    redis_server, capsys
) -> None:  # type: ignore[no-untyped-def]
    from django.core.cache import cache

    server = redis_server()
    server.add_user("app", APP_PASSWORD, CACHE_RULES)
    snippet = generate(capsys, f"--cache-url=redis://app@127.0.0.1:{server.port}/0")
    use(load(snippet, ENV))
    cache.set("k", "v", 30)
    client = cache.client.get_client()  # type: ignore[attr-defined]
    conn = client.connection_pool.get_connection()
    try:
        sock = conn._sock
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        got = {
            name: sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name))
            for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")
        }
        assert got == {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 6}
    finally:
        client.connection_pool.release(conn)


def test_pools_are_sized_under_maxclients_and_health_checks_under_timeout(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    expect = tmp_path / "cache.json"
    expect.write_text(json.dumps({"port": 6380, "config": {"maxclients": 1000, "timeout": 40}}))
    out = generate(
        capsys, "--cache-url=redis://app@10.0.0.5:6380/0", "--channels-url=redis://10.0.0.5:6380/1",
        "--processes=8", "--concurrency=60", f"--expect-file={expect}", "--format=json",
    )  # fmt: skip
    data = json.loads(out)
    # 8 processes on one instance under 80% of 1000 (800): the channel layer gets all it
    # needs (60 + 1 for its receive loop: 488), the cache's blocking pool what is left.
    assert data["channels"]["max_connections"] == 61
    assert data["cache"]["max_connections"] == (800 - 8 * 61) // 8 == 39
    assert data["cache"]["health_check_interval"] == 20  # below the server's 40 s
    assert data["channels"]["socket_timeout"] > 5
    assert main(["settings", "--cache-url=redis://10.0.0.5:6380/0", "--processes=500",
                 f"--expect-file={expect}"]) == 2  # fmt: skip
    assert "raise maxclients or run fewer processes" in capsys.readouterr().err


def test_the_channel_layers_pool_is_never_cut_below_the_concurrency(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A full channels_redis pool raises (MaxConnectionsError) instead of waiting: where
    the instance cannot give every process what --concurrency needs, settings refuses
    with what to change, instead of a pool that fails under load (issue 22 #5)."""
    expect = tmp_path / "layer.json"
    expect.write_text(json.dumps({"port": 6380, "config": {"maxclients": 1000, "timeout": 40}}))
    argv = ["settings", "--channels-url=redis://10.0.0.5:6380/1", "--processes=8",
            "--concurrency=100", f"--expect-file={expect}"]  # fmt: skip
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    err = captured.err
    assert "needs 101 connections per process" in err and "x 8 processes = 808" in err
    assert "raise maxclients to at least 1010" in err and "redis_tuned_nofile" in err
    assert "lower --processes or --concurrency" in err
    # The help says what --processes counts.
    assert main(["settings", "--help"]) == 0
    assert "Celery workers" in " ".join(capsys.readouterr().out.split())


def test_a_missing_password_variable_fails_at_import_naming_it(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """os.environ[...]: a settings module whose password variable is not set fails
    when Django imports it, naming the variable, not later with NOAUTH (issue 22 #4);
    an instance whose expectations say it takes no password reads no variable."""
    from support import environ as env_block

    snippet = generate(capsys, "--cache-url=redis://app@10.0.0.5:6380/0")
    with env_block({}, drop=("REDIS_CACHE_PASSWORD",)), pytest.raises(KeyError) as missing:
        exec(compile(snippet, "generated_settings.py", "exec"), {})  # our own output
    assert missing.value.args == ("REDIS_CACHE_PASSWORD",)
    open_instance = tmp_path / "open.json"
    open_instance.write_text(json.dumps({"port": 6380, "requires_auth": False, "config": {}}))
    plain = generate(
        capsys, "--cache-url=redis://10.0.0.5:6380/0", f"--expect-file={open_instance}"
    )
    assert "REDIS_CACHE_PASSWORD" not in plain
    with env_block({}, drop=("REDIS_CACHE_PASSWORD",)):
        loaded = load(plain, {})
    assert loaded["CACHES"]["default"]["LOCATION"] == "redis://10.0.0.5:6380/0"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--cache-url=redis://app:hunter2@10.0.0.5:6380/0"], "must not hold a password"),
        (["--cache-url=http://10.0.0.5:6380/0"], "takes redis://"),
        (["--cache-url=redis://a..b:6380/0"], "takes redis://"),
        (["--cache-url=redis://h:99999/0"], "not a valid URL"),
        (["--cache-url=rediss://h:6380/0"], "give --cacert"),
        (["--cache-url=redis://h/x"], "database number"),
        ([], "needs --channels-url, --cache-url or both"),
        (["--processes=0", "--cache-url=redis://h/0"], "--processes must be 1-10000"),
        (["--password=hunter2", "--cache-url=redis://h/0"], "never taken on the command line"),
    ],
)
def test_bad_settings_input_is_one_line(argv: list[str], says: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["settings", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert says in captured.err and "hunter2" not in captured.err


def test_the_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("redis-tuned-clients")
    assert exe.exists(), "pip install -e .[dev] installs redis-tuned-clients"
    assert ADMIN_PASSWORD  # the fixtures' admin password stays out of the snippets


def test_tls_instances_get_rediss_and_the_ca_from_the_expectations(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    expect = tmp_path / "channels.json"
    ca = "/etc/redis/redis_tuned/tls/ca.crt"
    expect.write_text(json.dumps({"port": 0, "tls": {"port": 6479, "ca_file": ca}, "config": {}}))
    data = json.loads(
        generate(
            capsys,
            "--channels-url=rediss://app@redis-1:6479/0",
            f"--expect-file={expect}",
            "--format=json",
        )
    )
    assert data["channels"]["url"] == "rediss://redis-1:6479/0"
    assert data["channels"]["ssl_ca_certs"] == ca
    assert data["channels"]["ssl_cert_reqs"] == "required"
    snippet = generate(
        capsys, "--channels-url=rediss://app@redis-1:6479/0", f"--expect-file={expect}"
    )
    assert f'"ssl_ca_certs": "{ca}"' in snippet and '_redis_url("rediss"' in snippet


def test_a_group_over_tls_gets_tls_to_its_sentinels_and_through_them(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A replicated instance with TLS (the role's view names both): the Sentinels are
    dialled over TLS (sentinel_kwargs), the primary they name too (ssl: redis-py's
    Sentinel pool then makes TLS connections; a rediss:// LOCATION would bypass
    Sentinel), the snippet loads as settings and lints clean;
    redis:// for it, or rediss:// for a plain group, is refused in one line."""
    ca = str(tmp_path / "ca.crt")
    sentinels = [["10.0.0.11", 26379], ["10.0.0.12", 26379], ["10.0.0.13", 26379]]
    view = {
        "port": 0, "tls": {"port": 6480, "ca_file": ca}, "requires_auth": True, "config": {},
        "sentinel": {"master_name": "channels", "sentinels": sentinels},
    }  # fmt: skip
    expect = tmp_path / "channels.json"
    expect.write_text(json.dumps(view))
    url = "rediss://app@10.0.0.11:6480/0"
    snippet = generate(capsys, f"--channels-url={url}", f"--cache-url={url}",
                       f"--expect-file={expect}")  # fmt: skip
    settings = load(snippet, {**ENV, "REDIS_SENTINEL_PASSWORD": "s"})
    (entry,) = settings["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"]
    tls = {"ssl": True, "ssl_ca_certs": ca, "ssl_cert_reqs": "required"}
    assert entry["sentinel_kwargs"].items() >= tls.items()
    assert entry.items() >= tls.items() and entry["master_name"] == "channels"
    options = settings["CACHES"]["default"]["OPTIONS"]
    assert options["SENTINEL_KWARGS"].items() >= tls.items()
    assert options["CONNECTION_POOL_KWARGS"].items() >= tls.items()
    assert settings["CACHES"]["default"]["LOCATION"].startswith("redis://")
    path = tmp_path / "settings.py"
    path.write_text(snippet)
    assert main(["lint", str(path)]) == 0, capsys.readouterr().out
    assert main(["settings", "--channels-url=redis://app@10.0.0.11:6480/0",
                 f"--expect-file={expect}", "--cacert", ca]) == 2  # fmt: skip
    assert "its Sentinels too) is over TLS: use rediss://" in capsys.readouterr().err
    del view["tls"]
    view["port"] = 6379
    expect.write_text(json.dumps(view))
    assert main(["settings", "--channels-url=rediss://app@10.0.0.11:6379/0",
                 f"--expect-file={expect}", "--cacert", ca]) == 2  # fmt: skip
    assert "is plain: use redis://" in capsys.readouterr().err


def sentinel_views(tmp_path: Path, servers: dict[str, Any], port: int) -> list[str]:
    """--expect-file flags for the client view of each node (name -> server), each
    the primary of its group at the Sentinel on ``port``."""
    views = []
    for name, server in servers.items():
        view = tmp_path / f"{name}.json"
        view.write_text(json.dumps({
            "name": name, "host": "127.0.0.1", "port": server.port, "requires_auth": True,
            "config": {"maxclients": 10000, "timeout": 300},
            "sentinel": {"master_name": name, "sentinels": [["127.0.0.1", port]]},
        }))  # fmt: skip
        views.append(f"--expect-file={view}")
    return views


def test_a_replicated_instance_gets_the_sentinel_forms_that_work_in_django(
    redis_server, sentinel, capsys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Issue 20 #4: the client view of a node of a replication group names its
    Sentinels; the snippet's channels_redis hosts entry and django-redis's
    SentinelClient find the primary through them (a real Sentinel here), with the
    Sentinels' password from the environment."""
    from django.core.cache import cache

    channels, cache_server = two_instances(redis_server)
    port = sentinel({"channels": channels.port, "cache": cache_server.port})
    views = sentinel_views(tmp_path, {"channels": channels, "cache": cache_server}, port)
    snippet = generate(
        capsys,
        f"--channels-url=redis://app@127.0.0.1:{channels.port}/0",
        f"--cache-url=redis://app@127.0.0.1:{cache_server.port}/0",
        *views,
    )
    assert '"master_name": "channels"' in snippet and "SentinelClient" in snippet
    assert SENTINEL_PASSWORD not in snippet and 'os.environ["REDIS_SENTINEL_PASSWORD"]' in snippet
    # A missing Sentinel password fails at import, named.
    with pytest.raises(KeyError, match="REDIS_SENTINEL_PASSWORD"):
        load(snippet, ENV)
    use(load(snippet, {**ENV, "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD}))

    assert asyncio.run(layer_round_trip()) == {"type": "chat.message", "text": "hi"}
    cache.set("k", "through-sentinel", 30)
    assert cache.get("k") == "through-sentinel"
    assert channels.admin.dbsize() == 0  # flushed: it went to the channels primary
    assert cache_server.admin.exists(":1:k") == 1
    # Django's own cache has no Sentinel: refused in one line.
    assert main(["settings", f"--cache-url=redis://app@127.0.0.1:{cache_server.port}/0",
                 views[1], "--cache-backend=django"]) == 2  # fmt: skip
    assert "no Sentinel support" in capsys.readouterr().err


def test_a_layer_over_several_groups_shards_across_them_in_django(
    redis_server, sentinel, capsys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Issue 20 #4: two replicated channels instances (two groups, one Sentinel
    watching both here) give one layer whose hosts are both Sentinel entries, in the
    order given; channels_redis shards over them: groups and channels land on both
    primaries, and a round trip works. The second's password has its own variable."""
    first, second = redis_server(timeout=300), redis_server(timeout=300)
    for server in (first, second):
        server.add_user("app", APP_PASSWORD, CHANNELS_RULES)
    port = sentinel({"channels": first.port, "channels-b": second.port})
    views = sentinel_views(tmp_path, {"channels": first, "channels-b": second}, port)
    urls = [f"--channels-url=redis://app@127.0.0.1:{s.port}/0" for s in (first, second)]
    snippet = generate(capsys, *urls, *views)
    assert snippet.index('"master_name": "channels"') < snippet.index('"master_name": "channels-b"')
    assert "2 instances: channels_redis shards channels and groups" in snippet
    with pytest.raises(KeyError, match="REDIS_CHANNELS_2_PASSWORD"):
        load(snippet, {**ENV, "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD})
    env = {**ENV, "REDIS_CHANNELS_2_PASSWORD": APP_PASSWORD,
           "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD}  # fmt: skip
    namespace = load(snippet, env)
    (hosts,) = [layer["CONFIG"]["hosts"] for layer in namespace["CHANNEL_LAYERS"].values()]
    assert [h["master_name"] for h in hosts] == ["channels", "channels-b"]
    use(namespace)

    async def groups_on_both() -> dict[str, Any]:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        name = await layer.new_channel()
        for n in range(16):  # sixteen groups: each hashes to one of the two hosts
            await layer.group_add(f"room{n}", name)
        on = {"first": first.admin.dbsize(), "second": second.admin.dbsize()}
        message = await group_round_trip(layer)
        await layer.flush()
        return {"on": on, "message": message}

    found = asyncio.run(groups_on_both())
    assert found["on"]["first"] > 0 and found["on"]["second"] > 0, found
    assert found["message"] == {"type": "chat.message", "text": "hi"}
    # The same instance twice is no layer of two: one line.
    assert main(["settings", urls[0], urls[0], *views]) == 2
    assert "names 127.0.0.1:" in capsys.readouterr().err
