"""Addresses and ports: bind lists, wildcards and IPv6 brackets, what the role and clients dial."""

from __future__ import annotations

from typing import Any

from redis_tuned_tools.common.values import (
    IPV4_WILDCARDS,
    IPV6_WILDCARDS,
    WILDCARDS,
    is_loopback,
    url_host,
)

from .values import _int

# Default ports are derived from the instance's own port, so that inserting or
# reordering instances moves nobody: an instance on port P gets its TLS port at
# redis_tuned_tls_port + (P - BASE_PORT) and its exporter at
# redis_tuned_exporter_port + (P - BASE_PORT).
BASE_PORT = 6379


def bind_addresses(bind: Any) -> list[str]:
    """The addresses of a bind value ("127.0.0.1 -::1" -> ["127.0.0.1", "::1"])."""
    return [a.lstrip("-") for a in str(bind or "").split()]


_is_loopback = is_loopback


def local_host(bind: Any) -> str:
    """The address the role itself dials on the host: loopback where the instance
    listens there (a wildcard includes it), else the first bound address."""
    addresses = bind_addresses(bind) or ["127.0.0.1"]
    if any(a in IPV4_WILDCARDS for a in addresses):
        return "127.0.0.1"
    loopback = [a for a in addresses if _is_loopback(a)]
    if loopback:
        return "127.0.0.1" if "127.0.0.1" in loopback else loopback[0]
    if any(a in IPV6_WILDCARDS for a in addresses):
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


def tls_client_flags(ca_file: str, cert_file: str | None, key_file: str | None) -> list[str]:
    """A TLS client's flags, as redis-cli and redis-tuned-verify both take them: the
    CA, and a client certificate where the server asks for one."""
    flags = ["--tls", "--cacert", str(ca_file)]
    if cert_file:
        flags += ["--cert", str(cert_file), "--key", str(key_file)]
    return flags


def _tls_flags(tls: dict[str, Any] | None) -> list[str]:
    """redis-cli's TLS flags for an instance on its host: its CA, and the role's own
    client certificate where the server asks clients for one."""
    if not tls:
        return []
    return tls_client_flags(tls["ca_file"], tls.get("client_cert_file"), tls.get("client_key_file"))
