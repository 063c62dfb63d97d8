"""Issue 20: one replication group across three hosts, Sentinel, a failover proven.

Run by molecule's verify stage of the HA scenario (molecule/ha), after converge and
the idempotence run. The control node is a client of the group the way an app
server is: redis-py's Sentinel client at the three Sentinels, on the scenario network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis
from channels_redis.core import RedisChannelLayer
from conftest import (
    ADMIN_SECRET,
    APP,
    FIGURES,
    GROUP,
    NAMES,
    PORT,
    PROJECT,
    SENTINEL_PASSWORD,
    SENTINEL_PORT,
    TESTER,
    VARS,
    address_of,
    info,
    node,
    pairs,
    roles,
    sentinel,
    sh,
)
from redis.sentinel import Sentinel
from scenario import run_site
from support import GROUP_CHECKS


def primary_name() -> str:
    (name,) = [n for n, r in roles().items() if r == "master"]
    return name


def sentinel_client(**over_tls: Any) -> Sentinel:
    """redis-py's Sentinel client of the group (``over_tls``: ssl and the CA, for
    the Sentinels and the primary alike)."""
    return Sentinel(
        [(address_of(n), SENTINEL_PORT) for n in NAMES],
        sentinel_kwargs={"password": SENTINEL_PASSWORD, "socket_timeout": 1, **over_tls},
        username=TESTER["name"],
        password=TESTER["password"],
        socket_timeout=1,
        socket_connect_timeout=1,
    )


def wait_for(what: str, predicate: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.5)


def test_one_primary_two_replicas_in_sync_and_three_sentinels_that_agree() -> None:
    seen = roles()
    assert sorted(seen.values()) == ["master", "slave", "slave"], seen
    primary = primary_name()
    assert primary == "redis-ha-1"  # the bootstrap primary
    for name in NAMES:
        if name == primary:
            assert info(name, "replication")["connected_slaves"] == "2"
            continue
        replication = info(name, "replication")
        assert replication["master_host"] == address_of(primary)
        assert replication["master_link_status"] == "up"
    for name in NAMES:
        master = pairs(sentinel(name, "SENTINEL", "MASTER", GROUP))
        assert master["ip"] == address_of(primary) and master["port"] == str(PORT)
        assert master["num-slaves"] == "2" and master["num-other-sentinels"] == "2", master
        assert master["quorum"] == "2" and master["down-after-milliseconds"] == "3000"
        assert sentinel(name, "SENTINEL", "CKQUORUM", GROUP)[0].startswith("OK 3 usable")


def test_keys_written_to_the_primary_are_on_both_replicas() -> None:
    client = sentinel_client().master_for(GROUP)
    client.set("ha:written", "on-the-primary")
    assert client.execute_command("WAIT", 2, 5000) == 2
    for name in NAMES:
        assert node(name, "GET", "ha:written") == ["on-the-primary"], name


def test_the_nodes_replicate_as_the_replication_user_which_may_do_nothing_else() -> None:
    primary = primary_name()
    clients = node(primary, "CLIENT", "LIST")
    replicas = [c for c in clients if " flags=S " in f" {c} "]
    assert len(replicas) == 2 and all("user=redis-tuned-replica" in c for c in replicas)
    # The replication user's rules: replicate, nothing else (no key, no command).
    user = pairs(node(primary, "ACL", "GETUSER", "redis-tuned-replica"))
    assert set(user["commands"].split()) == {"-@all", "+psync", "+replconf", "+ping"}
    assert user["keys"] == "" and user["channels"] == ""


def host_verify(name: str) -> tuple[int, dict[str, Any]]:
    """The host's own verification of its node, as the role runs it (no flag: the
    group, its Sentinels and their password file come from the role's files)."""
    ran = sh(name, f"redis-tuned-verify --instance {GROUP} --mode host --json")
    return ran.returncode, json.loads(ran.stdout)


def status(report: dict[str, Any], check: str) -> str:
    (found,) = [c["status"] for c in report["checks"] if c["name"] == check]
    return str(found)


def test_each_hosts_own_verification_checks_the_group_and_fails_on_a_sentinel_down() -> None:
    for name in NAMES:
        code, report = host_verify(name)
        assert code == 0, [c for c in report["checks"] if c["status"] == "fail"]
        assert all(status(report, c) == "pass" for c in GROUP_CHECKS), name
        link = (
            "replication: replicas connected"
            if name == primary_name()
            else ("replication: link to the primary")
        )
        assert status(report, link) == "pass", name
    down = NAMES[2]
    assert sh(down, "systemctl stop redis-tuned-sentinel").returncode == 0
    try:
        code, report = host_verify(NAMES[1])
        assert code == 1 and status(report, "Sentinels answer") == "fail"
    finally:
        assert sh(down, "systemctl start redis-tuned-sentinel").returncode == 0
    wait_for("the group whole again", lambda: host_verify(NAMES[1])[0] == 0, 60)


def secrets() -> list[str]:
    """Every password of the scenario, the one the role derives for Sentinel's user too."""
    replication = VARS["redis_tuned_replication_password"]
    derived = hashlib.sha256(f"redis_tuned sentinel auth:{replication}".encode()).hexdigest()
    return [replication, SENTINEL_PASSWORD, TESTER["password"], APP, derived]


def main_pids() -> dict[str, str]:
    return {
        n: sh(n, f"systemctl show -p MainPID --value redis-server@{GROUP}").stdout.strip()
        for n in NAMES
    }


def test_a_live_change_is_applied_across_the_group_with_no_restart_and_no_failover() -> None:
    """A change CONFIG SET can make (hz, from redis_tuned_config) reaches every node
    live: no process restarted, the primary where it was; the next run is clean."""
    primary, pids = primary_name(), main_pids()
    changed = run_site(None, {"redis_tuned_config": {"hz": 17}}, verbosity="-v")
    assert changed.returncode == 0, changed.stdout[-3000:]
    # Its diffs (every node's file rewritten) and results name no password: not the
    # vault's, not the Sentinels' user's (derived), not their SHA-256.
    for secret in secrets():
        for shown in (secret, hashlib.sha256(secret.encode()).hexdigest()):
            assert shown not in changed.stdout + changed.stderr
    assert "+hz 17" in changed.stdout  # the diffs were shown
    assert all(node(n, "CONFIG", "GET", "hz") == ["hz", "17"] for n in NAMES)
    assert main_pids() == pids and primary_name() == primary
    again = run_site(None, {"redis_tuned_config": {"hz": 17}})
    recap = [ln for ln in again.stdout.splitlines() if " : ok=" in ln]
    assert len(recap) == 3 and all("changed=0" in ln for ln in recap), recap
    # Back to the scenario's own settings (Redis's default hz), live as well.
    assert run_site(None, {}).returncode == 0
    assert all(node(n, "CONFIG", "GET", "hz") == ["hz", "10"] for n in NAMES)
    assert main_pids() == pids


class Writer(threading.Thread):
    """A Sentinel-aware client writing throughout: INCR, then WAIT 1 (acknowledged by
    the primary and one replica), every 50 ms; when each write was accepted."""

    def __init__(
        self, group: str = GROUP, direct: tuple[str, int] | None = None, **over_tls: Any
    ) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.accepted: list[float] = []
        self.acknowledged = 0
        self.highest = 0  # the highest value an INCR answered: accepted
        self.errors = 0
        self.group, self.direct, self.over_tls = group, direct, over_tls

    def client(self) -> redis.Redis:
        """The group's primary through its Sentinels, or ``direct`` an instance."""
        if self.direct:
            host, port = self.direct
            return redis.Redis(host=host, port=port, username=TESTER["name"],
                               password=TESTER["password"], socket_timeout=1,
                               socket_connect_timeout=1)  # fmt: skip
        sentinels = sentinel_client(**self.over_tls)
        return sentinels.master_for(self.group, socket_timeout=1, **self.over_tls)

    def final_count(self) -> int:
        return int(self.client().get("ha:counter") or 0)

    def run(self) -> None:
        client = self.client()
        while not self.stop.is_set():
            try:
                value = client.incr("ha:counter")
                self.highest = max(self.highest, int(value))
                self.accepted.append(time.monotonic())
                # A single instance has no replica to wait for: its answer is all.
                if self.direct or client.execute_command("WAIT", 1, 1000) >= 1:
                    self.acknowledged = max(self.acknowledged, int(value))
            except redis.RedisError:
                self.errors += 1
            time.sleep(0.05)

    def gap_after(self, moment: float) -> float:
        """The longest time without an accepted write from ``moment`` on (the last
        write before it included): the window a failure left the clients in."""
        times = [t for t in self.accepted if t <= moment][-1:] + [
            t for t in self.accepted if t > moment
        ]
        assert len(times) > 1, "no write accepted after the failure"
        return max(b - a for a, b in itertools.pairwise(times))


class LayerWriter(threading.Thread):
    """A channels_redis layer on the group through Sentinel (the hosts entry
    redis-tuned-clients settings emits for it): group_send, then receive it, every
    50 ms; when each message came back."""

    def __init__(self, direct: tuple[str, int] | None = None) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.accepted: list[float] = []
        self.errors = 0
        self.lost = 0  # sent, then never received
        self.direct = direct

    def run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        login = {"username": TESTER["name"], "password": TESTER["password"],
                 "socket_connect_timeout": 1, "socket_timeout": 10}  # fmt: skip
        if self.direct:
            where: dict[str, Any] = {"address": f"redis://{self.direct[0]}:{self.direct[1]}/0"}
        else:
            where = {
                "sentinels": [(address_of(n), SENTINEL_PORT) for n in NAMES],
                "master_name": GROUP,
                "sentinel_kwargs": {"password": SENTINEL_PASSWORD, "socket_timeout": 1},
            }
        layer = RedisChannelLayer(hosts=[{**where, **login}])
        channel = await layer.new_channel()
        await layer.group_add("ha-group", channel)
        while not self.stop.is_set():
            sent = False
            try:
                await asyncio.wait_for(layer.group_send("ha-group", {"type": "ha.ping"}), 2)
                sent = True
                await asyncio.wait_for(layer.receive(channel), 2)
                self.accepted.append(time.monotonic())
            except (TimeoutError, redis.RedisError, OSError):
                self.errors += 1
                self.lost += sent
                # A group lost with a primary that had not replicated it yet.
                with contextlib.suppress(TimeoutError, redis.RedisError, OSError):
                    await asyncio.wait_for(layer.group_add("ha-group", channel), 2)
            await asyncio.sleep(0.05)

    gap_after = Writer.gap_after


def fail_over(old: str, how: str) -> None:
    """Take the primary away: stop its server, or freeze its whole container (its
    Sentinel with it)."""
    if how == "freeze":
        assert subprocess.run(["podman", "pause", old], check=False, timeout=30).returncode == 0
    else:
        assert sh(old, f"systemctl stop redis-server@{GROUP}").returncode == 0


def bring_back(old: str, how: str) -> None:
    if how == "freeze":
        assert subprocess.run(["podman", "unpause", old], check=False, timeout=30).returncode == 0
    else:
        assert sh(old, f"systemctl start redis-server@{GROUP}").returncode == 0


def measured_failover(how: str) -> str:
    """Fail the primary over (``how``: stop or freeze) under both clients; the new
    primary's name. Asserts writes are accepted again within 30 s, nothing
    acknowledged is lost, and the old primary rejoins as a replica."""
    old = primary_name()
    writer, layer = Writer(), LayerWriter()
    writer.start()
    layer.start()
    wait_for("writes accepted", lambda: len(writer.accepted) > 10 and len(layer.accepted) > 5, 30)
    failed = time.monotonic()
    fail_over(old, how)
    wait_for(
        "writes accepted by a new primary",
        lambda: (
            len([t for t in writer.accepted if t > failed]) > 5
            and len([t for t in layer.accepted if t > failed]) > 5
        ),
        60,
    )
    gap, layer_gap = writer.gap_after(failed), layer.gap_after(failed)
    writer.stop.set()
    layer.stop.set()
    writer.join(timeout=10)
    layer.join(timeout=10)
    FIGURES[f"failover, primary {how}"] = (
        f"redis-py Sentinel client: writes accepted again after {gap:.2f} s "
        f"({writer.errors} client errors); channels_redis layer: group_send/receive again "
        f"after {layer_gap:.2f} s ({layer.errors} errors); down-after-milliseconds 3000"
    )
    assert gap < 30 and layer_gap < 30, FIGURES
    new = [n for n in NAMES if n != old and info(n, "replication").get("role") == "master"]
    assert len(new) == 1, roles()
    (new_primary,) = new
    # Nothing acknowledged by the primary and a replica (WAIT 1) is lost.
    assert int(node(new_primary, "GET", "ha:counter")[0]) >= writer.acknowledged > 0
    # The old primary comes back as a replica of the new one (Sentinel's doing).
    bring_back(old, how)
    wait_for(
        "the old primary rejoins as a replica",
        lambda: (
            info(old, "replication").get("master_host") == address_of(new_primary)
            and info(old, "replication").get("master_link_status") == "up"
        ),
        90,
    )
    return new_primary


def test_a_stopped_primary_fails_over_and_a_rerun_demotes_no_one() -> None:
    new_primary = measured_failover("stop")
    # The role again, on every host: nothing changes, the new primary stays primary.
    starts = main_pids()
    rerun = run_site(None, {})
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    recap = [ln for ln in rerun.stdout.splitlines() if " : ok=" in ln]
    changed = [ln for ln in rerun.stdout.splitlines() if ln.startswith("changed:")]
    assert len(recap) == 3 and all("changed=0" in ln for ln in recap), (recap, changed)
    assert main_pids() == starts  # no node was restarted
    assert primary_name() == new_primary


def test_a_frozen_primary_fails_over_and_comes_back_a_replica() -> None:
    """podman pause: the primary's host stops answering at all (its Sentinel too), as
    a hung machine does; the two other Sentinels are the quorum."""
    new_primary = measured_failover("freeze")
    assert primary_name() == new_primary


def test_the_generated_sentinel_settings_work_in_django_against_the_group(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The play left each node's view on the control node (redis_tuned_client_view_dir):
    redis-tuned-clients settings makes the Sentinel forms from it, and a real Django
    (channels_redis, django-redis's SentinelClient) round-trips through the group."""
    view = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "client-view" / NAMES[1]
    assert json.loads((view / f"{GROUP}.json").read_text())["sentinel"]["master_name"] == GROUP
    url = f"redis://{TESTER['name']}@{address_of(NAMES[1])}:{PORT}/0"
    generated = settings_through_sentinel(tmp_path, url, view / f"{GROUP}.json")
    assert '"master_name": "channels"' in generated


def settings_through_sentinel(tmp_path: Path, url: str, view: Path) -> str:
    """redis-tuned-clients settings for ``url`` (channels and cache) from the client
    view the play left, and a real Django round trip on them (channels_redis's and
    django-redis's Sentinel forms, the tester's password); the snippet."""
    generated = subprocess.run(
        [sys.executable, "-m", "redis_tuned_clients", "settings", "--channels-url", url,
         "--cache-url", url, "--expect-file", str(view)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    settings = tmp_path / "generated_settings.py"
    settings.write_text(generated.stdout)
    env = {
        **os.environ,
        "REDIS_CHANNELS_PASSWORD": TESTER["password"],
        "REDIS_CACHE_PASSWORD": TESTER["password"],
        "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
    }
    ran = subprocess.run(
        [sys.executable, str(PROJECT / "tests" / "django_round_trip.py"), str(settings), "ha"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert json.loads(ran.stdout) == {
        "message": {"type": "chat.message", "text": "hi"},
        "cache": "hello",
    }
    return generated.stdout


def rolling(extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return run_site(None, extra, playbook="rolling-restart.yml")


def task_hosts(run: subprocess.CompletedProcess[str], title: str, status: str) -> list[str]:
    """The hosts a task titled ``title`` reported ``status`` (changed, ok...) for, in
    order, once per time it ran (the default callback's output, serial plays too)."""
    hosts: list[str] = []
    for section in run.stdout.split("TASK [")[1:]:
        if title in section.split("]", 1)[0]:
            hosts += re.findall(rf"^{status}: \[([^\]]+)\]", section, re.MULTILINE)
    return hosts


def sentinel_pid(name: str) -> str:
    return sh(name, "systemctl show -p MainPID --value redis-tuned-sentinel").stdout.strip()


def test_a_rolling_restart_refuses_a_group_with_a_replica_or_a_sentinel_down() -> None:
    """Checked on every host before anything restarts: a replica's server stopped, or
    one Sentinel stopped: the run refuses with the reason in one line, and no node
    and no Sentinel restarted."""
    primary = primary_name()
    replica = next(n for n in NAMES if n != primary)
    everything = {"redis_tuned_restart_all": True}
    for unit, said in (
        (f"redis-server@{GROUP}", "of 2 replicas linked to the primary"),
        ("redis-tuned-sentinel", "does not answer for it"),
    ):
        assert sh(replica, f"systemctl stop {unit}").returncode == 0
        pids = {n: (main_pids()[n], sentinel_pid(n)) for n in NAMES if n != replica}
        try:
            refused = rolling(everything)
        finally:
            assert sh(replica, f"systemctl start {unit}").returncode == 0
        output = " ".join((refused.stdout + refused.stderr).split())
        assert refused.returncode != 0
        assert "not healthy, nothing restarted:" in output and said in output, output[-3000:]
        assert "Restart changed Redis instances" not in output
        assert {n: (main_pids()[n], sentinel_pid(n)) for n in pids} == pids
        wait_for(
            "the group whole again",
            lambda: all(
                info(n, "replication").get("master_link_status") == "up"
                for n in NAMES
                if n != primary
            ),
            60,
        )


def test_a_rolling_restart_carries_out_a_pending_change_under_writing_clients() -> None:
    """tcp-backlog (immutable) raised: site.yml leaves every node pending (an ordinary
    run never restarts a group's nodes); the rolling restart under a Sentinel client
    and a channels_redis layer, both writing: every node's process is new, the change
    in force everywhere, the primary moved, nothing acknowledged lost. A second one,
    nothing pending, restarts nothing."""
    entry = VARS["redis_tuned_instances"][0]
    raised = {
        "redis_tuned_instances": [{**entry, "config": {**entry["config"], "tcp-backlog": 1024}}]
    }
    primary, pids = primary_name(), main_pids()
    pending = run_site(None, raised)
    assert pending.returncode == 0, pending.stdout[-3000:]
    assert main_pids() == pids
    said = " ".join(pending.stdout.split())
    assert (
        f"{GROUP}: restart pending: tcp-backlog (a node of a replication group: "
        "playbooks/rolling-restart.yml)"
    ) in said
    writer, layer = Writer(), LayerWriter()
    writer.start()
    layer.start()
    wait_for("writes accepted", lambda: len(writer.accepted) > 10 and len(layer.accepted) > 5, 30)
    started = time.monotonic()
    rolled = rolling(raised)
    wait_for("writes accepted after", lambda: writer.accepted[-1] > time.monotonic() - 2, 30)
    writer.stop.set()
    layer.stop.set()
    writer.join(timeout=10)
    layer.join(timeout=10)
    assert rolled.returncode == 0, rolled.stdout[-4000:]
    after = main_pids()
    assert all(after[n] != pids[n] for n in NAMES), (pids, after)
    assert all(node(n, "CONFIG", "GET", "tcp-backlog") == ["tcp-backlog", "1024"] for n in NAMES)
    assert primary_name() != primary
    # One failover, of the primary the run began with: a replica restarted in its turn
    # (the primary by the primaries' turn) neither hands over nor restarts again.
    assert task_hosts(rolled, "Hand the primary role over", "changed") == [primary]
    restarted = task_hosts(rolled, "Wait until each restarted node has loaded", "ok")
    assert sorted(restarted) == sorted(NAMES), restarted
    assert int(node(primary_name(), "GET", "ha:counter")[0]) >= writer.acknowledged > 0
    gap, layer_gap = writer.gap_after(started), layer.gap_after(started)
    FIGURES["rolling restart of the group (failover with the write pause)"] = (
        f"redis-py Sentinel client: longest gap without an accepted write {gap:.2f} s "
        f"({writer.errors} client errors); channels_redis layer: {layer_gap:.2f} s "
        f"({layer.errors} errors); {time.monotonic() - started:.0f} s in all"
    )
    assert gap < 30 and layer_gap < 30, FIGURES
    again = rolling(raised)
    assert again.returncode == 0, again.stdout[-3000:]
    assert main_pids() == after


def installed_version(name: str) -> str:
    return sh(name, "dpkg-query -W -f '${Version}' redis-server").stdout.strip()


def test_a_server_version_the_archive_does_not_offer_is_refused_naming_what_it_has() -> None:
    """redis_tuned_server_version: preflight refuses a version apt's lists do not
    have, naming those they do, before anything changes."""
    have = installed_version(NAMES[0])
    refused = run_site(None, {"redis_tuned_server_version": "5:7.0.99-1"})
    output = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0
    assert "redis_tuned_server_version 5:7.0.99-1 is not in this host's archive" in output
    assert f"(it has: {have}" in output or f", {have}" in output, output[-2000:]
    assert "changed: [" not in refused.stdout


def test_an_upgraded_server_waits_for_the_rolling_restart_which_carries_it_out() -> None:
    """The version pinned is the one installed: nothing to do. The package replaced
    under the running processes (reinstalled here: the containers' archive offers one
    version): every node and Sentinel keeps serving on the old binary, reported
    pending; the rolling restart puts each on the new one (every process new, none on
    a deleted binary), and then nothing is pending."""
    pin = {"redis_tuned_server_version": installed_version(NAMES[0])}
    settle = run_site(None, pin)  # (the scenario's own config again, after the last test's)
    assert settle.returncode == 0, settle.stdout[-3000:]
    same = run_site(None, pin)
    assert same.returncode == 0 and recap_changed(same) == [], same.stdout[-3000:]
    pids = {n: (main_pids()[n], sentinel_pid(n)) for n in NAMES}
    for name in NAMES:
        done = sh(name, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "
                        "redis-server redis-tools", timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    pending = run_site(None, pin)
    assert pending.returncode == 0, pending.stdout[-3000:]
    said = " ".join(pending.stdout.split())
    assert f"{GROUP}: restart pending: " in said
    assert "server upgraded (its binary replaced since it started)" in said, said[-3000:]
    assert {n: (main_pids()[n], sentinel_pid(n)) for n in NAMES} == pids
    rolled = rolling(pin)
    assert rolled.returncode == 0, rolled.stdout[-4000:]
    for name in NAMES:
        node_pid, sentinel_now = main_pids()[name], sentinel_pid(name)
        assert node_pid != pids[name][0] and sentinel_now != pids[name][1], name
        exes = sh(name, f"readlink /proc/{node_pid}/exe /proc/{sentinel_now}/exe").stdout
        assert "(deleted)" not in exes, (name, exes)
    after = run_site(None, pin)
    assert after.returncode == 0 and "restart pending" not in after.stdout


# What a host keeps when its node of the group goes (a host keeps one instance at least).
SPARE = {"name": "spare", "port": 6390, "profile": "cache", "password": APP}


def test_the_primary_cannot_leave_a_group_that_goes_on() -> None:
    """state: absent of the primary's node while the other hosts keep the group: its
    host refuses before anything changes (fail it over first); here the two others
    refuse too, as two Sentinels are too few. Nothing changed anywhere."""
    primary, pids = primary_name(), main_pids()
    entry = VARS["redis_tuned_instances"][0]
    refused = run_site(None, {
        "ha_leaving_host": primary,
        "ha_leaving": [{**entry, "state": "absent"}, SPARE],
        "ha_kept": [entry],
        "redis_tuned_instances":
            "{{ ha_leaving if inventory_hostname == ha_leaving_host else ha_kept }}",
    })  # fmt: skip
    said = refused.stdout + refused.stderr  # the failed tasks' messages
    assert refused.returncode != 0
    assert "this node is the primary of its replication group" in said, said[-3000:]
    assert f"SENTINEL FAILOVER {GROUP}" in said and "2 Sentinel(s)" in said
    assert "changed: [" not in refused.stdout
    assert main_pids() == pids and primary_name() == primary


def test_the_group_removed_leaves_no_node_no_sentinel_and_keeps_the_data() -> None:
    """Every host's entry state: absent (each keeps another instance): the nodes stop,
    each Sentinel is stopped and its unit, file and state go, the replication
    passwords go, the data directory stays. Last: the scenario ends here."""
    entry = VARS["redis_tuned_instances"][0]
    removed = run_site(None, {"redis_tuned_instances": [{**entry, "state": "absent"}, SPARE]})
    assert removed.returncode == 0, removed.stdout[-3000:]
    for name in NAMES:
        gone = sh(name, f"""
            systemctl is-active redis-server@{GROUP} redis-tuned-sentinel
            systemctl cat redis-tuned-sentinel >/dev/null 2>&1 && echo unit-still-there
            ls /etc/redis/redis_tuned-sentinel /etc/redis/redis_tuned/sentinel.secret \
               /etc/redis/redis_tuned/replication.secret 2>/dev/null
            test -d /var/lib/redis/{GROUP} && echo data-kept
        """)  # fmt: skip
        lines = gone.stdout.split()
        assert lines[:2] == ["inactive", "inactive"], (name, gone.stdout)
        assert lines[2:] == ["data-kept"], (name, gone.stdout)


# A group over TLS (redis_tuned_tls_enabled), made after the plain one is gone: TLS
# only on its nodes (6481) and its Sentinels (26379), replication over TLS.
SECURE = {
    "name": "secure", "port": 6381, "tls_port": 6481, "profile": "channels",
    "replication": True, "password": APP,
    "config": {"bind": "127.0.0.1 {{ ansible_host }}", "maxmemory": "32mb"},
}  # fmt: skip
HOST_CA = "/etc/redis/redis_tuned/tls/ca.crt"


def tls_vars() -> dict[str, Any]:
    tls = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"
    return {
        "redis_tuned_tls_enabled": True,
        "redis_tuned_tls_ca_file": str(tls / "ca.crt"),
        "redis_tuned_tls_cert_file": f"{tls}/{{{{ inventory_hostname }}}}.crt",
        "redis_tuned_tls_key_file": f"{tls}/{{{{ inventory_hostname }}}}.key",
        "redis_tuned_instances": [SECURE, {**SPARE, "state": "absent"}],
    }


def over_tls(name: str, port: int, *command: str, password_file: str = ADMIN_SECRET) -> str:
    """A command over TLS at a port of a container (the role's admin user at a node,
    the Sentinels' password at a Sentinel: ``password_file`` "" reads it from stdin)."""
    user = "--user redis-tuned " if password_file else ""
    read = f'REDISCLI_AUTH="$(cat {password_file})"' if password_file else "read -r REDISCLI_AUTH;"
    out = sh(
        name,
        f"{read} export REDISCLI_AUTH; redis-cli --no-auth-warning --tls --cacert {HOST_CA} "
        f"{user}-p {port} " + " ".join(command),
        stdin="" if password_file else SENTINEL_PASSWORD + "\n",
    )
    return out.stdout.strip()


def secure_roles() -> dict[str, str]:
    return {n: pairs_of(over_tls(n, 6481, "INFO", "replication")).get("role", "?") for n in NAMES}


def pairs_of(text: str) -> dict[str, str]:
    return dict(ln.split(":", 1) for ln in text.splitlines() if ":" in ln)


def recap_changed(run: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in run.stdout.splitlines() if " : ok=" in ln and "changed=0" not in ln]


def test_a_group_over_tls_replicates_fails_over_and_reruns_with_no_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """redis_tuned_tls_enabled on a new group: the nodes replicate over TLS, the
    Sentinels speak TLS only (to clients, nodes and each other), the role's own
    verification of the group passes over TLS (the run's end), a rerun changes
    nothing; a stopped primary fails over under a TLS Sentinel client, a rerun demotes
    no one, and the generated settings (TLS through Sentinel) work in Django."""
    made = run_site(None, tls_vars())
    assert made.returncode == 0, made.stdout[-4000:]
    again = run_site(None, tls_vars())
    assert again.returncode == 0 and recap_changed(again) == [], again.stdout[-3000:]
    assert secure_roles() == {NAMES[0]: "master", NAMES[1]: "slave", NAMES[2]: "slave"}
    for name in NAMES:
        assert sh(name, "redis-cli -p 6381 PING").stdout.strip() != "PONG"  # TLS only
        assert "PONG" not in sh(name, f"redis-cli -p {SENTINEL_PORT} PING").stdout
        quorum = over_tls(name, SENTINEL_PORT, "SENTINEL", "CKQUORUM", "secure", password_file="")
        assert quorum.startswith("OK 3 usable Sentinels"), (name, quorum)
    for name in NAMES[1:]:
        replication = pairs_of(over_tls(name, 6481, "INFO", "replication"))
        assert replication["master_link_status"] == "up", (name, replication)
        assert replication["master_port"] == "6481"
    tls_dir = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"
    ssl = {"ssl": True, "ssl_ca_certs": str(tls_dir / "ca.crt")}
    writer = Writer("secure", **ssl)
    writer.start()
    wait_for("writes accepted over TLS", lambda: len(writer.accepted) > 10, 30)
    failed = time.monotonic()
    assert sh(NAMES[0], "systemctl stop redis-server@secure").returncode == 0
    wait_for(
        "writes accepted by a new primary", lambda: any(t > failed + 1 for t in writer.accepted), 60
    )
    gap = writer.gap_after(failed)
    writer.stop.set()
    writer.join(timeout=10)
    FIGURES["failover over TLS, primary stopped"] = (
        f"redis-py Sentinel client over TLS: writes accepted again after {gap:.2f} s "
        f"({writer.errors} client errors); down-after-milliseconds 3000"
    )
    assert gap < 30, FIGURES
    (new_primary,) = [n for n, r in secure_roles().items() if r == "master"]
    assert new_primary != NAMES[0]
    assert int(over_tls(new_primary, 6481, "GET", "ha:counter")) >= writer.acknowledged > 0
    rerun = run_site(None, tls_vars())  # starts the stopped node: it rejoins as a replica
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    wait_for(
        "the old primary rejoins as a replica",
        lambda: (
            pairs_of(over_tls(NAMES[0], 6481, "INFO", "replication")).get("master_link_status")
            == "up"
        ),
        90,
    )
    settled = run_site(None, tls_vars())
    assert settled.returncode == 0 and recap_changed(settled) == [], settled.stdout[-3000:]
    assert secure_roles()[new_primary] == "master"
    view = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "client-view" / NAMES[1]
    url = f"rediss://{TESTER['name']}@{address_of(NAMES[1])}:6481/0"
    generated = settings_through_sentinel(tmp_path, url, view / "secure.json")
    assert '"ssl": True' in generated and '"master_name": "secure"' in generated
