"""The live comparison: what CONFIG SET applies, what only a restart can, what a
running instance refuses."""

from __future__ import annotations

from typing import Any

from redis_tuned_tools.common.values import normalise

from .values import (
    FILE_ONLY_DIRECTIVES,
    RUNTIME_OWNED,
    TEMPLATE_DIRECTIVES,
    _int,
    conf_lines,
    is_size,
    redis_bytes,
)

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
            unset = (
                set(read) - set(inst["live"]) - DUMP_OVERRIDDEN - FILE_ONLY_DIRECTIVES
                - RUNTIME_OWNED
            )  # fmt: skip
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
            dropped = (
                set(before) - set(inst["live"]) - TEMPLATE_DIRECTIVES - FILE_ONLY_DIRECTIVES
                - RUNTIME_OWNED
            )  # fmt: skip
            restart += [
                f"{d} (dropped from the config)"
                for d in sorted(dropped)
                if d in live and normalise(d, live[d]) == normalise(d, before[d])
            ]
        restart += _file_only_changes(inst, before, state)
        for directive, planned in inst["live"].items():
            redis_says = read.get(directive) if directive not in DUMP_OVERRIDDEN else None
            want = planned if redis_says is None else redis_says
            seen = live.get(directive)
            if redis_says is None and seen is not None:
                seen = normalise(directive, seen)
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


def switch_refusals(the_plan: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """An instance this host still runs, or the role still manages, as another server
    flavour (redis_tuned_server switched): the new one would start empty beside it,
    on its port, while its data stays with the old one. Refused, with the migration:
    remove the old instance first (state: absent under the old flavour keeps its data
    directory), move the data if the new server can read it, then switch."""
    lines = []
    units = state.get("units") or {}
    mtimes = state.get("mtimes") or {}
    server = the_plan["server"]
    for old in the_plan.get("switch_probe") or []:
        unit = units.get(old["unit"]) or {}
        running = unit.get("active") or unit.get("file_state") == "enabled"
        managed = old["expectations"] in mtimes
        if not (running or managed):
            continue
        data = [p for p in old["data"] if p in mtimes]
        holds = f"; it holds data ({', '.join(data)})" if data else ""
        lines.append(
            f"{old['name']}: this host runs it as {old['title']} ({old['unit']}"
            f"{', managed by the role' if managed else ''}){holds}. redis_tuned_server "
            f"{server['name']} would start an empty {server['title']} instance beside it on its "
            f"port. Remove it first (state: absent with redis_tuned_server {old['flavour']}: its "
            f"data directory stays), move the data if {server['title']} reads it (docs/role.md, "
            '"Switching between Redis and Valkey"), then switch.'
        )
    return lines


def live_refusals(the_plan: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """What the running instances cannot take, decided before anything is written:
    a running instance the role cannot read (a replaced admin secret, a TLS
    handshake, NOPERM: restarting it blind could drop its data), and a maxmemory
    below what an instance holds now (``maxmemory: auto`` halves when an instance
    is added), and an instance still run as the other server flavour
    (``switch_refusals``). One line each, with the numbers."""
    lines = switch_refusals(the_plan, state)
    # A node leaving a group that goes on without it must not be its primary: the
    # group would stop taking writes until its Sentinels fail over.
    roles = state.get("live_roles") or {}
    for gone in the_plan.get("removed_instances") or []:
        if gone.get("group_goes_on") and roles.get(gone["name"]) == "master":
            lines.append(
                f"{gone['name']}: state: absent, but this node is the primary of its replication "
                "group, which the other hosts keep: nothing was changed. Fail it over first "
                f"(SENTINEL FAILOVER {gone['name']} at one of its Sentinels), then run again."
            )
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
        lines += _tls_switch_refusal(inst, live.get(name) if running else None)
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


def _tls_switch_refusal(inst: dict[str, Any], live: dict[str, str] | None) -> list[str]:
    """A running node of a replication group switched between plain and TLS
    replication: its replicas and Sentinels dial it where it listens now, and a
    Sentinel's TLS is in the file it owns. Refused: the group is made again."""
    running = (live or {}).get("tls-replication")
    want = str(inst["live"].get("tls-replication") or "no")
    if not inst["replication"] or running is None or running == want:
        return []
    switched = "on" if want == "yes" else "off"
    return [
        f"{inst['name']}: replication over TLS would be switched {switched} while the group runs "
        f"(tls-replication {running} -> {want}; redis_tuned_tls_enabled): its replicas and "
        "Sentinels dial it where it listens now, and each Sentinel's TLS is in the file it "
        "owns. Nothing was changed. Switch the group as a whole: state: absent on every host "
        "(the data directories stay), then the group again with the new TLS setting."
    ]


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
