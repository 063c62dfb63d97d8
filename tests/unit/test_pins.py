"""Issue 21 #2: redis_tuned_server_version. Preflight refuses a version the host's
archive does not offer and a lower major than installed; a new pin is installed (the
server and its tools at that version) without restarting what runs: each instance
is pending until playbooks/rolling-restart.yml, which restarts it onto the new binary."""

from __future__ import annotations

from typing import Any

import pytest
import redis_tuned_plan as f  # roles/redis_tuned/lib/redis_tuned_plan
from test_plan import role_inputs

OLD, NEW = "5:7.0.15-1~deb12u7", "5:7.0.15-1~deb12u10"
FACTS = {"memtotal_mb": 4096, "distribution": "Debian", "distribution_major_version": "12",
         "distribution_version": "12.8"}  # fmt: skip


def pinned(version: str, installed: str = OLD, available: tuple[str, ...] = (NEW, OLD),
           **overrides: Any) -> dict[str, Any]:  # fmt: skip
    facts = {**FACTS, "server_package": {"installed": installed, "available": list(available)}}
    return f.plan(role_inputs(server_version=version, **overrides), facts)


def test_a_pin_the_archive_does_not_offer_is_refused_naming_what_it_has() -> None:
    (problem,) = pinned("5:7.0.99-1")["problems"]
    assert problem.startswith("redis_tuned_server_version 5:7.0.99-1 is not in this host's")
    assert f"(it has: {NEW}, {OLD})" in problem
    # Lists that do not know the package (never updated): apt itself says at install.
    assert pinned("5:7.0.99-1", available=())["problems"] == []


def test_a_pin_to_a_lower_major_than_installed_is_refused() -> None:
    (problem,) = pinned("5:6.0.16-1", installed=NEW, available=("5:6.0.16-1", NEW))["problems"]
    assert "down to major 6" in problem and "written by major 7" in problem
    # Within the major a step down is allowed (apt's allow_downgrade).
    assert pinned(OLD, installed=NEW)["problems"] == []
    assert pinned(OLD, installed=NEW)["pinned_packages"] == [
        f"redis-server={OLD}",
        f"redis-tools={OLD}",
    ]


@pytest.mark.parametrize("bad", ["7.0 15", "redis-server=7.0.15"])
def test_a_pin_that_is_not_one_version_string_is_refused(bad: str) -> None:
    assert any("must be one apt version string" in p for p in pinned(bad)["problems"])


def test_the_pin_is_installed_where_another_version_is_and_only_there() -> None:
    assert pinned(NEW)["pinned_packages"] == [f"redis-server={NEW}", f"redis-tools={NEW}"]
    assert pinned(NEW, installed=NEW)["pinned_packages"] == []
    assert pinned("")["pinned_packages"] == []
    # A fresh host: the pin instead of the bare package name.
    the_plan = pinned(NEW, installed="")
    state = {"packages_missing": ["redis-server", "python3-redis"]}
    steps = f.prepare(the_plan, state, {"mask_units": [], "removed_units": []})
    assert steps["packages"] == ["python3-redis", f"redis-server={NEW}", f"redis-tools={NEW}"]


def test_an_upgrade_leaves_the_running_instances_pending_until_the_rolling_restart() -> None:
    """The pinned version installed this run (the probe read the host before), or a
    running binary replaced on disk (a later run): pending with policy auto, restarted
    by the rolling restart; another reason still restarts (and applies both)."""
    the_plan = pinned(NEW)
    (inst,) = the_plan["instances"]
    running = {"units": {inst["unit"]: {"started": 1000.0}}}
    why = f.restart_reasons(the_plan, running, [], {}, upgrading=True)
    assert why == {inst["name"]: [f.UPGRADING]}
    assert f.restarts_now(the_plan, why) == []
    (line,) = f.restart_summary(the_plan, running, why, [])
    assert line.endswith("(an upgrade: playbooks/rolling-restart.yml restarts onto it)")
    installed_before = {**running, "facts": {"binary_changed": 900.0}}
    assert f.restart_reasons(the_plan, installed_before, [], {}) == {}
    replaced = {**running, "facts": {"binary_changed": 1100.0}}
    later = f.restart_reasons(the_plan, replaced, [], {})
    assert later == {inst["name"]: [f.UPGRADED]}
    assert f.restarts_now(the_plan, later) == []
    assert f.restarts_now({**the_plan, "rolling": True}, later) == [inst["name"]]
    both = {inst["name"]: ["tcp-backlog", *later[inst["name"]]]}
    assert f.restarts_now(the_plan, both) == [inst["name"]]
    assert f.restart_reasons(the_plan, {"units": {}}, [], {}, upgrading=True) == {}  # not running


def test_the_sentinel_restarts_onto_an_upgraded_binary() -> None:
    from test_topology import ADDRESSES, host_inputs, play

    plan = play({h: host_inputs(h) for h in ADDRESSES})["redis-2"]
    unit = plan["sentinel"]["unit"]
    state = {"units": {unit: {"started": 1000.0}}, "facts": {"binary_changed": 1100.0}}
    assert f.sentinel_restart_reasons(plan, state) == ["server upgraded"]
    assert f.sentinel_restart_reasons(plan, {**state, "facts": {"binary_changed": 900.0}}) == []
    assert f.sentinel_restart_reasons(plan, {"units": state["units"]}, upgrading=True) == [
        "server upgraded"
    ]


def test_the_probe_reads_the_archive_only_for_a_pin_that_is_not_installed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """apt-cache madison costs 0.4 s: a run with no pin, or the pin installed, skips it.
    On this machine (make installs redis-server): the installed version is read."""
    from support import run_module

    def seen(pin: str) -> dict[str, Any]:
        result = run_module("redis_tuned_probe", tmp_path, server_package="redis-server",
                            server_version=pin)  # fmt: skip
        return dict(result["facts"]["server_package"])

    unpinned = seen("")
    assert unpinned["installed"] and unpinned["available"] == []
    assert seen(unpinned["installed"]) == unpinned
    other = seen("5:0.0.1-1")  # another version pinned: the archive's are read
    assert other["installed"] == unpinned["installed"]
    assert "5:0.0.1-1" not in other["available"]
