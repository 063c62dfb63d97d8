"""The role as operators install roles: a versioned artifact (make role-artifact)
that ansible-galaxy installs from a requirements file, then used by name from a
project of its own, with nothing else of this repository (issue 22 #1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from redis_tuned_dev import artifact

BIN = Path(sys.executable).parent


def test_the_artifact_installs_with_ansible_galaxy_and_runs(tmp_path: Path) -> None:
    built = artifact.build(tmp_path / "dist")
    assert built.name == f"redis_tuned-{artifact.version()}.tar.gz"
    again = artifact.build(tmp_path / "again")
    assert again.read_bytes() == built.read_bytes()  # reproducible
    with tarfile.open(built) as tar:
        names = tar.getnames()
    assert "redis_tuned/meta/main.yml" in names
    assert "redis_tuned/lib/redis_tuned_plan/instances.py" in names  # the planning core
    assert "redis_tuned/files/redis_tuned_tools/common/values.py" in names  # its shared library
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)

    project = tmp_path / "project"
    (project / "roles").mkdir(parents=True)
    install = subprocess.run(
        [str(BIN / "ansible-galaxy"), "role", "install", "-r",
         str(tmp_path / "dist" / "requirements.yml"), "-p", str(project / "roles")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    assert (project / "roles" / "redis_tuned" / "tasks" / "main.yml").is_file()
    # An operator's own play, the role by name from its roles path: it loads (the
    # planning core's adapter finds its package) and refuses bad input in preflight.
    (project / "site.yml").write_text(
        "- hosts: redis\n  gather_facts: false\n  roles:\n    - role: redis_tuned\n"
    )
    (project / "hosts.ini").write_text(
        "[redis]\nlocalhost ansible_connection=local ansible_become=false "
        f"ansible_python_interpreter={sys.executable}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_ROLES_PATH": str(project / "roles"), "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "--check", "-i", str(project / "hosts.ini"),
         "-e", json.dumps({"redis_tuned_config": {"maxmemory-policy": "allkeys-lru-typo"}}),
         str(project / "site.yml")],
        capture_output=True, text=True, timeout=300, check=False, cwd=project, env=env,
    )  # fmt: skip
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode == 2, output[-2000:]
    assert "maxmemory-policy 'allkeys-lru-typo' is not one of" in output, output[-2000:]
    assert "changed=0" in output
