"""Who holds the connections of an instance: CLIENT LIST, grouped.

Replaces the guide's pool monitor (it reads private redis-py attributes): the server
knows every connection, its address, name, library, idle time and whether it blocks.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

WARN_SHARE = 0.8  # of maxclients in use


def parse_client_list(text: str) -> list[dict[str, str]]:
    """CLIENT LIST lines ("id=1 addr=127.0.0.1:5000 ... name=x ...") as dicts."""
    clients = []
    for line in text.splitlines():
        fields = {}
        for part in line.split(" "):
            key, sep, value = part.partition("=")
            if sep:
                fields[key] = value
        if "addr" in fields:
            clients.append(fields)
    return clients


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def report(
    clients: list[dict[str, str]], maxclients: int, timeout: int, own_id: str | None = None
) -> dict[str, Any]:
    """Per client address and per name/library, idle times, the idle ones past the
    server's timeout, blocked clients, the share of maxclients; warnings."""
    others = [c for c in clients if c.get("id") != own_id]
    by_address = Counter(c["addr"].rsplit(":", 1)[0] for c in others)
    by_name = Counter(
        (c.get("name") or "(no name)", c.get("lib-name") or "(unknown)") for c in others
    )
    idle = sorted(_int(c.get("idle")) for c in others)
    blocked = [c for c in others if "b" in c.get("flags", "")]
    past_timeout = [c for c in others if timeout and _int(c.get("idle")) > timeout]
    share = len(clients) / maxclients if maxclients else 0.0
    warnings = []
    if share >= WARN_SHARE:
        warnings.append(
            f"{len(clients)} of maxclients {maxclients} in use ({share:.0%}): new clients will "
            "be refused soon; find the holder below, or raise maxclients"
        )
    if past_timeout:
        warnings.append(
            f"{len(past_timeout)} connection(s) idle longer than the server's timeout "
            f"({timeout} s): the server is about to close them; their pools' "
            "health_check_interval should be below the timeout"
        )
    if timeout == 0 and idle and idle[-1] > 3600:
        warnings.append(
            f"timeout is 0 (never) and a connection has been idle {idle[-1]} s: idle pooled "
            "connections are never reclaimed by the server"
        )
    return {
        "connections": len(clients),
        "maxclients": maxclients,
        "share_of_maxclients": round(share, 4),
        "server_timeout": timeout,
        "by_address": dict(by_address.most_common()),
        "by_name": [
            {"name": n, "library": lib, "connections": count}
            for (n, lib), count in by_name.most_common()
        ],
        "idle_seconds": {
            "p50": statistics.median(idle) if idle else 0,
            "p95": idle[min(len(idle) - 1, int(len(idle) * 0.95))] if idle else 0,
            "max": idle[-1] if idle else 0,
        },
        "idle_past_timeout": len(past_timeout),
        "blocked": len(blocked),
        "warnings": warnings,
    }


def render(rep: dict[str, Any]) -> str:
    lines = [
        f"connections: {rep['connections']} of maxclients {rep['maxclients']} "
        f"({rep['share_of_maxclients']:.1%}); server timeout {rep['server_timeout']} s",
        "",
        "by client address:",
    ]
    lines += [f"  {addr:<40} {n:>6}" for addr, n in rep["by_address"].items()]
    lines += ["", "by client name / library:"]
    lines += [
        f"  {e['name'][:30]:<30} {e['library'][:24]:<24} {e['connections']:>6}"
        for e in rep["by_name"]
    ]
    idle = rep["idle_seconds"]
    lines += [
        "",
        f"idle: p50 {idle['p50']} s, p95 {idle['p95']} s, max {idle['max']} s; "
        f"{rep['idle_past_timeout']} idle past the timeout; {rep['blocked']} blocked",
    ]
    lines += [f"WARN {w}" for w in rep["warnings"]]
    return "\n".join(lines)
