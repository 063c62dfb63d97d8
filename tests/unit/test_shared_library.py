"""The three command-line tools share one library, redis_tuned_tools.common (the
input boundary, how a target is reached, one-line errors), which the role ships
to the hosts with the verifier. The application-side tools import nothing of the
verifier itself and no private name, so a change on their side cannot break the
deployed verifier; the shared library depends on neither."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
TOOLS = PROJECT / "roles" / "redis_tuned" / "files" / "redis_tuned_tools"
APP_SIDE = [
    PROJECT / "scripts" / "redis_tuned_clients",
    PROJECT / "scripts" / "redis_tuned_loadtest",
]


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def test_the_app_side_tools_import_only_the_shared_library_and_no_private_name() -> None:
    bad = []
    files = [p for d in APP_SIDE for p in d.rglob("*.py")]
    assert len(files) > 5
    for path in files:
        for module, names in imports(path):
            if not module.startswith("redis_tuned_tools"):
                continue
            if not module.startswith("redis_tuned_tools.common"):
                bad.append(f"{path.relative_to(PROJECT)}: {module}")
            bad += [f"{path.relative_to(PROJECT)}: {module}.{n}" for n in names if n[:1] == "_"]
    assert bad == []


def test_the_shared_library_depends_on_neither_side() -> None:
    files = list((TOOLS / "common").glob("*.py"))
    assert {p.name for p in files} >= {"__init__.py", "inputs.py", "target.py", "cli.py"}
    for path in files:
        for module, _ in imports(path):
            assert not module.startswith(
                ("redis_tuned_tools.verify", "redis_tuned_clients", "redis_tuned_loadtest")
            ), (path.name, module)


def test_the_secret_directives_are_one_list_the_probe_follows() -> None:
    """The verifier, the planning core and the expectations parser read the one
    list (common.values); the probe runs on hosts the library is not on yet, so it
    keeps its own copy, which must hold every one of them."""
    import importlib.util

    from redis_tuned_tools.common import inputs, values

    assert inputs.SENSITIVE_DIRECTIVES is values.SENSITIVE_DIRECTIVES
    spec = importlib.util.spec_from_file_location(
        "probe_module", PROJECT / "roles" / "redis_tuned" / "library" / "redis_tuned_probe.py"
    )
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert values.SENSITIVE_DIRECTIVES <= probe.SENSITIVE
    # check-config (a shell script) leaves them out of its dumps, spelled once there.
    script = (PROJECT / "roles" / "redis_tuned" / "files" / "check-config").read_text()
    left_out = script.split("name !~ /^(", 1)[1].split(")$/", 1)[0]
    assert set(left_out.split("|")) == values.SENSITIVE_DIRECTIVES


def test_every_console_script_has_help_with_defaults_and_an_example() -> None:
    """Issue 22 #8: --help of each tool (and each redis-tuned-clients command) shows an
    example and the default of every option."""
    import re
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    commands = [
        ["redis-tuned-verify"], ["redis-tuned-clients"], ["redis-tuned-clients", "settings"],
        ["redis-tuned-clients", "lint"], ["redis-tuned-clients", "connections"],
        ["redis-tuned-loadtest"], ["redis-tuned-images"], ["redis-tuned-role-artifact"],
    ]  # fmt: skip
    for command in commands:
        run = subprocess.run(
            [str(bin_dir / command[0]), *command[1:], "--help"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode == 0, (command, run.stderr)
        text = run.stdout
        options = text.split("options:", 1)[1] if "options:" in text else ""
        entries = [e.strip() for e in re.split(r"\n(?=  -)", options) if e.strip()]
        lacking = [e.split()[0] for e in entries if not e.startswith("-h") and "default" not in e]
        assert lacking == [], (command, lacking)
        if len(command) == 1:  # the tool's own help: an example
            assert re.search(r"(?im)^examples?:", text), command


def test_what_the_host_side_code_repeats_agrees_with_the_role() -> None:
    """Code that runs where the role's variables are not (the verifier on the host, the
    probe before the library is there, the app-side tools) keeps its own copy of a
    few of the role's facts; each must be the role's: the admin user and its secret,
    the THP path, the server defaults the app side assumes without expectations."""
    import importlib.util

    import yaml

    from redis_tuned_clients import settings
    from redis_tuned_tools.verify import cli, probe

    role = PROJECT / "roles" / "redis_tuned"
    role_vars = yaml.safe_load((role / "vars" / "main.yml").read_text())
    assert role_vars["__redis_tuned_admin_user"] == cli.ADMIN_USER
    # The role's own directory, per server flavour: the verifier looks in each, the
    # layout table holds it, the role's variables name it.
    from redis_tuned_plan import layout

    own_dirs = role_vars["__redis_tuned_own_dirs"]
    assert [str(d) for d in cli.EXPECT_DIRS] == list(own_dirs.values())
    assert own_dirs == {name: e["own_dir"] for name, e in layout.SERVERS.items()}
    from role_vars import rendered

    for flavour, own_dir in own_dirs.items():
        users = rendered("inputs", redis_tuned_server=flavour)["own_users"]
        assert users["admin"]["secret"] == f"{own_dir}/{cli.ADMIN_SECRET_NAME}"
        assert rendered("layout", redis_tuned_server=flavour)["expect_dir"] == own_dir
    assert role_vars["__redis_tuned_expect_dir"] == "{{ __redis_tuned_own_dir }}"
    assert str(probe.THP_PATH) == role_vars["__redis_tuned_thp_path"]
    spec = importlib.util.spec_from_file_location(
        "probe_mod", role / "library" / "redis_tuned_probe.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert documented["live_user"]["default"] == role_vars["__redis_tuned_admin_user"]
    redis_users = rendered("inputs")["own_users"]  # the default flavour's
    assert documented["live_secret"]["default"] == redis_users["admin"]["secret"]
    common = role_vars["__redis_tuned_common"]
    assert (
        common["maxclients"],
        common["timeout"],
    ) == (settings.DEFAULT_MAXCLIENTS, settings.DEFAULT_TIMEOUT)
    from redis_tuned_clients.cli import VERIFY_SECRET, VERIFY_USER

    assert (
        role_vars["__redis_tuned_verify_user"],
        redis_users["verify"]["secret"],
    ) == (VERIFY_USER, VERIFY_SECRET)
