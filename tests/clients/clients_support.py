"""What the application-side tests share: the admin password of the test servers,
the role's ACL rule strings, a server with a way to add users as the role does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned"
ADMIN_PASSWORD = "admin-test-secret"
# What the test Sentinels take from their clients (conftest.py, sentinel).
SENTINEL_PASSWORD = "sentinel-test-secret"


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
