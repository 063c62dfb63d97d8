"""The Ansible filters of the redis_tuned role: a thin adapter over its planning
core, the package ``redis_tuned_plan`` in the role's ``lib/`` (one module per
concern). The core spells Redis's values with the shared library the role ships
with its verifier (``files/redis_tuned_tools``). This is the one place that puts
both directories on the import path; the tests import the same package.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_ROLE = Path(__file__).resolve().parents[1]
for _path in (str(_ROLE / "files"), str(_ROLE / "lib")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import redis_tuned_plan as core  # noqa: E402

DOCUMENTATION = ""


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "redis_tuned_plan": core.plan,
            "redis_tuned_conf_lines": core.conf_lines,
            "redis_tuned_verify_summary": core.verify_summary,
            "redis_tuned_restart_summary": core.restart_summary,
            "redis_tuned_restart_waiting": core.waiting,
            "redis_tuned_live_changes": core.live_changes,
            "redis_tuned_live_summary": core.live_summary,
            "redis_tuned_live_refusals": core.live_refusals,
            "redis_tuned_exporter_files": core.exporter_files,
            "redis_tuned_host_files": core.host_files,
            "redis_tuned_decide": core.decide,
            "redis_tuned_host_verify_batch": core.host_verify_batch,
            "redis_tuned_client_verify_batch": core.client_verify_batch,
            "redis_tuned_verify_batch_results": core.batch_results,
            "redis_tuned_prepare": core.prepare,
            "redis_tuned_acl_file": core.acl_file,
            "redis_tuned_client_view": core.client_view,
            "redis_tuned_peer": core.peer,
        }
