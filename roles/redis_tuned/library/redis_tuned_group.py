#!/usr/bin/python3
"""The rolling restart's steps on this host's nodes of replication groups
(playbooks/rolling-restart.yml), through the groups' Sentinels; it never restarts
anything itself (the role's tasks/restart.yml does).

``action``:

- ``check``: is each group this host is in healthy enough to lose one node for a
  moment? At a Sentinel of the group that answers: ``SENTINEL CKQUORUM``, the
  primary up and seen by every other Sentinel, every other node a replica linked
  to it; and this host's node itself: loaded, and linked where it is a replica.
  Returns ``problems`` (one line each, empty when healthy), ``roles`` (this host's
  nodes: master or slave) and ``primaries`` (per group, where its Sentinels say).
- ``roles``: ``roles`` alone.
- ``synced``: waits, bounded, until each node of ``names`` has loaded its data and,
  as a replica, is linked to its primary with no sync in progress.
- ``failover``: each node of ``names`` that is its group's primary hands the role
  over: its writes paused (``CLIENT PAUSE <pause_ms> WRITE``: nothing is written
  that the replica promoted would not have), ``SENTINEL FAILOVER``, then a wait
  until the Sentinels name another primary and this node is its linked replica,
  then its writes unpaused (they get -READONLY and the clients find the new one).

Every command goes to the server's command-line client on its standard input, the
passwords in its environment (the role's admin secret read here from its file).
"""

from __future__ import annotations

import os
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: redis_tuned_group
short_description: The rolling restart's steps on replication groups (redis_tuned)
description: See the module's docstring.
options:
  action: {type: str, required: true, choices: [check, roles, synced, failover]}
  cli: {type: str, required: true, description: redis-cli or valkey-cli}
  groups:
    type: list
    elements: dict
    default: []
    description: "The plan's groups this host is in: name, members (a list or a count), sentinels."
  nodes:
    type: dict
    default: {}
    description: "This host's nodes: instance name -> the client's arguments to reach it."
  names: {type: list, elements: str, default: [], description: "The nodes to act on."}
  admin_user: {type: str, required: true, description: The role's own user on the nodes.}
  admin_secret: {type: path, required: true, description: Its password's file on the host.}
  sentinel_password: {type: str, required: true, no_log: true}
  sentinel_tls: {type: list, elements: str, default: [], description: TLS flags for Sentinels.}
  pause_ms: {type: int, default: 10000, description: "CLIENT PAUSE WRITE; 0: none."}
  timeout: {type: int, default: 60, description: Seconds each wait may take.}
author: redis_tuned
"""


def _quoted(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _fields(lines: list[str]) -> dict[str, str]:
    """INFO's lines (key:value) as a dict."""
    rows = (ln.rstrip("\r") for ln in lines)
    return dict(ln.split(":", 1) for ln in rows if ":" in ln and not ln.startswith("#"))


class Group:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        with open(p["admin_secret"], encoding="utf-8") as f:
            self.admin_password = f.read().strip()

    def _run(self, argv: list[str], secret: str, words: tuple[Any, ...]) -> tuple[bool, list[str]]:
        rc, out, _ = self.module.run_command(
            [self.module.params["cli"], "--no-auth-warning", *argv],
            data=" ".join(_quoted(w) for w in words) + "\n",
            binary_data=True,
            environ_update={"REDISCLI_AUTH": secret},
        )
        text = (out or "").strip("\n")
        ok = rc == 0 and not text.startswith(("Could not connect", "AUTH failed", "NOAUTH"))
        return ok, text.split("\n") if text else []

    def node(self, name: str, *words: Any) -> list[str]:
        """A command at this host's node ``name``, as the role's own user."""
        argv = ["--user", self.module.params["admin_user"], *self.module.params["nodes"][name]]
        ok, lines = self._run(argv, self.admin_password, words)
        if not ok:
            self.module.fail_json(msg=f"{name}: the node does not answer ({' '.join(lines)[:160]})")
        return lines

    def at(self, sentinel: dict[str, Any], *words: Any) -> tuple[bool, list[str]]:
        """A command at one Sentinel: (answered, the reply)."""
        p = self.module.params
        address = str(sentinel["address"]).strip("[]")
        argv = [*p["sentinel_tls"], "-h", address, "-p", str(sentinel["port"])]
        return self._run(argv, p["sentinel_password"], words)

    def sentinel(self, group: dict[str, Any], *words: Any) -> tuple[str, list[str]]:
        """A command at the first Sentinel of ``group`` that answers: (it, the reply)."""
        for s in group.get("sentinels") or []:
            ok, lines = self.at(s, *words)
            if ok:
                return f"{s['address']}:{s['port']}", lines
        return "", []

    def info(self, name: str) -> dict[str, str]:
        return _fields(self.node(name, "INFO", "all"))


def _records(lines: list[str]) -> list[dict[str, str]]:
    """SENTINEL REPLICAS as the client prints it: one dict per replica."""
    records: list[dict[str, str]] = []
    for key, value in zip(lines[0::2], lines[1::2], strict=False):
        if key == "name" or not records:
            records.append({})
        records[-1][key] = value
    return records


def node_state(info: dict[str, str]) -> str:
    """What keeps a node from serving its part: "" when nothing."""
    if info.get("loading") == "1":
        return "still loading its data"
    if info.get("role") == "slave":
        if info.get("master_link_status") != "up":
            return f"a replica whose link to its primary is {info.get('master_link_status')}"
        if info.get("master_sync_in_progress") == "1":
            return "a replica still syncing from its primary"
    return ""


def check(g: Group) -> dict[str, Any]:
    problems, primaries = [], {}
    for group in g.module.params["groups"]:
        name = group["name"]
        # Every Sentinel asked itself: the others' view of one that is down lags by
        # down-after-milliseconds, and a restart must not start one short.
        seen = {}
        for s in group.get("sentinels") or []:
            ok, said = g.at(s, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
            where = f"{s['address']}:{s['port']}"
            if not ok or len(said) != 2:
                problems.append(f"{name}: the Sentinel at {where} does not answer for it")
            else:
                seen[where] = ":".join(said)
        if len(set(seen.values())) > 1:
            views = ", ".join(f"{w} says {a}" for w, a in seen.items())
            problems.append(f"{name}: its Sentinels disagree on the primary ({views})")
        at, quorum = g.sentinel(group, "SENTINEL", "CKQUORUM", name)
        if not at:
            problems.append(f"{name}: no Sentinel of the group answers")
            continue
        if not quorum or not quorum[0].startswith("OK"):
            problems.append(f"{name}: no quorum at {at}: {' '.join(quorum)[:160]}")
        _, master = g.sentinel(group, "SENTINEL", "MASTER", name)
        shown = dict(zip(master[0::2], master[1::2], strict=False))
        primaries[name] = f"{shown.get('ip')}:{shown.get('port')}"
        others = len(group.get("sentinels") or []) - 1
        if shown.get("flags") != "master":
            problems.append(f"{name}: its primary is {shown.get('flags')} as {at} sees it")
        if int(shown.get("num-other-sentinels") or 0) < others:
            problems.append(
                f"{name}: {at} sees {shown.get('num-other-sentinels')} other Sentinels of {others}"
            )
        _, replicas = g.sentinel(group, "SENTINEL", "REPLICAS", name)
        records = _records(replicas)
        linked = [
            r for r in records if r.get("flags") == "slave" and r.get("master-link-status") == "ok"
        ]
        members = group.get("members") or []
        want = (len(members) if isinstance(members, list) else int(members)) - 1
        if len(linked) < want:
            down = [f"{r.get('ip')}:{r.get('port')} {r.get('flags')}" for r in records]
            problems.append(
                f"{name}: {len(linked)} of {want} replicas linked to the primary as {at} sees "
                f"them ({', '.join(down) or 'none known'})"
            )
        if name in g.module.params["nodes"]:
            state = node_state(g.info(name))
            if state:
                problems.append(f"{name}: this host's node is {state}")
    return {"problems": problems, "primaries": primaries}


def roles(g: Group) -> dict[str, str]:
    return {name: g.info(name).get("role", "?") for name in sorted(g.module.params["nodes"])}


def wait_synced(g: Group, name: str) -> None:
    deadline = time.monotonic() + g.module.params["timeout"]
    while True:
        state = node_state(g.info(name))
        if not state:
            return
        if time.monotonic() > deadline:
            g.module.fail_json(
                msg=f"{name}: not in sync {g.module.params['timeout']} s after its restart: {state}"
            )
        time.sleep(0.5)


def failover(g: Group, name: str) -> str:
    """This host's node ``name`` hands its primary role over; the new primary."""
    p = g.module.params
    group = next(x for x in p["groups"] if x["name"] == name)
    if g.info(name).get("role") != "master":
        return ""
    _, old = g.sentinel(group, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
    if p["pause_ms"]:
        g.node(name, "CLIENT", "PAUSE", p["pause_ms"], "WRITE")
    at, said = g.sentinel(group, "SENTINEL", "FAILOVER", name)
    if said != ["OK"]:
        g.node(name, "CLIENT", "UNPAUSE")
        g.module.fail_json(msg=f"{name}: SENTINEL FAILOVER at {at}: {' '.join(said)[:160]}")
    deadline = time.monotonic() + p["timeout"]
    new: list[str] = old
    while True:
        _, new = g.sentinel(group, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
        info = g.info(name)
        if new and new != old and info.get("role") == "slave" and not node_state(info):
            break
        if time.monotonic() > deadline:
            g.node(name, "CLIENT", "UNPAUSE")
            g.module.fail_json(
                msg=f"{name}: not failed over {p['timeout']} s after SENTINEL FAILOVER (the "
                f"Sentinels name {':'.join(new)}; this node is {info.get('role')})"
            )
        time.sleep(0.2)
    if p["pause_ms"]:
        g.node(name, "CLIENT", "UNPAUSE")
    return ":".join(new)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "required": True,
                "choices": ["check", "roles", "synced", "failover"],
            },
            "cli": {"type": "str", "required": True},
            "groups": {"type": "list", "elements": "dict", "default": []},
            "nodes": {"type": "dict", "default": {}},
            "names": {"type": "list", "elements": "str", "default": []},
            "admin_user": {"type": "str", "required": True},
            "admin_secret": {"type": "path", "required": True},
            "sentinel_password": {"type": "str", "required": True, "no_log": True},
            "sentinel_tls": {"type": "list", "elements": "str", "default": []},
            "pause_ms": {"type": "int", "default": 10000},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not os.path.isfile(p["admin_secret"]):
        module.fail_json(msg=f"no admin secret at {p['admin_secret']}: run the role first")
    g = Group(module)
    action = p["action"]
    if action == "check":
        module.exit_json(changed=False, roles=roles(g), **check(g))
    if action == "roles":
        module.exit_json(changed=False, roles=roles(g))
    if module.check_mode:
        module.exit_json(changed=bool(p["names"]), done=[])
    if action == "synced":
        for name in p["names"]:
            wait_synced(g, name)
        module.exit_json(changed=False, done=list(p["names"]))
    moved = {name: failover(g, name) for name in p["names"]}
    module.exit_json(changed=any(moved.values()), primaries={n: a for n, a in moved.items() if a})


if __name__ == "__main__":
    main()
