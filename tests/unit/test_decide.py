"""Decisions made once, visibly: the plan before and after the probe's reading of
the host (its facts), prepare() before the files are written, decide() after;
and a rerun on a host that is as planned loads no step that acts."""

from __future__ import annotations

import ast
import copy
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis_tuned_plan as f  # roles/redis_tuned/lib/redis_tuned_plan
import yaml
from test_live import IMMUTABLE
from test_plan import LAYOUT, ONE, plan, role_inputs

ROLE = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned"
STARTED = 1795809600.5
EXPORTER_UNIT = "redis-tuned-exporter@default.service"
THP_UNIT = "redis-tuned-thp.service"


def test_the_probe_reads_the_memory_and_release_the_plan_needs(tmp_path: Path) -> None:
    """No Ansible facts are gathered: the probe reads MemTotal (as Ansible's
    memtotal_mb, kB // 1024) and /etc/os-release."""
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"_ansible_check_mode": True}}))
    out = subprocess.run(
        [sys.executable, str(ROLE / "library" / "redis_tuned_probe.py"), str(argfile)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    facts = json.loads(out.stdout)["facts"]
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    kb = int(next(ln for ln in meminfo if ln.startswith("MemTotal:")).split()[1])
    assert facts["memtotal_mb"] == kb // 1024
    release = dict(
        ln.split("=", 1) for ln in Path("/etc/os-release").read_text().splitlines() if "=" in ln
    )
    if release.get("ID") == "debian":
        assert facts["distribution"] == "Debian"
        assert facts["distribution_major_version"] == release["VERSION_ID"].strip('"')


@pytest.mark.parametrize(
    ("facts", "refused"),
    [
        ({"distribution": "Debian", "distribution_major_version": "12"}, None),
        ({"distribution": "Debian", "distribution_major_version": "13"}, None),
        (
            {"distribution": "Debian", "distribution_major_version": "11",
             "distribution_version": "11.11"},
            "this host is Debian 11.11",
        ),
        (
            {"distribution": "Ubuntu", "distribution_major_version": "24",
             "distribution_version": "24.04"},
            "this host is Ubuntu 24.04",
        ),
    ],
)  # fmt: skip
def test_a_host_the_role_does_not_support_is_refused(facts: dict[str, Any], refused: str) -> None:
    problems = f.plan(role_inputs(), {**facts, "memtotal_mb": 4096})["problems"]
    if refused is None:
        assert problems == []
    else:
        assert problems == [f"redis_tuned supports Debian 12 and 13; {refused}."]


def test_the_plan_before_the_probe_is_what_the_probe_reads_and_no_memory_problem() -> None:
    """Planned from the variables alone (no facts yet), the plan names what the probe
    reads, the same as the plan with facts; a memory problem waits for the facts."""
    inputs = role_inputs(instances=[{**ONE, "config": {"maxmemory": "auto"}}])
    before, after = f.plan(inputs), f.plan(inputs, {"memtotal_mb": 4096})
    for key in ("units", "live_probe", "kernel_paths", "restart_files", "removed_instances"):
        assert before[key] == after[key], key
    assert before["problems"] == [] and after["problems"] == []
    assert "below 32 MB" in f.plan(inputs, {"memtotal_mb": 0})["problems"][0]
    # A bare number is memtotal_mb (the facts of a play that gathered them).
    assert f.plan(inputs, 4096)["instances"] == after["instances"]


def as_planned(the_plan: dict[str, Any]) -> dict[str, Any]:
    """The probe's reading of a host on which everything is as planned."""
    inst = the_plan["instances"][0]
    running = {"active": True, "file_state": "enabled", "started": STARTED}
    kernel = {
        path: {"writable": True, "value": str(value)}
        for path, value in zip(the_plan["kernel_paths"], the_plan["sysctls"].values(), strict=False)
    }
    kernel[the_plan["thp_path"]] = {"writable": True, "value": "always madvise [never]"}
    return {
        "packages_missing": [],
        "units": {
            "redis-server.service": {"active": False, "file_state": "masked", "started": None},
            inst["unit"]: dict(running), EXPORTER_UNIT: dict(running), THP_UNIT: dict(running),
        },
        "users": {"redis-tuned-exporter": {"exists": True, "groups": ["redis-tuned-exporter"]}},
        "mtimes": {LAYOUT["exporter_binary"]: STARTED - 100},
        "kernel": kernel,
        "live_config": {inst["name"]: dict(inst["live"])},
    }  # fmt: skip


HOST = {
    "mask_units": ["redis-server.service"], "removed_units": [],
    "exporter_user": "redis-tuned-exporter", "exporter_binary": LAYOUT["exporter_binary"],
    "thp_unit": THP_UNIT,
}  # fmt: skip


def test_prepare_has_nothing_to_do_on_a_host_as_planned_and_names_each_step() -> None:
    the_plan = plan(exporter={"enabled": True})
    state = as_planned(the_plan)
    assert f.prepare(the_plan, state, HOST)["any"] is False
    cases = {
        "mask": lambda s: s["units"]["redis-server.service"].update(file_state="enabled"),
        "packages": lambda s: s.update(packages_missing=["redis-server"]),
        "stop_default": lambda s: s["units"]["redis-server.service"].update(active=True),
        "exporter_user": lambda s: s["users"]["redis-tuned-exporter"].update(
            groups=["redis", "redis-tuned-exporter"]
        ),
        "exporter_download": lambda s: s.update(mtimes={}),
    }
    for step, change in cases.items():
        changed = copy.deepcopy(state)
        change(changed)
        steps = f.prepare(the_plan, changed, HOST)
        assert steps["any"] is True and steps[step], step
        assert [k for k, v in steps.items() if v and k != "any"] == [step], step


def test_decide_has_nothing_to_do_on_a_host_as_planned_and_names_each_step() -> None:
    the_plan = plan(exporter={"enabled": True})
    state = as_planned(the_plan)
    inst = the_plan["instances"][0]
    unchanged = {"changed_paths": [], "dump": ""}
    quiet = f.decide(the_plan, state, LAYOUT, IMMUTABLE, unchanged)
    assert quiet["any"] is False
    # The role's redis-cli reaches an instance where the probe did, else as planned.
    assert quiet["reach"] == {"default": inst["cli_args"]}
    moved = {**state, "live_args": {"default": ["-h", "127.0.0.1", "-p", "6400"]}}
    assert f.decide(the_plan, moved, LAYOUT, IMMUTABLE, unchanged)["reach"] == {
        "default": ["-h", "127.0.0.1", "-p", "6400"]
    }

    def decided(change: Any, files: dict[str, Any] | None = None) -> dict[str, Any]:
        changed = copy.deepcopy(state)
        change(changed)
        result = f.decide(the_plan, changed, LAYOUT, IMMUTABLE, files or unchanged)
        assert result["any"] is True
        return result

    drift = decided(lambda s: s["live_config"]["default"].update(timeout="7"))
    assert drift["config_set"] == {"default": f'CONFIG SET timeout "{inst["live"]["timeout"]}"'}
    assert drift["restart"] == [] and drift["start"] == []
    with_backlog = plan(instances=[{**ONE, "config": {"tcp-backlog": 1024}}])
    immutable = as_planned(with_backlog)
    immutable["live_config"]["default"]["tcp-backlog"] = "511"
    backlog = f.decide(with_backlog, immutable, LAYOUT, IMMUTABLE, unchanged)
    assert backlog["restart"] == ["default"] and backlog["config_set"] == {} and backlog["any"]
    stopped = decided(lambda s: s["units"][inst["unit"]].update(active=False, started=None))
    assert stopped["start"] == ["default"]
    exporter = decided(lambda s: s["units"][EXPORTER_UNIT].update(active=False, started=None))
    assert exporter["exporters"] == {"default": "started"}
    written = decided(lambda s: None, {"changed_paths": [LAYOUT["exporter_unit_file"]]})
    assert written["exporters"] == {"default": "restarted"} and written["daemon_reload"]
    knob = decided(lambda s: s["kernel"][the_plan["kernel_paths"][1]].update(value="128"))
    assert knob["kernel"]["apply"] == ["net.core.somaxconn=4096"]
    thp = decided(lambda s: s["kernel"][the_plan["thp_path"]].update(value="[always] never"))
    assert thp["thp"] == {"state": "restarted", "changed": False}
    acl = decided(lambda s: None, {"changed_paths": [inst["paths"]["acl"]]})
    assert acl["acl_loads"] == ["default"]
    # Deferred: nothing restarts, the reason stays (the report says it is pending).
    later = f.decide(with_backlog, immutable, LAYOUT, IMMUTABLE, unchanged, "deferred")
    assert later["restart"] == [] and later["restart_why"] == {"default": ["tcp-backlog"]}
    assert later["any"] is True


def _tasks(node: Any) -> list[dict[str, Any]]:
    """Every task of a task file, blocks opened."""
    found = []
    for task in node or []:
        found.append(task)
        for key in ("block", "rescue", "always"):
            found += _tasks(task.get(key))
    return found


def test_each_state_decision_is_made_once_by_one_set_fact() -> None:
    """By construction: prepare and decide are each called by one set_fact task
    of the role and by nothing else (no lazy variable recomputes them), and the
    per-concern decision filters they combine are called by no task directly."""
    texts = {p.name: p.read_text() for p in (ROLE / "tasks").glob("*.yml")}
    texts["vars/main.yml"] = (ROLE / "vars" / "main.yml").read_text()
    texts["handlers/main.yml"] = (ROLE / "handlers" / "main.yml").read_text()
    for name in ("redis_tuned_prepare", "redis_tuned_decide"):
        users = [
            (file, task["name"])
            for file, text in texts.items() if not file.startswith(("vars", "handlers"))
            for task in _tasks(yaml.safe_load(text))
            if re.search(rf"\|\s*{name}\b", json.dumps(task))
        ]  # fmt: skip
        assert len(users) == 1, (name, users)
        file, task_name = users[0]
        task = next(t for t in _tasks(yaml.safe_load(texts[file])) if t["name"] == task_name)
        assert "ansible.builtin.set_fact" in task, task_name
        assert not re.search(rf"\|\s*{name}\b", texts["vars/main.yml"])
    for inner in (
        "redis_tuned_restart_reasons", "redis_tuned_acl_loads", "redis_tuned_exporter_restarts",
        "redis_tuned_daemon_reload", "redis_tuned_kernel_state", "redis_tuned_live_set",
    ):  # fmt: skip
        assert not [file for file, text in texts.items() if inner in text], inner


# How an instance's unit or one of its paths is spelled; the layout module
# (lib/redis_tuned_plan/layout.py) is the one place that may.
INSTANCE_SPELLINGS = re.compile(
    r"(redis|valkey)-server@|redis-tuned-exporter@[^.]|/etc/(redis/redis|valkey/valkey)-|"
    r"/var/(lib|log)/(redis|valkey)/|/run/(redis|valkey)-|\.service\.d"
)


def _python_strings(path: Path) -> list[str]:
    """The string constants of a Python file's code (docstrings left out)."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }  # fmt: skip
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def test_unit_names_and_instance_paths_are_spelled_only_in_the_layout_module() -> None:
    spelled = []
    for path in sorted((ROLE / "lib" / "redis_tuned_plan").glob("*.py")):
        if path.name != "layout.py":
            spelled += [f"{path.name}: {s!r}" for s in _python_strings(path)
                        if INSTANCE_SPELLINGS.search(s)]  # fmt: skip
    for path in [*(ROLE / "library").glob("*.py"), *(ROLE / "action_plugins").glob("*.py"),
                 *(ROLE / "filter_plugins").glob("*.py")]:  # fmt: skip
        spelled += [f"{path.name}: {s!r}" for s in _python_strings(path)
                    if INSTANCE_SPELLINGS.search(s)]  # fmt: skip
    for folder in ("tasks", "handlers", "vars", "defaults", "templates"):
        for path in sorted((ROLE / folder).iterdir()):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.lstrip().startswith(("#", "{#")):
                    continue  # a comment (YAML, a unit file, redis.conf, Jinja)
                code = line.split("#", 1)[0] if path.suffix == ".yml" else line
                if INSTANCE_SPELLINGS.search(code):
                    spelled.append(f"{folder}/{path.name}:{number}: {line.strip()}")
    assert spelled == []
    # and the layout spells them the way Debian's package does
    layout = importlib.import_module("redis_tuned_plan.layout")
    assert layout.unit("main") == "redis-server@main.service"
    assert layout.instance_paths("main")["conf"] == "/etc/redis/redis-main.conf"
    assert layout.pidfile("main") == "/run/redis-main/redis-server.pid"
    assert layout.data_dir("main", {}, {}) == "/var/lib/redis/main"
    # Debian 13's valkey-server: its template unit reads /etc/valkey/valkey-%i.conf.
    assert layout.unit("main", "valkey") == "valkey-server@main.service"
    assert layout.instance_paths("main", "valkey")["conf"] == "/etc/valkey/valkey-main.conf"
    assert layout.pidfile("main", "valkey") == "/run/valkey-main/valkey-server.pid"
    assert layout.data_dir("main", {}, {}, "valkey") == "/var/lib/valkey/main"
