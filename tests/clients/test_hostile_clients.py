"""redis-tuned-clients under hostile and careless input (issue: every console script):
arbitrary argv and arbitrary bytes as a settings file end in output, findings or one
line (exit 0, 1 or 2), never a traceback, never a secret; names resolve to loopback only."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import loopback_only

from redis_tuned_clients.cli import main

SECRET = "Zq9-clients-SECRET-Xk"
PROPERTY = settings(
    max_examples=int(os.environ.get("REDIS_TUNED_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def loopback_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", loopback_only(socket.getaddrinfo))


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def clean(code: int, out: str, err: str, argv: list[str]) -> None:
    event(f"exit {code}")
    assert code in (0, 1, 2), argv
    assert "Traceback" not in out + err and SECRET not in out + err, argv
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1, (argv, err)
    if "--json" in argv and code in (0, 1) and not {"-h", "--help"} & set(argv):
        json.loads(out)


COMMANDS = ["settings", "lint", "connections", "bogus"]
FLAGS = ["--channels-url", "--cache-url", "--processes", "--concurrency", "--expect-file",
         "--format", "--channel-layer", "--cache-backend", "--cacert", "--json", "--host",
         "--port", "--user", "--password-file", "--timeout", "--server-timeout"]  # fmt: skip
VALUES = ["redis://app@10.0.0.5:6379/0", "rediss://h:6380/1", "redis://h:0/0", "redis://:x@h/0",
          f"redis://u:{SECRET}@h:6379/0", "http://h/", "0", "-1", "99999", "nan", "json",
          "django", "pubsub", "/dev/null", "-", "a..b", "127.0.0.1", "é"]  # fmt: skip
token = st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES), st.text(max_size=10))
argvs = st.tuples(st.sampled_from(COMMANDS), st.lists(token, max_size=8)).map(
    lambda t: [t[0], *t[1]]
)


@PROPERTY
@given(argv=argvs)
def test_any_argv(argv: list[str]) -> None:
    # connections: nothing listens on port 1; every name but loopback fails to resolve.
    full = [*argv, "--port=1", "--timeout=1"] if argv[0] == "connections" else argv
    clean(*run(full), full)


@PROPERTY
@given(blob=st.binary(max_size=4096), as_json=st.booleans())
def test_any_bytes_as_a_settings_file(blob: bytes, as_json: bool, tmp_path: Path) -> None:
    path = tmp_path / "settings.py"
    path.write_bytes(blob)
    argv = ["lint", str(path), *(["--json"] if as_json else [])]
    clean(*run(argv), argv)


source = st.recursive(
    st.one_of(st.integers(-5, 400), st.text(max_size=12), st.none(), st.booleans(),
              st.sampled_from(["redis://127.0.0.1:6379/0", "redis.connection.HiredisParser"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.sampled_from(["hosts", "CONFIG", "OPTIONS", "LOCATION", "BACKEND",
                                       "socket_timeout", "socket_keepalive_options",
                                       "health_check_interval", "connection_kwargs",
                                       "address", "default", "PARSER_CLASS"]),
                      st.integers(0, 7), st.text(max_size=6)),
            inner, max_size=4,
        ),
    ),
    max_leaves=16,
)  # fmt: skip


@PROPERTY
@given(layers=source, caches=source)
def test_any_settings_structure(layers: object, caches: object, tmp_path: Path) -> None:
    """Settings shaped anyhow (the linter sees every kind of value where a dict is due)."""
    path = tmp_path / "settings.py"
    path.write_text(f"CHANNEL_LAYERS = {layers!r}\nCACHES = {caches!r}\n")
    argv = ["lint", str(path), "--json"]
    clean(*run(argv), argv)
