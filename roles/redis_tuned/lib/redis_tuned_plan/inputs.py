"""The input boundary and the problems of the variables: types, names, control
characters, directories."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from .acl import _users_problems, placeholder_problems, rules_problems
from .layout import PACKAGE_WRITABLE, SERVERS, data_dir, entry
from .values import AUTH_CLIENTS, DIRECTIVE, SCALARS, _controls, _lower_keys, _truthy, _type_name

NAME = re.compile(r"^[a-z0-9_-]+$")


SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


SYSCTL_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+")


# The role variable each input key comes from (tls and exporter: redis_tuned_<key>_<sub>).
VARIABLES = {
    "instances": "redis_tuned_instances",
    "config": "redis_tuned_config",
    "nofile": "redis_tuned_nofile",
    "sysctl": "redis_tuned_sysctl",
    "transparent_hugepages": "redis_tuned_transparent_hugepages",
    "restart_policy": "redis_tuned_restart_policy",
    "restart_all": "redis_tuned_restart_all",
    "restart_only": "redis_tuned_restart_only",
    "failover_pause_ms": "redis_tuned_failover_pause_ms",
    "memory_share": "redis_tuned_memory_share",
    "acl_users": "redis_tuned_acl_users",
    "acl_rules": "redis_tuned_acl_rules",
    "client_address": "redis_tuned_verify_client_address",
    "server": "redis_tuned_server",
    "server_version": "redis_tuned_server_version",
    "replication_primary": "redis_tuned_replication_primary",
}


INSTANCE_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "port": (int, str),
    "profile": (str,),
    "state": (str,),
    "purge": (bool,),
    "password": (str,),
    "config": (dict,),
    "tls_port": (int, str),
    "exporter_port": (int, str),
    "tls_only": (bool, str),
    "acl_users": (list,),
    "default_user_rules": (str,),
    "verify_address": (str,),
    "replication": (bool,),
}


# Where an instance may keep its data: its own directory, never one the system or
# another instance uses (purge deletes it; the files step makes redis its owner).
SYSTEM_DIRS = frozenset(
    {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media",
     "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
     "/var", "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/log", "/var/mail",
     "/var/opt", "/var/run", "/var/spool", "/var/tmp", *PACKAGE_WRITABLE}
)  # fmt: skip


# Trees the unit cannot write (ProtectSystem=strict, ProtectHome) or the role owns.
SYSTEM_TREES = ("/bin/", "/boot/", "/dev/", "/etc/", "/home/", "/lib/", "/proc/", "/root/",
                "/run/", "/sbin/", "/sys/", "/usr/", "/tmp/", "/var/tmp/")  # fmt: skip


def _variable(key: str) -> str:
    return VARIABLES.get(key, f"redis_tuned_{key}")


def _config_problems(config: Any, where: str) -> list[str]:
    """A config dict: directive names as Redis reads them (it lower-cases them; a
    space, quote or tab would make a different directive than the role checked),
    values a scalar or a list of scalars."""
    if not isinstance(config, dict):
        return [
            f"{where} must be a dict of redis.conf directive -> value (got {_type_name(config)})"
        ]
    problems = []
    for key, value in config.items():
        if not isinstance(key, str) or not DIRECTIVE.fullmatch(key.lower()):
            problems.append(
                f"{where}: {key!r} is not a redis.conf directive name (letters, digits, - and _)"
            )
        elif value is None or not (
            isinstance(value, SCALARS)
            or (isinstance(value, list) and all(isinstance(v, SCALARS) for v in value))
        ):
            problems.append(
                f"{where}.{key} must be a value or a list of values (got {_type_name(value)})"
            )
    return problems


def _entry_problems(index: int, inst: Any) -> list[str]:
    """One entry of redis_tuned_instances, present or absent, checked the same way."""
    where = f"redis_tuned_instances[{index}]"
    if not isinstance(inst, dict):
        return [f"{where} must be a dict (name, port, profile, ...), got {_type_name(inst)}"]
    name = inst.get("name")
    where = f"{where} ({name})"
    problems = []
    for key, types in INSTANCE_TYPES.items():
        value = inst.get(key)
        if value is None or (
            isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        ):
            continue
        hint = " (quote it)" if key == "name" and isinstance(value, int) else ""
        wanted = "a number" if int in types else _type_name(types[0]())
        problems.append(f"{where}: {key} must be {wanted} (got {_type_name(value)}){hint}")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append(f"{where}: name must match [a-z0-9_-]+")
    if isinstance(inst.get("config"), dict):
        problems += _config_problems(inst["config"], f"redis_tuned_instances[{index}].config")
    if isinstance(inst.get("acl_users"), list):
        problems += _users_problems(inst["acl_users"], f"redis_tuned_instances[{index}].acl_users")
    if isinstance(inst.get("default_user_rules"), str):
        problems += rules_problems(
            inst["default_user_rules"], f"redis_tuned_instances[{index}].default_user_rules"
        )
    problems += placeholder_problems(
        inst.get("password"), f"redis_tuned_instances[{index}].password"
    )
    return problems


def input_problems(inputs: dict[str, Any]) -> list[str]:
    """What in the role's variables the plan cannot decide on: a wrong shape or
    type, a control character, a name or directive name the role's paths and Redis
    would read differently. Each names the variable; none shows a value."""
    problems = [
        f"{where} holds a control character (a newline, tab, ...): write it on one line"
        for key in VARIABLES
        if key in inputs
        for where in _controls(inputs[key], _variable(key))
    ]
    for key in ("tls", "exporter"):
        for sub, value in (inputs.get(key) or {}).items():
            if sub not in ("host_files", "files_ok"):
                problems += [
                    f"{w} holds a control character"
                    for w in _controls(value, f"redis_tuned_{key}_{sub}")
                ]
    flavour = inputs.get("server")
    if flavour is not None and flavour not in SERVERS:
        problems.append(
            f"redis_tuned_server must be one of {', '.join(SERVERS)} (got {str(flavour)[:40]!r})"
        )
    instances = inputs.get("instances")
    if not isinstance(instances, list):
        problems.append(
            "redis_tuned_instances must be a list of instance entries (name, port, profile, ...), "
            f"got {_type_name(instances)}"
        )
    else:
        for index, inst in enumerate(instances):
            problems += _entry_problems(index, inst)
    if inputs.get("config") is not None:
        problems += _config_problems(inputs["config"], "redis_tuned_config")
    problems += _users_problems(inputs.get("acl_users") or [], "redis_tuned_acl_users")
    rules = inputs.get("acl_rules")
    if rules is not None:
        if not isinstance(rules, dict):
            problems.append(
                f"redis_tuned_acl_rules must be a dict of use -> rules (got {_type_name(rules)})"
            )
        else:
            for use, text in rules.items():
                problems += rules_problems(text, f"redis_tuned_acl_rules.{use}")
    sysctl = inputs.get("sysctl")
    if sysctl is not None and not isinstance(sysctl, dict):
        problems.append(
            f"redis_tuned_sysctl must be a dict of sysctl name -> value (got {_type_name(sysctl)})"
        )
    for key, value in (sysctl if isinstance(sysctl, dict) else {}).items():
        if not isinstance(key, str) or not SYSCTL_KEY.fullmatch(key.replace("/", ".")):
            problems.append(
                f"redis_tuned_sysctl: {key!r} is not a sysctl name (net.core.somaxconn)"
            )
        elif not isinstance(value, (int, str)) or isinstance(value, bool):
            problems.append(f"redis_tuned_sysctl.{key} must be a number or a string")
    if isinstance(sysctl, dict):
        spelled = [str(k).replace("/", ".") for k in sysctl]
        twice = sorted({k for k in spelled if spelled.count(k) > 1})
        if twice:
            problems.append(f"redis_tuned_sysctl names {', '.join(twice)} twice (with . and /)")
    for key in ("nofile", "memory_share"):
        if isinstance(inputs.get(key), (bool, dict, list)):
            problems.append(f"{_variable(key)} must be a number (got {_type_name(inputs[key])})")
    return problems


def own_directory_problem(path: Any, what: str, where: str) -> str | None:
    """None when ``path`` can be an instance's own directory: absolute, written the
    way the kernel resolves it, not a system directory nor inside a tree the unit
    cannot write."""
    text = str(path)
    if (
        not text.startswith("/")
        or posixpath.normpath(text) != text
        or text in SYSTEM_DIRS
        or text.startswith(SYSTEM_TREES)
        or text.count("/") < 2
    ):
        return (
            f"{where}: {what} '{text}' must be a directory of the instance's own (absolute, no "
            "'..', not a system directory such as /var/lib or /etc; default "
            f"{data_dir('<name>', {}, {})})"
        )
    return None


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _list_problems(raw: list[dict[str, Any]], instances: list[dict[str, Any]]) -> list[str]:
    """Names unique; every port something listens on (plain, TLS, exporter) unique."""
    problems = []
    names = [str(i.get("name")) for i in raw]
    if len(set(names)) != len(names):
        problems.append(f"redis_tuned_instances must have unique names (got {names})")
    ports: list[int] = []
    for inst in instances:
        ports += [inst["plain_port"]] if inst["plain_port"] else []
        ports += [inst["tls"]["port"]] if inst["tls"] else []
        ports += [inst["exporter"]["port"]] if inst["exporter"] else []
    if len(set(ports)) != len(ports):
        taken = sorted({p for p in ports if ports.count(p) > 1})
        problems.append(
            f"redis_tuned_instances must have unique listening ports, plain, TLS and exporter "
            f"(got {ports}; taken twice: {taken})"
        )
    return problems


def _log_dir(logfile: Any, where: str, problems: list[str], flavour: str = "") -> list[str]:
    """The directory of a logfile outside the package's log directory, which the
    role makes for it (its own, like a data directory); "" logs to the journal."""
    text = str(logfile if logfile is not None else "")
    if text in ("", '""'):
        return []
    parent = posixpath.dirname(text)
    if parent == entry(flavour)["log_dir"] and posixpath.normpath(text) == text:
        return []
    bad = own_directory_problem(parent, "the directory of logfile", where)
    if bad or not posixpath.basename(text):
        problems.append(bad or f"{where}: logfile '{text}' must name a file")
        return []
    return [parent]


def _dir_problems(
    indexed: list[tuple[int, dict[str, Any]]], role_config: dict[str, Any], flavour: str = ""
) -> list[str]:
    """Every entry's data directory (absent ones too: purge deletes it) is its own:
    not a system directory, not another entry's, not inside or around one."""
    problems: list[str] = []
    seen: list[tuple[str, str]] = []
    for index, inst in indexed:
        where = f"redis_tuned_instances[{index}] ({inst.get('name')})"
        config = _lower_keys(inst.get("config"))
        path = data_dir(str(inst.get("name")), role_config, config, flavour)
        bad = own_directory_problem(path, "dir", where)
        if bad:
            problems.append(bad)
            continue
        for other, other_path in seen:
            if _nested(path, other_path):
                problems.append(
                    f"{where}: dir '{path}' is also the data of {other} ('{other_path}'): each "
                    "instance needs a directory of its own (set dir per instance, not in "
                    "redis_tuned_config)"
                )
        seen.append((where, path))
    return problems


def _tls_problems(tls: dict[str, Any]) -> list[str]:
    problems = []
    missing = [var for var, ok in (tls.get("files_ok") or {}).items() if not ok]
    if missing:
        problems.append(
            f"redis_tuned_tls_enabled is true: {', '.join(sorted(missing))} must name a readable "
            "PEM file on the control node (the role copies it to the host)"
        )
    if tls.get("auth_clients") not in AUTH_CLIENTS:
        problems.append(
            'redis_tuned_tls_auth_clients must be "no", "optional" or "yes" '
            f"(got {tls.get('auth_clients')})"
        )
    client_missing = [var for var, ok in (tls.get("client_files_ok") or {}).items() if not ok]
    if tls.get("auth_clients") == "yes" and not _truthy(tls.get("client_given")):
        problems.append(
            "redis_tuned_tls_auth_clients is yes: set redis_tuned_tls_client_cert_file and "
            "redis_tuned_tls_client_key_file to a client certificate signed by "
            "redis_tuned_tls_ca_file (the exporters and the role's checks present it; the "
            'server\'s own certificate is not a client\'s), or use "optional" or "no"'
        )
    elif _truthy(tls.get("client_given")) and client_missing:
        problems.append(
            f"{', '.join(sorted(client_missing))} must name a readable PEM file on the "
            "control node (the role's client certificate and its key go together)"
        )
    return problems


def _exporter_problems(exporter: dict[str, Any]) -> list[str]:
    problems = []
    if not str(exporter.get("listen_address") or ""):
        problems.append("redis_tuned_exporter_listen_address must be an address (0.0.0.0 for all)")
    if exporter.get("source") == "upstream":
        url = str(exporter.get("url") or "")
        sha = str(exporter.get("sha256") or "")
        if not re.match(r"^(https?|file)://", url) or not SHA256.match(sha):
            problems.append(
                "redis_tuned_exporter_source upstream needs redis_tuned_exporter_url (an "
                f"http(s):// or file:// URL of the release tarball, got '{url}') and "
                f"redis_tuned_exporter_sha256 (its SHA-256, 64 hex digits, got '{sha}'): nothing "
                "downloaded is installed unchecked."
            )
    return problems
