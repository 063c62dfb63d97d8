#!/usr/bin/python3
"""Read the redis_tuned role's own passwords on the host (the files step made them).

Read only: a missing secret reads as "" and nothing is made (the files module
makes them, library/redis_tuned_files.py, own_secrets). The task that calls
this module is no_log.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: redis_tuned_secrets
short_description: Read the redis_tuned role's own passwords on the host
description: See the module's docstring.
options:
  paths: {type: list, elements: str, required: true, description: One file per secret.}
author: redis_tuned
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={"paths": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    values: list[str] = []
    for path in module.params["paths"]:
        try:
            with open(path, encoding="utf-8") as f:
                values.append(f.read().strip())
        except FileNotFoundError:
            values.append("")
    module.exit_json(changed=False, secrets=values)


if __name__ == "__main__":
    main()
