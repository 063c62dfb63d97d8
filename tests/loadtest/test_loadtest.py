"""redis-tuned-loadtest against real redis-server processes, at a tiny scale: the whole
harness (uvicorn, the Channels app, channels_redis, django-redis, WebSocket clients, the
idle crowd, the package-default baseline, the report) in a few seconds per phase."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import redis
import yaml
from support import free_port, own_ca, redis_server, server_cert

from redis_tuned_loadtest import appserver, cli, perrequest, report
from redis_tuned_loadtest.redisside import Crowd, Target

TINY = ["--clients", "6", "--rate", "4", "--duration", "3", "--ramp", "0.5",
        "--group-size", "3", "--cache-rate", "20"]  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_whole_harness_round_trips_and_compares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every phase at tiny scale, the package-default baseline started by the tool itself;
    the "tuned" server here has maxclients 50, so that the crowd of 60 overflows it and
    not the package default (maxclients 10000)."""
    out = tmp_path / "report"
    with redis_server(tmp_path, "--maxclients", "50") as port:
        code, stdout, _ = _run(
            capsys, "--channels-url", f"redis://127.0.0.1:{port}/0", *TINY,
            "--concurrency", "6", "--idle-connections", "60", "--out", str(out),
        )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    by = {p["name"]: p for p in results["phases"]}
    assert code == 0, (by["pooled"]["clients"], by["pooled"]["app_errors"])
    assert list(by) == ["pooled", "per-request", "tuned+idle", "default+idle"]
    for phase in by.values():
        clients = phase["clients"]
        assert clients["connected"] == 6
        assert clients["sent"] > 0 and clients["own_back"] > 0, phase["name"]
        assert phase["latency_ms"]["count"] == clients["own_back"]
        assert phase["cache_ms"]["requests"] > 0
    pooled, per = by["pooled"], by["per-request"]
    # Messages round-trip through the group broadcast: every sender got its own copy
    # back and every room member a copy of each message.
    assert pooled["clients"]["lost"] == 0
    assert pooled["clients"]["delivered"] == pooled["clients"]["expected"] > 0
    # Pools for 6 sockets (channels 7, with its receive loop; cache 6): the pooled app never
    # holds more than 13 connections and opens few; the per-request app opens one per
    # operation.
    assert pooled["pool_size"] == 13
    assert 1 <= pooled["redis"]["peak_app_connections"] <= 13
    assert pooled["redis"]["connections_opened"] <= 13
    assert per["redis"]["connections_opened"] > 10 * pooled["redis"]["connections_opened"]
    assert per["redis"]["connections_opened"] >= per["clients"]["sent"]
    # The idle crowd was held open next to the load: all of it on the package default,
    # what maxclients left on the small server, the rest refused by Redis and counted.
    default, tuned = by["default+idle"], by["tuned+idle"]
    assert default["crowd"] == {"accepted": 60, "rejected": 0, "errors": {}}
    assert max(default["series"]["connected_clients"]) >= 60
    crowd = tuned["crowd"]
    assert crowd["accepted"] + crowd["rejected"] == 60 and crowd["rejected"] > 0
    assert crowd["errors"] == {"max number of clients reached": crowd["rejected"]}
    assert max(tuned["series"]["connected_clients"]) == 50
    assert tuned["redis"]["rejected_connections"] >= crowd["rejected"]
    assert results["comparisons"]["tuning"]["maxclients"] == [50, 10000]
    assert "redis-server package" in results["targets"]["default"]
    assert results["scale"]["message_rate_factor"] == pytest.approx(24 / 500_000)
    assert results["comparisons"]["pooling"]["connections_opened"][1] > 0
    text = (out / "report.md").read_text()
    assert "## Pooled (generated settings) vs a new connection per operation" in text
    assert "## Tuned vs the package default, with 60 idle connections" in text
    assert "| connections opened to Redis |" in text
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.png").stat().st_size > 10_000
    assert "report: " in stdout
    # The refusals were on purpose: the report says how to acknowledge them to the verifier.
    assert "--accept-counters" in text and "redis_tuned_verify_accept_counters" in stdout


def test_idle_crowd_counts_what_maxclients_refuses(tmp_path: Path) -> None:
    """A server with maxclients 20: the crowd of 50 gets the free slots, and the rest is
    counted as rejected with Redis's own reason."""

    async def fill(port: int) -> Crowd:
        crowd = Crowd()
        await crowd.fill(Target("channels", "redis", "127.0.0.1", port, 0, None, "UNSET_PW"), 50)
        crowd.close()
        return crowd

    with redis_server(tmp_path, "--maxclients", "20") as port:
        crowd = asyncio.run(fill(port))
        rejected = _server_rejected(port)
    # 20, or 19 while the server still counts the helper's readiness probe.
    assert 19 <= crowd.accepted <= 20
    assert crowd.rejected == 50 - crowd.accepted == rejected  # the server's own count
    assert crowd.errors == {"max number of clients reached": crowd.rejected}


def _server_rejected(port: int) -> int:
    """INFO's rejected_connections, once the server has seen the crowd go (bounded)."""
    for refused in range(100):
        try:
            # Less this helper's own refused attempts, which the server counts too.
            return int(redis.Redis(port=port).info("stats")["rejected_connections"]) - refused
        except redis.ConnectionError:  # still full: the closes are not processed yet
            time.sleep(0.02)
    raise AssertionError("the server stayed full after the crowd closed")


def test_an_undersized_channel_pool_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exit code is not a constant: 12 sockets that join their rooms at once through a
    channels_redis pool of 2 make the app raise (MaxConnectionsError) and the run fail."""
    out = tmp_path / "report"
    with redis_server(tmp_path) as port:
        code, _, err = _run(
            capsys, "--channels-url", f"redis://127.0.0.1:{port}/0", "--clients", "12",
            "--ramp", "0", "--rate", "2", "--duration", "2", "--group-size", "4",
            "--concurrency", "2", "--skip", "per-request", "--skip", "idle", "--out", str(out),
        )  # fmt: skip
    assert code == 1, err
    pooled = json.loads((out / "results.json").read_text())["phases"][0]
    assert any("Too many connections" in k for k in pooled["app_errors"]), pooled["app_errors"]
    text = (out / "report.md").read_text()
    assert "## Phases outside a comparison" in text
    assert "MaxConnectionsError" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--clients", "0"], "--clients must be 1-20000"),
        (["--rate", "fast"], "--rate takes a number"),
        (["--duration", "99999"], "--duration must be 1-3600"),
        (["--channels-url", "redis://:secret@127.0.0.1:6379/0"], "must not hold a password"),
        (["--channels-url", "http://127.0.0.1/"], "takes redis://"),
        (["--channels-url", "rediss://127.0.0.1:6380/0"], "give --cacert"),
        (["--cache-url", "redis://127.0.0.1:6379/x"], "database number"),
        (["--password", "x"], "never taken on the command line"),
        (["--skip", "everything"], "invalid choice"),
    ],
)
def test_misuse_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, *argv, "--out", str(tmp_path / "r"))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "secret" not in err
    assert not (tmp_path / "r").exists()


def test_unreachable_server_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    code, _, err = _run(capsys, "--channels-url", f"redis://127.0.0.1:{port}/0",
                        "--out", str(tmp_path / "r"))  # fmt: skip
    assert code == 2
    assert err.startswith(f"redis-tuned-loadtest: cannot reach 127.0.0.1:{port}")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_server_that_is_not_redis_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        def answer() -> None:
            for _ in range(2):
                conn, _ = listener.accept()
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                conn.close()

        threading.Thread(target=answer, daemon=True).start()
        code, _, err = _run(capsys, "--channels-url", f"redis://127.0.0.1:{port}/0",
                            "--out", str(tmp_path / "r"))  # fmt: skip
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"127.0.0.1:{port}" in err


def test_wrong_password_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_CHANNELS_PASSWORD", "not-the-password")
    with redis_server(tmp_path, "--requirepass", "right-one") as port:
        code, _, err = _run(capsys, "--channels-url", f"redis://127.0.0.1:{port}/0",
                            "--out", str(tmp_path / "r"))  # fmt: skip
    assert code == 2
    assert "$REDIS_CHANNELS_PASSWORD" in err
    assert "not-the-password" not in err and "right-one" not in err


def test_per_request_rewrite_keeps_the_addresses_and_drops_the_pool() -> None:
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://h:1/0", "max_connections": 5}]},
        }
    }
    caches = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://h:1/1",
                          "OPTIONS": {"CONNECTION_POOL_CLASS": "redis.BlockingPool"}}}  # fmt: skip
    new_layers, new_caches = perrequest.rewrite(layers, caches)
    assert new_layers["default"]["BACKEND"].endswith("PerOperationChannelLayer")
    assert new_layers["default"]["CONFIG"] == layers["default"]["CONFIG"]
    assert new_caches["default"]["OPTIONS"]["CONNECTION_POOL_CLASS"].endswith("DisconnectingPool")
    assert new_caches["default"]["LOCATION"] == "redis://h:1/1"
    assert layers["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"  # a copy


def test_percentiles_and_ratios() -> None:
    values = [float(v) for v in range(1, 101)]
    assert report.percentile(values, 50) == 50.0
    assert report.percentile(values, 99) == 99.0
    assert report.percentile([], 50) is None
    assert report.ratio(10, 4) == 2.5
    assert report.ratio(1, 0) is None and report.ratio(None, 1) is None
    dist = report.distribution([3.0, 1.0, 2.0])
    assert (dist["count"], dist["p50"], dist["max"]) == (3, 2.0, 3.0)
    assert len(dist["percentiles"]) == 100


def test_app_errors_are_counted_by_kind(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "x.py", line 3, in f\n'
        "redis.exceptions.MaxConnectionsError: Too many connections\n"
        "redis.exceptions.MaxConnectionsError: Too many connections\n"
        "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379.\n"
        "INFO: an ordinary line\n"
    )
    assert appserver.errors_in(log) == {
        "MaxConnectionsError: Too many connections": 2,
        "ConnectionError: Error N connecting to N.N.N.N:N.": 1,
    }


def test_tls_and_a_password_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """rediss:// with a password: the app's pools, the sampler and the idle crowd all
    speak TLS (checked against the tests' own CA) and AUTH; the password is read from
    the environment and shows nowhere."""
    tls = tmp_path / "tls"
    tls.mkdir()
    own_ca(tls)
    server_cert(tls, "server", days=2)
    password = "Zq9-tls-loadtest-pw"
    monkeypatch.setenv("REDIS_CHANNELS_PASSWORD", password)
    monkeypatch.setenv("REDIS_CACHE_PASSWORD", password)
    out = tmp_path / "report"
    with redis_server(tmp_path, "--requirepass", password, tls=tls) as port:
        code, stdout, err = _run(
            capsys, "--channels-url", f"rediss://127.0.0.1:{port}/0", "--cacert",
            str(tls / "ca.crt"), *TINY, "--concurrency", "6", "--idle-connections", "20",
            "--skip", "per-request", "--out", str(out),
        )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    by = {p["name"]: p for p in results["phases"]}
    assert code == 0, (by["pooled"]["clients"], by["pooled"]["app_errors"], err)
    for name in ("pooled", "tuned+idle"):
        assert by[name]["clients"]["lost"] == 0 and by[name]["clients"]["own_back"] > 0
        assert by[name]["redis"]["instances"]["channels"]["samples"] > 2  # sampler, over TLS
    assert by["tuned+idle"]["crowd"] == {"accepted": 20, "rejected": 0, "errors": {}}
    assert results["targets"]["tuned"].startswith(f"rediss://127.0.0.1:{port}/0")
    everything = stdout + err + "".join(p.read_text() for p in out.rglob("*.*") if p.is_file()
                                        and p.suffix != ".png")  # fmt: skip
    assert password not in everything


def _role_rules() -> tuple[dict[str, str], str]:
    role = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned"
    uses = yaml.safe_load((role / "defaults" / "main.yml").read_text())["redis_tuned_acl_rules"]
    verify = yaml.safe_load((role / "vars" / "main.yml").read_text())
    return uses, str(verify["__redis_tuned_verify_acl_rules"])


def test_the_apps_acl_users_load_while_the_verify_user_reads_info(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example inventory's shape, as make demo deploys it: a channels and a cache
    instance, each with the role's `app` user for its use and its verify user. The app's
    user may not read INFO: without --monitor-user, one line saying what to give; with
    the role's verify user, the load runs as the application logs in."""
    uses, verify_rules = _role_rules()
    monkeypatch.setenv("REDIS_CHANNELS_PASSWORD", "chan-app-pw")
    monkeypatch.setenv("REDIS_CACHE_PASSWORD", "cache-app-pw")
    monkeypatch.setenv("REDIS_MONITOR_PASSWORD", "verify-pw")
    ports = {}
    with contextlib.ExitStack() as stack:
        for use in ("channels", "cache"):
            workdir = tmp_path / use
            workdir.mkdir()
            port = stack.enter_context(redis_server(workdir, "--requirepass", "admin-pw"))
            admin = redis.Redis(port=port, password="admin-pw")
            pw = f"{'chan' if use == 'channels' else 'cache'}-app-pw"
            for user, password, rules in (
                ("app", pw, uses[use]),
                ("redis-tuned-verify", "verify-pw", verify_rules),
            ):
                admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}",
                                      *rules.split())  # fmt: skip
            admin.close()
            ports[use] = port
        urls = ["--channels-url", f"redis://app@127.0.0.1:{ports['channels']}/0",
                "--cache-url", f"redis://app@127.0.0.1:{ports['cache']}/0"]  # fmt: skip
        code, _, err = _run(capsys, *urls, "--out", str(tmp_path / "refused"))
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "--monitor-user" in err and "no permissions to run the 'info'" in err
        out = tmp_path / "report"
        code, _, err = _run(
            capsys, *urls, "--monitor-user", "redis-tuned-verify", *TINY, "--concurrency", "6",
            "--skip", "per-request", "--skip", "idle", "--out", str(out),
        )  # fmt: skip
    assert (out / "results.json").exists(), err
    results = json.loads((out / "results.json").read_text())
    pooled = results["phases"][0]
    assert code == 0, (pooled["clients"], pooled["app_errors"], err)
    assert pooled["clients"]["lost"] == 0 and pooled["cache_ms"]["requests"] > 0
    assert pooled["redis"]["instances"]["channels"]["samples"] > 2
    assert pooled["redis"]["instances"]["cache"]["samples"] > 2
    assert results["servers"][f"tuned 127.0.0.1:{ports['channels']}"]["config"]["timeout"]
