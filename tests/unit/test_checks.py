"""The verifier's pure evaluation: the paths a live test cannot reach on every machine."""

from __future__ import annotations

from typing import Any

import pytest

from redis_tuned_tools.verify import checks as ck


def test_nofile_capped_by_the_container_is_a_warning_not_a_pass() -> None:
    capped = ck.check_nofile(20000, 10000, 10000, expected_nofile=65535, cap=20000)
    assert [c.status for c in capped] == [ck.WARN, ck.PASS, ck.PASS]
    assert "capped at 20000" in capped[0].hint
    short = ck.check_nofile(1024, 10000, 992, expected_nofile=65535, cap=20000)
    assert [c.status for c in short] == [ck.FAIL, ck.FAIL, ck.FAIL]
    assert "silently lowered maxclients from 10000 to 992" in short[2].hint


def test_kernel_settings_read_only_warn_writable_fail() -> None:
    assert ck.check_sysctl("vm.overcommit_memory", 1, 1, False, False).status == ck.PASS
    assert ck.check_sysctl("vm.overcommit_memory", 1, 0, True, False).status == ck.WARN
    assert ck.check_sysctl("vm.overcommit_memory", 1, 0, False, False).status == ck.FAIL
    assert ck.check_sysctl("net.core.somaxconn", 511, 4096, False, True).status == ck.PASS
    assert ck.check_sysctl("net.core.somaxconn", 511, 128, False, True).status == ck.FAIL
    assert ck.check_thp("never", "always madvise [never]", False).status == ck.PASS
    assert ck.check_thp("never", "always [madvise] never", True).status == ck.WARN
    assert ck.check_thp("never", "[always] madvise never", False).status == ck.FAIL


def test_startup_warnings_only_since_the_last_start() -> None:
    log = [
        "1:M 01 Jan 2026 00:00:00.000 # WARNING overcommit_memory is set to 0!",
        "2:C 01 Jan 2026 00:01:00.000 * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
        "2:M 01 Jan 2026 00:01:00.001 * Ready to accept connections tcp",
    ]
    assert ck.check_startup_warnings(ck.startup_warnings(log), False).status == ck.PASS
    # Redis logs it while starting, before it is ready.
    log.insert(2, "2:M 01 Jan 2026 00:01:00.000 # WARNING Memory overcommit must be enabled!")
    found = ck.startup_warnings(log)
    assert len(found) == 1
    assert ck.check_startup_warnings(found, kernel_read_only=True).status == ck.WARN
    assert ck.check_startup_warnings(found, kernel_read_only=False).status == ck.FAIL


def test_normalise_uses_redis_spellings() -> None:
    assert ck.normalise("maxmemory", "2gb") == str(2 * 1024**3)
    assert ck.normalise("save", ["900 1", "300  10"]) == "900 1 300 10"
    assert ck.normalise("appendonly", True) == "yes"
    assert ck.normalise("save", '""') == ""
    assert ck.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0


@pytest.mark.parametrize(
    ("directive", "spellings"),
    [
        ("maxmemory", ["2gb", "2GB", "2Gb", "2147483648", " 2gb "]),
        ("maxmemory", ["1k", "1K", "1000"]),
        ("timeout", ["300", "0300", "+300", " 300"]),
        ("maxmemory-policy", ["allkeys-lru", "ALLKEYS-LRU", "AllKeys-LRU"]),
        ("appendonly", ["yes", "YES", "true", "on", True]),
    ],
)
def test_normalise_takes_every_spelling_redis_takes(directive: str, spellings: list[Any]) -> None:
    assert len({ck.normalise(directive, s) for s in spellings}) == 1


def test_a_secret_is_compared_as_given() -> None:
    assert ck.normalise("requirepass", "0300") != ck.normalise("requirepass", "300")


def test_one_stall_does_not_decide_the_latency_check() -> None:
    """1000 round trips of 0.1 ms with 15 stalls of 50 ms in one batch: the plain p99
    is a stall, the robust p99 (median of 5 batch p99s) is not; the same stalls
    spread over every batch fail it."""
    one_batch = [0.1] * 1000
    one_batch[10:25] = [50.0] * 15
    summary = ck.latency_summary(one_batch)
    assert summary["p99_ms"] == 50.0
    assert summary["robust_p99_ms"] == 0.1
    assert ck.check_latency(summary, 5.0).status == ck.PASS
    spread = [50.0 if i % 50 == 0 else 0.1 for i in range(1000)]
    slow = ck.latency_summary(spread)
    assert slow["robust_p99_ms"] == 50.0
    check = ck.check_latency(slow, 5.0)
    assert check.status == ck.FAIL
    assert check.observed.startswith("50.000 ms (median of 5 batch p99s")


def test_startup_warnings_are_those_of_the_last_start_only() -> None:
    log = [
        "1:C 27 Nov 2026 10:00:00.000 # Redis is starting oO0OoO0Oo",
        "1:M 27 Nov 2026 10:00:00.001 # WARNING Memory overcommit must be enabled!",
        "1:M 27 Nov 2026 10:00:00.002 * Ready to accept connections tcp",
        "1:M 27 Nov 2026 10:05:00.000 # Warning: Could not create server TCP listening socket"
        " 192.0.2.77:6379: bind: Cannot assign requested address",
    ]
    assert ck.startup_warnings(log) == [log[1]]
    restarted = [*log, "2:C 27 Nov 2026 11:00:00.000 # Redis is starting oO0OoO0Oo"]
    assert ck.startup_warnings(restarted) == []


def test_values_redis_rewrites_compare_as_redis_keeps_them() -> None:
    """Issue 18 #11, the verifier's side: what Redis answers for a value it rewrites
    passes against the value as written, and a real difference still fails."""
    from redis_tuned_tools.verify import checks as ck

    expected = {"client-output-buffer-limit": "pubsub 32mb 8mb 60", "notify-keyspace-events": "Ex"}
    answered = {
        "client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 "
        "pubsub 33554432 8388608 60",
        "notify-keyspace-events": "xE",
    }
    assert [c.status for c in ck.compare_config(expected, answered)] == ["pass", "pass"]
    other = {
        "client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 "
        "pubsub 1048576 1048576 1",
        "notify-keyspace-events": "xEK",
    }
    assert [c.status for c in ck.compare_config(expected, other)] == ["fail", "fail"]
