"""What every command line of the project shares: one-line errors, exit statuses, quiet ends.

Both `python -m coordinator` and `python -m cluster` are built on it (coordinator/ may import
cluster/, never the other way round, so it lives here).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import warnings
from collections.abc import Callable

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # a bad flag, value, file or address, told in one line
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it
EXIT_OUTPUT_CLOSED = 141  # the reader of our output went away (128 + SIGPIPE), as `| head` does


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit status 2), with the nearest flag's name."""

    def error(self, message: str):
        """Print `error: MESSAGE (did you mean ...?) (see PROG --help)` and exit with status 2."""
        self.exit(EXIT_BAD_INPUT, f"error: {message}{self._suggestion(message)} (see {self.prog} --help)\n")

    def _suggestion(self, message: str) -> str:
        prefix = "unrecognized arguments: "
        if not message.startswith(prefix):
            return ""
        unknown = next((word for word in message[len(prefix) :].split() if word.startswith("--")), None)
        if unknown is None:
            return ""
        close = difflib.get_close_matches(unknown.split("=")[0], sorted(self._all_flags()), n=1, cutoff=0.6)
        return f"; did you mean {close[0]}?" if close else ""

    def _all_flags(self) -> set[str]:
        """The option strings of this parser and of its subcommands."""
        flags = set(self._option_string_actions)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for parser in action.choices.values():
                    flags |= set(parser._option_string_actions)
        return {flag for flag in flags if flag.startswith("--")}


def run_main(
    command: Callable[[], int],
    user_errors: tuple[type[BaseException], ...],
    stopped: Callable[[str], str] = lambda why: why,
) -> int:
    """Run command; a user error becomes one `error:` line and status 2, Ctrl-C status 130, a closed pipe 141.

    stopped(why) turns "interrupted" or "output closed" into the line told on stderr (none if empty).
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # one line, no source line: it is for the user, not a developer
            return command()
    except user_errors as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _tell(stopped("interrupted"))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at nothing so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _tell(stopped("output closed"))
        return EXIT_OUTPUT_CLOSED


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _tell(line: str) -> None:
    if line:
        print(line, file=sys.stderr)
