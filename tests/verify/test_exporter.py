"""The monitoring pieces against real processes: Debian's redis_exporter logged in
as the role's exporter ACL user on a real redis-server, the alert rules under
promtool, and the verifier's exporter check failing where it should."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from support import free_port

from redis_tuned_dev import monitoring
from redis_tuned_tools.verify.checks import parse_metrics
from redis_tuned_tools.verify.cli import main

PROJECT = Path(__file__).resolve().parents[2]
RULES = PROJECT / "monitoring" / "prometheus" / "redis-tuned.rules.yml"
RULE_TESTS = PROJECT / "monitoring" / "prometheus" / "redis-tuned.rules.test.yml"
DASHBOARD = PROJECT / "monitoring" / "grafana" / "redis-tuned.json"
ROLE_VARS = PROJECT / "roles" / "redis_tuned" / "vars" / "main.yml"
EXPORTER = "/usr/bin/prometheus-redis-exporter"
USER = "redis-tuned-exporter"
SECRET = "exporter-test-secret"
FAST = ["--latency-samples", "50", "--fresh-samples", "2", "--mode", "client", "--json"]


def exporter_rules() -> str:
    """The ACL rules the role gives its exporter user (vars/main.yml)."""
    return str(yaml.safe_load(ROLE_VARS.read_text())["__redis_tuned_exporter_acl_rules"])


def add_exporter_user(client: redis.Redis, password: str = SECRET) -> None:
    client.execute_command("ACL", "SETUSER", USER, "on", f">{password}", *exporter_rules().split())


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Factory: ``exporter(redis_port, password)`` starts redis_exporter as the role
    runs it (ACL user, JSON password map) and returns its metrics URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(redis_port: int, password: str = SECRET) -> str:
        addr = f"redis://127.0.0.1:{redis_port}"
        pw_file = tmp_path / f"exporter-{redis_port}.json"
        # Both keys, as the role writes them: exporter 1.45 looks up the address,
        # newer ones the address with the user in it.
        with_user = addr.replace("://", f"://{USER}@", 1)
        pw_file.write_text(json.dumps({addr: password, with_user: password}))
        pw_file.chmod(0o600)
        port = free_port()
        proc = subprocess.Popen(
            [
                EXPORTER,
                f"--redis.addr={addr}",
                f"--redis.user={USER}",
                f"--redis.password-file={pw_file}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 10
        while True:
            try:
                fetch(url)
                return url
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis_exporter did not start") from None
                time.sleep(0.05)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: make system installs Debian's prometheus package"
    check = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 12 rules found" in check.stdout
    tests = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, check=False
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "SUCCESS" in tests.stdout


def test_rules_and_dashboard_use_only_metrics_the_exporter_emits(redis_server, exporter) -> None:
    server = redis_server(appendonly="yes")
    admin = server.client()
    add_exporter_user(admin)
    admin.acl_log_reset()
    scraped = parse_metrics(fetch(exporter(server.port)))
    assert scraped["redis_up"][0][1] == 1
    used = monitoring.metric_names(
        monitoring.rule_exprs(RULES) + monitoring.dashboard_exprs(DASHBOARD)
    )
    assert len(used) >= 25
    assert used - set(scraped) == set(), "rules or dashboard use metrics the exporter lacks"
    # Everything the exporter asked for was allowed: no scrape error, no ACL denial.
    assert [v for _, v in scraped["redis_exporter_last_scrape_error"]] == [0]
    assert admin.acl_log() == []


def test_the_exporter_user_cannot_write_flush_or_read_keys(redis_server) -> None:
    server = redis_server()
    admin = server.client()
    add_exporter_user(admin)
    admin.set("app:k", "v")
    user = redis.Redis(port=server.port, username=USER, password=SECRET, decode_responses=True)
    assert user.ping() is True
    assert "redis_version" in user.info()
    for command in (
        ("SET", "x", "1"),
        ("FLUSHALL",),
        ("GET", "app:k"),
        ("CONFIG", "SET", "maxmemory", "1"),
        ("ACL", "LIST"),
        ("SHUTDOWN",),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.execute_command(*command)
    assert admin.get("app:k") == "v"


def verify_exporter(capsys: pytest.CaptureFixture[str], port: int, url: str) -> dict[str, Any]:
    code = main(["--port", str(port), "--exporter-url", url, *FAST])
    report = json.loads(capsys.readouterr().out)
    check = next(c for c in report["checks"] if c["name"] == "exporter")
    assert code == (0 if check["ok"] else 1)
    return dict(check)


def test_exporter_check_passes_for_the_instance_it_scrapes(redis_server, exporter, capsys) -> None:
    server = redis_server()
    add_exporter_user(server.client())
    check = verify_exporter(capsys, server.port, exporter(server.port))
    assert check["status"] == "pass", check
    assert check["observed"].startswith("redis_up 1, scrape ")


def test_exporter_check_fails_when_the_exporter_cannot_log_in(
    redis_server, exporter, capsys
) -> None:
    server = redis_server()
    add_exporter_user(server.client())
    check = verify_exporter(capsys, server.port, exporter(server.port, password="wrong"))
    assert check["status"] == "fail"
    assert check["observed"].startswith("redis_up 0")
    assert "password file and ACL user" in check["hint"]


def test_exporter_check_fails_for_an_exporter_of_another_instance(
    redis_server, exporter, capsys
) -> None:
    verified, other = redis_server(), redis_server()
    add_exporter_user(other.client())
    check = verify_exporter(capsys, verified.port, exporter(other.port))
    assert check["status"] == "fail"
    assert "another Redis instance" in check["hint"]


def test_exporter_check_fails_when_nothing_answers(redis_server, capsys) -> None:
    server = redis_server()
    url = f"http://127.0.0.1:{free_port()}/metrics"
    check = verify_exporter(capsys, server.port, url)
    assert check["status"] == "fail"
    assert "redis-tuned-exporter@" in check["hint"]
