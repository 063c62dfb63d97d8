"""What the verification runs: the control node's command line for an instance
reachable from the network (client mode)."""

from __future__ import annotations

from typing import Any

from .addresses import tls_client_flags
from .values import expect_args


def client_verify_argv(inst: dict[str, Any], control: dict[str, Any]) -> list[str]:
    """redis-tuned-verify in client mode against one instance, from the control
    node: as the role's read-only verify user (its password on stdin), over TLS
    with the CA on the control node where the instance has TLS, with the role's
    client certificate where the server asks for one, the exporter's URL where it
    has one, and what the instance's config says. ``control``: python, ca_file,
    client_cert_file, client_key_file, latency_p99_ms (the control node's paths
    and budget)."""
    remote = inst["remote"]
    argv = [
        str(control["python"]), "-m", "redis_tuned_tools.verify",
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
    return argv + expect_args(inst["config"])
