"""The input boundary of redis-tuned-verify: every value from a file or standard
input is read here once, bounded, decoded and typed; anything unusable raises
UsageError with one line that names the flag, file or field (never a secret).
The flags themselves are checked in cli.parse_args; the rest of the tool works
on what this module returns and trusts its types.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from redis_tuned_tools.common.values import SENSITIVE_DIRECTIVES

# Bounded reads: the role's expectations file is about 2 KB, a password < 100 bytes.
MAX_EXPECTATIONS = 1024 * 1024
MAX_SECRET = 4096
MAX_DATABASES = 64
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
DIRECTIVE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
USER = re.compile(r"^[!-~]{1,128}$")  # printable ASCII, no space: what ACL SETUSER takes
# Values that are secrets: compared but never shown, never taken on the command line.


class UsageError(Exception):
    """Bad flags or unreadable inputs: one line, exit 2."""


@dataclass(frozen=True)
class TlsExpect:
    port: int
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    auth_clients: str = "no"


@dataclass(frozen=True)
class SentinelExpect:
    """A replicated instance: clients find its primary through these Sentinels."""

    master_name: str
    sentinels: tuple[tuple[str, int], ...]
    # On a node's host: the Sentinels' password, in a root-only file of the role's.
    password_file: str | None = None


@dataclass(frozen=True)
class ExporterExpect:
    port: int
    listen: str = "0.0.0.0"


@dataclass
class Expectations:
    """What the role wrote for an instance (all optional), plus --expect pairs."""

    host: str | None = None
    port: int | None = None  # 0: TLS only
    tls: TlsExpect | None = None
    exporter: ExporterExpect | None = None
    requires_auth: bool = False
    nofile: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    sysctl: dict[str, int | str] = field(default_factory=dict)
    transparent_hugepages: str = "never"
    # Directives whose change waits for a restart (redis_tuned_restart_policy: deferred).
    pending_restart: list[str] = field(default_factory=list)
    # A TLS-only instance's own port, where nothing may speak Redis in clear text.
    closed_port: int | None = None
    # The group of its unix socket (config's unixsocket), where the role made one.
    unixsocket_group: str | None = None
    # One node of a replication group (the client view): its Sentinels.
    sentinel: SentinelExpect | None = None


# --- hosts, ports, URLs -------------------------------------------------------


def valid_host(text: str) -> bool:
    """An IP address or a DNS name (labels of letters, digits, - and _)."""
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    return 0 < len(name) <= 253 and all(HOST_LABEL.match(label) for label in name.split("."))


def port(value: Any, what: str, allow_zero: bool = False) -> int:
    """A port 1-65535 (0 too where it means "none"), never wrapped around to another server's."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    low = 0 if allow_zero else 1
    if number is None or not low <= number <= 65535:
        raise UsageError(f"{what} must be a port number {low}-65535, got {_shown(value)}")
    return number


def host_port(text: str, what: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 address in brackets: [::1]:26379)."""
    host, sep, number = str(text).rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not valid_host(host) or not number.isdigit():
        raise UsageError(f"{what} takes HOST:PORT, got {_shown(text)}")
    return host, port(int(number), f"{what}: the port")


def exporter_url(text: str) -> str:
    """An http(s) URL with a valid host and port; credentials in it are refused
    (they would show in ps and in the report)."""
    try:
        url = urllib.parse.urlsplit(text)
        url_port = url.port
    except ValueError:
        raise UsageError("--exporter-url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"--exporter-url takes an http:// or https:// URL, got {redact_url(text)}")
    if url.username is not None or url.password is not None:
        raise UsageError("--exporter-url must not hold credentials (user:password@)")
    if not valid_host(url.hostname) or (url_port is not None and not 1 <= url_port <= 65535):
        raise UsageError(f"--exporter-url: no valid host and port in {redact_url(text)}")
    return text


def redact_url(text: str) -> str:
    """``text`` with the credentials of any URL in it (user:password@, also in a
    path that squeezed ``//`` to ``/``) replaced: for every message the tools print."""
    return URL_CREDENTIALS.sub(r"\1***@", text)


URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*:/{1,2})[^/@\s]*@")


def one_line(text: str) -> str:
    """A message as one printable line: whitespace folded, other control characters
    (a stray \\r, a terminal escape) shown as \\xNN, URL credentials redacted."""
    folded = " ".join(text.split())
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in folded)
    return redact_url(shown)


# --- files and standard input -------------------------------------------------


def read_bounded(source: Path | BinaryIO, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of a file or stream; more is an error, not a truncation."""
    try:
        if isinstance(source, Path):
            with source.open("rb") as f:
                data = f.read(limit + 1)
        else:
            data = source.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what}: {exc.strerror or type(exc).__name__}") from exc
    except ValueError as exc:  # a closed stream
        raise UsageError(f"cannot read {what}: {exc}") from exc
    if len(data) > limit:
        raise UsageError(f"{what} is larger than {limit} bytes")
    return data


def stdin_stream(what: str = "--password-file -") -> BinaryIO:
    """Standard input, as bytes: the caller reads it bounded."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None or sys.stdin.closed:
        raise UsageError(f"cannot read {what}: standard input is closed")
    return stream  # type: ignore[no-any-return]


def read_password(path: Path) -> str:
    """The first line of --password-file (``-``: standard input), UTF-8, not empty."""
    what = "--password-file" if str(path) != "-" else "--password-file - (standard input)"
    data = read_bounded(stdin_stream() if str(path) == "-" else path, MAX_SECRET, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what} is not UTF-8 text") from None
    password = text.splitlines()[0] if text else ""
    if not password.strip():
        # Not "no password": an empty file is a mistake, and the server's refusal
        # would then blame the password.
        raise UsageError(f"{what} holds no password")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise UsageError(f"{what}: the password holds control characters")
    return password


def read_secret_file(path: Path) -> str:
    """The role's own secret on the host (root only)."""
    data = read_bounded(path, MAX_SECRET, str(path))
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not the role's secret (not ASCII)") from None


def load_json(path: Path) -> dict[str, Any]:
    data = read_bounded(path, MAX_EXPECTATIONS, f"expectations {path}")
    try:
        loaded = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"expectations {path}: not JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise UsageError(f"expectations {path}: nested too deeply") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"expectations {path}: expected a JSON object")
    return loaded


# --- expectations -------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise UsageError(f"{where}: {key} must be text, got {_shown(value)}")
    return value


def _flag(obj: dict[str, Any], key: str, where: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"{where}: {key} must be true or false, got {_shown(value)}")
    return value


def _config_value(value: Any, key: str, where: str) -> Any:
    scalar = (str, int, float, bool)
    if isinstance(value, scalar) and not (isinstance(value, float) and value != value):
        if isinstance(value, str) and len(value) > 4096:
            raise UsageError(f"{where}: config {key} is longer than 4096 characters")
        return value
    if isinstance(value, list) and len(value) <= 64 and all(isinstance(v, scalar) for v in value):
        return value
    raise UsageError(f"{where}: config {key} must be text, a number or a list of them")


def _sentinel(obj: Any, where: str) -> SentinelExpect:
    """{"master_name": NAME, "sentinels": [[host, port], ...], "password_file": PATH}
    (password_file: optional)."""
    if not isinstance(obj, dict):
        raise UsageError(f"{where} must be an object, got {_shown(obj)}")
    name = obj.get("master_name")
    if not isinstance(name, str) or not DIRECTIVE.match(name):
        raise UsageError(f"{where}: master_name must be an instance name, got {_shown(name)}")
    found = obj.get("sentinels")
    if not isinstance(found, list) or not found:
        raise UsageError(f"{where}: sentinels must be a list of [host, port]")
    sentinels = []
    for entry in found:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise UsageError(
                f"{where}: sentinels must be a list of [host, port], got {_shown(entry)}"
            )
        if not valid_host(entry[0]):
            raise UsageError(f"{where}: {_shown(entry[0])} is not a host name or address")
        sentinels.append((entry[0], port(entry[1], f"{where}: a Sentinel's port")))
    password_file = obj.get("password_file") or None
    if password_file is not None and not (
        isinstance(password_file, str)
        and password_file.startswith("/")
        and len(password_file) < 4096
    ):
        raise UsageError(
            f"{where}: password_file must be an absolute path, got {_shown(password_file)}"
        )
    return SentinelExpect(name, tuple(sentinels), password_file)


def parse_expectations(obj: dict[str, Any], where: str) -> Expectations:
    """Type-check the role's expectations object field by field."""
    exp = Expectations()
    host = _opt_str(obj, "host", where)
    if host is not None and not valid_host(host):
        raise UsageError(f"{where}: host {_shown(host)} is not a host name or address")
    exp.host = host
    if obj.get("port") is not None:
        exp.port = port(obj["port"], f"{where}: port", allow_zero=True)
    tls = obj.get("tls")
    if tls is not None:
        if not isinstance(tls, dict):
            raise UsageError(f"{where}: tls must be an object or null, got {_shown(tls)}")
        auth = _opt_str(tls, "auth_clients", f"{where}: tls") or "no"
        exp.tls = TlsExpect(
            port=port(tls.get("port"), f"{where}: tls.port"),
            ca_file=_opt_str(tls, "ca_file", f"{where}: tls"),
            cert_file=_opt_str(tls, "cert_file", f"{where}: tls"),
            key_file=_opt_str(tls, "key_file", f"{where}: tls"),
            auth_clients=auth,
        )
    exporter = obj.get("exporter")
    if exporter is not None:
        if not isinstance(exporter, dict):
            raise UsageError(f"{where}: exporter must be an object or null, got {_shown(exporter)}")
        listen = _opt_str(exporter, "listen", f"{where}: exporter") or "0.0.0.0"
        if not valid_host(listen):
            raise UsageError(f"{where}: exporter.listen {_shown(listen)} is not an address")
        exp.exporter = ExporterExpect(port(exporter.get("port"), f"{where}: exporter.port"), listen)
    if obj.get("closed_port") is not None:
        exp.closed_port = port(obj["closed_port"], f"{where}: closed_port")
    exp.unixsocket_group = _opt_str(obj, "unixsocket_group", where)
    if obj.get("sentinel") is not None:
        exp.sentinel = _sentinel(obj["sentinel"], f"{where}: sentinel")
    exp.requires_auth = _flag(obj, "requires_auth", where)
    nofile = obj.get("nofile")
    if nofile is not None:
        if not isinstance(nofile, int) or isinstance(nofile, bool) or not 0 < nofile < 2**31:
            raise UsageError(f"{where}: nofile must be a positive number, got {_shown(nofile)}")
        exp.nofile = nofile
    config = obj.get("config", {})
    if not isinstance(config, dict):
        raise UsageError(f"{where}: config must be an object, got {_shown(config)}")
    for key, value in config.items():
        if not DIRECTIVE.match(key):
            raise UsageError(f"{where}: config has a key that is no directive name: {_shown(key)}")
        exp.config[key.lower()] = _config_value(value, key, where)
    sysctl = obj.get("sysctl", {})
    if not isinstance(sysctl, dict):
        raise UsageError(f"{where}: sysctl must be an object, got {_shown(sysctl)}")
    for key, value in sysctl.items():
        text = isinstance(value, str) and len(value) <= 256 and value.isprintable()
        number = isinstance(value, int) and not isinstance(value, bool)
        if not (number or text) or not DIRECTIVE.match(key):
            raise UsageError(f"{where}: sysctl {_shown(key)} must be a number or a line of text")
        exp.sysctl[key] = value
    thp = _opt_str(obj, "transparent_hugepages", where) or "never"
    if thp not in ("never", "madvise", "always", "unchanged"):
        raise UsageError(f"{where}: transparent_hugepages must be never, madvise or unchanged")
    exp.transparent_hugepages = thp
    pending = obj.get("pending_restart", [])
    if not isinstance(pending, list) or not all(
        isinstance(d, str) and DIRECTIVE.match(d) for d in pending
    ):
        raise UsageError(f"{where}: pending_restart must be a list of directive names")
    exp.pending_restart = [d.lower() for d in pending]
    return exp


def merge(paths: list[Path], pairs: list[str]) -> Expectations:
    """The expectations files in order, then the --expect pairs (they win)."""
    merged: dict[str, Any] = {"config": {}}
    for path in paths:
        loaded = load_json(path)
        parse_expectations(loaded, f"expectations {path}")  # each file on its own
        config = {**merged["config"], **loaded.get("config", {})}
        merged = {**merged, **loaded, "config": config}
    exp = parse_expectations(merged, "expectations")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep or not DIRECTIVE.match(key):
            raise UsageError("--expect takes DIRECTIVE=VALUE (a directive name, then =)")
        if key in SENSITIVE_DIRECTIVES:
            raise UsageError(
                f"--expect {key}=...: a secret is never taken on the command line (it would "
                "show in ps): put it in an --expect-file readable by you only"
            )
        if len(value) > 4096:
            raise UsageError(f"--expect {key}: the value is longer than 4096 characters")
        exp.config[key] = value
    return exp


def databases(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > MAX_DATABASES or not all(p.isdigit() for p in parts):
        raise UsageError(f"--databases takes up to {MAX_DATABASES} numbers like 0,1")
    numbers = [int(p) for p in parts]
    if any(n > 1_000_000 for n in numbers):
        raise UsageError("--databases: a database number is at most 1000000")
    return numbers


def env_password() -> str | None:
    value = os.environ.get("REDISCLI_AUTH")
    if value and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UsageError("REDISCLI_AUTH holds control characters")
    return value or None
