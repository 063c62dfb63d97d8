"""ACL users and rules: what a rule may not do, the default user's rules per use."""

from __future__ import annotations

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
    return problems


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
