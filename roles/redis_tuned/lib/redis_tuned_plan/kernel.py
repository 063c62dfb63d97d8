"""The kernel settings against what the probe read."""

from __future__ import annotations

from typing import Any

from .layout import THP_PATH


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def kernel_state(the_plan: dict[str, Any], kernel: dict[str, Any]) -> dict[str, Any]:
    """The probe's ``kernel`` (path -> writable, value) read against the plan:
    per sysctl whether it can be set live and its live value; THP likewise;
    ``apply``, the sysctls to set live now (writable and different); and
    ``pending``, what is persistent but not live (read-only and different)."""
    state: dict[str, Any] = {}
    pending, apply = [], []
    for key, want in the_plan["sysctls"].items():
        seen = kernel.get(_sysctl_path(key)) or {}
        writable, live = bool(seen.get("writable")), str(seen.get("value") or "")
        state[key] = {"writable": writable, "live": live}
        if " ".join(live.split()) != " ".join(str(want).split()):
            if writable:
                apply.append(f"{key}={want}")
            else:
                pending.append(f"{key}={want} (live {live or 'unreadable'})")
    seen = kernel.get(the_plan.get("thp_path", THP_PATH)) or {}
    writable, live = bool(seen.get("writable")), str(seen.get("value") or "")
    mode = the_plan.get("transparent_hugepages")
    # The kernel shows "always madvise [never]"; a stand-in file the bare mode.
    differs = mode != "unchanged" and bool(live) and f"[{mode}]" not in live and live != mode
    # apply: set it live now (a changed mode, or one changed by hand since).
    state["thp"] = {"writable": writable, "live": live, "apply": differs and writable}
    if differs and not writable:
        pending.append(f"transparent_hugepage={mode} (live {live})")
    state["apply"] = apply
    state["pending"] = pending
    return state
