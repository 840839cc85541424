"""The ``gesturekit`` command: one entry point with a subcommand per job.

Each command group lives in its own module here and exposes ``register(subparsers)``. Only this
package parses arguments or prints; every command calls functions that work from Python too.
A :class:`~gesturekit.errors.GesturekitError` becomes one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from gesturekit import __version__
from gesturekit.errors import GesturekitError
from gesturekit.runtime import setup_logging

# Command groups, in the order `gesturekit --help` lists them.
COMMAND_MODULES = ["demo", "ema", "units", "cospeech", "report"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gesturekit",
        description="gesturekit: articulatory gestural units and co-speech gestures.",
    )
    parser.add_argument("--version", action="version", version=f"gesturekit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"gesturekit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gesturekit.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose)
    func = getattr(args, "func", None)
    if func is None:
        # A group without a subcommand prints its own help.
        target = getattr(args, "group_parser", None) or parser
        target.print_help()
        return 0 if args.command is None else 2
    try:
        result = func(args)
    except GesturekitError as exc:
        print(f"gesturekit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gesturekit: interrupted", file=sys.stderr)
        return 130
    finally:
        logging.shutdown()
    return int(result or 0)
