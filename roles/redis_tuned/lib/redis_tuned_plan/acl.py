"""ACL users and rules: what a rule may not do, the default user's rules per use."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .values import _type_name

USER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


# ACL rule tokens a rules string may not hold: the role sets each user's password
# itself (a hash), so no rule may add, drop or waive one.
ACL_PASSWORD_RULES = ("nopass", "resetpass", "reset")


ACL_PASSWORD_PREFIXES = (">", "<", "#", "!")


USER_TYPES: dict[str, tuple[type, ...]] = {"name": (str,), "password": (str,), "rules": (str,)}


def rules_problems(rules: Any, where: str) -> list[str]:
    """An ACL rule string the role writes after the user's own password hash: it may
    not add, drop or waive a password (nopass would let anyone in)."""
    if not isinstance(rules, str):
        return [f"{where} must be a string of ACL rules (got {_type_name(rules)})"]
    bad = [
        t
        for t in rules.split()
        if t.lower() in ACL_PASSWORD_RULES or t.startswith(ACL_PASSWORD_PREFIXES)
    ]
    if bad:
        shown = ", ".join(t if t.lower() in ACL_PASSWORD_RULES else t[0] + "..." for t in bad)
        return [
            f"{where}: the rules may not set or drop a password ({shown}): the role gives the "
            "user its password; use the user's password field"
        ]
    return []


def _users_problems(users: Any, where: str) -> list[str]:
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        return [f"{where} must be a list of users (name, password, rules), got {_type_name(users)}"]
    problems = []
    for i, user in enumerate(users):
        for key, types in USER_TYPES.items():
            if user.get(key) is not None and not isinstance(user[key], types):
                problems.append(
                    f"{where}[{i}].{key} must be a string (got {_type_name(user[key])})"
                )
        if isinstance(user.get("rules"), str):
            problems += rules_problems(user["rules"], f"{where}[{i}].rules")
        problems += placeholder_problems(user.get("password"), f"{where}[{i}].password")
    return problems


# How the example inventory's vault spells a password nobody has set yet.
PLACEHOLDER = "change-me"


def placeholder_problems(password: Any, where: str) -> list[str]:
    """A password still the example inventory's placeholder (never shown)."""
    if isinstance(password, str) and password.strip().lower().startswith(PLACEHOLDER):
        return [
            f"{where} is still the example inventory's placeholder ({PLACEHOLDER}...): put a "
            "real password in the vault (ansible-vault edit group_vars/redis/vault.yml)"
        ]
    return []


def _default_user_rules(
    inputs: dict[str, Any], inst: dict[str, Any], where: str, problems: list[str]
) -> str:
    """The default user's rules: the instance's own, else those of its profile's use
    (redis_tuned_acl_rules), never +@all: whoever holds the application's password
    should not FLUSHALL, CONFIG SET, SHUTDOWN or MODULE LOAD (the role's own admin
    user does what the role does)."""
    if inst.get("default_user_rules"):
        return str(inst["default_user_rules"])
    profile = str(inst.get("profile", "guide"))
    use = (inputs.get("profile_acl_use") or {}).get(profile, "default")
    rules = (inputs.get("acl_rules") or {}).get(use)
    if not rules:
        problems.append(
            f"{where}: redis_tuned_acl_rules has no '{use}' rules (the {profile} profile's "
            "default user uses them): add them, or set the instance's default_user_rules"
        )
        return str(inputs["acl_default_rules"])
    return str(rules)


def _acl_problems(inputs: dict[str, Any]) -> list[str]:
    """User names unique per scope, well-formed, not the role's own; every user has a
    password. Counts and names only: no password is ever put in a message."""
    problems = []
    own = [inputs["admin_user"], inputs["exporter_user"], inputs.get("verify_user") or ""]
    own += [str(u.get("name") or "") for u in (inputs.get("own_users") or {}).values()]
    reserved = {"default", *filter(None, own)}
    scopes = [("redis_tuned_acl_users", inputs.get("acl_users") or [])]
    for index, inst in enumerate(inputs.get("instances") or []):
        scopes.append((f"redis_tuned_instances[{index}].acl_users", inst.get("acl_users") or []))
    for where, users in scopes:
        names = [str(u.get("name")) for u in users]
        without = sum(1 for u in users if not u.get("password"))
        if (
            len(set(names)) != len(names)
            or any(not USER_NAME.fullmatch(n) for n in names)
            or reserved & set(names)
            or without
        ):
            problems.append(
                f"{where}: ACL user names must be unique, match [A-Za-z0-9_.-]+ and not be "
                f"{', '.join(repr(n) for n in sorted(reserved))} (got {names}), and every "
                f"user needs a non-empty password ({without} without)."
            )
    return problems


# How a hidden file names the SHA-256 of one of the role's own passwords: the
# files module fills it in on the host (library/redis_tuned_files.py, TOKEN).
OWN_HASH = "@@redis_tuned_secret_sha256:{}@@"


def merged_users(role_users: Any, entry_users: Any) -> dict[str, dict[str, Any]]:
    """An instance's ACL users by name: the role's (redis_tuned_acl_users), then
    its entry's own (acl_users), a later one replacing an earlier of its name."""
    merged: dict[str, dict[str, Any]] = {}
    for user in [*(role_users or []), *(entry_users or [])]:
        merged[str(user.get("name"))] = dict(user)
    return merged


def own_users(
    inputs: dict[str, Any], exporter: bool, replicated: bool = False
) -> list[dict[str, str]]:
    """The role's own users on an instance: its admin (ACL LOAD, CONFIG SET, the
    host's check), its exporter's where it has one, its verify user; on a replicated
    instance the replication user (what every node logs in to its primary as) and
    Sentinel's (what the Sentinels log in to each node as)."""
    own = inputs.get("own_users") or {}
    kinds = [
        "admin", *(["exporter"] if exporter else []), "verify",
        *(["replica", "sentinel"] if replicated else []),
    ]  # fmt: skip
    return [{k: str(v) for k, v in own[kind].items()} for kind in kinds if kind in own]


def acl_file(inst: dict[str, Any], acl_users: Any, entry: dict[str, Any]) -> str:
    """An instance's ACL file: the role's own users (the hashes of their passwords
    filled in on the host), the default user (the entry's password, else off where
    there are ACL users, else open), the application's users; only SHA-256 hashes
    of passwords. ``acl_users`` is redis_tuned_acl_users, ``entry`` the instance's
    redis_tuned_instances entry (its password and its own acl_users)."""
    users = merged_users(acl_users, entry.get("acl_users"))
    lines = [
        f"user {u['name']} on #{OWN_HASH.format(u['secret'])} {u['rules']}"
        for u in inst["own_users"]
    ]
    password = str(entry.get("password") or "")
    if password:
        lines.append(f"user default on #{_sha256(password)} {inst['default_user_rules']}")
    elif inst["acl_users"]:
        lines.append("user default off")
    else:
        lines.append("user default on nopass ~* &* +@all")
    lines += [
        f"user {u['name']} on #{_sha256(str(users[u['name']]['password']))} {u['rules']}"
        for u in inst["acl_users"]
    ]
    return "\n".join(lines)


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()
