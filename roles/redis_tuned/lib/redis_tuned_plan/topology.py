"""Replication groups across the hosts of a play: who replicates with whom, who
starts as primary, which Sentinels watch each group, and what is refused.

Each host plans its own instances (``plan``) and publishes what the others need of
it (``peer``: for each instance with ``replication: true`` the address and port the
other hosts dial, its profile; its Sentinel's settings; its choice of bootstrap
primary). ``topology`` reads every host's peer and returns the groups this host is
in (one group per instance name: the Sentinel master name is the instance name)
and the problems, each naming the variable and the hosts. No secret is published:
only whether a password is set.
"""

from __future__ import annotations

from typing import Any

from .acl import own_users
from .addresses import _tls_flags, bind_addresses
from .layout import sentinel_paths
from .values import _int, _truthy

SENTINEL_PORT = 26379
# Sentinel's settings per monitored primary, as the role's variables name them.
SENTINEL_SETTINGS = ("quorum", "down_after_ms", "failover_timeout_ms", "parallel_syncs")
# What the role and Sentinel set on a replicated instance, never a config dict.
ROLE_OWNED = frozenset({"replicaof", "slaveof", "masteruser", "replica-announce-ip",
                        "slave-announce-ip"})  # fmt: skip
# What the docs ask for: a failover needs a majority of Sentinels, on hosts that fail apart.
MIN_SENTINELS = 3


def sentinel_settings(inputs: dict[str, Any]) -> dict[str, Any]:
    """This host's Sentinel (redis_tuned_sentinel_*), as planned from the variables."""
    given = inputs.get("sentinel") or {}
    return {
        "enabled": _truthy(given.get("enabled")),
        "port": _int(given.get("port")) or 0,
        **{key: _int(given.get(key)) for key in SENTINEL_SETTINGS},
        "password_set": _truthy(given.get("password_set")),
    }


def sentinel_problems(inputs: dict[str, Any]) -> list[str]:
    """This host's Sentinel variables, on their own."""
    sentinel = sentinel_settings(inputs)
    if not sentinel["enabled"]:
        return []
    problems = []
    if not 1 <= sentinel["port"] <= 65535:
        problems.append(
            "redis_tuned_sentinel_port must be 1-65535 "
            f"(got {(inputs.get('sentinel') or {}).get('port')})"
        )
    floors = {"quorum": 1, "down_after_ms": 1000, "failover_timeout_ms": 1000, "parallel_syncs": 1}
    for key, floor in floors.items():
        value = sentinel[key]
        if value is None or value < floor:
            problems.append(
                f"redis_tuned_sentinel_{key} must be a number of at least {floor} "
                f"(got {(inputs.get('sentinel') or {}).get(key)})"
            )
    if not sentinel["password_set"]:
        problems.append(
            "redis_tuned_sentinel_enabled is true: set redis_tuned_sentinel_password (from a "
            "vault): clients and the other Sentinels log in to each Sentinel with it"
        )
    return problems


def replication_problems(
    inputs: dict[str, Any], instances: list[dict[str, Any]], indexes: dict[str, int]
) -> list[str]:
    """This host's replicated instances, on their own: a password to replicate
    with, an address the other hosts can dial, no directive the role and Sentinel
    own. Over TLS (redis_tuned_tls_enabled) the whole group is: the nodes replicate
    on their TLS ports (tls-replication), and the Sentinels listen, dial the nodes
    and each other over TLS."""
    problems: list[str] = []
    for inst in instances:
        if not inst["replication"]:
            continue
        where = f"redis_tuned_instances[{indexes[inst['name']]}] ({inst['name']})"
        if not _truthy(inputs.get("replication_password_set")):
            problems.append(
                f"{where}: replication: true needs redis_tuned_replication_password (from a "
                "vault): every node logs in to the primary with it, and any node may become one"
            )
        if not sentinel_settings(inputs)["password_set"]:
            problems.append(
                f"{where}: replication: true needs redis_tuned_sentinel_password (from a vault) "
                "on every host of the group, a Sentinel's or not: clients and this host's "
                "verification log in to the group's Sentinels with it"
            )
        owned = sorted(set(inst["config"]) & ROLE_OWNED)
        if owned:
            problems.append(
                f"{where}: with replication: true the config may not set {', '.join(owned)}: "
                "the role sets the replication user and address, Sentinel decides the primary"
            )
        if inst["remote"] is None:
            problems.append(
                f"{where}: replication: true, but the instance listens on loopback only: bind "
                "it to the address the other hosts reach it at (config.bind or redis_tuned_config)"
            )
    return problems


def peer(the_plan: dict[str, Any], inputs: dict[str, Any], host: str) -> dict[str, Any]:
    """What the other hosts of the play need of this one (no secret)."""
    groups = {}
    for inst in the_plan.get("instances", []):
        if not inst.get("replication") or inst.get("remote") is None:
            continue
        groups[inst["name"]] = {
            "address": inst["remote"]["host"],
            "port": inst["remote"]["port"],
            "tls": inst["remote"]["tls"],
            "profile": inst["profile"],
        }
    return {
        "host": host,
        "groups": groups,
        "primary": str(inputs.get("replication_primary") or ""),
        "sentinel": sentinel_settings(inputs),
    }


def _differs(members: list[dict[str, Any]], key: str) -> str | None:
    """'redis-1: 6379, redis-2: 6380' where the members disagree on ``key``."""
    values = {m["host"]: m[key] for m in members}
    if len(set(map(str, values.values()))) <= 1:
        return None
    return ", ".join(f"{h}: {v}" for h, v in values.items())


def topology(peers: dict[str, Any], me: str) -> dict[str, Any]:
    """The replication groups ``me`` is in, from every host's ``peer`` (None for a
    host of the play that published none: it failed before, or runs in another
    batch), and the problems of those groups."""
    mine = peers.get(me) or {}
    problems: list[str] = []
    groups = []
    silent = sorted(h for h, p in peers.items() if p is None)
    for name in sorted(mine.get("groups") or {}):
        members = [
            {"host": h, **p["groups"][name], "sentinel": p["sentinel"], "primary": p["primary"]}
            for h, p in peers.items()
            if p is not None and name in (p.get("groups") or {})
        ]
        where = f"replication group {name} (hosts {', '.join(m['host'] for m in members)})"
        if silent:
            problems.append(
                f"{where}: {', '.join(silent)} of this play did not plan (failed earlier, or in "
                "another serial batch or outside --limit): run the role on every host of a "
                "replication group at once"
            )
        for key in ("port", "profile", "tls"):
            differ = _differs(members, key)
            if differ:
                shown = "TLS" if key == "tls" else key
                problems.append(
                    f"{where}: one {shown} on every host (redis_tuned_instances, {shown} of "
                    f"{name}; got {differ})"
                )
        dialled = [f"{m['address']}:{m['port']}" for m in members]
        twice = sorted({d for d in dialled if dialled.count(d) > 1})
        if twice:
            problems.append(
                f"{where}: two hosts are reached at the same address ({', '.join(twice)}): set "
                "each host's own bind address (or redis_tuned_verify_client_address)"
            )
        choices = sorted({m["primary"] for m in members})
        primary = choices[0] if len(choices) == 1 else ""
        if len(choices) > 1:
            problems.append(
                f"{where}: redis_tuned_replication_primary differs between hosts "
                f"({_differs(members, 'primary')}): set it once, for the whole group"
            )
        elif not primary:
            problems.append(
                f"{where}: set redis_tuned_replication_primary to the inventory name of the host "
                "that starts as primary (used only while no node of the group is primary)"
            )
        elif primary not in {m["host"] for m in members}:
            problems.append(
                f"{where}: redis_tuned_replication_primary is {primary}, not a host of this play "
                f"that declares {name} with replication: true"
            )
        sentinels = [m for m in members if m["sentinel"]["enabled"]]
        if len(sentinels) < MIN_SENTINELS:
            watching = ", ".join(m["host"] for m in sentinels) or "none"
            problems.append(
                f"{where}: {len(sentinels)} Sentinel(s) ({watching}), at least {MIN_SENTINELS} "
                "needed on hosts that fail apart (Sentinel decides which node is primary; the "
                "role never fails over by itself): set redis_tuned_sentinel_enabled on three "
                "hosts of the group"
            )
        for key in SENTINEL_SETTINGS:
            differ = _differs(
                [{"host": m["host"], key: m["sentinel"][key]} for m in sentinels], key
            )
            if differ:
                problems.append(
                    f"{where}: redis_tuned_sentinel_{key} differs between hosts ({differ}): "
                    "every Sentinel of a group needs the same"
                )
        quorum = sentinels[0]["sentinel"]["quorum"] if sentinels else None
        if quorum is not None and sentinels and quorum > len(sentinels):
            problems.append(
                f"{where}: redis_tuned_sentinel_quorum is {quorum}, above the {len(sentinels)} "
                "Sentinels of the group: no failover could ever be agreed (at most "
                f"{len(sentinels)}; a majority, {len(sentinels) // 2 + 1}, is usual)"
            )
        groups.append(
            {
                "name": name,
                "port": members[0]["port"] if members else 0,
                "bootstrap_primary": primary,
                "members": [
                    {"host": m["host"], "address": m["address"], "port": m["port"]} for m in members
                ],
                "sentinels": [
                    {"host": m["host"], "address": m["address"], "port": m["sentinel"]["port"]}
                    for m in sentinels
                ],
                "sentinel": {
                    k: sentinels[0]["sentinel"][k] if sentinels else None for k in SENTINEL_SETTINGS
                },
            }
        )
    return {"groups": groups, "problems": list(dict.fromkeys(problems))}


def join_groups(
    instances: list[dict[str, Any]], groups: list[dict[str, Any]], me: str, inputs: dict[str, Any]
) -> None:
    """Each replicated instance of this host as one node of its group: the
    replication user it logs in to a primary as (masteruser; masterauth is written
    by the template from the password on the host), the address it announces where
    the others do not dial one it binds, the role's replication and Sentinel users in
    its ACL file, and the primary a new file starts replicating from (the bootstrap
    primary's; after that, replicaof is the running group's)."""
    by_name = {g["name"]: g for g in groups}
    own = inputs.get("own_users") or {}
    for inst in instances:
        group = by_name.get(inst["name"])
        if not inst["replication"] or group is None:
            continue
        mine = next(m for m in group["members"] if m["host"] == me)
        primary = next(
            (m for m in group["members"] if m["host"] == group["bootstrap_primary"]), None
        )
        wanted = {"masteruser": str((own.get("replica") or {}).get("name") or "")}
        if mine["address"] not in bind_addresses(inst["config"].get("bind")):
            wanted["replica-announce-ip"] = mine["address"]
        for directive, value in wanted.items():
            inst["config"][directive] = value
            inst["live"][directive] = value
            inst["expectations"]["config"][directive] = value
        inst["own_users"] = own_users(inputs, inst["exporter"] is not None, replicated=True)
        # Its file's time is the server's too (Sentinel's CONFIG REWRITE): the role's
        # own last write of it is what a running process must not be older than.
        paths = inst["paths"]
        inst["conf_stamp"] = paths["rendered"]
        inst["restart_files"] = [
            paths["rendered"] if f == paths["conf"] else f for f in inst["restart_files"]
        ]
        # The host's verifier checks the group too: its Sentinels, as the clients dial
        # them, and their password in a root-only file beside the role's other secrets.
        inst["expectations"]["sentinel"] = {
            "master_name": group["name"],
            "sentinels": [[url_host_bare(s["address"]), s["port"]] for s in group["sentinels"]],
            "password_file": str((inputs.get("sentinel") or {}).get("password_file") or ""),
        }
        inst["replication"] = {
            "group": group["name"],
            "sentinels": [
                {"address": url_host_bare(s["address"]), "port": s["port"]}
                for s in group["sentinels"]
            ],
            "secret": str((own.get("replica") or {}).get("secret") or ""),
            # How the role's client dials the group's Sentinels (TLS where it is).
            "sentinel_tls": _tls_flags(inst["tls"]),
            "initial": (
                [f"replicaof {url_host_bare(primary['address'])} {primary['port']}"]
                if primary is not None and primary["host"] != me
                else []
            ),
        }


def _sentinel_tls(tls: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Sentinel of groups over TLS (its nodes': the same on every instance of a
    host): TLS only on its port, with the host's certificate, which it also presents
    to the nodes and the other Sentinels it dials (tls-replication), and the flags
    the role's client dials it with (the CA; its own certificate where the Sentinel
    asks for one)."""
    if not tls:
        return None
    return {
        "ca_file": tls["ca_file"],
        "cert_file": tls["cert_file"],
        "key_file": tls["key_file"],
        "auth_clients": tls["auth_clients"],
        "cli_flags": _tls_flags(tls),
    }


def url_host_bare(address: str) -> str:
    """An address as redis.conf's replicaof takes it (no brackets around IPv6)."""
    return address.strip("[]")


def sentinel_plan(
    inputs: dict[str, Any],
    instances: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    me: str,
    flavour: str,
) -> dict[str, Any] | None:
    """This host's Sentinel: where it listens (where its replicated instances do, so
    the others and the clients reach it at the address they dial them at), the
    address it announces where that is not one it binds, and the groups it watches
    with their settings and the primary each starts from (the bootstrap primary;
    a group Sentinel already watches keeps Sentinel's own view)."""
    settings = sentinel_settings(inputs)
    watched = [g for g in groups if any(s["host"] == me for s in g["sentinels"])]
    if not settings["enabled"] or not watched:
        return None
    by_name = {i["name"]: i for i in instances}
    first = by_name[watched[0]["name"]]
    address = next(m["address"] for m in watched[0]["members"] if m["host"] == me)
    bind = str(first["config"].get("bind") or "127.0.0.1")
    own = (inputs.get("own_users") or {}).get("sentinel") or {}
    monitors = []
    for group in watched:
        primary = next(m for m in group["members"] if m["host"] == group["bootstrap_primary"])
        monitors.append(
            {
                "name": group["name"],
                "primary": {"address": url_host_bare(primary["address"]), "port": primary["port"]},
                "quorum": group["sentinel"]["quorum"],
                "down-after-milliseconds": group["sentinel"]["down_after_ms"],
                "failover-timeout": group["sentinel"]["failover_timeout_ms"],
                "parallel-syncs": group["sentinel"]["parallel_syncs"],
                "auth-user": str(own.get("name") or ""),
                "members": len(group["members"]),
                "sentinels": [
                    {"address": url_host_bare(s["address"]), "port": s["port"]}
                    for s in group["sentinels"]
                ],
            }
        )
    paths = sentinel_paths(flavour)
    tls = _sentinel_tls(first["tls"])
    return {
        **paths,
        "port": settings["port"],
        "tls": tls,
        # What its running process must not be older than (else it restarts in the
        # rolling restart's turn): its unit, its TLS files (read at start only).
        "restart_files": [
            paths["unit_file"],
            *([tls["cert_file"], tls["key_file"], tls["ca_file"]] if tls else []),
        ],
        "bind": bind,
        "local": {"host": "127.0.0.1" if "127.0.0.1" in bind_addresses(bind) else address},
        "announce_ip": None if address in bind_addresses(bind) else url_host_bare(address),
        "monitors": monitors,
    }
