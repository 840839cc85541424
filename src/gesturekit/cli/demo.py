"""``gesturekit demo``: the end-to-end demo on built-in data (see :mod:`gesturekit.demo`)."""

from __future__ import annotations

import argparse
from typing import Any

from gesturekit.cli.common import print_json


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run both pipelines end to end on built-in data",
        description="Run every pipeline on built-in synthetic data (and the real samples in "
        "../shared/realdata when present) and write results, figures and a report to --out.",
    )
    p.add_argument("--out", default="gesturekit-demo", help="output folder (default ./gesturekit-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smallest sizes (used by the tests)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gesturekit.demo import run_demo

    summary = run_demo(args.out, seed=args.seed, quick=args.quick, overwrite=args.overwrite)
    if args.json:
        print_json(summary)
    else:
        for step, result in summary["steps"].items():
            print(f"{step}: {result.get('summary', 'done')}")
        print(f"results in {summary['out']}")
    return 0
