#!/usr/bin/python3
"""The role's own Redis passwords: made on the host once, kept there 0600 root:root, read back.

One call for what was a copy (force: false) and a slurp per secret. A secret is
48 letters and digits from the system's CSPRNG. In check mode nothing is made
and a missing secret reads as "". The task that calls this module is no_log.
"""

from __future__ import annotations

import os
import secrets
import string

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: redis_tuned_secrets
short_description: Make the redis_tuned role's own passwords once on the host and read them
description: See the module's docstring.
options:
  paths: {type: list, elements: str, required: true, description: One file per secret.}
  length: {type: int, default: 48, description: Length of a new secret.}
author: redis_tuned
"""

ALPHABET = string.ascii_letters + string.digits


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "str", "required": True},
            "length": {"type": "int", "default": 48},
        },
        supports_check_mode=True,
    )
    values: list[str] = []
    made: list[str] = []
    for path in module.params["paths"]:
        if not os.path.exists(path):
            if module.check_mode:
                values.append("")
                made.append(path)
                continue
            os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
            value = "".join(secrets.choice(ALPHABET) for _ in range(module.params["length"]))
            # O_EXCL: never overwrite a secret another run made meanwhile.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(value)
                f.flush()
                os.fsync(f.fileno())
            made.append(path)
        # 0600 root:root, whatever the directory passes on (/etc/redis is setgid redis).
        st = os.stat(path)
        if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (0, 0, 0o600):
            if not module.check_mode:
                os.chown(path, 0, 0)
                os.chmod(path, 0o600)
            if path not in made:
                made.append(path)
        with open(path, encoding="utf-8") as f:
            values.append(f.read().strip())
    module.exit_json(changed=bool(made), made_or_fixed=made, secrets=values)


if __name__ == "__main__":
    main()
