"""Filters of the redis_tuned role: the per-instance plan and redis.conf rendering.

Pure functions, so that pytest can check them without a host.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

DOCUMENTATION = ""

# Redis's size spelling is parsed once, by the verification tool the role ships
# (files/redis_tuned_tools), loaded from its file: it needs only the stdlib.
_CHECKS_PY = Path(__file__).resolve().parents[1] / "files/redis_tuned_tools/verify/checks.py"
_spec = importlib.util.spec_from_file_location("_redis_tuned_checks", _CHECKS_PY)
assert _spec is not None and _spec.loader is not None
_checks = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(_checks)


def redis_bytes(value: Any) -> int:
    """Redis's size spelling ("2gb", "512mb", "100k", 1048576) in bytes.

    Raises ValueError for anything Redis would not read as a size.
    """
    size = None if isinstance(value, bool) or value is None else _checks.to_bytes(value)
    if size is None:
        raise ValueError(f"not a size: {value!r}")
    return int(size)


def is_size(value: Any) -> bool:
    """True when Redis would read ``value`` as a size."""
    try:
        redis_bytes(value)
    except ValueError:
        return False
    return True


def _persists(config: dict[str, Any]) -> bool:
    """True when the instance forks to save (RDB save points or AOF rewrites)."""
    save = config.get("save", "")
    has_save = bool(save) and save != [""]
    aof = str(config.get("appendonly", "no")).lower() in ("yes", "true")
    return has_save or aof


def plan(
    instances: list[dict[str, Any]],
    profiles: dict[str, dict[str, Any]],
    common: dict[str, Any],
    config: dict[str, Any],
    memtotal_mb: int,
    share: float,
    acl_users: list[dict[str, Any]] | None = None,
    acl_default_rules: str = "~* &* +@all -@dangerous",
) -> list[dict[str, Any]]:
    """Merge common -> profile -> role-wide config -> instance config for every instance.

    ``maxmemory: auto`` becomes bytes: ``memtotal * share`` is split in equal
    shares, one per instance plus one more per instance that forks to save
    (its copy-on-write headroom), and each instance gets one share.
    ACL users are the role-wide ones plus the instance's own (same name: the
    instance's wins), as name and rules only: the plan never holds a secret.
    Anything invalid is left as given: preflight reports it with context.
    """
    merged = []
    for inst in instances:
        profile = profiles.get(inst.get("profile", "guide"), {})
        directives = {**common, **profile, **(config or {}), **(inst.get("config") or {})}
        merged.append((inst, directives))
    shares = sum(2 if _persists(d) else 1 for _, d in merged) or 1
    auto_bytes = int(memtotal_mb * 1024 * 1024 * share / shares)
    result = []
    for inst, directives in merged:
        name = inst["name"]
        base = {
            "bind": "127.0.0.1 -::1",
            "protected-mode": "yes",
            "dir": f"/var/lib/redis/{name}",
            "logfile": f"/var/log/redis/redis-server-{name}.log",
            "dbfilename": "dump.rdb",
        }
        directives = {**base, **directives}
        if str(directives.get("maxmemory", "")).lower() == "auto":
            directives["maxmemory"] = auto_bytes
        users: dict[str, str] = {}
        for user in [*(acl_users or []), *(inst.get("acl_users") or [])]:
            users[str(user["name"])] = str(user.get("rules") or acl_default_rules)
        result.append(
            {
                "name": name,
                "port": inst["port"],
                "profile": inst.get("profile", "guide"),
                "requires_auth": bool(inst.get("password")) or bool(users),
                "acl_users": [{"name": n, "rules": r} for n, r in sorted(users.items())],
                "persists": _persists(directives),
                "config": directives,
            }
        )
    return result


def conf_value(value: Any) -> str:
    """One directive value in redis.conf spelling (booleans as yes/no)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def conf_lines(directives: dict[str, Any]) -> list[str]:
    """redis.conf lines for a dict of directives, sorted by name.

    A list gives one line per element (``save``); an empty string or list
    gives ``directive ""`` (``save ""`` turns RDB off). Strings are written
    as they are, so multi-argument values (``bind 127.0.0.1 -::1``) work.
    """
    lines = []
    for key in sorted(directives):
        value = directives[key]
        values = value if isinstance(value, list) else [value]
        values = [v for v in values if conf_value(v) != ""]
        if not values:
            lines.append(f'{key} ""')
        lines.extend(f"{key} {conf_value(v)}" for v in values)
    return lines


def expect_args(directives: dict[str, Any]) -> list[str]:
    """``--expect KEY=VALUE`` arguments of redis-tuned-verify for a dict of directives."""
    args = []
    for key in sorted(directives):
        value = directives[key]
        values = value if isinstance(value, list) else [value]
        args += ["--expect", f"{key}=" + " ".join(conf_value(v) for v in values)]
    return args


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "redis_tuned_bytes": redis_bytes,
            "redis_tuned_is_size": is_size,
            "redis_tuned_plan": plan,
            "redis_tuned_conf_lines": conf_lines,
            "redis_tuned_expect_args": expect_args,
        }
