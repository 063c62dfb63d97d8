"""Invalid role variables are refused in preflight, before anything on a host changes.

Each case runs playbooks/site.yml in check mode against this machine and
asserts that the run stops at a preflight task, with a message that names the
variable, and changed nothing. (molecule's verify repeats one case on a real
container and compares files and the Redis pid before and after.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]

ONE = {"name": "default", "port": 6379, "profile": "guide"}

# Files that exist: preflight checks that the paths are there; Redis itself
# checks the PEM content when it validates the config.
TLS_FILES = {
    "redis_tuned_tls_enabled": True,
    "redis_tuned_tls_cert_file": str(PROJECT / "README.md"),
    "redis_tuned_tls_key_file": str(PROJECT / "README.md"),
    "redis_tuned_tls_ca_file": str(PROJECT / "README.md"),
}

# The decisions themselves are unit-tested against the planning core
# (tests/unit/test_plan.py, one case per problem); these few cases prove the
# wiring: argument_specs, the plan's problems and the TLS file check on the
# control node all stop a real run before anything changes.
CASES = {
    "unknown eviction policy": (
        {"redis_tuned_config": {"maxmemory-policy": "allkeys-lru-typo"}},
        "redis_tuned_instances[0] (default): maxmemory-policy 'allkeys-lru-typo' is not one of",
    ),
    "maxclients over the fd budget, with a secret elsewhere": (
        {
            "redis_tuned_nofile": 5000,
            "redis_tuned_instances": [{**ONE, "password": "hunter2"}],
            "redis_tuned_acl_users": [{"name": "app", "password": "s3cret"}],
        },
        "maxclients 10000 needs maxclients + 32 = 10032 open files but redis_tuned_nofile is 5000",
    ),
    "a secret directive in a config dict": (
        {"redis_tuned_config": {"MasterAuth": "hunter2"}},
        "config may not set masterauth",
    ),
    "TLS with a missing key file": (
        {**TLS_FILES, "redis_tuned_tls_key_file": "/nonexistent/redis.key"},
        "redis_tuned_tls_key_file must name a readable PEM file",
    ),
    "unknown THP mode (argument_specs)": (
        {"redis_tuned_transparent_hugepages": "always"},
        "redis_tuned_transparent_hugepages",
    ),
    "ACL user without a password (argument_specs)": (
        {"redis_tuned_acl_users": [{"name": "app"}]},
        "password",
    ),
}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inv") / "hosts.ini"
    path.write_text(
        "[redis]\n"
        f"localhost ansible_connection=local ansible_become=false "
        f"ansible_python_interpreter={sys.executable}\n"
    )
    return path


def run_site(inventory: Path, extra: dict[str, Any], *args: str) -> tuple[int, str]:
    """playbooks/site.yml in check mode: its exit code and its output on one line."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "--check",
            "-i",
            str(inventory),
            "-e",
            json.dumps(extra),
            *args,
            str(PROJECT / "playbooks" / "site.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
        cwd=PROJECT,
    )
    return result.returncode, " ".join((result.stdout + result.stderr).split())


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_in_preflight(case: str, inventory: Path) -> None:
    extra, message = CASES[case]
    returncode, output = run_site(inventory, extra)
    assert returncode == 2, output[-2000:]
    assert message in output, output[-2000:]
    assert "changed=0" in output
    assert "hunter2" not in output and "s3cret" not in output
    # Stopped in preflight (or argument validation), never in a later task file.
    stops = [i for i in (output.find("fatal: ["), output.find("failed: [")) if i >= 0]
    assert stops, output[-2000:]
    failed_task = output[: min(stops)].rsplit("TASK [", 1)[1].split("]", 1)[0]
    assert failed_task.startswith(
        ("redis_tuned : Refuse", "redis_tuned : Check", "redis_tuned : Validating")
    ), failed_task


# Three hosts of one play (all this machine, each with its own private address): the
# replication groups are planned across them, so a refusal names the group's hosts.
GROUP = {
    "redis_tuned_instances": [
        {"name": "channels", "port": 6379, "profile": "channels", "replication": True,
         "password": "hunter2"}
    ],
    "redis_tuned_exporter_enabled": False,
    "redis_tuned_replication_primary": "redis-1",
    "redis_tuned_replication_password": "s3cret",
    "redis_tuned_sentinel_enabled": True,
    "redis_tuned_sentinel_password": "s3cret",
}  # fmt: skip


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inv") / "hosts.ini"
    path.write_text(
        "[redis]\n"
        + "".join(
            f"redis-{n} ansible_connection=local ansible_become=false "
            f"ansible_python_interpreter={sys.executable} "
            f'redis_tuned_config=\'{{"bind": "127.0.0.1 10.0.0.1{n}"}}\'\n'
            for n in (1, 2, 3)
        )
    )
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"redis_tuned_sentinel_quorum": 4},
            "replication group channels (hosts redis-1, redis-2, redis-3): "
            "redis_tuned_sentinel_quorum is 4, above the 3 Sentinels of the group",
        ),
        (
            {"redis_tuned_replication_primary": "redis-9"},
            "redis_tuned_replication_primary is redis-9, not a host of this play",
        ),
    ],
    ids=["quorum", "primary"],
)
def test_replication_groups_are_checked_across_the_hosts_of_the_play(
    three_hosts: Path, extra: dict[str, Any], message: str
) -> None:
    returncode, output = run_site(three_hosts, {**GROUP, **extra})
    assert returncode == 2, output[-2000:]
    assert output.count(message) >= 3, output[-3000:]  # on every host
    assert "hunter2" not in output and "s3cret" not in output
    for host in ("redis-1", "redis-2", "redis-3"):
        assert f"{host} : ok=" in output and "changed=0" in output


def test_a_limit_to_part_of_a_group_is_refused(three_hosts: Path) -> None:
    returncode, output = run_site(three_hosts, GROUP, "--limit", "redis-1")
    assert returncode == 2, output[-2000:]
    assert "replication group channels (hosts redis-1): 1 Sentinel(s) (redis-1)" in output
