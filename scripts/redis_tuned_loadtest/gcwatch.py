"""How long Python's garbage collector stops a process: every collection timed (gc's
callbacks), per generation; read and reset at each step of the capacity study, by the
application processes (GET /gc) and the load generators (their step answers)."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

_started: list[float] = []
_seen: dict[int, dict[str, float]] = {}


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        ms = (time.perf_counter() - _started[0]) * 1000
        gen = _seen.setdefault(
            int(info.get("generation", 0)), {"count": 0, "total_ms": 0.0, "longest_ms": 0.0}
        )
        gen["count"] += 1
        gen["total_ms"] += ms
        gen["longest_ms"] = max(gen["longest_ms"], ms)


def install() -> None:
    """Start timing this process's collections (once)."""
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


def read() -> dict[str, float]:
    """Since the last read: collections, their total and longest pause (ms), and the
    full (generation 2) collections among them; then starts afresh."""
    out = {
        "collections": sum(g["count"] for g in _seen.values()),
        "total_ms": round(sum(g["total_ms"] for g in _seen.values()), 1),
        "longest_ms": round(max((g["longest_ms"] for g in _seen.values()), default=0.0), 1),
        "full": (_seen.get(2) or {}).get("count", 0),
    }
    _seen.clear()
    return out


def freeze_every(seconds: float) -> None:
    """``gc.freeze()`` every ``seconds`` (a daemon thread): what is alive by then (the
    connections held, their consumers) moves out of the collector's reach, so a full
    collection scans only what came since. The capacity study's ``gc-freeze`` setup;
    the price: a reference cycle among frozen objects is never collected."""

    def loop() -> None:
        while True:
            time.sleep(seconds)
            gc.freeze()

    threading.Thread(target=loop, name="gc-freeze", daemon=True).start()
