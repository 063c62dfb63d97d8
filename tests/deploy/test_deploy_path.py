"""The README's "Deploy for a Channels app", followed as an operator follows it, on a
throwaway Debian 12 container standing in for "the Redis box" (this machine is the
control node and the app server).

From a copy of inventory/example with only what the README says to edit changed (the
host and its private address in hosts.yml, real passwords in the vault, encrypted):
the dry run changes nothing, the run deploys and verifies, the app side's view is left
on the control node, `redis-tuned-clients settings` from it gives settings that a real
Django (channels_redis, django-redis) uses as the `app` user across the container
network, `redis-cli` and the client-mode check answer from the app server, and
Prometheus's targets serve metrics. No password shows in any output.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/redis-tuned-debian12:latest"
HOST = f"redis-tuned-e2e-{os.getpid()}"
# As the Makefile exports them: podman with runc here, the project's ansible.cfg.
ENV = {"CONTAINERS_CONF": str(PROJECT / ".config" / "containers.conf"),
       "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}  # fmt: skip


def run(*argv: str | Path, env: dict[str, str] | None = None, check: bool = True,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **ENV, **(env or {})},
    )  # fmt: skip
    if check:
        assert done.returncode == 0, f"{argv[:3]}: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def redis_box() -> Iterator[str]:
    """The container, running systemd, and its address on podman's network."""
    if run("podman", "image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"{IMAGE} is missing: make images builds it")
    hard = run("sh", "-c", "ulimit -Hn").stdout.strip()
    run("podman", "run", "-d", "--name", HOST, "--hostname", HOST, "--systemd", "always",
        "--ulimit", f"nofile={hard}:{hard}", "--ulimit", "nproc=4096:4096",
        IMAGE, "/lib/systemd/systemd")  # fmt: skip
    try:
        address = run("podman", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", HOST)
        yield address.stdout.strip()
    finally:
        run("podman", "rm", "-f", "-t", "0", HOST, check=False)


@pytest.fixture(scope="module")
def deployed(redis_box: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """README steps 2, 3 and 5: the inventory, the vault, the dry run and the run."""
    work = tmp_path_factory.mktemp("deploy")
    inventory = work / "prod"
    shutil.copytree(PROJECT / "inventory" / "example", inventory)
    # Step 2: the Redis host and its private address (over podman, not SSH, here).
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"redis": {"hosts": {HOST: {
        "ansible_connection": "containers.podman.podman",
        "redis_private_address": redis_box,
    }}}}))  # fmt: skip
    # Step 3: real passwords in the vault, encrypted.
    passwords = {
        "vault_redis_channels_app_password": "ch-" + secrets.token_urlsafe(18),
        "vault_redis_cache_app_password": "ca-" + secrets.token_urlsafe(18) + "@:/#%",
    }
    vault = inventory / "group_vars" / "redis" / "vault.yml"
    vault.write_text(yaml.safe_dump(passwords))
    vault_pass = work / "vault-pass"
    vault_pass.write_text(secrets.token_hex(16))
    vault_pass.chmod(0o600)
    run("ansible-vault", "encrypt", "--vault-password-file", vault_pass, vault)
    assert "$ANSIBLE_VAULT" in vault.read_text()
    views = work / "redis-views"
    playbook = ["ansible-playbook", "-i", inventory, PROJECT / "playbooks" / "site.yml",
                "--vault-password-file", vault_pass,
                "-e", f"redis_tuned_client_view_dir={views}"]  # fmt: skip
    # Step 5: the dry run first, then the run.
    dry = run(*playbook, "--check", "--diff")
    untouched = run("podman", "exec", HOST, "sh", "-c", "ls /etc/redis 2>&1; true")
    real = run(*playbook)
    return {"address": redis_box, "passwords": passwords, "views": views,
            "output": dry.stdout + dry.stderr + real.stdout + real.stderr,
            "dry_left": untouched.stdout, "work": work}  # fmt: skip


def test_the_dry_run_changes_nothing_and_the_run_verifies(deployed: dict[str, object]) -> None:
    assert "No such file or directory" in str(deployed["dry_left"])  # nothing installed
    output = str(deployed["output"])
    assert "Report the verification, failing on any failed check, in mode host" in output
    assert "Verify each instance reachable from the network, from the control node" in output
    recap = output.rsplit("PLAY RECAP", 1)[1]
    assert "failed=0" in recap and "unreachable=0" in recap
    for password in deployed["passwords"].values():  # type: ignore[attr-defined]
        assert password not in output


def _settings(deployed: dict[str, object]) -> str:
    address, views = deployed["address"], Path(str(deployed["views"])) / HOST
    done = run(
        "redis-tuned-clients", "settings",
        "--channels-url", f"redis://app@{address}:6379/0",
        "--cache-url", f"redis://app@{address}:6380/0", "--processes", "16",
        "--expect-file", views / "channels.json", "--expect-file", views / "cache.json",
    )  # fmt: skip
    return done.stdout


# A real Django with the generated settings (tests/django_round_trip.py).
ROUND_TRIP = PROJECT / "tests" / "django_round_trip.py"


def test_the_generated_settings_work_in_django_across_the_network(
    deployed: dict[str, object], tmp_path: Path
) -> None:
    """README step 7, and step 6's passwords in the app's environment."""
    snippet = _settings(deployed)
    passwords: dict[str, str] = deployed["passwords"]  # type: ignore[assignment]
    for password in passwords.values():
        assert password not in snippet
    assert f'"{deployed["address"]}", 6380' in snippet
    (tmp_path / "redis_settings.py").write_text(snippet)
    env = {"REDIS_CHANNELS_PASSWORD": passwords["vault_redis_channels_app_password"],
           "REDIS_CACHE_PASSWORD": passwords["vault_redis_cache_app_password"]}  # fmt: skip
    done = run(sys.executable, ROUND_TRIP, tmp_path / "redis_settings.py", env=env, timeout=60)
    assert json.loads(done.stdout) == {
        "message": {"type": "chat.message", "text": "hi"},
        "cache": "hello",
    }


def test_the_app_server_checks_answer_as_the_readme_says(
    deployed: dict[str, object], tmp_path: Path
) -> None:
    """README step 8: redis-cli as the app's user; the client-mode check as the verify
    user (its secret taken off the host here as an operator would, 0600); the app's
    own user may not read INFO; the default user is off."""
    address = str(deployed["address"])
    passwords: dict[str, str] = deployed["passwords"]  # type: ignore[assignment]
    pong = run(
        "redis-cli",
        "-h",
        address,
        "-p",
        "6379",
        "--user",
        "app",
        "--no-auth-warning",
        "PING",
        env={"REDISCLI_AUTH": passwords["vault_redis_channels_app_password"]},
    )
    assert pong.stdout.strip() == "PONG"
    info = run(
        "redis-cli",
        "-h",
        address,
        "-p",
        "6380",
        "--user",
        "app",
        "--no-auth-warning",
        "INFO",
        env={"REDISCLI_AUTH": passwords["vault_redis_cache_app_password"]},
    )
    assert "NOPERM" in info.stdout + info.stderr
    anonymous = run("redis-cli", "-h", address, "-p", "6379", "PING", check=False)
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    secret = tmp_path / "verify.secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, run("podman", "exec", HOST, "cat", "/etc/redis/redis_tuned/verify.secret")
             .stdout.encode())  # fmt: skip
    os.close(fd)
    for port in ("6379", "6380"):
        done = run("redis-tuned-verify", "--host", address, "--port", port, "--user",
                   "redis-tuned-verify", "--password-file", secret, "--mode", "client",
                   check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert secret.read_text().strip() not in done.stdout + done.stderr


def test_prometheus_targets_serve_each_instances_metrics(deployed: dict[str, object]) -> None:
    """README step 9: the exporters on the private address, one per instance."""
    for port, instance in (("9121", "6379"), ("9122", "6380")):
        url = f"http://{deployed['address']}:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:  # the test's own container
            body = response.read().decode()
        assert "\nredis_up 1" in body, url
        assert "redis_instance_info{" in body and f'tcp_port="{instance}"' in body
