"""What a run found: results.json (raw), report.md (one table per comparison) and
report.png (latency distributions; connections over time)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from redis_tuned_loadtest.driver import DRAIN

GUIDE_CLIENTS = 5000
GUIDE_RATE = 100  # messages per second per client in the guide's test


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest rank; None without values."""
    return _ranked(sorted(values), q)


def _ranked(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def distribution(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": _ranked(ordered, 50),
        "p95": _ranked(ordered, 95),
        "p99": _ranked(ordered, 99),
        "max": ordered[-1] if ordered else None,
        "percentiles": [
            round(v, 3) for q in range(1, 101) if (v := _ranked(ordered, q)) is not None
        ],
    }


def scale(clients: int, rate: float) -> dict[str, Any]:
    ours = clients * rate
    return {
        "guide_clients": GUIDE_CLIENTS,
        "guide_messages_per_s": GUIDE_CLIENTS * GUIDE_RATE,
        "messages_per_s": ours,
        "connections_factor": clients / GUIDE_CLIENTS,
        "message_rate_factor": ours / (GUIDE_CLIENTS * GUIDE_RATE),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, None when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


SHOWN_CONFIG = ("timeout", "tcp-keepalive", "maxmemory-policy", "appendonly", "save")


def _config(phase: dict[str, Any], key: str) -> str:
    value = (phase["server"].get("config") or {}).get(key)
    return "unknown (no CONFIG GET)" if value is None else f"`{value}`" if value != "" else '`""`'


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _errors(counts: dict[str, int]) -> str:
    if not counts:
        return "none"
    return "; ".join(
        f"{k.replace('|', '/')} x{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:4]
    )


def _all_errors(phase: dict[str, Any]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for part in (phase["clients"]["errors"], phase["app_errors"]):
        for k, n in part.items():
            merged[k] = merged.get(k, 0) + n
    return merged


def _refused(phase: dict[str, Any]) -> int:
    """The app's own connections Redis refused at maxclients."""
    return sum(n for k, n in _all_errors(phase).items() if "max number of clients" in k)


def comparisons(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures: per-request against pooled, default against tuned."""
    by = {p["name"]: p for p in results["phases"]}
    out: dict[str, Any] = {}
    pooled, per = by.get("pooled"), by.get("per-request")
    if pooled and per:
        out["pooling"] = {
            f"{what}_{q}_ratio": ratio(per[what][q], pooled[what][q])
            for what in ("latency_ms", "cache_ms")
            for q in ("p50", "p95", "p99")
        } | {
            "connections_opened": [
                pooled["redis"]["connections_opened"],
                per["redis"]["connections_opened"],
            ],
            "peak_app_connections": [
                pooled["redis"]["peak_app_connections"],
                per["redis"]["peak_app_connections"],
            ],
            "pool_size": pooled["pool_size"],
            "redis_cpu_ratio": ratio(per["redis"]["cpu_seconds"], pooled["redis"]["cpu_seconds"]),
        }
    tuned, default = by.get("tuned+idle"), by.get("default+idle")
    if tuned and default:
        out["tuning"] = {
            "idle_accepted": [tuned["crowd"]["accepted"], default["crowd"]["accepted"]],
            "idle_rejected": [tuned["crowd"]["rejected"], default["crowd"]["rejected"]],
            "maxclients": [tuned["server"]["maxclients"], default["server"]["maxclients"]],
            "app_refused": [_refused(tuned), _refused(default)],
        } | {
            f"latency_ms_{q}_ratio": ratio(default["latency_ms"][q], tuned["latency_ms"][q])
            for q in ("p50", "p95", "p99")
        }
    return out


def write(out: Path, results: dict[str, Any], latencies: dict[str, list[float]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results["comparisons"] = comparisons(results)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(markdown(results))
    figure(out / "report.png", results, latencies)


def _row(label: str, *cells: str) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


def markdown(r: dict[str, Any]) -> str:
    p = r["parameters"]
    s = r["scale"]
    m = r["machine"]
    by = {ph["name"]: ph for ph in r["phases"]}
    lines = [
        "# Load test: a Django Channels app on redis_tuned",
        "",
        f"Made by `{r['command']}`"
        + (f" ({r['via']})" if r.get("via") else "")
        + f" on {r['started']}, in {r['elapsed_s']:.0f} s.",
        "",
        f"**Machine:** {m['cpus']} CPU ({m['cpu_model']}), {m['memory_gb']:.1f} GB RAM, Linux "
        f"{m['kernel']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + ".",
        "",
        f"**Load:** {p['clients']} WebSocket clients in rooms of {p['group_size']}, "
        f"{p['rate']:g} message(s)/s each, {p['ramp']:g} s ramp, {p['duration']:g} s measured; "
        f"{p['cache_rate']:g} cache requests/s; {p['idle_connections']} idle connections in the "
        "idle-crowd phases. One uvicorn process serves the app (Django, channels_redis core layer, "
        "django-redis), configured with the snippet `redis-tuned-clients settings` generates "
        f"(`--concurrency {p['concurrency']}`: at most {r['phases'][0]['pool_size']} pooled "
        "connections in all); client, app and Redis share this machine.",
        "",
        f"**Scale against the guide's test** ({s['guide_clients']} clients x 100 messages/s = "
        f"{s['guide_messages_per_s']:,} messages/s): {s['connections_factor']:.3g}x its "
        "connections, "
        f"{s['message_rate_factor']:.3g}x its message rate. Raise `--clients`, `--rate` and "
        "`--duration` on a bigger machine.",
        "",
        "Latency is end to end: client send → ASGI server → `group_send` through Redis → the "
        "sender's own copy back from the group broadcast. Ratios are the second column over "
        "the first.",
        "",
    ]
    targets = r["targets"]
    lines += [f"**Tuned instance:** {targets['tuned']}", ""]
    if "default" in targets:
        lines += [f"**Package default:** {targets['default']}", ""]
    pooled, per = by.get("pooled"), by.get("per-request")
    if pooled and per:
        lines += [
            "## Pooled (generated settings) vs a new connection per operation "
            '(the guide\'s "before")',
            "",
            _row("", "pooled", "per-request", "ratio"),
            _row("---", "---:", "---:", "---:"),
            *_rows([pooled, per]),
            "",
        ]
    tuned, default = by.get("tuned+idle"), by.get("default+idle")
    if tuned and default:
        lines += [
            f"## Tuned vs the package default, with {p['idle_connections']} idle connections "
            "held open",
            "",
            "The app runs pooled on each; its clients ramp up first, then the idle crowd connects "
            "to the Channels instance and stays while the load is measured.",
            "",
            _row("", "tuned", "package default", "ratio"),
            _row("---", "---:", "---:", "---:"),
            _row(
                "maxclients in force",
                str(tuned["server"]["maxclients"]),
                str(default["server"]["maxclients"]),
                "",
            ),
            *(_row(k, *(_config(x, k) for x in (tuned, default)), "") for k in SHOWN_CONFIG),
            _row(
                "idle connections accepted",
                str(tuned["crowd"]["accepted"]),
                str(default["crowd"]["accepted"]),
                "",
            ),
            _row(
                "idle connections rejected",
                str(tuned["crowd"]["rejected"]),
                str(default["crowd"]["rejected"]),
                "",
            ),
            *_rows([tuned, default]),
            "",
        ]
    shown = {"pooled", "per-request"} if pooled and per else set()
    shown |= {"tuned+idle", "default+idle"} if tuned and default else set()
    rest = [ph for ph in r["phases"] if ph["name"] not in shown]
    if rest:
        lines += [
            "## Phases outside a comparison",
            "",
            _row("", *(ph["title"] for ph in rest)),
            _row("---", *("---:" for _ in rest)),
            *_rows(rest),
            "",
        ]
    lines += [
        "## What the guide claimed, and what this run measured",
        "",
        *r.get("findings", []),
        "",
        "![latency distributions and connections over time](report.png)",
        "",
        "Raw figures: `results.json` (every phase, its percentiles and the Redis samples).",
        "",
    ]
    return "\n".join(lines)


def _counts(phase: dict[str, Any], *keys: str) -> str:
    return " / ".join(str(phase["clients"][k]) for k in keys)


# The table rows: label, the cell of one phase, and the number a ratio is taken of (None:
# no ratio for that row).
METRICS: list[tuple[str, Any, Any]] = [
    *(
        (f"message latency {q} (ms)", lambda p, q=q: _ms(p["latency_ms"][q]),
         lambda p, q=q: p["latency_ms"][q])
        for q in ("p50", "p95", "p99")
    ),
    (f"messages sent / own copy back / lost (not back within {DRAIN:g} s)",
     lambda p: _counts(p, "sent", "own_back", "lost"), None),
    ("broadcast copies delivered / expected", lambda p: _counts(p, "delivered", "expected"), None),
    *(
        (f"cache request {q} (ms)", lambda p, q=q: _ms(p["cache_ms"][q]),
         lambda p, q=q: p["cache_ms"][q])
        for q in ("p50", "p95", "p99")
    ),
    ("app's Redis connections, peak", lambda p: str(p["redis"]["peak_app_connections"]),
     lambda p: p["redis"]["peak_app_connections"]),
    ("connections opened to Redis", lambda p: str(p["redis"]["connections_opened"]),
     lambda p: p["redis"]["connections_opened"]),
    ("Redis rejected_connections (delta)", lambda p: str(p["redis"]["rejected_connections"]), None),
    ("Redis CPU (s, sys+user)", lambda p: f"{p['redis']['cpu_seconds']:.2f}",
     lambda p: p["redis"]["cpu_seconds"]),
    ("Redis used_memory, peak (MB)", lambda p: f"{p['redis']['peak_used_memory'] / 2**20:.1f}",
     None),
    ("errors", lambda p: _errors(_all_errors(p)), None),
]  # fmt: skip


def _rows(phases: list[dict[str, Any]]) -> list[str]:
    """One column per phase; with two, a ratio column (second over first)."""
    rows = []
    for label, cell, number in METRICS:
        cells = [cell(p) for p in phases]
        if len(phases) == 2:
            cells.append(_x(ratio(number(phases[1]), number(phases[0]))) if number else "")
        rows.append(_row(label, *cells))
    return rows


def figure(path: Path, r: dict[str, Any], latencies: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for phase in r["phases"]:
        values = sorted(latencies.get(phase["name"], []))
        if values:
            ys = [(i + 1) / len(values) * 100 for i in range(len(values))]
            left.plot(values, ys, label=phase["title"])
    left.set_xscale("log")
    left.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    left.xaxis.set_minor_formatter(ticker.NullFormatter())
    left.set_xlabel("message latency, ms (log)")
    left.set_ylabel("% of messages at or below")
    left.set_title("End-to-end message latency (CDF)")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    for phase in r["phases"]:
        series = phase["series"]
        if series["t"]:
            right.plot(series["t"], series["connected_clients"], label=phase["title"])
    right.set_yscale("symlog", linthresh=10)
    right.set_xlabel("seconds into the phase")
    right.set_ylabel("connected_clients on the Channels instance")
    right.set_title("Redis connections over time")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
