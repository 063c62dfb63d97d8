#!/usr/bin/python3
"""Bring this host's Sentinel to the replication groups the plan names, at run time.

Sentinel owns its file (it rewrites it with its state), so nothing here writes
it: each group is compared with ``SENTINEL MASTER <name>`` and changed with
``SENTINEL SET``; a group the Sentinel does not watch yet is added with
``SENTINEL MONITOR`` at the primary the other Sentinels of the group agree on
(their ``SENTINEL GET-MASTER-ADDR-BY-NAME``; a majority of those that answer),
else at the bootstrap primary, then given its settings and the user it logs in
to the nodes as. Every command goes to the server's command-line client on its
standard input, the password in its environment: no secret in an argument.

Returns ``changed``, ``actions`` (what was done, without secrets) and
``primaries`` (per group, where this Sentinel sees the primary now). The
Sentinel's own ``announce-ip`` is compared with ``SENTINEL CONFIG GET`` and set
with ``SENTINEL CONFIG SET``. A group it
knows more nodes or Sentinels of than the plan has (a host that left it, a
Sentinel switched off) is reset (``SENTINEL RESET``: it learns the group afresh
from the primary, within seconds); a group this host left (``remove``) is no
longer watched (``SENTINEL REMOVE``). Then it
waits, a bounded time, until each group is whole as this Sentinel sees it (the
other Sentinels found, every replica linked to the primary: a group just made needs
seconds for that, Sentinels find each other by hello messages every 2 s); what is
not whole by then is returned in ``unsettled``, not failed: the verification that
follows checks the group and says what is wrong.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: redis_tuned_sentinel
short_description: Bring a Sentinel to the replication groups of the redis_tuned role at run time
description: See the module's docstring.
options:
  cli: {type: str, required: true, description: redis-cli or valkey-cli}
  host: {type: str, default: 127.0.0.1, description: Where this host's Sentinel answers.}
  port: {type: int, default: 26379, description: Its port.}
  password: {type: str, required: true, no_log: true, description: The Sentinels' password.}
  auth_pass:
    {type: str, required: true, no_log: true, description: "Sentinel's password on the nodes."}
  tls:
    type: list
    elements: str
    default: []
    description: >-
      The client's TLS flags for Sentinels of groups over TLS (--tls --cacert ..., and
      --cert/--key where they ask for a certificate): every Sentinel of them is dialled so.
  monitors:
    {type: list, elements: dict, default: [], description: "The groups: the plan's monitors."}
  remove:
    {type: list, elements: str, default: [], description: "Groups this host left: SENTINEL REMOVE."}
  announce_ip:
    type: str
    description: >-
      The address this Sentinel tells the others it is at ("": the one they see it at),
      compared with SENTINEL CONFIG GET and set with SENTINEL CONFIG SET; unset, left alone.
  wait: {type: int, default: 20, description: Seconds to wait for the Sentinel to answer.}
  settle:
    type: int
    default: 30
    description: >-
      Seconds to wait, at most, until each group is whole as this Sentinel sees it (every
      other Sentinel, every replica linked); the verification that follows judges it.
author: redis_tuned
"""

# What SENTINEL MASTER shows and SENTINEL SET changes, as the plan names them.
SETTINGS = ("quorum", "down-after-milliseconds", "failover-timeout", "parallel-syncs")


def quoted(value: Any) -> str:
    """An argument as the client splits a line of its standard input."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


class Sentinel:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.cli = module.params["cli"]

    def call(self, host: str, port: int, *words: Any) -> tuple[bool, list[str]]:
        """One command at a Sentinel: (answered, its reply's lines)."""
        line = " ".join(quoted(w) for w in words) + "\n"
        rc, out, _ = self.module.run_command(
            [
                self.cli,
                "--no-auth-warning",
                *self.module.params["tls"],
                "-h",
                host,
                "-p",
                str(port),
            ],
            data=line,
            binary_data=True,
            environ_update={"REDISCLI_AUTH": self.module.params["password"]},
        )
        text = (out or "").strip("\n")
        answered = rc == 0 and not text.startswith(("Could not connect", "AUTH failed"))
        return answered, text.split("\n") if text else []

    def local(self, *words: Any) -> list[str]:
        p = self.module.params
        ok, lines = self.call(p["host"], int(p["port"]), *words)
        if not ok:
            self.module.fail_json(msg=f"the Sentinel on {p['host']}:{p['port']} does not answer")
        return lines


def _pairs(lines: list[str]) -> dict[str, str]:
    return dict(zip(lines[0::2], lines[1::2], strict=False))


def agreed_primary(sentinel: Sentinel, monitor: dict[str, Any]) -> tuple[str, int] | None:
    """Where the other Sentinels of the group say the primary is: the answer of a
    majority of those that know the group, else None."""
    p = sentinel.module.params
    seen: Counter[tuple[str, int]] = Counter()
    for other in monitor.get("sentinels") or []:
        if (other["address"], int(other["port"])) == (p["host"], int(p["port"])):
            continue
        ok, lines = sentinel.call(
            other["address"], int(other["port"]), "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
            monitor["name"],
        )  # fmt: skip
        if ok and len(lines) == 2 and lines[1].isdigit():
            seen[(lines[0], int(lines[1]))] += 1
    if not seen:
        return None
    (address, port), votes = seen.most_common(1)[0]
    return (address, port) if votes * 2 > sum(seen.values()) else None


def _records(lines: list[str]) -> list[dict[str, str]]:
    """SENTINEL REPLICAS as the client prints it (one field per line, every
    replica's fields in a row): one dict per replica, each starting at "name"."""
    records: list[dict[str, str]] = []
    for key, value in zip(lines[0::2], lines[1::2], strict=False):
        if key == "name" or not records:
            records.append({})
        records[-1][key] = value
    return records


def _stale(current: dict[str, str], monitor: dict[str, Any]) -> str:
    """What this Sentinel knows of the group beyond what the plan has in it (its
    other nodes and other Sentinels), said in a few words; "" when nothing."""
    known = {
        "replicas": (int(current.get("num-slaves") or 0), int(monitor.get("members") or 1) - 1),
        "other Sentinels": (
            int(current.get("num-other-sentinels") or 0),
            len(monitor.get("sentinels") or []) - 1,
        ),
    }
    return ", ".join(
        f"it knew {have} {what}, the group has {want}"
        for what, (have, want) in known.items()
        if have > max(want, 0)
    )


def whole(sentinel: Sentinel, monitor: dict[str, Any]) -> bool:
    """The group as this Sentinel sees it: the primary up, every other Sentinel of
    the group found, every other node a replica linked to the primary."""
    name = monitor["name"]
    master = _pairs(sentinel.local("SENTINEL", "MASTER", name))
    if master.get("flags") != "master":
        return False
    if int(master.get("num-other-sentinels") or 0) < len(monitor.get("sentinels") or []) - 1:
        return False
    linked = [
        r
        for r in _records(sentinel.local("SENTINEL", "REPLICAS", name))
        if r.get("flags") == "slave" and r.get("master-link-status") == "ok"
    ]
    return len(linked) >= int(monitor.get("members") or 1) - 1


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cli": {"type": "str", "required": True},
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 26379},
            "password": {"type": "str", "required": True, "no_log": True},
            "auth_pass": {"type": "str", "required": True, "no_log": True},
            "tls": {"type": "list", "elements": "str", "default": []},
            "monitors": {"type": "list", "elements": "dict", "default": []},
            "remove": {"type": "list", "elements": "str", "default": []},
            "announce_ip": {"type": "str"},
            "wait": {"type": "int", "default": 20},
            "settle": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    sentinel = Sentinel(module)
    deadline = time.monotonic() + p["wait"]
    while True:
        ok, lines = sentinel.call(p["host"], int(p["port"]), "PING")
        if ok and lines == ["PONG"]:
            break
        if time.monotonic() > deadline or module.check_mode:
            if module.check_mode:  # not started yet in a check run: everything is to do
                module.exit_json(
                    changed=bool(p["monitors"]),
                    actions=[f"monitor {m['name']}" for m in p["monitors"]],
                    primaries={},
                )
            module.fail_json(
                msg=f"the Sentinel on {p['host']}:{p['port']} does not answer PING after "
                f"{p['wait']} s: {' '.join(lines)[:200]}"
            )
        time.sleep(0.2)
    actions: list[str] = []
    primaries: dict[str, str] = {}
    if p["announce_ip"] is not None:
        # A setting of the Sentinel itself (its file is written once, at bootstrap).
        now = (
            _pairs(sentinel.local("SENTINEL", "CONFIG", "GET", "announce-ip")).get("announce-ip")
            or ""
        )
        if now != p["announce_ip"]:
            actions.append(
                f"config announce-ip {now or '(none)'} -> {p['announce_ip'] or '(none)'}"
            )
            if not module.check_mode:
                reply = sentinel.local("SENTINEL", "CONFIG", "SET", "announce-ip", p["announce_ip"])
                if reply != ["OK"]:
                    module.fail_json(
                        msg=f"SENTINEL CONFIG SET announce-ip: {' '.join(reply)[:200]}"
                    )
    for name in p["remove"]:
        # A group this host's node left, while its Sentinel goes on for others.
        watched = sentinel.local("SENTINEL", "MASTER", name)
        if watched and not watched[0].startswith("ERR"):
            actions.append(f"stop watching {name} (this host left it)")
            if not module.check_mode:
                reply = sentinel.local("SENTINEL", "REMOVE", name)
                if reply != ["OK"]:
                    module.fail_json(msg=f"SENTINEL REMOVE {name}: {' '.join(reply)[:200]}")
    for monitor in p["monitors"]:
        name = monitor["name"]
        shown = sentinel.local("SENTINEL", "MASTER", name)
        wanted = {k: str(monitor[k]) for k in SETTINGS}
        if shown and shown[0].startswith("ERR"):
            agreed = agreed_primary(sentinel, monitor)
            address, port = agreed or (monitor["primary"]["address"], monitor["primary"]["port"])
            source = "as the group's Sentinels see it" if agreed else "the bootstrap primary"
            actions.append(f"monitor {name} at {address}:{port} ({source})")
            if not module.check_mode:
                for words in (
                    ("SENTINEL", "MONITOR", name, address, port, wanted["quorum"]),
                    ("SENTINEL", "SET", name, "auth-user", monitor["auth-user"],
                     "auth-pass", p["auth_pass"]),
                    ("SENTINEL", "SET", name,
                     *(w for k in SETTINGS if k != "quorum" for w in (k, wanted[k]))),
                ):  # fmt: skip
                    reply = sentinel.local(*words)
                    if reply != ["OK"]:
                        module.fail_json(
                            msg=f"SENTINEL {words[1]} {name}: {' '.join(reply)[:200]}",
                            actions=actions,
                        )
        else:
            current = _pairs(shown)
            stale = _stale(current, monitor)
            if stale:
                # A node or Sentinel the group no longer has (a host that left it, a
                # Sentinel switched off): Sentinel keeps counting it until told to
                # forget; RESET makes it learn the group afresh from the primary.
                actions.append(f"reset {name}: {stale}")
                if not module.check_mode:
                    reply = sentinel.local("SENTINEL", "RESET", name)
                    if reply != ["1"]:
                        module.fail_json(msg=f"SENTINEL RESET {name}: {' '.join(reply)[:200]}")
            differ = {k: v for k, v in wanted.items() if current.get(k) != v}
            if differ:
                actions.append(
                    f"set {name}: "
                    + ", ".join(f"{k} {current.get(k)} -> {v}" for k, v in sorted(differ.items()))
                )
                if not module.check_mode:
                    reply = sentinel.local(
                        "SENTINEL", "SET", name, *(w for k, v in differ.items() for w in (k, v))
                    )
                    if reply != ["OK"]:
                        module.fail_json(msg=f"SENTINEL SET {name}: {' '.join(reply)[:200]}")
        if not module.check_mode:
            addr = sentinel.local("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
            primaries[name] = ":".join(addr) if len(addr) == 2 else ""
    waiting = [] if module.check_mode else list(p["monitors"])
    deadline = time.monotonic() + p["settle"]
    while waiting:
        waiting = [m for m in waiting if not whole(sentinel, m)]
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    module.exit_json(
        changed=bool(actions),
        actions=actions,
        primaries=primaries,
        unsettled=[m["name"] for m in waiting],
    )


if __name__ == "__main__":
    main()
