"""redis-tuned-verify under hostile and careless input: one clean line (exit 2)
or a report (exit 0/1), never a traceback, never a secret, never another server.

Property-based (Hypothesis) over the input boundary: arbitrary argv, arbitrary
bytes as expectations and password files, arbitrary JSON shaped like the
role's expectations. Then one test per known way in: fake servers on loopback
(silent, closing at once, answering +OK to everything, not HTTP), a server
with CONFIG renamed, closed standard streams. Every network operation goes to
loopback only: name lookups of anything else fail inside these tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import environ, loopback_only, redis_server

from redis_tuned_tools.verify.cli import main

SECRET = "Zq9-hostile-SECRET-Xk"
EXAMPLES = int(os.environ.get("REDIS_TUNED_HYPOTHESIS_EXAMPLES", "150"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- a real server with a password, and the loopback-only guard --------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server whose password is SECRET, on a free loopback port."""
    with redis_server(tmp_path_factory.mktemp("hostile"), "--requirepass", SECRET) as port:
        redis.Redis(port=port, password=SECRET).ping()
        yield port


@pytest.fixture(autouse=True)
def loopback_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", loopback_only(socket.getaddrinfo))


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """main() in-process, its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with (
        environ(env or {}, drop=("REDISCLI_AUTH",)),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, out: str, err: str, argv: list[str]) -> None:
    """The properties every run keeps, whatever it was given."""
    event(f"exit {code}")  # how the generated cases ended (--hypothesis-show-statistics)
    assert code in (0, 1, 2), (code, argv)
    assert "Traceback" not in out + err, (argv, err)
    assert SECRET not in out and SECRET not in err, argv
    if code == 2:
        assert out == "", argv
        assert len(err.strip().splitlines()) == 1, (argv, err)
    if "--json" in argv and code in (0, 1) and not {"-h", "--help"} & set(argv):
        json.loads(out)  # valid JSON, or this raises (--help wins over --json)


# Forced last, so that whatever was generated: bounded in time, nothing written
# outside the test's directory, no hidden pause.
def tail(state: Path) -> list[str]:
    return [
        "--timeout=1",
        "--latency-samples=5",
        "--fresh-samples=1",
        f"--state-file={state}",
    ]


# --- generated argv ------------------------------------------------------------------

FLAGS = [
    "--host", "--port", "--user", "--password-file", "--tls", "--cacert", "--cert", "--key",
    "--require-auth", "--expect", "--expect-file", "--instance", "--exporter-url",
    "--databases", "--latency-samples", "--latency-p99-ms", "--fresh-samples", "--timeout",
    "--mode", "--json", "--help", "--bogus", "-x", "--",
]  # fmt: skip
VALUES = [
    "-", "0", "1", "70000", "-1", "nan", "inf", "1e308", "a..b", "127.0.0.1", "localhost",
    "::1", "[::1]", "host", "client", "auto", "maxmemory=1mb", "ALLKEYS-LRU",
    "maxmemory-policy=ALLKEYS-LRU", "timeout=notanumber", "=", "save=", "0,1", "0,,x",
    "http://127.0.0.1:1/metrics", "localhost:9121", "../../etc/passwd", "/dev/null", "/",
    "default", "é", "\x00", "a" * 300,
]  # fmt: skip
SECRET_CHUNKS = [
    ["-a", SECRET], [f"-a{SECRET}"], ["--password", SECRET], [f"--password={SECRET}"],
    ["--pass", SECRET], [f"--Passwd={SECRET}"], ["--expect", f"requirepass={SECRET}"],
    ["--expect", f"MASTERAUTH={SECRET}"], ["--auth", SECRET],
]  # fmt: skip
chunk = st.one_of(
    st.lists(st.sampled_from(FLAGS), min_size=1, max_size=1),
    st.lists(st.sampled_from(VALUES), min_size=1, max_size=1),
    st.lists(st.text(max_size=12), min_size=1, max_size=1),
    st.tuples(st.sampled_from(FLAGS), st.sampled_from(VALUES)).map(list),
    st.tuples(st.sampled_from(FLAGS), st.text(max_size=12)).map(list),
    st.sampled_from(SECRET_CHUNKS),
)
argvs = st.lists(chunk, max_size=8).map(lambda chunks: [t for c in chunks for t in c])


# Well-formed options with values from anywhere in their domain, so that most
# cases get past the parser and exercise what the tool does with the values.
DIRECTIVES = ["maxmemory", "maxmemory-policy", "save", "appendonly", "timeout", "maxclients",
              "tcp-keepalive", "bind", "notify-keyspace-events", "no-such-directive"]  # fmt: skip
well_formed = st.lists(
    st.one_of(
        st.tuples(st.just("--expect"), st.sampled_from(DIRECTIVES), st.text(max_size=16)).map(
            lambda t: [t[0], f"{t[1]}={t[2]}"]
        ),
        st.tuples(st.just("--databases"), st.lists(st.integers(0, 40), max_size=4)).map(
            lambda t: [t[0], ",".join(map(str, t[1])) or "0"]
        ),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: ["--latency-p99-ms", str(f)]),
        st.sampled_from(["auto", "client", "host"]).map(lambda m: ["--mode", m]),
        st.text(max_size=10).map(lambda u: ["--user", u]),
        st.sampled_from([["--require-auth"], ["--json"], ["--tls"]]),
    ),
    max_size=6,
).map(lambda chunks: [t for c in chunks for t in c])


@PROPERTY
@given(argv=well_formed, with_env=st.booleans())
def test_well_formed_options_with_any_values(
    argv: list[str], with_env: bool, server: int, tmp_path: Path
) -> None:
    full = ["--port", str(server), *argv, *tail(tmp_path / "state.json")]
    code, out, err = run(full, {"REDISCLI_AUTH": SECRET} if with_env else None)
    assert_clean(code, out, err, full)


@PROPERTY
@given(argv=argvs, with_env=st.booleans())
def test_any_argv_ends_in_a_report_or_one_line(
    argv: list[str], with_env: bool, server: int, tmp_path: Path
) -> None:
    full = ["--port", str(server), *argv, *tail(tmp_path / "state.json")]
    code, out, err = run(full, {"REDISCLI_AUTH": SECRET} if with_env else None)
    assert_clean(code, out, err, full)


# --- generated files -------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = ["host", "port", "tls", "exporter", "requires_auth", "nofile", "config", "sysctl",
        "transparent_hugepages", "name", "profile"]  # fmt: skip
expectations = st.dictionaries(
    st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), json_values, max_size=8
).map(lambda d: {**d, "config": d.get("config", {"requirepass": SECRET})})


@PROPERTY
@given(data=expectations, json_out=st.booleans())
def test_any_expectations_object_is_typed_or_refused(
    data: dict[str, Any], json_out: bool, server: int, tmp_path: Path
) -> None:
    path = tmp_path / "expect.json"
    path.write_text(json.dumps(data))
    full = ["--port", str(server), "--expect-file", str(path), "--mode", "client"]
    full += (["--json"] if json_out else []) + tail(tmp_path / "state.json")
    code, out, err = run(full, {"REDISCLI_AUTH": SECRET})
    assert_clean(code, out, err, full)


@PROPERTY
@given(blob=st.binary(max_size=2048), as_password=st.booleans())
def test_any_bytes_as_a_file_are_read_or_refused(
    blob: bytes, as_password: bool, server: int, tmp_path: Path
) -> None:
    path = tmp_path / "input"
    path.write_bytes(blob)
    flag = "--password-file" if as_password else "--expect-file"
    full = ["--port", str(server), flag, str(path), "--json", *tail(tmp_path / "state.json")]
    code, out, err = run(full, None if as_password else {"REDISCLI_AUTH": SECRET})
    assert_clean(code, out, err, full)


@PROPERTY
@given(blob=st.binary(max_size=512))
def test_a_password_file_never_shows_its_content(blob: bytes, server: int, tmp_path: Path) -> None:
    """Whatever the file holds (the right password with junk, a wrong one, bytes),
    its content is never printed."""
    path = tmp_path / "pw"
    path.write_bytes(SECRET.encode() + blob)
    full = ["--port", str(server), "--password-file", str(path), "--json"]
    full += tail(tmp_path / "state.json")
    code, out, err = run(full)
    assert_clean(code, out, err, full)
    shown = blob.decode("utf-8", "ignore").strip()
    if len(shown) >= 6:
        assert shown not in out + err


# --- one test per known way in ----------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[Callable[[str], int]]:
    """Loopback servers that are not Redis: ``fake(kind)`` gives the port of one that
    answers +OK to everything ("ok"), closes at once ("close") or never answers ("silent")."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def handle(kind: str, conn: socket.socket) -> None:
        with conn:
            if kind == "close":
                return
            conn.settimeout(0.2)
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                if kind == "ok":
                    conn.sendall(b"+OK\r\n" * max(1, data.count(b"*")))

    def serve(kind: str) -> int:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0.2)
        sockets.append(sock)

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except (TimeoutError, OSError):
                    continue
                threading.Thread(target=handle, args=(kind, conn), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return int(sock.getsockname()[1])

    ports: dict[str, int] = {}
    yield lambda kind: ports.setdefault(kind, serve(kind))
    stop.set()
    for sock in sockets:
        sock.close()


def exe() -> str:
    return str(Path(sys.executable).with_name("redis-tuned-verify"))


def one_line(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "" and "Traceback" not in err, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_server_that_answers_ok_to_everything_is_not_taken_for_redis(fake) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    line = one_line(*run(["--port", str(fake("ok")), "--timeout", "2"]))
    assert "answered, but not as Redis does" in line
    assert time.monotonic() - start < 10


def test_a_server_that_closes_at_once_is_unreachable(fake) -> None:  # type: ignore[no-untyped-def]
    line = one_line(*run(["--port", str(fake("close")), "--timeout", "2"]))
    assert "cannot reach" in line


def test_a_silent_listener_is_bounded_by_the_timeout(fake) -> None:  # type: ignore[no-untyped-def]
    """One attempt, no hidden retries: --timeout 1 ends the run in about a second
    (it took 16 s with the client library's default retries)."""
    start = time.monotonic()
    line = one_line(*run(["--port", str(fake("silent")), "--timeout", "1"]))
    elapsed = time.monotonic() - start
    assert "cannot reach" in line and "timeout" in line.lower()
    assert elapsed < 5, elapsed


def test_an_exporter_url_that_is_not_http_is_a_failed_check(fake, server: int) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{fake('ok')}/metrics"
    code, out, err = run(
        ["--port", str(server), "--exporter-url", url, "--json", "--latency-samples", "5"],
        {"REDISCLI_AUTH": SECRET},
    )
    assert code == 1 and "Traceback" not in err
    exporter = next(c for c in json.loads(out)["checks"] if c["name"] == "exporter")
    assert exporter["status"] == "fail"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ({"config": [1, 2]}, "config must be an object"),
        ({"config": {"maxmemory": {"a": 1}}}, "config maxmemory must be text"),
        ({"tls": "yes"}, "tls must be an object or null"),
        ({"exporter": 5}, "exporter must be an object or null"),
        ({"exporter": {"port": "9121"}}, "exporter.port must be a port number"),
        ({"requires_auth": "maybe"}, "requires_auth must be true or false"),
        ({"nofile": "x"}, "nofile must be a positive number"),
        ({"host": "a..b"}, "host 'a..b' is not a host name"),
        ({"sysctl": {"vm.overcommit_memory": ["1"]}}, "sysctl 'vm.overcommit_memory' must be"),
        ({"config": {"max memory": 1}}, "no directive name"),
    ],
)
def test_wrongly_typed_fields_are_named(content: dict[str, Any], says: str, tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps(content))
    line = one_line(*run(["--expect-file", str(path), "--port", "1"]))
    assert says in line and str(path) in line


def test_deep_nesting_and_huge_files_are_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in one_line(*run(["--expect-file", str(deep)]))
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"config": {}, "pad": "x" * 2_000_000}))
    assert "larger than" in one_line(*run(["--expect-file", str(huge)]))


def test_a_password_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_bytes(b"\xff\xfe\xfa")
    assert "is not UTF-8 text" in one_line(*run(["--password-file", str(path)]))


def test_closed_standard_input_is_one_line() -> None:
    result = subprocess.run(
        f"exec {exe()} --port 1 --password-file - <&-",
        shell=True, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    line = one_line(result.returncode, result.stdout, result.stderr)
    assert "standard input is closed" in line


def test_a_reader_that_leaves_early_gets_no_traceback(server: int) -> None:
    """``| head -1``: the rest of the table goes nowhere, quietly."""
    result = subprocess.run(
        f"{{ {exe()} --port {server} --latency-samples 5; echo rc=$? >&2; }} | head -1",
        shell=True, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "REDISCLI_AUTH": SECRET},
    )  # fmt: skip
    assert "Traceback" not in result.stderr and "Broken pipe" not in result.stderr
    assert result.stderr.strip() in ("rc=0", "rc=1"), result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_renamed_config_and_info_are_reported_not_fatal(redis_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "renamed.conf"
    conf.write_text('rename-command CONFIG ""\nrename-command INFO ""\n')
    srv = redis_server(conf=conf)
    code, out, _ = run(
        ["--port", str(srv.port), "--json", "--latency-samples", "5", "--expect", "timeout=300"]
    )
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1
    assert checks["server info readable"]["status"] == "warn"
    assert "renamed" in checks["config timeout"]["hint"]
    assert checks["latency p99"]["status"] == "pass"  # the rest still ran
    assert checks["SELECT 0"]["status"] == "pass"


def test_the_admin_secret_goes_only_to_its_own_instance(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: int
) -> None:
    """With --instance the role's admin secret is used; pointed elsewhere by --host or
    --port, the tool logs in without it (the server then asks for a password)."""
    import redis_tuned_tools.verify.cli as cli

    expect_dir = tmp_path / "etc"
    expect_dir.mkdir()
    (expect_dir / "main.json").write_text(json.dumps({"port": server, "config": {}}))
    (expect_dir / "admin.secret").write_text(SECRET)
    monkeypatch.setattr(cli, "EXPECT_DIRS", (tmp_path / "none", expect_dir))
    monkeypatch.setattr(cli, "ADMIN_USER", "default")
    state = [f"--state-file={tmp_path / 'state.json'}", "--latency-samples=5", "--json"]
    code, out, _ = run(["--instance", "main", "--mode", "client", *state])
    assert json.loads(out)["checks"][0]["name"] == "reachable + auth + PING", out
    code, out, _ = run(["--instance", "main", "--port", str(server), "--mode", "client", *state])
    first = json.loads(out)["checks"][0]
    assert code == 1 and first["name"] == "auth"
    assert "wants a password" in first["hint"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--tls", "--cacert", "\r"],  # found by the argv property: a second "line"
        ["--cacert", "\x1b[31mred"],  # a terminal escape is shown, not played
        ["--expect-file", f"redis://u:{SECRET}@h:6379/0"],  # found: a URL given as a path
    ],
)
def test_error_lines_are_one_printable_line_without_credentials(argv: list[str]) -> None:
    line = one_line(*run(argv))
    assert line.isprintable() and SECRET not in line
