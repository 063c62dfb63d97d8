"""Shared paths for the test suites."""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
ROLE = PROJECT / "roles" / "redis_tuned"

# The role's filter plugin is plain Python: import it as a module.
sys.path.insert(0, str(ROLE / "filter_plugins"))
