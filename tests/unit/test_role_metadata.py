"""The role's public variables are declared, typed and documented in the same places."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
ROLE = PROJECT / "roles" / "redis_tuned"


def defaults() -> dict[str, object]:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def spec_options() -> dict[str, dict[str, object]]:
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def test_defaults_and_argument_specs_list_the_same_variables() -> None:
    assert set(defaults()) == set(spec_options())


def test_argument_spec_defaults_equal_defaults_main() -> None:
    options = spec_options()
    for name, value in defaults().items():
        assert options[name].get("default") == value, name
        assert options[name].get("description"), f"{name} has no description"
        assert options[name].get("type"), f"{name} has no type"


def test_every_default_has_a_comment_right_above_it() -> None:
    lines = (ROLE / "defaults" / "main.yml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^redis_tuned_\w+:", line):
            assert lines[i - 1].startswith("#"), f"no comment above {line}"


def test_readme_documents_every_variable_with_its_default() -> None:
    readme = (PROJECT / "README.md").read_text()
    for name, value in defaults().items():
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{name}`")), None)
        assert row is not None, f"README has no table row for {name}"
        if not isinstance(value, (list, dict)) or not value:
            shown = (
                '""'
                if value == ""
                else yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...")
            )
            assert f"`{shown.strip()}`" in row, f"README row for {name} lacks default {shown}"
