"""The role's filter plugin: sizes, the per-instance plan and redis.conf lines."""

from __future__ import annotations

import pytest
import redis_tuned as f  # roles/redis_tuned/filter_plugins/redis_tuned.py

PROFILES = {
    "guide": {"maxmemory-policy": "allkeys-lru", "save": ["900 1"], "appendonly": "yes"},
    "cache": {"maxmemory-policy": "allkeys-lru", "save": "", "appendonly": "no"},
    "channels": {"maxmemory-policy": "noeviction", "save": "", "appendonly": "no"},
}
COMMON = {"maxclients": 10000, "maxmemory": "auto"}
GIB = 1024**3


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


def test_merge_order_profile_then_role_wide_then_instance() -> None:
    plan = f.plan(
        [{"name": "a", "port": 1, "profile": "guide", "config": {"timeout": 7}}],
        PROFILES,
        {**COMMON, "timeout": 300},
        {"timeout": 100, "maxmemory-policy": "volatile-lru"},
        1024,
        0.5,
    )
    cfg = plan[0]["config"]
    assert cfg["timeout"] == 7  # instance wins
    assert cfg["maxmemory-policy"] == "volatile-lru"  # role-wide wins over profile
    assert cfg["save"] == ["900 1"]  # profile wins over common
    assert cfg["dir"] == "/var/lib/redis/a"


def test_auto_maxmemory_gives_forking_instances_copy_on_write_headroom() -> None:
    instances = [
        {"name": "p", "port": 1, "profile": "guide"},
        {"name": "c", "port": 2, "profile": "cache"},
        {"name": "x", "port": 3, "profile": "cache", "config": {"maxmemory": "1mb"}},
    ]
    plan = f.plan(instances, PROFILES, COMMON, {}, 4096, 0.75)
    share = int(4096 * 1024 * 1024 * 0.75 / 4)  # p counts twice, c and x once each
    assert [p["config"]["maxmemory"] for p in plan] == [share, share, "1mb"]
    assert [p["persists"] for p in plan] == [True, False, False]


def test_plan_carries_no_password() -> None:
    plan = f.plan(
        [{"name": "a", "port": 1, "profile": "cache", "password": "s3cret"}],
        PROFILES,
        COMMON,
        {},
        1024,
        0.5,
    )
    assert plan[0]["requires_auth"] is True
    assert "s3cret" not in repr(plan)


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


def test_acl_users_merge_by_name_without_passwords() -> None:
    plan = f.plan(
        [
            {
                "name": "a",
                "port": 1,
                "profile": "cache",
                "acl_users": [{"name": "app", "password": "inst-pw", "rules": "~a:* +get"}],
            }
        ],
        PROFILES,
        COMMON,
        {},
        1024,
        0.5,
        [{"name": "app", "password": "global-pw"}, {"name": "ops", "password": "ops-pw"}],
        "~* +@all",
    )
    assert plan[0]["acl_users"] == [
        {"name": "app", "rules": "~a:* +get"},  # the instance's own wins
        {"name": "ops", "rules": "~* +@all"},  # default rules
    ]
    assert plan[0]["requires_auth"] is True  # ACL users: the default user is turned off
    assert "pw" not in repr(plan)


TLS = {
    "enabled": True,
    "port": 6380,
    "only": True,
    "auth_clients": "no",
    "cert_file": "/etc/redis/redis_tuned/tls/redis.crt",
    "key_file": "/etc/redis/redis_tuned/tls/redis.key",
    "ca_file": "/etc/redis/redis_tuned/tls/ca.crt",
}


def test_tls_off_keeps_the_plain_port_and_adds_no_directive() -> None:
    plan = f.plan([{"name": "a", "port": 6379}], PROFILES, COMMON, {}, 1024, 0.5)
    assert plan[0]["plain_port"] == 6379
    assert plan[0]["tls"] is None
    assert not [k for k in plan[0]["config"] if k.startswith("tls-")]


def test_tls_ports_follow_the_instance_order_and_tls_only_closes_the_plain_port() -> None:
    instances = [
        {"name": "a", "port": 6379},
        {"name": "b", "port": 6390, "tls_only": False},
        {"name": "c", "port": 6391, "tls_port": 7000},
    ]
    plan = f.plan(instances, PROFILES, COMMON, {}, 1024, 0.5, tls=TLS)
    assert [(p["plain_port"], p["tls"]["port"]) for p in plan] == [
        (0, 6380),
        (6390, 6381),
        (0, 7000),
    ]
    conf = plan[0]["config"]
    assert conf["tls-port"] == 6380
    assert conf["tls-replication"] == "yes"  # a replica of a TLS-only primary needs it
    assert conf["tls-auth-clients"] == "no"
    assert conf["tls-ca-cert-file"] == TLS["ca_file"]
    assert "tls-port 6380" in f.conf_lines(conf)


def test_cli_args_use_tls_only_where_there_is_no_plain_port() -> None:
    instances = [{"name": "a", "port": 6379}, {"name": "b", "port": 6390, "tls_only": False}]
    tls_only, both = f.plan(instances, PROFILES, COMMON, {}, 1024, 0.5, tls=TLS)
    assert f.cli_args(both) == ["-p", "6390"]
    assert f.cli_args(tls_only) == ["--tls", "--cacert", TLS["ca_file"], "-p", "6380"]
    mutual = f.plan(instances, PROFILES, COMMON, {}, 1024, 0.5, tls={**TLS, "auth_clients": "yes"})
    assert f.cli_args(mutual[0])[3:7] == ["--cert", TLS["cert_file"], "--key", TLS["key_file"]]
    plain = f.plan(instances, PROFILES, COMMON, {}, 1024, 0.5)
    assert f.cli_args(plain[0]) == ["-p", "6379"]


def test_exporter_ports_and_the_address_it_scrapes() -> None:
    instances = [
        {"name": "a", "port": 6379},
        {"name": "b", "port": 6390, "tls_only": False, "exporter_port": 9200},
        {"name": "c", "port": 6391},
    ]
    exporter = {"enabled": True, "port": 9121}
    plan = f.plan(instances, PROFILES, COMMON, {}, 1024, 0.5, tls=TLS, exporter=exporter)
    assert [(p["exporter"]["port"], p["exporter"]["addr"]) for p in plan] == [
        (9121, "rediss://127.0.0.1:6380"),  # TLS only: scraped over TLS
        (9200, "redis://127.0.0.1:6390"),
        (9123, "rediss://127.0.0.1:6382"),
    ]
    off = f.plan(
        instances, PROFILES, COMMON, {}, 1024, 0.5, exporter={**exporter, "enabled": False}
    )
    assert [p["exporter"] for p in off] == [None, None, None]
