"""The host's facts (as the probe reads them) and what the role supports."""

from __future__ import annotations

from typing import Any

from .layout import entry

SUPPORTED = {"Debian": ("12", "13")}
# Debian's release names, for the refusals.
CODENAMES = {"12": "bookworm", "13": "trixie"}


def host_facts(facts: Any) -> dict[str, Any] | None:
    """The host facts the plan decides from, or None while they are not known.

    The probe reads them (``memtotal_mb`` from /proc/meminfo, ``distribution``
    and its versions from /etc/os-release): the role gathers no Ansible facts.
    A bare number is ``memtotal_mb`` alone (the facts of a play that gathered them).
    """
    if facts is None or facts == "":
        return None
    if isinstance(facts, dict):
        return dict(facts)
    return {"memtotal_mb": facts}


def host_problems(host: dict[str, Any], flavour: str = "") -> list[str]:
    """The host itself: a distribution and release the role supports, whose archive
    has the server flavour's package (layout.SERVERS: its first Debian release)."""
    if "distribution" not in host:
        return []
    name = str(host.get("distribution"))
    major = str(host.get("distribution_major_version"))
    if major not in SUPPORTED.get(name, ()):
        return [
            "redis_tuned supports Debian 12 and 13; this host is "
            f"{name} {host.get('distribution_version') or major}."
        ]
    server = entry(flavour)
    if int(major) < int(server["debian"]):
        first = server["debian"]
        return [
            f"redis_tuned_server {server['name']}: Debian {major} ({CODENAMES.get(major, major)}) "
            f"has no {server['package']} package; Debian {first} ({CODENAMES.get(first, first)}) "
            f"is the first with it. Use redis_tuned_server redis on this host, or Debian {first}."
        ]
    return []


def upstream_major(version: str) -> int | None:
    """The upstream major of a Debian version string (5:7.0.15-1~deb12u10: 7)."""
    upstream = version.split(":", 1)[-1].split("-", 1)[0]
    head = upstream.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def version_problems(host: dict[str, Any], pin: str, flavour: str = "") -> list[str]:
    """redis_tuned_server_version against what the host has (the probe's
    ``server_package``: installed, available): a version apt's lists do not offer
    (where they know the package at all), and a step down to a lower major than the
    installed server wrote its data with."""
    if not pin:
        return []
    package = entry(flavour)["package"]
    if any(c.isspace() for c in pin) or "=" in pin:
        return [f"redis_tuned_server_version must be one apt version string (got {pin!r})"]
    seen = host.get("server_package") or {}
    available = list(seen.get("available") or [])
    installed = str(seen.get("installed") or "")
    problems = []
    if available and pin not in available:
        problems.append(
            f"redis_tuned_server_version {pin} is not in this host's archive for {package} "
            f"(it has: {', '.join(available)}): pin one of those, or add the archive that has it"
        )
    pinned, running = upstream_major(pin), upstream_major(installed)
    if installed and pinned is not None and running is not None and pinned < running:
        problems.append(
            f"redis_tuned_server_version {pin} would take {package} from {installed} down to "
            f"major {pinned}: the data files were written by major {running}, which an older "
            "server may not read. Refused; a downgrade is a restore, not a pin."
        )
    return problems


def pinned_packages(host: dict[str, Any] | None, pin: str, flavour: str = "") -> list[str]:
    """What apt installs for the pin where the installed version is another: the
    server's package and its tools (the client), at the version pinned."""
    seen = (host or {}).get("server_package") or {}
    if not pin or not seen or seen.get("installed") == pin:
        return []
    server = entry(flavour)
    return [f"{server['package']}={pin}", f"{server['tools']}={pin}"]
