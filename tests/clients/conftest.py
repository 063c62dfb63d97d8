"""Real redis-server processes on free loopback ports, with ACL users made the way the
role makes them, for the application-side tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml
from support import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
ROLE = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned"
ADMIN_PASSWORD = "admin-test-secret"


def role_rules(use: str) -> str:
    """The role's ACL rule string for a use (defaults/main.yml, redis_tuned_acl_rules);
    "default" must be the role's own default for users (vars/main.yml)."""
    rules = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["redis_tuned_acl_rules"]
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert rules["default"] == internal["__redis_tuned_acl_default_rules"]
    return str(rules[use])


@dataclass
class Server:
    port: int
    admin: redis.Redis

    def add_user(self, name: str, password: str, rules: str) -> None:
        """ACL SETUSER as the role's ACL file declares a user: on, a password, rules."""
        self.admin.execute_command(
            "ACL", "SETUSER", name, "reset", "on", f">{password}", *rules.split()
        )  # type: ignore[no-untyped-call]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: ``redis_server(timeout=300, maxclients=...)``; the default user needs
    ADMIN_PASSWORD. Every server is shut down at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**options: object) -> Server:
        port = free_port()
        workdir = tmp_path / f"redis-{port}"
        workdir.mkdir()
        args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                "--save", "", "--appendonly", "no", "--requirepass", ADMIN_PASSWORD]  # fmt: skip
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        admin = redis.Redis(port=port, password=ADMIN_PASSWORD, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                admin.ping()
                return Server(port, admin)
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)
