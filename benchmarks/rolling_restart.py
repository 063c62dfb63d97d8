"""What a restart costs the application, measured: playbooks/rolling-restart.yml on
the HA scenario's three containers (molecule/ha) while clients write through it.

Three setups, interleaved (A B C A B C ...: the same machine load for each):

- HA, with the write pause: every node of the replication group restarted
  (redis_tuned_restart_all), the primary failed over with its writes paused
  (redis_tuned_failover_pause_ms 10000);
- HA, no pause (redis_tuned_failover_pause_ms 0);
- a single instance (no replication: "solo" on each host, restarted one host at a
  time), its clients on the first host's.

Clients, each writing every 50 ms throughout: redis-py's Sentinel client (INCR, then
WAIT 1) and a channels_redis layer (group_send, then receive), through the group's
Sentinels for HA, straight at the instance for the single one. Reported per run:
the longest gap without an accepted write, the writes the server acknowledged
(WAIT 1) and lost, the writes accepted and lost, the layer's longest gap and its
messages lost (sent, never received), the client errors. Figures, not pass/fail.

    make bench-rolling     # molecule create + converge -s ha, this, molecule destroy
    python benchmarks/rolling_restart.py [--rounds 2]   # on a converged ha scenario

Traffic stays on this machine: the containers are on podman's own network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
OUT = PROJECT / "benchmarks" / "results" / "rolling-restart.md"


def scenario_env() -> None:
    """The converged ha scenario's inventory, as molecule's verifier gets it."""
    if "MOLECULE_EPHEMERAL_DIRECTORY" not in os.environ:
        found = sorted(
            (Path.home() / ".ansible" / "tmp").glob("molecule.*.ha"),
            key=lambda p: p.stat().st_mtime,
        )
        if not found:
            sys.exit("no converged ha scenario: molecule converge -s ha first (make bench-rolling)")
        os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] = str(found[-1])
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    os.environ.setdefault(
        "MOLECULE_INVENTORY_FILE", str(ephemeral / "inventory" / "ansible_inventory.yml")
    )
    for path in (PROJECT / "tests", PROJECT / "tests" / "molecule_ha"):
        sys.path.insert(0, str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each setup (default 2)")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be 1-5")
    scenario_env()
    import test_ha as ha  # tests/molecule_ha: the scenario's clients and helpers

    entry = ha.VARS["redis_tuned_instances"][0]
    solo = {**entry, "name": "solo", "port": 6391, "replication": False}
    instances = {"redis_tuned_instances": [entry, solo]}
    made = ha.run_site(None, instances)
    if made.returncode != 0:
        sys.exit("the scenario did not converge with the single instance: " + made.stdout[-2000:])
    first = ha.address_of(ha.NAMES[0])
    setups = {
        "HA, write pause 10000 ms": (
            {"redis_tuned_restart_all": True, "redis_tuned_failover_pause_ms": 10000,
             "redis_tuned_restart_only": [ha.GROUP]}, None),
        "HA, no write pause": (
            {"redis_tuned_restart_all": True, "redis_tuned_failover_pause_ms": 0,
             "redis_tuned_restart_only": [ha.GROUP]}, None),
        "single instance": (
            {"redis_tuned_restart_all": True, "redis_tuned_restart_only": ["solo"]},
            (first, 6391)),
    }  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in setups}
    for round_ in range(args.rounds):
        for name, (extra, direct) in setups.items():
            figures = measure(ha, {**instances, **extra}, direct)
            results[name].append(figures)
            print(f"round {round_ + 1}, {name}: {json.dumps(figures)}", flush=True)
    report = render(results, args.rounds)
    OUT.write_text(report)
    print(report)
    return 0


def measure(ha: Any, extra: dict[str, Any], direct: tuple[str, int] | None) -> dict[str, Any]:
    writer = ha.Writer(direct=direct)
    layer = ha.LayerWriter(direct=direct)
    writer.start()
    layer.start()
    ha.wait_for("writes accepted", lambda: len(writer.accepted) > 10 and len(layer.accepted) > 5)
    started = time.monotonic()
    rolled = ha.rolling(extra)
    time.sleep(2)
    writer.stop.set()
    layer.stop.set()
    writer.join(timeout=10)
    layer.join(timeout=10)
    if rolled.returncode != 0:
        sys.exit("the rolling restart failed: " + rolled.stdout[-3000:])
    final = writer.final_count()
    return {
        "restart_s": round(time.monotonic() - started - 2, 1),
        "gap_s": round(writer.gap_after(started), 2),
        "acknowledged_lost": max(0, writer.acknowledged - final),
        "accepted_lost": max(0, writer.highest - final),
        "client_errors": writer.errors,
        "layer_gap_s": round(layer.gap_after(started), 2),
        "layer_lost": layer.lost,
        "layer_errors": layer.errors,
    }


def render(results: dict[str, list[dict[str, Any]]], rounds: int) -> str:
    keys = ["gap_s", "acknowledged_lost", "accepted_lost", "client_errors", "layer_gap_s",
            "layer_lost", "layer_errors", "restart_s"]  # fmt: skip
    lines = [
        "# What a rolling restart costs the clients",
        "",
        f"`python benchmarks/rolling_restart.py --rounds {rounds}` on the molecule `ha` scenario "
        "(three Debian 12 containers, `down-after-milliseconds` 3000), every setup run "
        f"{rounds} times, interleaved; each cell: the median, then every run's figure.",
        "",
        "| setup | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name, runs in results.items():
        cells = []
        for key in keys:
            values = [r[key] for r in runs]
            cells.append(f"{statistics.median(values):g} ({', '.join(f'{v:g}' for v in values)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "gap_s: the longest time without a write accepted (INCR) from the restart's start on;",
        "acknowledged_lost: writes confirmed by a replica (WAIT 1) missing at the end;",
        "accepted_lost: writes the server accepted (INCR answered) missing at the end;",
        "layer_*: the channels_redis layer's longest gap, messages sent and never received,",
        "errors; restart_s: the playbook's run, start to end.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
