"""What the report tasks say."""

from __future__ import annotations

import json
from typing import Any

from .restarts import UPGRADE_REASONS, restarts_now


def batch_results(
    registered: dict[str, Any], instances: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A registered ``redis-tuned-verify --batch`` as ``verify_summary`` reads it: one
    result per run (rc, stdout, stderr and the instance, in the order given). Where
    the batch itself gave no report (skipped: none; it could not start or its input
    was refused), every instance could not be verified, for the batch's reason."""
    if not registered or "rc" not in registered:
        return []
    try:
        runs = json.loads(registered.get("stdout") or "")["runs"]
    except (ValueError, KeyError, TypeError):
        runs = None
    if not isinstance(runs, list) or len(runs) != len(instances):
        err = registered.get("stderr") or registered.get("stdout") or ""
        rc = registered["rc"] if registered["rc"] not in (0, 1) else 2
        return [{"rc": rc, "stdout": "", "stderr": err, "__redis_tuned_instance": i}
                for i in instances]  # fmt: skip
    return [
        {"rc": r.get("exit"), "stdout": r.get("stdout"), "stderr": r.get("stderr"),
         "__redis_tuned_instance": inst}
        for r, inst in zip(runs, instances, strict=True)
    ]  # fmt: skip


def verify_summary(results: list[dict[str, Any]], mode: str = "client") -> dict[str, Any]:
    """One line per registered redis-tuned-verify run (``--json``): all passed, the
    checks that failed or warned with their hints, or (exit 2, or no report) why it
    could not verify, with the address it tried and the variable that sets it.
    ``ok`` is false when any run did not pass."""
    lines, ok = [], True
    for result in results:
        if "rc" not in result:  # skipped
            continue
        inst = result.get("__redis_tuned_instance") or {}
        name = inst.get("name", "?")
        try:
            report = json.loads(result.get("stdout") or "")
        except ValueError:
            report = None
        if result["rc"] not in (0, 1) or not isinstance(report, dict):
            ok = False
            err = (result.get("stderr") or result.get("stdout") or "").strip().splitlines()
            remote = (inst.get("remote") or {}) if mode == "client" else {}
            where = (
                f" at {remote['host']}:{remote['port']} (address from {remote['address_variable']})"
                if remote
                else ""
            )
            reason = err[-1] if err else f"exit code {result['rc']}"
            lines.append(f"{name}: could not verify{where}: {reason}")
            continue
        ok = ok and result["rc"] == 0
        line = [
            f"{name} ({report.get('mode')} mode): "
            + ("all checks passed" if result["rc"] == 0 else "FAILED")
        ]
        for c in report.get("checks", []):
            if c.get("status") != "pass":
                hint = f" ({c['hint']})" if c.get("hint") else ""
                status = str(c.get("status")).upper()
                line.append(
                    f"{status} {c.get('name')}: expected {c.get('expected')}, "
                    f"observed {c.get('observed')}{hint}"
                )
        latency = report.get("latency") or {}
        p50, p99 = latency.get("p50_ms") or 0, latency.get("p99_ms") or 0
        line.append(f"latency p50 {p50:.3f} ms, p99 {p99:.3f} ms")
        lines.append("; ".join(line))
    return {"ok": ok, "lines": lines}


def restart_summary(
    the_plan: dict[str, Any],
    state: dict[str, Any],
    reasons: dict[str, list[str]],
    restarting: list[str] | None = None,
) -> list[str]:
    """One line per instance to restart (``restarting``, the decision's list; by
    default what ``restarts_now`` gives under the plan's policy), or whose restart is
    pending; a restart of an instance without persistence says how many keys it drops."""
    lines = []
    keys = state.get("live_keys") or {}
    deferred = the_plan.get("restart_policy") == "deferred"
    if restarting is None:
        restarting = restarts_now(the_plan, reasons, str(the_plan.get("restart_policy")))
    for inst in the_plan["instances"]:
        why = reasons.get(inst["name"])
        if not why:
            continue
        if inst["name"] not in restarting:
            only = the_plan.get("restart_only") or []
            if inst.get("replication"):
                because = "a node of a replication group: playbooks/rolling-restart.yml"
            elif set(why) <= UPGRADE_REASONS and not deferred:
                because = "an upgrade: playbooks/rolling-restart.yml restarts onto it"
            elif deferred:
                because = "redis_tuned_restart_policy: deferred"
            else:
                because = f"redis_tuned_restart_only: {', '.join(only)}"
            lines.append(f"{inst['name']}: restart pending: {', '.join(why)} ({because})")
            continue
        line = f"{inst['name']}: restart for {', '.join(why)}"
        count = int(keys.get(inst["name"]) or 0)
        if count and not inst["persists"]:
            line += f" (drops {count} keys: no persistence)"
        lines.append(line)
    return lines


def live_summary(
    results: list[dict[str, Any]],
    live: dict[str, Any],
    policy: str = "auto",
    reasons: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The live-apply report: one line per instance that changed (or would, in check
    mode); ``ok`` false when Redis refused a CONFIG SET, with its message. With
    restart policy auto an instance that restarts gets everything from the restart."""
    lines, ok = [], True
    done = {
        r["__redis_tuned_instance"]["name"]: r for r in results if "__redis_tuned_instance" in r
    }
    for name, change in sorted(live.items()):
        why = (reasons or {}).get(name) or []
        restarts = bool(change["restart"] or why) and policy == "auto"
        if restarts or not (change["set"] or change["tls_reload"]):
            continue  # a restart applies it all (restart_summary says so)
        values = dict(change["set"])
        waits = "unit drop-in" in why and values.pop("maxclients", None) is not None
        what = ", ".join(f"{k} {v}" for k, v in values.items())
        if waits:
            what = ", ".join(filter(None, [what, "maxclients waits for the restart"]))
        if change["tls_reload"]:
            what = ", ".join(filter(None, [what, "TLS certificate, key and CA reloaded"]))
        verb = "corrected live drift" if change["drift"] else "applied live, no restart"
        result = done.get(name) or {}
        if result.get("skipped") or "rc" not in result:
            lines.append(f"{name}: would be {verb.replace('corrected', 'correcting')}: {what}")
            continue
        answers = [ln for ln in str(result.get("stdout", "")).splitlines() if ln.strip()]
        if result.get("rc") != 0 or answers != ["OK"]:
            ok = False
            said = "; ".join(a for a in answers if a != "OK") or str(result.get("stderr", ""))
            lines.append(f"{name}: Redis refused the live change ({what}): {said.strip()}")
        else:
            lines.append(f"{name}: {verb}: {what}")
    return {"ok": ok, "lines": lines}
