"""The planning core's input boundary: hostile and careless role variables.

The argument specs check a converted copy of the variables; the role is handed the
raw values. Each case here passed through before the boundary existed and either
raised, planned something dangerous (a purge of /var/lib, a config line of its
own from a newline, a passwordless user), or planned no limit at all.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
import redis_tuned_plan as f  # roles/redis_tuned/lib/redis_tuned_plan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_plan import LAYOUT, ONE, by_name, plan, role_inputs

# --- paths come from the layout, never from a name or an unchecked value (issue 18 #6) ---

PATHS: dict[str, tuple[dict[str, Any], str]] = {
    "absent entry named .. with purge (would delete /var/lib)": (
        {"instances": [ONE, {"name": "..", "port": 6390, "state": "absent", "purge": True}]},
        "redis_tuned_instances[1] (..): name must match [a-z0-9_-]+",
    ),
    "a name with a trailing newline": (
        {"instances": [{**ONE, "name": "0\n"}]},
        "name must match [a-z0-9_-]+",
    ),
    "purge of dir /": (
        {
            "instances": [
                ONE,
                {
                    "name": "old",
                    "port": 6390,
                    "state": "absent",
                    "purge": True,
                    "config": {"dir": "/"},
                },
            ]
        },
        "redis_tuned_instances[1] (old): dir '/' must be a directory of the instance's own",
    ),
    "dir /etc (the files step would chown it to redis)": (
        {"instances": [{**ONE, "config": {"dir": "/etc"}}]},
        "dir '/etc' must be a directory of the instance's own",
    ),
    "dir inside /etc": (
        {"instances": [{**ONE, "config": {"dir": "/etc/redis/data"}}]},
        "dir '/etc/redis/data' must be a directory of the instance's own",
    ),
    "dir with ..": (
        {"instances": [{**ONE, "config": {"dir": "/var/lib/redis/../.."}}]},
        "dir '/var/lib/redis/../..' must be a directory of the instance's own",
    ),
    "relative dir": (
        {"instances": [{**ONE, "config": {"dir": "data"}}]},
        "dir 'data' must be a directory of the instance's own",
    ),
    "two instances share one data directory (redis_tuned_config)": (
        {
            "instances": [ONE, {"name": "cache", "port": 6390}],
            "config": {"dir": "/srv/redis/data"},
        },
        "dir '/srv/redis/data' is also the data of redis_tuned_instances[0] (default)",
    ),
    "an absent entry's purge would delete a present one's data": (
        {
            "instances": [
                {**ONE, "config": {"dir": "/srv/redis/a/b"}},
                {
                    "name": "old",
                    "port": 6390,
                    "state": "absent",
                    "purge": True,
                    "config": {"dir": "/srv/redis/a"},
                },
            ]
        },
        "dir '/srv/redis/a' is also the data of redis_tuned_instances[0] (default)",
    ),
    "logfile straight in /var/log": (
        {"instances": [{**ONE, "config": {"logfile": "/var/log/redis.log"}}]},
        "the directory of logfile '/var/log' must be a directory of the instance's own",
    ),
}


@pytest.mark.parametrize("case", list(PATHS))
def test_paths_are_an_instances_own(case: str) -> None:
    overrides, message = PATHS[case]
    result = plan(**overrides)
    assert any(message in p for p in result["problems"]), result["problems"]
    assert result["instances"] == [] or result["problems"]


def test_purge_deletes_the_dir_the_plan_derives() -> None:
    """dir set in redis_tuned_config is the instance's dir for the plan and for purge."""
    result = plan(
        instances=[ONE, {"name": "old", "port": 6390, "state": "absent", "purge": True}],
        config={},
    )
    assert result["removed_instances"][0]["dir"] == "/var/lib/redis/old"
    moved = plan(
        instances=[{"name": "old", "port": 6390, "state": "absent", "purge": True},
                   {**ONE, "config": {"dir": "/srv/redis/default"}}],
        config={"dir": "/srv/redis/old"},
    )  # fmt: skip
    assert moved["problems"] == []
    assert moved["removed_instances"][0]["dir"] == "/srv/redis/old"


def test_a_dir_or_logfile_outside_the_package_paths_is_made_writable() -> None:
    """The package unit is ProtectSystem=strict with ReadWritePaths /var/lib/redis and
    /var/log/redis: elsewhere the drop-in must add the path (issue 18 #16)."""
    inside = by_name(plan())["default"]
    assert inside["read_write_paths"] == [] and inside["log_dir"] == []
    out = plan(
        instances=[{**ONE, "config": {"dir": "/srv/redis/a", "logfile": "/srv/log/redis/a.log"}}]
    )
    assert out["problems"] == []
    inst = by_name(out)["default"]
    assert inst["read_write_paths"] == ["/srv/redis/a", "/srv/log/redis"]
    assert {"path": "/srv/log/redis", "owner": "redis", "mode": "0750"} in out["directories"]
    assert by_name(plan(instances=[{**ONE, "config": {"logfile": ""}}]))["default"]["log_dir"] == []


# --- nothing injects a line (issue 18 #7) ---------------------------------------------

INJECTION: dict[str, tuple[dict[str, Any], str]] = {
    "a newline in a value adds a bind line": (
        {"config": {"timeout": "0\nbind 0.0.0.0\nprotected-mode no"}},
        "redis_tuned_config.timeout holds a control character",
    ),
    "a newline in an instance's value": (
        {"instances": [{**ONE, "config": {"save": ["900 1", "60 1\nbind 0.0.0.0"]}}]},
        "redis_tuned_instances[0].config.save[1] holds a control character",
    ),
    "a newline in a rules string adds a user": (
        {
            "acl_users": [
                {"name": "app", "password": "x", "rules": "+@all\nuser root on nopass +@all"}
            ]
        },
        "redis_tuned_acl_users[0].rules holds a control character",
    ),
    "a newline in a password": (
        {"instances": [{**ONE, "password": "hunter2\nuser x on nopass"}]},
        "redis_tuned_instances[0].password holds a control character",
    ),
    "a tab in a directive name": (
        {"config": {"masterauth\t": "hunter2"}},
        "holds a control character",
    ),
    "a directive name with a trailing space": (
        {"config": {"bind ": "0.0.0.0"}},
        "redis_tuned_config: 'bind ' is not a redis.conf directive name",
    ),
    "a directive name with a leading space": (
        {"instances": [{**ONE, "config": {" include": "/tmp/x.conf"}}]},
        "redis_tuned_instances[0].config: ' include' is not a redis.conf directive name",
    ),
    "a quoted directive name": (
        {"config": {'"include"': "/tmp/x.conf"}},
        "'\"include\"' is not a redis.conf directive name",
    ),
    "nopass in a user's rules": (
        {"acl_users": [{"name": "app", "password": "x", "rules": "on nopass ~* +@all"}]},
        "redis_tuned_acl_users[0].rules: the rules may not set or drop a password (nopass)",
    ),
    "a password in a user's rules": (
        {"acl_users": [{"name": "app", "password": "x", "rules": ">hunter2 ~* +@all"}]},
        "the rules may not set or drop a password (>...)",
    ),
    "reset in an instance user's rules": (
        {
            "instances": [
                {**ONE, "acl_users": [{"name": "a", "password": "x", "rules": "RESET on"}]}
            ]
        },
        "redis_tuned_instances[0].acl_users[0].rules: the rules may not set or drop a password",
    ),
    "a control character in the client address": (
        {"client_address": "10.0.0.1\nbind"},
        "redis_tuned_verify_client_address holds a control character",
    ),
    "a control character in a sysctl value": (
        {"sysctl": {"vm.swappiness": "1\nkernel.x=1"}},
        "redis_tuned_sysctl.vm.swappiness holds a control character",
    ),
    "a control character in the exporter address": (
        {"exporter": {"listen_address": "0.0.0.0\n"}},
        "redis_tuned_exporter_listen_address holds a control character",
    ),
}


@pytest.mark.parametrize("case", list(INJECTION))
def test_nothing_injects_a_line(case: str) -> None:
    overrides, message = INJECTION[case]
    result = plan(**overrides)
    assert any(message in p for p in result["problems"]), result["problems"]
    assert result["instances"] == []  # nothing is planned on such input
    assert "hunter2" not in json.dumps(result)


# --- types as given (issue 18 #8) -----------------------------------------------------

TYPES: dict[str, tuple[dict[str, Any], str]] = {
    "an integer instance name (rendered the default user nopass)": (
        {"instances": [{"name": 6379, "port": 6379, "password": "x"}]},
        "redis_tuned_instances[0] (6379): name must be a string (got a int) (quote it)",
    ),
    "instances as a string": (
        {"instances": "name=a port=6379"},
        "redis_tuned_instances must be a list of instance entries",
    ),
    "an instance as a string": (
        {"instances": ["name=a port=6379"]},
        "redis_tuned_instances[0] must be a dict",
    ),
    "sysctl as a string": (
        {"sysctl": "vm.swappiness=1"},
        "redis_tuned_sysctl must be a dict of sysctl name -> value (got a string)",
    ),
    "config as a list": (
        {"config": ["maxmemory 1gb"]},
        "redis_tuned_config must be a dict of redis.conf directive -> value (got a list)",
    ),
    "an instance's config as a string": (
        {"instances": [{**ONE, "config": "maxmemory 1gb"}]},
        "redis_tuned_instances[0] (default): config must be a dict (got a string)",
    ),
    "acl_users as a dict": (
        {"acl_users": {"name": "app", "password": "x"}},
        "redis_tuned_acl_users must be a list of users",
    ),
    "a directive with a dict value": (
        {"config": {"save": {"900": 1}}},
        "redis_tuned_config.save must be a value or a list of values (got a dict)",
    ),
    "a directive with no value": (
        {"config": {"maxmemory": None}},
        "redis_tuned_config.maxmemory must be a value or a list of values",
    ),
    "a boolean port": (
        {"instances": [{**ONE, "port": True}]},
        "port must be a number (got a boolean)",
    ),
    "a profile as a list": (
        {"instances": [{**ONE, "profile": ["cache"]}]},
        "profile must be a string (got a list)",
    ),
    "maxmemory auto with no memory fact": (
        {"_memtotal": 0},
        "maxmemory auto gives each instance 0 bytes (0 MB of RAM known",
    ),
    "maxmemory auto with a tiny share": (
        {"memory_share": 0.0001},
        "below 32 MB (0 would mean no limit)",
    ),
    "a sysctl spelled with / below the backlog floor": (
        {"sysctl": {"net/core/somaxconn": 128}},
        "redis_tuned_sysctl sets net.core.somaxconn to 128, below the largest tcp-backlog",
    ),
    "a sysctl name that is not one": (
        {"sysctl": {"vm swappiness": 1}},
        "redis_tuned_sysctl: 'vm swappiness' is not a sysctl name",
    ),
    "a sysctl named both ways": (
        {"sysctl": {"vm.swappiness": 1, "vm/swappiness": 10}},
        "redis_tuned_sysctl names vm.swappiness twice",
    ),
    "a boolean open-files limit": ({"nofile": True}, "redis_tuned_nofile must be a number"),
}


@pytest.mark.parametrize("case", list(TYPES))
def test_types_as_given_are_normalised_or_refused(case: str) -> None:
    overrides, message = TYPES[case]
    memtotal = overrides.pop("_memtotal", 4096)
    try:
        result = plan(memtotal, **overrides)
    finally:
        if memtotal != 4096:
            overrides["_memtotal"] = memtotal
    assert any(message in p for p in result["problems"]), result["problems"]


def test_an_explicit_maxmemory_needs_no_memory_fact() -> None:
    result = plan(0, config={"maxmemory": "256mb"})
    assert result["problems"] == []


def test_a_sysctl_spelled_with_slashes_is_planned_with_dots() -> None:
    result = plan(sysctl={"vm/swappiness": 1})
    assert result["sysctls"]["vm.swappiness"] == 1 and "vm/swappiness" not in result["sysctls"]


# --- the whole input, generated -----------------------------------------------------

CONTROLS = "".join(chr(c) for c in [*range(32), 127])
text = st.text(
    alphabet=string.ascii_letters + string.digits + " -_./:*~&@+" + CONTROLS, max_size=12
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), text)
value = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
directive = st.sampled_from(
    ["maxmemory", "dir", "logfile", "bind", "timeout", "save", "tcp-backlog", "maxclients",
     "appendonly", "maxmemory-policy", "port", "masterauth", "include"]
) | text  # fmt: skip
config = st.dictionaries(directive, value, max_size=4) | value
user = st.fixed_dictionaries(
    {}, optional={"name": text | value, "password": text | value, "rules": text | value}
)
instance = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["default", "cache", "..", "a/b"]) | text | value,
        "port": st.integers(0, 70000) | value,
        "profile": st.sampled_from(["guide", "channels", "cache", "persistent"]) | value,
        "state": st.sampled_from(["present", "absent"]) | value,
        "purge": st.booleans() | value,
        "password": text | value,
        "config": config,
        "acl_users": st.lists(user, max_size=2) | value,
        "tls_only": st.booleans() | value,
        "exporter_port": value,
        "default_user_rules": text | value,
    },
)
inputs = st.fixed_dictionaries(
    {},
    optional={
        "instances": st.lists(instance, max_size=3) | value,
        "config": config,
        "sysctl": st.dictionaries(text, value, max_size=3) | value,
        "acl_users": st.lists(user, max_size=2) | value,
        "nofile": st.integers(0, 100000) | value,
        "memory_share": st.floats(0, 2) | value,
        "client_address": text,
    },
)


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in [*_strings(k), *_strings(v)]]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=inputs, memtotal=st.sampled_from([0, 512, 4096]))
def test_any_input_is_planned_or_refused_never_raises(
    overrides: dict[str, Any], memtotal: int
) -> None:
    """Over the whole input: the plan never raises; any string with a control
    character anywhere is refused; what is planned renders."""
    result = f.plan(role_inputs(**overrides), memtotal)
    if any(f.CONTROL.search(s) for s in _strings(overrides)):
        assert result["problems"], overrides
    if not result["problems"]:
        for inst in result["instances"]:
            lines = f.conf_lines(inst["config"])
            assert all("\n" not in line for line in lines)
        f.host_files(result, LAYOUT)
