"""Where things live on the host: the server's package, binaries, units, user
and directories (one table entry), and each instance's unit and files. Every
unit name and instance path of the planning core comes from here."""

from __future__ import annotations

from typing import Any

THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"

# Where the role and redis-tuned-verify keep per-instance state on the host.
STATE_DIR = "/var/lib/redis_tuned"
UNIT_DIR = "/etc/systemd/system"

# The server as Debian packages it: Redis from redis-server (the role's instances
# are its redis-server@ template units; redis-server.service is its own single
# instance, which the role keeps masked).
SERVER: dict[str, str] = {
    "package": "redis-server",
    "server": "redis-server",
    "cli": "redis-cli",
    "unit_prefix": "redis-server",
    "config_dir": "/etc/redis",
    "data_dir": "/var/lib/redis",
    "log_dir": "/var/log/redis",
    "run_prefix": "/run/redis",
    "user": "redis",
    "group": "redis",
}
# The role's own units.
EXPORTER_UNIT_PREFIX = "redis-tuned-exporter"
DROPIN = "redis-tuned.conf"


def package_unit() -> str:
    """The package's own single-instance service."""
    return f"{SERVER['unit_prefix']}.service"


def server() -> dict[str, str]:
    """The server's table entry as the tasks read it (the plan's ``server``)."""
    return {**SERVER, "package_unit": package_unit()}


def unit(name: str) -> str:
    """An instance's systemd unit."""
    return f"{SERVER['unit_prefix']}@{name}.service"


def exporter_unit(name: str) -> str:
    """The unit of an instance's exporter."""
    return f"{EXPORTER_UNIT_PREFIX}@{name}.service"


def dropin_dir(name: str) -> str:
    return f"{UNIT_DIR}/{unit(name)}.d"


def is_unit_file(path: str) -> bool:
    """A unit file or drop-in the role writes (systemd must re-read it)."""
    return path.startswith(f"{UNIT_DIR}/")


def instance_paths(name: str) -> dict[str, str]:
    """The files the role writes for an instance, and its markers of what the
    running process loaded live (TLS files, ACL file)."""
    config_dir = SERVER["config_dir"]
    return {
        "conf": f"{config_dir}/redis-{name}.conf",
        "acl": f"{config_dir}/redis-{name}.acl",
        "dropin": f"{dropin_dir(name)}/{DROPIN}",
        "dropin_dir": dropin_dir(name),
        "tls_loaded": f"{STATE_DIR}/{name}.tls-loaded",
        "acl_loaded": f"{STATE_DIR}/{name}.acl-loaded",
    }


def default_logfile(name: str) -> str:
    return f"{SERVER['log_dir']}/{SERVER['server']}-{name}.log"


def pidfile(name: str) -> str:
    """Where the package's template unit expects the instance's pid file."""
    return f"{SERVER['run_prefix']}-{name}/{SERVER['server']}.pid"


# What the package's unit (ProtectSystem=strict) lets the server write.
PACKAGE_WRITABLE = (SERVER["data_dir"], SERVER["log_dir"])


def data_dir(name: str, role_config: dict[str, Any], inst_config: dict[str, Any]) -> str:
    """An instance's data directory, as the plan and purge both derive it."""
    return str(inst_config.get("dir") or role_config.get("dir") or f"{SERVER['data_dir']}/{name}")
