"""The plan: each instance's merged config, memory, ports, TLS, exporter and expectations."""

from __future__ import annotations

import json
import re
from typing import Any

from redis_tuned_tools.common.values import SENSITIVE_DIRECTIVES, WILDCARDS, normalise, url_host

from .acl import _acl_problems, _default_user_rules, merged_users, own_users
from .addresses import (
    _cli_args,
    _derived_port,
    _remote_plan,
    _tls_flags,
    local_host,
    remote_host,
)
from .host import host_facts, host_problems, pinned_packages, version_problems
from .inputs import NAME as INSTANCE_NAME
from .inputs import (
    _dir_problems,
    _exporter_problems,
    _list_problems,
    _log_dir,
    _nested,
    _tls_problems,
    input_problems,
)
from .kernel import _sysctl_path
from .layout import (
    THP_PATH,
    data_dir,
    default_logfile,
    exporter_unit,
    instance_paths,
    left_behind,
    other_flavours,
    package_writable,
    pidfile,
    sentinel_paths,
    server,
    unit,
)
from .topology import (
    join_groups,
    replication_problems,
    sentinel_plan,
    sentinel_problems,
    topology,
)
from .values import (
    FILE_ONLY_DIRECTIVES,
    _float,
    _int,
    _lower_keys,
    _persists,
    _truthy,
    is_size,
    redis_bytes,
)

# The least "maxmemory: auto" may give an instance: below a few tens of MB a
# noeviction instance refuses writes at once, and 0 would mean no limit at all.
AUTO_FLOOR = 32 * 2**20


THP_MODES = ("never", "madvise", "unchanged")


def _refused(problems: list[str], inputs: dict[str, Any]) -> dict[str, Any]:
    """The plan of input the core cannot decide on: its problems, nothing to do."""
    return {
        "instances": [], "removed_instances": [], "transparent_hugepages": "unchanged",
        "restart_policy": "auto", "restart_all": False, "restart_only": [], "kernel_paths": [],
        "thp_path": THP_PATH, "units": [],
        "switch_probe": [], "groups": [], "sentinel": None,
        "live_probe": [], "restart_files": [], "directories": [], "sysctls": {},
        "removed_exporter_units": [], "exporter_units": [], "server_version": "",
        "pinned_packages": [], "rolling": False,
        "server": server(str(inputs.get("server") or "")), "problems": problems,
    }  # fmt: skip


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
        return _refused(problems, inputs)
    flavour = str(inputs.get("server") or "")
    host = host_facts(facts)
    if host is not None:
        problems += host_problems(host, flavour)
        problems += version_problems(host, str(inputs.get("server_version") or ""), flavour)
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
    restart_all = inputs.get("restart_all", False)
    if not isinstance(restart_all, bool):
        problems.append(f"redis_tuned_restart_all must be true or false (got {restart_all!r})")
    restart_only = inputs.get("restart_only") or []
    if not isinstance(restart_only, list) or not all(
        isinstance(n, str) and INSTANCE_NAME.match(n) for n in restart_only
    ):
        problems.append("redis_tuned_restart_only must be a list of instance names ([a-z0-9_-]+)")
        restart_only = []
    pause = inputs.get("failover_pause_ms", 10000)
    pause_ms = _int(pause)
    if pause_ms is None or not 0 <= pause_ms <= 60000:
        problems.append(
            f"redis_tuned_failover_pause_ms must be 0-60000 milliseconds (got {pause}): how "
            "long a primary's writes wait while it fails over in the rolling restart"
        )
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
    problems += _dir_problems(indexed, role_config, flavour)
    if tls_on:
        problems += _tls_problems(tls_in)
    if exporter_on:
        problems += _exporter_problems(exporter_in)
    problems += _acl_problems(inputs)
    problems += replication_problems(inputs, instances, {i.get("name"): n for n, i in present})
    problems += sentinel_problems(inputs)
    # The replication groups across the play's hosts, once every host has published
    # what the others need of it (preflight: peer, then this plan again).
    groups: list[dict[str, Any]] = []
    if inputs.get("peers") is not None and not problems:
        seen = topology(inputs["peers"], str(inputs.get("host") or ""))
        problems += seen["problems"]
        groups = seen["groups"] if not seen["problems"] else []
    join_groups(instances, groups, str(inputs.get("host") or ""), inputs)
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
        {"path": d, "owner": server(flavour)["user"], "mode": "0750"}
        for i in instances
        for d in [i["config"]["dir"], *i["log_dir"]]
    ]
    directories += [
        {
            "path": i["paths"]["dropin_dir"],
            "owner": "root",
            "mode": "0755",
        }
        for i in instances
    ]
    removed = [
        _removed(inst, role_config, flavour) for _, inst in indexed if inst.get("state") == "absent"
    ]
    for gone in removed:
        # Whether its group goes on without it: another host of the play still has it.
        gone["group_goes_on"] = gone["replicated"] and any(
            gone["name"] in (p.get("groups") or {})
            for h, p in (inputs.get("peers") or {}).items()
            if p is not None and h != inputs.get("host")
        )
    sentinel = (
        sentinel_plan(inputs, instances, groups, str(inputs.get("host") or ""), flavour)
        if groups and not problems
        else None
    )
    return {
        "instances": instances,
        "removed_instances": removed,
        # redis_tuned_exporter_enabled false: the exporters an earlier run made go.
        "removed_exporter_units": [
            exporter_unit(i["name"]) for i in instances if not i["exporter"]
        ],
        "exporter_units": [i["exporter_unit"] for i in instances if i["exporter"]],
        # The server's package, binaries, package unit, user (layout.SERVERS).
        "server": server(flavour),
        # redis_tuned_server_version: what apt installs for it (none where it is in).
        "server_version": str(inputs.get("server_version") or ""),
        "pinned_packages": pinned_packages(host, str(inputs.get("server_version") or ""), flavour),
        # Run by playbooks/rolling-restart.yml: an upgrade's restarts are its to make.
        "rolling": inputs.get("rolling") is True,
        "transparent_hugepages": thp,
        "restart_policy": policy,
        # Every running instance restarted this run (playbooks/rolling-restart.yml -e ...).
        "restart_all": restart_all is True,
        # The only instances restarted this run; the others' restarts wait (reported pending).
        "restart_only": sorted(set(restart_only)),
        # What the kernel probe reads: every sysctl, then THP.
        "kernel_paths": [*(_sysctl_path(k) for k in sysctls), thp_path],
        "thp_path": thp_path,
        "units": [i["unit"] for i in instances],
        # Each instance as another server flavour may have left it on this host (a
        # switch of redis_tuned_server): what the probe reads to refuse one that
        # would start an empty server beside it (live.switch_refusals).
        "switch_probe": [
            left_behind(i["name"], other) for i in instances for other in other_flavours(flavour)
        ],
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
        # The replication groups this host is in (topology), once the peers are known,
        # and its Sentinel (None: none here).
        "groups": groups,
        "sentinel": sentinel,
        # No Sentinel here (none enabled, or no group of this host left): one an
        # earlier run made is stopped and its files go (decide.prepare, prepare.yml).
        "sentinel_off": sentinel_paths(flavour) if sentinel is None else None,
        # Groups this host's nodes left (state: absent) while its Sentinel goes on
        # watching others: it stops watching them (SENTINEL REMOVE).
        "sentinel_leave": [g["name"] for g in removed if g["replicated"]] if sentinel else [],
        # The nodes leaving a group: the probe asks each whether it is the primary now.
        "role_probe": [
            {"name": g["name"], "conf": g["paths"]["conf"]} for g in removed if g["replicated"]
        ],
        "problems": problems,
    }


def _expectations(inst: dict[str, Any], pending: list[str] | None) -> str:
    """The expectations file: where a restart waits (restart policy deferred, a node
    of a replication group), the directives whose change waits for it (the
    verification warns on them, it does not fail). A directive the config no longer
    sets ("... (dropped from the config)") is not one the verification checks, and
    the comparison before the write cannot tell whether it waits at all (a server's
    own CONFIG REWRITE adds such lines): it is not listed."""
    data = dict(inst["expectations"])
    named = [d for d in pending or [] if d in inst["live"]]
    if named:
        data["pending_restart"] = sorted(named)
    return json.dumps(data, indent=4, sort_keys=True) + "\n"


def _removed(inst: dict[str, Any], role_config: dict[str, Any], flavour: str) -> dict[str, Any]:
    """An instance with state: absent: its units stop, its files go; its data
    directory stays unless purge."""
    name = str(inst.get("name"))
    config = _lower_keys(inst.get("config"))
    paths = instance_paths(name, flavour)
    return {
        "name": name,
        "unit": unit(name, flavour),
        "exporter_unit": exporter_unit(name),
        "paths": {k: paths[k] for k in ("conf", "acl", "dropin", "dropin_dir")},
        "dir": data_dir(name, role_config, config, flavour),
        "purge": inst.get("purge") is True,
        # A node leaving its replication group (the probe asks whether it is the
        # group's primary now: live.live_refusals).
        "replicated": inst.get("replication") is True,
    }


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
    flavour = str(inputs.get("server") or "")
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
    # A secret in a config dict (requirepass is the instance's password field).
    sensitive = sorted(given & (SENSITIVE_DIRECTIVES - set(inputs["owned_directives"])))
    if sensitive:
        problems.append(
            f"{where}: config may not set {', '.join(sensitive)}: a secret in a config dict would "
            "be shown in diffs and written to the expectations file; the role does not manage it"
        )
    base = {
        "bind": "127.0.0.1 -::1",
        "protected-mode": "yes",
        "dir": data_dir(name, {}, {}, flavour),
        "logfile": default_logfile(name, flavour),
        "dbfilename": "dump.rdb",
    }
    config = {**base, **directives}
    log_dir = _log_dir(config.get("logfile"), where, problems, flavour)
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

    users = {
        name: str(user.get("rules") or inputs["acl_default_rules"])
        for name, user in merged_users(inputs.get("acl_users"), inst.get("acl_users")).items()
    }
    requires_auth = bool(inst.get("password")) or bool(users)
    default_rules = _default_user_rules(inputs, inst, where, problems)

    unixsocket = _unixsocket_plan(inst, config, name, flavour, where, problems)
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
    # Its files, and when the running process last loaded its TLS files and ACL
    # file live (tls_loaded, acl_loaded).
    paths = instance_paths(name, flavour)
    restart_files = [paths["conf"], paths["dropin"]]
    if tls:
        restart_files += [str(tls["cert_file"]), str(tls["key_file"]), str(tls["ca_file"])]
    return {
        "name": name,
        # What CONFIG GET must answer, in Redis's own spelling (compared live each run).
        # The plain port too: CONFIG SET port 0 closes it live (TLS only switched on).
        "live": {
            **{d: normalise(d, v) for d, v in config.items() if d not in FILE_ONLY_DIRECTIVES},
            "port": str(plain_port),
        },
        # Its systemd unit, its exporter's, and the files the role writes for it.
        "unit": unit(name, flavour),
        "exporter_unit": exporter_unit(name),
        "pidfile": pidfile(name, flavour),
        "paths": paths,
        "restart_files": restart_files,
        # What says when the role last wrote the config: the file itself (a replicated
        # instance's is its render's stamp: its server rewrites the file too).
        "conf_stamp": paths["conf"],
        "port": port,
        "plain_port": plain_port,
        "tls": tls,
        "exporter": exporter,
        "profile": inst.get("profile", "guide"),
        # One of a replication group across the play's hosts (topology).
        "replication": inst.get("replication") is True,
        "requires_auth": requires_auth,
        "acl_users": [{"name": n, "rules": r} for n, r in sorted(users.items())],
        # The role's own users in its ACL file (their passwords never leave the host).
        "own_users": own_users(inputs, exporter is not None),
        # What the default user (logged in with the instance's password) may do.
        "default_user_rules": default_rules,
        "persists": _persists(config),
        # Its unix socket for local applications of one group: path, group (or None).
        "unixsocket": unixsocket,
        "config": config,
        # The directory the role makes for a logfile outside the package's log dir.
        "log_dir": log_dir,
        # What the package unit (ProtectSystem=strict) must also let the server write.
        "read_write_paths": [
            p
            for p in [str(config.get("dir")), *log_dir]
            if not any(_nested(p, w) and p != w for w in package_writable(flavour))
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
            # Its unix socket's group (the path and mode are in config).
            "unixsocket_group": unixsocket["group"] if unixsocket else None,
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


GROUP_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
SOCKET_MODE = "660"  # the redis user and the group's members; the group set by the unit


def _unixsocket_plan(
    inst: dict[str, Any],
    config: dict[str, Any],
    name: str,
    flavour: str | None,
    where: str,
    problems: list[str],
) -> dict[str, str] | None:
    """``unixsocket_group``: a unix socket in the unit's runtime directory (mode 2755:
    anyone may pass), the socket itself 660 and in that group (the unit's
    ExecStartPost: Redis sets only its mode), so that the local applications of that
    group connect without TCP, and no one else. The instance's config gets
    unixsocket and unixsocketperm (immutable: a restart)."""
    group = inst.get("unixsocket_group")
    if group in (None, ""):
        return None
    if not isinstance(group, str) or not GROUP_NAME.match(group):
        problems.append(
            f"{where}: unixsocket_group {group!r} is not a group name (lower case letters, "
            "digits, _ and -, at most 32)"
        )
        return None
    if "unixsocket" in config or "unixsocketperm" in config:
        problems.append(
            f"{where}: config sets unixsocket or unixsocketperm and unixsocket_group is set: "
            "give only unixsocket_group (the role places the socket and sets its mode and group)"
        )
        return None
    path = pidfile(name, flavour).rsplit(".", 1)[0] + ".sock"
    config.update({"unixsocket": path, "unixsocketperm": SOCKET_MODE})
    return {"path": path, "group": group, "mode": SOCKET_MODE}


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
    client_cert = bool(tls and tls["client_cert_file"])
    # Its command line (the unit reads it from its .env file); the password from a
    # 0600 JSON map file of its own user, never in an argument.
    args = [
        f"--redis.addr={addr}",
        f"--redis.user={inputs.get('exporter_user')}",
        f"--redis.password-file={exporter.get('dir')}/{inst.get('name')}.json",
        f"--web.listen-address={url_host(listen)}:{exporter_port}",
    ]
    if addr.startswith("rediss://"):
        # Over loopback: the server certificate names the host as clients reach it.
        args.append("--skip-tls-verification")
    if client_cert:
        files = (inputs.get("tls") or {}).get("exporter_client_files") or {}
        args += [
            f"--tls-client-cert-file={files.get('cert_file')}",
            f"--tls-client-key-file={files.get('key_file')}",
        ]
    return {
        "port": exporter_port,
        "listen": listen,
        "addr": addr,
        "tls": addr.startswith("rediss://"),
        "client_cert": client_cert,
        "args": args,
        # Where the role waits for it to answer.
        "probe_host": local if listen in WILDCARDS else listen,
    }
