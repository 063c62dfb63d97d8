"""Live apply: what the role compares, sets live or restarts for, against a real
redis-server where it matters (the immutable lists are data, checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis_tuned_plan as f  # roles/redis_tuned/lib/redis_tuned_plan
import yaml
from support import redis_server
from test_plan import ONE, plan, restarts

ROLE = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned"
IMMUTABLE = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())[
    "__redis_tuned_immutable_directives"
]
STARTED = 1795809600.5
CONF = "/etc/redis/redis-default.conf"
CHECKER = ROLE / "files" / "check-config"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    with redis_server(tmp_path_factory.mktemp("live")) as port:
        client = redis.Redis(port=port, decode_responses=True)
        client.ping()
        yield client


def installed_list(client: redis.Redis) -> list[str]:
    version = str(client.info("server")["redis_version"])
    key = {"7.0": "redis-7.0", "8.0": "redis-8.0"}.get(".".join(version.split(".")[:2]))
    if key is None:
        pytest.skip(f"no immutable list kept for redis-server {version}")
    return list(IMMUTABLE[key]) + list(IMMUTABLE["protected"]) + list(IMMUTABLE["aliases"])


def test_every_listed_directive_is_refused_live_by_the_installed_server(server) -> None:  # type: ignore[no-untyped-def]
    """CONFIG SET of each listed name (to its own current value) is refused."""
    for name in installed_list(server):
        current = server.config_get(name).get(name, "")
        with pytest.raises(redis.ResponseError) as refused:
            server.config_set(name, current)
        text = str(refused.value)
        assert "immutable" in text or "protected" in text or "Unknown option" in text, (name, text)


def test_every_other_directive_is_set_live_by_the_installed_server(server) -> None:  # type: ignore[no-untyped-def]
    """And every directive not listed is accepted (set to its current value)."""
    listed = set(installed_list(server)) | {"requirepass", "masterauth", "masteruser"}
    refused = []
    for name, current in sorted(server.config_get("*").items()):
        if name in listed:
            continue
        try:
            server.config_set(name, current)
        except redis.ResponseError as exc:
            refused.append((name, str(exc)))
    assert refused == [], refused


def state(live: dict[str, str], started: float | None = STARTED) -> dict[str, Any]:
    return {
        "units": {"redis-server@default.service": {"started": started}},
        "mtimes": {CONF: STARTED + 10},  # the file is newer than the process
        "live_config": {"default": live} if live is not None else {},
    }


def test_a_runtime_directive_is_set_live_and_restarts_nothing() -> None:
    the_plan = plan(instances=[{**ONE, "config": {"timeout": 121, "maxmemory": "64mb"}}])
    live = {d: v for d, v in the_plan["instances"][0]["live"].items()}
    live |= {"timeout": "120", "maxmemory": "0"}
    changes = f.live_changes(the_plan, state(live), IMMUTABLE, [CONF])
    assert changes["default"]["set"] == {"maxmemory": str(64 * 1024**2), "timeout": "121"}
    assert changes["default"]["restart"] == [] and changes["default"]["drift"] is False
    # The config file is newer than the process, yet no restart: it was compared live.
    assert restarts(the_plan, state(live), [CONF], changes) == []
    # Without a live comparison the file rule restarts it (as before).
    assert restarts(the_plan, state(live), [CONF]) == ["default"]


def test_an_immutable_directive_restarts_and_drift_is_named() -> None:
    the_plan = plan(instances=[{**ONE, "config": {"tcp-backlog": 1024}}])
    live = dict(the_plan["instances"][0]["live"]) | {"tcp-backlog": "511", "timeout": "7"}
    changes = f.live_changes(the_plan, state(live), IMMUTABLE, [])
    assert changes["default"]["restart"] == ["tcp-backlog"]
    assert changes["default"]["drift"] is True  # the file did not change this run
    assert restarts(the_plan, state(live), [], changes) == ["default"]


def test_a_directive_config_get_cannot_show_falls_back_to_the_file_rule() -> None:
    the_plan = plan()
    live = dict(the_plan["instances"][0]["live"])
    live.pop("dbfilename")
    changes = f.live_changes(the_plan, state(live), IMMUTABLE, [])
    assert changes["default"]["unverifiable"] == ["dbfilename"]
    assert restarts(the_plan, state(live), [], changes) == ["default"]


def test_config_set_line_quotes_as_redis_cli_reads_it() -> None:
    line = f.config_set({"save": "900 1 300 10", "notify-keyspace-events": 'a"b\\c'})
    assert line == 'CONFIG SET save "900 1 300 10" notify-keyspace-events "a\\"b\\\\c"'


def test_live_summary_says_what_happened_and_fails_on_a_refusal() -> None:
    live = {
        "a": {"set": {"timeout": "121"}, "restart": [], "drift": False, "tls_reload": False},
        "b": {"set": {"maxclients": "1"}, "restart": [], "drift": True, "tls_reload": False},
        "c": {"set": {}, "restart": ["tcp-backlog"], "drift": False, "tls_reload": False},
    }
    results = [
        {"__redis_tuned_instance": {"name": "a"}, "rc": 0, "stdout": "OK"},
        {"__redis_tuned_instance": {"name": "b"}, "rc": 0, "stdout": "ERR CONFIG SET failed"},
    ]
    summary = f.live_summary(results, live)
    assert summary["ok"] is False
    assert summary["lines"] == [
        "a: applied live, no restart: timeout 121",
        "b: Redis refused the live change (maxclients 1): ERR CONFIG SET failed",
    ]  # c: its restart applies it all (restart_summary reports that)
    check_mode = f.live_summary([{"__redis_tuned_instance": {"name": "a"}, "skipped": True}], live)
    assert check_mode["lines"][0] == "a: would be applied live, no restart: timeout 121"


def probe(
    tmp_path: Path, live: list[dict[str, Any]], secret: str, checker: str = str(CHECKER)
) -> dict[str, Any]:
    """The probe module run as Ansible runs it, on ``live`` instances."""
    path = tmp_path / "admin.secret"
    path.write_text(secret)
    args = {
        "live": live, "live_user": "default", "live_secret": str(path), "checker": checker,
        "_ansible_check_mode": False, "_ansible_diff": False,
    }  # fmt: skip
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    out = subprocess.run(
        [sys.executable, str(ROLE / "library" / "redis_tuned_probe.py"), str(argfile)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    result = dict(json.loads(out.stdout))
    result["_raw"] = out.stdout + out.stderr
    return result


def test_the_probe_reads_the_live_config_without_secrets(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = server.connection_pool.connection_kwargs["port"]
    server.config_set("requirepass", "probe-secret-pw")
    try:
        live = [{"name": "x", "args": ["-h", "127.0.0.1", "-p", str(port)],
                 "directives": ["timeout", "requirepass", "no-such-directive"]}]  # fmt: skip
        result = probe(tmp_path, live, "probe-secret-pw", checker="")
        assert result["live_config"]["x"]["timeout"] == "0"
        assert "requirepass" not in result["live_config"]["x"]
        assert "probe-secret-pw" not in result["_raw"]
    finally:
        redis.Redis(port=port, password="probe-secret-pw").config_set("requirepass", "")


def test_restarts_say_why_and_how_many_keys_they_drop_or_stay_pending() -> None:
    two = [
        {**ONE, "config": {"tcp-backlog": 1024}},
        {"name": "c", "port": 6390, "profile": "cache"},
    ]
    the_plan = plan(instances=two)
    live = {
        "default": dict(the_plan["instances"][0]["live"]) | {"tcp-backlog": "511"},
        "c": dict(the_plan["instances"][1]["live"]) | {"tcp-backlog": "511"},
    }
    running = {
        "units": {
            "redis-server@default.service": {"started": STARTED},
            "redis-server@c.service": {"started": STARTED},
        },
        "mtimes": {},
        "live_config": live,
        "live_keys": {"default": 7, "c": 12},
    }
    dropin_c = "/etc/systemd/system/redis-server@c.service.d/redis-tuned.conf"
    changes = f.live_changes(the_plan, running, IMMUTABLE, [])
    why = f.restart_reasons(the_plan, running, [dropin_c], changes)
    assert why == {"default": ["tcp-backlog"], "c": ["unit drop-in"]}
    assert f.restart_summary(the_plan, running, why) == [
        "default: restart for tcp-backlog",  # persists (guide): no keys lost
        "c: restart for unit drop-in (drops 12 keys: no persistence)",
    ]
    deferred = {**the_plan, "restart_policy": "deferred"}
    assert f.restart_summary(deferred, running, why)[0] == (
        "default: restart pending: tcp-backlog (redis_tuned_restart_policy: deferred)"
    )
    # ...and the expectations file says what is pending, for the verification.
    from test_plan import LAYOUT

    files = f.host_files(deferred, LAYOUT, changes)
    expect = next(e for e in files["files"] if e["path"].endswith("/default.json"))
    assert json.loads(expect["content"])["pending_restart"] == ["tcp-backlog"]
    # What the config no longer sets is not listed: the verification does not check it,
    # and before the write nobody knows whether it waits (a CONFIG REWRITE adds lines).
    dropped = {"default": {**changes["default"], "restart": ["hz (dropped from the config)",
                                                             "tcp-backlog"]}}  # fmt: skip
    expect = next(
        e for e in f.host_files(deferred, LAYOUT, dropped)["files"]
        if e["path"].endswith("/default.json")
    )  # fmt: skip
    assert json.loads(expect["content"])["pending_restart"] == ["tcp-backlog"]
    plain = next(
        e for e in f.host_files(the_plan, LAYOUT)["files"] if e["path"].endswith("/default.json")
    )
    assert "pending_restart" not in json.loads(plain["content"])


def test_tls_files_are_reloaded_live_once_not_restarted() -> None:
    """A changed certificate: CONFIG SET of the TLS file directives (the same paths)
    reloads it in the running process; the marker of that reload keeps the next run
    from doing it again; without a live comparison it would be a restart."""
    from test_plan import TLS_DIR, TLS_ON

    the_plan = plan(tls={**TLS_ON})
    inst = the_plan["instances"][0]
    cert, marker = f"{TLS_DIR}/redis.crt", "/var/lib/redis_tuned/default.tls-loaded"
    live = dict(inst["live"])
    base = {"units": {inst["unit"]: {"started": STARTED}}, "live_config": {"default": live}}
    newer = {**base, "mtimes": {cert: STARTED + 5}}
    changes = f.live_changes(the_plan, newer, IMMUTABLE, [])
    assert changes["default"]["tls_reload"] is True and changes["default"]["set"] == {}
    assert f.restart_reasons(the_plan, newer, [], changes) == {}
    assert f.restart_reasons(the_plan, newer, []) == {"default": ["TLS files"]}
    sent = f.live_set(inst, changes["default"])
    assert sent == {
        d: inst["live"][d] for d in ("tls-cert-file", "tls-key-file", "tls-ca-cert-file")
    }
    reloaded = {**base, "mtimes": {cert: STARTED + 5, marker: STARTED + 6}}
    assert f.live_changes(the_plan, reloaded, IMMUTABLE, [])["default"]["tls_reload"] is False
    this_run = f.live_changes(the_plan, reloaded, IMMUTABLE, [f"{TLS_DIR}/ca.crt"])
    assert this_run["default"]["tls_reload"] is True
    summary = f.live_summary(
        [{"__redis_tuned_instance": {"name": "default"}, "rc": 0, "stdout": "OK"}], this_run
    )
    assert summary["lines"] == [
        "default: applied live, no restart: TLS certificate, key and CA reloaded"
    ]


def test_a_directive_dropped_from_the_config_restarts() -> None:
    """tcp-backlog 1024 was in the file; the new file leaves it out (Redis's default,
    511): CONFIG GET cannot tell what the default is, a restart applies it."""
    the_plan = plan()
    live = dict(the_plan["instances"][0]["live"]) | {"tcp-backlog": "1024"}
    was = dict(the_plan["instances"][0]["live"]) | {"tcp-backlog": "1024", "port": "6379"}
    state_ = {**state(live), "conf_directives": {"default": was}}
    changes = f.live_changes(the_plan, state_, IMMUTABLE, [CONF])
    assert changes["default"]["restart"] == ["tcp-backlog (dropped from the config)"]
    assert f.restart_reasons(the_plan, state_, [CONF], changes) == {
        "default": ["tcp-backlog (dropped from the config)"]
    }
    # A value the process never took (restart policy deferred): it runs with the
    # default already, nothing to restart for.
    never_taken = {**state_, "live_config": {"default": live | {"tcp-backlog": "511"}}}
    assert f.live_changes(the_plan, never_taken, IMMUTABLE, [CONF])["default"]["restart"] == []


# --- issue 18: live apply on every configuration the role accepts --------------------


def test_tls_only_switched_on_closes_the_plain_port_live_and_back() -> None:
    """#1: port is compared live like any other directive (CONFIG SET port 0 closes
    the plain listener in the same run); before, a TLS-only switch left 6379 serving
    clear text with a green run."""
    from test_plan import TLS_ON

    both = plan(tls={**TLS_ON, "only": False})
    only = plan(tls={**TLS_ON, "only": True})
    assert only["instances"][0]["live"]["port"] == "0"
    running_both = dict(both["instances"][0]["live"])
    changes = f.live_changes(only, state(running_both), IMMUTABLE, [CONF])
    assert changes["default"]["set"] == {"port": "0"}
    assert changes["default"]["restart"] == []
    assert f.live_set(only["instances"][0], changes["default"]) == {"port": "0"}
    # ...and back: the plain port reopened live.
    back = f.live_changes(both, state(dict(only["instances"][0]["live"])), IMMUTABLE, [CONF])
    assert back["default"]["set"] == {"port": "6379"}


def test_a_restart_coming_sends_no_config_set_so_nofile_and_maxclients_converge() -> None:
    """#9: redis_tuned_nofile raised with maxclients: the drop-in restarts the instance,
    so maxclients is not CONFIG SET first (Redis refused it against the old limit and
    the run failed before the restart was queued, on every run)."""
    the_plan = plan(nofile=30000, instances=[{**ONE, "config": {"maxclients": 20000}}])
    inst = the_plan["instances"][0]
    live = dict(inst["live"]) | {"maxclients": "10000"}
    dropin = inst["paths"]["dropin"]
    changes = f.live_changes(the_plan, state(live), IMMUTABLE, [CONF, dropin])
    assert changes["default"]["set"] == {"maxclients": "20000"}
    why = f.restart_reasons(the_plan, state(live), [CONF, dropin], changes)
    assert why == {"default": ["unit drop-in"]}
    assert f.live_set(inst, changes["default"], why, "auto") == {}
    # deferred: the rest goes live, maxclients waits for the restart with the limit.
    live2 = live | {"timeout": "7"}
    changes2 = f.live_changes(the_plan, state(live2), IMMUTABLE, [CONF, dropin])
    assert f.live_set(inst, changes2["default"], why, "deferred") == {"timeout": "300"}
    summary = f.live_summary([], changes2, "deferred", why)
    assert summary["lines"] == [
        "default: would be applied live, no restart: timeout 300, maxclients waits for the restart"
    ]
    assert f.live_summary([], changes2, "auto", why)["lines"] == []  # the restart applies it


def test_maxmemory_is_never_shrunk_live_below_what_the_instance_holds() -> None:
    """#10: adding an instance halves the others' maxmemory auto; a noeviction
    instance holding more than its new share would refuse every write. Refused
    before anything is written, with the numbers."""
    one = plan(8192, instances=[{**ONE, "profile": "channels"}])
    two = plan(8192, instances=[{**ONE, "profile": "channels"}, {"name": "c", "port": 6390}])
    before = int(one["instances"][0]["config"]["maxmemory"])
    after = int(two["instances"][0]["config"]["maxmemory"])
    assert after < before
    held = int(after * 1.05)  # fits the old share, not the new one with its margin
    running = {
        "units": {"redis-server@default.service": {"started": STARTED}},
        "live_config": {"default": {"maxmemory": str(before)}},
        "live_memory": {"default": held},
    }
    lines = f.live_refusals(two, running)
    assert len(lines) == 1 and lines[0].startswith(
        f"default: maxmemory would shrink to {after} bytes, below what it holds ({held} bytes"
    )
    assert f.live_refusals(one, running) == []  # no shrink
    small = {**running, "live_memory": {"default": after // 2}}
    assert f.live_refusals(two, small) == []  # a shrink with room to spare


def test_a_running_instance_the_role_cannot_read_is_reported_not_restarted() -> None:
    """#15: a replaced admin secret, a TLS handshake failure or NOPERM made the probe
    treat the instance as not running (and restart it for its changed file)."""
    the_plan = plan()
    unreadable = {
        "units": {"redis-server@default.service": {"started": STARTED}},
        "live_errors": {"default": "WRONGPASS invalid username-password pair"},
    }
    lines = f.live_refusals(the_plan, unreadable)
    assert lines and lines[0].startswith(
        "default: running, but the role cannot read its live config (WRONGPASS"
    )
    stopped = {**unreadable, "units": {"redis-server@default.service": {"started": None}}}
    assert f.live_refusals(the_plan, stopped) == []


def test_the_probe_finds_an_instance_where_its_current_file_says_it_listens(
    server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A port switch not yet applied: the plan's address does not answer yet, the
    current config file's does; the probe reads it there, says where, and reads what
    the instance holds (used_memory) and its keys."""
    port = server.connection_pool.connection_kwargs["port"]
    conf = tmp_path / "redis-x.conf"
    conf.write_text(f"port {port}\ntimeout 0\n")
    planned = ["-h", "127.0.0.1", "-p", "1"]  # nothing listens on port 1
    server.set("probe:key", "v")
    result = probe(
        tmp_path,
        [{"name": "x", "args": planned, "host": "127.0.0.1", "tls_args": [],
          "directives": ["timeout"], "conf": str(conf)}],
        "",
    )  # fmt: skip
    assert result["live_args"] == {"x": ["-h", "127.0.0.1", "-p", str(port)]}
    assert result["live_config"]["x"]["timeout"] == "0"
    assert result["live_memory"]["x"] > 100_000 and result["live_keys"]["x"] >= 1
    # Nowhere to be read: the reason, for live_refusals.
    conf.write_text("port 2\n")
    gone = probe(
        tmp_path,
        [{"name": "x", "args": planned, "host": "127.0.0.1", "tls_args": [],
          "directives": ["timeout"], "conf": str(conf)}],
        "",
    )  # fmt: skip
    assert "x" in gone["live_errors"] and "x" not in gone["live_config"]
    server.delete("probe:key")


def test_rename_command_and_loadmodule_are_compared_file_to_file() -> None:
    """#12: CONFIG GET shows neither: a change was never applied (no restart) and the
    verification expected what the server cannot answer, failing forever."""
    rename = {"rename-command": ['FLUSHALL ""', 'DEBUG ""']}
    the_plan = plan(instances=[{**ONE, "config": rename}])
    inst = the_plan["instances"][0]
    assert "rename-command" not in inst["expectations"]["config"]
    assert "rename-command" not in inst["live"]
    live = dict(inst["live"])
    on_disk = {"conf_directives": {"default": {}}}  # the running file has none
    changes = f.live_changes(the_plan, {**state(live), **on_disk}, IMMUTABLE, [CONF])
    assert changes["default"]["restart"] == ["rename-command (read only at start)"]
    # The file already says so, and the process read it (started after it): nothing.
    same = {"default": {"rename-command": f.file_form("rename-command", rename["rename-command"])}}
    settled = {**state(live), "mtimes": {CONF: STARTED - 5}, "conf_directives": same}
    assert f.live_changes(the_plan, settled, IMMUTABLE, [])["default"]["restart"] == []
    # Written by a run that failed before the restart: the process is older than the file.
    stale = {**settled, "mtimes": {CONF: STARTED + 5}}
    assert f.live_changes(the_plan, stale, IMMUTABLE, [])["default"]["restart"] == [
        "rename-command (read only at start)"
    ]
    # Taken out of the config again: a restart drops it.
    dropped = f.live_changes(plan(), {**settled, "conf_directives": same}, IMMUTABLE, [CONF])
    assert dropped["default"]["restart"] == ["rename-command (read only at start)"]


def test_the_file_form_is_what_the_probe_reads_back(tmp_path: Path) -> None:
    """file_form (the plan) and the probe's reading of a written file agree."""
    value = ['FLUSHALL ""', "CONFIG admin-config"]
    conf = tmp_path / "redis-x.conf"
    conf.write_text("\n".join(f.conf_lines({"rename-command": value, "timeout": 3})) + "\n")
    read = probe(tmp_path, [{"name": "x", "args": ["-p", "1"], "conf": str(conf)}], "")
    assert read["conf_directives"]["x"]["rename-command"] == f.file_form("rename-command", value)


def dump_of(tmp_path: Path, lines: list[str]) -> tuple[str, str]:
    conf = tmp_path / "redis-default.conf"
    conf.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["sh", str(CHECKER), "--dump", str(conf)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return str(conf), out.stdout


@pytest.mark.parametrize(
    ("directive", "value"),
    [
        ("client-output-buffer-limit", "pubsub 32mb 8mb 60"),
        ("notify-keyspace-events", "Ex"),
        ("dir", "LINK"),
    ],
)
def test_values_redis_rewrites_are_compared_as_redis_answers_them(
    server, tmp_path: Path, directive: str, value: str
) -> None:  # type: ignore[no-untyped-def]
    """#11: the hand-kept normaliser decided CONFIG SETs and restarts, so a value
    Redis rewrites never matched: a CONFIG SET (or, for dir, a restart) every run.
    The wanted value is what a throwaway server makes of the file (check-config
    --dump); the same live value then needs nothing."""
    real = tmp_path / "data-real"
    real.mkdir()
    (tmp_path / "data-link").symlink_to(real)
    if directive == "dir":
        value = str(tmp_path / "data-link")
    config = {"dir": str(real), directive: value}  # a dir that exists, as on the host
    the_plan = plan(instances=[{**ONE, "config": config}])
    inst = the_plan["instances"][0]
    conf, dump = dump_of(tmp_path, f.conf_lines(inst["config"]))
    the_plan["instances"][0]["paths"]["conf"] = conf
    # The live instance runs with the value as Redis took it.
    if directive == "dir":
        answered = str(real)  # dir is protected: Redis answers the directory it is in
    else:
        server.config_set(directive, value)
        answered = server.config_get(directive)[directive]
    live = dict(inst["live"]) | {directive: answered, "dir": str(real)}
    unit = {"units": {inst["unit"]: {"started": STARTED}}, "mtimes": {}}
    running = {**unit, "live_config": {"default": live}}
    if directive == "dir":  # no spelling rule can know a symlink: a restart every run
        assert f.live_changes(the_plan, running, IMMUTABLE, [])["default"]["restart"] == ["dir"]
    new = f.live_changes(the_plan, running, IMMUTABLE, [], dump)["default"]
    assert (new["set"], new["restart"]) == ({}, []), new
    # ...and a real difference still shows, in Redis's spelling.
    if directive != "dir":
        server.config_set(
            directive, {"notify-keyspace-events": ""}.get(directive, "pubsub 1mb 1mb 1")
        )
        live[directive] = server.config_get(directive)[directive]
        differs = f.live_changes(the_plan, running, IMMUTABLE, [], dump)["default"]
        assert differs["set"] == {directive: answered}
        server.config_set(directive, answered)


def test_a_dropped_directive_goes_back_to_redis_default_live_decided_from_state() -> None:
    """#14: a mutable directive taken out of the config went back to Redis's default
    only by a restart (dropping a cache's or a Channels layer's keys); #13: and only
    when the file on disk still had it, so a run that failed after writing the new
    file lost it. The default comes from the throwaway server of the same binary
    (the dump of the new file): set live, whatever the old file said."""
    the_plan = plan()
    live = dict(the_plan["instances"][0]["live"]) | {"hz": "20", "tcp-backlog": "1024"}
    dump = f"#redis-tuned-dump {CONF} 4\nhz\n10\ntcp-backlog\n511\n"
    for on_disk in ({"hz": "20", "tcp-backlog": "1024"}, {}):  # the old file, or already new
        running = {**state(live), "conf_directives": {"default": on_disk}}
        changes = f.live_changes(the_plan, running, IMMUTABLE, [CONF], dump)["default"]
        assert changes["set"] == {"hz": "10"}, on_disk
        assert changes["restart"] == ["tcp-backlog (back to Redis's default)"], on_disk
    # Where it already runs with the default: nothing.
    settled = {**state(dict(the_plan["instances"][0]["live"]) | {"hz": "10"})}
    assert f.live_changes(the_plan, settled, IMMUTABLE, [], dump)["default"]["set"] == {}


def test_acl_exporters_and_daemon_reload_are_decided_from_state() -> None:
    """#13: ACL LOAD, exporter restarts and daemon-reload came from "changed in this
    run": a run that failed after writing the files (one refused config among
    several) left a rotated password on disk that no later run loaded."""
    from test_plan import LAYOUT

    the_plan = plan(exporter={"enabled": True})
    inst = the_plan["instances"][0]
    acl, marker = inst["paths"]["acl"], inst["paths"]["acl_loaded"]
    base = {"units": {inst["unit"]: {"started": STARTED}}}
    assert f.acl_loads(the_plan, {**base, "mtimes": {acl: STARTED - 1}}) == []
    assert f.acl_loads(the_plan, {**base, "mtimes": {acl: STARTED - 1}}, [acl]) == ["default"]
    # written by a failed run after the process started, never loaded: load it now
    stale = {**base, "mtimes": {acl: STARTED + 5}}
    assert f.acl_loads(the_plan, stale) == ["default"]
    assert f.acl_loads(the_plan, {**base, "mtimes": {acl: STARTED + 5, marker: STARTED + 6}}) == []
    # not running: started by this run, which reads the file
    assert f.acl_loads(the_plan, {"units": {}, "mtimes": {acl: STARTED + 5}}, [acl]) == []

    env = f"{LAYOUT['exporter_dir']}/default.env"
    exporter = {"units": {"redis-tuned-exporter@default.service": {"started": STARTED}}}
    assert f.exporter_restarts(the_plan, {**exporter, "mtimes": {env: STARTED - 1}}, LAYOUT) == []
    assert f.exporter_restarts(the_plan, {**exporter, "mtimes": {env: STARTED + 1}}, LAYOUT) == [
        "default"
    ]
    assert f.exporter_restarts(the_plan, {**exporter, "mtimes": {}}, LAYOUT, [env]) == ["default"]

    assert f.daemon_reload({"units": {}}, ["/etc/systemd/system/x.service.d/redis-tuned.conf"])
    assert not f.daemon_reload({"units": {"a": {"need_reload": False}}}, ["/etc/redis/x.conf"])
    assert f.daemon_reload({"units": {"a": {"need_reload": True}}}, [])


def test_the_probes_dump_counts_only_for_files_this_run_did_not_change(
    server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The probe dumps the running instances' files as they were (no extra call on an
    idempotent rerun); a file this run changed is dumped again after the write."""
    port = server.connection_pool.connection_kwargs["port"]
    conf = tmp_path / "redis-x.conf"
    conf.write_text(f"port {port}\nhz 20\n")
    read = probe(
        tmp_path,
        [{"name": "x", "args": ["-h", "127.0.0.1", "-p", str(port)], "conf": str(conf)}],
        "",
    )
    assert f.parse_dump(read["dump"])[str(conf)]["hz"] == "20"
    the_plan = plan()
    live = dict(the_plan["instances"][0]["live"]) | {"hz": "20"}
    old = f"#redis-tuned-dump {CONF} 2\nhz\n20\n"
    new = f"#redis-tuned-dump {CONF} 2\nhz\n10\n"
    running = {**state(live), "dump": old}
    assert f.live_changes(the_plan, running, IMMUTABLE, [])["default"]["set"] == {}
    assert f.live_changes(the_plan, running, IMMUTABLE, [CONF], new)["default"]["set"] == {
        "hz": "10"
    }


def test_before_the_write_the_probes_dump_of_the_old_file_is_not_the_new_files() -> None:
    """The expectations (restart policy deferred) are decided before the files are
    written: the probe's dump is of the old file then, and must not stand for the new
    one (it made a pending tcp-backlog 1024 look applied: no warning)."""
    the_plan = plan(instances=[{**ONE, "config": {"tcp-backlog": 1024}}])
    live = dict(the_plan["instances"][0]["live"]) | {"tcp-backlog": "511"}
    old = f"#redis-tuned-dump {CONF} 2\ntcp-backlog\n511\n"
    before = f.live_changes(the_plan, {**state(live), "dump": old}, IMMUTABLE)["default"]
    assert before["restart"] == ["tcp-backlog"]


def test_the_probe_presents_the_client_certificate_as_the_running_server_wants(
    tmp_path: Path,
) -> None:
    """Switching tls-auth-clients yes on, the plan's flags name a client certificate
    the role has not copied yet; switching it off, they name none while the running
    server still asks for one: the probe tries without the missing files, and with
    the certificate on the host, before calling the instance unreadable."""
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    planned = ["-h", "127.0.0.1", "--tls", "--cacert", "/ca", "--cert", str(cert), "--key",
               str(key), "-p", "6380"]  # fmt: skip
    plain_tls = ["-h", "127.0.0.1", "--tls", "--cacert", "/ca", "-p", "6380"]
    variants = _probe_module()._certificate_variants
    assert variants(planned, [str(cert), str(key)]) == [plain_tls]  # not copied yet
    cert.write_text("c")
    key.write_text("k")
    assert variants(planned, [str(cert), str(key)]) == [planned]
    assert variants(plain_tls, [str(cert), str(key)]) == [plain_tls, planned]


def _probe_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "probe_mod", ROLE / "library" / "redis_tuned_probe.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_replicas_dump_never_dials_its_primary_nor_prints_its_secret(tmp_path: Path) -> None:
    """A replica's file names its primary (replicaof, masterauth): the throwaway
    server that reads it for the dump must not connect there (the primary would fork
    to send it a full copy of its data), and the dump, which Ansible receives, holds
    no password."""
    primary_dir = tmp_path / "primary"
    primary_dir.mkdir()
    with redis_server(primary_dir) as port:
        _, out = dump_of(
            tmp_path,
            [f"replicaof 127.0.0.1 {port}", "masteruser redis-tuned-replica",
             "masterauth dump-secret-value", "repl-timeout 61"],
        )  # fmt: skip
        stats = redis.Redis(port=port).info("stats")
    assert "\nrepl-timeout\n61\n" in out  # the file was read
    assert "\nreplicaof\n\n" in out  # by a server with no primary
    assert "masteruser\nredis-tuned-replica\n" in out
    assert "dump-secret-value" not in out and "\nmasterauth\n" not in out
    assert stats["sync_full"] == 0 and stats["sync_partial_err"] == 0


def test_the_primary_a_node_replicates_from_is_never_compared_nor_restarted_for() -> None:
    """After a failover Sentinel has sent REPLICAOF and rewritten the line in the file;
    the role's file has none (issue 20: replicaof is the running group's). Neither the
    file on disk (with or without a dump) nor the live value may restart the node or
    CONFIG SET it: a restart of the new primary, or a REPLICAOF back, would demote it."""
    the_plan = plan()
    live = dict(the_plan["instances"][0]["live"]) | {"replicaof": "10.0.0.12 6379"}
    on_disk = {"replicaof": "10.0.0.12 6379", "slaveof": "10.0.0.12 6379"}
    running = {**state(live), "conf_directives": {"default": on_disk}}
    dump = f"#redis-tuned-dump {CONF} 2\nreplicaof\n\n"
    for changes in (
        f.live_changes(the_plan, running, IMMUTABLE, [CONF]),  # check mode: no dump
        f.live_changes(the_plan, running, IMMUTABLE, [CONF], dump),
        f.live_changes(the_plan, running, IMMUTABLE, []),
    ):
        assert changes["default"]["set"] == {} and changes["default"]["restart"] == []


def test_restart_all_restarts_every_running_instance_once_and_is_a_bool() -> None:
    """redis_tuned_restart_all (playbooks/rolling-restart.yml -e): every running instance,
    needed or not, restarted once; one not running is started, not restarted; deferred
    reports them pending; anything but a bool is refused in the plan."""
    two = [ONE, {"name": "c", "port": 6390, "profile": "cache"}]
    the_plan = plan(instances=two, restart_all=True)
    assert the_plan["restart_all"] is True and plan(instances=two)["restart_all"] is False
    live = {i["name"]: dict(i["live"]) for i in the_plan["instances"]}
    running = {
        "units": {"redis-server@default.service": {"started": STARTED, "active": True,
                                                   "file_state": "enabled"}},
        "mtimes": {}, "live_config": live, "live_keys": {},
    }  # fmt: skip
    from test_plan import LAYOUT

    decision = f.decide(the_plan, running, LAYOUT, IMMUTABLE, {"changed_paths": []})
    assert decision["restart"] == ["default"]  # c is not running: started
    assert decision["restart_why"] == {"default": [f.RESTART_ALL]}
    assert decision["start"] == ["c"] and decision["config_set"] == {}
    quiet = f.decide(plan(instances=two), running, LAYOUT, IMMUTABLE, {"changed_paths": []})
    assert quiet["restart"] == [] and quiet["restart_why"] == {}
    deferred = f.decide(the_plan, running, LAYOUT, IMMUTABLE, {"changed_paths": []}, "deferred")
    assert deferred["restart"] == [] and deferred["restart_why"] == {"default": [f.RESTART_ALL]}
    assert any(
        "redis_tuned_restart_all must be true or false (got 'yes')" in p
        for p in plan(restart_all="yes")["problems"]
    )


def test_restart_only_restarts_the_named_and_leaves_the_others_pending() -> None:
    """redis_tuned_restart_only: the named instance restarts; the other's restart waits
    as with deferred (reported pending, listed in its expectations file, its live
    changes still set live); a name that is not an instance name is refused."""
    raised = {"tcp-backlog": 1024}
    two = [{**ONE, "config": {**raised, "timeout": 60}},
           {"name": "c", "port": 6390, "profile": "cache", "config": raised}]  # fmt: skip
    the_plan = plan(instances=two, restart_only=["c"])
    live = {
        i["name"]: dict(i["live"]) | {"tcp-backlog": "511", "timeout": "300"}
        for i in the_plan["instances"]
    }
    up = {"started": STARTED, "active": True, "file_state": "enabled"}
    running = {
        "units": {"redis-server@default.service": up, "redis-server@c.service": up},
        "mtimes": {}, "live_config": live, "live_keys": {"c": 3},
    }  # fmt: skip
    from test_plan import LAYOUT

    decision = f.decide(the_plan, running, LAYOUT, IMMUTABLE, {"changed_paths": []})
    assert decision["restart_why"] == {"default": ["tcp-backlog"], "c": ["tcp-backlog"]}
    assert decision["restart"] == ["c"]
    # default waits for its restart: what can be set live is (timeout), as deferred does.
    assert "timeout" in decision["config_set"]["default"] and "c" not in decision["config_set"]
    assert f.restart_summary(the_plan, running, decision["restart_why"], decision["restart"]) == [
        "default: restart pending: tcp-backlog (redis_tuned_restart_only: c)",
        "c: restart for tcp-backlog (drops 3 keys: no persistence)",
    ]
    before = f.live_changes(the_plan, running, IMMUTABLE, [])
    waits = f.waiting(the_plan, before)
    assert set(waits) == {"default"}
    expect = next(
        e for e in f.host_files(the_plan, LAYOUT, waits)["files"]
        if e["path"].endswith("/default.json")
    )  # fmt: skip
    assert json.loads(expect["content"])["pending_restart"] == ["tcp-backlog"]
    # No limit: nothing waits (policy auto); deferred: everything does.
    assert f.waiting(plan(instances=two), before) == {}
    assert set(f.waiting(plan(instances=two), before, "deferred")) == {"default", "c"}
    assert f.restarts_now(the_plan, ["default", "c"], "deferred") == []
    assert any(
        "redis_tuned_restart_only must be a list of instance names" in p
        for p in plan(restart_only=["../x"])["problems"]
    )
