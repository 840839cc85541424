"""``gesturekit report DIR... --out REPORT_DIR``: a static HTML page of runs, metrics and videos."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="static HTML report of runs and samples (tables, curves, figures, videos)",
        description="Collect gestural-unit runs, co-speech runs and samples folders (searched three levels "
        "deep) into REPORT_DIR/index.html: metric tables, training curves (CSV or TensorBoard logs), the "
        "runs' figures, and skeleton videos with transcripts. Opens from file:// with no server or network.",
    )
    p.add_argument("inputs", nargs="+", metavar="RUN_OR_SAMPLE_DIR")
    p.add_argument("--out", required=True, metavar="REPORT_DIR")
    p.add_argument(
        "--render", type=int, default=4, metavar="N", help="videos rendered per samples file (0: none)"
    )
    p.add_argument("--title", default="gesturekit report")
    p.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty REPORT_DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gesturekit.report import build_report

    index = build_report(
        args.inputs, args.out, render_intervals=args.render, overwrite=args.overwrite, title=args.title
    )
    print(index)
    return 0
