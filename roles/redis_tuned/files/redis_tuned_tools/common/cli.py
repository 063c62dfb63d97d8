"""One-line errors and output for the command-line tools: a misuse or an
unreachable server ends in one readable line on stderr and exit code 2, never a
traceback, and never a secret (a password given on the command line is refused
unseen)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from typing import Any, NoReturn

from redis_tuned_tools.common import inputs


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with the examples kept as written and every option's default shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        default = action.default
        if default is None or default == [] or default == "":
            shown = "not set"
        elif isinstance(default, bool):
            shown = "on" if default else "off"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})".strip()


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a misuse in one line (no usage block) and exits 2."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            # Name the options only: a value after a mistyped --passwd may be a secret,
            # and so may the rest of -aSECRET.
            names = [_option_name(a) for a in message[len(prefix) :].split() if a[:1] == "-"]
            message = prefix + (" ".join(names) or "(values not shown)")
        # argparse quotes the value it refused ("invalid int value: 'x'"): not shown.
        message = re.sub(r"(value|choice): .*", r"\1 (not shown)", message)
        self.exit(2, f"{self.prog}: {inputs.one_line(message)} (see --help)\n")


def _option_name(arg: str) -> str:
    if arg.startswith("--"):
        match = re.match(r"--[A-Za-z][A-Za-z0-9-]*", arg)
        return match.group(0) if match else "--..."
    return arg[:2]


# Spellings of a password on the command line (redis-cli's -a included): refused, never echoed.
SECRET_OPTION = re.compile(
    r"^(-a|--?(pass|passwd|password|pw|auth|requirepass|secret)(=|$))", re.IGNORECASE
)


def write(stream: Any, text: str) -> None:
    """Print, and survive a reader that left (``| head -1``) or a closed stream."""
    if stream is None:
        return
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:
        # Nobody reads any more: point the stream at /dev/null so that Python's
        # own flush at exit does not complain either.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        pass


def fail(message: str, prog: str) -> int:
    """One line on stderr, credentials in any URL in it redacted; exit code 2."""
    write(sys.stderr, f"{prog}: {inputs.one_line(message)}")
    return 2
