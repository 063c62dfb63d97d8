"""Leave the app side's view of each of a host's instances on the control node.

``dir``: the host's directory there (made, mode 0755); ``views``: one view per
instance (``redis_tuned_client_view``), each written as ``<name>.json`` (mode
0644, the JSON Ansible's ``to_nice_json`` writes) where it differs; every other
``*.json`` there is a view of an instance the host no longer has, and goes. The
control node's own files, written here in the worker: no module, no connection
(a view holds no secret). Check mode says what would change and changes nothing;
with ``--diff`` each changed view's before and after are shown.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

NAME = re.compile(r"^[a-z0-9_-]+$")  # an instance name: a file name, never a path


def render(view: dict[str, Any]) -> str:
    """The file's text: what ``to_nice_json`` and a newline give."""
    text = json.dumps(view, indent=4, sort_keys=True, separators=(",", ": "), ensure_ascii=False)
    return text + "\n"


def read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AnsibleActionFail(f"cannot read {path}: {exc}") from exc


def write(path: str, text: str) -> None:
    """Atomically: a reader sees the old view or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".view-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dir", "views"))
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        directory = str(self._task.args.get("dir") or "")
        views = self._task.args.get("views") or []
        if not directory or not isinstance(views, list):
            raise AnsibleActionFail("redis_tuned_client_views needs dir and a list of views")
        wanted: dict[str, str] = {}
        for view in views:
            name = view.get("name") if isinstance(view, dict) else None
            if not isinstance(name, str) or not NAME.match(name):
                raise AnsibleActionFail(f"a client view without an instance name: {name!r}")
            wanted[f"{name}.json"] = render(view)
        check = bool(self._play_context.check_mode)
        try:
            present = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
        except FileNotFoundError:
            present = []
        except OSError as exc:
            raise AnsibleActionFail(f"cannot list {directory}: {exc}") from exc
        diffs, written, removed = [], [], []
        for file_name, text in wanted.items():
            path = os.path.join(directory, file_name)
            before = read(path)
            if before == text:
                continue
            written.append(path)
            diffs.append({"before_header": path, "after_header": path,
                          "before": before or "", "after": text})  # fmt: skip
        for file_name in present:
            if file_name not in wanted:
                path = os.path.join(directory, file_name)
                removed.append(path)
                diffs.append({"before_header": path, "after_header": path,
                              "before": read(path) or "", "after": ""})  # fmt: skip
        if not check:
            try:
                os.makedirs(directory, mode=0o755, exist_ok=True)
                for path in written:
                    write(path, wanted[os.path.basename(path)])
                for path in removed:
                    os.unlink(path)
            except OSError as exc:
                raise AnsibleActionFail(f"cannot write the views in {directory}: {exc}") from exc
        result.update(changed=bool(written or removed), written=written, removed=removed)
        if self._play_context.diff and diffs:
            result["diff"] = diffs
        return result
