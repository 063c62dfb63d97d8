"""Restarts and reloads decided from state: file times against process start times."""

from __future__ import annotations

from typing import Any

from .layout import exporter_unit, is_unit_file

RESTART_ALL = "every instance asked for (redis_tuned_restart_all)"
# Its binary put in place since it started (an upgrade, or a reinstall); or the
# pinned version installed by this very run (the probe read the host before it).
UPGRADED = "server upgraded (its binary replaced since it started)"
UPGRADING = "server package installed this run (redis_tuned_server_version)"
UPGRADE_REASONS = frozenset({UPGRADED, UPGRADING})


def restarts_now(the_plan: dict[str, Any], names: Any, policy: str = "auto") -> list[str]:
    """Of the instances that need a restart, those the role's run restarts: none with
    the policy deferred; with ``restart_only``, only those named; never the nodes of
    replication groups. An ordinary run would restart every node of a group at once
    (every host runs the role together): their restarts wait for
    playbooks/rolling-restart.yml (``rolling_pending``), which takes each node in its
    turn, a primary once failed over."""
    if policy != "auto":
        return []
    only = the_plan.get("restart_only") or []
    nodes = replicated(the_plan)
    return sorted(
        n for n in names
        if n not in nodes and (not only or n in only) and not _upgrade_only(the_plan, names, n)
    )  # fmt: skip


def _binary_changed(state: dict[str, Any]) -> float | None:
    """When the server's binary was last put in place (the probe's reading)."""
    changed = (state.get("facts") or {}).get("binary_changed")
    return float(changed) if isinstance(changed, (int, float)) else None


def _upgrade_only(the_plan: dict[str, Any], reasons: Any, name: str) -> bool:
    """An upgrade is all the instance needs a restart for: outside the rolling
    restart it waits (the old binary keeps serving), reported pending."""
    why = set(reasons.get(name) or []) if isinstance(reasons, dict) else set()
    return bool(why) and why <= UPGRADE_REASONS and not the_plan.get("rolling")


def replicated(the_plan: dict[str, Any]) -> set[str]:
    """The instances of this host that are nodes of replication groups."""
    return {i["name"] for i in the_plan["instances"] if i.get("replication")}


def waiting(the_plan: dict[str, Any], live: dict[str, Any], policy: str = "auto") -> dict[str, Any]:
    """The live changes of the instances whose restart waits (``restarts_now`` does not
    take them): what their expectations files list as pending."""
    now = set(restarts_now(the_plan, live, policy))
    return {name: change for name, change in live.items() if name not in now}


def restart_reasons(
    the_plan: dict[str, Any],
    state: dict[str, Any],
    changed_paths: list[str] | None = None,
    live: dict[str, Any] | None = None,
    upgrading: bool = False,
) -> dict[str, list[str]]:
    """Why each running instance needs a restart, decided from state: its unit
    drop-in or TLS files (``restart_files``) were modified after its process
    started, or this run changed them (in check mode: would change); its live
    config differs from its file in a directive CONFIG SET cannot change
    (``live``, from live_changes). Its config file alone counts only where the
    live config cannot be compared (no ``live`` for it, or a directive CONFIG GET
    does not show). With the plan's ``restart_all``, every running instance.
    ``state`` is what library/redis_tuned_probe.py read before this run wrote
    anything. An instance that was not running is started, not restarted:
    starting it reads what is on disk."""
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
            kinds[inst["conf_stamp"]] = "config file"
        why = list(mine["restart"]) if mine else []
        for path, kind in kinds.items():
            if (modified.get(path, 0.0) > since or path in changed) and kind not in why:
                why.append(kind)
        if since < (_binary_changed(state) or 0.0):
            why.append(UPGRADED)
        elif upgrading:
            why.append(UPGRADING)
        if the_plan.get("restart_all"):
            why.append(RESTART_ALL)
        if why:
            reasons[inst["name"]] = why
    return reasons


def sentinel_restart_reasons(
    the_plan: dict[str, Any],
    state: dict[str, Any],
    changed_paths: list[str] | None = None,
    upgrading: bool = False,
) -> list[str]:
    """Why this host's running Sentinel needs a restart: its TLS files (or unit) are
    newer than its process, or changed this run; every one asked for. Only the
    rolling restart carries it out (playbooks/rolling-restart.yml, one Sentinel at a
    time): Sentinel reads its TLS files only when it starts."""
    sentinel = the_plan.get("sentinel")
    if not sentinel:
        return []
    since = ((state.get("units") or {}).get(sentinel["unit"]) or {}).get("started")
    if since is None:
        return []
    modified = state.get("mtimes") or {}
    changed = set(changed_paths or [])
    why = [
        "unit" if path == sentinel["unit_file"] else "TLS files"
        for path in sentinel["restart_files"]
        if modified.get(path, 0.0) > since or path in changed
    ]
    if since < (_binary_changed(state) or 0.0) or upgrading:
        why.append("server upgraded")
    if the_plan.get("restart_all"):
        why.append(RESTART_ALL)
    return list(dict.fromkeys(why))


def rolling_pending(the_plan: dict[str, Any], reasons: dict[str, list[str]]) -> list[str]:
    """The nodes of replication groups on this host that the rolling restart
    restarts: those with a reason (``restart_reasons``; all with ``restart_all``),
    only those named where ``restart_only`` names some."""
    only = the_plan.get("restart_only") or []
    return sorted(n for n in reasons if n in replicated(the_plan) and (not only or n in only))


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
        started = (units.get(exporter_unit(inst["name"])) or {}).get("started")
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
    if any(is_unit_file(p) for p in changed_paths or []):
        return True
    return any((u or {}).get("need_reload") for u in (state.get("units") or {}).values())
