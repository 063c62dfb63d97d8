"""Build the role as a versioned artifact that ansible-galaxy installs.

``redis-tuned-role-artifact [--out DIR]`` writes ``DIR/redis_tuned-<version>.tar.gz``
(default ``dist/``): ``roles/redis_tuned`` under a top directory ``redis_tuned``,
without caches, and a ``requirements.yml`` beside it that an Ansible project
installs it with::

    ansible-galaxy role install -r dist/requirements.yml -p roles

(or ``src: https://.../redis_tuned-<version>.tar.gz`` where the artifact is served).
The version is the project's (pyproject.toml), written into the role's
``meta/.galaxy_install_info`` by ansible-galaxy at install time.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tarfile
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
ROLE = PROJECT / "roles" / "redis_tuned"
SKIP = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def version() -> str:
    with open(PROJECT / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def build(out: Path) -> Path:
    """The artifact, reproducible: sorted members, fixed times and owners."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"redis_tuned-{version()}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(ROLE.rglob("*")):
            relative = path.relative_to(ROLE)
            if SKIP & set(relative.parts) or path.suffix == ".pyc":
                continue
            info = tar.gettarinfo(str(path), arcname=f"redis_tuned/{relative}")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if path.is_file():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    with gzip.GzipFile(target, "wb", mtime=0) as gz:
        gz.write(buffer.getvalue())
    (out / "requirements.yml").write_text(
        "---\n# ansible-galaxy role install -r requirements.yml -p roles\n"
        f"- src: file://{target.resolve()}\n  name: redis_tuned\n  version: {version()}\n"
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="redis-tuned-role-artifact", description=__doc__.split("\n\n")[0],
        epilog="example: redis-tuned-role-artifact --out dist   (what make role-artifact runs)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=PROJECT / "dist", help="default: dist/")
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
