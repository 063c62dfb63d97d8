"""The role's own modules (roles/redis_tuned/library), run as Ansible runs them:
a Python process given its arguments in a file, answering in JSON."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from support import run_module as run

LIBRARY = Path(__file__).resolve().parents[2] / "roles" / "redis_tuned" / "library"
ROOT = os.geteuid() == 0
me = {"owner": "root", "group": "root"} if ROOT else {}


def spec(path: Path, content: str, mode: str = "0640", **extra: Any) -> dict[str, Any]:
    owner = {"owner": "root", "group": "root"} if ROOT else _mine()
    return {"path": str(path), "content": content, "mode": mode, **owner, **extra}


def _mine() -> dict[str, str]:
    import grp
    import pwd

    return {"owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}


def test_files_writes_only_what_differs_and_says_what_it_changed(tmp_path: Path) -> None:
    conf, other = tmp_path / "a.conf", tmp_path / "b.conf"
    other.write_text("same\n")
    os.chmod(other, 0o600)
    first = run("redis_tuned_files", tmp_path, files=[spec(conf, "x 1\n"), spec(other, "same\n")])
    assert first["changed"] is True
    assert first["changed_paths"] == [str(conf), str(other)]  # other: mode only
    assert conf.read_text() == "x 1\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert stat.S_IMODE(other.stat().st_mode) == 0o640
    assert first["diff"][0]["after"] == "x 1\n"
    again = run("redis_tuned_files", tmp_path, files=[spec(conf, "x 1\n"), spec(other, "same\n")])
    assert again["changed"] is False and again["changed_paths"] == []


def test_files_refused_candidate_leaves_the_live_file_and_the_others_are_written(
    tmp_path: Path,
) -> None:
    """As the looped template task did: every file is handled, the refused one
    fails the task with the checker's words and stays as it was."""
    bad, good = tmp_path / "bad.conf", tmp_path / "good.conf"
    bad.write_text("old\n")
    check = "sh -c 'grep -q ^ok %s || { echo Bad directive here >&2; exit 1; }'"
    result = run(
        "redis_tuned_files",
        tmp_path,
        files=[spec(bad, "nonsense\n", validate=check), spec(good, "ok\n", validate=check)],
    )
    assert result.get("failed") is True
    assert f"{bad} was refused, left as it was: Bad directive here" in result["msg"]
    assert bad.read_text() == "old\n"
    assert good.read_text() == "ok\n"
    assert result["changed_paths"] == [str(good)]
    assert sorted(os.listdir(tmp_path)) == ["args.json", "bad.conf", "good.conf"]  # no leftovers


def test_files_check_mode_changes_nothing_and_shows_the_diff(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("timeout 120\n")
    gone = tmp_path / "old.service"
    gone.write_text("x\n")
    result = run(
        "redis_tuned_files",
        tmp_path,
        check=True,
        directories=[{"path": str(tmp_path / "d"), "mode": "0750", **(me or _mine())}],
        files=[spec(conf, "timeout 123\n", validate="false %s")],
        absent=[str(gone)],
    )
    assert result["changed"] is True
    assert result["changed_paths"] == [str(tmp_path / "d"), str(conf), str(gone)]
    assert conf.read_text() == "timeout 120\n" and gone.exists()
    assert not (tmp_path / "d").exists()
    diff = result["diff"][1]
    assert (diff["before"], diff["after"]) == ("timeout 120\n", "timeout 123\n")


def test_files_secret_content_is_never_in_the_output(tmp_path: Path) -> None:
    secret = "s3cr3t-value-never-shown"
    path = tmp_path / "pw.json"
    path.write_text(f'{{"old": "{secret}-old"}}\n')
    result = run(
        "redis_tuned_files", tmp_path, secrets=[spec(path, f'{{"a": "{secret}"}}\n', "0600")]
    )
    assert result["changed_paths"] == [str(path)]
    assert secret not in result["_raw"]
    assert result["diff"][0]["after"] == "(secret, not shown; changed)\n"
    assert path.read_text() == f'{{"a": "{secret}"}}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_files_unknown_owner_fails_with_its_name_outside_check_mode(tmp_path: Path) -> None:
    nobody = {"path": str(tmp_path / "x"), "content": "x", "mode": "0600"}
    nobody |= {"owner": "no-such-user-rt", "group": "no-such-user-rt"}
    result = run("redis_tuned_files", tmp_path, files=[nobody])
    assert result["failed"] and "no-such-user-rt" in result["msg"]
    would = run("redis_tuned_files", tmp_path, check=True, files=[nobody])
    assert would["changed_paths"] == [str(tmp_path / "x")] and not would.get("failed")


def test_probe_reads_kernel_files_times_and_users(tmp_path: Path) -> None:
    knob = tmp_path / "somaxconn"
    knob.write_text("4096\n")
    result = run(
        "redis_tuned_probe",
        tmp_path,
        kernel_paths=[str(knob), str(tmp_path / "missing")],
        paths=[str(knob), str(tmp_path / "missing")],
        users=["root", "no-such-user-rt"],
    )
    assert result["changed"] is False
    assert result["kernel"][str(knob)] == {"writable": True, "value": "4096"}
    assert result["kernel"][str(tmp_path / "missing")] == {"writable": False, "value": ""}
    assert result["mtimes"] == {str(knob): pytest.approx(knob.stat().st_mtime, abs=1e-3)}
    assert result["users"]["root"]["exists"] is True
    assert result["users"]["no-such-user-rt"] == {"exists": False, "groups": []}


def test_own_secrets_are_made_once_0600_and_not_in_check_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "admin.secret"
    would = run("redis_tuned_files", tmp_path, check=True, own_secrets=[str(path)])
    assert would["changed_paths"] == [str(path)] and not path.exists()
    made = run("redis_tuned_files", tmp_path, own_secrets=[str(path)])
    value = path.read_text()
    assert made["changed_paths"] == [str(path)] and len(value) == 48 and value.isalnum()
    assert value not in made["_raw"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = run("redis_tuned_files", tmp_path, own_secrets=[str(path)])
    assert kept["changed"] is False and path.read_text() == value
    read = run("redis_tuned_secrets", tmp_path, paths=[str(path), str(tmp_path / "none")])
    assert read["changed"] is False and read["secrets"] == [value, ""]


def test_own_secrets_are_filled_in_on_the_host_never_shown(tmp_path: Path) -> None:
    """The role's own passwords never reach the control node: a hidden file names
    one by path, the module fills in the password or its SHA-256 before it compares."""
    import hashlib

    secret = tmp_path / "exporter.secret"
    acl, pwfile = tmp_path / "redis-main.acl", tmp_path / "exporter.json"
    content = f"user e on #@@redis_tuned_secret_sha256:{secret}@@ +info\n"
    files = [
        spec(acl, content, show="users"),
        spec(pwfile, f'{{"redis://h": "@@redis_tuned_secret:{secret}@@"}}\n', "0600"),
    ]
    first = run("redis_tuned_files", tmp_path, own_secrets=[str(secret)], secrets=files)
    value = secret.read_text()
    digest = hashlib.sha256(value.encode()).hexdigest()
    assert acl.read_text() == f"user e on #{digest} +info\n"
    assert pwfile.read_text() == f'{{"redis://h": "{value}"}}\n'
    assert value not in first["_raw"] and digest not in first["_raw"]
    again = run("redis_tuned_files", tmp_path, own_secrets=[str(secret)], secrets=files)
    assert again["changed"] is False
    # A file whose content is shown may not name one; nor may a path that is not one.
    shown = run(
        "redis_tuned_files", tmp_path, own_secrets=[str(secret)],
        files=[spec(tmp_path / "x.conf", f"a @@redis_tuned_secret:{secret}@@\n")],
    )  # fmt: skip
    assert shown["failed"] and "names a secret" in shown["msg"]
    assert not (tmp_path / "x.conf").exists()
    other = run(
        "redis_tuned_files", tmp_path, own_secrets=[str(secret)],
        secrets=[spec(tmp_path / "y", "@@redis_tuned_secret:/etc/shadow@@\n", show="secret")],
    )  # fmt: skip
    assert other["failed"] and "not one of the role's own secrets" in other["msg"]


def test_files_shown_by_size_names_the_file_not_its_content(tmp_path: Path) -> None:
    path = tmp_path / "tool.py"
    result = run("redis_tuned_files", tmp_path, secrets=[spec(path, "CODE\n", show="size")])
    assert result["changed_paths"] == [str(path)]
    assert result["diff"][0]["after"] == "(content not shown; 5 bytes)\n"
    assert "CODE" not in result["_raw"]  # the module's echo of its arguments included


def test_an_acl_file_diff_names_the_users_never_their_hashes(tmp_path: Path) -> None:
    """An ACL line holds the unsalted SHA-256 of a password: a diff (and -vvv's echo
    of the module's arguments) says which users changed, not the lines (issue 18 #3)."""
    import hashlib

    def line(user: str, password: str) -> str:
        return f"user {user} on #{hashlib.sha256(password.encode()).hexdigest()} ~* +@all\n"

    path = tmp_path / "redis-main.acl"
    path.write_text(line("app", "old-pw") + line("gone", "x") + line("same", "y"))
    new = line("app", "rotated-pw") + line("same", "y") + line("added", "z")
    result = run("redis_tuned_files", tmp_path, secrets=[spec(path, new, show="users")])
    assert result["changed_paths"] == [str(path)]
    assert result["diff"][0]["after"] == (
        "ACL users added: added; removed: gone; changed: app "
        "(lines not shown: they hold password hashes)\n"
    )
    for pw in ("old-pw", "rotated-pw", "x", "y", "z"):
        assert hashlib.sha256(pw.encode()).hexdigest() not in result["_raw"]
    assert path.read_text() == new


@pytest.mark.skipif(not ROOT, reason="chown to root needs root")
def test_own_secrets_are_root_root_in_a_setgid_directory(tmp_path: Path) -> None:
    """/etc/redis is setgid redis: a file made in it would inherit the group."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 0, 1)  # group daemon (1), like redis on /etc/redis
    os.chmod(shared, 0o2770)
    path = shared / "admin.secret"
    made = run("redis_tuned_files", tmp_path, own_secrets=[str(path)])
    st = path.stat()
    value = path.read_text()
    assert made["changed"] is True
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o600)
    os.chown(path, 0, 1)
    fixed = run("redis_tuned_files", tmp_path, own_secrets=[str(path)])
    assert fixed["changed"] is True and path.stat().st_gid == 0
    assert path.read_text() == value


def test_files_and_secrets_are_written_in_the_order_listed(tmp_path: Path) -> None:
    """The checker is written before the hidden files it validates (an ACL file is
    hidden now): order, not kind, decides."""
    checker = tmp_path / "check"
    acl = tmp_path / "redis.acl"
    result = run(
        "redis_tuned_files",
        tmp_path,
        files=[spec(checker, "#!/bin/sh\ngrep -q '^user ' \"$1\"\n", "0755", order=0)],
        secrets=[spec(acl, "user a on nopass\n", validate=f"{checker} %s", show="users", order=1)],
    )
    assert not result.get("failed"), result.get("msg")
    assert result["changed_paths"] == [str(checker), str(acl)]


def test_a_directory_that_is_a_link_to_one_is_left_as_the_operator_made_it(
    tmp_path: Path,
) -> None:
    """A data dir under a symlink (issue 18 #11): neither the link nor its target is
    chowned or chmodded, and nothing is reported changed, run after run."""
    target = tmp_path / "real"
    target.mkdir(mode=0o755)
    link = tmp_path / "link"
    link.symlink_to(target)
    entry = {
        "path": str(link),
        "mode": "0750",
        **({"owner": "root", "group": "root"} if ROOT else _mine()),
    }
    result = run("redis_tuned_files", tmp_path, directories=[entry])
    assert result["changed"] is False and result["changed_paths"] == []
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_files_reads_back_what_redis_makes_of_each_config_it_wrote(tmp_path: Path) -> None:
    """The dump of the running instances' configs comes with the write (one call),
    kept in a cache keyed by each file's content, so an unchanged host starts no
    throwaway server."""
    checker = LIBRARY.parent / "files" / "check-config"
    data = tmp_path / "data"
    data.mkdir()
    conf, other = tmp_path / "redis-a.conf", tmp_path / "redis-b.conf"
    other.write_text(f"dir {data}\n")
    other.chmod(0o640)
    entries = [spec(conf, f"dir {data}\nhz 20\n"), spec(other, f"dir {data}\n")]
    dump = {"checker": str(checker), "confs": [str(conf), str(other)]}
    result = run("redis_tuned_files", tmp_path, files=entries, dump=dump)
    assert result["changed_paths"] == [str(conf)]
    assert f"#redis-tuned-dump {conf} " in result["dump"]
    assert "\nhz\n20\n" in result["dump"]
    # Kept: the next call (nothing changed) reads both from the cache, no server.
    cache = tmp_path / "cache"
    cache.mkdir()
    kept = run("redis_tuned_files", tmp_path, files=entries, dump={**dump, "cache": str(cache)})
    assert sorted(p.name for p in cache.iterdir()) == ["redis-a.conf.dump", "redis-b.conf.dump"]
    again = run("redis_tuned_files", tmp_path, files=entries, dump={**dump, "cache": str(cache)})
    assert again["changed_paths"] == [] and "\nhz\n20\n" in again["dump"]
    assert again["dump"].count("#redis-tuned-dump") == kept["dump"].count("#redis-tuned-dump") == 2
    conf.write_text(f"dir {data}\nhz 30\n")  # changed behind the cache's back: dumped afresh
    fresh = run("redis_tuned_files", tmp_path, files=[spec(conf, f"dir {data}\nhz 30\n")],
                dump={**dump, "cache": str(cache)})  # fmt: skip
    assert "\nhz\n30\n" in fresh["dump"]


# --- issue 20: a replicated instance's config is the server's too -----------------


def replica_files(tmp_path: Path, render: str) -> list[dict[str, Any]]:
    """The replication password from the control node, then a config naming it."""
    secret = tmp_path / "replication.secret"
    conf = tmp_path / "redis-channels.conf"
    return [
        {**spec(secret, "replication-password-value\n", "0600"), "show": "secret",
         "register": True},
        {**spec(conf, render), "show": "redacted", "runtime": ["replicaof", "slaveof"],
         "initial": ["replicaof 10.0.0.11 6379"], "rendered": str(tmp_path / "state" / "r")},
    ]  # fmt: skip


RENDER = "maxmemory 64mb\nmasterauth @@redis_tuned_secret:{secret}@@\n"


def test_a_replicas_config_stands_as_the_server_rewrote_it_while_the_render_is_the_same(
    tmp_path: Path,
) -> None:
    """Sentinel rewrites a node's file on a failover (CONFIG REWRITE: its replicaof,
    its own spelling). The next run renders what it rendered before: the file stays
    as the server wrote it, nothing changes. A changed render is written, keeping the
    server's replicaof line; a new file gets the bootstrap one."""
    render = RENDER.format(secret=tmp_path / "replication.secret")
    conf = tmp_path / "redis-channels.conf"
    first = run("redis_tuned_files", tmp_path, secrets=replica_files(tmp_path, render))
    assert first["changed"] is True, first["_raw"]
    written = conf.read_text()
    assert "masterauth replication-password-value\n" in written
    assert written.endswith("replicaof 10.0.0.11 6379\n")
    # Every diff leaves the password out.
    assert "replication-password-value" not in json.dumps(first["diff"])
    assert "masterauth (secret)" in json.dumps(first["diff"])
    # Sentinel's failover: REPLICAOF elsewhere, CONFIG REWRITE.
    rewritten = (
        written.replace("maxmemory 64mb", "maxmemory 67108864").replace(
            "replicaof 10.0.0.11 6379", "replicaof 10.0.0.12 6379"
        )
        + "# Generated by CONFIG REWRITE\nlatency-tracking-info-percentiles 50 99 99.9\n"
    )
    conf.write_text(rewritten)
    again = run("redis_tuned_files", tmp_path, secrets=replica_files(tmp_path, render))
    assert again["changed"] is False and again["changed_paths"] == [], again["_raw"]
    assert conf.read_text() == rewritten
    # The role's own change: written, the server's primary kept (not the bootstrap one).
    changed = run("redis_tuned_files", tmp_path,
                  secrets=replica_files(tmp_path, render.replace("64mb", "96mb")))  # fmt: skip
    assert changed["changed_paths"] == [str(conf)]
    now = conf.read_text()
    assert "maxmemory 96mb\n" in now and "replicaof 10.0.0.12 6379\n" in now
    assert "10.0.0.11" not in now and "latency-tracking" not in now
    assert "replication-password-value" not in json.dumps(changed["diff"])


def test_a_config_that_names_a_secret_is_refused_unless_its_diff_is_redacted(
    tmp_path: Path,
) -> None:
    render = RENDER.format(secret=tmp_path / "replication.secret")
    secret_entry, conf_entry = replica_files(tmp_path, render)
    shown = {k: v for k, v in conf_entry.items() if k != "show"}
    refused = run("redis_tuned_files", tmp_path, secrets=[secret_entry], files=[shown])
    assert refused.get("failed") and "names a secret" in refused["msg"]
    assert not (tmp_path / "redis-channels.conf").exists()
