"""Every directory and file the role writes, with owner, mode and check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .instances import _expectations
from .values import RUNTIME_OWNED


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
    group = the_plan["server"]["group"]
    # The checker runs the flavour's own server binary on each candidate.
    checker = layout["checker"]
    check = f"{checker} --server {the_plan['server']['server']}"
    exporter_user = layout["exporter_user"]
    dirs = [
        {"path": layout["expect_dir"], "owner": "root", "group": group, "mode": "0750"},
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
        dirs.append({"path": layout["tls_dir"], "owner": "root", "group": group, "mode": "0750"})
        files += [
            {"path": dest, "src": layout["tls_sources"][key], "group": group,
             "mode": "0640", "show": "secret"}
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
             "group": group, "mode": "0640", "validate": f"{check} --acl %s",
             "show": "users"},
            # Checked by a throwaway server with no port, an empty scratch dir.
            {"path": inst["paths"]["conf"], "template": "redis.conf.j2", "vars": one,
             "group": group, "mode": "0640", "validate": f"{check} %s",
             **_replica_conf(inst, the_plan["server"]["user"])},
            {"path": inst["paths"]["dropin"], "template": "unit-dropin.conf.j2", "vars": one,
             "mode": "0644"},
            {"path": f"{layout['expect_dir']}/{name}.json",
             "content": _expectations(inst, ((live or {}).get(name) or {}).get("restart")),
             "group": group, "mode": "0640"},
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
            f"{layout['state_dir']}/{gone['name']}.conf.rendered",
            f"{layout['state_dir']}/{Path(gone['paths']['conf']).name}.dump",
        ]
    sentinel = the_plan.get("sentinel")
    if sentinel:
        user = the_plan["server"]["user"]
        dirs.append({"path": sentinel["dir"], "owner": user, "group": group, "mode": "0750"})
        files += [
            {"path": sentinel["unit_file"], "template": "redis-tuned-sentinel.service.j2",
             "mode": "0644"},
            # Written once: Sentinel keeps its state in it, and every later change is
            # made at run time (SENTINEL SET), never by rewriting the file.
            {"path": sentinel["conf"], "template": "sentinel.conf.j2", "owner": user,
             "group": group, "mode": "0640", "show": "secret", "create_only": True},
        ]  # fmt: skip
    if not exporters:
        absent.append(layout["exporter_dir"])  # last, and only if nothing else is in it
    for entry in files:
        entry.setdefault("owner", "root")
        entry.setdefault("group", "root")
    return {"directories": dirs, "files": files, "absent": absent}


def _replica_conf(inst: dict[str, Any], user: str) -> dict[str, Any]:
    """A replicated instance's config is the server's too: its diff leaves the
    replication password out, its replicaof line is the running group's (kept from
    the file on disk; a new file starts from the bootstrap primary), and while the
    role's render is the one it last wrote, the file stands as the server rewrote it.
    Owned by the server's user, as its CONFIG REWRITE leaves it."""
    replication = inst.get("replication")
    if not isinstance(replication, dict):
        return {}
    return {
        "show": "redacted",
        "runtime": sorted(RUNTIME_OWNED),
        "initial": replication["initial"],
        "rendered": inst["paths"]["rendered"],
        "owner": user,
    }
