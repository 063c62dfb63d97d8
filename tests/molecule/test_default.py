"""Outcomes of converging molecule/default: what is live on each container.

The expected values below are the ones molecule.yml sets; they differ from the
role's defaults on purpose, so that a value seen live was put there by the role.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import tarfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from conftest import (
    SCENARIO_HOSTS,
    Flavour,
    address_of,
    app_cli,
    cli,
    config_get,
    flavour_of,
    host_names,
    peer_of,
    redis_cli,
    run_site,
    scrape,
)

from redis_tuned_dev import monitoring
from redis_tuned_tools.verify.checks import parse_metrics

NOFILE = 12345
MAIN = ("main", 6379)
CACHE = ("cache", 6390)
SHARED = ("shared", 6391)

EXPECTED = {
    MAIN: {
        "maxclients": "4000",
        "maxmemory": str(64 * 1024 * 1024),
        "maxmemory-policy": "allkeys-lru",
        "timeout": "300",
        "tcp-keepalive": "45",
        "save": "900 1 300 10 60 10000",
        "appendonly": "yes",
        "appendfsync": "everysec",
        "protected-mode": "yes",
        "dir": "(the flavour's data directory)/main",
        "port": "6379",
        "tls-port": "6479",
        "tls-replication": "yes",
        "tls-auth-clients": "no",
    },
    CACHE: {
        "maxclients": "10000",
        "maxmemory-policy": "allkeys-lfu",
        "timeout": "120",
        "tcp-keepalive": "45",
        "save": "",
        "appendonly": "no",
        "dir": "(the flavour's data directory)/cache",
        "port": "6390",
        "tls-port": "6490",
    },
    SHARED: {
        "maxmemory": str(32 * 1024 * 1024),
        "maxmemory-policy": "noeviction",
        "bind": "(the container's address)",  # see address_of
        "save": "",
        "appendonly": "no",
        "maxclients": "10000",
        "port": "0",  # TLS only
        "tls-port": "6391",
        "tls-replication": "yes",
    },
}
# Derived from each instance's own port (base + port - 6379), so they do not
# move when instances are inserted or reordered; "shared" sets its tls_port.
TLS_PORTS = {MAIN: 6479, CACHE: 6490, SHARED: 6391}
EXPORTER_PORTS = {MAIN: 9121, CACHE: 9132, SHARED: 9133}
PROJECT = Path(__file__).resolve().parents[2]
INSTANCES = list(EXPECTED)


# As molecule.yml: bound to the container's network address only.
SHARED_BIND = (
    "{{ lookup('ansible.builtin.file', lookup('ansible.builtin.env', "
    "'MOLECULE_EPHEMERAL_DIRECTORY') ~ '/ssh/' ~ inventory_hostname ~ '.address') }}"
)
SHARED_CONFIG = {"bind": SHARED_BIND, "maxmemory": "32mb"}


def molecule_instances(**config: dict[str, object]) -> dict[str, object]:
    """redis_tuned_instances as molecule.yml sets it, with one instance's config replaced."""
    instances: list[dict[str, object]] = [
        {
            "name": "main",
            "port": 6379,
            "profile": "guide",
            "password": "molecule-main-secret",
            "config": {"maxmemory": "64mb", "maxclients": 4000},
        },
        {
            "name": "cache",
            "port": 6390,
            "profile": "cache",
            "unixsocket_group": "webapp",
            "config": {"maxmemory-policy": "allkeys-lfu", "timeout": 120},
        },
        {
            "name": "shared",
            "port": 6391,
            "tls_port": 6391,
            "tls_only": True,
            "profile": "channels",
            "password": "molecule-shared-secret",
            "config": SHARED_CONFIG,
        },
    ]
    for inst in instances:
        inst["config"] = config.get(str(inst["name"]), inst["config"])
    return {"redis_tuned_instances": instances}


def main_pid(host, name: str) -> int:  # type: ignore[no-untyped-def]
    unit = flavour_of(host).unit(name)
    return int(host.check_output(f"systemctl show -p MainPID --value {unit}.service"))


def container_nofile_cap(host) -> int:  # type: ignore[no-untyped-def]
    """The hard open-files limit of the container's PID 1: no unit can go above it."""
    for line in host.file("/proc/1/limits").content_string.splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[4])
    raise AssertionError("no 'Max open files' line in /proc/1/limits")


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_unit_enabled_and_running(
    host, host_name: str, flavour: Flavour, name: str, port: int
) -> None:
    unit = host.service(flavour.unit(name))
    assert unit.is_enabled
    assert unit.is_running
    address = address_of(host_name) if (name, port) == SHARED else "127.0.0.1"
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert host.socket(f"tcp://{address}:{TLS_PORTS[(name, port)]}").is_listening


def test_one_redis_process_per_instance_and_no_default_service(host, flavour: Flavour) -> None:
    procs = host.process.filter(comm=flavour.server)
    assert len(procs) == len(INSTANCES), [p.args for p in procs]
    assert all(p.user == flavour.user for p in procs)
    # Masked, so that no package upgrade or reboot brings it back onto 6379.
    masked = host.run(f"systemctl is-enabled {flavour.unit_prefix}.service").stdout.strip()
    assert masked == "masked"
    assert not host.service(flavour.unit_prefix).is_running
    # And nothing of the other flavour on the host.
    other = "redis-server" if flavour.name == "valkey" else "valkey-server"
    assert not host.process.filter(comm=other)


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_live_config_is_what_was_asked(
    host, host_name: str, flavour: Flavour, name: str, port: int
) -> None:
    wanted = dict(EXPECTED[(name, port)])
    if "bind" in wanted:
        wanted["bind"] = address_of(host_name)
    if "dir" in wanted:
        wanted["dir"] = flavour.data(name)
    live = {d: config_get(host, name, port, d) for d in wanted}
    assert live == wanted


def immutable_list(host) -> tuple[str, list[str], set[str]]:  # type: ignore[no-untyped-def]
    """The role's list (vars/main.yml) for the server this container runs, by the
    version INFO reports (Valkey: server_name valkey, valkey_version), and every
    name of every list (what the role restarts for, on any server)."""
    info = dict(
        ln.split(":", 1) for ln in redis_cli(host, *CACHE, "INFO", "server").stdout.split()
        if ":" in ln
    )  # fmt: skip
    flavour = "valkey" if info.get("server_name") == "valkey" else "redis"
    version = info.get("valkey_version") if flavour == "valkey" else info["redis_version"]
    key = f"{flavour}-{'.'.join(str(version).split('.')[:2])}"
    lists = yaml.safe_load((PROJECT / "roles/redis_tuned/vars/main.yml").read_text())[
        "__redis_tuned_immutable_directives"
    ]
    assert key in lists, f"no immutable list kept for {key}"
    return key, [*lists[key], *lists["protected"], *lists["aliases"]], set().union(*lists.values())


# On the container, in one call: CONFIG SET of every directive (and every listed
# name) to its own value, as the role's own user on cache; the answers as JSON.
SET_EACH = r"""
import json, sys
import redis
pw = open("/etc/redis/redis_tuned/admin.secret").read().strip()
r = redis.Redis(port=6390, username="redis-tuned", password=pw, decode_responses=True)
secret = {"requirepass", "masterauth", "masteruser", "primaryauth", "primaryuser"}
live = r.config_get("*")
answers = {}
for name in sorted(set(live) | set(json.loads(sys.argv[1])) - secret):
    try:
        r.config_set(name, live.get(name, ""))
        answers[name] = "OK"
    except redis.ResponseError as exc:
        answers[name] = str(exc)
print(json.dumps(answers))
"""


def test_the_immutable_list_is_the_running_servers_own(host) -> None:
    """Every directive of the container's server (Redis 7.0, Redis 8.0, Valkey 8.1) set
    live to its own value: each name the role lists for that server is refused
    (immutable, protected, or not known to this build), and every refused one is a
    name the role restarts for (Redis 8 and Valkey refuse the old *_cpulist
    spellings too, which Redis 7.0's list holds), or one this build lacks (Debian's
    Valkey has no RDMA)."""
    key, listed, known = immutable_list(host)
    script = shlex.quote(on_host(SET_EACH, host))
    answers = json.loads(
        host.check_output(f"python3 -c {script} {shlex.quote(json.dumps(listed))}")
    )
    refused = {n: a for n, a in answers.items() if a != "OK"}
    assert [n for n in listed if n in answers and n not in refused] == [], key
    unbuilt = {n for n, a in refused.items() if "building support" in a}
    assert {n: a for n, a in refused.items() if n not in known | unbuilt} == {}, key
    for name, answer in refused.items():
        assert any(
            w in answer for w in ("immutable", "protected", "Unknown option", "building support")
        ), (name, answer)


def test_auto_maxmemory_follows_the_documented_rule(host) -> None:
    # cache has maxmemory "auto": 0.75 of RAM in shares, 2 for "main" (it forks
    # to save: AOF + RDB), 1 for "cache" and 1 for "shared"; cache gets one share.
    meminfo = host.file("/proc/meminfo").content_string
    memtotal_kb = int(
        next(ln for ln in meminfo.splitlines() if ln.startswith("MemTotal:")).split()[1]
    )
    memtotal_mb = memtotal_kb // 1024  # as Ansible's memtotal_mb
    expected = int(memtotal_mb * 1024 * 1024 * 0.75 / 4)
    assert int(config_get(host, *CACHE, "maxmemory")) == expected


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_no_anonymous_access(host, name: str, port: int) -> None:
    # main and shared have a password; cache has none but has ACL users, so
    # its default user is off.
    anonymous = host.run(f"{cli(host, port)} PING")
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    assert redis_cli(host, name, port, "PING").stdout.strip() == "PONG"


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_app_user_stays_within_its_rules(host, name: str, port: int) -> None:
    assert app_cli(host, port, "molecule-app-secret", "SET", "app:k", "v").stdout.strip() == "OK"
    outside = app_cli(host, port, "molecule-app-secret", "SET", "other:k", "v")
    assert "NOPERM" in outside.stdout + outside.stderr
    flush = app_cli(host, port, "molecule-app-secret", "FLUSHALL")
    assert "NOPERM" in flush.stdout + flush.stderr
    wrong = app_cli(host, port, "not-the-password", "PING")
    assert "WRONGPASS" in wrong.stdout + wrong.stderr


@pytest.mark.parametrize(
    ("name", "port", "password"),
    [(*MAIN, "molecule-main-secret"), (*SHARED, "molecule-shared-secret")],
)
def test_the_default_user_may_do_its_profiles_use_and_no_more(
    host, name: str, port: int, password: str
) -> None:
    """Issue 18 #2: the application's password no longer grants +@all."""
    cmd = f"read -r REDISCLI_AUTH && export REDISCLI_AUTH && {cli(host, port)} --no-auth-warning "

    def as_default(*args: str) -> str:
        line = cmd + " ".join(shlex.quote(a) for a in args)
        out = host.run(f"printf '%s\\n' {shlex.quote(password)} | sh -c {shlex.quote(line)}")
        return str(out.stdout + out.stderr).strip()

    assert as_default("SET", "asgi:k", "v") == "OK"
    for refused in (["FLUSHALL"], ["CONFIG", "SET", "timeout", "1"], ["ACL", "LIST"]):
        assert "NOPERM" in as_default(*refused), refused
    assert config_get(host, name, port, "timeout") == "300"


def test_from_a_second_container(peer, host_name: str) -> None:
    """The scenario's other container, a second machine on the network, reaches the
    TLS-only "shared" instance of this one by name."""
    _, port = SHARED
    secret = "molecule-app-secret"
    anonymous = peer.run(f"{cli(peer, port, host_name)} PING")
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    ok = app_cli(peer, port, secret, "SET", "app:from-peer", "v", peer=host_name)
    assert ok.stdout.strip() == "OK", ok.stdout + ok.stderr
    for refused in (
        app_cli(peer, port, secret, "SET", "other:from-peer", "v", peer=host_name),
        app_cli(peer, port, secret, "FLUSHALL", peer=host_name),
    ):
        assert "NOPERM" in refused.stdout + refused.stderr
    # TLS without the CA: the server's certificate is not trusted.
    peer_cli = flavour_of(peer).cli
    no_ca = peer.run(f"{peer_cli} --tls -h {host_name} -p {port} PING")
    assert "certificate verify failed" in no_ca.stdout + no_ca.stderr
    # Plain text to the TLS-only port gets no Redis answer at all.
    plain = peer.run(f"timeout 10 {peer_cli} -h {host_name} -p {port} PING")
    assert not {"PONG", "NOAUTH"} & set((plain.stdout + plain.stderr).split())
    # Loopback-only instances are not on the network.
    for _, closed_port in (MAIN, CACHE):
        closed = peer.run(f"timeout 10 {peer_cli} -h {host_name} -p {closed_port} PING")
        assert "Connection refused" in closed.stdout + closed.stderr


def test_the_unix_socket_serves_its_group_and_no_one_else(host, flavour: Flavour) -> None:
    """cache has unixsocket_group webapp: the group made, the socket beside the pid
    file, 660 in that group (the unit's ExecStartPost); a member connects and is asked
    to log in (the instance has ACL users), a user outside the group is refused by the
    kernel; the role's host verification checked it (its run is green)."""
    path = config_get(host, "cache", CACHE[1], "unixsocket")
    sock = host.file(path)
    assert sock.is_socket and sock.group == "webapp" and sock.mode == 0o660
    assert host.group("webapp").exists
    host.run("id socket-member >/dev/null 2>&1 || useradd -M -G webapp socket-member")
    host.run("id socket-outsider >/dev/null 2>&1 || useradd -M socket-outsider")
    member = host.run(f"runuser -u socket-member -- {flavour.cli} -s {path} PING")
    assert "NOAUTH" in member.stdout + member.stderr, member.stdout + member.stderr
    outsider = host.run(f"runuser -u socket-outsider -- {flavour.cli} -s {path} PING")
    assert "Permission denied" in outsider.stdout + outsider.stderr
    assert path == f"{flavour.run_prefix}-cache/{flavour.server}.sock"
    assert config_get(host, "cache", CACHE[1], "unixsocketperm") == "660"


def run_id(host, name: str, port: int) -> str:  # type: ignore[no-untyped-def]
    info = redis_cli(host, name, port, "INFO", "server").stdout
    return next(ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("run_id:"))


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_each_instance_has_its_exporter_reporting_redis_up(host, name: str, port: int) -> None:
    unit = host.service(f"redis-tuned-exporter@{name}")
    assert unit.is_enabled and unit.is_running
    exporter_port = EXPORTER_PORTS[(name, port)]
    assert host.socket(f"tcp://0.0.0.0:{exporter_port}").is_listening
    metrics = parse_metrics(scrape(host, f"http://127.0.0.1:{exporter_port}/metrics"))
    assert [v for _, v in metrics["redis_up"]] == [1.0]
    assert [v for _, v in metrics["redis_exporter_last_scrape_error"]] == [0.0]
    # For this instance, not another one: the same run_id as the instance's INFO.
    ids = [labels["run_id"] for labels, _ in metrics["redis_instance_info"]]
    assert ids == [run_id(host, name, port)]
    # It asked for nothing its ACL user may not do.
    log = redis_cli(host, name, port, "ACL", "LOG")
    assert "redis-tuned-exporter" not in log.stdout


def test_rules_and_dashboard_metrics_are_in_the_live_scrape(host) -> None:
    scraped = parse_metrics(scrape(host, f"http://127.0.0.1:{EXPORTER_PORTS[MAIN]}/metrics"))
    rules = monitoring.metric_names(
        monitoring.rule_exprs(PROJECT / "monitoring/prometheus/redis-tuned.rules.yml")
    )
    panels = monitoring.metric_names(
        monitoring.dashboard_exprs(PROJECT / "monitoring/grafana/redis-tuned.json")
    )
    assert len(rules) >= 15 and len(panels) >= 20
    assert (rules | panels) - set(scraped) == set()


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_the_exporter_user_cannot_set_or_flushall(
    host, flavour: Flavour, name: str, port: int
) -> None:
    def as_exporter(*args: str):  # type: ignore[no-untyped-def]
        return host.run(
            f'REDISCLI_AUTH="$(cat {flavour.exporter_secret})" '
            f"{cli(host, port, user='redis-tuned-exporter')} " + " ".join(args)
        )

    assert "redis_version" in as_exporter("INFO", "server").stdout
    for command in ("SET exporter:k v", "FLUSHALL", "GET app:k", "CONFIG SET timeout 1"):
        out = as_exporter(command)
        assert "NOPERM" in out.stdout + out.stderr, command


def test_exporter_files_hold_the_secret_for_its_user_only(host) -> None:
    for name, _ in INSTANCES:
        pw = host.file(f"/etc/redis-tuned-exporter/{name}.json")
        assert (pw.user, pw.group, pw.mode) == (
            "redis-tuned-exporter",
            "redis-tuned-exporter",
            0o600,
        )
        env = host.file(f"/etc/redis-tuned-exporter/{name}.env").content_string
        assert "--redis.password-file=" in env and "password=" not in env.replace("-file=", "")
    unit = host.file("/etc/systemd/system/redis-tuned-exporter@.service").content_string
    assert "User=redis-tuned-exporter" in unit and "Environment=" not in unit


def test_prometheus_on_a_second_machine_can_scrape(peer, host_name: str) -> None:
    metrics = parse_metrics(scrape(peer, f"http://{host_name}:{EXPORTER_PORTS[SHARED]}/metrics"))
    assert [v for _, v in metrics["redis_up"]] == [1.0]


def test_tls_files_modes_and_owners(host, flavour: Flavour) -> None:
    tls_dir = host.file(f"{flavour.own_dir}/tls")
    assert (tls_dir.user, tls_dir.group, tls_dir.mode) == ("root", flavour.group, 0o750)
    for name in ("redis.crt", "redis.key", "ca.crt"):
        f = host.file(f"{flavour.own_dir}/tls/{name}")
        assert (f.user, f.group, f.mode) == ("root", flavour.group, 0o640)
    assert host.file(flavour.ca).content_string.startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_open_files_limit_of_the_running_process(host, name: str, port: int) -> None:
    pid = main_pid(host, name)
    limits = host.file(f"/proc/{pid}/limits").content_string
    line = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
    soft, hard = int(line.split()[3]), int(line.split()[4])
    cap = container_nofile_cap(host)
    if cap < NOFILE:
        warnings.warn(
            f"container caps open files at {cap}, below the role's {NOFILE}", stacklevel=1
        )
        assert (soft, hard) == (cap, cap)
    else:
        assert (soft, hard) == (NOFILE, NOFILE)
    # Redis lowers maxclients silently when it gets too few descriptors.
    configured = EXPECTED[(name, port)]["maxclients"]
    assert config_get(host, name, port, "maxclients") == configured
    assert soft >= int(configured) + 32


@pytest.mark.parametrize("name", [n for n, _ in INSTANCES])
def test_files_modes_owners_and_header(host, flavour: Flavour, name: str) -> None:
    conf = host.file(flavour.path(name, "conf"))
    assert (conf.user, conf.group, conf.mode) == ("root", flavour.group, 0o640)
    assert conf.content_string.startswith("# Ansible managed")
    acl = host.file(flavour.path(name, "acl"))  # Redis allows no comment in it
    assert (acl.user, acl.group, acl.mode) == ("root", flavour.group, 0o640)
    assert "molecule-" not in acl.content_string  # hashes only
    secret = host.file(flavour.admin_secret)
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)
    dropin = host.file(flavour.path(name, "dropin"))
    assert f"LimitNOFILE={NOFILE}" in dropin.content_string.splitlines()
    assert dropin.content_string.startswith("# Ansible managed")


def test_expectations_file_has_no_secret(host, flavour: Flavour) -> None:
    f = host.file(f"{flavour.own_dir}/main.json")
    assert (f.user, f.group, f.mode) == ("root", flavour.group, 0o640)
    data = json.loads(f.content_string)
    assert data["requires_auth"] is True
    assert data["nofile"] == NOFILE
    assert data["config"]["maxclients"] == 4000
    assert "molecule-main-secret" not in f.content_string


def test_kernel_settings_are_persistent(host, flavour: Flavour) -> None:
    conf = host.file("/etc/sysctl.d/60-redis-tuned.conf").content_string
    assert "vm.overcommit_memory=1" in conf.replace(" ", "")
    somaxconn = int(next(ln for ln in conf.splitlines() if "somaxconn" in ln).split("=")[1].strip())
    assert somaxconn >= 511
    assert host.service("redis-tuned-thp").is_enabled
    limits = host.file("/etc/security/limits.d/90-redis-tuned.conf").content_string
    assert f"{flavour.user} hard nofile {NOFILE}" in limits


def verify_json(host, *args: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """redis-tuned-verify as the role installed it on the container, with --json."""
    out = host.run("redis-tuned-verify --json --latency-p99-ms 50 " + " ".join(args))
    assert out.rc in (0, 1), out.stderr
    return out.rc, json.loads(out.stdout)


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_verification_cli_host_mode(host, host_name: str, name: str, port: int) -> None:
    rc, report = verify_json(host, "--instance", name, "--mode", "host")
    assert rc == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["mode"] == "host"
    # "shared" listens on the container's address only: verified there, not on 127.0.0.1.
    where = address_of(host_name) if (name, port) == SHARED else "127.0.0.1"
    assert (report["target"]["host"], report["target"]["port"]) == (where, port)
    checks = {c["name"]: c for c in report["checks"]}
    cap = container_nofile_cap(host)
    assert checks["open files limit"]["observed"] == min(NOFILE, cap)
    assert checks["effective maxclients"]["observed"] == int(EXPECTED[(name, port)]["maxclients"])
    # Read-only /proc/sys here: reported as a warning with the reason, never as a pass.
    over = checks["sysctl vm.overcommit_memory"]
    live = int(host.file("/proc/sys/vm/overcommit_memory").content_string)
    assert over["observed"] == live
    assert over["status"] == ("pass" if live == 1 else "warn")
    # The scenario's certificates are valid for 30 days: verified, not yet due.
    tls = checks[f"TLS certificate (port {TLS_PORTS[(name, port)]})"]
    assert tls["status"] == "pass", tls
    assert checks["exporter"]["status"] == "pass", checks["exporter"]
    assert report["latency"]["samples"] == 1000


@pytest.mark.parametrize(("name", "port"), INSTANCES)
def test_verification_cli_client_mode(host, name: str, port: int) -> None:
    rc, report = verify_json(host, "--instance", name, "--mode", "client")
    assert rc == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["mode"] == "client"
    names = {c["name"] for c in report["checks"]}
    assert "config maxclients" in names and "open files limit" not in names


def test_verification_cli_catches_live_drift(host) -> None:
    """A directive changed at runtime (CONFIG SET) no longer matches what the role asked."""
    assert redis_cli(host, *CACHE, "CONFIG", "SET", "maxmemory-policy", "noeviction").rc == 0
    try:
        rc, report = verify_json(host, "--instance", "cache", "--mode", "client")
    finally:
        redis_cli(host, *CACHE, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    failed = [c for c in report["checks"] if not c["ok"]]
    assert rc == 1
    assert [c["name"] for c in failed] == ["config maxmemory-policy"]
    assert failed[0]["observed"] == "noeviction"


def test_verification_without_password_fails_auth(host) -> None:
    out = host.run("redis-tuned-verify --port 6379 --mode client --json")
    assert out.rc == 1
    report = json.loads(out.stdout)
    assert report["checks"][0]["name"] == "auth" and not report["checks"][0]["ok"]


# --- Changes: each playbook run goes to both containers at once, so one run
# proves a change on Debian 12 and 13; what every test needs of a run is
# observed on every container around it (session fixtures below), and each
# test asserts it for its own container.


@dataclass
class Observed:
    """One shared run: its result, and per container what was seen before and after."""

    result: subprocess.CompletedProcess[str]
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def containers() -> dict[str, Any]:
    return {n: testinfra.get_host(f"podman://{n}") for n in host_names()}


def observe(extra_vars: dict[str, object], look, **run: str) -> Observed:  # type: ignore[no-untyped-def]
    """Run site.yml (or ``playbook=``) on all containers; ``look(name, host)`` before
    and after."""
    hosts = containers()
    before = look_at_all(hosts, look)
    result = run_site(None, extra_vars, **run)
    return Observed(result, before, look_at_all(hosts, look))


def look_at_all(hosts: dict[str, Any], look) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """``look`` on every container at once (each one's commands in turn): the looks
    mostly wait on podman exec."""
    with ThreadPoolExecutor(max_workers=len(hosts) or 1) as pool:
        seen = {n: pool.submit(look, n, h) for n, h in hosts.items()}
        return {n: future.result() for n, future in seen.items()}


def pids(host) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {n: main_pid(host, n) for n, _ in INSTANCES}


def failed_hosts(output: str) -> set[str]:
    """Containers whose PLAY RECAP line has failed > 0."""
    return {
        ln.split()[0]
        for ln in output.splitlines()
        if "failed=" in ln and " : " in ln and "failed=0" not in ln
    }


def refused_on(run: Observed, host_name: str) -> str:
    """The output of a run that must have failed on ``host_name``, on one line."""
    assert run.result.returncode != 0
    assert host_name in failed_hosts(run.output)
    return " ".join(run.output.split())


def watched(host) -> list[str]:  # type: ignore[no-untyped-def]
    f = flavour_of(host)
    return [f.path("main", "conf"), f.path("cache", "conf"), f.path("main", "dropin")]


def files_and_pids(_name: str, host) -> tuple[list[str], dict[str, int]]:  # type: ignore[no-untyped-def]
    return [host.file(p).sha256sum for p in watched(host)], pids(host)


def cache_timeout(host) -> str:  # type: ignore[no-untyped-def]
    return config_get(host, *CACHE, "timeout")


def conf_and_pids(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "files": [host.file(p).sha256sum for p in watched(host)],
        "pids": pids(host),
        "cache timeout": cache_timeout(host),
    }


@pytest.fixture(scope="session")
def check_diff() -> Observed:
    """--check --diff on the converged containers, asking for a change (cache's
    timeout 123): first of the runs, while every container is converged."""
    cache = {"maxmemory-policy": "allkeys-lfu", "timeout": 123}
    return observe(molecule_instances(cache=cache), conf_and_pids, check_diff=True)


def test_check_diff_shows_the_change_and_makes_none(host_name: str, check_diff: Observed) -> None:
    output = check_diff.output
    assert check_diff.result.returncode == 0, output[-3000:]
    # The diff of cache's config, and the live change it would make (no restart).
    assert "-timeout 120" in output and "+timeout 123" in output
    assert "cache: would be applied live, no restart: timeout 123" in output
    assert "RUNNING HANDLER [redis_tuned : Restart changed Redis instances]" not in output
    assert check_diff.after[host_name] == check_diff.before[host_name]
    assert check_diff.after[host_name]["cache timeout"] == "120"


@pytest.fixture(scope="session")
def refused_variable() -> Observed:
    return observe({"redis_tuned_nofile": 2000}, files_and_pids)


CACHE_122 = {"maxmemory-policy": "allkeys-lfu", "timeout": 122}


@pytest.fixture(scope="session")
def refused_directive() -> Observed:
    """cache gets a good change (timeout 122) and shared a typo Redis rejects, in
    one run: cache's config is written, then the run fails on shared's, before any
    handler could restart cache."""
    extra = molecule_instances(cache=CACHE_122, shared={**SHARED_CONFIG, "maxmemroy": "2gb"})
    return observe(
        extra,
        lambda _n, h: (
            files_and_pids(_n, h),
            h.file(flavour_of(h).path("shared", "conf")).sha256sum,
            cache_timeout(h),
        ),
    )


def test_invalid_variable_is_refused_before_any_change(
    host_name: str, refused_variable: Observed
) -> None:
    """Preflight refuses a bad value on a real host: no file and no process changes."""
    output = refused_on(refused_variable, host_name)
    assert "needs maxclients + 32 = 4032 open files but redis_tuned_nofile is 2000" in output
    assert f"{host_name} : ok=" in output and "changed=0" in output
    assert refused_variable.after[host_name] == refused_variable.before[host_name]


# Each container asked for the other server flavour than the one it runs (by name:
# the variable cannot read its own host value).
VALKEY_HOSTS = [n for n in SCENARIO_HOSTS if flavour_of(n).name == "valkey"]
SWITCHED = f"{{{{ 'redis' if inventory_hostname in {VALKEY_HOSTS!r} else 'valkey' }}}}"


@pytest.fixture(scope="session")
def switched_flavour() -> Observed:
    return observe({"redis_tuned_server": SWITCHED}, files_and_pids)


def test_a_switch_of_server_flavour_is_refused_before_any_change(
    host_name: str, flavour: Flavour, switched_flavour: Observed
) -> None:
    """Issue 19 #6: Valkey asked for on Debian 12 (no package), or on a host whose
    instances run as the other flavour (an empty server would start beside them,
    their data left behind): refused in preflight, nothing changed."""
    output = refused_on(switched_flavour, host_name)
    if host_name.endswith("debian12"):
        assert (
            "redis_tuned_server valkey: Debian 12 (bookworm) has no valkey-server package" in output
        )
    else:
        runs = f"main: this host runs it as {flavour.title} ({flavour.unit('main')}.service"
        assert f"{runs}, managed by the role)" in output
        assert f"it holds data ({flavour.data('main')}/" in output  # main persists (guide)
        assert "would start an empty" in output
    assert switched_flavour.after[host_name] == switched_flavour.before[host_name]


def test_rejected_directive_keeps_the_running_instance(
    host, host_name: str, refused_directive: Observed
) -> None:
    """A typo Redis rejects fails the run with Redis's own text; its file and every
    running process stay as they were."""
    output = refused_on(refused_directive, host_name)
    # Redis 7 and Redis 8 word the refusal differently; both quote the line.
    assert (
        "Bad directive or wrong number of arguments" in output
        or "Unresolved Configuration(s) Detected" in output
    )
    assert "maxmemroy" in output
    (files, pids_before), shared_conf, timeout = refused_directive.before[host_name]
    (files_after, pids_after), shared_after, timeout_after = refused_directive.after[host_name]
    assert shared_after == shared_conf
    assert files_after[0] == files[0]  # main's config
    assert files_after[1] != files[1]  # cache's good change was written...
    assert pids_after == pids_before  # ...but nothing restarted in a failed run
    assert (timeout, timeout_after) == ("120", "120")
    assert config_get(host, *SHARED, "maxmemory") == str(32 * 1024 * 1024)


def exporter_exe(host, name: str) -> str:  # type: ignore[no-untyped-def]
    pid = host.check_output(f"systemctl show -p MainPID --value redis-tuned-exporter@{name}")
    return str(host.check_output(f"readlink /proc/{pid}/exe"))


def exporters(host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Each exporter's binary and its redis_up."""
    seen = {}
    for name, port in INSTANCES:
        url = f"http://127.0.0.1:{EXPORTER_PORTS[(name, port)]}/metrics"
        up = [v for _, v in parse_metrics(scrape(host, url))["redis_up"]]
        seen[name] = (exporter_exe(host, name), up)
    return seen


def no_refused_download(host) -> bool:  # type: ignore[no-untyped-def]
    """Neither the tarball with the wrong checksum nor anything from it is there."""
    refused = f"/usr/local/lib/redis_tuned/redis_exporter/{'0' * 64}"
    return not any(
        host.file(f"{refused}/{f}").exists for f in ("redis_exporter.tar.gz", "redis_exporter")
    )


MAIN_CONFIG = {"maxmemory": "64mb", "maxclients": 4000}  # as molecule.yml


def main_live(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "pids": pids(host),
        "bind": config_get(host, *MAIN, "bind"),
        "timeout": config_get(host, *MAIN, "timeout"),
        "cache timeout": cache_timeout(host),
    }


@pytest.fixture(scope="session")
def refused_live(refused_directive: Observed) -> Observed:
    """main asked to bind an address this host does not have (the config check
    cannot see that: its throwaway server listens nowhere) and a timeout of 301, in
    one change: Redis refuses the CONFIG SET; cache keeps the timeout 122 on disk."""
    main = {**MAIN_CONFIG, "bind": "127.0.0.1 -::1 192.0.2.77", "timeout": 301}
    return observe(molecule_instances(main=main, cache=CACHE_122), main_live)


def test_a_live_change_redis_refuses_changes_nothing_and_says_why(
    host_name: str, refused_live: Observed
) -> None:
    output = refused_on(refused_live, host_name)
    assert "main: Redis refused the live change" in output
    assert "bind" in output.split("main: Redis refused the live change")[1][:400]
    # All or nothing: neither the bind nor the timeout changed, and nothing restarted.
    before, after = refused_live.before[host_name], refused_live.after[host_name]
    assert (after["pids"], after["bind"]) == (before["pids"], before["bind"])
    assert after["timeout"] == before["timeout"] == "300"


@pytest.fixture(scope="session")
def upstream_exporter(
    tmp_path_factory: pytest.TempPathFactory, refused_live: Observed
) -> dict[str, Any]:
    """A release tarball per container (made from its distro binary, served as
    file://): a wrong SHA-256 fails the run with nothing unpacked and the
    exporters as they were; the right one puts every exporter on the upstream
    binary; then back to the distro's, which also changes cache's timeout (the
    first half of the config-change test below). The first two keep cache's
    timeout 122 from the failed run before: the wrong checksum is refused before
    any file is written, the right one finds cache's process older than its
    config and restarts it, though its config did not change."""
    tmp = tmp_path_factory.mktemp("upstream")
    shas = {}
    for name in host_names():
        release = tmp / name / "redis_exporter-v0.0.0.linux-amd64"
        release.mkdir(parents=True)
        subprocess.run(
            ["podman", "cp", f"{name}:/usr/bin/prometheus-redis-exporter",
             str(release / "redis_exporter")],
            check=True, timeout=60,
        )  # fmt: skip
        tarball = tmp / name / "redis_exporter.tar.gz"
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(release, arcname=release.name)
        shas[name] = hashlib.sha256(tarball.read_bytes()).hexdigest()
        (tmp / f"{name}.sha256").write_text(shas[name])
        subprocess.run(["podman", "cp", str(tarball), f"{name}:/tmp/"], check=True, timeout=60)
    upstream = {
        "redis_tuned_exporter_source": "upstream",
        "redis_tuned_exporter_url": "file:///tmp/redis_exporter.tar.gz",
    }
    look = lambda _n, h: (exporters(h), no_refused_download(h), pids(h), cache_timeout(h))  # noqa: E731
    upstream.update(molecule_instances(cache=CACHE_122))
    wrong = observe({**upstream, "redis_tuned_exporter_sha256": "0" * 64}, look)
    # Each container's own checksum, looked up per host by the run itself.
    own_sha = (
        "{{ lookup('ansible.builtin.file', '" + str(tmp) + "/' ~ inventory_hostname ~ '.sha256') }}"
    )
    right = observe({**upstream, "redis_tuned_exporter_sha256": own_sha}, look)
    # Back to the distro's exporter, and five live changes on cache, one on shared.
    for host in containers().values():
        holder = on_host(HOLDER, host)
        host.check_output(f"nohup python3 -c {shlex.quote(holder)} >/dev/null 2>&1 &")
        assert redis_cli(host, *SHARED, "SET", "molecule:kept", "kept").stdout.strip() == "OK"
    time.sleep(1)
    changed = {"cache": CACHE_LIVE, "shared": {**SHARED_CONFIG, "timeout": 200}}
    back = observe(molecule_instances(**changed), lambda n, h: (*look(n, h), held(h)))
    for host in containers().values():
        host.run("pkill -f molecule-held")
        redis_cli(host, *SHARED, "DEL", "molecule:kept")
    return {"shas": shas, "wrong": wrong, "right": right, "back": back}


CACHE_LIVE = {
    "maxmemory-policy": "allkeys-lru",
    "timeout": 121,
    "maxmemory": "48mb",
    "maxclients": 3000,
    "tcp-keepalive": 30,
}


def on_host(script: str, host) -> str:  # type: ignore[no-untyped-def]
    """A script written for the Redis flavour, with the container's own paths and unit."""
    f = flavour_of(host)
    redis = Flavour("redis")
    return script.replace(redis.own_dir, f.own_dir).replace(redis.unit("main"), f.unit("main"))


# A client holding one connection to cache across a run (bounded: 10 minutes).
HOLDER = (
    "import redis, time\n"
    "pw = open('/etc/redis/redis_tuned/admin.secret').read().strip()\n"
    "r = redis.Redis(port=6390, username='redis-tuned', password=pw)\n"
    "r.client_setname('molecule-held')\n"
    "time.sleep(600)\n"
)


def held(host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The CLIENT ID of the held connection on cache, and the key on shared."""
    listing = redis_cli(host, *CACHE, "CLIENT", "LIST").stdout
    ids = [
        ln.split()[0].removeprefix("id=")
        for ln in listing.splitlines()
        if "name=molecule-held" in ln
    ]
    key = redis_cli(host, *SHARED, "GET", "molecule:kept").stdout.strip()
    return {"held": ids[0] if ids else None, "key": key}


def test_upstream_exporter_is_installed_only_with_its_checksum(
    host_name: str, upstream_exporter: dict[str, Any]
) -> None:
    wrong, right = upstream_exporter["wrong"], upstream_exporter["right"]
    distro = "/usr/bin/prometheus-redis-exporter"
    assert all(exe == distro for exe, _ in wrong.before[host_name][0].values())
    # get_url's own words: "The checksum for ... did not match <sha>; it was <sha>."
    assert f"did not match {'0' * 64}; it was" in refused_on(wrong, host_name)
    assert wrong.after[host_name][1], "a tarball with the wrong checksum was kept or unpacked"
    assert wrong.after[host_name][0] == wrong.before[host_name][0]
    # Refused before any file was written: nothing restarted, nothing applied.
    assert wrong.after[host_name][2] == wrong.before[host_name][2]
    assert right.result.returncode == 0, right.output[-3000:]
    sha = upstream_exporter["shas"][host_name]
    for exe, up in right.after[host_name][0].values():
        assert exe == f"/usr/local/lib/redis_tuned/redis_exporter/{sha}/redis_exporter"
        assert up == [1.0]
    # Exporter changes never restart Redis (and cache's lost change is applied live, below).
    assert right.after[host_name][2] == right.before[host_name][2]


def test_a_change_lost_to_a_failed_run_is_applied_live_by_the_next(
    host_name: str, refused_live: Observed, upstream_exporter: dict[str, Any]
) -> None:
    """The failed run before wrote cache's timeout 122 and never applied it (its
    process still has 120). The next run changes no file of cache's, yet applies
    122 live (the probe reads the live config and sees the drift), without a
    restart, even though that run fails on main's refused change."""
    before, after = refused_live.before[host_name], refused_live.after[host_name]
    assert (before["cache timeout"], after["cache timeout"]) == ("120", "122")
    assert after["pids"] == before["pids"]
    assert "cache: corrected live drift: timeout 122" in " ".join(refused_live.output.split())
    wrong, right = upstream_exporter["wrong"], upstream_exporter["right"]
    assert wrong.after[host_name][3] == right.after[host_name][3] == "122"


def test_a_config_change_is_applied_live_with_the_same_process(
    host, host_name: str, upstream_exporter: dict[str, Any], restored: Observed
) -> None:
    """cache: maxmemory, timeout, maxclients, tcp-keepalive and maxmemory-policy in
    one run (with the exporters back on the distro's binary), shared (channels,
    holding keys): timeout; then all back: each time the same processes, the
    connection held across the run is the same one (CLIENT ID), the keys are there."""
    back = upstream_exporter["back"]
    assert back.result.returncode == 0, back.output[-3000:]
    assert all(
        exe == "/usr/bin/prometheus-redis-exporter" for exe, _ in back.after[host_name][0].values()
    )
    before, after = back.before[host_name], back.after[host_name]
    assert after[2] == before[2]  # pids
    assert after[4] == before[4] and after[4]["held"] is not None  # the held connection
    assert after[4]["key"] == "kept"
    output = " ".join(back.output.split())
    assert "cache: applied live, no restart:" in output
    applied = output.split("cache: applied live, no restart:")[1][:300]
    for directive in CACHE_LIVE:
        assert f"{directive} " in applied, (directive, applied)
    assert restored.before[host_name]["cache timeout"] == "121"
    assert restored.after[host_name]["cache timeout"] == "120"
    assert restored.after[host_name]["pids"] == restored.before[host_name]["pids"]
    assert config_get(host, *CACHE, "timeout") == "120"


ROTATED = "molecule-app-rotated"
APP_RULES = "~app:* &* +@all -@dangerous"


def app_logins(host, host_name: str, password: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """PING as app with ``password`` on every instance, and on "shared" from the peer over TLS."""
    seen = {}
    for name, port in INSTANCES:
        out = app_cli(host, port, password, "PING")
        seen[name] = (out.stdout + out.stderr).strip()
    peer = testinfra.get_host(f"podman://{peer_of(host_name)}")
    out = app_cli(peer, SHARED[1], password, "PING", peer=host_name)
    seen["shared from the peer"] = (out.stdout + out.stderr).strip()
    return seen


def logins_and_pids(name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "pids": pids(host),
        "cache timeout": config_get(host, *CACHE, "timeout"),
        "old": app_logins(host, name, "molecule-app-secret"),
        "new": app_logins(host, name, ROTATED),
        "ps": host.check_output("ps -eo args"),
    }


@pytest.fixture(scope="session")
def rotated(upstream_exporter: dict[str, Any]) -> Observed:
    """The app password rotated, at -vvv (the leak test reads this output); cache
    keeps the timeout the config-change test gave it."""
    cache = {"maxmemory-policy": "allkeys-lfu", "timeout": 121}
    users = [{"name": "app", "password": ROTATED, "rules": APP_RULES}]
    extra = {**molecule_instances(cache=cache), "redis_tuned_acl_users": users}
    return observe(extra, logins_and_pids, verbosity="-vvv")


@pytest.fixture(scope="session")
def restored(rotated: Observed) -> Observed:
    """Back to molecule.yml's settings: the old password (live again, same pids on
    main and shared) and cache's timeout 120 (cache restarts)."""
    return observe({}, logins_and_pids)


def test_password_rotation_is_live_with_the_same_process(
    host_name: str, rotated: Observed, restored: Observed
) -> None:
    """A new ACL password takes effect through ACL LOAD: no restart, same pids."""
    assert rotated.result.returncode == 0, rotated.output[-3000:]
    assert "Load the changed ACL files live" in rotated.output
    assert rotated.after[host_name]["pids"] == rotated.before[host_name]["pids"]
    assert set(rotated.after[host_name]["new"].values()) == {"PONG"}
    assert all("WRONGPASS" in v for v in rotated.after[host_name]["old"].values())
    # and back: the old password works again, the rotated one is refused
    assert restored.result.returncode == 0, restored.output[-3000:]
    assert set(restored.after[host_name]["old"].values()) == {"PONG"}
    assert all("WRONGPASS" in v for v in restored.after[host_name]["new"].values())
    before, after = restored.before[host_name]["pids"], restored.after[host_name]["pids"]
    assert (after["main"], after["shared"]) == (before["main"], before["shared"])


def tls_key_line(host_name: str) -> str:
    """A base64 line from the middle of the container's private key (control node copy)."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls" / f"{host_name}.key"
    lines = path.read_text().splitlines()
    return lines[len(lines) // 2]


def test_no_secret_in_verbose_output_ps_or_world_readable_files(
    host, host_name: str, rotated: Observed
) -> None:
    secrets = [
        "molecule-main-secret",
        "molecule-shared-secret",
        "molecule-app-secret",
        ROTATED,
        host.file(flavour_of(host).admin_secret).content_string.strip(),
        host.file(flavour_of(host).exporter_secret).content_string.strip(),
        # A line from the middle of this host's TLS private key.
        tls_key_line(host_name),
    ]
    # The ACL files hold each password's unsalted SHA-256: a hash shown is a password
    # anyone can try against a dictionary (--diff and -vvv must show neither).
    secrets += [hashlib.sha256(s.encode()).hexdigest() for s in secrets[:6]]
    output = rotated.output
    assert rotated.result.returncode == 0, output[-3000:]
    assert "Load the changed ACL files live" in output  # the run handled a secret
    assert len(output) > 10_000  # really verbose
    hits = {s for s in secrets if s in output}
    assert not hits, "secrets in ansible-playbook -vvv output"
    for seen in (rotated.before[host_name], rotated.after[host_name]):
        assert not [s for s in secrets if s in seen["ps"]]
    f = flavour_of(host)
    readable = host.run(
        f"find /etc {f.data_dir} {f.log_dir} /usr/local /run -xdev -type f -perm -o=r "
        "-size -2M -print0 | xargs -0 -r grep -l -F -e " + " -e ".join(f"'{s}'" for s in secrets)
    )
    assert readable.stdout.strip() == "", (
        f"world-readable files holding a secret: {readable.stdout}"
    )


@pytest.fixture(scope="session")
def verify_playbook(restored: Observed) -> Observed:
    return observe({}, lambda _n, _h: None, playbook="verify.yml")


def test_verify_playbook_passes_and_leaks_no_secret(
    host_name: str, verify_playbook: Observed
) -> None:
    output = verify_playbook.output
    assert verify_playbook.result.returncode == 0, output[-3000:]
    for name, _ in INSTANCES:
        assert f"{name} (host mode): all checks passed" in output
    # "shared" is bound beyond loopback: its client-mode run went from the control node;
    # the loopback-only ones have no client elsewhere (host mode made the client checks).
    assert "shared (client mode): all checks passed" in output
    assert "main (client mode)" not in output
    assert "Verify each instance reachable from the network, from the control node" in output
    assert f"{host_name} : ok=" in " ".join(output.split())
    assert "molecule-main-secret" not in output
    assert "molecule-shared-secret" not in output


@pytest.fixture(scope="session")
def unreachable(verify_playbook: Observed) -> Observed:
    """The control node's check pointed at an address that does not resolve (verify.yml
    applies nothing: the host-mode run reads what the role wrote on the host)."""
    extra = molecule_instances(shared={**SHARED_CONFIG, "bind": "no-such-host.invalid"})
    return observe(extra, lambda _n, _h: None, playbook="verify.yml")


def test_an_unreachable_instance_is_reported_in_one_line_with_its_address(
    host_name: str, unreachable: Observed
) -> None:
    output = refused_on(unreachable, host_name)
    # Which instance, where, which variable set the address, and the reason.
    assert (
        "shared: could not verify at no-such-host.invalid:6391 (address from the bind address "
        "of instance shared): redis-tuned-verify: cannot reach no-such-host.invalid:6391" in output
    )
    # The play fails on the report, which says why; not on a censored (no_log) task.
    failure = output[output.rindex("fatal: [") :]
    assert "could not verify" in failure and "censored" not in failure
    assert "molecule-shared-secret" not in output


# The kernel's THP file is read-only in these containers; the role is pointed
# (through its internal __redis_tuned_thp_path) at a writable stand-in file.
THP_STAND_IN = "/run/redis-tuned-thp-test/enabled"


def thp_unit(_name: str, host) -> tuple[bool, str, str]:  # type: ignore[no-untyped-def]
    unit = "redis-tuned-thp.service"
    enabled = host.run(f"systemctl is-enabled {unit}").stdout.strip()
    stand_in = host.run(f"cat {THP_STAND_IN}").stdout.strip()
    return host.file(f"/etc/systemd/system/{unit}").exists, enabled, stand_in


@pytest.fixture(scope="session")
def thp_runs(unreachable: Observed) -> dict[str, Observed]:
    """Transparent huge pages: "madvise" then "never" set live on a writable
    stand-in (a changed mode must be in force now, not at the next boot), then
    left to the host ("unchanged"), then back to "never" on the kernel's file.
    Testinfra runs one container's tests after the other's, so every shared
    run leaves the containers as molecule.yml converged them."""
    for host in containers().values():
        host.check_output(
            f"mkdir -p {os.path.dirname(THP_STAND_IN)} && "
            f"echo 'always madvise [never]' > {THP_STAND_IN}"
        )
    at = {"__redis_tuned_thp_path": THP_STAND_IN}
    runs = {
        "madvise": observe({**at, "redis_tuned_transparent_hugepages": "madvise"}, thp_unit),
        "never": observe(at, thp_unit),
        "unchanged": observe({"redis_tuned_transparent_hugepages": "unchanged"}, thp_unit),
        "back": observe({}, thp_unit),
    }
    for host in containers().values():
        host.check_output(f"rm -rf {os.path.dirname(THP_STAND_IN)}")
    return runs


def test_a_changed_thp_mode_is_in_force_at_once(
    host_name: str, thp_runs: dict[str, Observed]
) -> None:
    madvise, never = thp_runs["madvise"], thp_runs["never"]
    assert madvise.result.returncode == 0, madvise.output[-3000:]
    assert madvise.after[host_name] == (True, "enabled", "madvise")
    # The unit already ran (a oneshot that stays active): "started" would not run
    # it again and "never" would wait for the next boot.
    assert never.result.returncode == 0, never.output[-3000:]
    assert never.after[host_name] == (True, "enabled", "never")


def test_thp_unchanged_removes_the_unit_an_earlier_run_left(
    host_name: str, thp_runs: dict[str, Observed]
) -> None:
    """With "unchanged" the role no longer sets the mode: the unit it installed
    before must not set it at the next boot either."""
    unchanged, back = thp_runs["unchanged"], thp_runs["back"]
    assert unchanged.result.returncode == 0, unchanged.output[-3000:]
    assert unchanged.before[host_name][:2] == (True, "enabled")
    exists, enabled, stand_in = unchanged.after[host_name]
    assert not exists and enabled != "enabled"
    assert stand_in == "never"  # left as it was
    assert back.result.returncode == 0, back.output[-3000:]
    assert back.after[host_name][:2] == (True, "enabled")


# --- the instance lifecycle: removed and re-added; a crash --------------------------


def shared_files(f: Flavour) -> list[str]:
    return [
        f.path("shared", "conf"),
        f.path("shared", "acl"),
        f"{f.own_dir}/shared.json",
        f.path("shared", "dropin"),
        "/etc/redis-tuned-exporter/shared.env",
        "/etc/redis-tuned-exporter/shared.json",
    ]


def shared_state(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    def unit(cmd: str, name: str) -> str:
        return str(host.run(f"systemctl {cmd} {name}").stdout.strip())

    f = flavour_of(host)
    return {
        "active": unit("is-active", f.unit("shared")),
        "enabled": unit("is-enabled", f.unit("shared")),
        "exporter": unit("is-active", "redis-tuned-exporter@shared"),
        "files": [p for p in shared_files(f) if host.file(p).exists],
        "data": host.file(f.data("shared")).is_directory,
        "pids": {n: main_pid(host, n) for n in ("main", "cache")},
    }


@pytest.fixture(scope="session")
def removed(thp_runs: dict[str, Observed]) -> tuple[Observed, Observed]:
    """The "shared" instance with state: absent and cache's tcp-backlog (immutable)
    raised, then both back as molecule.yml has them."""
    extra = molecule_instances(cache={**CACHE_CONFIG, "tcp-backlog": 1024})
    instances: list[dict[str, Any]] = extra["redis_tuned_instances"]  # type: ignore[assignment]
    instances[2] = {**instances[2], "state": "absent"}
    return observe(extra, shared_state), observe({}, shared_state)


CACHE_CONFIG = {"maxmemory-policy": "allkeys-lfu", "timeout": 120}  # as molecule.yml


def test_an_immutable_change_restarts_exactly_its_instance(
    host_name: str, removed: tuple[Observed, Observed]
) -> None:
    gone, back = removed
    for run in (gone, back):
        assert run.result.returncode == 0, run.output[-3000:]
        before, after = run.before[host_name]["pids"], run.after[host_name]["pids"]
        assert after["cache"] != before["cache"]  # tcp-backlog: only a restart applies it
        assert after["main"] == before["main"]
    assert "cache: restart for tcp-backlog" in " ".join(gone.output.split())


def test_an_absent_instance_is_stopped_and_its_files_removed_data_kept(
    host_name: str, removed: tuple[Observed, Observed]
) -> None:
    gone, back = removed
    assert gone.result.returncode == 0, gone.output[-3000:]
    assert gone.before[host_name]["active"] == "active"
    after = gone.after[host_name]
    assert (after["active"], after["exporter"]) == ("inactive", "inactive")
    assert after["enabled"] != "enabled"
    assert after["files"] == []
    assert after["data"] is True  # no purge: the data directory stays
    # The others run on (cache's auto maxmemory grows live: one share fewer).
    assert after["pids"]["main"] == gone.before[host_name]["pids"]["main"]
    assert back.result.returncode == 0, back.output[-3000:]
    again = back.after[host_name]
    assert (again["active"], again["enabled"], again["exporter"]) == (
        "active",
        "enabled",
        "active",
    )
    assert again["files"] == shared_files(flavour_of(host_name))


CRASH_WRITER = r"""
import json, os, signal, subprocess, time
import redis
pw = open("/etc/redis/redis_tuned/admin.secret").read().strip()
r = redis.Redis(port=6379, username="redis-tuned", password=pw, socket_timeout=5)
acked = []
start = time.time()
while time.time() - start < 4 and len(acked) < 20000:  # bounded: 4 s, 20000 keys
    r.set(f"crash:{len(acked)}", "x")
    acked.append(time.time())
    if len(acked) % 50 == 0:
        time.sleep(0.005)
pid = int(subprocess.check_output(
    ["systemctl", "show", "-p", "MainPID", "--value", "redis-server@main"]))
killed = time.time()
os.kill(pid, signal.SIGKILL)
safe = sum(1 for t in acked if t <= killed - 2)
print(json.dumps({"pid": pid, "acked": len(acked), "safe": safe}))
"""

CRASH_READER = r"""
import json, sys, time
import redis
pw = open("/etc/redis/redis_tuned/admin.secret").read().strip()
deadline = time.time() + 60
while True:  # until systemd has it back and it has loaded its AOF (bounded)
    try:
        r = redis.Redis(port=6379, username="redis-tuned", password=pw, socket_timeout=5)
        if r.info("persistence")["loading"] == 0:
            break
    except redis.RedisError:
        pass
    if time.time() > deadline:
        sys.exit("redis-server@main did not come back within 60 s")
    time.sleep(0.2)
safe = int(sys.argv[1])
present = sum(r.exists(*[f"crash:{i}" for i in range(s, min(s + 500, safe))])
              for s in range(0, safe, 500))
r.delete(*[f"crash:{i}" for i in range(20000)])
print(json.dumps({"present": present}))
"""


@pytest.fixture(scope="session")
def deferred(removed: tuple[Observed, Observed]) -> tuple[Observed, Observed]:
    """redis_tuned_restart_policy deferred with cache's tcp-backlog raised: written,
    not restarted, reported as pending; then back to molecule.yml (the running
    process never took the change, so nothing restarts then either)."""
    extra = {
        **molecule_instances(cache={**CACHE_CONFIG, "tcp-backlog": 1024}),
        "redis_tuned_restart_policy": "deferred",
    }
    look = lambda _n, h: {"pids": pids(h), "backlog": config_get(h, *CACHE, "tcp-backlog")}  # noqa: E731
    return observe(extra, look), observe({}, look)


def test_restart_policy_deferred_writes_reports_and_does_not_restart(
    host_name: str, deferred: tuple[Observed, Observed]
) -> None:
    pending, back = deferred
    assert pending.result.returncode == 0, pending.output[-3000:]
    assert pending.after[host_name] == pending.before[host_name]  # same pids, backlog 511
    assert pending.after[host_name]["backlog"] == "511"
    output = " ".join(pending.output.split())
    assert "cache: restart pending: tcp-backlog (redis_tuned_restart_policy: deferred)" in output
    # The verification says so too, as a warning, not a pass and not a failure.
    assert "WARN config tcp-backlog: expected 1024, observed 511 (restart pending" in output
    assert back.result.returncode == 0, back.output[-3000:]
    assert back.after[host_name] == back.before[host_name]


@pytest.fixture(scope="session")
def rolled(deferred: tuple[Observed, Observed]) -> dict[str, Observed]:
    """playbooks/rolling-restart.yml carrying out what a deferred run left pending
    (tcp-backlog raised on main and cache), one host at a time: first limited to
    cache, then the rest; then with redis_tuned_restart_all back to molecule.yml."""
    raised = molecule_instances(
        main={"maxmemory": "64mb", "maxclients": 4000, "tcp-backlog": 1024},
        cache={**CACHE_CONFIG, "tcp-backlog": 1024},
    )

    def look(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        at = {"main": MAIN, "cache": CACHE}
        backlog = {n: config_get(host, *where, "tcp-backlog") for n, where in at.items()}
        return {"pids": pids(host), "backlog": backlog}

    rolling = "rolling-restart.yml"
    return {
        "pending": observe({**raised, "redis_tuned_restart_policy": "deferred"}, look),
        "limited": observe(
            {**raised, "redis_tuned_restart_only": ["cache"]}, look, playbook=rolling
        ),
        "rest": observe(raised, look, playbook=rolling),
        "every": observe({"redis_tuned_restart_all": True}, look, playbook=rolling),
    }


def restarted(run: Observed, host_name: str) -> set[str]:
    before, after = run.before[host_name]["pids"], run.after[host_name]["pids"]
    return {n for n in before if after[n] != before[n]}


def test_a_rolling_restart_restarts_what_is_pending_one_host_at_a_time(
    host_name: str, rolled: dict[str, Observed]
) -> None:
    pending, limited, rest, every = (rolled[k] for k in ("pending", "limited", "rest", "every"))
    assert pending.result.returncode == 0, pending.output[-3000:]
    assert pending.after[host_name]["backlog"] == {"main": "511", "cache": "511"}  # pending
    # Limited to cache: cache restarted, main's restart still pending, nothing else.
    assert limited.result.returncode == 0, limited.output[-3000:]
    assert restarted(limited, host_name) == {"cache"}
    assert limited.after[host_name]["backlog"] == {"main": "511", "cache": "1024"}
    output = " ".join(limited.output.split())
    assert "cache: restart for tcp-backlog" in output
    assert "main: restart pending: tcp-backlog (redis_tuned_restart_only: cache)" in output
    # One host at a time: a batch per host, each with its restart and its verification.
    hosts = len(containers())
    assert output.count("RUNNING HANDLER [redis_tuned : Restart changed Redis instances]") == hosts
    reports = output.count("Report the verification, failing on any failed check, in mode host")
    assert reports >= hosts
    # Then the rest: main, and only main (cache has nothing pending any more).
    assert rest.result.returncode == 0, rest.output[-3000:]
    assert restarted(rest, host_name) == {"main"}
    assert rest.after[host_name]["backlog"] == {"main": "1024", "cache": "1024"}
    # redis_tuned_restart_all: every instance, back to molecule.yml's config.
    assert every.result.returncode == 0, every.output[-3000:]
    assert restarted(every, host_name) == set(every.before[host_name]["pids"])
    assert every.after[host_name]["backlog"] == {"main": "511", "cache": "511"}
    assert "every instance asked for (redis_tuned_restart_all)" in " ".join(every.output.split())


def test_a_rolling_restart_of_an_inventory_the_role_refuses_changes_nothing(
    host_name: str,
) -> None:
    """Checked on every host before anything restarts (here a replicated entry with no
    replication password: the role's own preflight refuses it)."""
    grouped = molecule_instances()
    grouped["redis_tuned_instances"][0]["replication"] = True  # type: ignore[index]
    result = run_site(None, grouped, playbook="rolling-restart.yml")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "replication: true needs redis_tuned_replication_password" in output
    assert "Restart changed Redis instances" not in output


@pytest.fixture(scope="session")
def crash(rolled: dict[str, Observed]) -> dict[str, Any]:
    """On every container: keys written to "main" (AOF everysec) for 4 s, then its
    process SIGKILLed; systemd brings it back; then one role run."""
    seen: dict[str, Any] = {}
    for name, host in containers().items():
        writer = on_host(CRASH_WRITER, host)
        wrote = json.loads(host.check_output(f"python3 -c {shlex.quote(writer)}"))
        read = json.loads(
            host.check_output(
                f"python3 -c {shlex.quote(on_host(CRASH_READER, host))} {wrote['safe']}"
            )
        )
        seen[name] = {**wrote, **read, "new_pid": main_pid(host, "main")}
    seen["rerun"] = run_site(None, {})
    return seen


def test_a_crash_loses_no_key_acknowledged_two_seconds_before(
    host_name: str, crash: dict[str, Any]
) -> None:
    seen = crash[host_name]
    assert seen["safe"] > 100, seen  # the stream ran long enough to prove something
    assert seen["present"] == seen["safe"], seen
    assert seen["new_pid"] != seen["pid"]  # systemd restarted it
    rerun = crash["rerun"]
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-3000:]
    recap = next(ln for ln in output.splitlines() if ln.startswith(f"{host_name} "))
    assert "changed=0" in recap, recap


# --- TLS certificate rotated live ----------------------------------------------------

SERVED = r"""
import hashlib, socket, ssl, sys
ctx = ssl.create_default_context(cafile="/etc/redis/redis_tuned/tls/ca.crt")
ctx.check_hostname = False
with socket.create_connection(("127.0.0.1", 6479), timeout=10) as raw:
    with ctx.wrap_socket(raw) as tls:
        print(hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest())
"""


def served(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The certificate main serves on its TLS port (SHA-256 of its DER), and the pids."""
    cert = host.check_output(f"python3 -c {shlex.quote(on_host(SERVED, host))}")
    return {"cert": cert, "pids": pids(host)}


def fingerprint(pem: Path) -> str:
    import ssl

    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest()


@pytest.fixture(scope="session")
def tls_rotated(crash: dict[str, Any]) -> tuple[Observed, Observed, dict[str, str]]:
    """Each container's certificate re-issued by the CA (same key, new serial), the
    role run with it, then with the original again."""
    tls = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"
    for name in host_names():
        subprocess.run(
            ["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "30", "-extfile", f"{name}.ext",
             "-out", f"{name}.rotated.crt"],
            cwd=tls, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    rotated_cert = (
        "{{ lookup('ansible.builtin.env', 'MOLECULE_EPHEMERAL_DIRECTORY') }}"
        "/tls/{{ inventory_hostname }}.rotated.crt"
    )
    new = observe({"redis_tuned_tls_cert_file": rotated_cert}, served)
    back = observe({}, served)
    prints = {n: fingerprint(tls / f"{n}.rotated.crt") for n in host_names()}
    prints |= {f"{n} original": fingerprint(tls / f"{n}.crt") for n in host_names()}
    return new, back, prints


def test_a_rotated_certificate_is_served_without_a_restart(
    host_name: str, tls_rotated: tuple[Observed, Observed, dict[str, str]]
) -> None:
    new, back, prints = tls_rotated
    assert new.result.returncode == 0, new.output[-3000:]
    assert new.before[host_name]["cert"] == prints[f"{host_name} original"]
    assert new.after[host_name]["cert"] == prints[host_name]  # the new one, served now
    assert new.after[host_name]["pids"] == new.before[host_name]["pids"]  # no restart
    assert "TLS certificate, key and CA reloaded" in " ".join(new.output.split())
    assert back.result.returncode == 0, back.output[-3000:]
    assert back.after[host_name]["cert"] == prints[f"{host_name} original"]
    assert back.after[host_name]["pids"] == back.before[host_name]["pids"]


def cache_ports(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What cache's plain port answers in clear text, its live port over TLS, the pids."""
    f = flavour_of(host)
    plain = host.run(f"{f.cli} -p 6390 PING")
    tls = host.run(
        f'REDISCLI_AUTH="$(cat {f.admin_secret})" {f.cli} --no-auth-warning --user redis-tuned '
        f"--tls --cacert {f.ca} -p {TLS_PORTS[CACHE]} --raw CONFIG GET port"
    )
    return {
        "plain": " ".join((plain.stdout + plain.stderr).split()),
        "port": tls.stdout.split(),
        "pids": pids(host),
    }


@pytest.fixture(scope="session")
def tls_only_switch(
    tls_rotated: tuple[Observed, Observed, dict[str, str]],
) -> tuple[Observed, Observed]:
    """cache (plain 6390 + TLS 6490) switched to TLS only, then back (issue 18 #1)."""
    only = [dict(i) for i in molecule_instances()["redis_tuned_instances"]]  # type: ignore[attr-defined]
    only[1]["tls_only"] = True
    switched = observe({"redis_tuned_instances": only}, cache_ports)
    back = observe({}, cache_ports)
    return switched, back


def test_tls_only_closes_the_plain_port_in_the_same_run_and_back(
    host_name: str, tls_only_switch: tuple[Observed, Observed]
) -> None:
    """Before, port was left out of the live comparison and a changed file alone did
    not restart: after the switch 6390 kept serving clear text and the run was green."""
    switched, back = tls_only_switch
    assert switched.result.returncode == 0, switched.output[-3000:]
    before, after = switched.before[host_name], switched.after[host_name]
    assert "NOAUTH" in before["plain"] or "PONG" in before["plain"], before  # clear text served
    assert "Could not connect" in after["plain"] and after["port"] == ["port", "0"], after
    assert after["pids"] == before["pids"]  # CONFIG SET port 0, no restart
    output = " ".join(switched.output.split())
    assert "cache: applied live, no restart: port 0" in output
    assert f"plain port {CACHE[1]} closed (TLS only)" not in failed_lines(output)
    assert back.result.returncode == 0, back.output[-3000:]
    restored = back.after[host_name]
    assert restored["port"] == ["port", "6390"] and "Could not connect" not in restored["plain"]
    assert restored["pids"] == before["pids"]


def failed_lines(output: str) -> str:
    """The verification report's FAILED lines of a run, joined."""
    return " ".join(part for part in output.split("; ") if part.startswith("FAIL"))


# Values Redis rewrites (issue 18 #11): all three classes in bytes, the flags in its
# own order, a dir under a symlink as its target.
REWRITTEN = {
    "client-output-buffer-limit": "pubsub 32mb 8mb 60",
    "notify-keyspace-events": "Ex",
    # A dir under a symlink, in each host's own data directory (a host variable: it
    # differs between server flavours).
    "dir": "{{ '/var/lib/' ~ (redis_tuned_server | default('redis')) }}/cache-link",
}


def rewrite_look(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "pids": pids(host),
        "notify": config_get(host, *CACHE, "notify-keyspace-events"),
        "buffers": config_get(host, *CACHE, "client-output-buffer-limit"),
        "dir": config_get(host, *CACHE, "dir"),
    }


@pytest.fixture(scope="session")
def rewritten(tls_only_switch: tuple[Observed, Observed]) -> tuple[Observed, Observed]:
    """cache given the three values, then the same run again."""
    for host in containers().values():
        data = flavour_of(host).data_dir
        host.run(f"ln -sfn {data}/cache {data}/cache-link")
    extra = molecule_instances(cache=CACHE_REWRITTEN)
    return observe(extra, rewrite_look), observe(extra, rewrite_look)


CACHE_REWRITTEN = {"maxmemory-policy": "allkeys-lfu", "timeout": 120, **REWRITTEN}


def recap_changed(output: str, host_name: str) -> int:
    line = next(ln for ln in output.splitlines() if ln.startswith(host_name) and "changed=" in ln)
    return int(line.split("changed=")[1].split()[0])


def test_values_redis_rewrites_are_applied_once_then_left_alone(
    host_name: str, rewritten: tuple[Observed, Observed]
) -> None:
    """Before, the role compared its own spelling with Redis's: a CONFIG SET every run
    for the first two, a restart every run for the dir under a symlink."""
    first, second = rewritten
    assert first.result.returncode == 0, first.output[-3000:]
    after = first.after[host_name]
    assert after["notify"] == "xE" and "pubsub 33554432 8388608 60" in after["buffers"]
    assert after["dir"] == flavour_of(host_name).data("cache")
    assert after["pids"] == first.before[host_name]["pids"]  # live, no restart
    assert "cache: applied live, no restart" in " ".join(first.output.split())
    assert second.result.returncode == 0, second.output[-3000:]
    assert recap_changed(second.output, host_name) == 0, second.output[-3000:]
    assert second.after[host_name]["pids"] == after["pids"]
    flat = " ".join(second.output.split())
    assert "cache: applied live" not in flat and "restart for" not in flat


LOST_ROTATION = "molecule-app-rotated-lost"


def rotation_look(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    out = app_cli(host, MAIN[1], LOST_ROTATION, "PING")
    return {"new password": (out.stdout + out.stderr).strip(), "pids": pids(host)}


@pytest.fixture(scope="session")
def lost_rotation(rewritten: tuple[Observed, Observed]) -> tuple[Observed, Observed, Observed]:
    """The app password rotated in a run that fails after writing the files (shared's
    typo is refused), then the same rotation with the typo fixed, then back."""
    users = [{"name": "app", "password": LOST_ROTATION, "rules": APP_RULES}]
    cache = CACHE_REWRITTEN
    typo = {**SHARED_CONFIG, "maxmemroy": "2gb"}
    failed = observe(
        {**molecule_instances(cache=cache, shared=typo), "redis_tuned_acl_users": users},
        rotation_look,
    )
    healed = observe(
        {**molecule_instances(cache=cache), "redis_tuned_acl_users": users}, rotation_look
    )
    back = observe(molecule_instances(cache=cache), rotation_look)
    return failed, healed, back


def test_a_rotated_password_a_failed_run_left_on_disk_is_loaded_by_the_next(
    host_name: str, lost_rotation: tuple[Observed, Observed, Observed]
) -> None:
    """Issue 18 #13: ACL LOAD was decided from "changed in this run"; the run that
    finds the rotated file already on disk changed nothing and loaded nothing."""
    failed, healed, back = lost_rotation
    assert failed.result.returncode != 0
    assert "WRONGPASS" in failed.after[host_name]["new password"]  # written, not loaded
    assert healed.result.returncode == 0, healed.output[-3000:]
    assert healed.after[host_name]["new password"] == "PONG"
    assert healed.after[host_name]["pids"] == failed.before[host_name]["pids"]  # no restart
    assert back.result.returncode == 0, back.output[-3000:]
    assert "WRONGPASS" in back.after[host_name]["new password"]


def client_cert_look(_name: str, host) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A TLS PING to main without a client certificate, the exporter's groups and
    redis_up, the pids."""
    f = flavour_of(host)
    anonymous = host.run(f"{f.cli} --tls --cacert {f.ca} -p {TLS_PORTS[MAIN]} PING")
    url = f"http://127.0.0.1:{EXPORTER_PORTS[MAIN]}/metrics"
    return {
        "without a certificate": " ".join((anonymous.stdout + anonymous.stderr).split()),
        "exporter groups": host.check_output("id -Gn redis-tuned-exporter").split(),
        "up": [v for _, v in parse_metrics(scrape(host, url))["redis_up"]],
        "pids": pids(host),
    }


@pytest.fixture(scope="session")
def client_certificates(
    lost_rotation: tuple[Observed, Observed, Observed],
) -> tuple[Observed, Observed]:
    """tls-auth-clients yes with the role's own client certificate, then back to no."""
    tls = "{{ lookup('ansible.builtin.env', 'MOLECULE_EPHEMERAL_DIRECTORY') }}/tls"
    cache = CACHE_REWRITTEN
    extra = {
        **molecule_instances(cache=cache),
        "redis_tuned_tls_auth_clients": "yes",
        "redis_tuned_tls_client_cert_file": f"{tls}/client.crt",
        "redis_tuned_tls_client_key_file": f"{tls}/client.key",
    }
    return observe(extra, client_cert_look), observe(
        molecule_instances(cache=cache), client_cert_look
    )


def test_tls_auth_clients_yes_on_a_live_instance(
    host_name: str, client_certificates: tuple[Observed, Observed]
) -> None:
    """Issue 18 #4: no test ran tls-auth-clients yes; the server certificate doubled as
    every client's and the exporter joined group redis (every data directory, the
    server's key). The role's checks (host and control node) and the exporters pass
    with the role's own client certificate; a TLS client without one is refused."""
    on, off = client_certificates
    assert on.result.returncode == 0, on.output[-3000:]
    seen = on.after[host_name]
    # The handshake itself is refused: Redis never answers (not even NOAUTH).
    assert "NOAUTH" not in seen["without a certificate"], seen
    assert "PONG" not in seen["without a certificate"], seen
    assert seen["up"] == [1.0], seen
    assert seen["exporter groups"] == ["redis-tuned-exporter"]
    flat = " ".join(on.output.split())
    assert "shared (client mode): all checks passed" in flat
    assert "main (host mode): all checks passed" in flat
    assert off.result.returncode == 0, off.output[-3000:]
    assert "NOAUTH" in off.after[host_name]["without a certificate"]  # TLS without a cert
    assert off.after[host_name]["up"] == [1.0]


def test_the_app_sides_view_is_left_on_the_control_node(host_name: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 22 #4: the play leaves what the application needs of each instance on the
    control node (no secret), and redis-tuned-clients settings reads it as is: the
    instance's own maxclients sizes the pools, its TLS port gets the CA from it."""
    from redis_tuned_clients.cli import main

    view_dir = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "client-view" / host_name
    views = {p.stem: json.loads(p.read_text()) for p in view_dir.glob("*.json")}
    assert set(views) == {name for name, _ in INSTANCES}
    main_view = views["main"]
    assert main_view["port"] == 6379 and main_view["requires_auth"] is True
    assert main_view["config"]["maxclients"] == 4000
    assert "molecule-main-secret" not in json.dumps(views)
    shared = views["shared"]
    assert shared["host"] == address_of(host_name) and shared["port"] == 0
    assert shared["tls"]["port"] == 6391 and Path(shared["tls"]["ca_file"]).is_file()
    code = main([
        "settings", f"--cache-url=redis://app@{address_of(host_name)}:6379/0", "--format=json",
        "--processes=100", f"--expect-file={view_dir / 'main.json'}",
    ])  # fmt: skip
    assert code == 0
    # 100 processes under 80% of main's own maxclients 4000 (not the default 10000).
    assert json.loads(capsys.readouterr().out)["cache"]["max_connections"] == 32


def test_django_speaks_to_this_server_with_the_generated_settings(
    host_name: str, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """channels_redis, django-redis and redis-py, from the control node, on this
    container's TLS-only "shared" instance (Redis 7.0, Redis 8.0 or Valkey 8.1) with
    the settings redis-tuned-clients generates from the play's view of it: the layer
    as its default user (the channels profile's rules), the cache as "app" (its keys
    under app:)."""
    import sys

    from redis_tuned_clients.cli import main

    view = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "client-view" / host_name
    address = address_of(host_name)
    code = main([
        "settings", f"--channels-url=rediss://{address}:6391/0",
        f"--cache-url=rediss://app@{address}:6391/1", f"--expect-file={view / 'shared.json'}",
    ])  # fmt: skip
    snippet = capsys.readouterr().out
    assert code == 0, snippet
    (tmp_path / "redis_settings.py").write_text(snippet)
    env = {**os.environ, "REDIS_CHANNELS_PASSWORD": "molecule-shared-secret",
           "REDIS_CACHE_PASSWORD": "molecule-app-secret"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(PROJECT / "tests" / "django_round_trip.py"),
         str(tmp_path / "redis_settings.py"), "app"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {
        "message": {"type": "chat.message", "text": "hi"},
        "cache": "hello",
    }


# --- Issue 19 #6, the allowed switch path: Redis 7.0 data into Valkey ----------------

MOVED = {"name": "moved", "port": 6396, "profile": "channels"}
MOVED_KEYS = {f"moved:{i}": f"value {i}" for i in range(200)}


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Keys written under Redis 7.0 (the Debian 12 container), its RDB taken with the
    CLI, put in a new Valkey instance's data directory before the instance first
    starts (docs/role.md, "Switching between Redis and Valkey", step 2), the role run
    on the Valkey container; then the instance removed with its data (purge)."""
    names = host_names()
    source = next(n for n in names if n.endswith("debian12"))
    target = next(n for n in names if flavour_of(n).name == "valkey")
    src, dst = (testinfra.get_host(f"podman://{n}") for n in (source, target))
    for key, value in MOVED_KEYS.items():
        assert redis_cli(src, *CACHE, "SET", key, value).stdout.strip() == "OK"
    dumped = redis_cli(src, *CACHE, "--rdb", "/tmp/moved.rdb")
    assert dumped.rc == 0, dumped.stderr
    redis_cli(src, *CACHE, "DEL", *MOVED_KEYS)
    local = tmp_path_factory.mktemp("moved") / "dump.rdb"
    subprocess.run(["podman", "cp", f"{source}:/tmp/moved.rdb", str(local)], check=True)
    src.run("rm -f /tmp/moved.rdb")
    f = flavour_of(target)
    data = f.data("moved")
    dst.check_output(f"install -d -o {f.user} -g {f.group} -m 0750 {data}")
    subprocess.run(["podman", "cp", str(local), f"{target}:{data}/dump.rdb"], check=True)
    dst.check_output(f"chown {f.user}:{f.group} {data}/dump.rdb")
    with_moved = molecule_instances()
    with_moved["redis_tuned_instances"] = [*with_moved["redis_tuned_instances"], MOVED]  # type: ignore[list-item]
    run = run_site(target, with_moved)
    found = redis_cli(dst, "moved", MOVED["port"], "--raw", "MGET", *MOVED_KEYS).stdout.splitlines()
    log = dst.run(f"grep -i 'RDB' {f.log('moved')}").stdout
    gone = molecule_instances()
    gone["redis_tuned_instances"] = [  # type: ignore[list-item]
        *gone["redis_tuned_instances"],
        {**MOVED, "state": "absent", "purge": True},  # type: ignore[misc]
    ]
    removed = run_site(target, gone)
    return {
        "header": local.read_bytes()[:9],
        "run": run,
        "found": found,
        "log": log,
        "removed": removed,
        "left": dst.file(data).exists,
    }


def test_keys_written_under_redis_7_are_there_under_valkey(migrated: dict[str, Any]) -> None:
    assert migrated["header"] == b"REDIS0010"  # Redis 7.0's RDB version 10
    run = migrated["run"]
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert migrated["found"] == list(MOVED_KEYS.values())
    assert "Loading RDB produced by Redis version 7.0" in migrated["log"], migrated["log"]
    removed = migrated["removed"]
    assert removed.returncode == 0, (removed.stdout + removed.stderr)[-3000:]
    assert migrated["left"] is False  # purged: the containers are as molecule.yml has them
