"""``gesturekit units decompose``: gestural scores and reconstructions of new recordings.

Registered into the ``units`` group by :mod:`gesturekit.cli.units` (its SUBMODULES). Works for
every unit method (cnmf, ae, vae) through :func:`gesturekit.units.decompose.decompose_files`.
"""

from __future__ import annotations

import argparse
from typing import Any

from gesturekit.cli.common import print_json


def register(group: Any) -> None:
    d = group.add_parser(
        "decompose",
        help="write gestural scores and reconstructions of EMA files",
        description="Encode FILEs (any supported EMA format) with the model of RUN_DIR and write "
        "NAME.scores.npy (gestures, time), NAME.reconstruction.npy (time, channels) in the data's "
        "units and decompose.json into --out (never overwritten without --overwrite). --samples N "
        "also writes N posterior draws of a variational (vae) model.",
    )
    d.add_argument("run_dir", metavar="RUN_DIR")
    d.add_argument("files", nargs="+", metavar="FILE", help="EMA files or folders")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder")
    d.add_argument("--samples", type=int, default=0, help="posterior draws per file (vae only)")
    d.add_argument("--seed", type=int, default=0, help="seed of the posterior draws")
    d.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    d.add_argument("--json", action="store_true", help="print the summary as JSON")
    d.set_defaults(func=run_decompose)


def run_decompose(args: argparse.Namespace) -> int:
    from gesturekit.units.decompose import decompose_files

    summary = decompose_files(
        args.run_dir, args.files, args.out, samples=args.samples, seed=args.seed, overwrite=args.overwrite
    )
    if args.json:
        print_json(summary)
    else:
        for f in summary["files"]:
            print(f"{f['name']}: {f['frames']} frames, {f['gestures']} gestures, r {f['mean_channel_r']:.4f}")
        print(f"wrote {len(summary['files'])} file(s) to {args.out}")
    return 0
