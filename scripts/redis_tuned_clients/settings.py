"""Client settings for the instances the role deployed: Django's CHANNEL_LAYERS and
CACHES, or plain redis-py pool kwargs, sized against the server and safe with the
installed libraries.

The rules, each for a trap people copy (docs/clients.md):

- keepalive with the real constants (socket.TCP_KEEPIDLE/KEEPINTVL/KEEPCNT), never 1, 2, 3;
- the channel layer's ``socket_timeout`` above channels_redis's 5 s BZPOPMIN wait (redis-py 8
  defaults to 5 s: idle consumers would time out and reconnect in a loop);
- ``health_check_interval`` below the server's ``timeout``, so a pooled connection is checked
  before the server drops it;
- pools sized so that processes x pools fit under ``maxclients`` with 20% headroom;
- pool options inside each ``hosts`` entry (``connection_kwargs`` is gone from channels_redis);
- passwords from environment variables, never in the settings file.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from redis_tuned_tools.common.inputs import Expectations, SentinelExpect, UsageError, valid_host

KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 6}
CHANNELS_SOCKET_TIMEOUT = 15  # channels_redis blocks in BZPOPMIN for 5 s
CONNECT_TIMEOUT = 5
CACHE_SOCKET_TIMEOUT = 5
HEADROOM = 0.8  # of maxclients, for the role's own users, the exporter, replicas, operators
DEFAULT_MAXCLIENTS = 10000
DEFAULT_TIMEOUT = 300
MAX_POOL = 1000
# Where the snippet reads the Sentinels' password (redis_tuned_sentinel_password).
SENTINEL_PASSWORD_ENV = "REDIS_SENTINEL_PASSWORD"


@dataclass(frozen=True)
class Endpoint:
    """One instance as the app reaches it."""

    use: str  # "channels" or "cache"
    scheme: str
    host: str
    port: int
    db: int
    user: str | None
    maxclients: int
    timeout: int
    ca_file: str | None
    # The environment variable the snippet reads the password from; None where the
    # expectations say the instance takes none.
    password_env: str | None
    # A node of a replication group (its expectations say so): the app finds the
    # primary through these Sentinels, never at the node's own address.
    sentinel: SentinelExpect | None = None
    # The channel layer over several instances (channels_redis shards channels and
    # groups over its hosts list): this one's place in it, from 0.
    shard: int = 0

    @property
    def key(self) -> str:
        """Its name in the pool sizes and the JSON: channels, channels-2, ..., cache."""
        return self.use if self.shard == 0 else f"{self.use}-{self.shard + 1}"

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def instance(self) -> tuple[str, int]:
        return (self.host, self.port)


def parse_url(
    text: str, use: str, expectations: list[Expectations], cacert: str | None,
    flag: str | None = None, password_env: str | None = None, shard: int = 0,
) -> Endpoint:  # fmt: skip
    """--channels-url / --cache-url: redis[s]://[user@]host[:port][/db], no password."""
    flag = flag or f"--{use}-url"
    password_env = password_env or shard_password_env(use, shard)
    try:
        url = urllib.parse.urlsplit(text)
        port = url.port or 6379
    except ValueError:
        raise UsageError(f"{flag} is not a valid URL") from None
    if url.password is not None:
        raise UsageError(
            f"{flag} must not hold a password (it would show in ps and in the settings): the "
            f"snippet reads it from ${password_env}"
        )
    if url.scheme not in ("redis", "rediss") or not url.hostname or not valid_host(url.hostname):
        raise UsageError(f"{flag} takes redis://[user@]host[:port][/db] (rediss:// for TLS)")
    path = url.path.strip("/")
    if path and not (path.isdigit() and int(path) <= 10000):
        raise UsageError(f"{flag}: the path must be a database number (/0)")
    expected = next((e for e in expectations if port in _ports(e)), None)
    maxclients, timeout = DEFAULT_MAXCLIENTS, DEFAULT_TIMEOUT
    ca_file = cacert
    if expected is not None:
        maxclients = _number(expected.config.get("maxclients"), DEFAULT_MAXCLIENTS)
        timeout = _number(expected.config.get("timeout"), DEFAULT_TIMEOUT)
        if expected.tls and not ca_file:
            ca_file = expected.tls.ca_file
    if url.scheme == "rediss" and not ca_file:
        raise UsageError(f"{flag} is rediss://: give --cacert (or an --expect-file with tls)")
    sentinel = expected.sentinel if expected is not None else None
    if (
        sentinel is not None
        and expected is not None
        and bool(expected.tls) != (url.scheme == "rediss")
    ):
        # A group over TLS has its Sentinels on TLS only; a plain one, plain.
        want = "rediss://" if expected.tls else "redis://"
        raise UsageError(
            f"{flag}: the instance is replicated and its group (its Sentinels too) is "
            f"{'over TLS' if expected.tls else 'plain'}: use {want}"
        )
    return Endpoint(
        use=use,
        scheme=url.scheme,
        host=url.hostname,
        port=port,
        db=int(path or 0),
        user=urllib.parse.unquote(url.username) if url.username else None,
        maxclients=maxclients,
        timeout=timeout,
        ca_file=ca_file if url.scheme == "rediss" else None,
        password_env=password_env
        if url.username or expected is None or expected.requires_auth
        else None,
        sentinel=sentinel,
        shard=shard,
    )


def shard_password_env(use: str, shard: int) -> str:
    """Where the snippet reads an instance's password: $REDIS_CHANNELS_PASSWORD, and
    $REDIS_CHANNELS_2_PASSWORD ... for the layer's further instances."""
    return (
        f"REDIS_{use.upper()}_PASSWORD"
        if shard == 0
        else f"REDIS_{use.upper()}_{shard + 1}_PASSWORD"
    )


def _ports(exp: Expectations) -> set[int]:
    return {p for p in (exp.port, exp.tls.port if exp.tls else None) if p}


def _number(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def pool_sizes(endpoints: list[Endpoint], processes: int, concurrency: int) -> dict[str, int]:
    """Connections per process for each pool: the concurrency, all of it for the
    channel layer (a full channels_redis pool raises MaxConnectionsError instead of
    waiting: it is never cut, the run refuses instead), and for the cache what is
    left under 80% of the instance's maxclients (its pool blocks and waits)."""
    sizes = {e.key: max(2, min(concurrency + _own(e), MAX_POOL)) for e in endpoints}
    for instance in {e.instance for e in endpoints}:
        on_it = [e for e in endpoints if e.instance == instance]
        maxclients = on_it[0].maxclients
        budget = int(maxclients * HEADROOM)
        where = f"{instance[0]}:{instance[1]}"
        fixed = [e for e in on_it if e.use == "channels"]
        flexible = [e for e in on_it if e.use != "channels"]
        needed = processes * sum(sizes[e.key] for e in fixed)
        if needed > budget:
            need = sizes[fixed[0].key]
            raise UsageError(
                f"the channel layer needs {need} connections per process ({concurrency} "
                f"concurrent + 1 for its receive loop) x {processes} processes = {needed} on "
                f"{where}, more than 80% of its maxclients {maxclients} ({budget}); a full "
                "channels_redis pool raises instead of waiting, so it is not cut: raise maxclients "
                f"to at least {-(-needed * 5 // 4)} (and redis_tuned_nofile to maxclients + 32), "
                "or lower --processes or --concurrency"
            )
        left = budget - needed
        wanted = processes * sum(sizes[e.key] for e in flexible)
        if flexible and wanted > left:
            each = left // (processes * len(flexible))
            if each < 2:
                raise UsageError(
                    f"{processes} processes x {len(on_it)} pools need at least "
                    f"{needed + 2 * processes * len(flexible)} connections on {where}, "
                    f"more than 80% of its maxclients {maxclients}: raise maxclients "
                    "or run fewer processes"
                )
            for e in flexible:
                sizes[e.key] = min(sizes[e.key], each)
    return sizes


def _own(endpoint: Endpoint) -> int:
    """Connections a pool needs beyond one per concurrent operation: channels_redis's
    core layer keeps one in its BZPOPMIN receive loop. Its pool raises
    MaxConnectionsError when full instead of waiting, so it must cover the peak."""
    return 1 if endpoint.use == "channels" else 0


def health_check_interval(timeout: int) -> int:
    """Below the server's idle timeout (0: never drops idle clients)."""
    return 30 if timeout == 0 or timeout > 60 else max(1, timeout // 2)


def pool_kwargs(endpoint: Endpoint, size: int) -> dict[str, Any]:
    """redis-py connection-pool kwargs for one endpoint (keepalive keys by name)."""
    channels = endpoint.use == "channels"
    kwargs: dict[str, Any] = {
        "max_connections": size,
        "socket_timeout": CHANNELS_SOCKET_TIMEOUT if channels else CACHE_SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_keepalive": True,
        "socket_keepalive_options": dict(KEEPALIVE),
        "health_check_interval": health_check_interval(endpoint.timeout),
    }
    if endpoint.tls:
        kwargs |= {"ssl_ca_certs": endpoint.ca_file, "ssl_cert_reqs": "required"}
    return kwargs


def as_json(endpoints: list[Endpoint], sizes: dict[str, int]) -> str:
    out = {}
    for e in endpoints:
        out[e.key] = {
            "url": f"{e.scheme}://{e.host}:{e.port}/{e.db}",
            "username": e.user,
            "password_env": e.password_env,
            **pool_kwargs(e, sizes[e.key]),
            "note": "socket_keepalive_options keys are the socket module's constants by name",
        }
    return json.dumps(out, indent=2)


def _py(value: Any, indent: int) -> str:
    """A Python literal, keepalive options as socket constants."""
    pad = " " * indent
    if isinstance(value, dict):
        if value and all(k in KEEPALIVE for k in value):
            return "_KEEPALIVE"
        items = [f'{pad}    "{k}": {_py(v, indent + 4)},' for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def as_django(
    endpoints: list[Endpoint], sizes: dict[str, int], processes: int, concurrency: int,
    layer: str = "core", cache_backend: str = "django-redis",
) -> str:  # fmt: skip
    """The Django settings snippet: CHANNEL_LAYERS and CACHES."""
    by_use = {e.use: e for e in endpoints if e.shard == 0}
    layer_hosts = [e for e in endpoints if e.use == "channels"]
    envs = [f"${e.password_env}" for e in endpoints if e.password_env]
    if any(e.sentinel for e in endpoints):
        envs.append(f"${SENTINEL_PASSWORD_ENV}")
    lines = [
        "# Generated by redis-tuned-clients settings (redis_tuned).",
        (
            "# Passwords come from the environment, never from this file (a missing one "
            "fails at import, named): " + ", ".join(envs) + "."
            if envs
            else "# No password: the expectations say these instances take none."
        ),
        f"# Pools sized for {processes} process(es) x {concurrency} concurrent requests or "
        "WebSockets (channels: +1 for the layer's receive loop; its pool raises when full), "
        "under 80% of each instance's maxclients:",
    ]
    for e in endpoints:
        where = (
            f"the primary of {e.sentinel.master_name}, found through its "
            f"{len(e.sentinel.sentinels)} Sentinels"
            if e.sentinel
            else f"{e.host}:{e.port}"
        )
        size = (
            f"up to {concurrency} (uncapped: redis-py has no blocking Sentinel pool)"
            if e.sentinel and e.use == "cache"
            else str(sizes[e.key])
        )
        lines.append(
            f"#   {e.key}: {size} per process at {where} "
            f"(maxclients {e.maxclients}, server timeout {e.timeout} s)"
        )
    lines += [
        "import os",
        "import socket",
        "from urllib.parse import quote",
        "",
        "# Keepalive with the socket module's constants: keys 1, 2, 3 would be TCP_NODELAY,",
        "# TCP_MAXSEG and TCP_CORK on Linux.",
        "_KEEPALIVE = {" + ", ".join(f"socket.{k}: {v}" for k, v in KEEPALIVE.items()) + "}",
        "",
        "",
        "def _redis_url(scheme, user, password_env, host, port, db):",
        '    """The instance\'s URL, its password from the environment (quoted): a missing',
        '    variable fails here, at import, naming it (None: the instance takes none)."""',
        '    password = os.environ[password_env] if password_env else ""',
        '    auth = ""',
        "    if user or password:",
        '        auth = quote(user or "", safe="") + ":" + quote(password, safe="") + "@"',
        '    at = f"{host}:{port}" if port else host  # a Sentinel master name has no port',
        '    return f"{scheme}://{auth}{at}/{db}"',
        "",
        "",
    ]
    if layer_hosts:
        entries = []
        for e in layer_hosts:
            if e.sentinel is not None:
                entries.append(_sentinel_entry(e, pool_kwargs(e, sizes[e.key])))
            else:
                host = {"address": "ADDRESS", **pool_kwargs(e, sizes[e.key])}
                entries.append(_py(host, 16).replace('"ADDRESS"', _url_call(e)))
        hosts = "".join(f"                {entry},\n" for entry in entries)
        if len(entries) > 1:
            lines.append(
                f"# {len(entries)} instances: channels_redis shards channels and groups over "
                "its hosts (the same list, in the same order, in every process)."
            )
        backend = (
            "channels_redis.pubsub.RedisPubSubChannelLayer"
            if layer == "pubsub"
            else "channels_redis.core.RedisChannelLayer"
        )
        lines += [
            "# Pool options inside each hosts entry (channels_redis has no connection_kwargs).",
            f"# socket_timeout {CHANNELS_SOCKET_TIMEOUT} s: above the layer's 5 s BZPOPMIN wait.",
            "CHANNEL_LAYERS = {",
            '    "default": {',
            f'        "BACKEND": "{backend}",',
            '        "CONFIG": {',
            f'            "hosts": [\n{hosts}            ],',
            "        },",
            "    },",
            "}",
            "",
        ]
    if "cache" in by_use:
        e = by_use["cache"]
        kwargs = pool_kwargs(e, sizes["cache"])
        if e.sentinel is not None and cache_backend == "django":
            raise UsageError(
                "--cache-url names a replicated instance: Django's own RedisCache has no "
                "Sentinel support; use --cache-backend django-redis (its SentinelClient)"
            )
        if e.sentinel is not None:
            socket_timeout = kwargs.pop("socket_timeout")
            connect_timeout = kwargs.pop("socket_connect_timeout")
            # redis-py has no blocking Sentinel pool: a capped one raises when full, so
            # it is left to grow with the process's concurrency (one per caller at once).
            kwargs.pop("max_connections")
            options = {
                # Writes go to the primary Sentinel names, reads to a replica (a cache
                # read may be a replication lag behind).
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool",
                "SENTINELS": "@@SENTINELS@@",
                "SENTINEL_KWARGS": _sentinel_kwargs(e),
                "CONNECTION_POOL_KWARGS": {**kwargs, **_sentinel_tls(e)},
                "SOCKET_CONNECT_TIMEOUT": connect_timeout,
                "SOCKET_TIMEOUT": socket_timeout,
            }
            backend = "django_redis.cache.RedisCache"
            # redis://, TLS or not: the pool's ssl option dials the primary over TLS.
            location = _url_call(e, host=e.sentinel.master_name, port=None, scheme="redis")
            lines += [
                "CACHES = {",
                '    "default": {',
                f'        "BACKEND": "{backend}",',
                f'        "LOCATION": {location},',
                f'        "OPTIONS": {_sentinel_literals(_py(options, 8), e)},',
                "    },",
                "}",
            ]
            return "\n".join(lines) + "\n"
        if cache_backend == "django":
            options = {**kwargs, "pool_class": "redis.BlockingConnectionPool", "timeout": 5}
            backend = "django.core.cache.backends.redis.RedisCache"
        else:
            socket_timeout = kwargs.pop("socket_timeout")
            connect_timeout = kwargs.pop("socket_connect_timeout")
            options = {
                "CONNECTION_POOL_CLASS": "redis.BlockingConnectionPool",
                # A full pool waits up to 5 s for a connection instead of raising.
                "CONNECTION_POOL_KWARGS": {**kwargs, "timeout": 5},
                "SOCKET_CONNECT_TIMEOUT": connect_timeout,
                "SOCKET_TIMEOUT": socket_timeout,
            }
            backend = "django_redis.cache.RedisCache"
        lines += [
            "CACHES = {",
            '    "default": {',
            f'        "BACKEND": "{backend}",',
            f'        "LOCATION": {_url_call(e)},',
            f'        "OPTIONS": {_py(options, 8)},',
            "    },",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _url_call(
    e: Endpoint, host: str | None = None, port: int | None = -1, scheme: str | None = None
) -> str:
    user = json.dumps(e.user) if e.user else "None"
    env = json.dumps(e.password_env) if e.password_env else "None"
    at = json.dumps(host or e.host)
    shown = e.port if port == -1 else port
    return f'_redis_url("{scheme or e.scheme}", {user}, {env}, {at}, {shown}, {e.db})'


def _sentinel_kwargs(e: Endpoint) -> dict[str, Any]:
    """How the client logs in to the Sentinels (redis-py copies only socket options
    to them unless given these: a Sentinel password must be here, and TLS where the
    group is over TLS: its Sentinels listen on TLS only)."""
    return {
        "password": "@@SENTINEL_PASSWORD@@",
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": CACHE_SOCKET_TIMEOUT,
        **_sentinel_tls(e),
    }


def _sentinel_tls(e: Endpoint) -> dict[str, Any]:
    """TLS through Sentinel: ``ssl`` makes redis-py's SentinelConnectionPool dial the
    primary it finds over TLS (a rediss:// URL would bypass Sentinel), with the CA."""
    if not e.tls:
        return {}
    return {"ssl": True, "ssl_ca_certs": e.ca_file, "ssl_cert_reqs": "required"}


def _sentinel_literals(text: str, e: Endpoint) -> str:
    """The placeholders of a Sentinel form as Python: the Sentinels, the passwords
    read from the environment (a missing one fails at import, named)."""
    assert e.sentinel is not None
    sentinels = "[" + ", ".join(f"({json.dumps(h)}, {p})" for h, p in e.sentinel.sentinels) + "]"
    password = f"os.environ[{json.dumps(e.password_env)}]" if e.password_env else "None"
    return (
        text.replace('"@@SENTINELS@@"', sentinels)
        .replace('"@@SENTINEL_PASSWORD@@"', f'os.environ["{SENTINEL_PASSWORD_ENV}"]')
        .replace('"@@PASSWORD@@"', password)
    )


def _sentinel_entry(e: Endpoint, kwargs: dict[str, Any]) -> str:
    """A channels_redis hosts entry through the group's Sentinels (its
    SentinelConnectionPool finds the primary, and finds the new one after a
    failover)."""
    assert e.sentinel is not None
    host: dict[str, Any] = {
        "sentinels": "@@SENTINELS@@",
        "master_name": e.sentinel.master_name,
        "sentinel_kwargs": _sentinel_kwargs(e),
        **({"username": e.user} if e.user else {}),
        "password": "@@PASSWORD@@",
        "db": e.db,
        **kwargs,
        **_sentinel_tls(e),
    }
    return _sentinel_literals(_py(host, 16), e)
