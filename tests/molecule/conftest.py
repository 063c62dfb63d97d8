"""Helpers for the testinfra checks that molecule's verify stage runs on each container."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra
import yaml

PROJECT = Path(__file__).resolve().parents[2]
ROLE = PROJECT / "roles" / "redis_tuned"
for _path in (str(ROLE / "files"), str(ROLE / "lib")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from redis_tuned_plan import layout  # noqa: E402

# tests/scenario.py: the tests' own runs of the role.
from scenario import run_site  # noqa: E402,F401

SCENARIO = yaml.safe_load((PROJECT / "molecule" / "default" / "molecule.yml").read_text())
# The containers of the scenario, by inventory name (molecule.yml's platforms).
SCENARIO_HOSTS = [p["name"] for p in SCENARIO["platforms"]]


@dataclass(frozen=True)
class Flavour:
    """A container's server flavour (molecule.yml: its redis_tuned_server), and where
    that flavour's things are, from the role's own layout table."""

    name: str

    def __getattr__(self, key: str) -> str:  # cli, server, user, group, config_dir, ...
        entry = layout.entry(object.__getattribute__(self, "name"))
        if key in entry:
            return entry[key]
        raise AttributeError(key)

    def unit(self, instance: str) -> str:
        """The instance's unit, without .service (as `systemctl` and testinfra take it)."""
        return layout.unit(instance, self.name).removesuffix(".service")

    def path(self, instance: str, what: str) -> str:
        """conf, acl, dropin, ... of an instance (layout.instance_paths)."""
        return layout.instance_paths(instance, self.name)[what]

    def data(self, instance: str) -> str:
        return layout.data_dir(instance, {}, {}, self.name)

    def log(self, instance: str) -> str:
        return layout.default_logfile(instance, self.name)

    @property
    def admin_secret(self) -> str:
        return f"{self.own_dir}/admin.secret"

    @property
    def exporter_secret(self) -> str:
        return f"{self.own_dir}/exporter.secret"

    @property
    def ca(self) -> str:
        return f"{self.own_dir}/tls/ca.crt"


def flavour_of(host_or_name: object) -> Flavour:
    """The flavour of a container, by inventory name or testinfra host."""
    name = (
        host_or_name if isinstance(host_or_name, str) else str(host_or_name.backend.get_hostname())  # type: ignore[attr-defined]
    )
    host_vars = SCENARIO["provisioner"]["inventory"]["host_vars"].get(name) or {}
    return Flavour(str(host_vars.get("redis_tuned_server") or layout.DEFAULT))


# The Redis flavour's (the helpers below take each container's own).
ADMIN_SECRET = Flavour("redis").admin_secret
CA = Flavour("redis").ca
# Ports where an instance speaks TLS only (molecule.yml: "shared").
TLS_ONLY_PORTS = {6391}


# molecule.yml binds "shared" to the container's network address only: in the
# container, redis-cli reaches it there (the shell expands this).
OWN_ADDRESS = "$(hostname -I | awk '{print $1}')"


def address_of(host_name: str) -> str:
    """A container's network address, as prepare.yml noted it."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ssh" / f"{host_name}.address"
    return path.read_text().strip()


def conn(port: int, peer: str | None = None, ca: str = CA) -> str:
    """redis-cli's connection flags for a port: TLS with the CA (``ca``: where the
    running container keeps it) where the port is TLS-only ("shared", on the
    container's address); ``peer`` connects to another container by its name."""
    if port not in TLS_ONLY_PORTS:
        return (f"-h {peer} " if peer else "") + f"-p {port}"
    return f'--tls --cacert {ca} -h "{peer or OWN_ADDRESS}" -p {port}'


def cli(host, port: int, peer: str | None = None, user: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """The container's own command-line client (redis-cli, valkey-cli) with its
    connection flags for a port (``peer``: another container, by name) and, for
    ``user``, the login (the password from $REDISCLI_AUTH, which valkey-cli reads too)."""
    f = flavour_of(host)
    login = f"--no-auth-warning --user {user} " if user else ""
    return f"{f.cli} {login}{conn(port, peer, f.ca)}"


def redis_cli(host, name: str, port: int, *args: str):  # type: ignore[no-untyped-def]
    """Run the server's CLI on the container as the role's own ACL user.

    Its password goes through REDISCLI_AUTH (valkey-cli reads it too), read inside
    the container, so it is never on a command line.
    """
    cmd = (
        f'REDISCLI_AUTH="$(cat {flavour_of(host).admin_secret})" '
        f"{cli(host, port, user='redis-tuned')} " + " ".join(shlex.quote(a) for a in args)
    )
    return host.run(cmd)


def app_cli(host, port: int, password: str, *args: str, peer: str | None = None):  # type: ignore[no-untyped-def]
    """The CLI as the ACL user "app"; the password is piped in, never on a command line.

    ``peer``: run on ``host`` against the container of that name (a second machine).
    """
    cmd = "read -r REDISCLI_AUTH && export REDISCLI_AUTH && " + (
        f"{cli(host, port, peer, user='app')} " + " ".join(shlex.quote(a) for a in args)
    )
    return host.run(f"printf '%s\\n' {shlex.quote(password)} | sh -c {shlex.quote(cmd)}")


def scrape(host, url: str) -> str:  # type: ignore[no-untyped-def]
    """GET a metrics page from inside a container (python3 is in every image)."""
    code = (
        "import sys, urllib.request; "
        "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    )
    out = host.run(f"python3 -c {shlex.quote(code)} {shlex.quote(url)}")
    assert out.rc == 0, out.stderr
    return str(out.stdout)


def config_get(host, name: str, port: int, directive: str) -> str:  # type: ignore[no-untyped-def]
    """The live value of one directive, from CONFIG GET."""
    out = redis_cli(host, name, port, "--raw", "CONFIG", "GET", directive)
    assert out.rc == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == directive, f"CONFIG GET {directive} answered {out.stdout!r}"
    return lines[1] if len(lines) > 1 else ""


def host_names() -> list[str]:
    """Every container of the scenario, by inventory name."""
    with open(os.environ["MOLECULE_INVENTORY_FILE"]) as f:
        inventory = yaml.safe_load(f)
    return sorted(inventory["redis"]["hosts"])


@pytest.fixture
def host_name(_testinfra_host) -> str:  # type: ignore[no-untyped-def]
    """The inventory name of the container under test."""
    return str(_testinfra_host.backend.get_hostname())


def peer_of(host_name: str) -> str:
    """Another container of the scenario: a second machine on the same network."""
    return next(n for n in host_names() if n != host_name)


@pytest.fixture
def peer_name(host_name: str) -> str:
    return peer_of(host_name)


@pytest.fixture
def peer(peer_name: str):  # type: ignore[no-untyped-def]
    """The other container, through podman exec."""
    return testinfra.get_host(f"podman://{peer_name}")


@pytest.fixture
def host(host_name: str):  # type: ignore[no-untyped-def]
    """The container through `podman exec`.

    testinfra's ansible backend does not know the containers.podman connection
    and would run every command through a whole ansible invocation (seconds
    each); podman exec takes milliseconds.
    """
    return testinfra.get_host(f"podman://{host_name}")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Figures, not a test: how often each instance's redis-server started across
    the verify stage (converge's start included), from its own log ("Redis is
    starting"), per container: what the live apply saves in restarts."""
    try:
        names = host_names()
    except (KeyError, OSError):
        return
    terminalreporter.section("server starts per instance (log: '<Redis|Valkey> is starting')")
    for name in names:
        host = testinfra.get_host(f"podman://{name}")
        f = flavour_of(name)
        counts = {}
        for instance in ("main", "cache", "shared"):
            out = host.run(f"grep -c '{f.title} is starting' {f.log(instance)}")
            counts[instance] = out.stdout.strip() or "?"
        terminalreporter.write_line(f"{name}: {counts}")


@pytest.fixture
def flavour(host_name: str) -> Flavour:
    """The server flavour of the container under test."""
    return flavour_of(host_name)
