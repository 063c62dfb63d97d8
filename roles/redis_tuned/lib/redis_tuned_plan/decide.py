"""The state-dependent decisions, each made once per run: before the files are
written (prepare), after (decide)."""

from __future__ import annotations

import posixpath
from typing import Any

from .kernel import kernel_state
from .layout import exporter_unit
from .live import config_set, live_changes, live_set
from .restarts import (
    acl_loads,
    daemon_reload,
    exporter_restarts,
    restart_reasons,
    restarts_now,
    rolling_pending,
    sentinel_restart_reasons,
)


def prepare(
    the_plan: dict[str, Any], state: dict[str, Any], host: dict[str, Any]
) -> dict[str, Any]:
    """What the host needs before the files are written, from the probe's reading,
    decided once (tasks/main.yml pins it): ``mask`` the packages' own units not yet
    masked, ``packages`` to install, ``stop_default`` (a redis-server.service
    running), ``exporter_user`` (missing, or in another group), ``exporter_download``
    (the upstream binary missing), ``stop_removed`` (removed units still active or
    enabled), ``purge`` (data directories of removed instances, still there),
    ``thp_disable`` (a THP unit left enabled while the mode is unchanged), ``groups``
    (the unix sockets' groups missing),
    ``sentinel_remove`` (the files of a Sentinel no longer planned here); ``any``.
    ``host``: mask_units, removed_units, exporter_user ("" without exporters),
    exporter_binary ("" unless downloaded), thp_unit."""
    units = state.get("units") or {}
    users = state.get("users") or {}
    mtimes = state.get("mtimes") or {}
    groups = state.get("groups") or {}
    user = host.get("exporter_user") or ""
    seen = users.get(user) or {}
    binary = host.get("exporter_binary") or ""
    thp_unit = units.get(host.get("thp_unit") or "") or {}
    off = the_plan.get("sentinel_off")
    pinned = list(the_plan.get("pinned_packages") or [])
    pinned_names = {p.split("=", 1)[0] for p in pinned}
    steps = {
        "mask": [
            u for u in host.get("mask_units") or []
            if (units.get(u) or {}).get("file_state") != "masked"
        ],
        # What is missing, and the pinned server version where another is installed.
        "packages": [p for p in state.get("packages_missing") or [] if p not in pinned_names]
        + pinned,
        "stop_default": bool((units.get(the_plan["server"]["package_unit"]) or {}).get("active")),
        "exporter_user": bool(user) and (
            not seen.get("exists") or bool(set(seen.get("groups") or []) - {user})
        ),
        "exporter_download": bool(binary) and binary not in mtimes,
        # The unix sockets' groups not on the host yet (system groups, made here).
        "groups": sorted(
            {
                i["unixsocket"]["group"]
                for i in the_plan.get("instances") or []
                if i.get("unixsocket") and not groups.get(i["unixsocket"]["group"])
            }
        ),
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
        # No Sentinel here any more (none enabled, or this host left its groups): the
        # one an earlier run made goes, with its file and state (stopped above, as
        # one of the removed units).
        "sentinel_remove": [off["conf"], off["unit_file"], off["dir"]]
        if off and (units.get(off["unit"]) or {}).get("file_state")
        else [],
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
    ``reach`` how the role's redis-cli reaches each instance; ``any``: false when
    none of it has anything to do (a rerun on a host that
    is as planned), so the steps that act are not even loaded."""
    files = files or {}
    changed_paths = list(files.get("changed_paths") or [])
    changed = set(changed_paths)
    units = state.get("units") or {}
    live = live_changes(the_plan, state, immutable, changed_paths, files.get("dump") or "")
    # The pinned server version installed by this run: every running process is on
    # the old binary (the probe read the host before the install).
    upgrading = installed and bool(the_plan.get("pinned_packages"))
    why = restart_reasons(the_plan, state, changed_paths, live, upgrading)
    restart = restarts_now(the_plan, why, policy)
    instances = the_plan["instances"]
    config_sets = {}
    for inst in instances:
        if inst["name"] in live:
            # An instance whose restart waits (deferred, or not in restart_only) as deferred.
            own = "auto" if inst["name"] in restart else "deferred"
            values = live_set(inst, live[inst["name"]], why, own)
            if values:
                config_sets[inst["name"]] = config_set(values)
    start = [i["name"] for i in instances if not _up(units.get(i["unit"]))]
    to_restart = set(exporter_restarts(the_plan, state, layout, changed_paths))
    exporters = {}
    for inst in instances:
        if not inst["exporter"]:
            continue
        if installed or inst["name"] in to_restart:
            exporters[inst["name"]] = "restarted"
        elif not _up(units.get(exporter_unit(inst["name"]))):
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
        # For playbooks/rolling-restart.yml: this host's nodes of replication groups
        # to restart in their turn, and why its Sentinel needs one.
        "rolling": rolling_pending(the_plan, why),
        "sentinel_restart": sentinel_restart_reasons(the_plan, state, changed_paths, upgrading),
        "acl_loads": [n for n in acl_loads(the_plan, state, changed_paths) if n not in restart],
        "config_set": config_sets,
        "tls_reloaded": sorted(n for n, c in live.items() if c.get("tls_reload")),
        "start": start,
        "exporters": exporters,
        "kernel": kernel,
        "thp": thp,
        "daemon_reload": daemon_reload(state, changed_paths),
        # How the role's redis-cli reaches each instance: where the probe reached it
        # (its old address, should this run's CONFIG SET move it), else the plan's.
        "reach": {
            i["name"]: list((state.get("live_args") or {}).get(i["name"]) or i["cli_args"])
            for i in instances
        },
    }
    decision["any"] = bool(
        why or decision["acl_loads"] or config_sets or decision["tls_reloaded"] or start
        or exporters or kernel["apply"] or thp or decision["daemon_reload"]
        or any(c["set"] for c in live.values())
    )  # fmt: skip
    return decision


def _up(unit: dict[str, Any] | None) -> bool:
    """A unit running now and enabled for the next boot (the probe's reading)."""
    return bool(unit and unit.get("active") and unit.get("file_state") == "enabled")
