"""What the verification runs and the control node keeps: the host-mode runs of a
host's instances and the client-mode command line for an instance reachable from
the network, each host's runs in one ``redis-tuned-verify --batch`` process; and
what the application side needs of each instance (for redis-tuned-clients settings)."""

from __future__ import annotations

from typing import Any

from .addresses import tls_client_flags
from .values import expect_args

VERIFY_MODULE = ("-m", "redis_tuned_tools.verify")


def host_verify_batch(instances: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """The ``--batch`` input of the host-mode verification of every instance on its
    host: each reads what the role expects and the password from the role's files
    there (no secret in it). ``options``: latency_p99_ms, accept_counters."""
    extra = ["--accept-counters"] if options.get("accept_counters") else []
    runs = [
        ["--instance", inst["name"], "--mode", "host",
         "--latency-p99-ms", str(options["latency_p99_ms"]), "--json", *extra]
        for inst in instances
    ]  # fmt: skip
    return {"runs": runs}


def client_verify_batch(instances: list[dict[str, Any]], control: dict[str, Any]) -> dict[str, Any]:
    """The control node's one process for a host's instances reachable from the
    network: ``argv`` (redis-tuned-verify --batch under the control node's python)
    and ``runs``, each instance's arguments (``client_verify_argv``); the password
    is added to the input by the task, never to an argument."""
    runs = [client_verify_argv(inst, control)[3:] for inst in instances if inst.get("remote")]
    return {"argv": [str(control["python"]), *VERIFY_MODULE, "--batch"], "runs": runs}


def client_verify_argv(inst: dict[str, Any], control: dict[str, Any]) -> list[str]:
    """redis-tuned-verify in client mode against one instance, from the control
    node: as the role's read-only verify user (its password on stdin), over TLS
    with the CA on the control node where the instance has TLS, with the role's
    client certificate where the server asks for one, the exporter's URL where it
    has one, and what the instance's config says. ``control``: python, ca_file,
    client_cert_file, client_key_file, latency_p99_ms (the control node's paths
    and budget), and the run's ``decision`` where the role ran (its pending restarts
    are left out of the expectations)."""
    remote = inst["remote"]
    argv = [
        str(control["python"]), *VERIFY_MODULE,
        "--host", str(remote["host"]), "--port", str(remote["port"]),
        "--password-file", "-", "--require-auth", "--user", str(remote["user"]),
    ]  # fmt: skip
    if remote["tls"]:
        # The control node's copies of the CA and the client certificate.
        wants_cert = bool((inst.get("tls") or {}).get("client_cert_file"))
        argv += tls_client_flags(
            control["ca_file"],
            control["client_cert_file"] if wants_cert else None,
            control["client_key_file"] if wants_cert else None,
        )
    if remote.get("exporter_url"):
        argv += ["--exporter-url", str(remote["exporter_url"])]
    argv += ["--mode", "client", "--json", "--latency-p99-ms", str(control["latency_p99_ms"])]
    # What waits for a restart (deferred, a node of a replication group) is not in
    # force yet: the host-mode check shows it as pending, this one leaves it out.
    waits = set(waiting_restarts(control.get("decision")).get(inst["name"]) or [])
    return argv + expect_args({k: v for k, v in inst["config"].items() if k not in waits})


def waiting_restarts(decision: dict[str, Any] | None) -> dict[str, list[str]]:
    """The run's decision (decide), if any: each instance's restart reasons that this
    run did not carry out."""
    decision = decision or {}
    done = set(decision.get("restart") or [])
    why = decision.get("restart_why") or {}
    return {name: list(reasons) for name, reasons in why.items() if name not in done}


def client_view(inst: dict[str, Any], ca_file: str) -> dict[str, Any]:
    """What an application needs of an instance, in the expectations format that
    ``redis-tuned-clients settings --expect-file`` reads, no secret: the address it
    dials (the network one, else loopback), its plain and TLS ports, the CA as the
    control node has it, whether it asks for a password, maxclients and timeout; for
    a node of a replication group, its master name and Sentinels."""
    remote = inst.get("remote") or {}
    view: dict[str, Any] = {
        "managed_by": "redis_tuned",
        "name": inst["name"],
        "host": remote.get("host") or inst["local"]["host"],
        "port": inst["plain_port"],
        "requires_auth": inst["requires_auth"],
        "config": {k: inst["config"][k] for k in ("maxclients", "timeout") if k in inst["config"]},
    }
    if inst.get("tls"):
        view["tls"] = {"port": inst["tls"]["port"], "ca_file": ca_file}
    replication = inst.get("replication")
    if isinstance(replication, dict):
        # One node of a replication group: clients find its primary through Sentinel.
        view["sentinel"] = {
            "master_name": replication["group"],
            "sentinels": [[s["address"], s["port"]] for s in replication["sentinels"]],
        }
    return view
