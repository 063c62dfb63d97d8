#!/usr/bin/python3
"""Write every directory and file of the redis_tuned role in one call.

Called by the action plugin of the same name, which renders the templates on
the control node. Per file: the content is compared with what is on disk; a
changed file is written to a temporary file beside it, given its owner and
mode, checked by its ``validate`` command (``%s`` is the candidate) and only
then renamed over the live file, so a file Redis refuses never goes live. A
refused file fails the task after every other file was handled (as a looped
template task does), naming the file and quoting the checker. Owner and mode
are corrected in place when only they differ. ``secrets`` are files whose
content is never shown (no diff, no_log). ``absent`` paths are removed (a
directory only when nothing else is left in it).

The role's own passwords (``own_secrets``: its admin, exporter and verify
users') are made here, on the host, once: 48 letters and digits from the
system's CSPRNG, 0600 root:root. They never leave the host: a hidden file's
content names one as ``@@redis_tuned_secret:PATH@@`` (the password) or
``@@redis_tuned_secret_sha256:PATH@@`` (its SHA-256, as an ACL file holds it),
filled in here before the file is compared and written. In check mode a
missing one is not made (and reads as "").

Returns ``changed_paths`` (what this run changed, or in check mode would
change) and, in diff mode, one diff per changed file.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import re
import secrets
import shlex
import stat
import string
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: redis_tuned_files
short_description: Write the redis_tuned role's directories and files, each checked first
description: Used through the action plugin of the same name. See the module's docstring.
options:
  directories:
    {type: list, elements: dict, default: [], description: "path, owner, group, mode"}
  files:
    type: list
    elements: dict
    default: []
    description: "path, content, owner, group, mode, validate"
  secrets: {type: list, elements: dict, default: [], description: As files; content never shown.}
  absent: {type: list, elements: str, default: [], description: Paths to remove.}
  own_secrets:
    type: list
    elements: str
    default: []
    description: "The role's own passwords: made once, filled in."
  dump:
    type: dict
    default: {}
    description: "checker, server, confs, cache: after the writes, what the server makes of each."
author: redis_tuned
"""

ENTRY = {
    "path": {"type": "str", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "str", "required": True},
}
FILE = {
    **ENTRY,
    "content": {"type": "str", "required": True},
    "validate": {"type": "str"},
    # Files and secrets are written in this order (a checker before what it checks).
    "order": {"type": "int", "default": 0},
}
FILE.update(
    {
        # A file the server rewrites too (a replicated instance's config: Sentinel's
        # CONFIG REWRITE on a failover). ``runtime``: the directives whose lines are
        # the server's: kept from the file on disk when the role writes it, or, for a
        # new file, ``initial`` (its first replicaof). ``rendered``: where the SHA-256 of
        # the role's last render is kept: while the render is the same, the file as the
        # server rewrote it stands (the live comparison still holds its values).
        "runtime": {"type": "list", "elements": "str", "default": []},
        "initial": {"type": "list", "elements": "str", "default": []},
        "rendered": {"type": "str"},
        # Written once, then the server's alone (Sentinel's file: it rewrites it with
        # its state; the role changes it at run time, never on disk).
        "create_only": {"type": "bool", "default": False},
    }
)
# A file whose content is never shown (no_log: not in -vvv either). What its diff
# says instead: "secret" nothing, "size" its size (the verification tool's code),
# "users" which ACL users' lines changed (the lines hold password hashes),
# "redacted" its lines with every secret's value taken out (a config holding
# masterauth). ``register``: the file is a password other files name (as the
# role's own are): a replication password that comes from the control node.
SECRET = {
    **FILE,
    "content": {"type": "str", "required": True, "no_log": True},
    "show": {
        "type": "str", "default": "secret", "choices": ["secret", "size", "users", "redacted"],
    },
    "register": {"type": "bool", "default": False},
}  # fmt: skip


def acl_users_changed(before: bytes | None, after: bytes) -> str:
    """Which users of an ACL file changed, by name: their lines, never shown, hold
    the SHA-256 of each password (unsalted: a hash found is a password tried)."""

    def users(text: bytes | None) -> dict[str, str]:
        found = {}
        for line in (text or b"").decode("utf-8", "replace").splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[0] == "user":
                found[parts[1]] = line
        return found

    old, new = users(before), users(after)
    parts = [
        f"{label}: {', '.join(sorted(names))}"
        for label, names in (
            ("added", set(new) - set(old)),
            ("removed", set(old) - set(new)),
            ("changed", {n for n in set(old) & set(new) if old[n] != new[n]}),
        )
        if names
    ]
    what = "; ".join(parts) or "unchanged"
    return f"ACL users {what} (lines not shown: they hold password hashes)\n"


TOKEN = re.compile(r"@@redis_tuned_secret(_sha256)?:([^@\s]+)@@")
ALPHABET = string.ascii_letters + string.digits


class Unknown(Exception):
    """An owner or group that does not exist (yet)."""


def ids(owner: str, group: str) -> tuple[int, int]:
    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise Unknown(f"{owner}:{group}") from exc


def attrs_differ(st: os.stat_result, uid: int, gid: int, mode: int) -> bool:
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (uid, gid, mode)


def attrs_text(st: os.stat_result | None) -> str:
    if st is None:
        return "(absent)\n"
    owner = pwd.getpwuid(st.st_uid).pw_name if st.st_uid >= 0 else str(st.st_uid)
    group = grp.getgrgid(st.st_gid).gr_name if st.st_gid >= 0 else str(st.st_gid)
    return f"owner {owner}, group {group}, mode {stat.S_IMODE(st.st_mode):04o}\n"


class Writer:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.check = module.check_mode
        self.changed: list[str] = []
        self.diffs: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.removing: set[str] = set()  # what this call removes (check mode: would)
        self.own: dict[str, str] = {}  # the role's own passwords, by path

    def own_secret(self, path: str) -> None:
        """Make the password once (O_EXCL: never over one another run made
        meanwhile), keep it 0600 root:root (/etc/redis is setgid redis), read it."""
        if not os.path.exists(path):
            self.changed.append(path)
            self._add_diff(path, "(absent)\n", "(secret, not shown; made)\n")
            if self.check:
                self.own[path] = ""
                return
            os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
            value = "".join(secrets.choice(ALPHABET) for _ in range(48))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(value)
                f.flush()
                os.fsync(f.fileno())
        st = os.stat(path)
        if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (0, 0, 0o600):
            if path not in self.changed:
                self.changed.append(path)
                self._add_diff(path, attrs_text(st), "owner root, group root, mode 0600\n")
            if not self.check:
                os.chown(path, 0, 0)
                os.chmod(path, 0o600)
        with open(path, encoding="utf-8") as f:
            self.own[path] = f.read().strip()

    def fill(self, path: str, content: str) -> str:
        """A hidden file's content with the role's own passwords filled in."""

        def value(match: re.Match[str]) -> str:
            if match.group(2) not in self.own:
                raise ValueError(f"{path}: {match.group(2)} is not one of the role's own secrets")
            secret = self.own[match.group(2)]
            return hashlib.sha256(secret.encode()).hexdigest() if match.group(1) else secret

        return TOKEN.sub(value, content)

    def _stat(self, path: str) -> os.stat_result | None:
        try:
            return os.lstat(path)
        except FileNotFoundError:
            return None

    def directory(self, spec: dict[str, Any]) -> None:
        path, mode = spec["path"], int(spec["mode"], 8)
        st = self._stat(path)
        if st is not None and stat.S_ISLNK(st.st_mode) and os.path.isdir(path):
            return  # a link the operator made to a directory: theirs, left as it is
        try:
            uid, gid = ids(spec["owner"], spec["group"])
        except Unknown:
            if self.check:  # made by a package this run would install
                self.changed.append(path)
                return
            raise
        if st is not None and not attrs_differ(st, uid, gid, mode):
            return
        if st is None and not self.check:
            os.makedirs(path, mode=0o700)
        self._set_attrs(path, st, spec, uid, gid, "directory, ")

    def _set_attrs(
        self, path: str, st: os.stat_result | None, spec: dict[str, Any], uid: int, gid: int,
        what: str = "",
    ) -> None:  # fmt: skip
        """Owner and mode only (the content, if any, is right)."""
        mode = int(spec["mode"], 8)
        self.changed.append(path)
        after = f"{what}owner {spec['owner']}, group {spec['group']}, mode {mode:04o}\n"
        self._add_diff(path, attrs_text(st), after)
        if not self.check:
            os.chown(path, uid, gid)
            os.chmod(path, mode)

    def _runtime(self, spec: dict[str, Any], text: str, before: bytes | None) -> str | None:
        """A file the server rewrites too: None while the role's render is the one it
        last wrote (the file on disk stands, as the server may have rewritten it);
        else the render with the server's own lines (``runtime``) kept from disk, or
        ``initial`` for a new file."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        kept = ""
        with contextlib.suppress(FileNotFoundError), open(spec["rendered"], encoding="ascii") as f:
            kept = f.read().strip()
        if before is not None and kept == digest:
            return None
        owned = tuple(d.lower() for d in spec["runtime"])
        lines = [
            ln
            for ln in (before or b"").decode("utf-8", "replace").splitlines()
            if ln.split(None, 1)[:1] and ln.split(None, 1)[0].lower() in owned
        ]
        if before is None:
            lines = list(spec["initial"])
        if lines:
            text += "# Set at run time (the role keeps them as the server wrote them):\n"
            text += "".join(f"{ln}\n" for ln in lines)
        return text

    def _note_render(self, spec: dict[str, Any], text: str) -> None:
        """Keep the SHA-256 of the render the file on disk was written from (0600 root)."""
        if not spec.get("rendered") or self.check:
            return
        line = hashlib.sha256(text.encode("utf-8")).hexdigest() + "\n"
        with contextlib.suppress(FileNotFoundError), open(spec["rendered"], encoding="ascii") as f:
            if f.read() == line:
                return
        os.makedirs(os.path.dirname(spec["rendered"]), mode=0o700, exist_ok=True)
        fd = os.open(spec["rendered"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(line)

    def file(self, spec: dict[str, Any], secret: bool) -> None:
        path, mode = spec["path"], int(spec["mode"], 8)
        text = spec["content"]
        if secret:
            text = self.fill(path, text)
        elif TOKEN.search(text):  # its diff would show the password
            raise ValueError(f"{path}: a file whose content is shown names a secret")
        if spec.get("register"):
            self.own[path] = text.strip()
        st = self._stat(path)
        if spec.get("create_only") and st is not None:
            return
        before = b""
        if st is not None and stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                before = f.read()
        render = text
        if spec.get("rendered"):
            kept = self._runtime(spec, text, before if st is not None else None)
            text = before.decode("utf-8", "replace") if kept is None else kept
        content = text.encode("utf-8")
        same_content = st is not None and before == content
        if same_content:
            self._note_render(spec, render)
        try:
            uid, gid = ids(spec["owner"], spec["group"])
        except Unknown:
            if self.check:
                self.changed.append(path)
                self._diff(
                    path, before if st else None, content, spec.get("show") if secret else None
                )
                return
            raise
        if same_content and st is not None and not attrs_differ(st, uid, gid, mode):
            return
        if same_content:
            self._set_attrs(path, st, spec, uid, gid)
            return
        if self.check:
            self.changed.append(path)
            self._diff(path, before if st else None, content, spec.get("show") if secret else None)
            return
        directory = os.path.dirname(path)
        fd, candidate = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.chown(candidate, uid, gid)
            os.chmod(candidate, mode)
            if spec.get("validate"):
                command = spec["validate"].replace("%s", shlex.quote(candidate))
                rc, out, err = self.module.run_command(command, use_unsafe_shell=True)
                if rc != 0:
                    text = " ".join((err + out).split()) or f"exit code {rc}"
                    self.errors.append(f"{path} was refused, left as it was: {text}")
                    return
            os.rename(candidate, path)
            candidate = ""
            self._note_render(spec, render)
        finally:
            if candidate:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(candidate)
        self.changed.append(path)
        self._diff(path, before if st else None, content, spec.get("show") if secret else None)

    def _diff(self, path: str, before: bytes | None, after: bytes, hidden: str | None) -> None:
        """The diff of a changed file: its lines, or for a hidden one what ``show`` says."""
        if hidden == "users":
            old = "(absent)\n" if before is None else "(content not shown)\n"
            self._add_diff(path, old, acl_users_changed(before, after))
        elif hidden == "redacted":
            self._add_diff(
                path,
                "(absent)\n" if before is None else self._redact(before),
                self._redact(after),
            )
        elif hidden == "size":
            old = "(absent)\n" if before is None else "(content not shown)\n"
            self._add_diff(path, old, f"(content not shown; {len(after)} bytes)\n")
        elif hidden:
            old = "(secret, not shown)\n" if before is not None else "(absent)\n"
            self._add_diff(path, old, "(secret, not shown; changed)\n")
        else:
            old = before.decode("utf-8", "replace") if before is not None else ""
            self._add_diff(path, old, after.decode("utf-8", "replace"))

    def _redact(self, text: bytes) -> str:
        """A file's text with every password the role knows here taken out."""
        out = text.decode("utf-8", "replace")
        for value in sorted(self.own.values(), key=len, reverse=True):
            if len(value) >= 4:
                out = out.replace(value, "(secret)")
        return out

    def _add_diff(self, path: str, before: str, after: str) -> None:
        if self.module._diff:
            self.diffs.append(
                {"before_header": path, "after_header": path, "before": before, "after": after}
            )

    def absent(self, path: str) -> None:
        """Remove a file; a directory only when it is empty (someone else's file in it
        stays, and so does the directory)."""
        st = self._stat(path)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            if os.listdir(path) and not all(
                os.path.join(path, n) in self.removing for n in os.listdir(path)
            ):
                return
            self.changed.append(path)
            self._add_diff(path, "directory\n", "(absent)\n")
            if not self.check:
                os.rmdir(path)
            return
        self.changed.append(path)
        self._add_diff(path, attrs_text(st), "(absent)\n")
        if not self.check:
            os.unlink(path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": ENTRY},
            "files": {"type": "list", "elements": "dict", "default": [], "options": FILE},
            "secrets": {"type": "list", "elements": "dict", "default": [], "options": SECRET},
            "absent": {"type": "list", "elements": "str", "default": []},
            "own_secrets": {"type": "list", "elements": "str", "default": []},
            # checker, server, confs: the running instances' configs to dump once written.
            "dump": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    writer = Writer(module)
    p = module.params
    try:
        for spec in p["directories"]:
            writer.directory(spec)
        for path in p["own_secrets"]:
            writer.own_secret(path)
        listed = [(s, True) for s in p["secrets"]] + [(s, False) for s in p["files"]]
        for spec, secret in sorted(listed, key=lambda item: item[0]["order"]):
            writer.file(spec, secret=secret)
        writer.removing = set(p["absent"])
        for path in p["absent"]:
            writer.absent(path)
    except Unknown as exc:
        module.fail_json(msg=f"owner or group {exc} does not exist", changed_paths=writer.changed)
    except OSError as exc:
        module.fail_json(msg=f"{exc.filename}: {exc.strerror}", changed_paths=writer.changed)
    except ValueError as exc:
        module.fail_json(msg=str(exc), changed_paths=writer.changed)
    result: dict[str, Any] = {"changed": bool(writer.changed), "changed_paths": writer.changed}
    # What Redis makes of each running instance's config this call wrote (the live
    # comparison reads it; the probe dumped the others as they were). Not in check
    # mode: nothing was written.
    checker = str(p["dump"].get("checker") or "")
    confs = list(p["dump"].get("confs") or [])
    cache = ["--cache", str(p["dump"]["cache"]), "--keep"] if p["dump"].get("cache") else []
    result["dump"] = ""
    if confs and checker and not module.check_mode and not writer.errors:
        # A file unchanged since its kept dump is read from the cache, not dumped again.
        server = ["--server", str(p["dump"]["server"])] if p["dump"].get("server") else []
        rc, out, err = module.run_command([checker, *server, "--dump", *cache, *confs])
        if rc != 0:
            writer.errors.append(f"reading the written configs back failed: {err.strip()}")
        result["dump"] = out if rc == 0 else ""
    if module._diff:
        result["diff"] = writer.diffs
    if writer.errors:
        module.fail_json(msg="; ".join(writer.errors), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
