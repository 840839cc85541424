"""``gesturekit cospeech export``: a BEAT2 take, a ``poses.npz`` or a samples interval as BVH,
SMPL-X npz or CSV (the work is in :mod:`gesturekit.cospeech.inference.export`)."""

from __future__ import annotations

import argparse
from typing import Any

from gesturekit.cli.common import print_json


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="export motion to animation tools (BVH, SMPL-X npz, CSV)",
        description="Write INPUT (a BEAT2 take .npz, a poses.npz from generate, or one interval of a samples "
        ".h5 file) as BVH (SMPL-X joints and rotations), SMPL-X npz (BEAT2's layout) or CSV (keypoints: "
        "frame, joint, x, y). An input the format cannot carry is refused.",
    )
    p.add_argument("input", metavar="INPUT")
    p.add_argument("--format", required=True, choices=["bvh", "smplx-npz", "csv"], dest="fmt")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--units", choices=["cm", "m"], default=None, help="BVH lengths (default cm)")
    p.add_argument("--interval", default=None, metavar="ID", help="the interval of a samples file")
    p.add_argument("--which", choices=["generated", "ground_truth"], default=None,
                   help="which poses of the interval (default generated)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from gesturekit.cospeech.inference.export import export_file

    print_json(export_file(args.input, args.fmt, args.out, units=args.units, interval=args.interval,
                           which=args.which, overwrite=args.overwrite))  # fmt: skip
    return 0
