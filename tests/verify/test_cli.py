"""redis-tuned-verify against real redis-server processes: each check fails on a
server that violates it, and passes on one that does not."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from support import server_cert

from redis_tuned_tools.verify.cli import main

FAST = ["--latency-samples", "200", "--fresh-samples", "5"]
ROLE_VARS = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned" / "vars" / "main.yml"


def verify(
    capsys: pytest.CaptureFixture[str], server: Any, *extra: str
) -> tuple[int, dict[str, Any]]:
    """Run the CLI in-process with --json; return the exit code and the parsed object."""
    code = main(["--port", str(server.port), "--json", *FAST, *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def expects(*pairs: str) -> list[str]:
    """``--expect`` flags for KEY=VALUE pairs."""
    return [arg for pair in pairs for arg in ("--expect", pair)]


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["name"] == name]
    assert found, f"no check {name!r} in {[c['name'] for c in report['checks']]}"
    return found[0]


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as an operator runs it."""
    exe = Path(sys.executable).with_name("redis-tuned-verify")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        input=stdin,
        check=False,
    )


# --- live config ------------------------------------------------------------------------


def test_live_config_matches_with_redis_spellings(redis_server, capsys) -> None:
    server = redis_server(
        maxmemory="2gb", maxmemory_policy="allkeys-lru", appendonly="yes", save="900 1 300 10"
    )
    wanted = expects(
        "maxmemory=2gb", "maxmemory-policy=allkeys-lru", "appendonly=yes", "save=900 1 300 10"
    )
    code, report = verify(capsys, server, "--mode", "client", *wanted)
    assert code == 0, report
    assert check(report, "config maxmemory")["observed"] == str(2 * 1024**3)
    assert check(report, "config save")["ok"]
    assert report["mode"] == "client"
    assert report["target"] == {"host": "127.0.0.1", "port": server.port, "tls": False}
    assert {"name", "ok", "expected", "observed", "hint"} <= set(report["checks"][0])


def test_live_config_mismatch_fails(redis_server, capsys) -> None:
    server = redis_server(maxmemory="1gb", maxmemory_policy="noeviction")
    wanted = expects("maxmemory=2gb", "maxmemory-policy=allkeys-lru")
    code, report = verify(capsys, server, "--mode", "client", *wanted)
    assert code == 1
    mm = check(report, "config maxmemory")
    assert (mm["ok"], mm["expected"], mm["observed"]) == (False, str(2 * 1024**3), str(1024**3))
    assert not check(report, "config maxmemory-policy")["ok"]
    assert not report["ok"]


def test_expectations_file_written_by_the_role(redis_server, capsys, tmp_path) -> None:
    server = redis_server(maxclients=4000, timeout=300)
    expect = tmp_path / "default.json"
    expect.write_text(
        json.dumps(
            {
                "port": server.port,
                "config": {"maxclients": 4000, "timeout": 300, "save": "", "appendonly": "no"},
            }
        )
    )
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    expect.write_text(json.dumps({"config": {"maxclients": 10000}}))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
    assert code == 1
    assert check(report, "config maxclients")["observed"] == "4000"


# --- reachability and auth ----------------------------------------------------------------


def test_password_from_env_or_file_and_wrong_or_missing_password(
    redis_server, capsys, tmp_path, monkeypatch
) -> None:
    server = redis_server(requirepass="s3cret-pw")
    monkeypatch.delenv("REDISCLI_AUTH", raising=False)
    code, report = verify(capsys, server, "--mode", "client")
    assert code == 1
    auth = check(report, "auth")
    assert not auth["ok"] and "--password-file or REDISCLI_AUTH" in auth["hint"]

    monkeypatch.setenv("REDISCLI_AUTH", "wrong")
    code, report = verify(capsys, server, "--mode", "client")
    assert code == 1
    assert "refused" in check(report, "auth")["hint"]

    monkeypatch.setenv("REDISCLI_AUTH", "s3cret-pw")
    code, report = verify(capsys, server, "--mode", "client")
    assert code == 0, report

    monkeypatch.delenv("REDISCLI_AUTH")
    pw = tmp_path / "pw"
    pw.write_text("s3cret-pw\n")
    code, report = verify(capsys, server, "--mode", "client", "--password-file", str(pw))
    assert code == 0, report
    assert "s3cret-pw" not in json.dumps(report)


def test_a_secret_directive_is_compared_but_never_shown(
    redis_server, capsys, monkeypatch, tmp_path
) -> None:
    """requirepass=GUESS (from a file) against a protected server: the check fails,
    and neither the guess nor the live password is printed (table, hint or JSON)."""
    server = redis_server(requirepass="live-secret-pw")
    monkeypatch.setenv("REDISCLI_AUTH", "live-secret-pw")
    guess = tmp_path / "guess.json"
    guess.write_text(json.dumps({"config": {"requirepass": "my-guess"}}))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(guess))
    text = json.dumps(report)
    assert code == 1
    failed = check(report, "config requirepass")
    assert failed["status"] == "fail" and failed["observed"] == "(redacted)"
    assert "live-secret-pw" not in text and "my-guess" not in text
    guess.write_text(json.dumps({"config": {"REQUIREPASS": "live-secret-pw"}}))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(guess))
    assert check(report, "config requirepass")["status"] == "pass"
    assert "live-secret-pw" not in json.dumps(report)


def test_a_secret_directive_on_the_command_line_is_refused_unseen(redis_server) -> None:
    server = redis_server()
    for spelling in ("requirepass=hunter2", "MasterAuth=hunter2"):
        line = _one_line_exit_2(cli("--port", str(server.port), "--expect", spelling))
        assert "never taken on the command line" in line and "hunter2" not in line


def test_enum_values_compare_as_redis_reads_them(redis_server, capsys) -> None:
    server = redis_server(maxmemory_policy="allkeys-lru")
    code, report = verify(
        capsys, server, "--mode", "client", "--expect", "maxmemory-policy=ALLKEYS-LRU"
    )
    assert code == 0 and check(report, "config maxmemory-policy")["status"] == "pass", report
    code, report = verify(
        capsys, server, "--mode", "client", "--expect", "maxmemory-policy=noeviction"
    )
    assert code == 1 and check(report, "config maxmemory-policy")["status"] == "fail"


def test_a_wrong_password_is_one_login_attempt(redis_server, capsys, monkeypatch) -> None:
    """No hidden retries: the server's ACL log counts one failed login per run
    (redis-py's default retries made it 11)."""
    server = redis_server(requirepass="right-pw")
    admin = redis.Redis(port=server.port, password="right-pw")
    admin.acl_log_reset()
    monkeypatch.setenv("REDISCLI_AUTH", "wrong")
    code, report = verify(capsys, server, "--mode", "client")
    assert code == 1 and not check(report, "auth")["ok"]
    assert sum(int(entry["count"]) for entry in admin.acl_log()) == 1
    admin.close()


def test_password_from_stdin(redis_server) -> None:
    server = redis_server(requirepass="stdin-pw")
    args = ("--port", str(server.port), "--mode", "client", "--password-file", "-", *FAST)
    assert cli(*args, stdin="stdin-pw\n").returncode == 0
    assert cli(*args, stdin="wrong\n").returncode == 1


def test_select_is_sent_for_every_database_it_reports(redis_server, capsys) -> None:
    """SELECT 0 is reported only because it was sent (redis-py itself sends none for 0)."""
    server = redis_server()
    admin = server.client()
    admin.config_resetstat()
    code, report = verify(capsys, server, "--mode", "client", "--databases", "0,1")
    assert code == 0 and check(report, "SELECT 0")["ok"] and check(report, "SELECT 1")["ok"]
    assert admin.info("commandstats")["cmdstat_select"]["calls"] >= 2


def test_select_fails_for_a_database_the_server_lacks(redis_server, capsys) -> None:
    server = redis_server(databases=1)
    code, report = verify(capsys, server, "--mode", "client")
    assert code == 1
    assert check(report, "SELECT 0")["ok"]
    assert not check(report, "SELECT 1")["ok"]


def test_an_instance_made_with_databases_1_passes_as_the_role_expects_it(
    redis_server, capsys
) -> None:
    """Issue 18 #19: `databases 1` set through the role failed every verification
    (SELECT 1 of the guide's two databases); the expectations say how many it has."""
    server = redis_server(databases=1)
    code, report = verify(capsys, server, "--mode", "client", *expects("databases=1"))
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert check(report, "SELECT 0")["ok"]
    assert not [c for c in report["checks"] if c["name"] == "SELECT 1"]
    # Asked for by name, it is still checked (and fails).
    code, report = verify(capsys, server, "--databases", "0,1", *expects("databases=1"))
    assert code == 1 and not check(report, "SELECT 1")["ok"]


# --- TLS and anonymous access ---------------------------------------------------------------


def test_tls_with_the_ca_works_and_without_it_fails(redis_server, tls_dir, capsys) -> None:
    server = redis_server(tls=tls_dir)
    ca = str(tls_dir / "ca.crt")
    code, report = verify(capsys, server, "--mode", "client", "--tls", "--cacert", ca)
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    # The test certificate is valid for 2 days: verified, and flagged for renewal.
    cert = check(report, f"TLS certificate (port {server.port})")
    assert cert["status"] == "warn" and cert["observed"].startswith("verified, expires in")
    # Plain TCP to a TLS-only port, and TLS without trusting our CA: both refused.
    plain = _one_line_exit_2(cli("--port", str(server.port), "--timeout", "2"))
    assert "cannot reach" in plain
    untrusted = _one_line_exit_2(cli("--port", str(server.port), "--tls"))
    assert "certificate verify failed" in untrusted


def test_tls_only_instance_is_reached_over_tls_from_the_expectations(
    redis_server, tls_dir, tmp_path, capsys
) -> None:
    """Expectations with port 0 and a TLS block (what the role writes for a TLS-only
    instance): the CLI connects over TLS with the CA it names, no TLS flag needed."""
    server_cert(tls_dir, "long", days=400)
    server = redis_server(tls=tls_dir, tls_cert="long")
    expect = tmp_path / "tls-only.json"
    tls = {"port": server.port, "ca_file": str(tls_dir / "ca.crt"), "auth_clients": "no"}
    expect.write_text(json.dumps({"port": 0, "tls": tls, "config": {"port": "0"}}))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    cert = check(report, f"TLS certificate (port {server.port})")
    assert cert["status"] == "pass", cert
    # No --port: the port comes from the TLS block too.
    out = cli("--expect-file", str(expect), "--mode", "client", "--json", *FAST)
    assert out.returncode == 0, (out.stderr, out.stdout[-2000:])
    assert check(json.loads(out.stdout), "config port")["observed"] == "0"


def by_expectations(capsys: pytest.CaptureFixture[str], expect: Path) -> tuple[int, Any]:
    """The CLI aimed by an expectations file alone (no --host, --port or TLS flag)."""
    code = main(["--json", *FAST, "--mode", "client", "--expect-file", str(expect)])
    captured = capsys.readouterr()
    assert captured.out, captured.err
    return code, json.loads(captured.out)


def test_a_tls_only_instance_whose_plain_port_answers_fails(
    redis_server, tls_dir, tmp_path, capsys
) -> None:
    """Issue 18 #1: the role's expectations of a TLS-only instance name its own port;
    a server still serving clear text there (a switch not applied) fails, one that
    serves only TLS there (the TLS listener drops a clear-text PING) passes."""
    server_cert(tls_dir, "long", days=400)
    leaky = redis_server(tls=tls_dir, tls_cert="long", tls_and_plain=True)
    expect = tmp_path / "tls-only.json"
    tls = {"port": leaky.tls_port, "ca_file": str(tls_dir / "ca.crt"), "auth_clients": "no"}
    expect.write_text(json.dumps({"port": 0, "tls": tls, "closed_port": leaky.port}))
    code, report = by_expectations(capsys, expect)
    closed = check(report, f"plain port {leaky.port} closed (TLS only)")
    assert code == 1 and closed["status"] == "fail" and closed["observed"] == "PONG", closed
    # Switched live, as the role does: CONFIG SET port 0 over TLS.
    admin = redis.Redis(
        port=leaky.tls_port, ssl=True, ssl_ca_certs=str(tls_dir / "ca.crt"), decode_responses=True
    )
    assert admin.config_set("port", "0")
    code, report = by_expectations(capsys, expect)
    closed = check(report, f"plain port {leaky.port} closed (TLS only)")
    assert closed["status"] == "pass" and "refused" in closed["observed"].lower(), closed
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    # The TLS port itself as the "own" port (tls_port == port): a TLS listener, no clear text.
    only = redis_server(tls=tls_dir, tls_cert="long")
    tls = {"port": only.port, "ca_file": str(tls_dir / "ca.crt"), "auth_clients": "no"}
    expect.write_text(json.dumps({"port": 0, "tls": tls, "closed_port": only.port}))
    code, report = by_expectations(capsys, expect)
    assert check(report, f"plain port {only.port} closed (TLS only)")["status"] == "pass"
    assert code == 0, [c for c in report["checks"] if not c["ok"]]


def test_a_dns_only_certificate_verifies_when_the_host_is_addressed_by_name(
    redis_server, tls_dir, capsys
) -> None:
    """Issue 18 #19: a certificate whose SANs hold a DNS name only (no IP) verifies
    when the instance is addressed by that name, its host name checked; a name the
    certificate does not carry fails."""
    name = socket.gethostname()
    try:
        resolved = socket.gethostbyname(name)
    except OSError:
        pytest.skip(f"this machine's name {name} does not resolve")
    if resolved != "127.0.0.1":
        pytest.skip(f"{name} resolves to {resolved}, not to the test server's 127.0.0.1")
    server_cert(tls_dir, "named", days=30, san=f"DNS:{name}")
    server_cert(tls_dir, "other", days=30, san="DNS:someone-else.invalid")
    ca = str(tls_dir / "ca.crt")
    for cert, status in (("named", "pass"), ("other", "fail")):
        server = redis_server(tls=tls_dir, tls_cert=cert)
        code = main(["--host", name, "--port", str(server.port), "--tls", "--cacert", ca,
                     "--mode", "client", "--json", *FAST])  # fmt: skip
        captured = capsys.readouterr()
        if status == "pass":
            report = json.loads(captured.out)
            assert code == 0, [c for c in report["checks"] if not c["ok"]]
            assert check(report, f"TLS certificate (port {server.port})")["status"] == "pass"
        else:
            assert code == 2 and "match" in captured.err.lower(), captured.err


def test_a_tls_port_beside_a_plain_one_gets_the_client_certificate_it_asks_for(
    redis_server, tls_dir, tmp_path, capsys
) -> None:
    """tls-auth-clients yes on an instance with a plain port too: the TLS certificate
    check presents the expectations' client certificate (molecule found it going
    without one: the handshake was reset)."""
    server_cert(tls_dir, "client", days=30)
    server = redis_server(tls=tls_dir, tls_and_plain=True, tls_auth_clients="yes")
    expect = tmp_path / "both.json"
    tls = {
        "port": server.tls_port,
        "ca_file": str(tls_dir / "ca.crt"),
        "auth_clients": "yes",
        "cert_file": str(tls_dir / "client.crt"),
        "key_file": str(tls_dir / "client.key"),
    }
    expect.write_text(json.dumps({"port": server.port, "tls": tls}))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
    # verified (a warning only for the test server certificate's two days left)
    assert check(report, f"TLS certificate (port {server.tls_port})")["observed"].startswith(
        "verified"
    )
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    del tls["cert_file"], tls["key_file"]
    expect.write_text(json.dumps({"port": server.port, "tls": tls}))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
    assert check(report, f"TLS certificate (port {server.tls_port})")["status"] == "fail"


def test_tls_port_beside_a_plain_port_fails_with_the_wrong_ca(
    redis_server, tls_dir, tmp_path, capsys
) -> None:
    server = redis_server(tls=tls_dir, tls_and_plain=True)
    expect = tmp_path / "both.json"
    for ca, status in ((tls_dir / "ca.crt", "warn"), (tls_dir / "server.crt", "fail")):
        # server.crt is not a CA: nothing it "signed" verifies.
        tls = {"port": server.tls_port, "ca_file": str(ca)}
        expect.write_text(json.dumps({"port": server.port, "tls": tls}))
        code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
        cert = check(report, f"TLS certificate (port {server.tls_port})")
        assert cert["status"] == status, cert
        assert code == (1 if status == "fail" else 0)
    assert "certificate verify failed" in cert["observed"]


def test_anonymous_access_is_checked_when_auth_is_required(
    redis_server, capsys, monkeypatch
) -> None:
    open_server = redis_server()
    code, report = verify(capsys, open_server, "--mode", "client", "--require-auth")
    assert code == 1
    anon = check(report, "anonymous access refused")
    assert (anon["ok"], anon["observed"]) == (False, "PONG")

    locked = redis_server(requirepass="pw-x")
    monkeypatch.setenv("REDISCLI_AUTH", "pw-x")
    code, report = verify(capsys, locked, "--mode", "client", "--require-auth")
    assert code == 0, report
    anon = check(report, "anonymous access refused")
    assert anon["ok"] and anon["observed"] != "PONG"  # NOAUTH, or HELLO refused unauthenticated


def test_the_roles_verify_user_reads_every_check_and_nothing_else(
    redis_server, capsys, monkeypatch
) -> None:
    """Issue 18 #17: the control node's check as the role's verify user (vars/main.yml
    rules) passes every check a client-mode run makes, with --require-auth and the
    config compared; an application's user whose rules deny INFO and CONFIG GET does
    not. The verify user can write nothing."""
    import yaml

    rules = yaml.safe_load((ROLE_VARS).read_text())["__redis_tuned_verify_acl_rules"]
    server = redis_server(requirepass="admin-pw")
    admin = server.client()
    admin.execute_command(
        "ACL", "SETUSER", "redis-tuned-verify", "on", ">verify-pw", *rules.split()
    )
    admin.execute_command(
        "ACL", "SETUSER", "app", "on", ">app-pw", "~app:*", "+@all", "-@dangerous"
    )
    monkeypatch.setenv("REDISCLI_AUTH", "verify-pw")
    code, report = verify(
        capsys, server, "--mode", "client", "--require-auth", "--user", "redis-tuned-verify",
        *expects("timeout=0", "appendonly=no"),
    )  # fmt: skip
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert check(report, "config timeout")["status"] == "pass"
    monkeypatch.setenv("REDISCLI_AUTH", "app-pw")
    code, report = verify(
        capsys, server, "--mode", "client", "--user", "app", *expects("timeout=0")
    )
    assert code == 1 and check(report, "config timeout")["status"] == "fail"
    as_verify = redis.Redis(port=server.port, username="redis-tuned-verify", password="verify-pw")
    for refused in (
        lambda: as_verify.set("k", "v"),
        lambda: as_verify.config_set("timeout", "1"),
        as_verify.flushall,
        lambda: as_verify.publish("c", "m"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            refused()


def test_acl_user_within_its_rights(redis_server, capsys, monkeypatch) -> None:
    server = redis_server(requirepass="admin-pw")
    admin = server.client()
    admin.acl_setuser(
        "app",
        enabled=True,
        passwords=["+app-pw"],
        keys=["app:*"],
        commands=["+@all", "-@dangerous"],
    )
    monkeypatch.setenv("REDISCLI_AUTH", "app-pw")
    # The app user may not run CONFIG GET: the live-config checks say so, not a crash.
    code, report = verify(capsys, server, "--mode", "client", "--user", "app")
    assert code == 0, report
    code, report = verify(
        capsys, server, "--mode", "client", "--user", "app", *expects("maxmemory=0")
    )
    assert code == 1
    assert "may not read the config" in check(report, "config maxmemory")["hint"]
    assert check(report, "server info readable")["status"] == "warn"


# --- open files, on the host ---------------------------------------------------------------


def test_lowered_maxclients_is_caught(redis_server, capsys) -> None:
    """The canonical case: maxclients 10000 under a 1024 open-files limit."""
    server = redis_server(nofile=1024, maxclients=10000)
    code, report = verify(capsys, server, "--expect", "maxclients=10000")
    assert code == 1
    assert report["mode"] == "host"
    eff = check(report, "effective maxclients")
    assert (eff["ok"], eff["expected"], eff["observed"]) == (False, 10000, 992)
    assert "silently lowered maxclients from 10000 to 992" in eff["hint"]
    assert not check(report, "open files >= maxclients + 32")["ok"]
    warnings = check(report, "startup warnings")
    assert not warnings["ok"] and "maxclients" in warnings["hint"]


def test_maxclients_from_the_config_file_without_expectations(
    redis_server, capsys, tmp_path
) -> None:
    conf = tmp_path / "lowered.conf"
    conf.write_text("maxclients 5000\n")
    server = redis_server(nofile=1024, conf=conf)
    code, report = verify(capsys, server)
    assert code == 1
    assert check(report, "effective maxclients")["expected"] == 5000


def test_enough_open_files_pass_and_expected_nofile_is_compared(
    redis_server, capsys, tmp_path
) -> None:
    server = redis_server(nofile=4096, maxclients=1000)
    expect = tmp_path / "e.json"
    expect.write_text(json.dumps({"nofile": 4096, "config": {"maxclients": 1000}}))
    _, report = verify(capsys, server, "--expect-file", str(expect))
    for name in ("open files limit", "open files >= maxclients + 32", "effective maxclients"):
        assert check(report, name)["ok"], check(report, name)
    expect.write_text(json.dumps({"nofile": 8192, "config": {"maxclients": 1000}}))
    code, report = verify(capsys, server, "--expect-file", str(expect))
    limit = check(report, "open files limit")
    assert code == 1
    assert (limit["ok"], limit["observed"]) == (False, 4096)


# --- kernel, on the host ---------------------------------------------------------------------


def test_kernel_checks_report_this_machine_honestly(redis_server, capsys) -> None:
    server = redis_server()
    _, report = verify(capsys, server)
    live = int(Path("/proc/sys/vm/overcommit_memory").read_text())
    over = check(report, "sysctl vm.overcommit_memory")
    assert over["observed"] == live
    assert over["ok"] == (live == 1 or over["status"] == "warn")
    somax = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert check(report, "sysctl net.core.somaxconn")["observed"] == somax


def test_the_kernel_settings_the_role_set_are_verified_on_the_host(
    redis_server, capsys, tmp_path
) -> None:
    """Issue 18 #19: somaxconn is checked against what the role set (not only the
    backlog), and so is every sysctl of the operator's own (redis_tuned_sysctl),
    numbers and text alike; a miss fails (a warning only where /proc/sys is read-only)."""
    server = redis_server()
    somax = int(Path("/proc/sys/net/core/somaxconn").read_text())
    swappiness = int(Path("/proc/sys/vm/swappiness").read_text())
    rmem = " ".join(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split())
    expect = tmp_path / "kernel.json"
    good = {"net.core.somaxconn": somax, "vm.swappiness": swappiness, "net.ipv4.tcp_rmem": rmem}
    expect.write_text(json.dumps({"sysctl": good}))
    code, report = verify(capsys, server, "--mode", "host", "--expect-file", str(expect))
    for name in good:
        assert check(report, f"sysctl {name}")["status"] == "pass", check(report, f"sysctl {name}")
    bad = {"net.core.somaxconn": somax + 1, "vm.swappiness": swappiness + 1,
           "net.ipv4.tcp_rmem": "1 2 3"}  # fmt: skip
    expect.write_text(json.dumps({"sysctl": bad}))
    code, report = verify(capsys, server, "--mode", "host", "--expect-file", str(expect))
    ro = os.statvfs("/proc/sys").f_flag & os.ST_RDONLY
    for name, want in bad.items():
        c = check(report, f"sysctl {name}")
        assert c["status"] == ("warn" if ro else "fail"), c
        assert str(want) in str(c["expected"])
    assert code == (0 if ro else 1)


def test_somaxconn_below_tcp_backlog_fails(redis_server, capsys) -> None:
    somax = int(Path("/proc/sys/net/core/somaxconn").read_text())
    server = redis_server(tcp_backlog=somax + 1)
    _, report = verify(capsys, server)
    c = check(report, "sysctl net.core.somaxconn")
    assert c["status"] in ("fail", "warn")  # warn only where /proc/sys is read-only
    assert c["expected"] == f">= {somax + 1}"


# --- health ----------------------------------------------------------------------------------


def test_aof_expected_but_off_fails(redis_server, capsys) -> None:
    server = redis_server()
    code, report = verify(capsys, server, "--mode", "client", "--expect", "appendonly=yes")
    assert code == 1
    assert not check(report, "aof enabled")["ok"]


def refuse_one_connection(server: Any) -> None:
    """Turn one client away at maxclients, then put maxclients back."""
    admin = server.client()
    admin.ping()
    admin.config_set("maxclients", 1)
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=server.port, socket_timeout=2).ping()
    admin.config_set("maxclients", 100)
    admin.close()


def test_rejected_connections_since_the_last_verification_fail(
    redis_server, capsys, tmp_path
) -> None:
    """The deploy gate fails on growth since the last successful verification of
    the same process, not on history."""
    server = redis_server(maxclients=100)
    state = ["--state-file", str(tmp_path / "state.json")]
    code, report = verify(capsys, server, "--mode", "client", *state)
    assert code == 0 and check(report, "rejected connections")["status"] == "pass"
    refuse_one_connection(server)
    n = server.client().info("stats")["rejected_connections"]  # redis-py retried: n >= 1
    code, report = verify(capsys, server, "--mode", "client", *state)
    assert code == 1
    rejected = check(report, "rejected connections")
    assert rejected["status"] == "fail"
    assert (
        rejected["observed"] == f"+{n} rejected_connections since the last successful verification"
    )
    # The failed run kept the old baseline: it fails again until someone acts...
    assert verify(capsys, server, "--mode", "client", *state)[0] == 1
    # ...and with no baseline the same count is history: a warning with its number.
    code, report = verify(capsys, server, "--mode", "client")
    assert code == 0
    history = check(report, "rejected connections")
    assert history["status"] == "warn"
    assert history["observed"] == f"{n} rejected_connections since the server started"


def test_growth_acknowledged_with_accept_counters_moves_the_baseline(
    redis_server, capsys, tmp_path
) -> None:
    """A deliberate overload (the load test's idle crowd) is acknowledged once: a warning
    with the growth, then the gate passes, and new growth fails again."""
    server = redis_server(maxclients=100)
    state = ["--state-file", str(tmp_path / "state.json")]
    assert verify(capsys, server, "--mode", "client", *state)[0] == 0
    refuse_one_connection(server)
    assert verify(capsys, server, "--mode", "client", *state)[0] == 1
    code, report = verify(capsys, server, "--mode", "client", *state, "--accept-counters")
    assert code == 0
    acked = check(report, "rejected connections")
    assert (
        acked["status"] == "warn" and "since the last successful verification" in acked["observed"]
    )
    assert "acknowledged with --accept-counters" in acked["hint"]
    code, report = verify(capsys, server, "--mode", "client", *state)
    assert code == 0 and check(report, "rejected connections")["status"] == "pass"
    refuse_one_connection(server)
    assert verify(capsys, server, "--mode", "client", *state)[0] == 1


def test_accept_counters_needs_a_state_file(redis_server, capsys) -> None:
    server = redis_server()
    assert main(["--port", str(server.port), "--accept-counters"]) == 2
    err = capsys.readouterr().err
    assert "--accept-counters moves the baseline" in err and len(err.strip().splitlines()) == 1


def test_history_from_before_the_last_verification_passes(redis_server, capsys, tmp_path) -> None:
    server = redis_server(maxclients=100)
    refuse_one_connection(server)
    state = ["--state-file", str(tmp_path / "state.json")]
    info = server.client().info()
    (tmp_path / "state.json").write_text(
        json.dumps({"run_id": info["run_id"], "rejected_connections": info["rejected_connections"]})
    )
    code, report = verify(capsys, server, "--mode", "client", *state)
    assert code == 0, [c for c in report["checks"] if c["status"] != "pass"]
    assert check(report, "rejected connections")["status"] == "pass"
    # A baseline of another process (a restart resets the counters) is no baseline.
    (tmp_path / "state.json").write_text(json.dumps({"run_id": "other", "rejected_connections": 0}))
    code, report = verify(capsys, server, "--mode", "client", *state)
    assert check(report, "rejected connections")["status"] == "warn"


def test_oom_on_a_noeviction_instance_fails(redis_server, capsys, tmp_path) -> None:
    server = redis_server(maxmemory="2mb", maxmemory_policy="noeviction")
    state = ["--state-file", str(tmp_path / "state.json")]
    assert verify(capsys, server, "--mode", "client", *state)[0] == 0
    client = server.client()
    with pytest.raises(redis.ResponseError, match="maxmemory"):
        for i in range(2000):  # bounded: 2000 x 10 kB is ten times maxmemory
            client.set(f"k{i}", "x" * 10_000)
    code, report = verify(capsys, server, "--mode", "client", *state)
    assert code == 1
    oom = check(report, "no evictions or OOM on noeviction")
    assert oom["status"] == "fail" and "oom_refusals since the last" in oom["observed"]


def test_failed_background_save_fails(redis_server, capsys, tmp_path) -> None:
    server = redis_server(enable_protected_configs="yes")
    client = server.client()
    gone = tmp_path / "gone"
    gone.mkdir()
    client.config_set("dir", str(gone))
    gone.rmdir()
    client.set("k", "v")
    client.bgsave()
    for _ in range(200):  # bounded wait for the child to finish
        if client.info("persistence")["rdb_bgsave_in_progress"] == 0:
            break
        time.sleep(0.02)
    code, report = verify(capsys, server, "--mode", "client")
    assert code == 1
    assert check(report, "rdb_last_bgsave_status")["observed"] == "err"


# --- latency ---------------------------------------------------------------------------------


def test_latency_budget(redis_server, capsys) -> None:
    server = redis_server()
    code, report = verify(capsys, server, "--mode", "client", "--latency-p99-ms", "1000")
    assert code == 0, report
    lat = report["latency"]
    assert lat["samples"] == 200
    assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert lat["fresh_over_pooled_p50"] > 0
    code, report = verify(capsys, server, "--mode", "client", "--latency-p99-ms", "0.000001")
    assert code == 1
    assert not check(report, "latency p99")["ok"]


# --- errors a user can cause: one line, exit 2 ----------------------------------------------


def _one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_refused_port_is_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        line = _one_line_exit_2(cli("--port", str(port)))
    assert "cannot reach" in line and "refused" in line.lower()


def test_timeout_is_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # accepts the TCP handshake, never answers PING
        line = _one_line_exit_2(cli("--port", str(sock.getsockname()[1]), "--timeout", "0.5"))
    assert "cannot reach" in line and "timeout" in line.lower()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--latency-samples", "0"], "--latency-samples"),
        (["--port", "70000"], "--port must be 1-65535"),
        (["--expect", "maxmemory"], "DIRECTIVE=VALUE"),
        (["--password-file", "/nonexistent/pw"], "cannot read --password-file"),
        (["--password", "hunter2"], "never taken on the command line"),
        (["--databases", "zero"], "--databases"),
        (["--expect-file", "/nonexistent.json"], "cannot read expectations"),
        (["--bogus"], "unrecognized arguments"),
        (["--cacert", "/etc/hostname"], "--cacert and --cert go with --tls"),
        (["--tls", "--cacert", "/nonexistent.crt"], "no such file"),
        (["--exporter-url", "localhost:9121"], "--exporter-url takes an http:// or https:// URL"),
        (["--timeout", "nan"], "--timeout must be a number of seconds in (0, 300], got nan"),
        (["--timeout", "-1"], "--timeout must be a number of seconds"),
        (["--latency-p99-ms", "inf"], "--latency-p99-ms must be a positive number, got inf"),
        # A secret in any spelling is refused, never echoed back (redis-cli's -a too).
        (["--passwd", "hunter2"], "never taken on the command line"),
        (["--pass=hunter2"], "never taken on the command line"),
        (["-ahunter2"], "never taken on the command line"),
        (["--Password=hunter2"], "never taken on the command line"),
        # ...nor a value after a mistyped option, nor one argparse refused.
        (["--pasword", "hunter2"], "unrecognized arguments: --pasword (see --help)"),
        (["--port", "hunter2"], "invalid int value (not shown)"),
        (["--mode", "hunter2"], "invalid choice (not shown)"),
        (["--host", "a..b"], "--host takes a host name or an IP address"),
        (["--user", "two words"], "--user takes an ACL user name"),
        (
            ["--exporter-url", "http://u:hunter2@127.0.0.1:9121/metrics"],
            "must not hold credentials",
        ),
        (["--exporter-url", "http://127.0.0.1:99999/metrics"], "--exporter-url"),
        (["--databases", "0," * 65], "--databases takes up to 64 numbers"),
        (["--instance", "../../tmp/x"], "--instance takes an instance name"),
    ],
)
def test_bad_flags_are_exit_2(args: list[str], says: str, redis_server) -> None:
    server = redis_server()
    line = _one_line_exit_2(cli("--port", str(server.port), *args))
    assert says in line
    assert "hunter2" not in line


def test_an_empty_password_file_is_a_usage_error(redis_server, tmp_path) -> None:
    server = redis_server(requirepass="pw")
    empty = tmp_path / "pw"
    empty.write_text("\n")
    base = ("--port", str(server.port), "--password-file")
    assert "holds no password" in _one_line_exit_2(cli(*base, str(empty)))
    assert "holds no password" in _one_line_exit_2(cli(*base, "-", stdin=""))


@pytest.mark.parametrize("port", [70000, 0, -1, "6379", True])
def test_a_port_in_an_expectations_file_is_range_checked(
    port: object, redis_server, tmp_path
) -> None:
    """An out-of-range port is refused, not wrapped around to some other server."""
    redis_server()
    expect = tmp_path / "e.json"
    expect.write_text(json.dumps({"port": port, "tls": {"port": port}, "config": {}}))
    line = _one_line_exit_2(cli("--expect-file", str(expect), *FAST))
    assert "must be a port number" in line and "65535" in line


def test_table_output_and_exit_codes(redis_server) -> None:
    server = redis_server(maxmemory="1mb")
    good = cli("--port", str(server.port), "--mode", "client", *FAST)
    assert good.returncode == 0, good.stdout
    # It says which server it verified: host and port as connected.
    assert f"client mode at 127.0.0.1:{server.port}:" in good.stdout and "0 failed" in good.stdout
    bad = cli("--port", str(server.port), "--mode", "client", "--expect", "maxmemory=2mb", *FAST)
    assert bad.returncode == 1
    assert any(ln.startswith("FAIL") and "config maxmemory" in ln for ln in bad.stdout.splitlines())


def test_a_pending_restart_is_a_warning_not_a_pass(redis_server, capsys, tmp_path) -> None:
    """redis_tuned_restart_policy deferred: the file says tcp-backlog 1024, the
    process still has 511. Listed as pending: a warning naming it; not listed: a failure."""
    server = redis_server()
    expect = tmp_path / "e.json"
    pending = {"config": {"tcp-backlog": 1024}, "pending_restart": ["tcp-backlog"]}
    expect.write_text(json.dumps(pending))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
    backlog = check(report, "config tcp-backlog")
    assert code == 0 and backlog["status"] == "warn", backlog
    assert "restart pending" in backlog["hint"] and "511" in backlog["hint"]
    expect.write_text(json.dumps({"config": {"tcp-backlog": 1024}}))
    code, report = verify(capsys, server, "--mode", "client", "--expect-file", str(expect))
    assert code == 1 and check(report, "config tcp-backlog")["status"] == "fail"


# --- --batch: a host's instances in one process ---------------------------------------


def test_batch_runs_each_as_its_own_command_line_would(redis_server) -> None:
    """Each run gets the batch's password on its --password-file -, its own exit code
    and output; a failing run fails the batch and does not hide the others."""
    good = redis_server(requirepass="batch-pw")
    drifted = redis_server(requirepass="batch-pw", maxmemory="1mb")
    base = ["--mode", "client", "--password-file", "-", "--json", *FAST]
    doc = {
        "password": "batch-pw",
        "runs": [
            ["--port", str(good.port), *base],
            ["--port", str(drifted.port), *base, "--expect", "maxmemory=2mb"],
            ["--port", str(good.port), "--mode", "client", "--json", *FAST],  # no password
        ],
    }
    done = cli("--batch", stdin=json.dumps(doc))
    assert done.returncode == 1, done.stderr
    assert "batch-pw" not in done.stdout + done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert [r["exit"] for r in runs] == [0, 1, 1]
    reports = [json.loads(r["stdout"]) for r in runs]
    assert reports[0]["ok"] and reports[0]["target"]["port"] == good.port
    assert not check(reports[1], "config maxmemory")["ok"]
    assert not check(reports[2], "auth")["ok"]  # only --password-file - reads the password


def test_batch_reports_a_run_that_cannot_verify_with_its_one_line(redis_server) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
        server = redis_server()
        doc = {
            "runs": [
                ["--port", str(closed)],
                ["--port", str(server.port), "--mode", "client", *FAST],
            ]
        }
        done = cli("--batch", stdin=json.dumps(doc))
    assert done.returncode == 2
    first, second = json.loads(done.stdout)["runs"]
    assert first["exit"] == 2 and "cannot reach" in first["stderr"] and not first["stdout"]
    assert second["exit"] == 0 and "0 failed" in second["stdout"]


@pytest.mark.parametrize(
    ("stdin", "args", "says"),
    [
        ("not json", ["--batch"], "--batch input is not JSON"),
        ('{"runs": []}', ["--batch"], '"runs" must be 1-64 lists of argument strings'),
        ('{"runs": [[1]]}', ["--batch"], '"runs" must be 1-64'),
        (
            '{"runs": [["--port", "1"], ["--batch"]]}',
            ["--batch"],
            "a run cannot itself be a --batch",
        ),
        ('{"runs": [[]], "password": 1}', ["--batch"], '"password" must be a string'),
        ("{}", ["--batch", "--json"], "--batch goes alone"),
        ("x" * (1024 * 1024 + 1), ["--batch"], "--batch input is larger than"),
    ],
)
def test_bad_batch_input_is_one_line_and_exit_2(stdin: str, args: list[str], says: str) -> None:
    assert says in _one_line_exit_2(cli(*args, stdin=stdin))


def test_the_unix_socket_of_a_local_group_is_verified_on_the_host(
    redis_server, capsys, tmp_path
) -> None:
    """unixsocket_group: the socket is there, in the group, mode 660; a socket anyone
    may use (777), one in another group, or none at the path fails, saying so."""
    import grp

    path = tmp_path / "redis.sock"
    mine = grp.getgrgid(os.getgid()).gr_name
    expect = tmp_path / "socket.json"

    def run(server: Any, group: str, at: Path = path) -> dict[str, Any]:
        wanted = {"config": {"unixsocket": str(at)}, "unixsocket_group": group}
        expect.write_text(json.dumps(wanted))
        _, report = verify(capsys, server, "--mode", "host", "--expect-file", str(expect))
        return check(report, f"unix socket {at}")

    good = redis_server(unixsocket=str(path), unixsocketperm="660")
    assert run(good, mine)["status"] == "pass"
    other = run(good, "nogroup")
    assert other["status"] == "fail" and f"of group {mine}" in other["observed"]
    missing = run(good, mine, tmp_path / "elsewhere.sock")
    assert missing["status"] == "fail" and "No such file" in missing["observed"]
    path.unlink()
    loose = redis_server(unixsocket=str(path), unixsocketperm="777")
    seen = run(loose, mine)
    assert seen["status"] == "fail" and "mode 777" in seen["observed"]
