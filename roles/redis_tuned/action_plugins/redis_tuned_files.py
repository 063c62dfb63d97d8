"""Render the redis_tuned role's files on the control node, write them in one module call.

Each entry of ``files`` names its content one of three ways: ``template`` (a
template of the role, rendered with the task's variables plus the entry's
``vars``), ``src`` (a file of the role's ``files/`` or a path on the control
node) or ``content``. An entry with ``show`` (secret, size, users, redacted) goes to the
module as a secret: its content in no diff and no log, the diff saying only
what ``show`` names. ``directories``, ``absent`` and ``own_secrets`` are
passed through. The module (library/redis_tuned_files.py) does the writing.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader

KEEP = (
    "path", "owner", "group", "mode", "validate", "runtime", "initial", "rendered", "register",
    "create_only",
)  # fmt: skip


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("directories", "files", "absent", "dump", "own_secrets"))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        template = lookup_loader.get(
            "ansible.builtin.template", loader=self._loader, templar=self._templar
        )
        files: list[dict[str, Any]] = []
        secrets: list[dict[str, Any]] = []
        for order, entry in enumerate(args.get("files") or []):
            if "template" in entry:
                path = self._find_needle("templates", entry["template"])
                content = template.run(
                    [path], variables=task_vars, template_vars=entry.get("vars") or {}
                )[0]
            elif "src" in entry:
                path = self._find_needle("files", entry["src"])
                try:
                    with open(path, encoding="utf-8") as f:
                        content = f.read()
                except (OSError, UnicodeDecodeError) as exc:
                    raise AnsibleActionFail(f"cannot read {path}: {exc}") from exc
            elif "content" in entry:
                content = entry["content"]
            else:
                raise AnsibleActionFail(f"{entry.get('path')}: no template, src or content")
            item = {k: entry[k] for k in KEEP if entry.get(k) is not None}
            # Written in the order listed (the checker before the files it checks).
            item["content"], item["order"] = str(content), order
            if entry.get("show"):  # content never shown: secret, size, users or redacted
                secrets.append({**item, "show": entry["show"]})
            else:
                files.append(item)
        module_args = {
            "directories": args.get("directories") or [],
            "files": files,
            "secrets": secrets,
            "absent": args.get("absent") or [],
            "dump": args.get("dump") or {},
            "own_secrets": args.get("own_secrets") or [],
        }
        result.update(
            self._execute_module(
                module_name="redis_tuned_files", module_args=module_args, task_vars=task_vars
            )
        )
        return result
