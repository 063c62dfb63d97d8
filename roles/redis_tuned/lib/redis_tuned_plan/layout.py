"""Where an instance's files live on the host."""

from __future__ import annotations

from typing import Any

THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"


# Where the role and redis-tuned-verify keep per-instance state on the host.
STATE_DIR = "/var/lib/redis_tuned"


def data_dir(name: str, role_config: dict[str, Any], inst_config: dict[str, Any]) -> str:
    """An instance's data directory, as the plan and purge both derive it."""
    return str(inst_config.get("dir") or role_config.get("dir") or f"/var/lib/redis/{name}")
