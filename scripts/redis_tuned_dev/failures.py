"""What failed, in a few lines, from the log of a molecule or ansible-playbook run.

CI shows the end of a run's output: a molecule failure ends in its recap, which
names the step that failed (converge) but not the task, the host or Ansible's
message, printed hundreds of lines earlier. ``make molecule`` keeps the log and,
when the run fails, prints this summary last: one line per failed task (its name,
the host, the start of the message), then the failed tests.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# molecule's boxed output: a frame of box-drawing characters before each line.
FRAME = re.compile(r"^[\s│└┌─]*")
TASK = re.compile(r"^TASK \[(?P<name>.*?)\]?\s*\**$")
FAILED = re.compile(r"^(?P<how>fatal|failed): \[(?P<host>[^\]]+)\].*?(?:=> (?P<result>.*))?$")
MSG = re.compile(r'"msg":\s*"(?P<msg>(?:[^"\\]|\\.)*)')
TEST_FAILED = re.compile(r"(?P<test>\S*)\s+(?P<what>FAILED|ERROR)\s+\[\s*\d+%\]")


def _plain(line: str) -> str:
    return FRAME.sub("", ANSI.sub("", line)).rstrip()


def summary(text: str, width: int = 300, most: int = 15) -> list[str]:
    """One line per failed task and per failed test of ``text``, at most ``most``."""
    lines: list[str] = []
    task = "?"
    started = ""  # a test's id, which molecule's box may fold onto the next line
    for raw in text.splitlines():
        line = _plain(raw)
        if "::" in line:
            started = line.split()[0]
        if line.startswith("TASK ["):
            # a long task name is folded onto the next line: keep what this one holds
            task = line[len("TASK [") :].split("]")[0].rstrip("* ")
            continue
        if line.startswith("...ignoring") and lines and lines[-1].startswith(("fatal", "failed")):
            lines.pop()  # the task failed, and the play went on as it asked
            continue
        failed = FAILED.match(line)
        if failed:
            result = failed.group("result") or ""
            msg = MSG.search(result)
            said = msg.group("msg") if msg else result
            lines.append(f"{failed.group('how')}: {failed.group('host')}: {task}: {said}"[:width])
            continue
        test = TEST_FAILED.search(line)
        if test:
            name = test.group("test")
            if "::" not in name:
                name = started + name
            lines.append(f"{test.group('what')} {name}"[:width])
        elif line.startswith("E ") and lines and lines[-1].startswith(("FAILED", "ERROR")):
            lines.append(f"  {line[1:].strip()}"[:width])  # the test's first error line
    unique = list(dict.fromkeys(lines))
    if len(unique) > most:
        unique = [*unique[:most], f"... and {len(unique) - most} more"]
    return unique


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redis_tuned_dev.failures", description=__doc__)
    parser.add_argument("log", type=Path, help="the log of a molecule or ansible-playbook run")
    args = parser.parse_args(argv)
    try:
        text = args.log.read_text(errors="replace")
    except OSError as exc:
        print(f"failures: cannot read {args.log}: {exc.strerror}", file=sys.stderr)
        return 2
    found = summary(text)
    print("What failed (from " + str(args.log) + "):" if found else "No failed task found.")
    for line in found:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
