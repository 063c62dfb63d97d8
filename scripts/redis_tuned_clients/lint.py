"""Lint a Django settings file's CHANNEL_LAYERS and CACHES for the Redis traps people
copy, without running it (settings are code: the file is read with ``ast``).

Each finding names the line, why it breaks and the fix. The linter follows what
the file builds at module level: names assigned earlier (``POOL = {...}`` used
in several places), ``dict(...)`` calls and ``**`` unpacking. Values it cannot
know without running the file (``os.environ[...]``, other calls, imports) are
opaque: a rule only fires on what the file says. A file with neither
``CHANNEL_LAYERS`` nor ``CACHES`` at module level (split settings, a star
import) is refused: there is nothing to check there.
"""

from __future__ import annotations

import ast
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis_tuned_tools.common.inputs import UsageError, read_bounded

MAX_SETTINGS = 1024 * 1024
# Where django-redis (OPTIONS PASSWORD), Django's RedisCache and channels_redis
# hosts entries (password) take a password.
PASSWORD_KEYS = ("PASSWORD", "password")
# Parser classes redis-py 5 removed from redis.connection (Django's docs show the second).
GONE_PARSERS = ("redis.connection.HiredisParser", "redis.connection.PythonParser")
BZPOPMIN_WAIT = 5  # channels_redis core.py brpop_timeout


@dataclass(frozen=True)
class Finding:
    line: int
    code: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Opaque:
    """A value only running the file would know."""

    def __repr__(self) -> str:
        return "<opaque>"


@dataclass
class Value:
    """A literal value with the line it is written on; dicts keep their keys' lines.
    ``tuple``: written as a tuple (where a list is due)."""

    value: Any
    line: int
    tuple: bool = False


def _value(node: ast.AST, names: dict[str, Value] | None = None) -> Value:
    """What ``node`` is, following ``names`` (the module's earlier assignments),
    ``dict(...)`` and ``**`` unpacking; anything else opaque."""
    names = names or {}
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Dict):
        items: dict[Any, tuple[Value, Value]] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:  # {**NAME, ...}: its items, where NAME is known
                spread = _value(v, names)
                if isinstance(spread.value, dict):
                    items.update(spread.value)
                continue
            key = _value(k, names)
            items[_hashable(key.value)] = (key, _value(v, names))
        return Value(items, line)
    if (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id == "dict" and not node.args
    ):  # fmt: skip
        found: dict[Any, tuple[Value, Value]] = {}
        for keyword in node.keywords:
            if keyword.arg is None:  # dict(**NAME)
                spread = _value(keyword.value, names)
                if isinstance(spread.value, dict):
                    found.update(spread.value)
                continue
            found[keyword.arg] = (Value(keyword.arg, keyword.value.lineno),
                                  _value(keyword.value, names))  # fmt: skip
        return Value(found, line)
    if isinstance(node, (ast.List, ast.Tuple)):
        elements = [_value(e, names) for e in node.elts]
        return Value(elements, line, tuple=isinstance(node, ast.Tuple))
    if isinstance(node, ast.Constant):
        return Value(node.value, line)
    if isinstance(node, ast.Attribute):  # socket.TCP_KEEPIDLE
        return Value(ast.unparse(node), line)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _value(node.operand, names)
        if isinstance(inner.value, (int, float)):
            return Value(-inner.value, line)
    return Value(Opaque(), line)


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _get(d: Value, key: str) -> Value | None:
    if isinstance(d.value, dict) and key in d.value:
        found: Value = d.value[key][1]
        return found
    return None


def _dicts(v: Value) -> list[Value]:
    """Every dict value inside ``v`` (itself included)."""
    out = []
    if isinstance(v.value, dict):
        out.append(v)
        for _, inner in v.value.values():
            out += _dicts(inner)
    elif isinstance(v.value, list):
        for inner in v.value:
            out += _dicts(inner)
    return out


def read_settings(path: Path) -> dict[str, Value]:
    """The module-level assignments of CHANNEL_LAYERS and CACHES (last one wins),
    with the names assigned before them followed."""
    data = read_bounded(path, MAX_SETTINGS, f"settings {path}")
    try:
        tree = ast.parse(data.decode("utf-8"), filename=str(path))
    except UnicodeDecodeError:
        raise UsageError(f"settings {path}: not UTF-8 text") from None
    except SyntaxError as exc:
        raise UsageError(f"settings {path}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise UsageError(f"settings {path}: cannot be parsed as Python") from None
    names: dict[str, Value] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        seen = _value(value, names)
        for target in targets:
            if isinstance(target, ast.Name):
                names[target.id] = seen
    found: dict[str, Value] = {k: names[k] for k in ("CHANNEL_LAYERS", "CACHES") if k in names}
    if not found:
        raise UsageError(
            f"settings {path}: no module-level CHANNEL_LAYERS or CACHES (split settings or a "
            "star import?): lint the file that defines them"
        )
    return found


def lint(path: Path, server_timeout: int = 300) -> list[Finding]:
    settings = read_settings(path)
    findings: list[Finding] = []
    layers = settings.get("CHANNEL_LAYERS")
    caches = settings.get("CACHES")
    for top in (layers, caches):
        if top is not None:
            findings += _keepalive(top) + _health_check(top, server_timeout) + _passwords(top)
    channel_addresses: list[tuple[tuple[str, int], int]] = []
    if layers is not None and isinstance(layers.value, dict):
        for _, layer in layers.value.values():
            findings += _channel_layer(layer)
            channel_addresses += _layer_addresses(layer)
    cache_addresses: list[tuple[tuple[str, int], int]] = []
    if caches is not None and isinstance(caches.value, dict):
        for _, cache in caches.value.values():
            findings += _cache(cache)
            cache_addresses += _cache_addresses(cache)
    channel_set = {a for a, _ in channel_addresses}
    for address, line in cache_addresses:
        if address in channel_set:
            findings.append(
                Finding(
                    line,
                    "shared-instance",
                    f"the cache and the channel layer use one Redis instance "
                    f"({address[0]}:{address[1]}, different databases): under memory pressure the "
                    "cache's eviction policy also evicts channel groups and messages",
                    "run two instances (the role's channels profile: noeviction; cache profile: "
                    "allkeys-lru) and point each at its own, database 0",
                )
            )
    # One finding per place, in a stable order.
    return sorted(set(findings), key=lambda f: (f.line, f.code, f.message, f.fix))


def _keepalive(top: Value) -> list[Finding]:
    """One finding per options dict with integer keys (a dict unpacked into several
    entries is reported once, where it is written)."""
    out = []
    for d in _dicts(top):
        options = _get(d, "socket_keepalive_options")
        if options is None or not isinstance(options.value, dict):
            continue
        keys = [
            key for key, _ in options.value.values()
            if isinstance(key.value, int) and not isinstance(key.value, bool)
        ]  # fmt: skip
        if keys:
            shown = ", ".join(str(k.value) for k in keys)
            out.append(
                Finding(
                    keys[0].line,
                    "keepalive-keys",
                    f"socket_keepalive_options keys {shown} are not keepalive options: on Linux "
                    "1, 2, 3 are TCP_NODELAY, TCP_MAXSEG and TCP_CORK ({1: 60, 2: 10, 3: 6} "
                    "makes every connect fail; with 2: 100 TCP_CORK adds ~200 ms a round trip)",
                    "{socket.TCP_KEEPIDLE: 60, socket.TCP_KEEPINTVL: 10, socket.TCP_KEEPCNT: 6}",
                )
            )
    return out


def _health_check(top: Value, server_timeout: int) -> list[Finding]:
    out = []
    for d in _dicts(top):
        hci = _get(d, "health_check_interval")
        if hci is None or not isinstance(hci.value, (int, float)) or isinstance(hci.value, bool):
            continue
        if server_timeout and hci.value >= server_timeout:
            out.append(
                Finding(
                    hci.line,
                    "health-check-interval",
                    f"health_check_interval {hci.value} is not below the server's timeout "
                    f"({server_timeout} s): the server closes idle pooled connections first, "
                    "and the next command on one fails",
                    f"set it below {server_timeout} (30 is a good value)",
                )
            )
    return out


def _passwords(top: Value) -> list[Finding]:
    out = []

    def walk(v: Value) -> None:
        if isinstance(v.value, str) and v.value.startswith(("redis://", "rediss://")):
            try:
                password = urllib.parse.urlsplit(v.value).password
            except ValueError:
                password = None
            if password:
                out.append(
                    Finding(
                        v.line,
                        "inline-password",
                        "a Redis password is written in the settings file (and so in version "
                        "control and every copy of it)",
                        "read it from the environment (redis-tuned-clients settings does)",
                    )
                )
        elif isinstance(v.value, dict):
            for key, inner in v.value.values():
                if key.value in PASSWORD_KEYS and isinstance(inner.value, str) and inner.value:
                    out.append(
                        Finding(
                            inner.line,
                            "inline-password",
                            f"a Redis password is written in the settings file ({key.value}), "
                            "and so in version control and every copy of it",
                            f'"{key.value}": os.environ["REDIS_PASSWORD"] (or generate the '
                            "settings with redis-tuned-clients settings)",
                        )
                    )
                walk(inner)
        elif isinstance(v.value, list):
            for inner in v.value:
                walk(inner)

    walk(top)
    return out


def _channel_layer(layer: Value) -> list[Finding]:
    out: list[Finding] = []
    backend = _get(layer, "BACKEND")
    name = backend.value if backend is not None and isinstance(backend.value, str) else ""
    config = _get(layer, "CONFIG")
    if config is None:
        return out
    kwargs = _get(config, "connection_kwargs")
    if kwargs is not None:
        out.append(
            Finding(
                _key_line(config, "connection_kwargs"),
                "connection-kwargs",
                "CONFIG connection_kwargs is not a channels_redis option (dropped in 2.0): "
                "the layer raises TypeError when it is built, and the options in it never apply",
                'put the pool options inside each hosts entry: {"address": ..., '
                '"max_connections": ..., "socket_timeout": ...}',
            )
        )
    if not name.endswith("RedisChannelLayer"):
        return out
    hosts = _get(config, "hosts")
    if hosts is not None and hosts.tuple:
        out.append(
            Finding(
                hosts.line,
                "hosts-not-a-list",
                "CONFIG hosts is a tuple: channels_redis reads a bare tuple as one (host, port) "
                "address and fails with ValueError at the first message",
                'make it a list: "hosts": [("host", 6379)] or ["redis://host:6379/0"]',
            )
        )
    listed = hosts is not None and isinstance(hosts.value, list) and not hosts.tuple
    entries = hosts.value if hosts is not None and listed else []
    for entry in entries:
        if isinstance(entry.value, dict) and _get(entry, "master_name") is not None:
            out += _sentinels(entry, "sentinels", "sentinel_kwargs", entry)
        timeout = _get(entry, "socket_timeout") if isinstance(entry.value, dict) else None
        if timeout is None:
            out.append(
                Finding(
                    entry.line,
                    "channels-socket-timeout",
                    "no socket_timeout in this hosts entry: redis-py 8 defaults it to 5 s, the "
                    "same as the layer's BZPOPMIN wait, so idle consumers time out and "
                    "reconnect in a loop",
                    'add "socket_timeout": 15 (above 5 s) to the hosts entry, with a short '
                    '"socket_connect_timeout"',
                )
            )
        elif isinstance(timeout.value, (int, float)) and timeout.value <= BZPOPMIN_WAIT * 2:
            out.append(
                Finding(
                    timeout.line,
                    "channels-socket-timeout",
                    f"socket_timeout {timeout.value} is not above the channel layer's 5 s "
                    "BZPOPMIN wait (with margin): idle consumers time out and reconnect in a loop",
                    "set it to 15 or more (or None), and keep socket_connect_timeout short",
                )
            )
    return out


def _cache(cache: Value) -> list[Finding]:
    out: list[Finding] = []
    options = _get(cache, "OPTIONS")
    if options is None:
        return out
    for key in ("PARSER_CLASS", "parser_class"):  # django-redis, Django's RedisCache
        parser = _get(options, key)
        if parser is not None and parser.value in GONE_PARSERS:
            out.append(
                Finding(
                    parser.line,
                    "parser-class",
                    f"{parser.value} was removed in redis-py 5: the cache raises ImportError "
                    "on its first call, IGNORE_EXCEPTIONS or not",
                    f"remove {key}: redis-py uses hiredis by itself when it is installed",
                )
            )
    out += _pool_blocks(cache, options)
    if _get(options, "SENTINELS") is not None:  # django-redis's SentinelClient
        out += _sentinels(
            options, "SENTINELS", "SENTINEL_KWARGS", _get(options, "CONNECTION_POOL_KWARGS")
        )
    if _get(options, "COMPRESS_MIN_LENGTH") is not None:
        out.append(
            Finding(
                _key_line(options, "COMPRESS_MIN_LENGTH"),
                "compress-min-length",
                "COMPRESS_MIN_LENGTH is not a django-redis option: it is silently ignored",
                "remove it (the threshold belongs to the compressor class, e.g. a subclass of "
                "django_redis.compressors.zlib.ZlibCompressor with its own min_length)",
            )
        )
    return out


def _sentinels(d: Value, listed: str, kwargs_key: str, pool: Value | None) -> list[Finding]:
    """A client that finds its primary through Sentinel: several Sentinels listed
    (one is a single point of failure again), and their password in the Sentinel
    kwargs (redis-py copies only the socket options to the Sentinel connections: the
    node's password never reaches them), and TLS to the Sentinels where the primary
    is dialled over TLS (``pool``: where the primary's connection options are)."""
    out: list[Finding] = []
    sentinels = _get(d, listed)
    if sentinels is not None and isinstance(sentinels.value, list) and len(sentinels.value) < 2:
        out.append(
            Finding(
                sentinels.line,
                "single-sentinel",
                f"{listed} names {len(sentinels.value)} Sentinel: while its host is down the "
                "client cannot find the primary, which is what Sentinel was for",
                f"list every Sentinel of the group in {listed} (at least three)",
            )
        )
    kwargs = _get(d, kwargs_key)
    if kwargs is None or not isinstance(kwargs.value, dict) or _get(kwargs, "password") is None:
        out.append(
            Finding(
                kwargs.line if kwargs is not None else _key_line(d, listed),
                "sentinel-password",
                f"no password in {kwargs_key}: redis-py logs in to the Sentinels with it alone "
                "(it copies only the socket options there), so Sentinels that ask for a "
                "password refuse the client and it never finds the primary",
                f'add {kwargs_key}: {{"password": os.environ["REDIS_SENTINEL_PASSWORD"]}} '
                "(redis_tuned_sentinel_password)",
            )
        )
    ssl = _get(pool, "ssl") if pool is not None else None
    if ssl is not None and ssl.value is True and (kwargs is None or _get(kwargs, "ssl") is None):
        out.append(
            Finding(
                kwargs.line if kwargs is not None else _key_line(d, listed),
                "sentinel-tls",
                f"the primary is dialled over TLS but {kwargs_key} has no ssl: the Sentinels of "
                "a group over TLS listen on TLS only (redis_tuned), so the client never reaches "
                "them, and a Sentinel that took plain text would see its password in clear",
                f'add "ssl": True and "ssl_ca_certs" to {kwargs_key}, as for the primary',
            )
        )
    return out


def _pool_blocks(cache: Value, options: Value) -> list[Finding]:
    """A capped pool that raises when full: with IGNORE_EXCEPTIONS a full pool is a
    cache miss (``cache.get`` returns None), not an error anyone sees."""
    backend = _get(cache, "BACKEND")
    name = backend.value if backend is not None and isinstance(backend.value, str) else ""
    if name.startswith("django_redis"):
        kwargs = _get(options, "CONNECTION_POOL_KWARGS")
        pool = _get(options, "CONNECTION_POOL_CLASS")
        where, key = kwargs, "CONNECTION_POOL_CLASS"
    else:  # Django's own RedisCache: pool options straight in OPTIONS
        where, pool, key = options, _get(options, "pool_class"), "pool_class"
    cap = _get(where, "max_connections") if where is not None else None
    if cap is None or not isinstance(cap.value, int) or isinstance(cap.value, bool):
        return []
    if pool is not None and (
        not isinstance(pool.value, str) or pool.value.endswith("BlockingConnectionPool")
    ):
        return []
    return [
        Finding(
            cap.line,
            "pool-raises-when-full",
            f"max_connections {cap.value} on a pool that raises when full: past it every "
            "cache call fails, and with IGNORE_EXCEPTIONS it is a silent cache miss",
            f'"{key}": "redis.BlockingConnectionPool" with "timeout": 5 in the pool kwargs '
            "(it waits for a free connection)",
        )
    ]


def _key_line(d: Value, key: str) -> int:
    return int(d.value[key][0].line) if isinstance(d.value, dict) and key in d.value else d.line


def _address(text: Any) -> tuple[str, int] | None:
    if not isinstance(text, str) or not text.startswith(("redis://", "rediss://")):
        return None
    try:
        url = urllib.parse.urlsplit(text)
        return (url.hostname or "", url.port or 6379)
    except ValueError:
        return None


def _layer_addresses(layer: Value) -> list[tuple[tuple[str, int], int]]:
    config = _get(layer, "CONFIG")
    hosts = _get(config, "hosts") if config is not None else None
    out = []
    for entry in hosts.value if hosts is not None and isinstance(hosts.value, list) else []:
        raw = _get(entry, "address") if isinstance(entry.value, dict) else entry
        if raw is not None and (address := _address(raw.value)):
            out.append((address, raw.line))
        elif raw is not None and isinstance(raw.value, list) and len(raw.value) == 2:
            host, port = raw.value[0].value, raw.value[1].value
            if isinstance(host, str) and isinstance(port, int):
                out.append(((host, port), raw.line))
    return out


def _cache_addresses(cache: Value) -> list[tuple[tuple[str, int], int]]:
    location = _get(cache, "LOCATION")
    values = [] if location is None else location.value
    candidates = values if isinstance(values, list) else [location] if location else []
    out = []
    for v in candidates:
        if isinstance(v, Value) and (address := _address(v.value)):
            out.append((address, v.line))
    return out
