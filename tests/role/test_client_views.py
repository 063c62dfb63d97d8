"""The role's client views on the control node (action_plugins/redis_tuned_client_views.py),
written by a real ansible-playbook run: what the view filter gives, once; a rerun changes
nothing; an instance the host no longer has loses its view; check mode changes nothing and
shows the diff. (molecule proves the files against real hosts: the Django round trip.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
ROLE = PROJECT / "roles" / "redis_tuned"


def run(tmp: Path, views: list[dict[str, Any]], *args: str) -> tuple[int, dict[str, Any], str]:
    """One play on this machine: the exit code, the task's result, the output."""
    play = tmp / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - redis_tuned_client_views:\n"
        '        dir: "{{ dir }}"\n        views: "{{ views }}"\n'
        "      register: out\n"
        '    - ansible.builtin.copy:\n        content: "{{ out | to_json }}"\n'
        "        dest: \"{{ result }}\"\n        mode: '0600'\n      check_mode: false\n"
    )
    extra = {
        "dir": str(tmp / "views" / "redis-1"),
        "views": views,
        "result": str(tmp / "r.json"),
        "ansible_python_interpreter": sys.executable,
    }
    env = {**os.environ, "ANSIBLE_ACTION_PLUGINS": str(ROLE / "action_plugins"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0"}  # fmt: skip
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,",
         "-c", "local", "-e", json.dumps(extra), *args, str(play)],
        capture_output=True, text=True, check=False, timeout=120, env=env,
    )  # fmt: skip
    result = json.loads((tmp / "r.json").read_text()) if (tmp / "r.json").exists() else {}
    return done.returncode, result, done.stdout + done.stderr


def view(name: str, port: int) -> dict[str, Any]:
    return {"managed_by": "redis_tuned", "name": name, "host": "10.0.0.5", "port": port,
            "requires_auth": True, "config": {"maxclients": 10000, "timeout": 300}}  # fmt: skip


def test_views_are_written_once_kept_in_step_and_shown_in_check_mode(tmp_path: Path) -> None:
    where = tmp_path / "views" / "redis-1"
    code, result, out = run(tmp_path, [view("channels", 6379), view("cache", 6380)])
    assert code == 0, out
    assert result["changed"] is True
    assert sorted(p.name for p in where.iterdir()) == ["cache.json", "channels.json"]
    text = (where / "channels.json").read_text()
    # What to_nice_json wrote before: redis-tuned-clients reads these files.
    assert text == json.dumps(view("channels", 6379), indent=4, sort_keys=True) + "\n"
    assert json.loads(text)["port"] == 6379
    assert oct((where / "cache.json").stat().st_mode & 0o777) == "0o644"
    assert oct(where.stat().st_mode & 0o777) == "0o755"

    code, result, out = run(tmp_path, [view("channels", 6379), view("cache", 6380)])
    assert code == 0 and result["changed"] is False, out

    # cache gone from the host, channels moved: check mode shows both and changes nothing.
    code, result, out = run(tmp_path, [view("channels", 6390)], "--check", "--diff")
    assert code == 0 and result["changed"] is True, out
    assert '"port": 6390' in out and "cache.json" in out
    assert json.loads((where / "channels.json").read_text())["port"] == 6379
    assert (where / "cache.json").exists()

    code, result, out = run(tmp_path, [view("channels", 6390)])
    assert code == 0 and result["changed"] is True, out
    assert sorted(p.name for p in where.iterdir()) == ["channels.json"]
    assert json.loads((where / "channels.json").read_text())["port"] == 6390


def test_a_view_without_an_instance_name_is_refused(tmp_path: Path) -> None:
    code, _result, out = run(tmp_path, [{**view("x", 1), "name": "../escape"}])
    assert code != 0 and "a client view without an instance name" in out
    assert not (tmp_path / "views").exists()
