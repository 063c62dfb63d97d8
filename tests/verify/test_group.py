"""Issue 20 #3: redis-tuned-verify checks a node of a replication group and the group
as its Sentinels see it; each check fails on a group that violates it (a replica
down, a Sentinel down, a split view, a replica cut off its primary). Real processes
on loopback: a primary, a replica, three Sentinels (quorum 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from support import GROUP_CHECKS, run_module, start_sentinel
from test_cli import check, verify

PASSWORD = "group-test-sentinel-secret"


@dataclass
class Group:
    primary: Any
    replica: Any
    sentinels: list[tuple[subprocess.Popen[bytes], int]]
    password_file: Path

    def flags(self, *extra_ports: int) -> list[str]:
        ports = [p for _, p in self.sentinels] + list(extra_ports)
        return [
            *(f"--sentinel=127.0.0.1:{p}" for p in ports),
            "--master-name=grp",
            "--mode=client",  # this machine is not a tuned host: the group, not the kernel
            f"--sentinel-password-file={self.password_file}",
        ]


def wait_for(what: str, predicate: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


def make_group(redis_server, tmp_path: Path, tls: Path | None = None) -> Group:  # type: ignore[no-untyped-def]
    """A primary, its replica and three Sentinels (quorum 2), once they see each
    other; ``tls``: all of it over TLS only, as the role makes a group with TLS on
    (the replica dials the primary's TLS port, tls-replication)."""
    primary = redis_server(tls=tls)
    conf = tmp_path / "replica.conf"
    conf.write_text(
        f"replicaof 127.0.0.1 {primary.port}\n" + ("tls-replication yes\n" if tls else "")
    )
    replica = redis_server(conf=conf, tls=tls)
    wait_for(
        "the replica in sync",
        lambda: replica.client().info("replication").get("master_link_status") == "up",
    )
    sentinels = [start_sentinel(tmp_path, {"grp": primary.port}, PASSWORD, quorum=2, tls=tls)
                 for _ in range(3)]  # fmt: skip
    over_tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(tls / "ca.crt")} if tls else {}

    def settled() -> bool:
        for _, port in sentinels:
            master = redis.Redis(port=port, password=PASSWORD, **over_tls).sentinel_master("grp")
            if master["num-other-sentinels"] != 2 or master["num-slaves"] != 1:
                return False
        return True

    wait_for("the Sentinels see each other and the replica", settled, 40)
    secret = tmp_path / "sentinel.secret"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return Group(primary, replica, sentinels, secret)


def stop(group: Group) -> None:
    for proc, _ in group.sentinels:
        proc.terminate()
    for proc, _ in group.sentinels:
        proc.wait(timeout=10)


@pytest.fixture
def group(redis_server, tmp_path: Path) -> Iterator[Group]:  # type: ignore[no-untyped-def]
    made = make_group(redis_server, tmp_path)
    yield made
    stop(made)


@pytest.fixture
def tls_group(redis_server, tmp_path: Path, tls_dir: Path) -> Iterator[Group]:  # type: ignore[no-untyped-def]
    made = make_group(redis_server, tmp_path, tls=tls_dir)
    yield made
    stop(made)


def test_a_healthy_group_passes_from_the_primary_and_from_the_replica(group, capsys) -> None:  # type: ignore[no-untyped-def]
    code, report = verify(capsys, group.primary, *group.flags())
    assert code == 0, [c for c in report["checks"] if c["status"] == "fail"]
    for name in (*GROUP_CHECKS, "replication: replicas connected", "replication: replica lag"):
        assert check(report, name)["status"] == "pass", name
    code, report = verify(capsys, group.replica, *group.flags())
    assert code == 0, [c for c in report["checks"] if c["status"] == "fail"]
    for name in (*GROUP_CHECKS, "replication: link to the primary", "replication: lag"):
        assert check(report, name)["status"] == "pass", name
    assert check(report, "this node as the Sentinels see it")["expected"] == (
        f"a replica of 127.0.0.1:{group.primary.port}"
    )
    assert PASSWORD not in str(report)


def test_a_replica_down_fails_the_primarys_replication_check(group, capsys) -> None:  # type: ignore[no-untyped-def]
    os.kill(group.replica.pid, signal.SIGTERM)
    wait_for(
        "the primary sees no replica",
        lambda: group.primary.client().info("replication")["connected_slaves"] == 0,
    )
    code, report = verify(capsys, group.primary, *group.flags())
    assert code == 1
    failed = check(report, "replication: replicas connected")
    assert failed["status"] == "fail" and failed["observed"] == "0 online of 0"


def test_a_sentinel_down_fails_and_the_quorum_still_holds(group, capsys) -> None:  # type: ignore[no-untyped-def]
    proc, port = group.sentinels[2]
    proc.terminate()
    proc.wait(timeout=10)
    code, report = verify(capsys, group.replica, *group.flags())
    assert code == 1
    down = check(report, "Sentinels answer")
    assert down["status"] == "fail" and f"127.0.0.1:{port}" in down["observed"]
    # The two left still reach the quorum of 2 (they still count the third as known).
    assert check(report, "quorum reachable (SENTINEL CKQUORUM)")["status"] == "pass"


def test_a_split_view_fails(group, redis_server, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A fourth Sentinel that watches another server under the group's name."""
    other = redis_server()
    proc, port = start_sentinel(tmp_path, {"grp": other.port}, PASSWORD)
    try:
        code, report = verify(capsys, group.replica, *group.flags(port))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert code == 1
    split = check(report, "Sentinels agree on the primary")
    assert split["status"] == "fail"
    assert f"127.0.0.1:{other.port}" in split["observed"]
    assert f"127.0.0.1:{group.primary.port}" in split["observed"]


def test_a_replica_cut_off_its_primary_fails_its_link_check(group, capsys) -> None:  # type: ignore[no-untyped-def]
    os.kill(group.primary.pid, signal.SIGTERM)
    wait_for(
        "the replica's link down",
        lambda: group.replica.client().info("replication").get("master_link_status") == "down",
    )
    code, report = verify(capsys, group.replica, *group.flags())
    assert code == 1
    link = check(report, "replication: link to the primary")
    assert link["status"] == "fail" and link["observed"].startswith("down")


def test_group_flags_without_a_name_or_with_a_bad_sentinel_are_one_line(group, capsys) -> None:  # type: ignore[no-untyped-def]
    from redis_tuned_tools.verify.cli import main

    assert main(["--port", str(group.replica.port), "--sentinel=127.0.0.1:x"]) == 2
    assert "--sentinel takes HOST:PORT" in capsys.readouterr().err
    flags = [f for f in group.flags() if not f.startswith("--master-name")]
    assert main(["--port", str(group.replica.port), "--latency-samples=10", *flags]) == 2
    assert "--sentinel needs --master-name" in capsys.readouterr().err


def test_the_role_s_expectations_file_checks_the_group_with_the_password_it_names(  # type: ignore[no-untyped-def]
    group, tmp_path: Path, capsys, monkeypatch
) -> None:
    """What the role writes on a node's host: the group, its Sentinels and the file that
    holds their password, so the host's own run checks the group with no flag."""
    monkeypatch.delenv("REDIS_SENTINEL_PASSWORD", raising=False)
    expect = tmp_path / "node.json"

    def expect_file(password_file: Path) -> list[str]:
        sentinel = {
            "master_name": "grp",
            "sentinels": [["127.0.0.1", p] for _, p in group.sentinels],
            "password_file": str(password_file),
        }
        expect.write_text(json.dumps({"config": {}, "sentinel": sentinel}))
        return ["--mode=client", "--expect-file", str(expect)]

    code, report = verify(capsys, group.replica, *expect_file(group.password_file))
    assert code == 0, [c for c in report["checks"] if c["status"] == "fail"]
    for name in GROUP_CHECKS:
        assert check(report, name)["status"] == "pass", name
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-sentinels-password\n")
    code, report = verify(capsys, group.replica, *expect_file(wrong))
    assert code == 1
    assert check(report, "Sentinels answer")["status"] == "fail"
    relative = {"master_name": "grp", "sentinels": [["127.0.0.1", 1]], "password_file": "rel/x"}
    expect.write_text(json.dumps({"config": {}, "sentinel": relative}))
    from redis_tuned_tools.verify.cli import main

    assert main(["--port", str(group.replica.port), "--expect-file", str(expect)]) == 2
    assert "password_file must be an absolute path" in capsys.readouterr().err


def sentinel_step(group: Group, members: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plan's monitor of the group (``members`` nodes in it) and the arguments the
    role's Sentinel step gives the module for the group's first Sentinel."""
    monitor = {
        "name": "grp", "primary": {"address": "127.0.0.1", "port": group.primary.port},
        "quorum": 2, "down-after-milliseconds": 30000, "failover-timeout": 180000,
        "parallel-syncs": 1, "auth-user": "", "members": members,
        "sentinels": [{"address": "127.0.0.1", "port": p} for _, p in group.sentinels],
    }  # fmt: skip
    port = group.sentinels[0][1]
    return monitor, {"cli": "redis-cli", "port": port, "password": PASSWORD, "auth_pass": "x"}


def test_the_sentinel_module_waits_for_a_whole_group_and_says_what_is_not(
    group, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The role's Sentinel step (library/redis_tuned_sentinel.py) on a running group:
    nothing to change, the group whole at once; a group it is told has a node more
    than it sees is waited for a bounded time and named, not failed."""
    monitor, args = sentinel_step(group, members=2)
    done = run_module("redis_tuned_sentinel", tmp_path, **args, monitors=[monitor], settle=10)
    assert done.get("failed") is not True, done["_raw"]
    assert done["changed"] is False and done["unsettled"] == []
    assert done["primaries"] == {"grp": f"127.0.0.1:{group.primary.port}"}
    started = time.monotonic()
    short = run_module(
        "redis_tuned_sentinel", tmp_path, **args, monitors=[{**monitor, "members": 3}], settle=2
    )
    assert short.get("failed") is not True and short["unsettled"] == ["grp"]
    assert 2 <= time.monotonic() - started < 20
    assert PASSWORD not in short["_raw"]


def test_the_sentinel_module_forgets_a_node_that_left_and_stops_watching_a_group_left(
    group, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A replica gone for good (its host left the group): the Sentinels still count it
    until reset; the module resets a Sentinel that knows more than the plan has, once
    (the next run finds nothing to do), and SENTINEL REMOVE stops one watching."""
    os.kill(group.replica.pid, signal.SIGTERM)
    monitor, args = sentinel_step(group, members=1)
    client = redis.Redis(port=args["port"], password=PASSWORD)
    assert client.sentinel_master("grp")["num-slaves"] == 1  # the one that left
    reset = run_module("redis_tuned_sentinel", tmp_path, **args, monitors=[monitor], settle=20)
    assert reset["changed"] is True, reset["_raw"]
    assert reset["actions"] == ["reset grp: it knew 1 replicas, the group has 0"]
    assert client.sentinel_master("grp")["num-slaves"] == 0
    assert reset["unsettled"] == []  # the other Sentinels found again
    again = run_module("redis_tuned_sentinel", tmp_path, **args, monitors=[monitor], settle=5)
    assert again["changed"] is False and again["actions"] == []
    # The Sentinel's own setting, compared and set at run time (then as planned).
    for wanted, said in (("127.0.0.1", "config announce-ip (none) -> 127.0.0.1"),
                         ("", "config announce-ip 127.0.0.1 -> (none)")):  # fmt: skip
        moved = run_module("redis_tuned_sentinel", tmp_path, **args, announce_ip=wanted)
        assert moved["actions"] == [said], moved["_raw"]
        shown = client.execute_command("SENTINEL", "CONFIG", "GET", "announce-ip")
        assert shown in ([b"announce-ip", wanted.encode()], {b"announce-ip": wanted.encode()})
        assert (
            run_module("redis_tuned_sentinel", tmp_path, **args, announce_ip=wanted)["actions"]
            == []
        )
    gone = run_module("redis_tuned_sentinel", tmp_path, **args, remove=["grp", "never-watched"])
    assert gone["actions"] == ["stop watching grp (this host left it)"]
    with pytest.raises(redis.ResponseError, match="No such master"):
        client.sentinel_master("grp")


def test_a_group_over_tls_is_verified_over_tls_and_fails_on_a_replica_down(  # type: ignore[no-untyped-def]
    tls_group, tls_dir: Path, capsys
) -> None:
    """Issue 20, TLS: a group whose nodes and Sentinels speak TLS only. The verifier
    dials the Sentinels as it dials the node (the CA, the client certificate): every
    group check passes from both nodes, and the primary's replication check fails
    once its replica is gone."""
    over_tls = ["--tls", "--cacert", str(tls_dir / "ca.crt")]
    for node in (tls_group.primary, tls_group.replica):
        code, report = verify(capsys, node, *over_tls, *tls_group.flags())
        assert code == 0, [c for c in report["checks"] if c["status"] == "fail"]
        for name in GROUP_CHECKS:
            assert check(report, name)["status"] == "pass", name
    assert check(report, "replication: link to the primary")["status"] == "pass"
    os.kill(tls_group.replica.pid, signal.SIGTERM)
    wait_for(
        "the primary sees no replica",
        lambda: tls_group.primary.client().info("replication")["connected_slaves"] == 0,
    )
    code, report = verify(capsys, tls_group.primary, *over_tls, *tls_group.flags())
    assert code == 1
    assert check(report, "replication: replicas connected")["status"] == "fail"


def test_the_sentinel_module_brings_a_sentinel_over_tls_to_the_group(  # type: ignore[no-untyped-def]
    tls_group, tls_dir: Path, tmp_path: Path
) -> None:
    """The role's Sentinel step with the plan's TLS flags: a Sentinel that left the
    group watches it again at the primary the other Sentinels (asked over TLS) name,
    with its settings; the next run changes nothing."""
    monitor, args = sentinel_step(tls_group, members=2)
    args["tls"] = ["--tls", "--cacert", str(tls_dir / "ca.crt")]
    gone = run_module("redis_tuned_sentinel", tmp_path, **args, remove=["grp"])
    assert gone["actions"] == ["stop watching grp (this host left it)"], gone["_raw"]
    back = run_module("redis_tuned_sentinel", tmp_path, **args, monitors=[monitor], settle=20)
    assert back.get("failed") is not True, back["_raw"]
    assert back["actions"][0] == (
        f"monitor grp at 127.0.0.1:{tls_group.primary.port} (as the group's Sentinels see it)"
    )
    assert back["primaries"] == {"grp": f"127.0.0.1:{tls_group.primary.port}"}
    assert back["unsettled"] == []
    again = run_module("redis_tuned_sentinel", tmp_path, **args, monitors=[monitor], settle=5)
    assert again["changed"] is False and again["actions"] == [], again["_raw"]
    plain = run_module("redis_tuned_sentinel", tmp_path, **{**args, "tls": []}, wait=1)
    assert plain["failed"] is True and "does not answer" in plain["msg"]
    assert PASSWORD not in back["_raw"] + plain["_raw"]


def group_module(
    group: Group, tmp_path: Path, action: str, nodes: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """The rolling restart's module (library/redis_tuned_group.py) for the group "grp",
    ``nodes`` as one host's (name -> the client's arguments; their default user: the
    tests' nodes ask no password)."""
    secret = tmp_path / "admin.secret"
    secret.write_text("any\n")
    grp = {
        "name": "grp", "members": [{}, {}],
        "sentinels": [{"address": "127.0.0.1", "port": p} for _, p in group.sentinels],
    }  # fmt: skip
    return run_module(
        "redis_tuned_group", tmp_path, action=action, cli="redis-cli", groups=[grp],
        nodes=nodes, admin_user="default", admin_secret=str(secret),
        sentinel_password=PASSWORD, **extra,
    )  # fmt: skip


def test_the_rolling_restarts_check_passes_a_healthy_group_and_names_what_is_not(
    group, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The check before a rolling restart, at the group's Sentinels: a healthy group
    passes (and says each node's role); with its replica gone it names the replica
    missing; with two of its three Sentinels gone, each of them (at once: the others'
    view lags by down-after-milliseconds)."""
    nodes = {"grp": ["-p", str(group.primary.port)], "other": ["-p", str(group.replica.port)]}
    result = group_module(group, tmp_path, "check", nodes)
    assert result["problems"] == [], result["_raw"]
    assert result["roles"] == {"grp": "master", "other": "slave"}
    assert result["primaries"] == {"grp": f"127.0.0.1:{group.primary.port}"}
    os.kill(group.replica.pid, signal.SIGTERM)
    sentinel = redis.Redis(port=group.sentinels[0][1], password=PASSWORD)
    wait_for(
        "the Sentinels see the replica down",
        lambda: all("s_down" in r["flags"] for r in sentinel.sentinel_slaves("grp")),
        60,
    )
    only = {"grp": nodes["grp"]}
    (problem,) = group_module(group, tmp_path, "check", only)["problems"]
    assert problem.startswith("grp: 0 of 1 replicas linked to the primary"), problem
    for proc, _ in group.sentinels[1:]:
        proc.terminate()
        proc.wait(timeout=10)
    result = group_module(group, tmp_path, "check", only)
    down = [f"grp: the Sentinel at 127.0.0.1:{p} does not answer for it" for _, p in
            group.sentinels[1:]]  # fmt: skip
    assert result["problems"][:2] == down, result["problems"]
    assert PASSWORD not in result["_raw"]


def test_the_rolling_restarts_failover_hands_the_primary_over_with_nothing_lost(
    group, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The primary's turn: its writes paused, SENTINEL FAILOVER, back when it is the
    linked replica of the replica promoted, which has every write; a node that is not
    a primary (any more) is left alone."""
    group.primary.client().set("before", "1")
    nodes = {"grp": ["-p", str(group.primary.port)]}
    done = group_module(group, tmp_path, "failover", nodes, names=["grp"], pause_ms=5000)
    assert done.get("failed") is not True, done["_raw"]
    assert done["primaries"] == {"grp": f"127.0.0.1:{group.replica.port}"}
    assert group.replica.client().info("replication")["role"] == "master"
    assert group.replica.client().get("before") == "1"
    old = group.primary.client()
    assert old.info("replication")["master_link_status"] == "up"
    assert old.info("clients").get("paused_reason", "none") in ("none", "")  # unpaused
    again = group_module(group, tmp_path, "failover", nodes, names=["grp"])
    assert again["changed"] is False and again["primaries"] == {}
    synced = group_module(group, tmp_path, "synced", nodes, names=["grp"], timeout=10)
    assert synced.get("failed") is not True and synced["done"] == ["grp"]
