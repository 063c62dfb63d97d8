"""The role's internal variables as Ansible renders them from the role's own files.

The planning core is called by the role with ``__redis_tuned_inputs`` and
``__redis_tuned_layout`` (vars/main.yml), built from defaults/main.yml. The unit
tests render those same two variables with ansible-core's templar, so a typo or a
missing key there fails a unit test, not only molecule. Two things come from the
control node and the host, and are given here: the inventory name, and (for the
layout) the verification tool's file list, which the role finds with a
community.general lookup the bare templar cannot load.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned"
HOSTNAME = "redis-1.example.internal"
TOOL_FILES = ["redis_tuned_tools/__init__.py", "redis_tuned_tools/verify/cli.py"]


def _trusted(value: Any) -> Any:
    """What Ansible's own loader marks: the role's files are templates it trusts."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def role_file(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROLE / name / "main.yml").read_text()))


@functools.cache
def _rendered(overrides_key: str) -> dict[str, Any]:
    defaults, internal = role_file("defaults"), role_file("vars")
    variables = {
        **_trusted(defaults),
        **_trusted(internal),
        "inventory_hostname": HOSTNAME,
        "role_path": str(ROLE),
        "__redis_tuned_tool_files": TOOL_FILES,
        **yaml.safe_load(overrides_key),
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    return {
        "inputs": templar.template(variables["__redis_tuned_inputs"]),
        "layout": templar.template(variables["__redis_tuned_layout"]),
    }


def rendered(name: str, **variables: Any) -> dict[str, Any]:
    """``__redis_tuned_inputs`` or ``__redis_tuned_layout`` (name: inputs | layout),
    rendered from the role's files with role ``variables`` set (as -e would)."""
    return copy.deepcopy(_rendered(yaml.safe_dump(variables, sort_keys=True))[name])
