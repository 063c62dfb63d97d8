"""Replication groups across the hosts of a play, and what preflight refuses of them.

Each host's inputs are rendered from the role's own files (role_vars) with that
host's variables; the play is planned the way preflight does it: every host plans
alone and publishes its peer, then every host plans again with all the peers.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis_tuned_plan as f  # roles/redis_tuned/lib/redis_tuned_plan
from role_vars import rendered

FACTS = {"memtotal_mb": 4096, "os_family": "Debian", "distribution_major_version": "12"}
ADDRESSES = {"redis-1": "10.0.0.11", "redis-2": "10.0.0.12", "redis-3": "10.0.0.13"}
CHANNELS = {"name": "channels", "port": 6379, "profile": "channels", "replication": True,
            "password": "app-secret"}  # fmt: skip


def host_inputs(host: str, **variables: Any) -> dict[str, Any]:
    """One host's __redis_tuned_inputs: a replicated channels instance bound to its
    private address, a Sentinel, the group's passwords; ``variables`` win."""
    given: dict[str, Any] = {
        "redis_tuned_instances": [CHANNELS],
        "redis_tuned_config": {"bind": f"127.0.0.1 {ADDRESSES.get(host, '10.0.0.99')}"},
        "redis_tuned_exporter_enabled": False,
        "redis_tuned_replication_primary": "redis-1",
        "redis_tuned_replication_password": "replication-secret",
        "redis_tuned_sentinel_enabled": True,
        "redis_tuned_sentinel_password": "sentinel-secret",
        **variables,
    }
    inputs = rendered("inputs", **given)
    inputs["host"] = host
    return inputs


def play(hosts: dict[str, dict[str, Any]], silent: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every host's plan as preflight makes it; ``silent`` hosts publish nothing."""
    peers = {
        host: None if host in silent else f.peer(f.plan(inputs), inputs, host)
        for host, inputs in hosts.items()
    }
    return {host: f.plan({**inputs, "peers": peers}, FACTS) for host, inputs in hosts.items()}


def three(**per_host: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h: host_inputs(h, **per_host.get(h.replace("-", "_"), {})) for h in ADDRESSES}


def problems(plans: dict[str, Any], host: str = "redis-2") -> list[str]:
    return list(plans[host]["problems"])


def test_three_hosts_make_one_group_with_the_bootstrap_primary_and_three_sentinels() -> None:
    plans = play(three())
    for host, result in plans.items():
        assert problems(plans, host) == [], host
        (group,) = result["groups"]
        assert group["name"] == "channels"
        assert group["bootstrap_primary"] == "redis-1"
        assert group["members"] == [
            {"host": h, "address": a, "port": 6379} for h, a in ADDRESSES.items()
        ]
        assert [s["port"] for s in group["sentinels"]] == [26379] * 3
        assert group["sentinel"] == {
            "quorum": 2, "down_after_ms": 30000, "failover_timeout_ms": 180000,
            "parallel_syncs": 1,
        }  # fmt: skip


def test_each_node_replicates_as_the_replication_user_from_the_bootstrap_primary() -> None:
    plans = play(three())
    for host, result in plans.items():
        (inst,) = result["instances"]
        assert inst["config"]["masteruser"] == "redis-tuned-replica"
        assert inst["live"]["masteruser"] == "redis-tuned-replica"  # compared and set live
        assert "replica-announce-ip" not in inst["config"]  # it binds what the others dial
        users = {u["name"]: u for u in inst["own_users"]}
        assert users["redis-tuned-replica"]["rules"] == (
            "resetkeys resetchannels -@all +psync +replconf +ping"
        )
        assert "+slaveof" in users["redis-tuned-sentinel"]["rules"]
        # Only a new file starts from the bootstrap primary; the primary itself has none.
        assert inst["replication"]["initial"] == (
            [] if host == "redis-1" else ["replicaof 10.0.0.11 6379"]
        )
        # What the app side is told (redis-tuned-clients settings --expect-file).
        view = f.client_view(inst, "/ca.crt")
        assert view["sentinel"] == {
            "master_name": "channels",
            "sentinels": [[a, 26379] for a in ADDRESSES.values()],
        }
        # What the host's verifier checks the group against (its expectations file).
        assert inst["expectations"]["sentinel"] == {
            "master_name": "channels",
            "sentinels": [[a, 26379] for a in ADDRESSES.values()],
            "password_file": "/etc/redis/redis_tuned/sentinel.secret",
        }
        sentinel = result["sentinel"]
        assert sentinel["port"] == 26379 and sentinel["bind"] == f"127.0.0.1 {ADDRESSES[host]}"
        assert sentinel["announce_ip"] is None
        (monitor,) = sentinel["monitors"]
        assert monitor["name"] == "channels"
        assert monitor["primary"] == {"address": "10.0.0.11", "port": 6379}
        assert monitor["quorum"] == 2 and monitor["down-after-milliseconds"] == 30000
        assert monitor["auth-user"] == "redis-tuned-sentinel"
        assert [s["address"] for s in monitor["sentinels"]] == list(ADDRESSES.values())


def test_a_node_bound_to_a_wildcard_announces_the_address_the_others_dial() -> None:
    wildcard = {"redis_tuned_config": {"bind": "0.0.0.0"}}
    hosts = {h: {**host_inputs(h, **wildcard), "client_address": a} for h, a in ADDRESSES.items()}
    plans = play(hosts)
    inst = plans["redis-2"]["instances"][0]
    assert problems(plans) == []
    assert inst["config"]["replica-announce-ip"] == "10.0.0.12"
    assert plans["redis-2"]["sentinel"]["announce_ip"] == "10.0.0.12"


def test_the_published_peer_holds_no_secret() -> None:
    inputs = host_inputs("redis-1")
    text = repr(f.peer(f.plan(inputs), inputs, "redis-1"))
    for secret in ("replication-secret", "sentinel-secret", "app-secret"):
        assert secret not in text


def test_an_instance_without_replication_is_in_no_group() -> None:
    plain = {**CHANNELS, "replication": False}
    plans = play(three(redis_1={"redis_tuned_instances": [plain]}))
    assert plans["redis-1"]["groups"] == []
    assert plans["redis-2"]["groups"] == []  # refused: planned no further
    assert any("2 Sentinel(s) (redis-2, redis-3)" in p for p in problems(plans))


def test_a_group_with_no_sentinel_at_all_is_refused() -> None:
    off = {"redis_tuned_sentinel_enabled": False}
    plans = play(three(redis_1=off, redis_2=off, redis_3=off))
    assert any("0 Sentinel(s) (none), at least 3" in p for p in problems(plans))


@pytest.mark.parametrize(
    ("per_host", "expected"),
    [
        # fewer than three Sentinels
        (
            {"redis_3": {"redis_tuned_sentinel_enabled": False}},
            "2 Sentinel(s) (redis-1, redis-2), at least 3 needed on hosts that fail apart",
        ),
        # a quorum above the Sentinel count (every host asks for 4)
        (
            {h: {"redis_tuned_sentinel_quorum": 4} for h in ("redis_1", "redis_2", "redis_3")},
            "redis_tuned_sentinel_quorum is 4, above the 3 Sentinels of the group",
        ),
        # a bootstrap primary not in the play
        (
            {
                h: {"redis_tuned_replication_primary": "redis-9"}
                for h in ("redis_1", "redis_2", "redis_3")
            },
            "redis_tuned_replication_primary is redis-9, not a host of this play that declares "
            "channels with replication: true",
        ),
        # no bootstrap primary at all
        (
            {h: {"redis_tuned_replication_primary": ""} for h in ("redis_1", "redis_2", "redis_3")},
            "set redis_tuned_replication_primary to the inventory name of the host",
        ),
        # hosts that disagree on the bootstrap primary
        (
            {"redis_3": {"redis_tuned_replication_primary": "redis-3"}},
            "redis_tuned_replication_primary differs between hosts (redis-1: redis-1, "
            "redis-2: redis-1, redis-3: redis-3)",
        ),
        # a port that differs between hosts
        (
            {"redis_3": {"redis_tuned_instances": [{**CHANNELS, "port": 6380}]}},
            "one port on every host (redis_tuned_instances, port of channels; got redis-1: 6379, "
            "redis-2: 6379, redis-3: 6380)",
        ),
        # a profile that differs between hosts
        (
            {"redis_3": {"redis_tuned_instances": [{**CHANNELS, "profile": "cache"}]}},
            "one profile on every host (redis_tuned_instances, profile of channels; got "
            "redis-1: channels, redis-2: channels, redis-3: cache)",
        ),
        # Sentinel settings that differ between hosts
        (
            {"redis_3": {"redis_tuned_sentinel_down_after_ms": 5000}},
            "redis_tuned_sentinel_down_after_ms differs between hosts (redis-1: 30000, "
            "redis-2: 30000, redis-3: 5000)",
        ),
        # two hosts reached at one address
        (
            {"redis_3": {"redis_tuned_config": {"bind": "127.0.0.1 10.0.0.12"}}},
            "two hosts are reached at the same address (10.0.0.12:6379)",
        ),
    ],
    ids=[
        "sentinels",
        "quorum",
        "primary-absent",
        "primary-unset",
        "primary-differs",
        "port",
        "profile",
        "sentinel-settings",
        "address",
    ],
)
def test_a_group_the_role_cannot_run_safely_is_refused_naming_the_variable(
    per_host: dict[str, dict[str, Any]], expected: str
) -> None:
    plans = play(three(**per_host))
    for host in ADDRESSES:
        found = problems(plans, host)
        assert any(expected in p for p in found), (host, found)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"redis_tuned_replication_password": ""},
            "redis_tuned_instances[0] (channels): replication: true needs "
            "redis_tuned_replication_password (from a vault)",
        ),
        (
            {"redis_tuned_sentinel_password": ""},
            "redis_tuned_sentinel_enabled is true: set redis_tuned_sentinel_password",
        ),
        (
            {"redis_tuned_sentinel_enabled": False, "redis_tuned_sentinel_password": ""},
            "redis_tuned_instances[0] (channels): replication: true needs "
            "redis_tuned_sentinel_password (from a vault) on every host of the group",
        ),
        (
            {"redis_tuned_config": {}},
            "redis_tuned_instances[0] (channels): replication: true, but the instance listens on "
            "loopback only",
        ),
        (
            {"redis_tuned_sentinel_quorum": 0},
            "redis_tuned_sentinel_quorum must be a number of at least 1",
        ),
        (
            {"redis_tuned_sentinel_port": 70000},
            "redis_tuned_sentinel_port must be 1-65535 (got 70000)",
        ),
        (
            {"redis_tuned_instances": [{**CHANNELS, "replication": "yes"}]},
            "redis_tuned_instances[0] (channels): replication must be a boolean (got a string)",
        ),
        (
            {"redis_tuned_config": {"bind": "127.0.0.1 10.0.0.11", "replicaof": "10.0.0.9 6379"}},
            "redis_tuned_instances[0] (channels): with replication: true the config may not set "
            "replicaof",
        ),
    ],
    ids=[
        "replication-password",
        "sentinel-password",
        "sentinel-password-no-sentinel",
        "loopback",
        "quorum-0",
        "sentinel-port",
        "replication-type",
        "replicaof",
    ],
)
def test_a_hosts_own_replication_variables_are_refused_before_the_probe(
    variables: dict[str, Any], expected: str
) -> None:
    inputs = host_inputs("redis-1", **variables)
    found = f.plan(inputs)["problems"]  # the first pass: no peers, no facts
    assert any(expected in p for p in found), found
    assert not any(secret in repr(found) for secret in ("replication-secret", "sentinel-secret"))


def test_a_host_of_the_play_that_published_nothing_is_named() -> None:
    plans = play(three(), silent=("redis-3",))
    assert any(
        "redis-3 of this play did not plan" in p and "run the role on every host" in p
        for p in problems(plans, "redis-1")
    )


def tls_host_inputs(host: str, **tls: Any) -> dict[str, Any]:
    """A host of the group with TLS on (TLS only on 6380 unless ``tls`` says)."""
    inputs = host_inputs(host)
    inputs["tls"] = {**inputs["tls"], "enabled": True, "port": 6380, **tls}
    inputs["tls"]["files_ok"] = dict.fromkeys(inputs["tls"]["files_ok"], True)
    return inputs


def test_a_group_over_tls_replicates_and_is_watched_on_the_tls_ports() -> None:
    """TLS on: the nodes replicate over TLS (tls-replication) to the primary's TLS
    port, the Sentinels watch that port, listen on theirs over TLS only and are
    dialled by the role's client with the CA."""
    plans = play({h: tls_host_inputs(h) for h in ADDRESSES})
    for host, result in plans.items():
        assert problems(plans, host) == [], host
        (inst,) = result["instances"]
        assert inst["config"]["tls-replication"] == "yes"
        assert [m["port"] for m in result["groups"][0]["members"]] == [6380] * 3
        (monitor,) = result["sentinel"]["monitors"]
        assert monitor["primary"] == {"address": ADDRESSES["redis-1"], "port": 6380}
        tls = result["sentinel"]["tls"]
        assert tls["cli_flags"][:2] == ["--tls", "--cacert"]
        assert tls["auth_clients"] == "no"
    assert plans["redis-2"]["instances"][0]["replication"]["initial"] == [
        f"replicaof {ADDRESSES['redis-1']} 6380"
    ]
    assert plans["redis-1"]["instances"][0]["replication"]["initial"] == []


def test_a_group_plain_on_one_host_and_tls_on_another_is_refused() -> None:
    hosts = {h: host_inputs(h) for h in ADDRESSES} | {"redis-3": tls_host_inputs("redis-3")}
    assert any("one TLS on every host" in p and "redis-3: True" in p for p in problems(play(hosts)))


@pytest.mark.parametrize("running, tls", [("no", True), ("yes", False)], ids=["on", "off"])
def test_switching_a_running_groups_tls_is_refused(running: str, tls: bool) -> None:
    """A running node whose tls-replication would change: its replicas and Sentinels
    dial it where it listens now, so the switch is refused with the way to do it."""
    make = tls_host_inputs if tls else host_inputs
    plan = play({h: make(h) for h in ADDRESSES})["redis-2"]
    (inst,) = plan["instances"]
    state = {
        "units": {inst["unit"]: {"started": 1000.0}},
        "live_config": {inst["name"]: {"tls-replication": running}},
    }
    (refusal,) = [r for r in f.live_refusals(plan, state) if "replication over TLS" in r]
    assert f"tls-replication {running} -> {'yes' if tls else 'no'}" in refusal
    assert "Nothing was changed" in refusal and "state: absent on every host" in refusal
    state["live_config"][inst["name"]]["tls-replication"] = "yes" if tls else "no"
    assert not [r for r in f.live_refusals(plan, state) if "replication over TLS" in r]


def test_a_node_of_a_group_is_restarted_only_by_the_rolling_restart() -> None:
    """An ordinary run never restarts a node of a replication group (every host runs
    at once: the whole group would go down together), not even one named in
    restart_only: it is pending, the rolling restart's to take in its turn."""
    plan = play(three())["redis-2"]
    reasons = {"channels": ["tcp-backlog"]}
    assert f.restarts_now(plan, reasons) == []
    assert f.rolling_pending(plan, reasons) == ["channels"]
    assert f.restart_summary(plan, {}, reasons, []) == [
        "channels: restart pending: tcp-backlog (a node of a replication group: "
        "playbooks/rolling-restart.yml)"
    ]
    named = {**plan, "restart_only": ["channels"]}
    assert f.restarts_now(named, reasons) == [] and f.rolling_pending(named, reasons) == [
        "channels"
    ]
    other = {**plan, "restart_only": ["cache"]}
    assert f.rolling_pending(other, reasons) == []
    assert f.rolling_pending(plan, {}) == []


def test_the_sentinel_restarts_for_tls_files_newer_than_it_and_when_all_are_asked() -> None:
    """Sentinel reads its TLS files only at start: a rotated certificate (newer than
    its process) is a reason; so is restart_all; nothing else."""
    plan = play({h: tls_host_inputs(h) for h in ADDRESSES})["redis-2"]
    sentinel = plan["sentinel"]
    cert = sentinel["tls"]["cert_file"]
    assert cert in sentinel["restart_files"] and sentinel["unit_file"] in sentinel["restart_files"]
    state = {"units": {sentinel["unit"]: {"started": 1000.0}}, "mtimes": {cert: 900.0}}
    assert f.sentinel_restart_reasons(plan, state) == []
    state["mtimes"][cert] = 1100.0
    assert f.sentinel_restart_reasons(plan, state) == ["TLS files"]
    assert f.sentinel_restart_reasons({**plan, "restart_all": True}, {**state, "mtimes": {}}) == [
        f.RESTART_ALL
    ]
    assert f.sentinel_restart_reasons(plan, {"units": {}}) == []  # not running: started


@pytest.mark.parametrize("pause", [-1, 60001, "soon", True])
def test_a_failover_pause_out_of_range_is_refused(pause: Any) -> None:
    found = f.plan(host_inputs("redis-1", redis_tuned_failover_pause_ms=pause))["problems"]
    assert any("redis_tuned_failover_pause_ms must be 0-60000 milliseconds" in p for p in found)


def test_a_nodes_file_rewritten_by_sentinel_is_no_reason_to_restart_it() -> None:
    """Sentinel's CONFIG REWRITE makes the file newer than the process; what counts is
    when the role last wrote it (its render's stamp)."""
    plan = play(three())["redis-2"]
    (inst,) = plan["instances"]
    started = 1000.0
    state = {
        "units": {inst["unit"]: {"started": started}},
        "mtimes": {inst["paths"]["conf"]: started + 60},  # the rewrite
    }
    unverifiable = {inst["name"]: {"restart": [], "unverifiable": ["x"], "set": {}}}
    assert f.restart_reasons(plan, state, [], unverifiable) == {}
    state["mtimes"][inst["paths"]["rendered"]] = started + 30  # the role wrote it since
    assert f.restart_reasons(plan, state, [], unverifiable) == {"channels": ["config file"]}


def test_a_node_leaves_its_group_and_its_sentinel_goes_unless_it_is_the_primary() -> None:
    """state: absent of a replicated instance on one host of four: the group goes on
    with the three others (their Sentinels watch three nodes); the leaving host plans
    no Sentinel (the one an earlier run made is stopped and removed, if its unit is
    there) and asks its node whether it is the primary: refused if so."""
    addresses = {**ADDRESSES, "redis-4": "10.0.0.14"}
    cache = {"name": "cache", "port": 6380, "profile": "cache", "password": "cache-secret"}
    hosts = {h: host_inputs(h, redis_tuned_config={"bind": f"127.0.0.1 {a}"})
             for h, a in addresses.items()}  # fmt: skip
    hosts["redis-4"] = host_inputs(
        "redis-4",
        redis_tuned_config={"bind": "127.0.0.1 10.0.0.14"},
        redis_tuned_instances=[{**CHANNELS, "state": "absent"}, cache],
    )
    plans = play(hosts)
    for host in plans:
        assert problems(plans, host) == [], host
    (group,) = plans["redis-1"]["groups"]
    assert [m["host"] for m in group["members"]] == ["redis-1", "redis-2", "redis-3"]
    assert plans["redis-1"]["sentinel"]["monitors"][0]["members"] == 3
    leaving = plans["redis-4"]
    assert leaving["groups"] == [] and leaving["sentinel"] is None
    assert leaving["sentinel_off"]["unit"] == "redis-tuned-sentinel.service"
    assert leaving["role_probe"] == [{"name": "channels", "conf": "/etc/redis/redis-channels.conf"}]
    assert plans["redis-1"]["role_probe"] == [] and plans["redis-1"]["sentinel_off"] is None
    # Its Sentinel goes only where an earlier run made one (its unit file is there).
    host = {"removed_units": ["redis-tuned-sentinel.service"]}
    made = {"units": {"redis-tuned-sentinel.service": {"file_state": "enabled", "active": True}}}
    never = {"units": {"redis-tuned-sentinel.service": {"file_state": "", "active": False}}}
    assert f.prepare(leaving, made, host)["sentinel_remove"] == [
        "/etc/redis/redis_tuned-sentinel/sentinel.conf",
        "/etc/systemd/system/redis-tuned-sentinel.service",
        "/etc/redis/redis_tuned-sentinel",
    ]
    assert f.prepare(leaving, made, host)["stop_removed"] == ["redis-tuned-sentinel.service"]
    assert f.prepare(leaving, never, host)["sentinel_remove"] == []
    # The leaving node is asked whether it is the primary; if it is, nothing is done.
    # The group's other hosts go on, so it must be failed over first.
    primary = f.live_refusals(leaving, {"live_roles": {"channels": "master"}})
    assert len(primary) == 1 and "SENTINEL FAILOVER channels" in primary[0]
    assert f.live_refusals(leaving, {"live_roles": {"channels": "slave"}}) == []
    # Every host leaving (the group removed): no primary to keep, none refused.
    alone = {h: host_inputs(h, redis_tuned_instances=[{**CHANNELS, "state": "absent"}, cache])
             for h in ADDRESSES}  # fmt: skip
    for result in play(alone).values():
        assert result["problems"] == [] and result["groups"] == []
        assert f.live_refusals(result, {"live_roles": {"channels": "master"}}) == []
