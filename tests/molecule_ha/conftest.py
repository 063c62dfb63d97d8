"""Helpers for the HA scenario's tests (molecule/ha): three containers, one
replication group "channels", a Sentinel on each. The tests look at the group as a
whole, so they take the containers by name (podman exec), not testinfra's host."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[2]
SCENARIO = yaml.safe_load((PROJECT / "molecule" / "ha" / "molecule.yml").read_text())
NAMES = [p["name"] for p in SCENARIO["platforms"]]
VARS: dict[str, Any] = SCENARIO["provisioner"]["inventory"]["group_vars"]["redis"]
GROUP = "channels"
PORT = 6379
SENTINEL_PORT = 26379
TESTER = VARS["redis_tuned_acl_users"][0]
APP = VARS["redis_tuned_instances"][0]["password"]
SENTINEL_PASSWORD = VARS["redis_tuned_sentinel_password"]
ADMIN_SECRET = "/etc/redis/redis_tuned/admin.secret"


def sh(
    name: str, script: str, stdin: str = "", timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    """A shell script in a container (``stdin``: what it reads, a password)."""
    return subprocess.run(
        ["podman", "exec", "-i", name, "sh", "-c", script],
        input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def node(name: str, *command: str) -> list[str]:
    """A command at a container's channels instance, as the role's own admin user
    (its password read in the container), the reply's lines."""
    out = sh(
        name,
        f'REDISCLI_AUTH="$(cat {ADMIN_SECRET})" redis-cli --no-auth-warning --user redis-tuned '
        f"-p {PORT} " + " ".join(command),
    )
    return out.stdout.strip().splitlines()


def sentinel(name: str, *command: str) -> list[str]:
    """A command at a container's Sentinel, logged in with the Sentinels' password
    (read from standard input: never in an argument)."""
    out = sh(
        name,
        f"read -r REDISCLI_AUTH; export REDISCLI_AUTH; redis-cli --no-auth-warning "
        f"-p {SENTINEL_PORT} " + " ".join(command),
        stdin=SENTINEL_PASSWORD + "\n",
    )
    return out.stdout.strip().splitlines()


def info(name: str, section: str) -> dict[str, str]:
    lines = node(name, "INFO", section)
    return dict(ln.split(":", 1) for ln in lines if ":" in ln and not ln.startswith("#"))


def pairs(lines: list[str]) -> dict[str, str]:
    return dict(zip(lines[0::2], lines[1::2], strict=False))


def address_of(name: str) -> str:
    out = subprocess.run(
        ["podman", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
         name],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return out.stdout.strip()


def roles() -> dict[str, str]:
    """Each container's replication role as its node says (master, slave)."""
    return {n: info(n, "replication").get("role", "?") for n in NAMES}


# Figures the tests measured (a failover's gap, ...): printed at the end of the run.
FIGURES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if FIGURES:
        terminalreporter.section("measured in the HA scenario")
        for key, value in FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")
