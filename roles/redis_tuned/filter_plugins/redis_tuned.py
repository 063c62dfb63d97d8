"""The planning core of the redis_tuned role.

``plan(inputs, facts)`` is the one place that decides, from the role's
variables and the host's facts (as the probe reads them): each instance's
merged config, its ports, the address the role itself connects to on the host,
the address clients (and the control node's check) connect to, its TLS and
exporter settings and what the verification expects of it; the kernel
settings; and the list of problems (each naming the variable and what to
change). Preflight asserts that the list is empty, tasks apply the plan,
templates render it. What depends on the host's state is decided once before
the files are written (``prepare``) and once after (``decide``).

Pure functions, no Ansible import: pytest calls them directly. The plan never
holds a secret: passwords only decide ``requires_auth`` and which credential
the control node's check uses.
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
import re
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

# Default ports are derived from the instance's own port, so that inserting or
# reordering instances moves nobody: an instance on port P gets its TLS port at
# redis_tuned_tls_port + (P - BASE_PORT) and its exporter at
# redis_tuned_exporter_port + (P - BASE_PORT).
BASE_PORT = 6379
# The least "maxmemory: auto" may give an instance: below a few tens of MB a
# noeviction instance refuses writes at once, and 0 would mean no limit at all.
AUTO_FLOOR = 32 * 2**20
WILDCARDS = ("0.0.0.0", "*", "::", "::*")
NAME = re.compile(r"^[a-z0-9_-]+$")
USER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
THP_MODES = ("never", "madvise", "unchanged")
THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"
# Where the role and redis-tuned-verify keep per-instance state on the host.
STATE_DIR = "/var/lib/redis_tuned"
# Written by the template itself, the same for every instance.
TEMPLATE_DIRECTIVES = frozenset({"daemonize", "supervised", "pidfile", "port", "aclfile"})
# Read from the file only; CONFIG GET does not show them (a change restarts).
FILE_ONLY_DIRECTIVES = frozenset({"include", "rename-command", "user", "loadmodule"})
AUTH_CLIENTS = ("no", "optional", "yes")


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


def bind_addresses(bind: Any) -> list[str]:
    """The addresses of a bind value ("127.0.0.1 -::1" -> ["127.0.0.1", "::1"])."""
    return [a.lstrip("-") for a in str(bind or "").split()]


_is_loopback = _checks.is_loopback


def local_host(bind: Any) -> str:
    """The address the role itself dials on the host: loopback where the instance
    listens there (a wildcard includes it), else the first bound address."""
    addresses = bind_addresses(bind) or ["127.0.0.1"]
    if any(a in ("0.0.0.0", "*") for a in addresses):
        return "127.0.0.1"
    loopback = [a for a in addresses if _is_loopback(a)]
    if loopback:
        return "127.0.0.1" if "127.0.0.1" in loopback else loopback[0]
    if any(a in ("::", "::*") for a in addresses):
        return "::1"
    return addresses[0]


def remote_host(bind: Any, client_address: str) -> str | None:
    """The address a client on another machine dials: None when the instance
    listens on loopback only; ``client_address`` (the inventory's address) where
    it listens on all; else its first non-loopback bound address."""
    addresses = bind_addresses(bind)
    if any(a in WILDCARDS for a in addresses):
        return client_address
    outside = [a for a in addresses if not _is_loopback(a)]
    return outside[0] if outside else None


def url_host(address: str) -> str:
    """An address as it goes into a URL (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address


# --- the input boundary -------------------------------------------------------
# The argument specs check a converted copy of the variables; the role is handed
# the raw values. So the plan checks, before deciding anything, what it reads:
# the shape of every variable, no control character anywhere (a newline in a
# value would write a line of its own into redis.conf or the ACL file), names and
# directive names as Redis and the role's paths read them. Any of these stops the
# plan there: nothing downstream decides on input it cannot trust.

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DIRECTIVE = re.compile(r"[a-z][a-z0-9_-]*")
SYSCTL_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+")
# ACL rule tokens a rules string may not hold: the role sets each user's password
# itself (a hash), so no rule may add, drop or waive one.
ACL_PASSWORD_RULES = ("nopass", "resetpass", "reset")
ACL_PASSWORD_PREFIXES = (">", "<", "#", "!")
# The role variable each input key comes from (tls and exporter: redis_tuned_<key>_<sub>).
VARIABLES = {
    "instances": "redis_tuned_instances",
    "config": "redis_tuned_config",
    "nofile": "redis_tuned_nofile",
    "sysctl": "redis_tuned_sysctl",
    "transparent_hugepages": "redis_tuned_transparent_hugepages",
    "restart_policy": "redis_tuned_restart_policy",
    "memory_share": "redis_tuned_memory_share",
    "acl_users": "redis_tuned_acl_users",
    "acl_rules": "redis_tuned_acl_rules",
    "client_address": "redis_tuned_verify_client_address",
}
SCALARS = (str, int, float, bool)
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
}
USER_TYPES: dict[str, tuple[type, ...]] = {"name": (str,), "password": (str,), "rules": (str,)}
# Where an instance may keep its data: its own directory, never one the system or
# another instance uses (purge deletes it; the files step makes redis its owner).
SYSTEM_DIRS = frozenset(
    {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media",
     "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
     "/var", "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/log", "/var/mail",
     "/var/opt", "/var/run", "/var/spool", "/var/tmp", "/var/lib/redis", "/var/log/redis"}
)  # fmt: skip
# Trees the unit cannot write (ProtectSystem=strict, ProtectHome) or the role owns.
SYSTEM_TREES = ("/bin/", "/boot/", "/dev/", "/etc/", "/home/", "/lib/", "/proc/", "/root/",
                "/run/", "/sbin/", "/sys/", "/usr/", "/tmp/", "/var/tmp/")  # fmt: skip
# What the package's unit may write (ReadWritePaths=); a dir or logfile elsewhere
# gets a ReadWritePaths= of its own in the role's drop-in.
PACKAGE_WRITABLE = ("/var/lib/redis", "/var/log/redis")


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


def _refused(problems: list[str]) -> dict[str, Any]:
    """The plan of input the core cannot decide on: its problems, nothing to do."""
    return {
        "instances": [], "removed_instances": [], "transparent_hugepages": "unchanged",
        "restart_policy": "auto", "kernel_paths": [], "thp_path": THP_PATH, "units": [],
        "live_probe": [], "restart_files": [], "directories": [], "sysctls": {},
        "removed_exporter_units": [],
        "problems": problems,
    }  # fmt: skip


def data_dir(name: str, role_config: dict[str, Any], inst_config: dict[str, Any]) -> str:
    """An instance's data directory, as the plan and purge both derive it."""
    return str(inst_config.get("dir") or role_config.get("dir") or f"/var/lib/redis/{name}")


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
            "/var/lib/redis/<name>)"
        )
    return None


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


SUPPORTED = {"Debian": ("12", "13")}


def host_facts(facts: Any) -> dict[str, Any] | None:
    """The host facts the plan decides from, or None while they are not known.

    The probe reads them (``memtotal_mb`` from /proc/meminfo, ``distribution``
    and its versions from /etc/os-release): the role gathers no Ansible facts.
    A bare number is ``memtotal_mb`` alone (the facts of a play that gathered them).
    """
    if facts is None or facts == "":
        return None
    if isinstance(facts, dict):
        return dict(facts)
    return {"memtotal_mb": facts}


def host_problems(host: dict[str, Any]) -> list[str]:
    """The host itself: a distribution and release the role supports."""
    if "distribution" not in host:
        return []
    name = str(host.get("distribution"))
    major = str(host.get("distribution_major_version"))
    if major in SUPPORTED.get(name, ()):
        return []
    return [
        "redis_tuned supports Debian 12 and 13; this host is "
        f"{name} {host.get('distribution_version') or major}."
    ]


def plan(inputs: dict[str, Any], facts: Any = None) -> dict[str, Any]:
    """The whole plan of the role for one host; see the module's docstring.

    ``inputs`` holds the role's variables under short names (vars/main.yml,
    ``__redis_tuned_inputs``) and its constants (profiles, owned and sensitive
    directives, user names). ``facts`` are the host's (``host_facts``); without
    them (None: before the probe has read the host) the plan is what the probe
    needs to read, and the problems are those of the variables alone.
    ``maxmemory: auto`` becomes bytes: ``memtotal * memory_share`` is split in
    equal shares, one per instance plus one more per instance that forks to
    save (its copy-on-write headroom), and each instance gets one share.
    """
    problems = input_problems(inputs)
    if problems:
        return _refused(problems)
    host = host_facts(facts)
    if host is not None:
        problems += host_problems(host)
    raw_all = list(inputs.get("instances") or [])
    # (index in redis_tuned_instances, entry): the present ones are planned, the
    # absent ones removed (removed_instances).
    indexed = list(enumerate(raw_all))
    for index, inst in indexed:
        if inst.get("state", "present") not in ("present", "absent"):
            problems.append(
                f"redis_tuned_instances[{index}] ({inst.get('name')}): state must be present or "
                f"absent (got {inst.get('state')})"
            )
        if not isinstance(inst.get("purge", False), bool):
            problems.append(
                f"redis_tuned_instances[{index}] ({inst.get('name')}): purge must be true or false"
            )
        if inst.get("purge") is True and inst.get("state") != "absent":
            problems.append(
                f"redis_tuned_instances[{index}] ({inst.get('name')}): purge: true goes with "
                "state: absent (it deletes the instance's data directory)"
            )
    present = [(i, inst) for i, inst in indexed if inst.get("state", "present") != "absent"]
    raw = [inst for _, inst in present]
    memtotal = (_int(host.get("memtotal_mb")) or 0) if host is not None else 0
    share = _float(inputs.get("memory_share"))
    if share is None or not 0 < share <= 1:
        problems.append(
            f"redis_tuned_memory_share must be in (0, 1] (got {inputs.get('memory_share')})"
        )
        share = 0.75
    nofile = _int(inputs.get("nofile")) or 0
    if nofile < 1024:
        problems.append(f"redis_tuned_nofile must be at least 1024 (got {inputs.get('nofile')})")
    if not raw:
        problems.append("redis_tuned_instances must list at least one present instance")
    thp = str(inputs.get("transparent_hugepages"))
    thp_path = str(inputs.get("thp_path") or THP_PATH)
    policy = str(inputs.get("restart_policy") or "auto")
    if policy not in ("auto", "deferred"):
        problems.append(f"redis_tuned_restart_policy must be auto or deferred (got {policy})")
    if thp not in THP_MODES:
        problems.append(
            f"redis_tuned_transparent_hugepages must be one of {', '.join(THP_MODES)} (got {thp})"
        )

    role_config = _lower_keys(inputs.get("config"))
    merged = []
    for inst in raw:
        profile = inputs["profiles"].get(inst.get("profile", "guide"), {})
        directives = {
            **_lower_keys(inputs["common"]),
            **_lower_keys(profile),
            **role_config,
            **_lower_keys(inst.get("config")),
        }
        merged.append(directives)
    shares = sum(2 if _persists(d) else 1 for d in merged) or 1
    auto_bytes = int(memtotal * 1024 * 1024 * share / shares)
    if (
        host is not None
        and auto_bytes < AUTO_FLOOR
        and any(str(d.get("maxmemory", "")).lower() == "auto" for d in merged)
    ):
        problems.append(
            f"maxmemory auto gives each instance {auto_bytes} bytes ({memtotal} MB of RAM known "
            f"x redis_tuned_memory_share {share} / {shares} shares), below {AUTO_FLOOR // 2**20} "
            "MB (0 would mean no limit): raise "
            "redis_tuned_memory_share or give the instances an explicit maxmemory"
        )

    tls_in = inputs.get("tls") or {}
    exporter_in = inputs.get("exporter") or {}
    tls_on = _truthy(tls_in.get("enabled"))
    exporter_on = _truthy(exporter_in.get("enabled"))
    instances = []
    for (index, inst), directives in zip(present, merged, strict=True):
        where = f"redis_tuned_instances[{index}] ({inst.get('name')})"
        instances.append(
            _instance(
                inputs, index, inst, directives, auto_bytes, nofile, memtotal, problems, where
            )
        )
    problems += _list_problems(raw_all, instances)
    problems += _dir_problems(indexed, role_config)
    if tls_on:
        problems += _tls_problems(tls_in)
    if exporter_on:
        problems += _exporter_problems(exporter_in)
    problems += _acl_problems(inputs)
    total = sum(
        redis_bytes(i["config"]["maxmemory"])
        for i in instances
        if is_size(i["config"].get("maxmemory"))
    )
    if memtotal and total > memtotal * 1024 * 1024:
        problems.append(
            f"all instances together ask for {total} bytes of maxmemory, more than this host's "
            f'{memtotal} MB of RAM: set smaller sizes or "auto"'
        )

    backlog = max([_int(i["config"].get("tcp-backlog", 511)) or 511 for i in instances] or [511])
    sysctls = {"vm.overcommit_memory": 1, "net.core.somaxconn": max(4096, backlog)}
    # net/core/somaxconn is net.core.somaxconn to sysctl(8): one spelling, so the floor holds.
    sysctls.update({k.replace("/", "."): v for k, v in (inputs.get("sysctl") or {}).items()})
    somaxconn = _int(sysctls["net.core.somaxconn"])
    if somaxconn is None or somaxconn < backlog:
        problems.append(
            f"redis_tuned_sysctl sets net.core.somaxconn to {sysctls['net.core.somaxconn']}, "
            f"below the largest tcp-backlog ({backlog}): the kernel would silently cut Redis's "
            "backlog. Raise it or drop it from redis_tuned_sysctl."
        )
    for inst in instances:
        inst["expectations"]["sysctl"] = sysctls
    directories = [
        {"path": d, "owner": "redis", "mode": "0750"}
        for i in instances
        for d in [i["config"]["dir"], *i["log_dir"]]
    ]
    directories += [
        {
            "path": f"/etc/systemd/system/redis-server@{i['name']}.service.d",
            "owner": "root",
            "mode": "0755",
        }
        for i in instances
    ]
    return {
        "instances": instances,
        "removed_instances": [
            _removed(inst, role_config) for _, inst in indexed if inst.get("state") == "absent"
        ],
        # redis_tuned_exporter_enabled false: the exporters an earlier run made go.
        "removed_exporter_units": [
            f"redis-tuned-exporter@{i['name']}.service" for i in instances if not i["exporter"]
        ],
        "transparent_hugepages": thp,
        "restart_policy": policy,
        # What the kernel probe reads: every sysctl, then THP.
        "kernel_paths": [*(_sysctl_path(k) for k in sysctls), thp_path],
        "thp_path": thp_path,
        "units": [i["unit"] for i in instances],
        # What the probe reads live (CONFIG GET) of each instance, and how it connects.
        "live_probe": [
            {
                "name": i["name"],
                "args": i["cli_args"],
                # Where its current config file says it listens, should the plan's
                # address not answer yet (a port or TLS switch not yet applied).
                "host": i["local"]["host"],
                "tls_args": _tls_flags(i["tls"]),
                # The role's client certificate on the host, whatever the plan says of
                # it: a server may still ask for one the plan no longer presents.
                "client_cert": [
                    (tls_in.get("client_files") or {}).get(k) or ""
                    for k in ("cert_file", "key_file")
                ]
                if i["tls"]
                else [],
                "directives": sorted(i["live"]),
                "conf": i["paths"]["conf"],
            }
            for i in instances
        ],
        # Per instance, the files its running process must not be older than.
        "restart_files": [f for i in instances for f in i["restart_files"]],
        "directories": directories,
        "sysctls": sysctls,
        "problems": problems,
    }


def _expectations(inst: dict[str, Any], pending: list[str] | None) -> str:
    """The expectations file: with restart policy deferred, the directives whose
    change waits for a restart (the verification warns on them, it does not fail)."""
    data = dict(inst["expectations"])
    if pending:
        data["pending_restart"] = sorted(pending)
    return json.dumps(data, indent=4, sort_keys=True) + "\n"


def _removed(inst: dict[str, Any], role_config: dict[str, Any]) -> dict[str, Any]:
    """An instance with state: absent: its units stop, its files go; its data
    directory stays unless purge."""
    name = str(inst.get("name"))
    unit = f"redis-server@{name}.service"
    config = _lower_keys(inst.get("config"))
    return {
        "name": name,
        "unit": unit,
        "exporter_unit": f"redis-tuned-exporter@{name}.service",
        "paths": {
            "conf": f"/etc/redis/redis-{name}.conf",
            "acl": f"/etc/redis/redis-{name}.acl",
            "dropin": f"/etc/systemd/system/{unit}.d/redis-tuned.conf",
            "dropin_dir": f"/etc/systemd/system/{unit}.d",
        },
        "dir": data_dir(name, role_config, config),
        "purge": inst.get("purge") is True,
    }


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def _instance(
    inputs: dict[str, Any],
    index: int,
    inst: dict[str, Any],
    directives: dict[str, Any],
    auto_bytes: int,
    nofile: int,
    memtotal: int,
    problems: list[str],
    where: str,
) -> dict[str, Any]:
    """The plan of one instance; its problems are appended to ``problems``."""
    name = str(inst.get("name"))
    port = _int(inst.get("port"))
    if port is None or not 1 <= port <= 65535:
        problems.append(f"{where}: port must be 1-65535, got {inst.get('port')}")
        port = port if port is not None else 0
    if inst.get("profile", "guide") not in inputs["profiles"]:
        problems.append(
            f"{where}: profile '{inst.get('profile')}' is not one of "
            f"{', '.join(sorted(inputs['profiles']))}"
        )
    given = set(_lower_keys(inputs.get("config"))) | set(_lower_keys(inst.get("config")))
    owned = sorted(given & set(inputs["owned_directives"]))
    if owned:
        problems.append(
            f"{where}: config may not set {', '.join(owned)} (use the instance's port and "
            "password fields, and redis_tuned_tls_*)"
        )
    sensitive = sorted(given & set(inputs["sensitive_directives"]))
    if sensitive:
        problems.append(
            f"{where}: config may not set {', '.join(sensitive)}: a secret in a config dict would "
            "be shown in diffs and written to the expectations file; the role does not manage it"
        )
    base = {
        "bind": "127.0.0.1 -::1",
        "protected-mode": "yes",
        "dir": data_dir(name, {}, {}),
        "logfile": f"/var/log/redis/redis-server-{name}.log",
        "dbfilename": "dump.rdb",
    }
    config = {**base, **directives}
    log_dir = _log_dir(config.get("logfile"), where, problems)
    if str(config.get("maxmemory", "")).lower() == "auto":
        config["maxmemory"] = auto_bytes
    policy = config.get("maxmemory-policy", "noeviction")
    if policy not in inputs["policies"]:
        problems.append(
            f"{where}: maxmemory-policy '{policy}' is not one of {', '.join(inputs['policies'])}"
        )
    maxclients = _int(config.get("maxclients"))
    if maxclients is None or maxclients < 1:
        problems.append(
            f"{where}: maxclients must be a positive number, got {config.get('maxclients')}"
        )
    elif maxclients + 32 > nofile:
        problems.append(
            f"{where}: maxclients {maxclients} needs maxclients + 32 = {maxclients + 32} open "
            f"files but redis_tuned_nofile is {nofile}: raise redis_tuned_nofile or lower "
            "maxclients (Redis would silently lower maxclients)"
        )
    if not is_size(config.get("maxmemory")):
        problems.append(
            f"{where}: maxmemory '{config.get('maxmemory')}' is not a size "
            "(auto, 0, 512mb, 2gb, ...)"
        )
    else:
        size = redis_bytes(config["maxmemory"])
        if memtotal and size > memtotal * 1024 * 1024:
            problems.append(
                f"{where}: maxmemory {config['maxmemory']} ({size} bytes) "
                f'exceeds this host\'s {memtotal} MB of RAM: set a smaller size or "auto"'
            )

    users: dict[str, str] = {}
    for user in [*(inputs.get("acl_users") or []), *(inst.get("acl_users") or [])]:
        users[str(user.get("name"))] = str(user.get("rules") or inputs["acl_default_rules"])
    requires_auth = bool(inst.get("password")) or bool(users)
    default_rules = _default_user_rules(inputs, inst, where, problems)

    tls_plan = _tls_plan(inputs, inst, port, where, problems)
    config.update(tls_plan.pop("directives"))
    plain_port = tls_plan["plain_port"]
    local = local_host(config.get("bind"))
    remote = remote_host(config.get("bind"), str(inputs.get("client_address") or ""))
    if remote is not None and not requires_auth:
        problems.append(
            f"{where}: bind '{config.get('bind')}' listens beyond loopback but the instance has no "
            "password and no ACL users: anyone on the network could read, write and flush it. Set "
            f"redis_tuned_instances[{index}].password (from a vault) or redis_tuned_acl_users, or "
            "bind to 127.0.0.1."
        )
    exporter = _exporter_plan(inputs, inst, port, local, tls_plan, where, problems)
    tls = tls_plan["tls"]
    local_port = plain_port or (tls["port"] if tls else port)
    unit = f"redis-server@{name}.service"
    paths = {
        "conf": f"/etc/redis/redis-{name}.conf",
        "acl": f"/etc/redis/redis-{name}.acl",
        "dropin": f"/etc/systemd/system/{unit}.d/redis-tuned.conf",
    }
    restart_files = [paths["conf"], paths["dropin"]]
    # When the TLS files were last loaded by the running process (live reloads).
    paths["tls_loaded"] = f"{STATE_DIR}/{name}.tls-loaded"
    # ...and its ACL file (ACL LOAD).
    paths["acl_loaded"] = f"{STATE_DIR}/{name}.acl-loaded"
    if tls:
        restart_files += [str(tls["cert_file"]), str(tls["key_file"]), str(tls["ca_file"])]
    return {
        "name": name,
        # What CONFIG GET must answer, in Redis's own spelling (compared live each run).
        # The plain port too: CONFIG SET port 0 closes it live (TLS only switched on).
        "live": {
            **{
                d: _checks.normalise(d, v)
                for d, v in config.items()
                if d not in FILE_ONLY_DIRECTIVES
            },
            "port": str(plain_port),
        },
        # Its systemd unit and the files the role writes for it.
        "unit": unit,
        "paths": paths,
        "restart_files": restart_files,
        "port": port,
        "plain_port": plain_port,
        "tls": tls,
        "exporter": exporter,
        "profile": inst.get("profile", "guide"),
        "requires_auth": requires_auth,
        "acl_users": [{"name": n, "rules": r} for n, r in sorted(users.items())],
        # What the default user (logged in with the instance's password) may do.
        "default_user_rules": default_rules,
        "persists": _persists(config),
        "config": config,
        # The directory the role makes for a logfile outside /var/log/redis.
        "log_dir": log_dir,
        # What the package unit (ProtectSystem=strict) must also let the server write.
        "read_write_paths": [
            p
            for p in [str(config.get("dir")), *log_dir]
            if not any(_nested(p, w) and p != w for w in PACKAGE_WRITABLE)
        ],
        # Where the role itself connects on the host (ACL LOAD, exporter, host check).
        "local": {"host": local, "port": local_port, "tls": not plain_port and bool(tls)},
        # Where a client on another machine connects; None: loopback only.
        "remote": _remote_plan(inputs, inst, remote, plain_port, tls, users, exporter),
        "cli_args": _cli_args(local, local_port, plain_port, tls),
        "expectations": {
            "managed_by": "redis_tuned",
            "name": name,
            "host": local,
            "port": plain_port,
            # What the verifier presents: the role's client certificate, if any.
            "tls": (
                {**tls, "cert_file": tls["client_cert_file"], "key_file": tls["client_key_file"]}
                if tls
                else None
            ),
            # TLS only: nothing may answer in clear text on the instance's own port.
            "closed_port": port if tls and tls["only"] else None,
            "exporter": (
                {"port": exporter["port"], "listen": exporter["listen"]} if exporter else None
            ),
            "profile": inst.get("profile", "guide"),
            "requires_auth": requires_auth,
            "nofile": nofile,
            # What CONFIG GET can answer (rename-command and loadmodule it cannot).
            "config": {d: v for d, v in config.items() if d not in FILE_ONLY_DIRECTIVES},
            "transparent_hugepages": str(inputs.get("transparent_hugepages")),
        },
    }


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


def _derived_port(
    given: Any, base: Any, port: int, what: str, where: str, problems: list[str]
) -> int:
    """The instance's own ``<what>_port``, else ``base`` (redis_tuned_<what>_port)
    shifted by the instance port's offset from 6379; out of range is a problem."""
    if given not in (None, ""):
        value = _int(given)
    else:
        start = _int(base)
        value = None if start is None else start + port - BASE_PORT
    if value is None or not 1 <= value <= 65535:
        problems.append(
            f"{where}: {what.upper() if what == 'tls' else what} port must be 1-65535 (got "
            f"{value}: set redis_tuned_{what}_port or the instance's {what}_port)"
        )
        return value or 0
    return value


def _tls_plan(
    inputs: dict[str, Any], inst: dict[str, Any], port: int, where: str, problems: list[str]
) -> dict[str, Any]:
    """Ports and TLS directives of one instance: plain_port is 0 when it is TLS-only."""
    tls = inputs.get("tls") or {}
    if not _truthy(tls.get("enabled")):
        return {"plain_port": port, "tls": None, "directives": {}}
    tls_port = _derived_port(inst.get("tls_port"), tls.get("port"), port, "tls", where, problems)
    only = _truthy(inst.get("tls_only", tls.get("only", True)))
    files = tls.get("host_files") or {}
    auth = tls.get("auth_clients", "no")
    # The role's own clients present a certificate of their own, never the server's.
    client = (tls.get("client_files") or {}) if _truthy(tls.get("client_given")) else {}
    return {
        "plain_port": 0 if only else port,
        "tls": {
            "port": tls_port,
            "only": only,
            "auth_clients": auth,
            "ca_file": files.get("ca_file"),
            "cert_file": files.get("cert_file"),
            "key_file": files.get("key_file"),
            "client_cert_file": client.get("cert_file") if auth != "no" else None,
            "client_key_file": client.get("key_file") if auth != "no" else None,
        },
        "directives": {
            "tls-port": tls_port,
            "tls-cert-file": files.get("cert_file"),
            "tls-key-file": files.get("key_file"),
            "tls-ca-cert-file": files.get("ca_file"),
            "tls-auth-clients": tls.get("auth_clients", "no"),
            "tls-replication": "yes",
        },
    }


def _exporter_plan(
    inputs: dict[str, Any],
    inst: dict[str, Any],
    port: int,
    local: str,
    tls_plan: dict[str, Any],
    where: str,
    problems: list[str],
) -> dict[str, Any] | None:
    """The exporter of one instance: its port, where it listens, and the address it
    scrapes (the instance's plain port on the host, else its TLS port: rediss://)."""
    exporter = inputs.get("exporter") or {}
    if not _truthy(exporter.get("enabled")):
        return None
    exporter_port = _derived_port(
        inst.get("exporter_port"), exporter.get("port"), port, "exporter", where, problems
    )
    tls = tls_plan["tls"]
    if tls_plan["plain_port"] or not tls:  # (no port at all is a problem of its own)
        addr = f"redis://{url_host(local)}:{tls_plan['plain_port']}"
    else:
        addr = f"rediss://{url_host(local)}:{tls['port']}"
    listen = str(exporter.get("listen_address") or "")
    return {
        "port": exporter_port,
        "listen": listen,
        "addr": addr,
        "tls": addr.startswith("rediss://"),
        "client_cert": bool(tls and tls["client_cert_file"]),
        # Where the role waits for it to answer.
        "probe_host": local if listen in WILDCARDS else listen,
    }


def _remote_plan(
    inputs: dict[str, Any],
    inst: dict[str, Any],
    remote: str | None,
    plain_port: int,
    tls: dict[str, Any] | None,
    users: dict[str, str],
    exporter: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """How the control node's check reaches an instance bound beyond loopback: at
    the instance's verify_address where it has one (the control node's own route,
    a VPN, a name its certificate carries), else where it listens; over TLS where
    the instance has it; as the role's verify user (the task reads its password on
    the host, the plan holds none)."""
    if remote is None:
        return None
    aimed = str(inst.get("verify_address") or "")
    if aimed:
        variable = f"redis_tuned_instances[].verify_address of instance {inst.get('name')}"
    elif remote == inputs.get("client_address"):
        variable = "redis_tuned_verify_client_address (default: ansible_host)"
    else:
        variable = f"the bind address of instance {inst.get('name')}"
    return {
        "host": aimed or remote,
        "port": tls["port"] if tls else plain_port,
        "tls": bool(tls),
        # The role's read-only verify user, never an application's rights (which may
        # deny INFO and CONFIG GET).
        "user": inputs.get("verify_user") or "redis-tuned-verify",
        "address_variable": variable,
        "exporter_url": _exporter_url(exporter, aimed or remote),
    }


def _exporter_url(exporter: dict[str, Any] | None, remote: str) -> str | None:
    """The exporter as Prometheus reaches it: where it listens, or at the
    instance's address when it listens on all; not at all on loopback only."""
    if not exporter:
        return None
    listen = exporter["listen"]
    if listen in WILDCARDS:
        host = remote
    elif all(_is_loopback(a) for a in bind_addresses(listen)):
        return None
    else:
        host = listen
    return f"http://{url_host(host)}:{exporter['port']}/metrics"


def _cli_args(host: str, port: int, plain_port: int, tls: dict[str, Any] | None) -> list[str]:
    """redis-cli/redis-tuned-verify connection flags for the instance on its host:
    the plain port where there is one, else TLS with the CA (and the server's own
    certificate as the client's where the server asks clients for one)."""
    args = ["-h", host]
    if not plain_port and tls:
        args += _tls_flags(tls)
    return [*args, "-p", str(port)]


def _tls_flags(tls: dict[str, Any] | None) -> list[str]:
    """redis-cli's TLS flags for an instance: its CA, and the role's own client
    certificate where the server asks clients for one."""
    if not tls:
        return []
    args = ["--tls", "--cacert", str(tls["ca_file"])]
    if tls.get("client_cert_file"):
        args += ["--cert", str(tls["client_cert_file"]), "--key", str(tls["client_key_file"])]
    return args


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


def _log_dir(logfile: Any, where: str, problems: list[str]) -> list[str]:
    """The directory of a logfile outside the package's /var/log/redis, which the
    role makes for it (its own, like a data directory); "" logs to the journal."""
    text = str(logfile if logfile is not None else "")
    if text in ("", '""'):
        return []
    parent = posixpath.dirname(text)
    if parent == "/var/log/redis" and posixpath.normpath(text) == text:
        return []
    bad = own_directory_problem(parent, "the directory of logfile", where)
    if bad or not posixpath.basename(text):
        problems.append(bad or f"{where}: logfile '{text}' must name a file")
        return []
    return [parent]


def _dir_problems(
    indexed: list[tuple[int, dict[str, Any]]], role_config: dict[str, Any]
) -> list[str]:
    """Every entry's data directory (absent ones too: purge deletes it) is its own:
    not a system directory, not another entry's, not inside or around one."""
    problems: list[str] = []
    seen: list[tuple[str, str]] = []
    for index, inst in indexed:
        where = f"redis_tuned_instances[{index}] ({inst.get('name')})"
        path = data_dir(str(inst.get("name")), role_config, _lower_keys(inst.get("config")))
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


def verify_summary(results: list[dict[str, Any]], mode: str = "client") -> dict[str, Any]:
    """One line per registered redis-tuned-verify run (``--json``): all passed, the
    checks that failed or warned with their hints, or (exit 2, or no report) why it
    could not verify, with the address it tried and the variable that sets it.
    ``ok`` is false when any run did not pass."""
    lines, ok = [], True
    for result in results:
        if "rc" not in result:  # skipped
            continue
        inst = result.get("__redis_tuned_instance") or {}
        name = inst.get("name", "?")
        try:
            report = json.loads(result.get("stdout") or "")
        except ValueError:
            report = None
        if result["rc"] not in (0, 1) or not isinstance(report, dict):
            ok = False
            err = (result.get("stderr") or result.get("stdout") or "").strip().splitlines()
            remote = (inst.get("remote") or {}) if mode == "client" else {}
            where = (
                f" at {remote['host']}:{remote['port']} (address from {remote['address_variable']})"
                if remote
                else ""
            )
            reason = err[-1] if err else f"exit code {result['rc']}"
            lines.append(f"{name}: could not verify{where}: {reason}")
            continue
        ok = ok and result["rc"] == 0
        line = [
            f"{name} ({report.get('mode')} mode): "
            + ("all checks passed" if result["rc"] == 0 else "FAILED")
        ]
        for c in report.get("checks", []):
            if c.get("status") != "pass":
                hint = f" ({c['hint']})" if c.get("hint") else ""
                status = str(c.get("status")).upper()
                line.append(
                    f"{status} {c.get('name')}: expected {c.get('expected')}, "
                    f"observed {c.get('observed')}{hint}"
                )
        latency = report.get("latency") or {}
        p50, p99 = latency.get("p50_ms") or 0, latency.get("p99_ms") or 0
        line.append(f"latency p50 {p50:.3f} ms, p99 {p99:.3f} ms")
        lines.append("; ".join(line))
    return {"ok": ok, "lines": lines}


def restart_reasons(
    the_plan: dict[str, Any],
    state: dict[str, Any],
    changed_paths: list[str] | None = None,
    live: dict[str, Any] | None = None,
) -> dict[str, list[str]]:
    """Why each running instance needs a restart, decided from state: its unit
    drop-in or TLS files (``restart_files``) were modified after its process
    started, or this run changed them (in check mode: would change); its live
    config differs from its file in a directive CONFIG SET cannot change
    (``live``, from live_changes). Its config file alone counts only where the
    live config cannot be compared (no ``live`` for it, or a directive CONFIG GET
    does not show). ``state`` is what library/redis_tuned_probe.py read before
    this run wrote anything. An instance that was not running is started, not
    restarted: starting it reads what is on disk."""
    units = state.get("units") or {}
    modified = state.get("mtimes") or {}
    changed = set(changed_paths or [])
    reasons: dict[str, list[str]] = {}
    for inst in the_plan["instances"]:
        since = (units.get(inst["unit"]) or {}).get("started")
        if since is None:
            continue
        mine = (live or {}).get(inst["name"])
        paths = inst["paths"]
        kinds = {paths["dropin"]: "unit drop-in"}
        if mine is None:  # else reloaded live (live_changes: tls_reload)
            kinds |= {f: "TLS files" for f in inst["restart_files"] if f not in paths.values()}
        if mine is None or mine["unverifiable"]:
            kinds[paths["conf"]] = "config file"
        why = list(mine["restart"]) if mine else []
        for path, kind in kinds.items():
            if (modified.get(path, 0.0) > since or path in changed) and kind not in why:
                why.append(kind)
        if why:
            reasons[inst["name"]] = why
    return reasons


def restart_summary(
    the_plan: dict[str, Any], state: dict[str, Any], reasons: dict[str, list[str]]
) -> list[str]:
    """One line per instance to restart, or (policy deferred) whose restart is pending;
    a restart of an instance without persistence says how many keys it drops."""
    lines = []
    keys = state.get("live_keys") or {}
    for inst in the_plan["instances"]:
        why = reasons.get(inst["name"])
        if not why:
            continue
        if the_plan.get("restart_policy") == "deferred":
            lines.append(
                f"{inst['name']}: restart pending: {', '.join(why)} "
                "(redis_tuned_restart_policy: deferred)"
            )
            continue
        line = f"{inst['name']}: restart for {', '.join(why)}"
        count = int(keys.get(inst["name"]) or 0)
        if count and not inst["persists"]:
            line += f" (drops {count} keys: no persistence)"
        lines.append(line)
    return lines


# What the throwaway server of a dump (files/check-config --dump) is told on its
# command line, so its CONFIG GET of these is not the file's: the plan's own values
# count for them (dir: the dump adds the file's dir as the kernel resolves it).
# maxclients too: Redis lowers it to the descriptors it gets, and the throwaway's are
# the shell's, not the unit's.
DUMP_OVERRIDDEN = frozenset(
    {"port", "tls-port", "logfile", "pidfile", "daemonize", "supervised", "unixsocket",
     "aclfile", "maxclients"}
)  # fmt: skip


def parse_dump(text: str) -> dict[str, dict[str, str]]:
    """check-config --dump's output: per config file, CONFIG GET * of a throwaway
    server that read it (the last value of a name wins: the resolved dir)."""
    dumps: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    lines = str(text or "").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#redis-tuned-dump "):
            path = line.split(" ")[1]
            current = dumps.setdefault(path, {})
            i += 1
        elif current is not None and i + 1 < len(lines):
            current[line] = lines[i + 1]
            i += 2
        else:
            i += 1
    return dumps


def live_changes(
    the_plan: dict[str, Any],
    state: dict[str, Any],
    immutable: dict[str, list[str]],
    changed_paths: list[str] | None = None,
    dump: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Per running instance, its live config (``state["live_config"]``, CONFIG GET *
    read by the probe) against what its file says: ``set``, what one CONFIG SET
    applies live; ``restart``, the directives only a restart applies (immutable in
    any server version the role knows, or protected); ``unverifiable``, what CONFIG
    GET does not show; ``drift``, whether the difference is not this run's change
    (someone ran CONFIG SET by hand, or a run failed before applying). With a dump
    (check-config --dump: ``state["dump"]`` by the probe, of the files as they were,
    and ``dump`` of the files this run changed), a directive's wanted value
    is what Redis itself answers for the file, not the role's normaliser: Redis
    rewrites some values (client-output-buffer-limit "pubsub 32mb 8mb 60" into
    all three classes in bytes, notify-keyspace-events Ex into xE, a dir under a
    symlink into its target)."""
    frozen = set().union(*(set(v) for v in immutable.values()))
    changed = set(changed_paths or [])
    # The probe's dump is of the files as they were: it stands for a file only once
    # the write has said the file did not change (``changed_paths`` given, without
    # it); a changed one's fresh dump (``dump``) comes with the write.
    dumps = {
        p: d
        for p, d in parse_dump(state.get("dump") or "").items()
        if changed_paths is not None and p not in changed
    }
    dumps |= parse_dump(dump or "")
    out: dict[str, dict[str, Any]] = {}
    for inst in the_plan["instances"]:
        live = (state.get("live_config") or {}).get(inst["name"])
        if live is None:
            continue  # not running: starting it reads the file
        to_set: dict[str, str] = {}
        restart, unverifiable = [], []
        # A directive the file on disk has and the new one drops goes back to Redis's
        # default, which only a restart knows: if the process runs with the dropped
        # value (one it never took, a deferred change, is not running).
        before = (state.get("conf_directives") or {}).get(inst["name"]) or {}
        read = dumps.get(inst["paths"]["conf"]) or {}
        if read:
            # Redis's own default of what the file does not set, from the throwaway
            # server of the same binary: a directive dropped (this run, or by a run
            # that failed before applying it) or set by hand goes back to it live,
            # or (immutable) with a restart.
            unset = set(read) - set(inst["live"]) - DUMP_OVERRIDDEN - FILE_ONLY_DIRECTIVES
            # (secrets are never compared: the probe does not return them)
            for d in sorted(unset - {"dir"}):
                if live.get(d) is None or live[d] == read[d]:
                    continue
                if d in frozen:
                    restart.append(f"{d} (back to Redis's default)")
                else:
                    to_set[d] = read[d]
        else:
            # Without a dump (check mode): only a restart knows the default.
            dropped = set(before) - set(inst["live"]) - TEMPLATE_DIRECTIVES - FILE_ONLY_DIRECTIVES
            restart += [
                f"{d} (dropped from the config)"
                for d in sorted(dropped)
                if d in live and _checks.normalise(d, live[d]) == _checks.normalise(d, before[d])
            ]
        restart += _file_only_changes(inst, before, state)
        for directive, planned in inst["live"].items():
            redis_says = read.get(directive) if directive not in DUMP_OVERRIDDEN else None
            want = planned if redis_says is None else redis_says
            seen = live.get(directive)
            if redis_says is None and seen is not None:
                seen = _checks.normalise(directive, seen)
            if seen is None:
                unverifiable.append(directive)
            elif seen != want:
                if directive in frozen:
                    restart.append(directive)
                else:
                    to_set[directive] = want
        out[inst["name"]] = {
            "set": to_set,
            "restart": sorted(restart),
            "unverifiable": sorted(unverifiable),
            "drift": bool(to_set or restart) and inst["paths"]["conf"] not in changed,
            "tls_reload": _tls_reload(inst, state, changed),
        }
    return out


def file_form(directive: str, value: Any) -> str | None:
    """A directive's value as the probe reads it back from a config file (its lines'
    arguments, joined); None where the file has no such line."""
    if value is None:
        return None
    lines = conf_lines({directive: value})
    return " ".join((ln.split(None, 1)[1] if " " in ln else "").strip().strip('"') for ln in lines)


def _file_only_changes(
    inst: dict[str, Any], before: dict[str, str], state: dict[str, Any]
) -> list[str]:
    """rename-command and loadmodule are read at start only, CONFIG GET shows neither:
    compared file to file (the one on disk against the new one), and restarted for
    when they differ, or when the process is older than the file on disk (a run that
    wrote it failed before restarting)."""
    started = ((state.get("units") or {}).get(inst["unit"]) or {}).get("started") or 0.0
    newer = ((state.get("mtimes") or {}).get(inst["paths"]["conf"]) or 0.0) > started
    out = []
    for directive in sorted(FILE_ONLY_DIRECTIVES & (set(inst["config"]) | set(before))):
        want = file_form(directive, inst["config"].get(directive))
        if want != before.get(directive) or (newer and want is not None):
            out.append(f"{directive} (read only at start)")
    return out


TLS_FILE_DIRECTIVES = ("tls-cert-file", "tls-key-file", "tls-ca-cert-file")
# A new maxmemory must leave this much room above what the instance holds: at
# used_memory a noeviction instance refuses every write and a cache evicts on
# every one; 10% keeps the next writes (and the allocator's own overhead) inside.
SHRINK_MARGIN = 1.1


def live_refusals(the_plan: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """What the running instances cannot take, decided before anything is written:
    a running instance the role cannot read (a replaced admin secret, a TLS
    handshake, NOPERM: restarting it blind could drop its data), and a maxmemory
    below what an instance holds now (``maxmemory: auto`` halves when an instance
    is added). One line each, with the numbers."""
    lines = []
    units = state.get("units") or {}
    errors = state.get("live_errors") or {}
    live = state.get("live_config") or {}
    used = state.get("live_memory") or {}
    for inst in the_plan["instances"]:
        name = inst["name"]
        running = (units.get(inst["unit"]) or {}).get("started") is not None
        if running and name in errors:
            lines.append(
                f"{name}: running, but the role cannot read its live config ({errors[name]}): "
                "nothing was changed. Fix what stops the role's own user logging in to it (its "
                f"secret, TLS files, ACL), or stop {inst['unit']}, then run again."
            )
        want = inst["config"].get("maxmemory")
        holds = _int(used.get(name)) or 0
        now = _int((live.get(name) or {}).get("maxmemory"))
        if name not in live or not is_size(want) or not holds:
            continue
        new = redis_bytes(want)
        if new and new < holds * SHRINK_MARGIN and (not now or new < now):
            lines.append(
                f"{name}: maxmemory would shrink to {new} bytes, below what it holds "
                f"({holds} bytes used_memory, x{SHRINK_MARGIN} = {int(holds * SHRINK_MARGIN)}): "
                "a noeviction instance would refuse writes, a cache evict at once. Give it an "
                "explicit maxmemory, raise redis_tuned_memory_share, or empty it first."
            )
    return lines


def _tls_reload(inst: dict[str, Any], state: dict[str, Any], changed: set[str]) -> bool:
    """A TLS file changed this run, or since the running process last loaded them
    (it started, or a live reload marked ``tls_loaded``): CONFIG SET of the TLS
    file directives (even to the same paths) makes Redis load them again."""
    if not inst["tls"]:
        return False
    files = [f for f in inst["restart_files"] if f not in inst["paths"].values()]
    if changed & set(files):
        return True
    modified = state.get("mtimes") or {}
    started = ((state.get("units") or {}).get(inst["unit"]) or {}).get("started") or 0.0
    loaded = max(started, modified.get(inst["paths"]["tls_loaded"], 0.0))
    return bool(max((modified.get(f, 0.0) for f in files), default=0.0) > loaded)


def _loaded_since(path: str, marker: str, started: float | None, state: dict[str, Any]) -> bool:
    """The file is newer than what the running process last loaded (it started, or a
    live load marked ``marker``)."""
    modified = state.get("mtimes") or {}
    return bool(modified.get(path, 0.0) > max(started or 0.0, modified.get(marker, 0.0)))


def acl_loads(
    the_plan: dict[str, Any], state: dict[str, Any], changed_paths: list[str] | None = None
) -> list[str]:
    """The running instances whose ACL file the process has not loaded: changed this
    run, or newer than its start and its last ACL LOAD (a run that failed after
    writing a rotated password leaves it on disk: the next run loads it)."""
    changed = set(changed_paths or [])
    units = state.get("units") or {}
    names = []
    for inst in the_plan["instances"]:
        started = (units.get(inst["unit"]) or {}).get("started")
        if started is None:
            continue  # started by this run: it reads the file
        paths = inst["paths"]
        if paths["acl"] in changed or _loaded_since(
            paths["acl"], paths["acl_loaded"], started, state
        ):
            names.append(inst["name"])
    return names


def exporter_restarts(
    the_plan: dict[str, Any],
    state: dict[str, Any],
    layout: dict[str, Any],
    changed_paths: list[str] | None = None,
) -> list[str]:
    """The exporters to restart: one of the files it reads at start (its unit, its
    arguments, its password map, the TLS files where it has a client certificate, its
    binary) changed this run or is newer than its running process."""
    changed = set(changed_paths or [])
    units = state.get("units") or {}
    modified = state.get("mtimes") or {}
    names = []
    for inst in the_plan["instances"]:
        if not inst["exporter"]:
            continue
        started = (units.get(f"redis-tuned-exporter@{inst['name']}.service") or {}).get("started")
        reads = exporter_files(inst, layout)
        if changed & set(reads) or (
            started is not None and any(modified.get(f, 0.0) > started for f in reads)
        ):
            names.append(inst["name"])
    return names


def exporter_files(inst: dict[str, Any], layout: dict[str, Any]) -> list[str]:
    """What an instance's exporter reads when it starts."""
    base = f"{layout['exporter_dir']}/{inst['name']}"
    files = [layout["exporter_unit_file"], f"{base}.env", f"{base}.json"]
    if inst["exporter"] and inst["exporter"]["client_cert"]:
        files += sorted(layout["exporter_client_files"].values())
    return [*files, *([layout["exporter_binary"]] if layout.get("exporter_binary") else [])]


def daemon_reload(state: dict[str, Any], changed_paths: list[str] | None = None) -> bool:
    """systemd must re-read its units: one of the role's unit files or drop-ins changed
    this run, or systemd says a unit it reads needs it (NeedDaemonReload: a run that
    failed after writing them)."""
    if any(p.startswith("/etc/systemd/system/") for p in changed_paths or []):
        return True
    return any((u or {}).get("need_reload") for u in (state.get("units") or {}).values())


def live_set(
    inst: dict[str, Any],
    change: dict[str, Any],
    reasons: dict[str, list[str]] | None = None,
    policy: str = "auto",
) -> dict[str, str]:
    """What the instance's one CONFIG SET sends: the changed directives, and the
    TLS file directives when the files are to be reloaded. Nothing where a restart
    comes (policy auto, ``reasons`` from restart_reasons: the restart applies it
    all). Where the restart waits (deferred) for a new unit drop-in, maxclients
    waits with it: the running process still has the old open-files limit, and
    Redis refuses a maxclients it cannot hold."""
    why = (reasons or {}).get(inst["name"]) or []
    if why and policy == "auto":
        return {}
    values = dict(change["set"])
    if "unit drop-in" in why:
        values.pop("maxclients", None)
    if change.get("tls_reload"):
        values |= {d: inst["live"][d] for d in TLS_FILE_DIRECTIVES if d in inst["live"]}
    return values


def config_set(values: dict[str, str]) -> str:
    """One CONFIG SET line for redis-cli's standard input (its quoting)."""
    quoted = [
        f'{k} "{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in values.items()
    ]
    return "CONFIG SET " + " ".join(quoted)


def live_summary(
    results: list[dict[str, Any]],
    live: dict[str, Any],
    policy: str = "auto",
    reasons: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The live-apply report: one line per instance that changed (or would, in check
    mode); ``ok`` false when Redis refused a CONFIG SET, with its message. With
    restart policy auto an instance that restarts gets everything from the restart."""
    lines, ok = [], True
    done = {
        r["__redis_tuned_instance"]["name"]: r for r in results if "__redis_tuned_instance" in r
    }
    for name, change in sorted(live.items()):
        why = (reasons or {}).get(name) or []
        restarts = bool(change["restart"] or why) and policy == "auto"
        if restarts or not (change["set"] or change["tls_reload"]):
            continue  # a restart applies it all (restart_summary says so)
        values = dict(change["set"])
        waits = "unit drop-in" in why and values.pop("maxclients", None) is not None
        what = ", ".join(f"{k} {v}" for k, v in values.items())
        if waits:
            what = ", ".join(filter(None, [what, "maxclients waits for the restart"]))
        if change["tls_reload"]:
            what = ", ".join(filter(None, [what, "TLS certificate, key and CA reloaded"]))
        verb = "corrected live drift" if change["drift"] else "applied live, no restart"
        result = done.get(name) or {}
        if result.get("skipped") or "rc" not in result:
            lines.append(f"{name}: would be {verb.replace('corrected', 'correcting')}: {what}")
            continue
        answers = [ln for ln in str(result.get("stdout", "")).splitlines() if ln.strip()]
        if result.get("rc") != 0 or answers != ["OK"]:
            ok = False
            said = "; ".join(a for a in answers if a != "OK") or str(result.get("stderr", ""))
            lines.append(f"{name}: Redis refused the live change ({what}): {said.strip()}")
        else:
            lines.append(f"{name}: {verb}: {what}")
    return {"ok": ok, "lines": lines}


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def kernel_state(the_plan: dict[str, Any], kernel: dict[str, Any]) -> dict[str, Any]:
    """The probe's ``kernel`` (path -> writable, value) read against the plan:
    per sysctl whether it can be set live and its live value; THP likewise;
    ``apply``, the sysctls to set live now (writable and different); and
    ``pending``, what is persistent but not live (read-only and different)."""
    state: dict[str, Any] = {}
    pending, apply = [], []
    for key, want in the_plan["sysctls"].items():
        seen = kernel.get(_sysctl_path(key)) or {}
        writable, live = bool(seen.get("writable")), str(seen.get("value") or "")
        state[key] = {"writable": writable, "live": live}
        if " ".join(live.split()) != " ".join(str(want).split()):
            if writable:
                apply.append(f"{key}={want}")
            else:
                pending.append(f"{key}={want} (live {live or 'unreadable'})")
    seen = kernel.get(the_plan.get("thp_path", THP_PATH)) or {}
    writable, live = bool(seen.get("writable")), str(seen.get("value") or "")
    mode = the_plan.get("transparent_hugepages")
    # The kernel shows "always madvise [never]"; a stand-in file the bare mode.
    differs = mode != "unchanged" and bool(live) and f"[{mode}]" not in live and live != mode
    # apply: set it live now (a changed mode, or one changed by hand since).
    state["thp"] = {"writable": writable, "live": live, "apply": differs and writable}
    if differs and not writable:
        pending.append(f"transparent_hugepage={mode} (live {live})")
    state["apply"] = apply
    state["pending"] = pending
    return state


def prepare(
    the_plan: dict[str, Any], state: dict[str, Any], host: dict[str, Any]
) -> dict[str, Any]:
    """What the host needs before the files are written, from the probe's reading,
    decided once (tasks/main.yml pins it): ``mask`` the packages' own units not yet
    masked, ``packages`` to install, ``stop_default`` (a redis-server.service
    running), ``exporter_user`` (missing, or in another group), ``exporter_download``
    (the upstream binary missing), ``stop_removed`` (removed units still active or
    enabled), ``purge`` (data directories of removed instances, still there),
    ``thp_disable`` (a THP unit left enabled while the mode is unchanged); ``any``.
    ``host``: mask_units, removed_units, exporter_user ("" without exporters),
    exporter_binary ("" unless downloaded), thp_unit."""
    units = state.get("units") or {}
    users = state.get("users") or {}
    mtimes = state.get("mtimes") or {}
    user = host.get("exporter_user") or ""
    seen = users.get(user) or {}
    binary = host.get("exporter_binary") or ""
    thp_unit = units.get(host.get("thp_unit") or "") or {}
    steps = {
        "mask": [
            u for u in host.get("mask_units") or []
            if (units.get(u) or {}).get("file_state") != "masked"
        ],
        "packages": list(state.get("packages_missing") or []),
        "stop_default": bool((units.get("redis-server.service") or {}).get("active")),
        "exporter_user": bool(user) and (
            not seen.get("exists") or bool(set(seen.get("groups") or []) - {user})
        ),
        "exporter_download": bool(binary) and binary not in mtimes,
        "stop_removed": [
            u for u in host.get("removed_units") or []
            if (units.get(u) or {}).get("active")
            or (units.get(u) or {}).get("file_state") == "enabled"
        ],
        "purge": [
            g["dir"] for g in the_plan.get("removed_instances") or []
            if g.get("purge") and g["dir"] in mtimes
        ],
        "thp_disable": the_plan.get("transparent_hugepages") == "unchanged"
        and thp_unit.get("file_state") == "enabled",
    }  # fmt: skip
    steps["any"] = any(steps.values())
    return steps


def decide(
    the_plan: dict[str, Any],
    state: dict[str, Any],
    layout: dict[str, Any],
    immutable: dict[str, list[str]],
    files: dict[str, Any] | None = None,
    policy: str = "auto",
    installed: bool = False,
) -> dict[str, Any]:
    """Everything that depends on the host's state and on this run's writes,
    decided once, after the files step (tasks/main.yml pins it with one
    set_fact; the tasks after it only read it). ``state`` is the probe's reading
    from before anything was written, ``files`` the files step's result
    (``changed_paths``; ``dump``, what Redis makes of each written config),
    ``installed`` whether this run installed a package.

    ``live`` and ``restart_why`` are live_changes and restart_reasons; ``restart``
    the instances the handler restarts (policy auto), ``acl_loads`` the ones
    that ACL LOAD instead, ``config_set`` one CONFIG SET line per instance
    (live_set, config_set), ``tls_reloaded`` the ones whose TLS files are
    reloaded live; ``start`` the instances not yet running and enabled;
    ``exporters`` name -> started or restarted; ``kernel`` kernel_state;
    ``thp`` what to do with the THP unit (None: nothing); ``daemon_reload``;
    ``any``: false when none of it has anything to do (a rerun on a host that
    is as planned), so the steps that act are not even loaded."""
    files = files or {}
    changed_paths = list(files.get("changed_paths") or [])
    changed = set(changed_paths)
    units = state.get("units") or {}
    live = live_changes(the_plan, state, immutable, changed_paths, files.get("dump") or "")
    why = restart_reasons(the_plan, state, changed_paths, live)
    restart = sorted(why) if policy == "auto" else []
    instances = the_plan["instances"]
    config_sets = {}
    for inst in instances:
        if inst["name"] in live:
            values = live_set(inst, live[inst["name"]], why, policy)
            if values:
                config_sets[inst["name"]] = config_set(values)
    start = [
        i["name"]
        for i in instances
        if not ((units.get(i["unit"]) or {}).get("active")
                and (units.get(i["unit"]) or {}).get("file_state") == "enabled")
    ]  # fmt: skip
    to_restart = set(exporter_restarts(the_plan, state, layout, changed_paths))
    exporters = {}
    for inst in instances:
        if not inst["exporter"]:
            continue
        unit = units.get(f"redis-tuned-exporter@{inst['name']}.service") or {}
        again = installed or inst["name"] in to_restart
        if again:
            exporters[inst["name"]] = "restarted"
        elif not (unit.get("active") and unit.get("file_state") == "enabled"):
            exporters[inst["name"]] = "started"
    kernel = kernel_state(the_plan, state.get("kernel") or {})
    thp = None
    if the_plan.get("transparent_hugepages") != "unchanged":
        thp_unit = units.get(posixpath.basename(layout["thp_unit_file"])) or {}
        writable, apply = kernel["thp"]["writable"], kernel["thp"]["apply"]
        thp_changed = layout["thp_unit_file"] in changed
        if (
            thp_changed or apply or thp_unit.get("file_state") != "enabled"
            or (writable and not thp_unit.get("active"))
        ):  # fmt: skip
            started = "restarted" if thp_changed or apply else "started"
            thp = {"state": started if writable else None, "changed": thp_changed}
    decision = {
        "live": live,
        "restart_why": why,
        "restart": restart,
        "acl_loads": [n for n in acl_loads(the_plan, state, changed_paths) if n not in restart],
        "config_set": config_sets,
        "tls_reloaded": sorted(n for n, c in live.items() if c.get("tls_reload")),
        "start": start,
        "exporters": exporters,
        "kernel": kernel,
        "thp": thp,
        "daemon_reload": daemon_reload(state, changed_paths),
    }
    decision["any"] = bool(
        why or decision["acl_loads"] or config_sets or decision["tls_reloaded"] or start
        or exporters or kernel["apply"] or thp or decision["daemon_reload"]
        or any(c["set"] for c in live.values())
    )  # fmt: skip
    return decision


def host_files(
    the_plan: dict[str, Any],
    layout: dict[str, Any],
    live: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every directory and file the role writes on the host, with owner, mode and
    the check each must pass before it goes live; what it removes. The argument of
    the one task that writes them all (action_plugins/redis_tuned_files.py).
    ``layout`` holds the role's paths and switches (vars/main.yml); ``live`` (with
    restart policy deferred) the live_changes whose restarts wait."""
    instances = the_plan["instances"]
    checker = layout["checker"]
    exporter_user = layout["exporter_user"]
    dirs = [
        {"path": layout["expect_dir"], "owner": "root", "group": "redis", "mode": "0750"},
        {"path": layout["tool_dir"], "owner": "root", "group": "root", "mode": "0755"},
        {"path": layout["state_dir"], "owner": "root", "group": "root", "mode": "0700"},
    ]
    dirs += [
        {"path": d["path"], "owner": d["owner"], "group": d["owner"], "mode": d["mode"]}
        for d in the_plan["directories"]
    ]
    files: list[dict[str, Any]] = [
        {"path": checker, "src": "check-config", "mode": "0755"},
        {"path": layout["limits_file"], "template": "limits.conf.j2", "mode": "0644"},
        {"path": layout["sysctl_file"], "template": "sysctl.conf.j2", "mode": "0644"},
    ]
    absent = []
    if the_plan["transparent_hugepages"] == "unchanged":
        absent.append(layout["thp_unit_file"])
    else:
        files.append(
            {"path": layout["thp_unit_file"], "template": "redis-tuned-thp.service.j2",
             "mode": "0644"}
        )  # fmt: skip
    if layout["tls_enabled"]:
        dirs.append({"path": layout["tls_dir"], "owner": "root", "group": "redis", "mode": "0750"})
        files += [
            {"path": dest, "src": layout["tls_sources"][key], "group": "redis", "mode": "0640",
             "show": "secret"}
            for key, dest in sorted(layout["tls_files"].items())
        ]  # fmt: skip
    if any(i["tls"] and i["tls"]["client_cert_file"] for i in instances):
        # The role's own client certificate: root's copy (redis-cli, the host's check).
        files += [
            {"path": dest, "src": layout["tls_client_sources"][key], "mode": "0600",
             "show": "secret"}
            for key, dest in sorted(layout["tls_client_files"].items())
        ]  # fmt: skip
    for inst in instances:
        name = inst["name"]
        one = {"__redis_tuned_instance": inst}
        files += [
            # Only SHA-256 hashes of the passwords reach the host (the template hashes them).
            # A diff names the users whose lines changed, never the lines.
            {"path": inst["paths"]["acl"], "template": "redis.acl.j2", "vars": one,
             "group": "redis", "mode": "0640", "validate": f"{checker} --acl %s",
             "show": "users"},
            # Checked by a throwaway redis-server with no port, an empty scratch dir.
            {"path": inst["paths"]["conf"], "template": "redis.conf.j2", "vars": one,
             "group": "redis", "mode": "0640", "validate": f"{checker} %s"},
            {"path": inst["paths"]["dropin"], "template": "unit-dropin.conf.j2", "vars": one,
             "mode": "0644"},
            {"path": f"{layout['expect_dir']}/{name}.json",
             "content": _expectations(inst, ((live or {}).get(name) or {}).get("restart")),
             "group": "redis", "mode": "0640"},
        ]  # fmt: skip
    exporters = [i for i in instances if i["exporter"]]
    if exporters:
        dirs.append(
            {"path": layout["exporter_dir"], "owner": "root", "group": exporter_user,
             "mode": "0750"}
        )  # fmt: skip
        files.append(
            {"path": layout["exporter_unit_file"], "template": "redis-tuned-exporter@.service.j2",
             "mode": "0644"}
        )  # fmt: skip
    if any(i["exporter"]["client_cert"] for i in exporters):
        # ...and the exporters' copy, readable by their user alone (never group redis,
        # which reads every data directory and the server's key).
        files += [
            {"path": dest, "src": layout["tls_client_sources"][key], "group": exporter_user,
             "mode": "0640", "show": "secret"}
            for key, dest in sorted(layout["exporter_client_files"].items())
        ]  # fmt: skip
    for inst in exporters:
        one = {"__redis_tuned_instance": inst}
        base = f"{layout['exporter_dir']}/{inst['name']}"
        files += [
            # Its arguments, no secret in them.
            {"path": f"{base}.env", "template": "redis-tuned-exporter.env.j2", "vars": one,
             "group": exporter_user, "mode": "0640"},
            {"path": f"{base}.json", "template": "redis-tuned-exporter.json.j2", "vars": one,
             "owner": exporter_user, "group": exporter_user, "mode": "0600", "show": "secret"},
        ]  # fmt: skip
    if layout["verify"]:
        tool = layout["tool_dir"]
        packages = sorted({str(Path(f).parent) for f in layout["tool_files"]})
        dirs += [{"path": f"{tool}/{d}", "owner": "root", "group": "root", "mode": "0755"}
                 for d in packages]  # fmt: skip
        # Its code is named in a diff, not shown.
        files += [
            {"path": f"{tool}/{f}", "src": f, "mode": "0644", "show": "size"}
            for f in layout["tool_files"]
        ]
        files.append(
            {"path": layout["verify_command"], "template": "redis-tuned-verify.j2", "mode": "0755"}
        )
    if not exporters:  # switched off: what an earlier run made for them goes
        absent += [
            *(f"{layout['exporter_dir']}/{i['name']}.{ext}" for i in instances
              for ext in ("env", "json")),
            layout["exporter_unit_file"],
        ]  # fmt: skip
    for gone in the_plan.get("removed_instances", []):
        base = f"{layout['exporter_dir']}/{gone['name']}"
        absent += [
            gone["paths"]["conf"],
            gone["paths"]["acl"],
            gone["paths"]["dropin"],
            gone["paths"]["dropin_dir"],  # only if nothing else is in it
            f"{layout['expect_dir']}/{gone['name']}.json",
            f"{base}.env",
            f"{base}.json",
            f"{layout['state_dir']}/{gone['name']}.verify.json",
            f"{layout['state_dir']}/{gone['name']}.tls-loaded",
            f"{layout['state_dir']}/{gone['name']}.acl-loaded",
            f"{layout['state_dir']}/{Path(gone['paths']['conf']).name}.dump",
        ]
    if not exporters:
        absent.append(layout["exporter_dir"])  # last, and only if nothing else is in it
    for entry in files:
        entry.setdefault("owner", "root")
        entry.setdefault("group", "root")
    return {"directories": dirs, "files": files, "absent": absent}


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "redis_tuned_plan": plan,
            "redis_tuned_conf_lines": conf_lines,
            "redis_tuned_expect_args": expect_args,
            "redis_tuned_verify_summary": verify_summary,
            "redis_tuned_restart_reasons": restart_reasons,
            "redis_tuned_restart_summary": restart_summary,
            "redis_tuned_live_changes": live_changes,
            "redis_tuned_config_set": config_set,
            "redis_tuned_live_summary": live_summary,
            "redis_tuned_live_set": live_set,
            "redis_tuned_live_refusals": live_refusals,
            "redis_tuned_acl_loads": acl_loads,
            "redis_tuned_exporter_restarts": exporter_restarts,
            "redis_tuned_exporter_files": exporter_files,
            "redis_tuned_daemon_reload": daemon_reload,
            "redis_tuned_kernel_state": kernel_state,
            "redis_tuned_host_files": host_files,
            "redis_tuned_decide": decide,
            "redis_tuned_prepare": prepare,
        }
