"""Benchmark: what one Prometheus scrape of a redis_tuned exporter costs.

Starts a throwaway redis-server on a free loopback port with the role's
exporter ACL user (rules from roles/redis_tuned/vars/main.yml) and Debian's
redis_exporter logged in as it (JSON password map, as the role runs it), then
prints, over N scrapes (bounded, default 200):
- the HTTP scrape wall time (p50, p95) and the exporter's own
  redis_exporter_last_scrape_duration_seconds p50;
- the baseline: the same commands the exporter sends (measured: CLIENT SETNAME,
  INFO ALL, CONFIG GET *, SLOWLOG LEN, SLOWLOG GET, LATENCY LATEST) issued
  directly from Python on one connection, p50, and the ratio of the two.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis
import yaml
from _loopback import free_port, redis_server

from redis_tuned_tools.verify.checks import parse_metrics

PROJECT = Path(__file__).resolve().parents[1]
EXPORTER = "/usr/bin/prometheus-redis-exporter"
USER, PASSWORD = "redis-tuned-exporter", "bench-exporter-pw"


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def exporter_commands(client: redis.Redis) -> None:
    client.execute_command("CLIENT", "SETNAME", "bench")
    client.execute_command("INFO", "ALL")
    client.execute_command("CONFIG", "GET", "*")
    client.execute_command("SLOWLOG", "LEN")
    client.execute_command("SLOWLOG", "GET")
    client.execute_command("LATENCY", "LATEST")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scrapes", type=int, default=200, choices=range(10, 2001), metavar="10-2000"
    )
    args = parser.parse_args()
    if shutil.which("redis-server") is None or not Path(EXPORTER).exists():
        print("needs redis-server and prometheus-redis-exporter (make system)")
        return 2
    rules = yaml.safe_load((PROJECT / "roles/redis_tuned/vars/main.yml").read_text())
    with redis_server() as port, tempfile.TemporaryDirectory() as tmp:
        admin = redis.Redis(port=port)
        admin.execute_command(
            "ACL", "SETUSER", USER, "on", f">{PASSWORD}",
            *rules["__redis_tuned_exporter_acl_rules"].split(),
        )  # fmt: skip
        addr = f"redis://127.0.0.1:{port}"
        pw_file = Path(tmp) / "pw.json"
        with_user = addr.replace("://", f"://{USER}@", 1)  # as the role writes it
        pw_file.write_text(json.dumps({addr: PASSWORD, with_user: PASSWORD}))
        pw_file.chmod(0o600)
        web = free_port()
        exporter = subprocess.Popen(
            [EXPORTER, f"--redis.addr={addr}", f"--redis.user={USER}",
             f"--redis.password-file={pw_file}", f"--web.listen-address=127.0.0.1:{web}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{web}/metrics"
        try:
            for _ in range(100):  # bounded wait for the exporter
                try:
                    fetch(url)
                    break
                except OSError:
                    time.sleep(0.05)
            walls, own = [], []
            for _ in range(args.scrapes):
                start = time.perf_counter()
                text = fetch(url)
                walls.append((time.perf_counter() - start) * 1000)
                metrics = parse_metrics(text)
                if metrics["redis_up"][0][1] != 1:
                    raise SystemExit("the exporter could not log in")
                own.append(metrics["redis_exporter_last_scrape_duration_seconds"][0][1] * 1000)
            direct = redis.Redis(port=port, username=USER, password=PASSWORD)
            baseline = []
            for _ in range(args.scrapes):
                start = time.perf_counter()
                exporter_commands(direct)
                baseline.append((time.perf_counter() - start) * 1000)
            direct.close()
        finally:
            exporter.terminate()
            exporter.wait(timeout=10)
    med = statistics.median
    p95 = statistics.quantiles(walls, n=20)[18]
    print(f"scrapes: {args.scrapes} (redis-server and redis_exporter on loopback)")
    print(
        f"HTTP scrape: p50 {med(walls):.2f} ms, p95 {p95:.2f} ms; "
        f"exporter's own p50 {med(own):.2f} ms"
    )
    print(
        f"baseline, the exporter's commands sent directly: p50 {med(baseline):.2f} ms; "
        f"scrape / baseline {med(walls) / med(baseline):.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
