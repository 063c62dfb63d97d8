"""Build the Debian base images that molecule and the demo host run on.

No image registry is reachable from the machines this project runs on, so the
images are built from Debian's archive with debootstrap and imported into
podman. An image that already exists is reused unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

MIRROR = "http://deb.debian.org/debian"
# What the role and its tests need before Ansible can manage the container:
# systemd as PID 1, Python for the modules, python3-apt for the apt module,
# procps/iproute2 for testinfra's process and socket checks, sudo for become.
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
)


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


def image_exists(name: str) -> bool:
    """True when podman already holds an image called ``name``."""
    result = subprocess.run(["podman", "image", "exists", name], check=False, capture_output=True)
    return result.returncode == 0


def build(image: Image) -> None:
    """Debootstrap ``image.suite`` into a scratch folder and import it into podman."""
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="redis-tuned-rootfs-") as rootfs:
        debootstrap = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            image.suite,
            rootfs,
            MIRROR,
        ]
        proc = subprocess.run(debootstrap, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise BuildError(f"debootstrap {image.suite} failed: {' | '.join(tail)}")
        # A minimal systemd container: no getty on a console nobody reads.
        subprocess.run(
            [
                "chroot",
                rootfs,
                "systemctl",
                "mask",
                "getty@tty1.service",
                "console-getty.service",
                "systemd-remount-fs.service",
            ],
            check=False,
            capture_output=True,
        )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "import", "--change", 'CMD ["/lib/systemd/systemd"]', "-", image.name],
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
    parser = argparse.ArgumentParser(prog="redis-tuned-images", description=__doc__)
    parser.add_argument(
        "images", nargs="*", default=[], help=f"images to build: {', '.join(IMAGES)} (default: all)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild images that exist")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.images) - set(IMAGES))
    if unknown:
        parser.error(f"unknown image {', '.join(unknown)}; choose from {', '.join(IMAGES)}")
    for key in args.images or list(IMAGES):
        image = IMAGES[key]
        if image_exists(image.name) and not args.force:
            print(f"{image.name}: exists, reused")
            continue
        print(f"{image.name}: building from Debian {image.suite} ...", flush=True)
        try:
            build(image)
        except BuildError as exc:
            print(f"redis-tuned-images: {exc}", file=sys.stderr)
            return 2
        print(f"{image.name}: built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
