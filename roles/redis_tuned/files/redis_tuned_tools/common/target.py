"""How a Redis target is reached: where and how to log in, and the errors of
reaching one (unreachable, or something that answers but not as Redis does)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class Unreachable(Exception):
    """The server could not be reached (refused, timed out, name unknown)."""


class NotRedis(Unreachable):
    """Something answered, but not as Redis does (the client library could not
    make sense of the handshake or a reply)."""


# What redis-py raises when a reply is not shaped like Redis's (e.g. "+OK" to HELLO).
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, IndexError, KeyError, UnicodeError)


@contextlib.contextmanager
def speaks_redis() -> Iterator[None]:
    try:
        yield
    except SHAPE_ERRORS as exc:
        raise NotRedis(f"{type(exc).__name__} while reading its reply") from exc


@dataclass(frozen=True)
class Target:
    """Where and how to log in."""

    host: str
    port: int
    password: str | None = None
    username: str | None = None
    timeout: float = 5.0
    tls: bool = False
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    check_hostname: bool = True

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context a client of this target uses: the CA, the client
        certificate where there is one, and the host name check."""
        ctx = ssl.create_default_context(cafile=self.cacert)
        ctx.check_hostname = self.check_hostname
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client(self, db: int = 0, anonymous: bool = False) -> redis.Redis:
        """A client with one connection pool; nothing is sent until the first command.

        ``anonymous`` leaves the credentials out (to check that the server refuses that).
        """
        tls: dict[str, Any] = {}
        if self.tls:
            tls = {
                "ssl": True,
                "ssl_ca_certs": self.cacert,
                "ssl_certfile": self.cert,
                "ssl_keyfile": self.key,
                "ssl_cert_reqs": "required",
                "ssl_check_hostname": self.check_hostname,
            }
        return redis.Redis(
            host=self.host,
            port=self.port,
            db=db,
            username=None if anonymous else self.username,
            password=None if anonymous else self.password,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            decode_responses=True,
            # No hidden retries (redis-py retries 3 times with backoff by default):
            # one wrong password is one login attempt in the server's ACL log,
            # --timeout bounds each operation, and the tool adds nothing to the
            # rejected_connections counter it checks.
            retry=Retry(NoBackoff(), 0),
            **tls,
        )


def is_auth_error(exc: Exception) -> bool:
    """True for NOAUTH / WRONGPASS / invalid username-password answers."""
    if isinstance(exc, redis.AuthenticationError):
        return True
    text = str(exc)
    return isinstance(exc, redis.ResponseError) and any(
        key in text for key in ("NOAUTH", "WRONGPASS", "invalid password", "invalid username")
    )


def ping(client: redis.Redis) -> None:
    """PING; connection problems become Unreachable, auth problems propagate."""
    try:
        with speaks_redis():
            client.ping()
    except (redis.AuthenticationError, redis.ResponseError):
        raise
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise Unreachable(" ".join((str(exc) or type(exc).__name__).split())) from exc
