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
