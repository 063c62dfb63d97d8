"""Benchmark: what redis-tuned-verify measures, against redis-benchmark, same server, same run.

Starts a throwaway redis-server on a free loopback port and prints:
- the wall time of one full verification (1000 PING samples, 50 fresh connections);
- the CLI's pooled PING p50 beside `redis-benchmark -c 1 -t ping` p50
  (the ratio is the Python client's own overhead per round trip);
- fresh connection (connect + AUTH + PING) p50 over pooled PING p50: the
  guide's pooling argument, measured on loopback.

Bounded: 1000 samples per verification, 20000 redis-benchmark requests, --runs runs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import redis
from _loopback import redis_server

from redis_tuned_tools.verify.cli import main as verify_main

USER, PASSWORD = "bench", "bench-pw"


def redis_benchmark_p50(port: int) -> float:
    """p50 of `redis-benchmark -c 1 -t ping` (median of its inline and bulk PING rows)."""
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", "1", "-n", "20000", "-t", "ping", "--csv"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    return statistics.median(float(r["p50_latency_ms"]) for r in rows)


def verify_once(port: int) -> tuple[float, dict[str, float]]:
    """One full verification in-process; (wall seconds, its latency figures)."""
    buf = io.StringIO()
    argv = [
        "--port",
        str(port),
        "--user",
        USER,
        "--json",
        "--latency-samples",
        "1000",
        "--fresh-samples",
        "50",
    ]
    start = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        code = verify_main(argv)
    wall = time.perf_counter() - start
    if code == 2:
        raise SystemExit("verification could not run")
    return wall, json.loads(buf.getvalue())["latency"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, choices=range(1, 51), metavar="1-50")
    args = parser.parse_args()
    if shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None:
        print("needs redis-server and redis-benchmark (apt-get install redis-server)")
        return 2
    walls, cli_p50, bench_p50, fresh, ratio = [], [], [], [], []
    with redis_server() as port:
        admin = redis.Redis(port=port)
        # The verifier logs in as an ACL user with a password (connect + AUTH +
        # PING); redis-benchmark, which takes a password only in its argv, uses the
        # password-less default user of this throwaway loopback server.
        admin.acl_setuser(
            USER, enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"], commands=["+@all"]
        )
        os.environ["REDISCLI_AUTH"] = PASSWORD
        for _ in range(args.runs):
            wall, lat = verify_once(port)
            walls.append(wall)
            cli_p50.append(lat["p50_ms"])
            fresh.append(lat["fresh_connection_p50_ms"])
            ratio.append(lat["fresh_over_pooled_p50"])
            bench_p50.append(redis_benchmark_p50(port))
    med = statistics.median
    print(f"runs: {args.runs} (medians; redis-server on loopback)")
    print(f"full verification, 1000 samples + 50 fresh connections: {med(walls):.3f} s wall")
    print(
        f"pooled PING p50: redis-tuned-verify {med(cli_p50):.4f} ms, "
        f"redis-benchmark -c 1 {med(bench_p50):.4f} ms, "
        f"ratio {med(cli_p50) / med(bench_p50):.2f}x (Python client overhead)"
    )
    print(f"fresh connect+AUTH+PING p50 {med(fresh):.4f} ms = {med(ratio):.1f}x pooled PING p50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
