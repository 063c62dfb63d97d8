"""What the molecule scenarios' tests share: running a playbook of the project on the
scenario's containers, as molecule's own runs do."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def run_site(
    host_name: str | None,
    extra_vars: dict[str, object],
    playbook: str = "site.yml",
    verbosity: str = "",
    check_diff: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a playbook of playbooks/ (site.yml by default) on one molecule host, or
    on all of them at once (``host_name`` None): one run proves a change on both
    platforms in the time of one."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    # Extra vars hold the scenario's passwords: from a 0600 file, never in argv
    # (where ps on the control node would show them).
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(extra_vars, f)
    try:
        return _ansible_playbook(inventory, f.name, host_name, playbook, verbosity, check_diff)
    finally:
        os.unlink(f.name)


def _ansible_playbook(
    inventory: str,
    extra_vars_file: str,
    host_name: str | None,
    playbook: str,
    verbosity: str,
    check_diff: bool,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # Diffs shown, as molecule's own runs show them: the leak test reads them too.
        "ANSIBLE_DIFF_ALWAYS": "true",
        # The role alone, as molecule's own runs use it (prepare.yml).
        "ANSIBLE_ROLES_PATH": os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/standalone-roles",
    }
    return subprocess.run(
        [
            "ansible-playbook",
            *([verbosity] if verbosity else []),
            *(["--check", "--diff"] if check_diff else []),
            "-i",
            inventory,
            *(["--limit", host_name] if host_name else []),
            "-e",
            f"@{extra_vars_file}",
            str(PROJECT / "playbooks" / playbook),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=env,
    )
