"""Small helpers the test suites share (tests/conftest.py puts this directory on sys.path)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def environ(values: dict[str, str], drop: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` (and unset ``drop``) in os.environ for the block, then restore."""
    keys = set(values) | set(drop)
    saved = {k: os.environ.get(k) for k in keys}
    for key in drop:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def loopback_only(real: Callable[..., Any]) -> Callable[..., Any]:
    """A socket.getaddrinfo that resolves loopback names only: generated host names
    never leave this machine."""

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.strip("[]") not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, "not resolved in these tests")
        return real(host, *args, **kwargs)

    return guarded
