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


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_in_preflight(case: str, inventory: Path) -> None:
    extra, message = CASES[case]
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
            str(PROJECT / "playbooks" / "site.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
        cwd=PROJECT,
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, output[-2000:]
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
