"""Where things live on the host: the server's package, binaries, units, user
and directories (one table entry), and each instance's unit and files. Every
unit name and instance path of the planning core comes from here."""

from __future__ import annotations

from typing import Any

THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"

# Where the role and redis-tuned-verify keep per-instance state on the host.
STATE_DIR = "/var/lib/redis_tuned"
UNIT_DIR = "/etc/systemd/system"

# The servers as Debian packages them, one entry per flavour (redis_tuned_server):
# the role's instances are the package's <unit_prefix>@ template units, reading
# <config_dir>/<conf_prefix>-<name>.conf; <unit_prefix>.service is the package's own
# single instance, which the role keeps masked. ``debian`` is the first Debian
# release whose archive has the package; ``own_dir`` is where the role keeps its
# expectations, secrets and TLS files (root, group of the server's user).
SERVERS: dict[str, dict[str, str]] = {
    "redis": {
        "name": "redis",
        "title": "Redis",
        "package": "redis-server",
        "tools": "redis-tools",
        "server": "redis-server",
        "cli": "redis-cli",
        "unit_prefix": "redis-server",
        "conf_prefix": "redis",
        "config_dir": "/etc/redis",
        "data_dir": "/var/lib/redis",
        "log_dir": "/var/log/redis",
        "run_prefix": "/run/redis",
        "user": "redis",
        "group": "redis",
        "debian": "12",
    },
    # Valkey from Debian 13's valkey-server (8.1; valkey-tools brings valkey-cli, and
    # no redis-cli): the same template unit, hardening and directives under its names.
    "valkey": {
        "name": "valkey",
        "title": "Valkey",
        "package": "valkey-server",
        "tools": "valkey-tools",
        "server": "valkey-server",
        "cli": "valkey-cli",
        "unit_prefix": "valkey-server",
        "conf_prefix": "valkey",
        "config_dir": "/etc/valkey",
        "data_dir": "/var/lib/valkey",
        "log_dir": "/var/log/valkey",
        "run_prefix": "/run/valkey",
        "user": "valkey",
        "group": "valkey",
        "debian": "13",
    },
}
for _entry in SERVERS.values():
    _entry["own_dir"] = f"{_entry['config_dir']}/redis_tuned"
DEFAULT = "redis"


def entry(flavour: str | None = None) -> dict[str, str]:
    """A flavour's table entry (the default's for None or an unknown name: the plan
    refuses unknown names before anything reads a path)."""
    return SERVERS.get(flavour or DEFAULT, SERVERS[DEFAULT])


# The role's own units.
EXPORTER_UNIT_PREFIX = "redis-tuned-exporter"
DROPIN = "redis-tuned.conf"


def package_unit(flavour: str | None = None) -> str:
    """The package's own single-instance service."""
    return f"{entry(flavour)['unit_prefix']}.service"


def server(flavour: str | None = None) -> dict[str, str]:
    """The server's table entry as the tasks read it (the plan's ``server``)."""
    return {**entry(flavour), "package_unit": package_unit(flavour)}


def unit(name: str, flavour: str | None = None) -> str:
    """An instance's systemd unit."""
    return f"{entry(flavour)['unit_prefix']}@{name}.service"


def exporter_unit(name: str) -> str:
    """The unit of an instance's exporter."""
    return f"{EXPORTER_UNIT_PREFIX}@{name}.service"


def dropin_dir(name: str, flavour: str | None = None) -> str:
    return f"{UNIT_DIR}/{unit(name, flavour)}.d"


def is_unit_file(path: str) -> bool:
    """A unit file or drop-in the role writes (systemd must re-read it)."""
    return path.startswith(f"{UNIT_DIR}/")


def instance_paths(name: str, flavour: str | None = None) -> dict[str, str]:
    """The files the role writes for an instance, and its markers of what the
    running process loaded live (TLS files, ACL file) and of the role's own last
    write of a file the server rewrites too."""
    e = entry(flavour)
    base = f"{e['config_dir']}/{e['conf_prefix']}-{name}"
    return {
        "conf": f"{base}.conf",
        "acl": f"{base}.acl",
        "dropin": f"{dropin_dir(name, flavour)}/{DROPIN}",
        "dropin_dir": dropin_dir(name, flavour),
        "tls_loaded": f"{STATE_DIR}/{name}.tls-loaded",
        "acl_loaded": f"{STATE_DIR}/{name}.acl-loaded",
        # A replicated instance's file is rewritten by its server too: when the role
        # last wrote it (the SHA-256 of its render) is kept here.
        "rendered": f"{STATE_DIR}/{name}.conf.rendered",
    }


def default_logfile(name: str, flavour: str | None = None) -> str:
    e = entry(flavour)
    return f"{e['log_dir']}/{e['server']}-{name}.log"


def pidfile(name: str, flavour: str | None = None) -> str:
    """Where the package's template unit expects the instance's pid file."""
    e = entry(flavour)
    return f"{e['run_prefix']}-{name}/{e['server']}.pid"


def other_flavours(flavour: str | None = None) -> list[str]:
    """The flavours a host could have run an instance as before (a switch)."""
    return [f for f in SERVERS if f != (flavour or DEFAULT)]


def left_behind(name: str, flavour: str) -> dict[str, Any]:
    """What an instance of this name run as ``flavour`` leaves on a host: its unit,
    the role's expectations file for it, and its data files (RDB, AOF directory) in
    the flavour's default data directory."""
    e = entry(flavour)
    data = f"{e['data_dir']}/{name}"
    return {
        "name": name,
        "flavour": flavour,
        "title": e["title"],
        "unit": unit(name, flavour),
        "expectations": f"{e['own_dir']}/{name}.json",
        "data": [f"{data}/dump.rdb", f"{data}/appendonlydir"],
    }


def package_writable(flavour: str | None = None) -> tuple[str, str]:
    """What the package's unit (ProtectSystem=strict) lets the server write."""
    e = entry(flavour)
    return (e["data_dir"], e["log_dir"])


# Every flavour's: what a path outside all of them is (made writable by a drop-in).
PACKAGE_WRITABLE = tuple(d for f in SERVERS for d in package_writable(f))


def data_dir(
    name: str, role_config: dict[str, Any], inst_config: dict[str, Any], flavour: str | None = None
) -> str:
    """An instance's data directory, as the plan and purge both derive it."""
    default = f"{entry(flavour)['data_dir']}/{name}"
    return str(inst_config.get("dir") or role_config.get("dir") or default)


# One Sentinel per host, the role's own unit: the server's binary in Sentinel mode,
# its config in a directory of its own that the server's user may write (Sentinel
# rewrites its file with its state, and refuses to start where it cannot).
SENTINEL_UNIT = "redis-tuned-sentinel.service"


def sentinel_paths(flavour: str | None = None) -> dict[str, str]:
    e = entry(flavour)
    directory = f"{e['config_dir']}/redis_tuned-sentinel"
    return {
        "dir": directory,
        "conf": f"{directory}/sentinel.conf",
        "unit": SENTINEL_UNIT,
        "unit_file": f"{UNIT_DIR}/{SENTINEL_UNIT}",
    }
