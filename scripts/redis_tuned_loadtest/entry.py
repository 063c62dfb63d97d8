"""The console script's entry: without the ``loadtest`` extra (Django, Channels,
uvicorn, websockets...) one line says what to install, not a traceback."""

from __future__ import annotations

import importlib.util
import sys

# What the load test runs and drives: the loadtest extra of pyproject.toml.
NEEDS = {
    "django": "django",
    "channels": "channels",
    "channels_redis": "channels-redis",
    "django_redis": "django-redis",
    "uvicorn": "uvicorn",
    "websockets": "websockets",
    "matplotlib": "matplotlib",
}


def missing() -> list[str]:
    return [
        package for module, package in NEEDS.items() if importlib.util.find_spec(module) is None
    ]


def main(argv: list[str] | None = None) -> int:
    absent = missing()
    if absent:
        sys.stderr.write(
            f"redis-tuned-loadtest: needs the loadtest extra (missing: {', '.join(absent)}): "
            "pip install 'redis-tuned-tools[loadtest]'\n"
        )
        return 2
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["capacity"]:
        from redis_tuned_loadtest.capacity import main as study

        return study(given[1:])
    from redis_tuned_loadtest.cli import main as run

    return run(given)
