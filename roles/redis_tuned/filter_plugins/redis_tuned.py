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
    tls: dict[str, Any] | None = None,
    exporter: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Merge common -> profile -> role-wide config -> instance config for every instance.

    ``maxmemory: auto`` becomes bytes: ``memtotal * share`` is split in equal
    shares, one per instance plus one more per instance that forks to save
    (its copy-on-write headroom), and each instance gets one share.
    ACL users are the role-wide ones plus the instance's own (same name: the
    instance's wins), as name and rules only: the plan never holds a secret.
    With ``tls`` (enabled, port, only, auth_clients and the cert_file, key_file
    and ca_file paths on the host), instance i gets TLS on its own ``tls_port``
    or on ``port + i``, replication over TLS too, and with ``only`` (or the
    instance's ``tls_only``) no plain port at all (``port 0``).
    With ``exporter`` (enabled, port), instance i gets a redis_exporter on its
    own ``exporter_port`` or on ``port + i``, scraping it over loopback.
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
    for index, (inst, directives) in enumerate(merged):
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
        tls_plan = _tls_plan(inst, index, tls)
        directives.update(tls_plan.pop("directives"))
        exporter_plan = _exporter_plan(inst, index, exporter, tls_plan)
        users: dict[str, str] = {}
        for user in [*(acl_users or []), *(inst.get("acl_users") or [])]:
            users[str(user["name"])] = str(user.get("rules") or acl_default_rules)
        result.append(
            {
                "name": name,
                "port": inst["port"],
                **tls_plan,
                "exporter": exporter_plan,
                "profile": inst.get("profile", "guide"),
                "requires_auth": bool(inst.get("password")) or bool(users),
                "acl_users": [{"name": n, "rules": r} for n, r in sorted(users.items())],
                "persists": _persists(directives),
                "config": directives,
            }
        )
    return result


def _truthy(value: Any) -> bool:
    """A boolean however Ansible handed it over (True, "true", "yes", 1...)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _tls_plan(inst: dict[str, Any], index: int, tls: dict[str, Any] | None) -> dict[str, Any]:
    """Ports and TLS directives of one instance: plain_port is 0 when it is TLS-only."""
    if not tls or not _truthy(tls.get("enabled")):
        return {"plain_port": inst["port"], "tls": None, "directives": {}}
    tls_port = inst.get("tls_port") or int(tls["port"]) + index
    only = _truthy(inst.get("tls_only", tls.get("only", True)))
    return {
        "plain_port": 0 if only else inst["port"],
        "tls": {
            "port": tls_port,
            "only": only,
            "auth_clients": tls.get("auth_clients", "no"),
            "ca_file": tls["ca_file"],
            "cert_file": tls["cert_file"],
            "key_file": tls["key_file"],
        },
        "directives": {
            "tls-port": tls_port,
            "tls-cert-file": tls["cert_file"],
            "tls-key-file": tls["key_file"],
            "tls-ca-cert-file": tls["ca_file"],
            "tls-auth-clients": tls.get("auth_clients", "no"),
            "tls-replication": "yes",
        },
    }


def _exporter_plan(
    inst: dict[str, Any], index: int, exporter: dict[str, Any] | None, tls_plan: dict[str, Any]
) -> dict[str, Any] | None:
    """The exporter of one instance: its port and the address it scrapes (the
    plain port over loopback, else the TLS port: rediss://)."""
    if not exporter or not _truthy(exporter.get("enabled")):
        return None
    tls = tls_plan["tls"]
    if tls_plan["plain_port"]:
        addr = f"redis://127.0.0.1:{tls_plan['plain_port']}"
    else:
        addr = f"rediss://127.0.0.1:{tls['port']}"
    return {
        "port": inst.get("exporter_port") or int(exporter["port"]) + index,
        "addr": addr,
        "tls": addr.startswith("rediss://"),
        "client_cert": bool(tls) and tls["auth_clients"] != "no",
    }


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


def cli_args(instance: dict[str, Any]) -> list[str]:
    """redis-cli/redis-tuned-verify connection flags for a planned instance, on its host:
    the plain port where there is one, else TLS with the CA (and the server's own
    certificate as the client's where the server asks clients for one)."""
    tls = instance.get("tls")
    if instance.get("plain_port") or not tls:
        return ["-p", str(instance.get("plain_port") or instance["port"])]
    args = ["--tls", "--cacert", tls["ca_file"]]
    if tls.get("auth_clients", "no") != "no":
        args += ["--cert", tls["cert_file"], "--key", tls["key_file"]]
    return [*args, "-p", str(tls["port"])]


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "redis_tuned_bytes": redis_bytes,
            "redis_tuned_is_size": is_size,
            "redis_tuned_plan": plan,
            "redis_tuned_conf_lines": conf_lines,
            "redis_tuned_expect_args": expect_args,
            "redis_tuned_cli_args": cli_args,
        }
