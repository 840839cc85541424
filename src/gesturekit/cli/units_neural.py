"""``gesturekit units decompose``: gestural scores and reconstructions of new recordings.

Works with every unit model (``cnmf``, ``ae``, ``vae``): for each input file it writes
``NAME.scores.npy`` ``(gestures, time)`` and ``NAME.reconstruction.npy`` ``(time, channels)`` in
the data's units (for ``vae`` with ``--samples N`` also ``NAME.samples.npy`` ``(N, gestures,
time)``), plus ``decompose.json`` listing them with each file's r and RMSE. The output folder is
never overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
from typing import Any

from gesturekit.cli.common import print_json


def register(group: Any) -> None:
    p = group.add_parser(
        "decompose",
        help="write gestural scores and reconstructions of EMA files with a fitted model",
        description="Encode FILEs (any supported EMA format; folders are searched) with the model of "
        "RUN_DIR and write NAME.scores.npy (gestures, time), NAME.reconstruction.npy (time, channels, "
        "data units) and decompose.json into --out.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a fitted run folder (cnmf, ae or vae)")
    p.add_argument("files", nargs="+", metavar="FILE", help="EMA files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--samples", type=int, default=0, help="vae only: also write N posterior draws")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior draws")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_decompose)


def run_decompose(args: argparse.Namespace) -> int:
    from gesturekit.units.decompose import decompose_files

    summary = decompose_files(
        args.run_dir, args.files, args.out, samples=args.samples, seed=args.seed, overwrite=args.overwrite
    )
    if args.json:
        print_json(summary)
    else:
        for f in summary["files"]:
            head = f"{f['name']}: {f['frames']} frames"
            print(f"{head}  r {f['mean_channel_r']:.4f}  rmse {f['rmse']:.4g}  -> {f['scores']}")
    return 0
