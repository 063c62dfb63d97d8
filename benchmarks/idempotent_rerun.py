"""Idempotent rerun of this project against another Redis role, over SSH, paired.

Each side gets its own fresh Debian 12 container (the project's base image)
with sshd, reached over SSH with pipelining as operators run Ansible. Ours is
run as operators run it, ``playbooks/site.yml`` with its defaults (the role,
then the client-side verification); the other role in a play of its own. Each
is converged once, then the idempotent reruns alternate between the two (ours,
theirs, ours, theirs, ...) so that both see the same machine load. It prints
the median rerun time of each, their ratio, and the tasks each rerun executed
(ok + changed in the recap). Figures, not pass/fail.

    python benchmarks/idempotent_rerun.py --other-role PATH [--project DIR] [--reruns 3]

PATH is a checkout of the other role (e.g. geerlingguy.redis), used from a
temporary copy, never copied into this repository. ``--project`` runs another
checkout of this project instead (an earlier commit, for a before/after).
Traffic stays on this machine: the containers are on podman's own network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/redis-tuned-debian12:latest"
RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")


def sh(*cmd: str, timeout: int = 900, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]


def start_container(name: str, pubkey: str) -> str:
    """A systemd container with sshd and our key for root; its address."""
    sh("podman", "rm", "-f", name)
    nofile = sh("sh", "-c", "ulimit -Hn").stdout.strip()
    run = sh(
        "podman", "run", "-d", "--name", name, "--systemd", "always", "--hostname", name,
        "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096",
        IMAGE, "/lib/systemd/systemd",
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"idempotent_rerun: podman run {name} failed: {run.stderr.strip()}")
    setup = (
        "set -e; for i in $(seq 50); do systemctl is-system-running -q --wait 2>/dev/null "
        "&& break || sleep 0.2; done; "
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "openssh-server >/dev/null; mkdir -p /root/.ssh; chmod 700 /root/.ssh; "
        f"echo '{pubkey}' > /root/.ssh/authorized_keys; systemctl restart ssh"
    )
    done = sh("podman", "exec", name, "sh", "-c", setup)
    if done.returncode != 0:
        raise SystemExit(f"idempotent_rerun: sshd in {name}: {done.stderr.strip()[-500:]}")
    inspect = json.loads(sh("podman", "inspect", name).stdout)[0]
    return str(next(iter(inspect["NetworkSettings"]["Networks"].values()))["IPAddress"])


def playbook(path: Path, role: str, gather: bool) -> Path:
    path.write_text(
        f"- hosts: all\n  become: true\n  gather_facts: {str(gather).lower()}\n"
        f"  roles:\n    - role: {role}\n"
    )
    return path


def run(pb: Path, inventory: Path, roles_path: str, env: dict[str, str]) -> tuple[float, int]:
    """One ansible-playbook run: seconds, and tasks executed (ok + changed)."""
    start = time.monotonic()
    res = sh(
        str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(pb),
        env={**env, "ANSIBLE_ROLES_PATH": roles_path},
    )  # fmt: skip
    seconds = time.monotonic() - start
    out = res.stdout + res.stderr
    match = RECAP.search(out)
    if res.returncode != 0 or match is None:
        raise SystemExit(f"idempotent_rerun: {pb.name} failed:\n{out[-3000:]}")
    ok, changed = int(match.group(1)), int(match.group(2))
    if changed:
        print(f"  note: {pb.name} rerun reported changed={changed}", file=sys.stderr)
    return seconds, ok + changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other-role", type=Path, required=True, help="checkout of the other role")
    parser.add_argument("--other-name", default="geerlingguy.redis")
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument(
        "--project", type=Path, default=PROJECT, help="checkout of this project to run"
    )
    args = parser.parse_args(argv)
    if not (args.other_role / "tasks" / "main.yml").is_file():
        parser.error(f"--other-role {args.other_role}: no tasks/main.yml there")
    if not 1 <= args.reruns <= 20:
        parser.error("--reruns must be 1-20")
    # podman needs runc on these machines (.config/containers.conf), as in the Makefile.
    os.environ.setdefault("CONTAINERS_CONF", str(PROJECT / ".config" / "containers.conf"))
    with tempfile.TemporaryDirectory(prefix="redis-tuned-rerun-") as tmp_name:
        tmp = Path(tmp_name)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "key"))
        pubkey = (tmp / "key.pub").read_text().strip()
        roles = tmp / "roles"
        roles.mkdir()
        shutil.copytree(
            args.other_role, roles / args.other_name, ignore=shutil.ignore_patterns(".git")
        )
        names = {"ours": "redis-tuned-bench-ours", "theirs": "redis-tuned-bench-theirs"}
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(args.project / "ansible.cfg"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_NOCOLOR": "1",
        }
        try:
            inventories = {}
            for side, name in names.items():
                address = start_container(name, pubkey)
                inv = tmp / f"{side}.ini"
                inv.write_text(
                    "[redis]\n"
                    f"{name} ansible_host={address} ansible_user=root "
                    f"ansible_ssh_private_key_file={tmp / 'key'} "
                    "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
                    "-o UserKnownHostsFile=/dev/null -o ControlMaster=auto -o ControlPersist=60s'\n"
                )
                inventories[side] = inv
            books = {
                "ours": args.project / "playbooks" / "site.yml",
                "theirs": playbook(tmp / "theirs.yml", args.other_name, gather=True),
            }
            paths = {"ours": str(args.project / "roles"), "theirs": str(roles)}
            for side in names:
                seconds, tasks = run(books[side], inventories[side], paths[side], env)
                print(f"converge {side}: {seconds:.1f} s, {tasks} tasks", flush=True)
            times: dict[str, list[float]] = {"ours": [], "theirs": []}
            tasks_run = {}
            for i in range(args.reruns):
                for side in names:
                    seconds, tasks = run(books[side], inventories[side], paths[side], env)
                    times[side].append(seconds)
                    tasks_run[side] = tasks
                    print(f"rerun {i + 1} {side}: {seconds:.1f} s, {tasks} tasks", flush=True)
        finally:
            for name in names.values():
                sh("podman", "rm", "-f", name)
    ours, theirs = statistics.median(times["ours"]), statistics.median(times["theirs"])
    print()
    print(f"| role | idempotent rerun (median of {args.reruns}) | tasks executed |")
    print("|---|---|---|")
    print(f"| redis_tuned | {ours:.1f} s | {tasks_run['ours']} |")
    print(f"| {args.other_name} | {theirs:.1f} s | {tasks_run['theirs']} |")
    print(
        f"\nratio redis_tuned / {args.other_name}: {ours / theirs:.2f}x (over SSH, pipelining on)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
