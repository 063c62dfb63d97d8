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

CASES = {
    "unknown eviction policy": (
        {"redis_tuned_config": {"maxmemory-policy": "allkeys-lru-typo"}},
        "redis_tuned_instances[0] (default): maxmemory-policy 'allkeys-lru-typo' is not one of",
    ),
    "maxclients over the fd budget": (
        {"redis_tuned_nofile": 5000},
        "maxclients 10000 needs maxclients + 32 = 10032 open files but redis_tuned_nofile is 5000",
    ),
    "port out of range": (
        {"redis_tuned_instances": [{**ONE, "port": 70000}]},
        "redis_tuned_instances[0] (default): port must be 1-65535, got 70000",
    ),
    "duplicate ports": (
        {"redis_tuned_instances": [ONE, {**ONE, "name": "other"}]},
        "unique listening ports, plain, TLS and exporter (got [6379, 6379",
    ),
    "duplicate names": (
        {"redis_tuned_instances": [ONE, {**ONE, "port": 6380}]},
        "unique names (got ['default', 'default'])",
    ),
    "bad instance name": (
        {"redis_tuned_instances": [{**ONE, "name": "Bad Name"}]},
        "redis_tuned_instances[0] (Bad Name): name must match [a-z0-9_-]+",
    ),
    "unknown profile": (
        {"redis_tuned_instances": [{**ONE, "profile": "fast"}]},
        "profile",
    ),
    "maxmemory above the host's RAM": (
        {"redis_tuned_config": {"maxmemory": "100000gb"}},
        "exceeds this host's",
    ),
    "maxmemory that is not a size": (
        {"redis_tuned_config": {"maxmemory": "lots"}},
        "maxmemory 'lots' is not a size",
    ),
    "requirepass in a config dict": (
        {"redis_tuned_config": {"requirepass": "x"}},
        "config may not set requirepass (use the instance's port and password fields",
    ),
    "memory share above 1": (
        {"redis_tuned_memory_share": 1.5},
        "redis_tuned_memory_share must be in (0, 1] (got 1.5)",
    ),
    "somaxconn below tcp-backlog": (
        {"redis_tuned_sysctl": {"net.core.somaxconn": 128}},
        "redis_tuned_sysctl sets net.core.somaxconn to 128, below the largest tcp-backlog (511)",
    ),
    "bound beyond loopback without a password": (
        {"redis_tuned_config": {"bind": "0.0.0.0"}},
        "bind '0.0.0.0' listens beyond loopback but the instance has no password",
    ),
    "private address without a password": (
        {"redis_tuned_instances": [{**ONE, "config": {"bind": "127.0.0.1 10.1.2.3"}}]},
        "Set redis_tuned_instances[0].password (from a vault) or redis_tuned_acl_users, or bind",
    ),
    "ACL user named default": (
        {"redis_tuned_acl_users": [{"name": "default", "password": "x"}]},
        "redis_tuned_acl_users: ACL user names must be unique, match [A-Za-z0-9_.-]+ and not be "
        '"default"',
    ),
    "ACL user with an empty password": (
        {"redis_tuned_instances": [{**ONE, "acl_users": [{"name": "app", "password": ""}]}]},
        "redis_tuned_instances[0].acl_users: ACL user names must be unique",
    ),
    "ACL user with a space in its name": (
        {"redis_tuned_acl_users": [{"name": "my app", "password": "x"}]},
        "(got ['my app'])",
    ),
    "ACL user without a password": (
        {"redis_tuned_acl_users": [{"name": "app"}]},
        "password",
    ),
    "TLS without its files": (
        {"redis_tuned_tls_enabled": True},
        "redis_tuned_tls_cert_file, redis_tuned_tls_key_file, redis_tuned_tls_ca_file must name a "
        "readable PEM file",
    ),
    "TLS with a missing key file": (
        {**TLS_FILES, "redis_tuned_tls_key_file": "/nonexistent/redis.key"},
        "redis_tuned_tls_key_file must name a readable PEM file",
    ),
    "TLS port taken by a plain port": (
        {**TLS_FILES, "redis_tuned_tls_only": False, "redis_tuned_tls_port": 6379},
        "unique listening ports, plain, TLS and exporter (got [6379, 6379",
    ),
    "TLS port out of range": (
        {**TLS_FILES, "redis_tuned_tls_port": 0},
        "TLS ports must be 1-65535 (got [0]",
    ),
    "tls-port in a config dict": (
        {"redis_tuned_config": {"tls-port": 6380}},
        "config may not set tls-port (use the instance's port",
    ),
    "unknown tls-auth-clients value": (
        {"redis_tuned_tls_auth_clients": "maybe"},
        "redis_tuned_tls_auth_clients",
    ),
    "exporter port taken by a Redis port": (
        {"redis_tuned_exporter_port": 6379},
        "unique listening ports, plain, TLS and exporter (got [6379, 6379])",
    ),
    "exporter port out of range": (
        {"redis_tuned_instances": [{**ONE, "exporter_port": 70000}]},
        "exporter ports must be 1-65535 (got [70000]",
    ),
    "upstream exporter without a checksum": (
        {
            "redis_tuned_exporter_source": "upstream",
            "redis_tuned_exporter_url": "https://example.invalid/redis_exporter.tar.gz",
        },
        "redis_tuned_exporter_sha256 (its SHA-256, 64 hex digits, got '')",
    ),
    "upstream exporter with a malformed checksum": (
        {
            "redis_tuned_exporter_source": "upstream",
            "redis_tuned_exporter_url": "https://example.invalid/redis_exporter.tar.gz",
            "redis_tuned_exporter_sha256": "abc123",
        },
        "got 'abc123'): nothing downloaded is installed unchecked",
    ),
    "ACL user named like the exporter's": (
        {"redis_tuned_acl_users": [{"name": "redis-tuned-exporter", "password": "x"}]},
        '"redis-tuned" or "redis-tuned-exporter" (got [\'redis-tuned-exporter\'])',
    ),
    "unknown THP mode": (
        {"redis_tuned_transparent_hugepages": "always"},
        "redis_tuned_transparent_hugepages",
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
