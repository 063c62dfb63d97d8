"""The planning core of the redis_tuned role.

``plan(inputs, facts)`` is the one place that decides, from the role's
variables and the host's facts (as the probe reads them): each instance's
merged config, its ports, the address the role itself connects to on the host,
the address clients (and the control node's check) connect to, its TLS and
exporter settings and what the verification expects of it; the kernel
settings; and the list of problems (each naming the variable and what to
change). Preflight asserts that the list is empty, tasks apply the plan,
templates render it. What depends on the host's state is decided once before
the files are written (``prepare``) and once after (``decide``).

Pure functions, no Ansible import: pytest calls them directly. One module per
concern (each module's docstring says which); the role's filter plugin
(filter_plugins/redis_tuned.py) is a thin adapter over this package. The plan never
holds a secret: passwords only decide ``requires_auth`` and which credential
the control node's check uses.
"""

from __future__ import annotations

from .acl import (
    ACL_PASSWORD_PREFIXES,
    ACL_PASSWORD_RULES,
    OWN_HASH,
    PLACEHOLDER,
    USER_NAME,
    USER_TYPES,
    acl_file,
    merged_users,
    own_users,
    placeholder_problems,
    rules_problems,
)
from .addresses import BASE_PORT, bind_addresses, local_host, remote_host, tls_client_flags
from .decide import decide, prepare
from .files import host_files
from .host import SUPPORTED, host_facts, host_problems
from .inputs import (
    INSTANCE_TYPES,
    NAME,
    SHA256,
    SYSCTL_KEY,
    SYSTEM_DIRS,
    SYSTEM_TREES,
    VARIABLES,
    input_problems,
    own_directory_problem,
)
from .instances import AUTO_FLOOR, THP_MODES, plan
from .kernel import kernel_state
from .layout import (
    DROPIN,
    EXPORTER_UNIT_PREFIX,
    PACKAGE_WRITABLE,
    STATE_DIR,
    THP_PATH,
    UNIT_DIR,
    data_dir,
    default_logfile,
    dropin_dir,
    exporter_unit,
    instance_paths,
    is_unit_file,
    package_unit,
    pidfile,
    server,
    unit,
)
from .live import (
    DUMP_OVERRIDDEN,
    SHRINK_MARGIN,
    TLS_FILE_DIRECTIVES,
    config_set,
    file_form,
    live_changes,
    live_refusals,
    live_set,
    parse_dump,
    switch_refusals,
)
from .reports import batch_results, live_summary, restart_summary, verify_summary
from .restarts import (
    RESTART_ALL,
    UPGRADED,
    UPGRADING,
    acl_loads,
    daemon_reload,
    exporter_files,
    exporter_restarts,
    restart_reasons,
    restarts_now,
    rolling_pending,
    sentinel_restart_reasons,
    waiting,
)
from .topology import MIN_SENTINELS, SENTINEL_PORT, peer, topology
from .values import (
    AUTH_CLIENTS,
    CONTROL,
    DIRECTIVE,
    FILE_ONLY_DIRECTIVES,
    SCALARS,
    TEMPLATE_DIRECTIVES,
    conf_lines,
    conf_value,
    expect_args,
    is_size,
    redis_bytes,
)
from .verification import client_verify_argv, client_verify_batch, client_view, host_verify_batch

__all__ = [
    "ACL_PASSWORD_PREFIXES",
    "ACL_PASSWORD_RULES",
    "AUTH_CLIENTS",
    "AUTO_FLOOR",
    "BASE_PORT",
    "CONTROL",
    "DIRECTIVE",
    "DROPIN",
    "DUMP_OVERRIDDEN",
    "EXPORTER_UNIT_PREFIX",
    "FILE_ONLY_DIRECTIVES",
    "INSTANCE_TYPES",
    "MIN_SENTINELS",
    "NAME",
    "OWN_HASH",
    "PACKAGE_WRITABLE",
    "PLACEHOLDER",
    "RESTART_ALL",
    "SCALARS",
    "SENTINEL_PORT",
    "SHA256",
    "SHRINK_MARGIN",
    "STATE_DIR",
    "SUPPORTED",
    "SYSCTL_KEY",
    "SYSTEM_DIRS",
    "SYSTEM_TREES",
    "TEMPLATE_DIRECTIVES",
    "THP_MODES",
    "THP_PATH",
    "TLS_FILE_DIRECTIVES",
    "UNIT_DIR",
    "UPGRADED",
    "UPGRADING",
    "USER_NAME",
    "USER_TYPES",
    "VARIABLES",
    "acl_file",
    "acl_loads",
    "batch_results",
    "bind_addresses",
    "client_verify_argv",
    "client_verify_batch",
    "client_view",
    "conf_lines",
    "conf_value",
    "config_set",
    "daemon_reload",
    "data_dir",
    "decide",
    "default_logfile",
    "dropin_dir",
    "expect_args",
    "exporter_files",
    "exporter_restarts",
    "exporter_unit",
    "file_form",
    "host_facts",
    "host_files",
    "host_problems",
    "host_verify_batch",
    "input_problems",
    "instance_paths",
    "is_size",
    "is_unit_file",
    "kernel_state",
    "live_changes",
    "live_refusals",
    "live_set",
    "live_summary",
    "local_host",
    "merged_users",
    "own_directory_problem",
    "own_users",
    "package_unit",
    "parse_dump",
    "peer",
    "pidfile",
    "placeholder_problems",
    "plan",
    "prepare",
    "redis_bytes",
    "remote_host",
    "restart_reasons",
    "restart_summary",
    "restarts_now",
    "rolling_pending",
    "rules_problems",
    "sentinel_restart_reasons",
    "server",
    "switch_refusals",
    "tls_client_flags",
    "topology",
    "unit",
    "verify_summary",
    "waiting",
]
