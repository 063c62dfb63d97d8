"""The summary of a failed molecule run names the task, the host and Ansible's message."""

from __future__ import annotations

from pathlib import Path

from redis_tuned_dev import failures

ESC = "\x1b"
LOG = f"""\
  {ESC}[2m│{ESC}[0m TASK [redis_tuned : Install the server packages, not starting the package's
  {ESC}[2m│{ESC}[0m   instance] ***
  {ESC}[2m│{ESC}[0m {ESC}[0;31mfatal: [redis-tuned-valkey13]: FAILED! => {{"changed": false, \
"msg": "No package matching 'valkey-server' is available"}}{ESC}[0m
  │ TASK [redis_tuned : Probe something that may fail] ***
  │ fatal: [redis-tuned-debian12]: FAILED! => {{"changed": false, "msg": "expected"}}
  │ ...ignoring
  │ TASK [redis_tuned : Start and enable each instance] ***
  │ failed: [redis-tuned-debian13] (item=main) => {{"changed": false, \
"msg": "Unable to start service"}}
../../tests/molecule/test_default.py::test_x[ansible://redis-tuned-debian12] FAILED [ 23%]
  │ ../../tests/molecule_ha/test_ha.py::test_keys_written_to_the_primary_are_on_
  │   both_replicas FAILED [ 50%]
  │ E       AssertionError: assert 1 == 2
"""


def test_each_failed_task_is_one_line_with_its_host_and_message(tmp_path: Path) -> None:
    lines = failures.summary(LOG)
    assert lines == [
        "fatal: redis-tuned-valkey13: redis_tuned : Install the server packages, not starting "
        "the package's: No package matching 'valkey-server' is available",
        "failed: redis-tuned-debian13: redis_tuned : Start and enable each instance: "
        "Unable to start service",
        "FAILED ../../tests/molecule/test_default.py::test_x[ansible://redis-tuned-debian12]",
        "FAILED ../../tests/molecule_ha/test_ha.py::test_keys_written_to_the_primary_are_on_"
        "both_replicas",
        "  AssertionError: assert 1 == 2",
    ]


def test_a_clean_log_says_so_and_an_unreadable_one_exits_2(tmp_path: Path, capsys) -> None:
    log = tmp_path / "molecule.log"
    log.write_text("PLAY RECAP\nhost : ok=3 changed=0 failed=0\n")
    assert failures.main([str(log)]) == 0
    assert capsys.readouterr().out == "No failed task found.\n"
    assert failures.main([str(tmp_path / "missing.log")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_many_failures_are_cut_to_a_few_lines() -> None:
    text = "".join(f'fatal: [h{i}]: FAILED! => {{"msg": "m{i}"}}\n' for i in range(40))
    lines = failures.summary(text, most=15)
    assert len(lines) == 16 and lines[-1] == "... and 25 more"
