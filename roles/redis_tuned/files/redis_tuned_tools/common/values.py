"""Redis's spelling of values, one rule for every tool: sizes ("2gb" is
2147483648), booleans, enums, the directives whose value is a secret, and what
CONFIG GET answers for a value a config file spells its own way. The verifier
compares with it; the role's planning core sizes and compares with it too."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}
_SIZE = re.compile(r"^(\d+)([kmg]?b?)$", re.IGNORECASE)
_INTEGER = re.compile(r"^[+-]?\d{1,30}$")
_YES = {"yes", "true", "on", "1"}
_NO = {"no", "false", "off", "0"}
_BOOL_DIRECTIVES = {
    "appendonly",
    "protected-mode",
    "daemonize",
    "activerehashing",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "replica-read-only",
    "rdbcompression",
    "rdbchecksum",
    "stop-writes-on-bgsave-error",
    "aof-use-rdb-preamble",
    "cluster-enabled",
    "io-threads-do-reads",
    "dynamic-hz",
    "activedefrag",
    "replica-serve-stale-data",
}
# Enum values Redis reads case-insensitively (it accepts ALLKEYS-LRU).
_ENUM_DIRECTIVES = {
    "maxmemory-policy",
    "appendfsync",
    "loglevel",
    "tls-auth-clients",
    "supervised",
    "repl-diskless-load",
}
# Directives whose value is a secret: compared, never shown.
SENSITIVE_DIRECTIVES = frozenset(
    {"requirepass", "masterauth", "tls-key-file-pass", "tls-client-key-file-pass"}
)
_SIZE_DIRECTIVES = {
    "maxmemory",
    "client-query-buffer-limit",
    "proto-max-bulk-len",
    "auto-aof-rewrite-min-size",
    "repl-backlog-size",
    "active-defrag-ignore-bytes",
    "maxmemory-clients",
}


# What "every address" is to Redis's bind and to a listener, IPv4 and IPv6.
IPV4_WILDCARDS = ("0.0.0.0", "*")
IPV6_WILDCARDS = ("::", "::*")
WILDCARDS = IPV4_WILDCARDS + IPV6_WILDCARDS


def url_host(address: str) -> str:
    """An address as it goes into a URL or a host:port pair (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def to_bytes(value: Any) -> int | None:
    """Redis's size spelling in bytes ("2gb" -> 2147483648); None if it is no size."""
    match = _SIZE.match(str(value).strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


# notify-keyspace-events: "A" stands for these (Redis's keyspaceEventsStringToFlags).
_NOTIFY_ALL = "g$lshzxetd"
_BUFFER_CLASSES = {"normal": "normal", "slave": "replica", "replica": "replica", "pubsub": "pubsub"}


def _notify_flags(text: str) -> str:
    """notify-keyspace-events as Redis keeps it: a set of flags ("Ex" and "xE" alike)."""
    return "".join(sorted(set(text.replace("A", _NOTIFY_ALL))))


def _buffer_limits(text: str) -> str:
    """client-output-buffer-limit per class, sizes in bytes, classes sorted: Redis
    answers all three classes ("slave" for replica) whatever one line set."""
    parts = text.split()
    classes: dict[str, str] = {}
    for i in range(0, len(parts) - 3, 4):
        name = _BUFFER_CLASSES.get(parts[i].lower(), parts[i].lower())
        sizes = [str(to_bytes(p) if to_bytes(p) is not None else p) for p in parts[i + 1 : i + 3]]
        classes[name] = " ".join([name, *sizes, parts[i + 3]])
    return " ".join(classes[c] for c in sorted(classes))


def normalise(directive: str, value: Any) -> str:
    """A directive's value in the spelling CONFIG GET answers with.

    Sizes become bytes (any unit, any case), booleans yes/no, enums lower case,
    integers their plain decimal form, ``save`` lists one space-separated
    string, multi-word values have their spaces folded. A secret is compared
    as given.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    parts = value if isinstance(value, (list, tuple)) else [value]
    text = " ".join(" ".join(str(v).split()) for v in parts)
    if text == '""':
        text = ""
    if directive in _SIZE_DIRECTIVES:
        size = to_bytes(text)
        return str(size) if size is not None else text
    if directive == "notify-keyspace-events":
        return _notify_flags(text)
    if directive == "client-output-buffer-limit":
        return _buffer_limits(text)
    if directive in _ENUM_DIRECTIVES:
        return text.lower()
    if directive in _BOOL_DIRECTIVES:
        low = text.lower()
        if low in _YES:
            return "yes"
        if low in _NO:
            return "no"
    if directive not in SENSITIVE_DIRECTIVES and _INTEGER.match(text):
        return str(int(text))  # "0300", "+300" and "300" are one number
    return text
