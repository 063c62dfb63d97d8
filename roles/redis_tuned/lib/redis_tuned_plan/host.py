"""The host's facts (as the probe reads them) and what the role supports."""

from __future__ import annotations

from typing import Any

SUPPORTED = {"Debian": ("12", "13")}


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


def host_problems(host: dict[str, Any]) -> list[str]:
    """The host itself: a distribution and release the role supports."""
    if "distribution" not in host:
        return []
    name = str(host.get("distribution"))
    major = str(host.get("distribution_major_version"))
    if major in SUPPORTED.get(name, ()):
        return []
    return [
        "redis_tuned supports Debian 12 and 13; this host is "
        f"{name} {host.get('distribution_version') or major}."
    ]
