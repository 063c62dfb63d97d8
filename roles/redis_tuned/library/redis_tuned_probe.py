#!/usr/bin/python3
"""Read, in one call, everything the redis_tuned role decides from on a host.

Read only (it changes nothing, in check mode or not). One module call instead of
one per question: which packages are missing, which units are masked, enabled,
active and since when, which users exist, what the kernel settings are live and
whether they can be written, when the files an instance restarts for last
changed, and each running instance's live config (CONFIG GET *). The role's
tasks then skip every step whose state is already right.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from datetime import UTC, datetime
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: redis_tuned_probe
short_description: Read the host state the redis_tuned role decides from, in one call
description: Read only. See the module's docstring.
options:
  packages:
    {type: list, elements: str, default: [], description: Debian packages that must be installed.}
  units: {type: list, elements: str, default: [], description: systemd units to describe.}
  users: {type: list, elements: str, default: [], description: Users to look up (exists, groups).}
  groups: {type: list, elements: str, default: [], description: Groups to look up (exists).}
  kernel_paths:
    {type: list, elements: str, default: [], description: /proc/sys and /sys files to read.}
  paths:
    {type: list, elements: str, default: [], description: Files whose modification time to read.}
  live:
    type: list
    elements: dict
    default: []
    description: "Instances to CONFIG GET: name, args (redis-cli flags), directives to return."
  live_user: {type: str, default: redis-tuned, description: The role's own ACL user.}
  cli: {type: str, default: redis-cli, description: "The server's command-line client."}
  live_secret:
    type: str
    default: /etc/redis/redis_tuned/admin.secret
    description: Its password file (read on the host, never passed in).
  checker:
    type: str
    default: ""
    description: The role's config checker (check-config), to dump the running instances' files.
  server: {type: str, default: redis-server, description: "The server binary the checker runs."}
  server_package:
    {type: str, default: "", description: "The server package: its installed and archive versions."}
  server_version:
    {type: str, default: "", description: "The version pinned: the archive's are read only for it."}
  dump_cache:
    type: str
    default: /var/lib/redis_tuned
    description: Where the role keeps each file's dump (read here, written by the files step).
  roles:
    type: list
    elements: dict
    default: []
    description: "Instances to ask ROLE, where their config file says they listen: name, conf."
author: redis_tuned
"""

SENSITIVE = frozenset(
    {"requirepass", "masterauth", "tls-key-file-pass", "tls-client-key-file-pass"}
)
# systemctl show --timestamp=us+utc (systemd 248 and later; Debian 12 has 252).
STAMP = "%a %Y-%m-%d %H:%M:%S.%f UTC"


def host_facts() -> dict[str, Any]:
    """What the plan needs of the host, read here instead of gathering Ansible's
    facts (the hardware subset alone costs most of a second): RAM as Ansible's
    memtotal_mb (MemTotal in kB // 1024), the distribution and its release."""
    facts: dict[str, Any] = {"memtotal_mb": 0}
    with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                facts["memtotal_mb"] = int(line.split()[1]) // 1024
                break
    release: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            key, sep, value = line.partition("=")
            if sep:
                release[key.strip()] = value.strip().strip("\"'")
        break
    ident = release.get("ID", "")
    other = release.get("NAME", ident or "unknown")
    facts["distribution"] = "Debian" if ident == "debian" else other
    version = release.get("VERSION_ID", "")
    if ident == "debian":
        try:
            with open("/etc/debian_version", encoding="ascii", errors="replace") as f:
                version = f.read().strip() or version
        except OSError:
            pass
    facts["distribution_version"] = version
    facts["distribution_major_version"] = version.split(".")[0]
    return facts


def packages_missing(module: AnsibleModule, names: list[str]) -> list[str]:
    if not names:
        return []
    _, out, _ = module.run_command(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *names]
    )
    installed = {line.split()[0] for line in out.splitlines() if line.split()[1:] == ["installed"]}
    return [n for n in names if n not in installed]


def package_versions(module: AnsibleModule, name: str, pin: str) -> dict[str, Any]:
    """The server package's installed version ("" when it is not) and, where a pin
    names another, the versions apt's lists offer (apt-cache madison, 0.4 s: not on
    a run with nothing to check; none where the lists do not know the package)."""
    if not name:
        return {"installed": "", "available": []}
    _, out, _ = module.run_command(
        ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Version}", name]
    )
    status, _, version = out.strip().partition(" ")
    installed = version if status == "installed" else ""
    if not pin or pin == installed:
        return {"installed": installed, "available": []}
    _, madison, _ = module.run_command(["apt-cache", "madison", name])
    available = []
    for line in madison.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[0] == name and fields[1] not in available:
            available.append(fields[1])
    return {"installed": installed, "available": available}


def binary_changed(server: str) -> float | None:
    """When the server's binary (what /usr/bin/<server> resolves to) was last put in
    place: its inode's change time, which dpkg sets when it installs a package (the
    modification time it keeps from the package). A process that started before it
    runs the binary that was there then (an upgrade, or a reinstall, since)."""
    try:
        return os.stat(f"/usr/bin/{server}").st_ctime
    except OSError:
        return None


def units(module: AnsibleModule, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per unit: its unit file state (enabled, masked, "" when there is none),
    whether it is active, and when its running main process started (epoch
    seconds, None when not running)."""
    if not names:
        return {}
    rc, out, err = module.run_command(
        [
            "systemctl", "show", "--timestamp=us+utc",
            "-p", "Id", "-p", "UnitFileState", "-p", "ActiveState",
            "-p", "ExecMainStartTimestamp", "-p", "MainPID", "-p", "NeedDaemonReload", *names,
        ]
    )  # fmt: skip
    if rc != 0:
        module.fail_json(msg=f"systemctl show failed: {err.strip()}")
    found: dict[str, dict[str, Any]] = {}
    # One block per unit, in the order asked (Id may name an alias instead).
    for name, block in zip(names, out.strip().split("\n\n"), strict=False):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        stamp = props.get("ExecMainStartTimestamp", "").strip()
        running = props.get("MainPID", "0") not in ("", "0")
        started = None
        if stamp and running:
            when = datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)
            started = when.timestamp()
        found[name] = {
            "file_state": props.get("UnitFileState", ""),
            "active": props.get("ActiveState", "") == "active",
            "started": started,
            # Its unit file or a drop-in changed since systemd read them.
            "need_reload": props.get("NeedDaemonReload", "") == "yes",
        }
    return found


def users(names: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            found[name] = {"exists": False, "groups": []}
            continue
        groups = sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem)
        primary = grp.getgrgid(entry.pw_gid).gr_name
        found[name] = {"exists": True, "groups": sorted({primary, *groups})}
    return found


def groups(names: list[str]) -> dict[str, bool]:
    """Which of these groups exist."""
    found: dict[str, bool] = {}
    for name in names:
        try:
            grp.getgrnam(name)
            found[name] = True
        except KeyError:
            found[name] = False
    return found


def kernel(paths: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                value = " ".join(f.read().split())
        except OSError:
            value = ""
        found[path] = {"writable": os.access(path, os.W_OK), "value": value}
    return found


def mtimes(paths: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for path in paths:
        try:
            found[path] = os.stat(path).st_mtime_ns / 1e9
        except OSError:
            continue  # not there (yet): not newer than anything
    return found


def on_disk_args(inst: dict[str, Any], on_disk: dict[str, str]) -> list[str] | None:
    """Where the instance's current config file says it listens (the plain port, else
    the TLS port with the plan's TLS flags), when that is not the plan's address."""
    port, tls_port = on_disk.get("port", ""), on_disk.get("tls-port", "")
    host = ["-h", str(inst.get("host") or "127.0.0.1")]
    if port.isdigit() and port != "0":
        args = [*host, "-p", port]
    elif tls_port.isdigit() and tls_port != "0" and inst.get("tls_args"):
        args = [*host, *inst["tls_args"], "-p", tls_port]
    else:
        return None
    return None if args == inst["args"] else args


def _certificate_variants(args: list[str], client_cert: list[str]) -> list[list[str]]:
    """The ways to present (or not) the role's client certificate over TLS: as the
    arguments say where their files exist (not before the role first copies them),
    and with the certificate on the host where they have none (a server switched to
    tls-auth-clients yes, or still asking for one while the plan no longer does)."""
    if "--cert" in args:
        i = args.index("--cert")
        files = [args[i + 1], args[i + 3]] if len(args) > i + 3 else []
        if not all(os.path.exists(f) for f in files):
            args = args[:i] + args[i + 4 :]
    variants = [args]
    present = len(client_cert) == 2 and all(os.path.exists(f) for f in client_cert)
    if "--tls" in args and "--cert" not in args and present:
        cert = ["--cert", client_cert[0], "--key", client_cert[1]]
        variants.append([*args[:-2], *cert, *args[-2:]])  # before "-p PORT"
    return variants


def _config_get(
    module: AnsibleModule, argv: list[str], secret: str
) -> tuple[dict[str, str] | None, str]:
    """CONFIG GET * over ``argv``: the config, or None and why not."""
    rc, out, err = module.run_command(
        [*argv, "CONFIG", "GET", "*"], environ_update={"REDISCLI_AUTH": secret}
    )
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    first = (lines[0] if lines else err).strip()
    if rc != 0 or len(lines) % 2 or first.split(" ")[0] in ("ERR", "NOAUTH", "WRONGPASS", "NOPERM"):
        return None, " ".join((first or err or f"exit {rc}").split())[:200]
    return dict(zip(lines[0::2], lines[1::2], strict=True)), ""


def _info_numbers(text: str) -> tuple[int, int]:
    """(keys in every database, used_memory) from INFO keyspace memory."""
    keys = sum(
        int(part.split("=", 1)[1])
        for line in text.splitlines()
        if line.startswith("db") and ":" in line
        for part in line.split(":", 1)[1].split(",")
        if part.startswith("keys=") and part[5:].strip().isdigit()
    )
    used = next(
        (
            int(line.split(":", 1)[1])
            for line in text.splitlines()
            if line.startswith("used_memory:") and line.split(":", 1)[1].strip().isdigit()
        ),
        0,
    )
    return keys, used


def _own_secret(path: str) -> str | None:
    """The role's own user's password, from its 0600 file on the host (None: not made yet)."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def live_configs(
    module: AnsibleModule,
    instances: list[dict[str, Any]],
    user: str,
    secret_path: str,
    on_disk: dict[str, dict[str, str]],
    cli: str = "redis-cli",
) -> dict[str, dict[str, Any]]:
    """CONFIG GET * of each instance that answers, as the role's own user (its
    password from the 0600 file, handed to redis-cli in its environment, never
    on a command line), at the plan's address or else where its current config
    file says it listens; why not, for one that does not. Per instance also the
    address that answered, its keys and used_memory."""
    out: dict[str, dict[str, Any]] = {
        "live_config": {}, "live_errors": {}, "live_keys": {}, "live_memory": {}, "live_args": {}
    }  # fmt: skip
    secret = _own_secret(secret_path) if instances else None
    if secret is None:
        return out
    for inst in instances:
        name = inst["name"]
        client_cert = list(inst.get("client_cert") or [])
        other = on_disk_args(inst, on_disk.get(name) or {})
        candidates = _certificate_variants(inst["args"], client_cert)
        candidates += _certificate_variants(other, client_cert) if other else []
        live, whys = None, []
        for args in candidates:
            argv = [cli, "--no-auth-warning", "--user", user, *args]
            live, why = _config_get(module, argv, secret)
            if live is not None:
                break
            whys.append(why)
        if live is None:
            out["live_errors"][name] = "; ".join(dict.fromkeys(whys))[:300]
            continue
        out["live_args"][name] = args
        # Every directive (a dropped one goes back to Redis's default, which the role
        # learns from a throwaway server), never a secret (requirepass, masterauth...).
        out["live_config"][name] = {d: v for d, v in live.items() if d not in SENSITIVE}
        # How many keys a restart would drop, where nothing persists them; what it holds.
        # One INFO of two sections (Redis 7 takes several).
        _, text, _ = module.run_command(
            [cli, "--no-auth-warning", "--user", user, *args, "INFO", "keyspace", "memory"],
            environ_update={"REDISCLI_AUTH": secret},
        )
        out["live_keys"][name], out["live_memory"][name] = _info_numbers(text)
    return out


def live_roles(
    module: AnsibleModule, instances: list[dict[str, Any]], user: str, secret_path: str, cli: str
) -> dict[str, str]:
    """ROLE's first word (master, slave) of each instance that answers where its
    config file says it listens, as the role's own user; none for one that does not."""
    found: dict[str, str] = {}
    secret = _own_secret(secret_path) if instances else None
    if secret is None:
        return found
    on_disk = conf_directives(instances)
    for inst in instances:
        args = on_disk_args({"args": []}, on_disk.get(inst["name"]) or {})
        if not args:
            continue
        rc, out, _ = module.run_command(
            [cli, "--no-auth-warning", "--user", user, *args, "ROLE"],
            environ_update={"REDISCLI_AUTH": secret},
        )
        word = out.split("\n", 1)[0].strip()
        if rc == 0 and word in ("master", "slave"):
            found[inst["name"]] = word
    return found


def conf_directives(instances: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The directives each instance's config file holds now, with their values
    (lines of one directive joined: save). The role's config files hold no secret."""
    found: dict[str, dict[str, str]] = {}
    for inst in instances:
        try:
            with open(inst["conf"], encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except (OSError, KeyError):
            continue
        values: dict[str, list[str]] = {}
        for line in lines:
            parts = line.split(None, 1)
            if parts and not parts[0].startswith("#"):
                values.setdefault(parts[0].lower(), []).append(
                    parts[1].strip().strip('"') if len(parts) > 1 else ""
                )
        found[inst["name"]] = {d: " ".join(v) for d, v in values.items() if d not in SENSITIVE}
    return found


def dump(module: AnsibleModule, checker: str, server: str, cache: str, confs: list[str]) -> str:
    """What Redis makes of each config file (files/check-config --dump: a throwaway
    server per file, listening on a unix socket only, or the dump kept in ``cache``
    while the file and the binary are the same; never written here), "" where there
    is no checker yet or it is an older one."""
    if not confs or not os.access(checker, os.X_OK):
        return ""
    rc, out, _ = module.run_command(
        [checker, "--server", server, "--dump", "--cache", cache, *confs]
    )
    return out if rc == 0 else ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
            "kernel_paths": {"type": "list", "elements": "str", "default": []},
            "paths": {"type": "list", "elements": "str", "default": []},
            # Instances to read CONFIG GET * from: name, args (redis-cli connection flags).
            "live": {"type": "list", "elements": "dict", "default": []},
            "live_user": {"type": "str", "default": "redis-tuned"},
            "cli": {"type": "str", "default": "redis-cli"},
            "live_secret": {"type": "str", "default": "/etc/redis/redis_tuned/admin.secret"},
            # The config checker; with it, the running instances' files are dumped.
            "checker": {"type": "str", "default": ""},
            "server": {"type": "str", "default": "redis-server"},
            "dump_cache": {"type": "str", "default": "/var/lib/redis_tuned"},
            # Nodes of a replication group the plan takes out: are they its primary now?
            "roles": {"type": "list", "elements": "dict", "default": []},
            # The server's package: its installed version and the archive's (a pin).
            "server_package": {"type": "str", "default": ""},
            "server_version": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        facts = host_facts()
        if facts["distribution"] != "Debian":
            # Not a host the role supports: the plan says so; nothing else is read.
            module.exit_json(changed=False, facts=facts, unsupported=True)
        facts["server_package"] = package_versions(module, p["server_package"], p["server_version"])
        facts["binary_changed"] = binary_changed(p["server"])
        result: dict[str, Any] = {
            "facts": facts,
            "packages_missing": packages_missing(module, p["packages"]),
            "units": units(module, p["units"]),
            "users": users(p["users"]),
            "groups": groups(p["groups"]),
            "kernel": kernel(p["kernel_paths"]),
            "mtimes": mtimes(p["paths"]),
        }
        result["conf_directives"] = conf_directives(p["live"])
        # Live values of what the file on disk has too (a directive the new file drops).
        asked = [
            {**i, "directives": [*(i.get("directives") or []),
                                 *result["conf_directives"].get(i["name"], {})]}
            for i in p["live"]
        ]  # fmt: skip
        result.update(
            live_configs(
                module, asked, p["live_user"], p["live_secret"], result["conf_directives"], p["cli"]
            )
        )
        confs = [
            i["conf"] for i in p["live"] if i.get("conf") and i["name"] in result["live_config"]
        ]
        result["dump"] = dump(module, p["checker"], p["server"], p["dump_cache"], confs)
        result["live_roles"] = live_roles(
            module, p["roles"], p["live_user"], p["live_secret"], p["cli"]
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        module.fail_json(msg=f"reading the host's state failed: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
