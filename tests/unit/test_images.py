"""The image builder takes its Debian archive from apt's configuration, not a fixed address."""

from __future__ import annotations

from pathlib import Path

import pytest

from redis_tuned_dev import images


def apt_dir(tmp_path: Path, sources_list: str = "", **parts: str) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        (tmp_path / "sources.list.d" / name.replace("_", ".")).write_text(text)
    return tmp_path


def test_deb822_sources_skip_security_disabled_and_source_only_entries(tmp_path: Path) -> None:
    d = apt_dir(
        tmp_path,
        a_sources=(
            "Types: deb\nURIs: http://security.example/debian-security\n"
            "Suites: bookworm-security\nComponents: main\n\n"
            "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
            "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n\n"
            "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\n"
            "Suites: bookworm bookworm-updates\nComponents: main\n"
        ),
    )
    assert images.debian_mirror(d, environ={}) == "http://mirror.example/debian"


def test_one_line_sources_list_with_options(tmp_path: Path) -> None:
    d = apt_dir(
        tmp_path,
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian trixie main\n",
    )
    assert images.debian_mirror(d, environ={}) == "http://one.example/debian"


def test_the_environment_wins_and_no_source_is_a_clear_error(tmp_path: Path) -> None:
    d = apt_dir(tmp_path)
    env = {images.MIRROR_ENV: "http://override.example/debian"}
    assert images.debian_mirror(d, environ=env) == "http://override.example/debian"
    with pytest.raises(images.BuildError, match="REDIS_TUNED_DEBIAN_MIRROR or pass --mirror"):
        images.debian_mirror(d, environ={})
