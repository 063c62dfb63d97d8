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
