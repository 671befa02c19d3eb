"""The exit codes of the ``rasa-imessage`` command, named, so scripts can branch on them."""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_CONFIG",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_STARTUP_FAILURE",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
]

EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran and the thing it tried failed
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_STARTUP_FAILURE = 3  # a server or process could not start
EXIT_BAD_CONFIG = 4  # credentials or options are missing or wrong
EXIT_REFUSED = 5  # LoopMessage or the bot answered with an error
EXIT_UNREACHABLE = 6  # no answer at all: connection refused, DNS, timeout
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
