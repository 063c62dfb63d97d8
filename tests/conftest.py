"""Shared set-up for the test suites."""

from __future__ import annotations

import sys
from pathlib import Path

# The role's filter plugin is plain Python: the unit tests import it as a module.
sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "roles" / "redis_tuned" / "filter_plugins")
)
# tests/support.py: helpers the suites share.
sys.path.insert(0, str(Path(__file__).resolve().parent))
