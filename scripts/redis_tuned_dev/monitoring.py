"""The metric names the shipped alert rules and Grafana dashboard use.

Tests compare them with a live scrape of the deployed exporter, so that no
rule or panel waits on a metric the exporter never emits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

METRIC = re.compile(r"\bredis_[a-z0-9_]+\b")


def rule_exprs(rules_file: Path) -> list[str]:
    """Every ``expr`` of a Prometheus rule file."""
    data = yaml.safe_load(rules_file.read_text())
    return [str(rule["expr"]) for group in data["groups"] for rule in group["rules"]]


def dashboard_exprs(dashboard_file: Path) -> list[str]:
    """Every PromQL expression of a Grafana dashboard: panel targets and query variables."""
    data = json.loads(dashboard_file.read_text())
    exprs = [t["expr"] for p in _panels(data.get("panels", [])) for t in p.get("targets", [])]
    for var in data.get("templating", {}).get("list", []):
        query = var.get("query")
        if var.get("type") == "query":
            exprs.append(query["query"] if isinstance(query, dict) else str(query))
    return [str(e) for e in exprs]


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(_panels(panel.get("panels", [])))  # rows hold panels
    return out


def metric_names(exprs: list[str]) -> set[str]:
    """The redis_* metric names in PromQL expressions."""
    return {name for expr in exprs for name in METRIC.findall(expr)}
