"""Helpers for the testinfra checks that molecule's verify stage runs on each container."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import testinfra

PROJECT = Path(__file__).resolve().parents[2]


def redis_cli(host, name: str, port: int, *args: str):  # type: ignore[no-untyped-def]
    """Run redis-cli on the container, authenticating from the instance's own auth file.

    The password goes through REDISCLI_AUTH, read inside the container, so it
    is never on a command line.
    """
    auth = f"/etc/redis/redis-{name}-auth.conf"
    cmd = (
        f'REDISCLI_AUTH="$(sed -n \'s/^requirepass "\\(.*\\)"$/\\1/p\' {auth})" '
        f"redis-cli --no-auth-warning -p {port} " + " ".join(shlex.quote(a) for a in args)
    )
    return host.run(cmd)


def config_get(host, name: str, port: int, directive: str) -> str:  # type: ignore[no-untyped-def]
    """The live value of one directive, from CONFIG GET."""
    out = redis_cli(host, name, port, "--raw", "CONFIG", "GET", directive)
    assert out.rc == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == directive, f"CONFIG GET {directive} answered {out.stdout!r}"
    return lines[1] if len(lines) > 1 else ""


def run_site(
    host_name: str, extra_vars: dict[str, object], playbook: str = "site.yml"
) -> subprocess.CompletedProcess[str]:
    """Run a playbook of playbooks/ (site.yml by default) on one molecule host."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory,
            "--limit",
            host_name,
            "-e",
            json.dumps(extra_vars),
            str(PROJECT / "playbooks" / playbook),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=env,
    )


@pytest.fixture
def host_name(_testinfra_host) -> str:  # type: ignore[no-untyped-def]
    """The inventory name of the container under test."""
    return str(_testinfra_host.backend.get_hostname())


@pytest.fixture
def host(host_name: str):  # type: ignore[no-untyped-def]
    """The container through `podman exec`.

    testinfra's ansible backend does not know the containers.podman connection
    and would run every command through a whole ansible invocation (seconds
    each); podman exec takes milliseconds.
    """
    return testinfra.get_host(f"podman://{host_name}")
