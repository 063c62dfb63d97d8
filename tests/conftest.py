"""Shared set-up for the test suites."""

from __future__ import annotations

import sys
from pathlib import Path

# The role's planning core is a plain Python package in its lib/ (its filter
# plugin is a thin adapter over it): the unit tests import it directly.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "roles" / "redis_tuned" / "lib"))
# tests/support.py: helpers the suites share.
sys.path.insert(0, str(Path(__file__).resolve().parent))
