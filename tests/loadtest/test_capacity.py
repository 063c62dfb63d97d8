"""redis-tuned-loadtest capacity against a real redis-server (an ACL user as the app's,
another that reads INFO, a unix socket beside the port), at a tiny scale: a two-step
ramp of every setup, Redis's ceiling, the report. A test of the tool, not a benchmark:
no figure is asserted beyond what must hold at any speed."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import free_port, redis_server

from redis_tuned_loadtest import capacity, entry, gcwatch, variants

APP_PASSWORD = "app-secret-for-the-capacity-test"
MONITOR_PASSWORD = "monitor-secret-for-the-capacity-test"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Path]]:
    """The channels instance as the role makes it: the app's user may touch asgi* keys
    and no @dangerous command (INFO among them), the monitor user reads INFO."""
    users = tmp_path / "users.conf"
    users.write_text(
        f"user default off\n"
        f"user app on >{APP_PASSWORD} ~asgi* &* +@all -@dangerous\n"
        f"user mon on >{MONITOR_PASSWORD} +ping +info +config|get +client|setname\n"
    )
    users.chmod(0o600)
    sock = tmp_path / "redis.sock"
    monkeypatch.setenv("REDIS_CHANNELS_PASSWORD", APP_PASSWORD)
    monkeypatch.setenv("REDIS_CACHE_PASSWORD", APP_PASSWORD)
    monkeypatch.setenv("REDIS_MONITOR_PASSWORD", MONITOR_PASSWORD)
    with redis_server(
        tmp_path, "--include", str(users), "--unixsocket", str(sock), "--unixsocketperm", "700"
    ) as port:
        yield port, sock


def study(port: int, *more: str) -> list[str]:
    return ["capacity", "--channels-url", f"redis://app@127.0.0.1:{port}/0",
            "--monitor-user", "mon", "--clients", "20", "--group-size", "5", "--ramp", "0.5",
            "--step-duration", "1.5", "--repeats", "1", *more]  # fmt: skip


def test_a_tiny_ramp_of_every_setup_runs_end_to_end(
    server: tuple[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two steps per setup (core, two app processes, pubsub, per-request, and the unix
    socket), two load generators, the ceiling of both shapes: every client connected
    and held, every message back, the CPU of every part read, the knee the highest
    step that counted, the report written."""
    port, sock = server
    out = tmp_path / "report"
    code = entry.main(
        study(port, "--rates", "10,20", "--unix-socket", str(sock), "--ceiling-seconds", "1",
              "--out", str(out))
    )  # fmt: skip
    stdout, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    results = json.loads((out / "results.json").read_text())
    keys = [r["setup"] for r in results["rounds"]]
    assert keys == [
        "core-x1-tcp-pooled", "core-x2-tcp-pooled", "pubsub-x1-tcp-pooled",
        "core-x1-tcp-per-request", "core-x1-unix-pooled",
    ]  # fmt: skip
    per_message = {}
    for rnd in results["rounds"]:
        assert rnd["connected"] == 20 and rnd["connect_errors"] == {}, rnd
        assert rnd["app_errors"] == {}, rnd
        held = rnd["held"]  # each generator holds its 10 clients' sockets, more or less
        assert held["generator 1"]["open_files"] >= 10 and held["app 1"]["rss_mb"] > 10, held
        steps = rnd["steps"]
        assert 1 <= len(steps) <= 2
        counted = [s["rate"] for s in steps if s["ok"]]
        # The ramp stops at the first step that does not count; the knee is the last that did.
        assert all(s["ok"] for s in steps[:-1])
        assert rnd["knee"] == (counted[-1] if counted else None)
        for s in steps:
            assert s["sent"] > 0 and s["lost"] == 0, s
            assert s["delivered"] == s["expected"] == s["sent"] * 5
            assert s["connected"] == 20
            parts = s["cpu"]["parts"]
            apps = 2 if rnd["setup"].startswith("core-x2") else 1
            assert sorted(parts) == sorted(
                ["redis", "generator 1", "generator 2", *(f"app {n + 1}" for n in range(apps))]
            )
            assert parts[f"app {apps}"] > 0 and s["cpu"]["wall_s"] >= 1.5
            # Every process's collector timed: the app's (GET /gc), each generator's.
            assert sorted(s["gc"]) == sorted(p for p in parts if p != "redis")
            fields = {"collections", "total_ms", "longest_ms", "full"}
            assert all(set(g) == fields for g in s["gc"].values()), s["gc"]
            named = ("of a core", "garbage collector", "no part saturated", "the machine",
                     "the tool's limit")  # fmt: skip
            assert any(k in s["limit"] for k in named), s["limit"]
        per_message[rnd["setup"]] = steps[0]["commands_per_message"]
    # What Redis did per message, counted by Redis: the core layer's queues cost several
    # commands per message, the pubsub layer's PUBLISH about one.
    assert per_message["core-x1-tcp-pooled"] > 3 * per_message["pubsub-x1-tcp-pooled"]
    assert per_message["core-x2-tcp-pooled"] > per_message["core-x1-tcp-pooled"]
    assert [c["shape"] for c in results["ceilings"]] == ["core", "pubsub"]
    for c in results["ceilings"]:
        assert "error" not in c and c["messages_per_s"] > 0 and c["redis_cpu"] > 0, c
    report = (out / "report.md").read_text()
    assert "## Knees" in report and "core layer, 2 app processes, TCP, pooled" in report
    assert "UNIX" in report and (out / "report.png").stat().st_size > 10_000
    # Every other setup against the first, step by step (pooled vs per-request among them).
    assert "## Along the ramp, one thing changed at a time" in report
    pair = "**core layer, 1 app process, TCP, per-request** against core layer, 1 app process"
    assert pair + ", TCP, pooled" in report
    assert "held" in stdout and APP_PASSWORD not in report + stdout + err


def test_the_ramp_stops_at_the_first_step_past_the_budget(
    server: tuple[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A budget no round trip meets (10 microseconds): the first step does not count, the
    ramp goes no further, there is no knee, and the report says why."""
    port, _ = server
    out = tmp_path / "report"
    code = entry.main(
        study(port, "--setups", "core", "--rates", "10,20,40", "--budget-ms", "0.01",
              "--ceiling-seconds", "0", "--out", str(out))
    )  # fmt: skip
    capsys.readouterr()
    assert code == 0
    (rnd,) = json.loads((out / "results.json").read_text())["rounds"]
    assert rnd["knee"] is None and len(rnd["steps"]) == 1
    assert "over the 0.01 ms budget" in rnd["steps"][0]["why"]
    assert "| none |" in (out / "report.md").read_text()


def test_fewer_rooms_than_generators_leaves_the_rest_idle(
    server: tuple[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """3 clients in one room, 2 generators: the one room's generator holds them all, the
    other gets no command (it used to fail on the count)."""
    port, _ = server
    out = tmp_path / "report"
    code = entry.main(
        study(port, "--clients", "3", "--generators", "2", "--setups", "core", "--rates", "5",
              "--ceiling-seconds", "0", "--out", str(out))
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    (rnd,) = json.loads((out / "results.json").read_text())["rounds"]
    assert rnd["connected"] == 3 and rnd["steps"][0]["sent"] > 0
    assert rnd["steps"][0]["lost"] == 0


def test_every_collection_is_timed_and_read_once() -> None:
    """gcwatch: a collection forced here is counted (a full one, its pause timed), and a
    second read starts afresh."""
    gcwatch.install()
    gcwatch.read()
    gc.collect()
    seen = gcwatch.read()
    assert seen["collections"] >= 1 and seen["full"] >= 1 and seen["total_ms"] > 0
    assert seen["longest_ms"] >= seen["total_ms"] / seen["collections"]
    assert gcwatch.read() == {"collections": 0, "total_ms": 0.0, "longest_ms": 0.0, "full": 0}


def test_a_step_counts_only_with_every_message_back_no_error_and_p99_in_budget() -> None:
    assert capacity.verdict(100, 100, {}, 12.0, 50) == []
    assert capacity.verdict(100, 97, {}, 12.0, 50) == ["3 of 100 messages not back within 3 s"]
    assert capacity.verdict(100, 100, {"websocket send: X": 2}, 12.0, 50) == ["2 client errors"]
    assert capacity.verdict(100, 100, {}, 51.0, 50) == ["p99 51.0 ms over the 50 ms budget"]
    assert capacity.verdict(0, 0, {}, None, 50) == ["p99 - ms over the 50 ms budget"]


def _step(
    parts: dict[str, float], busy: float = 50, steal: float = 0, achieved: float = 100
) -> dict[str, Any]:
    cpu = {"parts": parts, "machine_busy": busy, "steal": steal, "cores": 2}
    return {"cpu": cpu, "rate": 100, "achieved": achieved}


def test_the_limit_is_named_from_the_steps_own_measurements() -> None:
    """Each kind of limit, and what is not one."""
    quiet = {"app 1": 40.0, "generator 1": 10.0, "redis": 5.0}
    assert capacity.bottleneck(_step({**quiet, "app 1": 97.0})) == (
        "application process 1 at 97% of a core"
    )
    assert capacity.bottleneck(_step({**quiet, "redis": 91.0})) == "Redis at 91% of a core"
    tool = capacity.bottleneck(_step({**quiet, "generator 1": 99.0}))
    assert tool.startswith("load generator 1 at 99%") and "the tool's limit" in tool
    assert "the tool's limit" in capacity.bottleneck(_step(quiet, achieved=60))
    few = {**_step(quiet, achieved=60), "sent": 12}  # 12 messages: short by chance, not the tool
    assert capacity.bottleneck(few).startswith("no part saturated")
    assert capacity.bottleneck(_step({**quiet, "app 1": 97.0}, steal=25)).startswith(
        "the machine: 25% of its CPU stolen"
    )
    assert capacity.bottleneck(_step(quiet, busy=95)).startswith("the machine's 2 cores, 95% busy")
    assert capacity.bottleneck(_step(quiet)).startswith("no part saturated")


def test_a_collector_that_stops_a_part_longer_than_the_budget_is_named() -> None:
    app = {"collections": 9, "total_ms": 700.0, "longest_ms": 460.0, "full": 1}
    generator = {"collections": 9, "total_ms": 2.0, "longest_ms": 1.0, "full": 0}
    step = {"gc": {"app 1": app, "generator 1": generator}}
    assert capacity.gc_limit(step, 50) == (
        "application process 1's garbage collector: stopped 460 ms at once "
        "(1 full collections, 700 ms in all)"
    )
    assert capacity.gc_limit(step, 500) is None
    generator["longest_ms"] = 150.0
    step = {"gc": {"generator 1": generator}}
    assert capacity.gc_limit(step, 50).endswith(": the tool's limit, not the system's")  # type: ignore[union-attr]
    assert capacity.gc_limit({"gc": {}}, 50) is None


def test_setups_parse_into_what_they_vary() -> None:
    (s,) = capacity.parse_setups("pubsub+2+unix")
    assert (s.layer, s.processes, s.transport, s.variant, s.gc_freeze) == (
        "pubsub",
        2,
        "unix",
        "pooled",
        False,
    )
    (g,) = capacity.parse_setups("core+gc-freeze")
    assert g.gc_freeze and g.key == "core-x1-tcp-pooled-gc-freeze" and "gc.freeze()" in g.title


def test_clients_go_to_the_generators_in_whole_rooms() -> None:
    assert capacity.shares_of_clients(20, 2, 5) == [(0, 10), (10, 10)]
    assert capacity.shares_of_clients(23, 2, 5) == [(0, 15), (15, 8)]
    assert capacity.shares_of_clients(4, 3, 5) == [(0, 4)]
    blocks = capacity.shares_of_clients(5000, 4, 10)
    assert sum(c for _, c in blocks) == 5000 and all(f % 10 == 0 for f, _ in blocks)


def test_the_variants_keep_the_instance_and_its_credentials() -> None:
    layers = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {
        "hosts": [{"address": "redis://app:p%40ss@10.0.0.1:6379/2", "max_connections": 9,
                   "socket_keepalive": True, "socket_keepalive_options": {1: 60}}]}}}  # fmt: skip
    unix = variants.unix_socket(layers, "/run/redis/channels.sock")
    (host,) = unix["default"]["CONFIG"]["hosts"]
    assert host == {"address": "unix://app:p%40ss@/run/redis/channels.sock?db=2",
                    "max_connections": 9}  # fmt: skip
    assert layers["default"]["CONFIG"]["hosts"][0]["socket_keepalive"] is True  # a copy
    assert variants.pubsub(layers)["default"]["BACKEND"] == variants.PUBSUB
    with pytest.raises(ValueError, match="plain redis://"):
        variants.unix_socket(
            {"default": {"CONFIG": {"hosts": [{"address": "rediss://h:1/0"}]}}}, "/x"
        )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--setups", "core+fast"], "'fast' in 'core+fast' is none of"),
        (["--setups", "pubsub+per-request"], "per-request is a variant of the core layer only"),
        (["--setups", "core,core+1"], "is given twice"),
        (["--setups", "core+unix"], "give the instance's socket with --unix-socket"),
        (["--unix-socket", "/nonexistent/redis.sock"], "is not a socket on this machine"),
        (["--rates", "100,50"], "rising rates"),
        (["--rates", "ten"], "messages per second, comma-separated"),
        (["--generators", "0"], "--generators must be 1-16"),
        (["--password", "x"], "a password is never taken on the command line"),
    ],
)
def test_a_misuse_is_one_line_and_exit_2(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert entry.main(["capacity", *argv]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err


def test_an_unreachable_server_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    code = entry.main(["capacity", "--channels-url", f"redis://127.0.0.1:{port}/0",
                       "--out", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and f"cannot reach 127.0.0.1:{port}" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "r" / "results.json")
