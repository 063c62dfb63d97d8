"""Config values: Redis's size spelling, the role's own conversions, config lines."""

from __future__ import annotations

import re
from typing import Any

from redis_tuned_tools.common.values import to_bytes

# Written by the template itself, the same for every instance.
TEMPLATE_DIRECTIVES = frozenset({"daemonize", "supervised", "pidfile", "port", "aclfile"})


# Read from the file only; CONFIG GET does not show them (a change restarts).
FILE_ONLY_DIRECTIVES = frozenset({"include", "rename-command", "user", "loadmodule"})


# Owned by the running servers of a replication group, not by the file: Sentinel
# sends REPLICAOF and rewrites the line on a failover. Never compared, never restarted for.
RUNTIME_OWNED = frozenset({"replicaof", "slaveof"})


AUTH_CLIENTS = ("no", "optional", "yes")


def redis_bytes(value: Any) -> int:
    """Redis's size spelling ("2gb", "512mb", "100k", 1048576) in bytes.

    Raises ValueError for anything Redis would not read as a size.
    """
    size = None if isinstance(value, bool) or value is None else to_bytes(value)
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


def _truthy(value: Any) -> bool:
    """A boolean however Ansible handed it over (True, "true", "yes", 1...)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _int(value: Any) -> int | None:
    """An integer, or None for anything that is not one (booleans included)."""
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _persists(config: dict[str, Any]) -> bool:
    """True when the instance forks to save (RDB save points or AOF rewrites)."""
    save = config.get("save", "")
    has_save = bool(save) and save != [""]
    aof = str(config.get("appendonly", "no")).lower() in ("yes", "true")
    return has_save or aof


def _lower_keys(config: Any) -> dict[str, Any]:
    """Directive names as Redis reads them: case-insensitive, so lower-cased."""
    return {str(k).lower(): v for k, v in (config or {}).items()}


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


DIRECTIVE = re.compile(r"[a-z][a-z0-9_-]*")


SCALARS = (str, int, float, bool)


def _type_name(value: Any) -> str:
    return {dict: "a dict", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _controls(value: Any, where: str) -> list[str]:
    """Where a string (a dict key included) holds a control character; the value
    itself is never shown (it may be a password)."""
    if isinstance(value, str):
        return [where] if CONTROL.search(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            label = repr(key) if isinstance(key, str) and CONTROL.search(key) else str(key)
            found += [f"{where} (a key)"] if isinstance(key, str) and CONTROL.search(key) else []
            found += _controls(item, f"{where}.{label}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _controls(item, f"{where}[{i}]")
    return found


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


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
    """``--expect KEY=VALUE`` arguments of redis-tuned-verify for a dict of directives,
    for the control node's check: not ``dir``, a path only the host can resolve (a
    symlink: Redis answers its target; the host's own check compares it)."""
    args = []
    for key in sorted(set(directives) - {"dir"}):
        value = directives[key]
        values = value if isinstance(value, list) else [value]
        args += ["--expect", f"{key}=" + " ".join(conf_value(v) for v in values)]
    return args
