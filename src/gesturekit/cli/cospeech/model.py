"""``gesturekit cospeech fit | sample | generate``: train a co-speech model and use it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gesturekit.cli.common import add_precision_option, add_run_options, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("fit", help="train a co-speech gesture model (CC-NCE and baselines)")
    p.add_argument(
        "--data", required=True, metavar="ROOT_OR_STORE",
        help="packed store, PATS data folder, BEAT2 folder or feature-clip folder (folders are packed once "
        "into the store cache)",
    )  # fmt: skip
    p.add_argument("--speaker", default=None, help="speaker to train on")
    p.add_argument(
        "--cache", default=None, metavar="DIR", help="store cache folder (default: the user's cache)"
    )
    p.add_argument("--model", default=None, help="model name (ccnce, ccnce-moco, ccnce-patchwise, mix, ...)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--num-iters", type=int, default=None, help="iterations per epoch (0: one pass)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    add_run_options(p)
    add_precision_option(p)
    p.set_defaults(func=_fit)

    s = sub.add_parser("sample", help="generate poses for every interval of a split")
    s.add_argument("run", metavar="RUN_DIR")
    s.add_argument("--data", required=True, metavar="ROOT_OR_STORE")
    s.add_argument("--split", default="test")
    s.add_argument("--speaker", default=None)
    s.add_argument(
        "--cache", default=None, metavar="DIR", help="store cache folder (default: the user's cache)"
    )
    s.add_argument("--layout", default="samples", choices=["samples", "reference"])
    s.add_argument("--out", required=True, help="FILE.h5 (samples) or a folder (reference layout)")
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--device", default="cpu")
    add_precision_option(s)
    s.set_defaults(func=_sample)

    g = sub.add_parser("generate", help="gestures for a new recording")
    g.add_argument("run", metavar="RUN_DIR")
    g.add_argument("--audio", required=True, metavar="WAV")
    g.add_argument("--transcript", default=None, metavar="TEXTGRID_OR_JSON")
    g.add_argument(
        "--text-model", default=None, metavar="DIR",
        help="local Hugging Face model folder (bert-base-uncased) to make PATS text features of the "
        "transcript, for models trained on PATS; default: $GESTUREKIT_TEXT_MODEL or the Hugging Face cache",
    )  # fmt: skip
    g.add_argument("--out", required=True, metavar="DIR")
    g.add_argument("--device", default="cpu")
    add_precision_option(g)
    g.add_argument("--render", action="store_true", help="also draw DIR/poses as an MP4 with the sound")
    g.set_defaults(func=_generate)


def _fit(args: argparse.Namespace) -> int:
    from gesturekit.config import load_config
    from gesturekit.cospeech.training.fit import FitConfig, fit
    from gesturekit.fsutil import prepare_run_dir
    from gesturekit.runtime import set_threads
    from gesturekit.train.distributed import env_dist_info

    set_threads(args.threads)
    cfg = load_config(
        FitConfig, args.config, args.overrides, model=args.model, epochs=args.epochs, num_iters=args.num_iters,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, precision=args.precision,
    )  # fmt: skip
    if env_dist_info().is_main:
        out = prepare_run_dir(args.out, resume=args.resume, overwrite=args.overwrite)
    else:  # under torchrun rank 0 checks the folder; the others must not see its first files as "not empty"
        out = Path(args.out)
    result = fit(
        cfg, args.data, args.speaker, out, device=args.device or "auto", resume=args.resume, cache=args.cache
    )
    print_json({"run": str(out), **result})
    return 0


def _sample(args: argparse.Namespace) -> int:
    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.inference.sampling import sample_split

    pipe = GesturePipeline.load(args.run, args.device, precision=args.precision)
    res = sample_split(pipe, args.data, args.split, Path(args.out), speaker=args.speaker, layout=args.layout,
                       overwrite=args.overwrite, cache=args.cache)  # fmt: skip
    print_json(res)
    return 0


def _generate(args: argparse.Namespace) -> int:
    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.inference.sampling import generate_file

    pipe = GesturePipeline.load(args.run, args.device, text_model=args.text_model, precision=args.precision)
    result = generate_file(pipe, args.audio, args.transcript, Path(args.out))
    if args.render:
        from gesturekit.cospeech.inference.sampling import render_generated

        result["video"] = str(render_generated(Path(args.out), args.audio, args.transcript))
    print_json(result)
    return 0
