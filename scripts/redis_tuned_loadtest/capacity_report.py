"""The capacity study's report: report.md (knees, limits, every step), report.png
(latency percentiles against the offered rate, per setup) and results.json."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from redis_tuned_loadtest.driver import DRAIN
from redis_tuned_loadtest.report import GUIDE_CLIENTS, GUIDE_RATE


def write(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "report.md").write_text(markdown(results))
    figure(out / "report.png", results)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _rate(v: float | None) -> str:
    return "none" if v is None else f"{v:g}"


def _by_setup(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["setup"]: s for s in results["summary"]}


def ceiling_fraction(results: dict[str, Any], summary: dict[str, Any]) -> str:
    """The Redis commands/s the setup's median knee costs (the knee times the commands
    per message measured at it) as a fraction of Redis's ceiling in commands/s for its
    layer's shape."""
    layer = summary["setup"].split("-", 1)[0]
    top = next((c for c in results["ceilings"] if c["shape"] == layer and "error" not in c), None)
    per = [x for x in summary["commands_per_message"] if x]
    if top is None or summary["knee_median"] is None or not per:
        return "-"
    share = 100 * summary["knee_median"] * statistics.median(per) / top["commands_per_s"]
    return f"{share:.2g}%"


def headline(results: dict[str, Any]) -> list[str]:
    """Two lines for the README and the terminal."""
    s = results["summary"]
    best = max(s, key=lambda x: x["knee_median"] or 0)
    first = s[0]
    held = min((h for x in s for h in x["clients_held"] if h), default=0)
    ceilings = ", ".join(
        f"{c['shape']} {c['messages_per_s']:,} msg/s"
        for c in results["ceilings"]
        if "error" not in c
    )
    budget = results["parameters"]["budget_ms"]
    fraction = ceiling_fraction(results, best)
    return [
        f"- {held} WebSocket clients held; knee (p99 <= {budget:g} ms, 0 lost): {first['title']} "
        f"{_rate(first['knee_median'])} msg/s, best {best['title']} "
        f"{_rate(best['knee_median'])} msg/s ({fraction} of Redis's ceiling).",
        f"- Limit at the knee: {first['limits'][0]}. "
        f"Redis's own ceiling: {ceilings or 'not measured'}.",
    ]


def markdown(r: dict[str, Any]) -> str:
    p, m = r["parameters"], r["machine"]
    lines = [
        "# Capacity: where the limit is",
        "",
        f"`{r['command']}`" + (f" ({r['via']})" if r.get("via") else ""),
        "",
        f"Started {r['started']}, {r['elapsed_s']} s in all. Machine: {m['cpus']} CPUs "
        f"({m['cpu_model']}), {m['memory_gb']:.1f} GB, kernel {m['kernel']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + f". Server: {r['server'].get('version')} at {r['server'].get('address')}.",
        "",
        f"{p['clients']} WebSocket clients in rooms of {p['group_size']}, held open by "
        f"{p['generators']} load-generator processes through every ramp; each step "
        f"{p['step_duration']:g} s at the offered rate (messages/s, all clients together; each "
        f"message goes to its room's {p['group_size']} members); a ramp stops at the first step "
        f"whose p99 passes {p['budget_ms']:g} ms or that loses a message (not back within "
        f"{DRAIN:g} s). The setups ran interleaved, {p['repeats']} round(s). The guide's test: "
        f"{GUIDE_CLIENTS} clients x {GUIDE_RATE:g} messages/s = {GUIDE_CLIENTS * GUIDE_RATE:,.0f} "
        "messages/s.",
        "",
        "## Knees",
        "",
        "| setup | knee per round (msg/s) | median | clients held | p99 at the knee (ms) "
        "| Redis CPU at the knee | of Redis's ceiling | what stopped the ramp |",
        "|---|---|---:|---|---|---|---:|---|",
    ]
    for s in r["summary"]:
        lines.append(
            f"| {s['title']} | {' / '.join(_rate(k) for k in s['knees'])} | "
            f"{_rate(s['knee_median'])} | {' / '.join(str(h) for h in s['clients_held'])} | "
            f"{' / '.join(_ms(x) for x in s['p99_at_knee']) or '-'} | "
            f"{' / '.join(f'{x:.0f}%' for x in s['redis_cpu_at_knee']) or '-'} | "
            f"{ceiling_fraction(r, s)} | {s['limits'][0]} |"
        )
    lines += along_the_ramp(r)
    lines += [
        "",
        "## What holding the clients costs (after they connected, before the ramp)",
        "",
        "| setup | round | clients | connect time | each part: memory MB / open files |",
        "|---|---:|---:|---:|---|",
    ]
    for rnd in r["rounds"]:
        held = ", ".join(
            f"{part} {v['rss_mb']:.0f} / {v['open_files']}"
            for part, v in (rnd.get("held") or {}).items()
        )
        lines.append(
            f"| {rnd['title']} | {rnd['round']} | {rnd.get('connected')} | "
            f"{rnd.get('connect_s', '-')} s | {held} |"
        )
    lines += ["", "## Redis's own ceiling (the same instance, the layers' command shapes)", ""]
    if r["ceilings"]:
        lines += [
            "| shape | messages/s | commands per message | commands/s | Redis CPU "
            "| the driver's CPU | steal |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for c in r["ceilings"]:
            if "error" in c:
                lines.append(f"| {c['shape']} | not measured: {c['error']} | | | | | |")
            else:
                lines.append(
                    f"| {c['shape']} | {c['messages_per_s']:,} | {c['commands_per_message']} | "
                    f"{c['commands_per_s']:,} | {c['redis_cpu']:.0f}% | "
                    f"{c['driver_cpu']:.0f}% | {c['steal']:.0f}% |"
                )
        lines += [
            "",
            "Pipelined connections sending one message's commands over and over "
            "(redis_tuned_loadtest/ceiling.py: not redis-benchmark, which takes a password only "
            "on its command line). CPU as % of one core; the driver shares this machine's cores "
            "with Redis. A setup's share of the ceiling (the knees' table) is in commands: its "
            "knee times the Redis commands per message measured at it (INFO "
            "total_commands_processed; the real layer sends more per message than the shape), "
            "over the shape's commands/s.",
        ]
    else:
        lines.append("Not measured (--ceiling-seconds 0).")
    lines += ["", "## Every step", ""]
    lines += [
        "| setup | round | offered msg/s | sent/s | p50 / p95 / p99 ms | lost | errors | CPU "
        "(% of a core) | machine busy / steal | Redis commands per message |",
        "|---|---:|---:|---:|---|---:|---:|---|---|---:|",
    ]
    for rnd in r["rounds"]:
        for st in rnd.get("steps", []):
            cpu = st["cpu"]
            parts = ", ".join(f"{k} {v:.0f}" for k, v in cpu["parts"].items())
            lines.append(
                f"| {rnd['title']} | {rnd['round']} | {st['rate']:g} | {st['achieved']:g} | "
                f"{_ms(st['p50'])} / {_ms(st['p95'])} / {_ms(st['p99'])} | {st['lost']} | "
                f"{sum(st['errors'].values())} | {parts} | {cpu['machine_busy']:.0f}% / "
                f"{cpu['steal']:.0f}% | {st['commands_per_message'] or '-'} |"
            )
    errors = {k: v for rnd in r["rounds"] for k, v in rnd.get("connect_errors", {}).items()}
    app = {k: v for rnd in r["rounds"] for k, v in rnd.get("app_errors", {}).items()}
    if errors or app:
        lines += ["", "## Errors", ""]
        lines += [f"- connecting: {k}: {v}" for k, v in errors.items()]
        lines += [f"- in the application's log: {k}: {v}" for k, v in app.items()]
    lines += ["", "![latency against offered rate](report.png)", ""]
    return "\n".join(lines)


def _step_value(step: dict[str, Any], key: str) -> float | None:
    value = step["cpu"]["parts"]["redis"] if key == "redis_cpu" else step.get(key)
    return None if value is None else float(value)


def _median_at(rounds: list[dict[str, Any]], rate: float, key: str) -> float | None:
    """A step figure at one offered rate, the median over the rounds that reached it."""
    seen = [
        v
        for rnd in rounds
        for st in rnd.get("steps", [])
        if st["rate"] == rate and (v := _step_value(st, key)) is not None
    ]
    return statistics.median(seen) if seen else None


def along_the_ramp(r: dict[str, Any]) -> list[str]:
    """Each setup against the one listed before it that differs in one thing only (else
    the first), step by step: the same offered rate, the median over rounds of p50,
    p99 and Redis's CPU."""
    setups = [s["setup"] for s in r["summary"]]
    if len(setups) < 2:
        return []
    titles = {s["setup"]: s["title"] for s in r["summary"]}
    varies = {s["setup"]: s.get("varies") or {} for s in r["summary"]}
    rounds = {k: [x for x in r["rounds"] if x["setup"] == k] for k in setups}
    out = ["", "## Along the ramp, one thing changed at a time", ""]
    out.append(
        "Each setup against the one before it that differs in one thing only. Each step's "
        "median over the rounds that reached it (a ramp that stopped early has no row above "
        "its last step)."
    )
    for n, other in enumerate(setups[1:], 1):
        base = next(
            (b for b in setups[:n] if _differences(varies[b], varies[other]) == 1), setups[0]
        )
        rates = sorted(
            {st["rate"] for x in rounds[base] + rounds[other] for st in x.get("steps", [])}
        )
        out += [
            "",
            f"**{titles[other]}** against {titles[base]}",
            "",
            "| offered msg/s | p50 / p99 ms, baseline | p50 / p99 ms, this | p99 this / baseline "
            "| Redis CPU baseline / this |",
            "|---:|---|---|---:|---|",
        ]
        for rate in rates:
            b99, o99 = _median_at(rounds[base], rate, "p99"), _median_at(rounds[other], rate, "p99")
            ratio = f"{o99 / b99:.2f}x" if b99 and o99 else "-"
            bcpu, ocpu = (
                _median_at(rounds[base], rate, "redis_cpu"),
                _median_at(rounds[other], rate, "redis_cpu"),
            )
            out.append(
                f"| {rate:g} | {_ms(_median_at(rounds[base], rate, 'p50'))} / {_ms(b99)} | "
                f"{_ms(_median_at(rounds[other], rate, 'p50'))} / {_ms(o99)} | {ratio} | "
                f"{_pct(bcpu)} / {_pct(ocpu)} |"
            )
    return out


def _differences(a: dict[str, Any], b: dict[str, Any]) -> int:
    return sum(1 for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%"


def figure(path: Path, r: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    budget = r["parameters"]["budget_ms"]
    for rnd in r["rounds"]:
        steps = [st for st in rnd.get("steps", []) if st["p99"] is not None]
        if not steps:
            continue
        rates = [st["rate"] for st in steps]
        label = f"{rnd['setup']} #{rnd['round']}"
        (line,) = axes[0].plot(rates, [st["p99"] for st in steps], marker="o", label=label)
        axes[0].plot(rates, [st["p50"] for st in steps], linestyle=":", color=line.get_color())
        axes[1].plot(
            rates,
            [st["cpu"]["parts"]["redis"] for st in steps],
            marker=".",
            color=line.get_color(),
            label=label,
        )
    axes[0].axhline(budget, color="grey", linestyle="--", linewidth=1)
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="offered messages/s",
        ylabel="latency ms (p99 solid, p50 dotted)",
        title="Latency against offered rate",
    )
    axes[1].set(
        xscale="log",
        xlabel="offered messages/s",
        ylabel="% of one core",
        title="Redis CPU against offered rate",
    )
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
