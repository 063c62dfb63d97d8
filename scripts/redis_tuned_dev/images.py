"""Build the Debian base images that molecule and the demo host run on.

No image registry is reachable from the machines this project runs on, so the
images are built from Debian's archive with debootstrap and imported into
podman. An image that already exists is reused unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The Debian archive the images are built from: this machine's own (its apt
# sources), unless the environment or --mirror names another.
MIRROR_ENV = "REDIS_TUNED_DEBIAN_MIRROR"
APT_DIR = Path("/etc/apt")
# What the role and its tests need before Ansible can manage the container:
# systemd as PID 1, Python for the modules, python3-apt for the apt module,
# procps/iproute2 for testinfra's process and socket checks, sudo for become,
# openssh-server so that Ansible reaches the containers over SSH with
# pipelining, as operators run it (about twice as fast as podman exec).
PACKAGES = (
    "python3",
    "python3-apt",
    "systemd",
    "systemd-sysv",
    "dbus",
    "procps",
    "iproute2",
    "ca-certificates",
    "sudo",
    "openssh-server",
)
MASKED = ("getty@tty1.service", "console-getty.service", "systemd-remount-fs.service")
# An image is rebuilt when what it is made of changes: the recipe's hash is a label.
LABEL = "redis-tuned.recipe"


@dataclass(frozen=True)
class Image:
    """One base image: the podman name and the Debian suite it is built from."""

    name: str
    suite: str


IMAGES = {
    "debian12": Image("localhost/redis-tuned-debian12:latest", "bookworm"),
    "debian13": Image("localhost/redis-tuned-debian13:latest", "trixie"),
}


class BuildError(Exception):
    """A build step failed; the message says which."""


def _apt_entries(apt_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """(URI, suites) of every enabled binary ("deb") source in apt's configuration:
    one-line .list files and deb822 .sources files."""
    lists = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                rest = words[1:]
                if rest[0].startswith("["):  # options: deb [arch=amd64 ...] URI suite
                    while rest and not rest[0].endswith("]"):
                        rest = rest[1:]
                    rest = rest[1:]
                if len(rest) >= 2:
                    yield rest[0], [rest[1]]
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split()


def debian_mirror(apt_dir: Path = APT_DIR, environ: dict[str, str] | None = None) -> str:
    """The Debian archive to debootstrap from: $REDIS_TUNED_DEBIAN_MIRROR, else the
    first source of this machine's apt that serves a Debian release (not its
    security or updates suites). Raises BuildError when there is none."""
    env = os.environ if environ is None else environ
    if env.get(MIRROR_ENV):
        return env[MIRROR_ENV]
    for uri, suites in _apt_entries(apt_dir):
        releases = [s for s in suites if "-" not in s and "/" not in s]
        if releases and uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    raise BuildError(
        f"no Debian archive found in {apt_dir}/sources.list(.d): set {MIRROR_ENV} or pass --mirror"
    )


def recipe(image: Image) -> str:
    """A short hash of what goes into ``image`` (suite, packages, masked units)."""
    text = "\n".join([image.suite, *PACKAGES, *MASKED])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_current(image: Image) -> bool:
    """True when podman holds ``image`` built from the current recipe."""
    result = subprocess.run(
        [
            "podman",
            "image",
            "inspect",
            "--format",
            f'{{{{ index .Labels "{LABEL}" }}}}',
            image.name,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and result.stdout.strip() == recipe(image)


def build(image: Image, mirror: str) -> None:
    """Debootstrap ``image.suite`` from ``mirror`` into a scratch folder and import it."""
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="redis-tuned-rootfs-") as rootfs:
        debootstrap = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            image.suite,
            rootfs,
            mirror,
        ]
        proc = subprocess.run(debootstrap, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise BuildError(f"debootstrap {image.suite} failed: {' | '.join(tail)}")
        # A minimal systemd container: no getty on a console nobody reads.
        subprocess.run(
            ["chroot", rootfs, "systemctl", "mask", *MASKED],
            check=False,
            capture_output=True,
        )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [
                "podman",
                "import",
                "--change",
                'CMD ["/lib/systemd/systemd"]',
                "--change",
                f"LABEL {LABEL}={recipe(image)}",
                "-",
                image.name,
            ],
            stdin=tar.stdout,
            check=False,
            capture_output=True,
            text=True,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise BuildError(f"podman import of {image.name} failed: {imported.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    """Build the images named on the command line (default: all)."""
    parser = argparse.ArgumentParser(
        prog="redis-tuned-images", description=__doc__,
        epilog="example: redis-tuned-images debian12 debian13   (what make images runs)",
    )  # fmt: skip
    parser.add_argument(
        "images", nargs="*", default=[], help=f"images to build: {', '.join(IMAGES)} (default: all)"
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild images that exist (default: reuse them)"
    )
    parser.add_argument(
        "--mirror", help=f"Debian archive URL (default: ${MIRROR_ENV}, else this machine's apt)"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.images) - set(IMAGES))
    if unknown:
        parser.error(f"unknown image {', '.join(unknown)}; choose from {', '.join(IMAGES)}")
    for key in args.images or list(IMAGES):
        image = IMAGES[key]
        if image_current(image) and not args.force:
            print(f"{image.name}: exists, reused")
            continue
        try:
            mirror = args.mirror or debian_mirror()
            print(f"{image.name}: building from Debian {image.suite} at {mirror} ...", flush=True)
            build(image, mirror)
        except BuildError as exc:
            print(f"redis-tuned-images: {exc}", file=sys.stderr)
            return 2
        print(f"{image.name}: built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
