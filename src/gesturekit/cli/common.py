"""Options shared by many commands (config, overrides, seed, device, run folder) and JSON output."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gesturekit.fsutil import to_json


def add_group(sub: Any, name: str, help: str) -> tuple[argparse.ArgumentParser, Any]:
    """A command group (``gesturekit NAME SUBCOMMAND``) that prints its help when called bare."""
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(group_parser=parser, func=None)
    return parser, parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE|PRESET",
        help="YAML config file, or the name of a preset shipped with gesturekit (e.g. ae_mngu0, ccnce); "
        "defaults < config < --set < flags",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set optim.lr=3e-4 (repeatable)",
    )


def add_run_options(parser: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    """--config/--set, --seed, --device, --threads, --out, --resume, --overwrite."""
    add_config_options(parser)
    parser.add_argument("--seed", type=int, default=None, help="one seed that fixes every random choice")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--out", required=out_required, metavar="RUN_DIR", help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """--precision fp32|bf16 (:mod:`gesturekit.precision`; default: the config's, else fp32)."""
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default=None,
        help="numerics: fp32, or bf16 mixed precision (bfloat16 matrix products and convolutions, float32 "
        "weights and losses) where the CPU or GPU supports it, else fp32 with one log line",
    )


def print_json(obj: Any) -> None:
    sys.stdout.write(to_json(obj) + "\n")
    sys.stdout.flush()
