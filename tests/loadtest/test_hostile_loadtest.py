"""redis-tuned-loadtest under hostile and careless argv: output or one line (exit 0 or
2), never a traceback, never a secret, nothing written. The target is always a loopback
port nobody listens on, so no example starts a load; names resolve to loopback only."""

from __future__ import annotations

import contextlib
import io
import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import free_port, loopback_only

from redis_tuned_loadtest.cli import LOAD_FLAGS, main

SECRET = "Zq9-loadtest-SECRET-Xk"
PROPERTY = settings(
    max_examples=int(os.environ.get("REDIS_TUNED_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FLAGS = [f[0] for f in LOAD_FLAGS] + [
    "--channels-url", "--cache-url", "--concurrency", "--baseline-url", "--skip", "--cacert",
    "--out", "--json", "--password", "-h",
]  # fmt: skip
VALUES = ["redis://app@10.0.0.5:6379/0", "rediss://h:6380/1", "redis://h:0/0", "redis://:x@h/0",
          f"redis://u:{SECRET}@h:6379/0", "http://h/", "0", "-1", "1e9", "nan", "inf", "idle",
          "per-request", "/dev/null", "-", "a..b", "127.0.0.1", "é", SECRET]  # fmt: skip
token = st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES), st.text(max_size=10))


@pytest.fixture(autouse=True)
def loopback_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", loopback_only(socket.getaddrinfo))


@PROPERTY
@given(argv=st.lists(token, max_size=8))
def test_any_argv(argv: list[str], tmp_path: Path) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    out_dir = tmp_path / "never-written"
    full = [*argv, "--channels-url", nobody, "--cache-url", nobody, "--skip", "idle",
            "--out", str(out_dir)]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(full)
    event(f"exit {code}")
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text and SECRET not in text, full
    if {"-h"} & set(argv) and code == 0:
        return
    assert code == 2, full
    assert out.getvalue() == "" and len(err.getvalue().strip().splitlines()) == 1, (full, text)
    assert not out_dir.exists()


def test_without_the_loadtest_extra_one_line_says_what_to_install() -> None:
    """pip install of the project without extras: redis-tuned-loadtest says in one
    line which extra it needs (it ended in a ModuleNotFoundError traceback for
    websockets before, issue 22 #9); redis-tuned-clients needs no extra."""
    import subprocess
    import sys

    blocked = "import sys; sys.modules['websockets'] = None; sys.modules['uvicorn'] = None; "
    run = subprocess.run(
        [sys.executable, "-c", blocked + "from redis_tuned_loadtest.entry import main; "
         "sys.exit(main(['--help']))"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "redis-tuned-loadtest: needs the loadtest extra (missing: uvicorn, websockets): "
        "pip install 'redis-tuned-tools[loadtest]'"
    ]
    clients = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['django'] = None; "
         "sys.modules['channels'] = None; from redis_tuned_clients.cli import main; "
         "sys.exit(main(['settings', '--cache-url=redis://10.0.0.5:6380/0', '--format=json']))"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert clients.returncode == 0, clients.stderr
