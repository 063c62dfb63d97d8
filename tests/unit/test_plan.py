"""The role's planning core (roles/redis_tuned/lib/redis_tuned_plan): every
decision the role makes, from the variables and facts to the plan and its problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis_tuned_plan as f  # roles/redis_tuned/lib/redis_tuned_plan
import yaml
from role_vars import rendered


def restarts(*args: Any) -> list[str]:
    """The instances restart_reasons names (the order the plan lists them)."""
    return list(f.restart_reasons(*args))


ROLE = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned"
GIB = 1024**3
ONE = {"name": "default", "port": 6379, "profile": "guide"}
TLS_DIR = "/etc/redis/redis_tuned/tls"


def role_inputs(**overrides: Any) -> dict[str, Any]:
    """__redis_tuned_inputs as the role renders it from its own files (role_vars);
    the TLS files count as present on the control node (a fact of the control node,
    which the TLS cases set), then ``overrides`` by key (tls, exporter: merged)."""
    inputs = rendered("inputs")
    inputs["tls"]["files_ok"] = dict.fromkeys(inputs["tls"]["files_ok"], True)
    for key, value in overrides.items():
        if key in ("tls", "exporter"):
            inputs[key] = {**inputs[key], **value}
        else:
            inputs[key] = value
    return inputs


def plan(memtotal_mb: int = 4096, **overrides: Any) -> dict[str, Any]:
    return f.plan(role_inputs(**overrides), memtotal_mb)


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in result["instances"]}


TLS_ON = {"enabled": True, "port": 6380}


# --- sizes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2gb", 2 * GIB),
        ("2GB", 2 * GIB),
        ("2g", 2 * 10**9),
        ("512mb", 512 * 1024**2),
        ("100k", 100_000),
        ("1kb", 1024),
        ("0", 0),
        (1048576, 1048576),
        ("7", 7),
    ],
)
def test_sizes_use_redis_units(value: object, expected: int) -> None:
    assert f.redis_bytes(value) == expected


@pytest.mark.parametrize("value", ["auto", "2 gigs", "", "-1", "1.5gb", True, None])
def test_non_sizes_are_refused(value: object) -> None:
    assert not f.is_size(value)
    with pytest.raises(ValueError):
        f.redis_bytes(value)


# --- merged config ----------------------------------------------------------


def test_the_defaults_plan_cleanly_with_the_guides_settings() -> None:
    result = plan()
    assert result["problems"] == []
    (inst,) = result["instances"]
    cfg = inst["config"]
    assert (cfg["maxclients"], cfg["timeout"], cfg["tcp-keepalive"]) == (10000, 300, 60)
    assert cfg["maxmemory-policy"] == "allkeys-lru"
    assert cfg["save"] == ["900 1", "300 10", "60 10000"]
    assert cfg["appendonly"] == "yes"
    assert inst["exporter"]["port"] == 9121  # the guide's exporter port


def test_merge_order_profile_then_role_wide_then_instance() -> None:
    result = plan(
        instances=[{**ONE, "config": {"timeout": 7}}],
        config={"timeout": 100, "maxmemory-policy": "volatile-lru"},
    )
    cfg = result["instances"][0]["config"]
    assert cfg["timeout"] == 7  # instance wins
    assert cfg["maxmemory-policy"] == "volatile-lru"  # role-wide wins over profile
    assert cfg["save"] == ["900 1", "300 10", "60 10000"]  # profile wins over common
    assert cfg["dir"] == "/var/lib/redis/default"


def test_directive_names_are_case_insensitive_as_in_redis() -> None:
    result = plan(instances=[{**ONE, "config": {"Timeout": 7, "MAXMEMORY-POLICY": "noeviction"}}])
    cfg = result["instances"][0]["config"]
    assert (cfg["timeout"], cfg["maxmemory-policy"]) == (7, "noeviction")
    assert "Timeout" not in cfg  # one line per directive in redis.conf, not two


def test_auto_maxmemory_gives_forking_instances_copy_on_write_headroom() -> None:
    instances = [
        {"name": "p", "port": 6379, "profile": "guide"},
        {"name": "c", "port": 6380, "profile": "cache"},
        {"name": "x", "port": 6381, "profile": "cache", "config": {"maxmemory": "1mb"}},
    ]
    result = plan(instances=instances, exporter={"enabled": False})
    share = int(4096 * 1024 * 1024 * 0.75 / 4)  # p counts twice, c and x once each
    assert [i["config"]["maxmemory"] for i in result["instances"]] == [share, share, "1mb"]
    assert [i["persists"] for i in result["instances"]] == [True, False, False]


def test_plan_carries_no_password() -> None:
    result = plan(
        instances=[{**ONE, "password": "s3cret", "acl_users": [{"name": "a", "password": "pw2"}]}],
        acl_users=[{"name": "app", "password": "hunter2"}],
    )
    assert result["instances"][0]["requires_auth"] is True
    text = json.dumps(result)
    assert "s3cret" not in text and "hunter2" not in text and "pw2" not in text


def test_acl_users_merge_by_name() -> None:
    result = plan(
        instances=[{**ONE, "acl_users": [{"name": "app", "password": "i", "rules": "~a:* +get"}]}],
        acl_users=[{"name": "app", "password": "g"}, {"name": "ops", "password": "o"}],
    )
    assert result["instances"][0]["acl_users"] == [
        {"name": "app", "rules": "~a:* +get"},  # the instance's own wins
        {"name": "ops", "rules": "~* &* +@all -@dangerous"},  # default rules
    ]


# --- ports ------------------------------------------------------------------


def ports(result: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        i["name"]: (i["plain_port"], i["tls"] and i["tls"]["port"], i["exporter"]["port"])
        for i in result["instances"]
    }


def test_ports_stay_put_when_instances_are_inserted_or_reordered() -> None:
    a = {"name": "a", "port": 6379}
    b = {"name": "b", "port": 6390}
    new = {"name": "n", "port": 6385}
    before = ports(plan(instances=[a, b], tls={**TLS_ON, "only": False}))
    after = ports(plan(instances=[new, b, a], tls={**TLS_ON, "only": False}))
    assert before == {"a": (6379, 6380, 9121), "b": (6390, 6391, 9132)}
    assert {k: after[k] for k in before} == before
    assert after["n"] == (6385, 6386, 9127)


def test_explicit_ports_win_and_tls_only_closes_the_plain_port() -> None:
    instances = [
        {"name": "a", "port": 6379},
        {"name": "b", "port": 6390, "tls_only": False, "exporter_port": 9200},
        {"name": "c", "port": 6400, "tls_port": 7000},
    ]
    result = plan(instances=instances, tls=TLS_ON)
    assert result["problems"] == []
    assert ports(result) == {"a": (0, 6380, 9121), "b": (6390, 6391, 9200), "c": (0, 7000, 9142)}
    conf = by_name(result)["a"]["config"]
    assert conf["tls-port"] == 6380
    assert conf["tls-replication"] == "yes"  # a replica of a TLS-only primary needs it
    assert conf["tls-ca-cert-file"] == f"{TLS_DIR}/ca.crt"
    assert "tls-port 6380" in f.conf_lines(conf)


def test_tls_off_keeps_the_plain_port_and_adds_no_directive() -> None:
    inst = plan()["instances"][0]
    assert (inst["plain_port"], inst["tls"]) == (6379, None)
    assert not [k for k in inst["config"] if k.startswith("tls-")]


# --- addresses --------------------------------------------------------------


def test_loopback_instance_is_reached_on_loopback_and_not_from_the_network() -> None:
    inst = plan()["instances"][0]
    assert inst["local"] == {"host": "127.0.0.1", "port": 6379, "tls": False}
    assert inst["remote"] is None
    assert inst["cli_args"] == ["-h", "127.0.0.1", "-p", "6379"]
    assert inst["exporter"]["addr"] == "redis://127.0.0.1:6379"
    assert inst["expectations"]["host"] == "127.0.0.1"


def test_instance_bound_to_a_private_address_only_is_reached_there() -> None:
    """No loopback in bind: the role's ACL LOAD, the exporter and the host check
    must dial the private address, not 127.0.0.1."""
    inst = plan(instances=[{**ONE, "password": "x", "config": {"bind": "10.1.2.3"}}])["instances"][
        0
    ]
    assert inst["local"]["host"] == "10.1.2.3"
    assert inst["cli_args"][:2] == ["-h", "10.1.2.3"]
    assert inst["exporter"]["addr"] == "redis://10.1.2.3:6379"
    assert inst["exporter"]["probe_host"] == "10.1.2.3"  # exporter listens on all
    assert inst["expectations"]["host"] == "10.1.2.3"
    assert inst["remote"]["host"] == "10.1.2.3"
    assert inst["remote"]["address_variable"] == "the bind address of instance default"


def test_wildcard_bind_is_reached_at_the_inventory_address_from_outside() -> None:
    inst = plan(instances=[{**ONE, "password": "x", "config": {"bind": "0.0.0.0"}}])["instances"][0]
    assert inst["local"]["host"] == "127.0.0.1"
    assert inst["remote"]["host"] == "redis-1.example.internal"
    assert inst["remote"]["address_variable"].startswith("redis_tuned_verify_client_address")
    assert inst["remote"]["exporter_url"] == "http://redis-1.example.internal:9121/metrics"
    ipv6 = plan(instances=[{**ONE, "password": "x", "config": {"bind": "fd00::5"}}])
    inst6 = ipv6["instances"][0]
    assert inst6["exporter"]["addr"] == "redis://[fd00::5]:6379"


def test_the_control_nodes_check_logs_in_as_the_roles_verify_user() -> None:
    """Issue 18 #17: the check logged in as the first ACL user (or the default user),
    whose rules may deny INFO and CONFIG GET: it failed on every run. It logs in as
    the role's read-only verify user, never with an application's rights."""
    result = plan(
        instances=[{**ONE, "config": {"bind": "0.0.0.0"}}],
        acl_users=[{"name": "zed", "password": "z"}, {"name": "app", "password": "a"}],
    )
    assert result["problems"] == []
    assert result["instances"][0]["remote"]["user"] == "redis-tuned-verify"
    with_password = plan(instances=[{**ONE, "password": "p", "config": {"bind": "0.0.0.0"}}])
    assert with_password["instances"][0]["remote"]["user"] == "redis-tuned-verify"


def test_the_control_nodes_check_can_be_aimed_per_instance() -> None:
    """Issue 18 #18: a per-instance address for the control node's check (a VPN, a
    name the certificate carries), named in what the report says."""
    aimed = plan(
        instances=[{**ONE, "password": "p", "verify_address": "redis-1.vpn.example",
                    "config": {"bind": "0.0.0.0"}}]
    )["instances"][0]["remote"]  # fmt: skip
    assert aimed["host"] == "redis-1.vpn.example"
    assert aimed["address_variable"].startswith("redis_tuned_instances[].verify_address")
    assert aimed["exporter_url"] == "http://redis-1.vpn.example:9121/metrics"
    # loopback only: nothing to check from the control node, aimed or not
    local = plan(instances=[{**ONE, "verify_address": "x.example"}])["instances"][0]
    assert local["remote"] is None


def test_the_default_user_gets_the_rules_of_its_profiles_use_never_all() -> None:
    """Issue 18 #2: with a password the default user had +@all (FLUSHALL, CONFIG SET,
    SHUTDOWN, MODULE LOAD for whoever holds the application's password)."""
    d = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["redis_tuned_acl_rules"]
    profiles = {"guide": "guide", "channels": "channels", "cache": "cache", "persistent": "default"}
    for profile, use in profiles.items():
        inst = plan(instances=[{**ONE, "profile": profile, "password": "p"}])["instances"][0]
        assert inst["default_user_rules"] == d[use]
        assert "-@dangerous" in inst["default_user_rules"]
    own = plan(instances=[{**ONE, "password": "p", "default_user_rules": "~app:* +@read"}])
    assert own["instances"][0]["default_user_rules"] == "~app:* +@read"
    missing = plan(acl_rules={"default": "~* +@read"})
    assert any("redis_tuned_acl_rules has no 'guide' rules" in p for p in missing["problems"])
    nopass = plan(instances=[{**ONE, "password": "p", "default_user_rules": "nopass +@all"}])
    assert any("default_user_rules: the rules may not" in p for p in nopass["problems"])


CLIENT_GIVEN = {"client_given": True}


def test_tls_only_instance_is_reached_over_tls_with_the_ca() -> None:
    """With tls-auth-clients yes the role's own clients present the role's client
    certificate (issue 18 #4: not the server's, which doubled as every client's)."""
    inst = plan(tls={**TLS_ON, **CLIENT_GIVEN, "auth_clients": "yes"})["instances"][0]
    assert inst["local"] == {"host": "127.0.0.1", "port": 6380, "tls": True}
    assert inst["cli_args"] == [
        "-h", "127.0.0.1", "--tls", "--cacert", f"{TLS_DIR}/ca.crt",
        "--cert", f"{TLS_DIR}/client.crt", "--key", f"{TLS_DIR}/client.key", "-p", "6380",
    ]  # fmt: skip
    assert inst["exporter"]["addr"] == "rediss://127.0.0.1:6380"
    assert inst["exporter"]["client_cert"] is True
    expected_tls = inst["expectations"]["tls"]
    assert (expected_tls["cert_file"], expected_tls["key_file"]) == (
        f"{TLS_DIR}/client.crt",
        f"{TLS_DIR}/client.key",
    )
    assert inst["config"]["tls-cert-file"] == f"{TLS_DIR}/redis.crt"  # the server's own


def test_client_certificates_are_required_for_yes_and_never_the_servers() -> None:
    refused = plan(tls={**TLS_ON, "auth_clients": "yes"})["problems"]
    assert any("redis_tuned_tls_auth_clients is yes: set redis_tuned_tls_client_cert_file" in p
               for p in refused)  # fmt: skip
    optional = plan(tls={**TLS_ON, "auth_clients": "optional"})
    assert optional["problems"] == []
    inst = optional["instances"][0]
    assert "--cert" not in inst["cli_args"] and inst["exporter"]["client_cert"] is False
    missing = {**CLIENT_GIVEN, "client_files_ok": {"redis_tuned_tls_client_key_file": False}}
    assert any(
        "redis_tuned_tls_client_key_file must name a readable PEM file" in p
        for p in plan(tls={**TLS_ON, **missing, "auth_clients": "optional"})["problems"]
    )
    files = f.host_files(
        plan(tls={**TLS_ON, **CLIENT_GIVEN, "auth_clients": "yes"}), {**LAYOUT, "tls_enabled": True}
    )
    by_path = {e["path"]: e for e in files["files"]}
    root_copy = by_path[f"{TLS_DIR}/client.key"]
    assert (root_copy["owner"], root_copy["group"], root_copy["mode"]) == ("root", "root", "0600")
    theirs = by_path["/etc/redis-tuned-exporter/client.key"]
    assert (theirs["group"], theirs["mode"]) == ("redis-tuned-exporter", "0640")


# --- sysctls ----------------------------------------------------------------


def test_sysctls_cover_the_largest_backlog_and_user_values_win() -> None:
    result = plan(instances=[{**ONE, "config": {"tcp-backlog": 8192}}])
    assert result["sysctls"] == {"vm.overcommit_memory": 1, "net.core.somaxconn": 8192}
    custom = plan(sysctl={"vm.swappiness": 1})
    assert custom["sysctls"]["vm.swappiness"] == 1
    assert custom["instances"][0]["expectations"]["sysctl"] == custom["sysctls"]


# --- problems: each names the variable and what to change -------------------

PROBLEMS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown eviction policy": (
        {"config": {"maxmemory-policy": "allkeys-lru-typo"}},
        "redis_tuned_instances[0] (default): maxmemory-policy 'allkeys-lru-typo' is not one of",
    ),
    "maxclients over the fd budget": (
        {"nofile": 5000},
        "maxclients 10000 needs maxclients + 32 = 10032 open files but redis_tuned_nofile is 5000",
    ),
    "nofile too small": ({"nofile": 100}, "redis_tuned_nofile must be at least 1024 (got 100)"),
    "port out of range": (
        {"instances": [{**ONE, "port": 70000}]},
        "redis_tuned_instances[0] (default): port must be 1-65535, got 70000",
    ),
    "duplicate ports": (
        {"instances": [ONE, {**ONE, "name": "other"}]},
        "unique listening ports, plain, TLS and exporter (got [6379, 9121, 6379, 9121]; "
        "taken twice: [6379, 9121])",
    ),
    "duplicate names": (
        {"instances": [ONE, {**ONE, "port": 6390}]},
        "unique names (got ['default', 'default'])",
    ),
    "no instance": (
        {"instances": []},
        "redis_tuned_instances must list at least one present instance",
    ),
    "only absent": (
        {"instances": [{**ONE, "state": "absent"}]},
        "redis_tuned_instances must list at least one present instance",
    ),
    "bad state": (
        {"instances": [{**ONE, "state": "gone"}]},
        "redis_tuned_instances[0] (default): state must be present or absent (got gone)",
    ),
    "purge without absent": (
        {"instances": [{**ONE, "purge": True}]},
        "purge: true goes with state: absent",
    ),
    "absent and present of one name": (
        {"instances": [ONE, {**ONE, "state": "absent"}]},
        "redis_tuned_instances must have unique names",
    ),
    "bad instance name": (
        {"instances": [{**ONE, "name": "Bad Name"}]},
        "redis_tuned_instances[0] (Bad Name): name must match [a-z0-9_-]+",
    ),
    "unknown profile": (
        {"instances": [{**ONE, "profile": "fast"}]},
        "profile 'fast' is not one of cache, channels, guide, persistent",
    ),
    "maxmemory above the host's RAM": (
        {"config": {"maxmemory": "100000gb"}},
        "maxmemory 100000gb (107374182400000 bytes) exceeds this host's 4096 MB of RAM",
    ),
    "all instances together above the host's RAM": (
        {
            "instances": [
                {**ONE, "config": {"maxmemory": "3gb"}},
                {"name": "b", "port": 6390, "config": {"maxmemory": "3gb"}},
            ]
        },
        "all instances together ask for 6442450944 bytes of maxmemory, more than this host's",
    ),
    "maxmemory that is not a size": (
        {"config": {"maxmemory": "lots"}},
        "maxmemory 'lots' is not a size",
    ),
    "requirepass in a config dict": (
        {"config": {"requirepass": "x"}},
        "config may not set requirepass (use the instance's port and password fields",
    ),
    "owned directive in another case": (
        {"instances": [{**ONE, "config": {"Port": 1, "REQUIREPASS": "x"}}]},
        "config may not set port, requirepass",
    ),
    "secret directive in a config dict": (
        {"config": {"MasterAuth": "hunter2"}},
        "config may not set masterauth: a secret in a config dict would be shown in diffs",
    ),
    "memory share above 1": (
        {"memory_share": 1.5},
        "redis_tuned_memory_share must be in (0, 1] (got 1.5)",
    ),
    "somaxconn below tcp-backlog": (
        {"sysctl": {"net.core.somaxconn": 128}},
        "redis_tuned_sysctl sets net.core.somaxconn to 128, below the largest tcp-backlog (511)",
    ),
    "bound beyond loopback without a password": (
        {"config": {"bind": "0.0.0.0"}},
        "bind '0.0.0.0' listens beyond loopback but the instance has no password",
    ),
    "private address without a password": (
        {"instances": [{**ONE, "config": {"bind": "127.0.0.1 10.1.2.3"}}]},
        "Set redis_tuned_instances[0].password (from a vault) or redis_tuned_acl_users, or bind",
    ),
    "ACL user named default": (
        {"acl_users": [{"name": "default", "password": "x"}]},
        "redis_tuned_acl_users: ACL user names must be unique, match [A-Za-z0-9_.-]+ and not be "
        "'default'",
    ),
    "ACL user with an empty password": (
        {"instances": [{**ONE, "acl_users": [{"name": "app", "password": ""}]}]},
        "redis_tuned_instances[0].acl_users: ACL user names must be unique",
    ),
    "ACL user with a space in its name": (
        {"acl_users": [{"name": "my app", "password": "x"}]},
        "(got ['my app'])",
    ),
    "ACL user without a password": (
        {"acl_users": [{"name": "app"}]},
        "every user needs a non-empty password (1 without)",
    ),
    "ACL user named like the exporter's": (
        {"acl_users": [{"name": "redis-tuned-exporter", "password": "x"}]},
        "'redis-tuned', 'redis-tuned-exporter', 'redis-tuned-replica', 'redis-tuned-sentinel', "
        "'redis-tuned-verify' (got ['redis-tuned-exporter'])",
    ),
    "TLS without its files": (
        {
            "tls": {
                **TLS_ON,
                "files_ok": {
                    "redis_tuned_tls_cert_file": False,
                    "redis_tuned_tls_key_file": False,
                    "redis_tuned_tls_ca_file": False,
                },
            }
        },
        "redis_tuned_tls_ca_file, redis_tuned_tls_cert_file, redis_tuned_tls_key_file must name a "
        "readable PEM file",
    ),
    "TLS port taken by a plain port": (
        {"tls": {**TLS_ON, "only": False, "port": 6379}},
        "taken twice: [6379]",
    ),
    "TLS port out of range": (
        {"tls": {**TLS_ON, "port": 0}},
        "TLS port must be 1-65535 (got 0: set redis_tuned_tls_port",
    ),
    "unknown tls-auth-clients value": (
        {"tls": {**TLS_ON, "auth_clients": "maybe"}},
        'redis_tuned_tls_auth_clients must be "no", "optional" or "yes" (got maybe)',
    ),
    "exporter port taken by a Redis port": (
        {"exporter": {"port": 6379}},
        "taken twice: [6379]",
    ),
    "exporter port out of range": (
        {"instances": [{**ONE, "exporter_port": 70000}]},
        "exporter port must be 1-65535 (got 70000",
    ),
    "upstream exporter without a checksum": (
        {"exporter": {"source": "upstream", "url": "https://example.invalid/x.tar.gz"}},
        "redis_tuned_exporter_sha256 (its SHA-256, 64 hex digits, got '')",
    ),
    "upstream exporter with a malformed checksum": (
        {
            "exporter": {
                "source": "upstream",
                "url": "https://example.invalid/x.tar.gz",
                "sha256": "abc123",
            }
        },
        "got 'abc123'): nothing downloaded is installed unchecked",
    ),
    "unknown THP mode": (
        {"transparent_hugepages": "always"},
        "redis_tuned_transparent_hugepages must be one of never, madvise, unchanged (got always)",
    ),
}


@pytest.mark.parametrize("case", list(PROBLEMS))
def test_each_bad_input_is_a_problem_naming_what_to_change(case: str) -> None:
    overrides, message = PROBLEMS[case]
    problems = plan(**overrides)["problems"]
    assert any(message in p for p in problems), problems
    for secret in ("hunter2",):
        assert secret not in json.dumps(problems)


def test_tls_port_out_of_range_message() -> None:
    problems = plan(tls={**TLS_ON, "port": 0}, instances=[{**ONE, "tls_port": 70000}])["problems"]
    assert any("TLS port must be 1-65535 (got 70000" in p for p in problems), problems


# --- rendering helpers -----------------------------------------------------


def test_conf_lines_sorted_lists_and_empty_values() -> None:
    lines = f.conf_lines(
        {
            "save": ["900 1", "300 10"],
            "appendonly": True,
            "bind": "127.0.0.1 -::1",
            "maxclients": 10,
            "notify-keyspace-events": "",
        }
    )
    assert lines == [
        "appendonly yes",
        "bind 127.0.0.1 -::1",
        "maxclients 10",
        'notify-keyspace-events ""',
        "save 900 1",
        "save 300 10",
    ]
    assert f.conf_lines({"save": ""}) == ['save ""']
    assert f.conf_lines({"save": []}) == ['save ""']


def test_expect_args_for_the_verification_cli() -> None:
    assert f.expect_args({"save": ["900 1", "300 10"], "appendonly": True, "maxmemory": 1024}) == [
        "--expect",
        "appendonly=yes",
        "--expect",
        "maxmemory=1024",
        "--expect",
        "save=900 1 300 10",
    ]


def test_verify_summary_says_why_an_instance_could_not_be_verified() -> None:
    inst = plan(instances=[{**ONE, "password": "x", "config": {"bind": "0.0.0.0"}}])["instances"][0]
    unreachable = {
        "rc": 2,
        "stdout": "",
        "stderr": "redis-tuned-verify: cannot reach redis-1.example.internal:6379: "
        "Error -2 connecting: Name or service not known.",
        "__redis_tuned_instance": inst,
    }
    summary = f.verify_summary([unreachable])
    assert summary["ok"] is False
    assert summary["lines"] == [
        "default: could not verify at redis-1.example.internal:6379 (address from "
        "redis_tuned_verify_client_address (default: ansible_host)): redis-tuned-verify: cannot "
        "reach redis-1.example.internal:6379: Error -2 connecting: Name or service not known."
    ]
    report = {"mode": "client", "checks": [{"name": "x", "status": "pass"}], "latency": {}}
    passed = {"rc": 0, "stdout": json.dumps(report), "__redis_tuned_instance": inst}
    skipped = {"skipped": True}
    assert f.verify_summary([passed, skipped]) == {
        "ok": True,
        "lines": ["default (client mode): all checks passed; latency p50 0.000 ms, p99 0.000 ms"],
    }
    crashed = {"rc": 1, "stdout": "Traceback", "stderr": "boom", "__redis_tuned_instance": inst}
    assert f.verify_summary([crashed])["ok"] is False


def test_a_hosts_instances_are_verified_in_one_batch_each_as_its_own_run() -> None:
    insts = plan(
        instances=[{**ONE, "password": "pw-one-x", "config": {"bind": "10.0.0.5"}},
                   {"name": "local", "port": 6380, "password": "pw-two-y"}]
    )["instances"]  # fmt: skip
    host = f.host_verify_batch(insts, {"latency_p99_ms": 7, "accept_counters": True})
    assert host == {"runs": [
        ["--instance", name, "--mode", "host", "--latency-p99-ms", "7", "--json",
         "--accept-counters"]
        for name in ("default", "local")
    ]}  # fmt: skip
    control = {"python": "/venv/python", "ca_file": "", "client_cert_file": "",
               "client_key_file": "", "latency_p99_ms": 100}  # fmt: skip
    client = f.client_verify_batch(insts, control)
    # Only the instance reachable from the network; its arguments, no password.
    assert client["argv"] == ["/venv/python", "-m", "redis_tuned_tools.verify", "--batch"]
    assert client["runs"] == [f.client_verify_argv(insts[0], control)[3:]]
    assert "pw-one-x" not in json.dumps(client) and "pw-two-y" not in json.dumps(client)


def test_batch_results_give_one_result_per_instance_or_the_batchs_reason() -> None:
    insts = plan(instances=[ONE, {"name": "b", "port": 6380}])["instances"]
    report = {"mode": "host", "checks": [], "latency": {}}
    runs = [{"exit": 0, "stdout": json.dumps(report), "stderr": ""},
            {"exit": 2, "stdout": "", "stderr": "redis-tuned-verify: cannot reach x"}]  # fmt: skip
    done = {"rc": 2, "stdout": json.dumps({"runs": runs}), "stderr": ""}
    results = f.batch_results(done, insts)
    assert [(r["rc"], r["__redis_tuned_instance"]["name"]) for r in results] == [
        (0, "default"), (2, "b")]  # fmt: skip
    summary = f.verify_summary(results, "host")
    assert summary["ok"] is False
    assert summary["lines"][1] == "b: could not verify: redis-tuned-verify: cannot reach x"
    # The batch itself refused (an old tool without --batch, its input): every instance says why.
    old = {"rc": 2, "stdout": "", "stderr": "redis-tuned-verify: unrecognized arguments: --batch"}
    lines = f.verify_summary(f.batch_results(old, insts), "host")["lines"]
    assert lines == [f"{n}: could not verify: redis-tuned-verify: unrecognized arguments: --batch"
                     for n in ("default", "b")]  # fmt: skip
    assert f.batch_results({"skipped": True}, insts) == [] == f.batch_results({}, insts)


def _example_group(vault: dict[str, str] | None = None) -> dict[str, Any]:
    """inventory/example's group variables as Ansible renders them: the host's
    variables, the vault (or ``vault`` in its place), the role's defaults."""
    import jinja2

    example = ROLE.parents[1] / "inventory" / "example"
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    context = {
        "redis_tuned_acl_rules": defaults["redis_tuned_acl_rules"],
        **(vault or yaml.safe_load((example / "group_vars" / "redis" / "vault.yml").read_text())),
        **yaml.safe_load((example / "hosts.yml").read_text())["redis"]["hosts"][
            "redis-1.example.internal"
        ],
    }

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return jinja2.Template(value).render(**context)
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    return dict(render(yaml.safe_load((example / "group_vars" / "redis" / "main.yml").read_text())))


def _example_plan(group: dict[str, Any]) -> dict[str, Any]:
    return plan(
        instances=group["redis_tuned_instances"],
        config=group["redis_tuned_config"],
        exporter={"listen_address": group["redis_tuned_exporter_listen_address"]},
    )


def test_the_example_inventory_is_a_real_channels_deployment() -> None:
    """inventory/example: two instances reachable on the host's private address, the
    application's ACL user on each with the rules of its use (never the default
    user), the control node's check at that address; its placeholder passwords are
    refused until the vault has real ones."""
    real = {"vault_redis_channels_app_password": "Kq7-x", "vault_redis_cache_app_password": "Zp2-y"}
    result = _example_plan(_example_group(real))
    assert result["problems"] == []
    insts = by_name(result)
    assert set(insts) == {"channels", "cache"}
    rules = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["redis_tuned_acl_rules"]
    for name, port, exporter_port in (("channels", 6379, 9121), ("cache", 6380, 9122)):
        inst = insts[name]
        assert inst["remote"]["host"] == "10.0.0.11"
        assert inst["remote"]["port"] == port
        assert inst["remote"]["user"] == "redis-tuned-verify"  # never the app's rights
        assert inst["local"]["host"] == "127.0.0.1"
        assert inst["exporter"]["probe_host"] == "10.0.0.11"
        assert inst["remote"]["exporter_url"] == f"http://10.0.0.11:{exporter_port}/metrics"
        assert inst["acl_users"] == [{"name": "app", "rules": rules[name]}]
        assert inst["requires_auth"] is True
    assert insts["channels"]["config"]["maxmemory-policy"] == "noeviction"
    assert insts["cache"]["config"]["maxmemory-policy"] == "allkeys-lru"
    # As shipped, the placeholders stop the run in preflight, naming where and never the value.
    refused = _example_plan(_example_group())["problems"]
    assert len(refused) == 2 and all("example inventory's placeholder" in p for p in refused)
    assert "redis_tuned_instances[0].acl_users[0].password" in refused[0]
    assert not any("change-me-channels-app" in p for p in refused)


# --- restarts, decided from state -------------------------------------------

STARTED_AT = 1795809600.5  # 2026-11-27 20:00:00.5 UTC
# What library/redis_tuned_probe.py read: "default" running, "other" not.
STATE = {
    "units": {
        "redis-server@default.service": {"active": True, "started": STARTED_AT},
        "redis-server@other.service": {"active": False, "started": None},
    },
    "mtimes": {},
}


def test_an_instance_older_than_its_files_is_restarted_even_if_this_run_changed_nothing() -> None:
    """A restart queued by a run that failed before its handlers is not lost: the
    next run sees the config on disk newer than the running process."""
    the_plan = plan(instances=[ONE, {"name": "other", "port": 6390}])
    conf = "/etc/redis/redis-default.conf"
    assert restarts(the_plan, {**STATE, "mtimes": {conf: STARTED_AT + 1}}) == ["default"]
    assert restarts(the_plan, {**STATE, "mtimes": {conf: STARTED_AT - 1}}) == []
    dropin = "/etc/systemd/system/redis-server@default.service.d/redis-tuned.conf"
    assert restarts(the_plan, {**STATE, "mtimes": {dropin: STARTED_AT + 5}}) == ["default"]
    # "other" is not running: starting it reads what is on disk, no restart.
    other = "/etc/redis/redis-other.conf"
    assert restarts(the_plan, {**STATE, "mtimes": {other: STARTED_AT + 9}}) == []


def test_changes_of_this_run_count_unless_the_instance_was_not_running() -> None:
    the_plan = plan(instances=[ONE, {"name": "other", "port": 6390}])
    # check mode: nothing written, but the change it would make is a restart
    changed = ["/etc/redis/redis-default.conf", "/etc/redis/redis-other.conf"]
    assert restarts(the_plan, STATE, changed) == ["default"]
    # an ACL file or the expectations alone restart nothing
    acl = ["/etc/redis/redis-default.acl", "/etc/redis/redis_tuned/default.json"]
    assert restarts(the_plan, STATE, acl) == []


def test_a_changed_tls_file_restarts_the_instances_with_tls() -> None:
    the_plan = plan(
        instances=[{**ONE, "tls_only": False}, {"name": "plain", "port": 6390}],
        tls={**TLS_ON, "port": 7000},
    )
    running = {
        "units": {
            "redis-server@default.service": {"started": STARTED_AT},
            "redis-server@plain.service": {"started": None},  # not running
        },
        "mtimes": {},
    }
    assert restarts(the_plan, running, [f"{TLS_DIR}/redis.crt"]) == ["default"]
    newer = {**running, "mtimes": {f"{TLS_DIR}/ca.crt": STARTED_AT + 1}}
    assert restarts(the_plan, newer) == ["default"]


# --- the kernel probe --------------------------------------------------------

THP = "/sys/kernel/mm/transparent_hugepage/enabled"


def test_kernel_probe_says_what_is_settable_and_what_is_not_live() -> None:
    the_plan = plan()
    assert the_plan["kernel_paths"] == [
        "/proc/sys/vm/overcommit_memory",
        "/proc/sys/net/core/somaxconn",
        "/sys/kernel/mm/transparent_hugepage/enabled",
    ]
    container = {
        "/proc/sys/vm/overcommit_memory": {"writable": False, "value": "0"},
        "/proc/sys/net/core/somaxconn": {"writable": False, "value": "4096"},
        "/sys/kernel/mm/transparent_hugepage/enabled": {
            "writable": False,
            "value": "always [madvise] never",
        },
    }
    state = f.kernel_state(the_plan, container)
    assert state["vm.overcommit_memory"] == {"writable": False, "live": "0"}
    assert state["thp"]["writable"] is False
    assert state["apply"] == []
    assert state["pending"] == [
        "vm.overcommit_memory=1 (live 0)",
        "transparent_hugepage=never (live always [madvise] never)",
    ]
    host = {k: {**v, "writable": True} for k, v in container.items()}
    writable = f.kernel_state(the_plan, host)
    assert writable["vm.overcommit_memory"]["writable"] is True
    # only what differs is set live
    assert writable["apply"] == ["vm.overcommit_memory=1"]
    assert writable["pending"] == []
    assert writable["thp"]["apply"] is True  # madvise live, never asked: set it now
    unchanged = f.kernel_state(plan(transparent_hugepages="unchanged"), container)
    assert unchanged["pending"] == ["vm.overcommit_memory=1 (live 0)"]
    assert f.kernel_state(plan(transparent_hugepages="unchanged"), host)["thp"]["apply"] is False
    in_force = {**host, THP: {"writable": True, "value": "always madvise [never]"}}
    assert f.kernel_state(the_plan, in_force)["thp"]["apply"] is False


def test_thp_path_is_an_input_and_a_stand_in_file_holds_the_bare_mode() -> None:
    the_plan = plan(thp_path="/run/thp-test/enabled")
    assert the_plan["kernel_paths"][-1] == "/run/thp-test/enabled"
    stand_in = {"/run/thp-test/enabled": {"writable": True, "value": "madvise"}}
    assert f.kernel_state(the_plan, stand_in)["thp"]["apply"] is True
    stand_in["/run/thp-test/enabled"]["value"] = "never"
    assert f.kernel_state(the_plan, stand_in)["thp"]["apply"] is False


# --- every file the role writes ----------------------------------------------

# __redis_tuned_layout as the role renders it, with TLS source paths on the control node.
LAYOUT = {
    **rendered("layout"),
    "tls_sources": {"cert_file": "/pki/a.crt", "key_file": "/pki/a.key", "ca_file": "/pki/ca.crt"},
}


def test_host_files_lists_each_file_once_with_its_owner_mode_and_check() -> None:
    files = f.host_files(plan(exporter={"enabled": True}), LAYOUT)
    by_path = {e["path"]: e for e in files["files"]}
    assert len(by_path) == len(files["files"])
    conf = by_path["/etc/redis/redis-default.conf"]
    assert (conf["owner"], conf["group"], conf["mode"]) == ("root", "redis", "0640")
    assert conf["validate"] == f"{LAYOUT['checker']} --server redis-server %s"
    check = f"{LAYOUT['checker']} --server redis-server"
    assert by_path["/etc/redis/redis-default.acl"]["validate"] == f"{check} --acl %s"
    # its lines hold password hashes: a diff names the users only
    assert by_path["/etc/redis/redis-default.acl"]["show"] == "users"
    # the ACL file is checked (and goes live) before the config that names it
    paths = [e["path"] for e in files["files"]]
    assert paths.index("/etc/redis/redis-default.acl") < paths.index(
        "/etc/redis/redis-default.conf"
    )
    secret = by_path["/etc/redis-tuned-exporter/default.json"]
    assert secret["show"] == "secret" and secret["mode"] == "0600"
    assert secret["owner"] == "redis-tuned-exporter"
    expectations = json.loads(by_path["/etc/redis/redis_tuned/default.json"]["content"])
    assert expectations["name"] == "default"
    assert by_path["/usr/local/lib/redis_tuned/redis_tuned_tools/verify/cli.py"]["src"] == (
        "redis_tuned_tools/verify/cli.py"
    )
    dirs = [d["path"] for d in files["directories"]]
    assert "/usr/local/lib/redis_tuned/redis_tuned_tools/verify" in dirs
    assert "/etc/redis-tuned-exporter" in dirs
    assert files["absent"] == []
    assert not [e for e in files["files"] if "tls" in e["path"]]


def test_host_files_tls_files_are_secrets_and_unchanged_thp_removes_its_unit() -> None:
    layout = {**LAYOUT, "tls_enabled": True, "verify": False, "tool_files": []}
    files = f.host_files(plan(tls=TLS_ON, transparent_hugepages="unchanged"), layout)
    tls = [e for e in files["files"] if e["path"].startswith(TLS_DIR)]
    assert sorted(e["src"] for e in tls) == ["/pki/a.crt", "/pki/a.key", "/pki/ca.crt"]
    assert all(e["show"] == "secret" and e["group"] == "redis" and e["mode"] == "0640" for e in tls)
    assert files["absent"] == [LAYOUT["thp_unit_file"]]
    assert LAYOUT["thp_unit_file"] not in [e["path"] for e in files["files"]]
    assert LAYOUT["verify_command"] not in [e["path"] for e in files["files"]]


# --- removing an instance -----------------------------------------------------


def test_an_absent_instance_is_removed_and_the_others_keep_their_plan() -> None:
    """state: absent takes the instance out of the plan (its memory share goes to
    the others) and lists what to stop and delete; the data stays unless purge."""
    two = [ONE, {"name": "cache", "port": 6390, "profile": "cache"}]
    both = plan(instances=two)
    gone = plan(instances=[ONE, {**two[1], "state": "absent"}])
    assert [i["name"] for i in gone["instances"]] == ["default"]
    assert gone["problems"] == []
    removed = gone["removed_instances"][0]
    assert removed["unit"] == "redis-server@cache.service"
    assert removed["exporter_unit"] == "redis-tuned-exporter@cache.service"
    assert removed["dir"] == "/var/lib/redis/cache" and removed["purge"] is False
    # maxmemory auto: one instance fewer to share among
    auto = lambda p: by_name(p)["default"]["config"]["maxmemory"]  # noqa: E731
    assert auto(gone) > auto(both)
    files = f.host_files(gone, LAYOUT)
    assert "/etc/redis/redis-cache.conf" in files["absent"]
    assert "/etc/redis/redis_tuned/cache.json" in files["absent"]
    assert "/etc/redis-tuned-exporter/cache.json" in files["absent"]
    assert "/var/lib/redis/cache" not in files["absent"]  # data kept
    assert not [e for e in files["files"] if "cache" in e["path"]]
    # Its index in the list still names it, after an absent entry.
    bad = plan(instances=[{**two[1], "state": "absent"}, {**ONE, "port": 0}])
    assert any(p.startswith("redis_tuned_instances[1] (default): port") for p in bad["problems"])


def test_exporters_switched_off_are_stopped_and_their_files_removed() -> None:
    """Issue 18 #16: redis_tuned_exporter_enabled false left the exporters an earlier
    run made running, with their password files."""
    two = [ONE, {"name": "cache", "port": 6390, "profile": "cache"}]
    on = plan(instances=two)
    assert on["removed_exporter_units"] == []
    assert not [p for p in f.host_files(on, LAYOUT)["absent"] if "exporter" in p]
    off = plan(instances=two, exporter={"enabled": False})
    assert off["removed_exporter_units"] == [
        "redis-tuned-exporter@default.service",
        "redis-tuned-exporter@cache.service",
    ]
    absent = f.host_files(off, LAYOUT)["absent"]
    for path in ("/etc/redis-tuned-exporter/default.json", "/etc/redis-tuned-exporter/cache.env",
                 "/etc/systemd/system/redis-tuned-exporter@.service"):  # fmt: skip
        assert path in absent
    assert absent[-1] == "/etc/redis-tuned-exporter"  # the directory last, when empty


# --- what Jinja used to decide: the exporter's and the control node's argv, the ACL file ---


def test_the_exporters_arguments_come_from_the_plan() -> None:
    inst = plan(
        tls={**TLS_ON, **CLIENT_GIVEN, "auth_clients": "yes"},
        exporter={"enabled": True, "listen_address": "::"},
    )["instances"][0]
    assert inst["exporter"]["args"] == [
        "--redis.addr=rediss://127.0.0.1:6380",
        "--redis.user=redis-tuned-exporter",
        "--redis.password-file=/etc/redis-tuned-exporter/default.json",
        "--web.listen-address=[::]:9121",  # IPv6 in brackets (common.values.url_host)
        "--skip-tls-verification",
        "--tls-client-cert-file=/etc/redis-tuned-exporter/client.crt",
        "--tls-client-key-file=/etc/redis-tuned-exporter/client.key",
    ]
    plain = plan(exporter={"enabled": True})["instances"][0]["exporter"]["args"]
    assert plain[0] == "--redis.addr=redis://127.0.0.1:6379" and len(plain) == 4


def test_the_control_nodes_verification_argv_comes_from_the_plan() -> None:
    inst = plan(
        instances=[{**ONE, "password": "p", "config": {"bind": "10.0.0.5"}}],
        tls={**TLS_ON, **CLIENT_GIVEN, "auth_clients": "yes", "only": False},
    )["instances"][0]
    control = {"python": "/venv/python", "ca_file": "/pki/ca.crt", "client_cert_file": "/pki/c",
               "client_key_file": "/pki/k", "latency_p99_ms": 100}  # fmt: skip
    argv = f.client_verify_argv(inst, control)
    assert argv[:12] == [
        "/venv/python", "-m", "redis_tuned_tools.verify", "--host", inst["remote"]["host"],
        "--port", str(inst["remote"]["port"]), "--password-file", "-", "--require-auth",
        "--user", "redis-tuned-verify",
    ]  # fmt: skip
    rest = argv[12:]
    if inst["remote"]["tls"]:
        assert rest[:7] == [
            "--tls",
            "--cacert",
            "/pki/ca.crt",
            "--cert",
            "/pki/c",
            "--key",
            "/pki/k",
        ]
    assert "--latency-p99-ms" in rest and rest[rest.index("--latency-p99-ms") + 1] == "100"
    assert "p" not in argv  # never the password
    assert "maxclients=10000" in " ".join(argv)
    # A restart this run left pending (deferred, a node of a group): what waits for it
    # is not expected from the control node (the host's check shows it pending).
    waiting = {"restart_why": {inst["name"]: ["maxclients"]}, "restart": []}
    assert "maxclients=10000" not in " ".join(
        f.client_verify_argv(inst, {**control, "decision": waiting})
    )
    done = {**waiting, "restart": [inst["name"]]}
    assert "maxclients=10000" in " ".join(f.client_verify_argv(inst, {**control, "decision": done}))


def test_the_acl_file_merges_users_by_name_and_holds_only_hashes() -> None:
    import hashlib

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    role_users = [{"name": "app", "password": "g"}, {"name": "ops", "password": "o@:/#%"}]
    entry = {**ONE, "password": "main-pw",
             "acl_users": [{"name": "app", "password": "i", "rules": "~a:* +get"}]}  # fmt: skip
    inst = plan(instances=[entry], acl_users=role_users)["instances"][0]
    lines = f.acl_file(inst, role_users, entry).split("\n")
    assert lines[0] == (
        "user redis-tuned on #@@redis_tuned_secret_sha256:/etc/redis/redis_tuned/admin.secret@@"
        " ~* &* +@all"
    )
    assert [ln.split()[1] for ln in lines] == [
        "redis-tuned", "redis-tuned-exporter", "redis-tuned-verify", "default", "app", "ops"
    ]  # fmt: skip
    assert lines[2].startswith("user redis-tuned-verify on #@@redis_tuned_secret_sha256:")
    assert lines[3] == f"user default on #{sha('main-pw')} {inst['default_user_rules']}"
    assert lines[4] == f"user app on #{sha('i')} ~a:* +get"  # the entry's own wins
    assert lines[5] == f"user ops on #{sha('o@:/#%')} ~* &* +@all -@dangerous"
    no_exporter = plan(instances=[entry], acl_users=role_users, exporter={"enabled": False})
    names = [ln.split()[1] for ln in f.acl_file(no_exporter["instances"][0], role_users, entry)
             .split("\n")]  # fmt: skip
    assert "redis-tuned-exporter" not in names
    text = "\n".join(lines)
    assert all(pw not in text for pw in ("main-pw", "o@:/#%"))
    closed = {**ONE}
    only_users = plan(instances=[closed], acl_users=role_users)["instances"][0]
    assert "user default off" in f.acl_file(only_users, role_users, closed)
    alone = plan(instances=[closed], acl_users=[])["instances"][0]
    assert "user default on nopass ~* &* +@all" in f.acl_file(alone, [], closed)


def test_placeholder_passwords_are_refused_wherever_they_are() -> None:
    on_entry = plan(instances=[{**ONE, "password": "change-me"}])["problems"]
    assert on_entry == [
        "redis_tuned_instances[0].password is still the example inventory's placeholder "
        "(change-me...): put a real password in the vault (ansible-vault edit "
        "group_vars/redis/vault.yml)"
    ]
    role_wide = plan(acl_users=[{"name": "app", "password": "CHANGE-ME-too"}])["problems"]
    assert len(role_wide) == 1 and role_wide[0].startswith("redis_tuned_acl_users[0].password")
    assert plan(instances=[{**ONE, "password": "not-change-me"}])["problems"] == []


def test_the_app_sides_view_of_an_instance_holds_what_settings_needs_and_no_secret() -> None:
    """Issue 22 #4: what the play leaves on the control node, read back by the app
    side's own parser (redis-tuned-clients settings --expect-file)."""
    from redis_tuned_tools.common.inputs import parse_expectations

    inst = plan(
        instances=[{**ONE, "password": "pw-never-shown", "config": {"bind": "10.0.0.5",
                                                                     "maxclients": 4000}}],
        tls={**TLS_ON, "only": False},
    )["instances"][0]  # fmt: skip
    view = f.client_view(inst, "/pki/ca.crt")
    assert view["host"] == inst["remote"]["host"] and view["port"] == 6379
    assert view["tls"] == {"port": 6380, "ca_file": "/pki/ca.crt"}
    assert view["config"] == {"maxclients": 4000, "timeout": 300}
    assert view["requires_auth"] is True and "pw-never-shown" not in json.dumps(view)
    parsed = parse_expectations(json.loads(json.dumps(view)), "view")
    assert (parsed.port, parsed.tls.port if parsed.tls else None) == (6379, 6380)
    loopback = f.client_view(plan()["instances"][0], "")
    assert loopback["host"] == "127.0.0.1" and "tls" not in loopback


# --- the server flavour (redis_tuned_server) ---------------------------------


DEBIAN = {"memtotal_mb": 4096, "distribution": "Debian"}


def test_valkey_is_the_same_plan_under_its_own_names() -> None:
    """One table entry holds every name; the directives, ports and users are the same."""
    redis, valkey = plan(), plan(server="valkey")
    assert redis["problems"] == valkey["problems"] == []
    r, v = redis["instances"][0], valkey["instances"][0]
    assert (v["unit"], v["pidfile"]) == (
        "valkey-server@default.service",
        "/run/valkey-default/valkey-server.pid",
    )
    assert v["paths"]["conf"] == "/etc/valkey/valkey-default.conf"
    assert v["config"]["dir"] == "/var/lib/valkey/default"
    assert v["config"]["logfile"] == "/var/log/valkey/valkey-server-default.log"
    assert valkey["server"]["package"] == "valkey-server"
    assert valkey["server"]["package_unit"] == "valkey-server.service"
    assert (valkey["server"]["cli"], valkey["server"]["user"]) == ("valkey-cli", "valkey")
    assert valkey["directories"][0]["owner"] == "valkey"
    same = ("port", "plain_port", "tls", "acl_users", "default_user_rules", "requires_auth")
    assert {k: v[k] for k in same} == {k: r[k] for k in same}
    differs = {"dir", "logfile", "pidfile"}
    assert {k: x for k, x in v["live"].items() if k not in differs} == {
        k: x for k, x in r["live"].items() if k not in differs
    }


def test_the_files_of_a_valkey_host_are_checked_by_valkey_and_grouped_to_it() -> None:
    layout = rendered("layout", redis_tuned_server="valkey")
    files = f.host_files(plan(server="valkey"), layout)
    by_path = {x["path"]: x for x in files["files"]}
    conf = by_path["/etc/valkey/valkey-default.conf"]
    assert (conf["group"], conf["validate"]) == (
        "valkey",
        f"{layout['checker']} --server valkey-server %s",
    )
    assert by_path["/etc/valkey/redis_tuned/default.json"]["group"] == "valkey"
    assert not [p for p in by_path if p.startswith("/etc/redis/")]


@pytest.mark.parametrize(
    ("server", "release", "refused"),
    [
        ("valkey", "12", "redis_tuned_server valkey: Debian 12 (bookworm) has no valkey-server "
                         "package; Debian 13 (trixie) is the first with it"),
        ("valkey", "13", None),
        ("redis", "12", None),
        ("redis", "13", None),
    ],
)  # fmt: skip
def test_valkey_is_refused_where_the_archive_has_no_package(
    server: str, release: str, refused: str | None
) -> None:
    facts = {**DEBIAN, "distribution_version": release, "distribution_major_version": release}
    problems = f.plan(role_inputs(server=server), facts)["problems"]
    if refused is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(refused), problems


def test_an_unknown_server_is_refused_naming_the_variable() -> None:
    problems = plan(server="keydb")["problems"]
    assert problems == ["redis_tuned_server must be one of redis, valkey (got 'keydb')"]


def test_a_switch_between_flavours_is_refused_while_the_old_instance_is_there() -> None:
    """redis_tuned_server switched on a host that runs the instance as the other
    flavour: one line naming the old unit and its data; nothing refused once the
    old instance is gone (state: absent under the old flavour), its data kept."""
    the_plan = plan(server="valkey")
    probe = the_plan["switch_probe"]
    assert probe == [{
        "name": "default", "flavour": "redis", "title": "Redis",
        "unit": "redis-server@default.service",
        "expectations": "/etc/redis/redis_tuned/default.json",
        "data": ["/var/lib/redis/default/dump.rdb", "/var/lib/redis/default/appendonlydir"],
    }]  # fmt: skip
    running = {
        "units": {"redis-server@default.service": {"active": True, "file_state": "enabled"}},
        "mtimes": {"/etc/redis/redis_tuned/default.json": 1.0,
                   "/var/lib/redis/default/appendonlydir": 1.0},
    }  # fmt: skip
    refused = f.live_refusals(the_plan, running)
    assert len(refused) == 1
    assert refused[0].startswith(
        "default: this host runs it as Redis (redis-server@default.service, managed by the "
        "role); it holds data (/var/lib/redis/default/appendonlydir). redis_tuned_server "
        "valkey would start an empty Valkey instance beside it on its port."
    )
    # Removed under the old flavour: unit disabled, its role files gone, data left.
    removed = {
        "units": {"redis-server@default.service": {"active": False, "file_state": "disabled"}},
        "mtimes": {"/var/lib/redis/default/appendonlydir": 1.0},
    }
    assert f.live_refusals(the_plan, removed) == []
    # And the other way round: a Valkey instance, Redis asked for.
    back = plan()
    assert back["switch_probe"][0]["unit"] == "valkey-server@default.service"
    valkey = {"units": {"valkey-server@default.service": {"active": True}}, "mtimes": {}}
    assert "runs it as Valkey" in f.live_refusals(back, valkey)[0]


# --- a unix socket for a local application group -----------------------------------


def test_unixsocket_group_places_a_660_socket_in_the_units_runtime_directory() -> None:
    """Beside the pid file (the unit's RuntimeDirectory, 2755: anyone may pass), 660,
    compared live like any directive; the expectations carry the group for the host
    check; no group: no socket."""
    inst = plan(instances=[{**ONE, "unixsocket_group": "webapp"}])["instances"][0]
    path = "/run/redis-default/redis-server.sock"
    assert inst["unixsocket"] == {"path": path, "group": "webapp", "mode": "660"}
    assert (inst["config"]["unixsocket"], inst["config"]["unixsocketperm"]) == (path, "660")
    assert inst["live"]["unixsocket"] == path
    assert inst["expectations"]["unixsocket_group"] == "webapp"
    assert inst["expectations"]["config"]["unixsocketperm"] == "660"
    plain = plan()["instances"][0]
    assert plain["unixsocket"] is None and "unixsocket" not in plain["config"]
    assert plain["expectations"]["unixsocket_group"] is None


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ({"unixsocket_group": "Web App"}, "unixsocket_group 'Web App' is not a group name"),
        ({"unixsocket_group": "x" * 33}, "is not a group name"),
        (
            {"unixsocket_group": "webapp", "config": {"unixsocket": "/tmp/r.sock"}},
            "give only unixsocket_group",
        ),
    ],
)
def test_a_bad_unixsocket_group_is_refused_naming_what_to_change(
    entry: dict[str, Any], said: str
) -> None:
    problems = plan(instances=[{**ONE, **entry}])["problems"]
    assert any(said in p for p in problems), problems


def test_prepare_makes_only_the_socket_groups_the_host_lacks() -> None:
    the_plan = plan(
        instances=[{**ONE, "unixsocket_group": "webapp"},
                   {"name": "b", "port": 6390, "unixsocket_group": "workers"}]
    )  # fmt: skip
    host = {"mask_units": [], "removed_units": [], "exporter_user": "", "exporter_binary": ""}
    steps = f.prepare(the_plan, {"groups": {"webapp": True, "workers": False}}, host)
    assert steps["groups"] == ["workers"] and steps["any"]
    assert f.prepare(the_plan, {"groups": {"webapp": True, "workers": True}}, host)["groups"] == []
