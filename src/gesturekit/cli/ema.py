"""``gesturekit ema``: summarise EMA files (``info``) and write a normalised corpus (``convert``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.cli.common import add_group, print_json
from gesturekit.errors import GesturekitError


def register(sub: Any) -> None:
    _, ema = add_group(sub, "ema", "read EMA recordings: summaries and corpus conversion")

    p = ema.add_parser(
        "info",
        help="summarise EMA files (format, speaker, rate, frames, channels, audio, labels, NaNs)",
        description="Summarise EMA files of any supported format (nema .ema/.npy, MOCHA ASCII .ema, "
        "EST tracks, HPRC .mat, XRMB .txy). Non-finite samples are counted per channel. Audio shorter "
        "than the EMA is reported (any amount; --json: audio_mismatch), never refused: files are "
        "described as stored. A file that cannot be read gives one line naming it and the problem, "
        "and exit status 1.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="EMA files or folders of them")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    _add_read_options(p, nan_default="report", audio=False)
    p.set_defaults(func=run_info)

    c = ema.add_parser(
        "convert",
        help="write a normalised corpus (one .npy per utterance, metadata.json, split.json)",
        description="Read every utterance of INPUT (files, flat folders or a CMU emadata folder), "
        "optionally resample and keep some speakers, split train/validation/test by --seed, fit "
        "the normaliser on the training part and write the corpus to --out atomically.",
    )
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="EMA files or folders")
    c.add_argument("--out", required=True, metavar="DIR", help="output folder")
    c.add_argument("--normalize", choices=["none", "zscore", "minmax"], default="zscore")
    c.add_argument("--normalize-by", choices=["corpus", "speaker"], default="corpus", help="statistics per ...")
    c.add_argument("--nonneg-split", action="store_true", help="each channel as its + and - parts (for NMF)")
    c.add_argument("--rate", type=float, default=None, metavar="HZ", help="resample everything to HZ")
    c.add_argument("--speaker", action="append", default=[], metavar="S", help="keep speaker S (repeatable)")
    c.add_argument("--channels", default=None, metavar="A,B,...", help="keep these channels, in this order")
    c.add_argument("--split", default="0.8,0.1,0.1", metavar="TR,VA,TE", help="split fractions")
    c.add_argument("--seed", type=int, default=0, help="seed of the split")
    c.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_read_options(c, nan_default="error")
    c.set_defaults(func=run_convert)

    s = ema.add_parser(
        "split",
        help="draw a seeded train/validation/test split of a corpus and save it as JSON",
        description="List the utterances of INPUT (a CMU emadata folder, a flat folder or files), "
        "split them by speaker with --seed, and save the split beside the corpus when that folder "
        "is writable, or to --save PATH. A read-only corpus (e.g. ../shared) is never written.",
    )
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="EMA files or folders")
    s.add_argument("--split", default="0.8,0.1,0.1", metavar="TR,VA,TE", help="split fractions")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--speaker", action="append", default=[], metavar="S", help="keep speaker S (repeatable)")
    s.add_argument("--save", default=None, metavar="PATH", help="write the split JSON here")
    s.add_argument("--overwrite", action="store_true", help="replace a different split file at the target")
    s.add_argument("--json", action="store_true", help="print the whole split as JSON")
    s.set_defaults(func=run_split)


def _add_read_options(p: argparse.ArgumentParser, nan_default: str, audio: bool = True) -> None:
    p.add_argument(
        "--nan-policy",
        choices=["report", "error", "interpolate"],
        default=nan_default,
        help=f"missing samples: keep and report, fail, or fill short runs (default {nan_default})",
    )
    p.add_argument(
        "--max-nan-gap", type=float, default=0.05, metavar="S", help="longest run to interpolate (s)"
    )
    if audio:
        p.add_argument(
            "--audio-policy",
            choices=["error", "trim", "keep"],
            default="error",
            help="when the audio is shorter than the EMA by more than 2 frames or 1 %% (less is trimmed "
            "unless 'keep'): fail, trim the EMA, or keep both (default error)",
        )
    p.add_argument("--no-attach", action="store_true", help="do not look for audio/labels beside the files")


def _read_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "nan_policy": args.nan_policy,
        "max_nan_gap": args.max_nan_gap,
        # info describes files as stored: a short audio is reported (audio_mismatch), never refused
        "audio_policy": getattr(args, "audio_policy", "keep"),
        "attach": not args.no_attach,
    }


def recording_info(rec) -> dict[str, Any]:
    """The summary ``gesturekit ema info`` prints for one recording (read with audio_policy='keep')."""
    from gesturekit.io.finish import audio_mismatch

    data = rec.data
    mm = audio_mismatch(rec)
    # the reader's "kept as it is" note says what audio_mismatch says: report it once
    repairs = [r for r in rec.repairs if mm is None or not r.startswith(mm.message())]
    nan = int(np.isnan(data).sum())
    inf = int(np.isinf(data).sum())
    return {
        "path": str(rec.path),
        "format": rec.format,
        "speaker": rec.speaker,
        "utterance": rec.utterance,
        "rate_hz": float(rec.rate_hz),
        "frames": rec.frames,
        "duration_s": round(rec.duration, 6),
        "channels": list(rec.channels),
        "units": rec.units,
        "audio_rate_hz": rec.audio.rate_hz if rec.audio is not None else None,
        "audio_duration_s": round(rec.audio.duration, 6) if rec.audio is not None else None,
        "audio_mismatch": mm.to_dict() if mm is not None else None,
        "n_words": len(rec.words) if rec.words is not None else 0,
        "n_phones": len(rec.phones) if rec.phones is not None else 0,
        "prompt": rec.prompt,
        "has_ema_stats": bool(rec.ema_stats),
        "nan_samples": nan,
        "inf_samples": inf,
        "nonfinite_channels": rec.nan_report(),
        "repairs": repairs,
    }


def run_info(args: argparse.Namespace) -> int:
    from gesturekit.io import find_ema_files, read_ema

    opts = _read_options(args)
    results: list[dict[str, Any]] = []
    failed = 0
    for arg in args.files:
        try:
            paths = find_ema_files([arg]) if Path(arg).is_dir() else [Path(arg)]
        except GesturekitError as exc:
            paths, failed = [], failed + 1
            results.append({"path": str(arg), "error": str(exc)})
            print(f"gesturekit: error: {exc}", file=sys.stderr)
        for path in paths:
            try:
                results.append(recording_info(read_ema(path, **opts)))
            except GesturekitError as exc:
                failed += 1
                results.append({"path": str(path), "error": str(exc)})
                print(f"gesturekit: error: {exc}", file=sys.stderr)
            except Exception as exc:  # a reader bug must still name the file, not print a traceback
                failed += 1
                msg = f"{path}: could not be read ({type(exc).__name__}: {exc})"
                results.append({"path": str(path), "error": msg})
                print(f"gesturekit: error: {msg}", file=sys.stderr)
    if args.json:
        print_json(results)
    else:
        for r in results:
            if "error" not in r:
                print(_info_line(r))
    return 1 if failed else 0


def _info_line(r: dict[str, Any]) -> str:
    audio = f"audio {r['audio_rate_hz']} Hz {r['audio_duration_s']:.3f} s" if r["audio_rate_hz"] else "no audio"
    line = (
        f"{r['path']}: {r['format']}, speaker {r['speaker']}, {r['frames']} frames at {r['rate_hz']:g} Hz "
        f"({r['duration_s']:.3f} s), {len(r['channels'])} channels [{' '.join(r['channels'])}] in "
        f"{r['units']}, {audio}, {r['n_words']} words, {r['n_phones']} phones"
    )
    bad = r["nan_samples"] + r["inf_samples"]
    if bad:
        chans = ", ".join(f"{c} ({n})" for c, n in r["nonfinite_channels"].items())
        line += (
            f"\n  WARNING: {bad} non-finite samples ({r['nan_samples']} NaN, {r['inf_samples']} inf) in {chans}"
        )
    mm = r["audio_mismatch"]
    if mm and mm["shortfall_s"] > 0:
        line += (
            f"\n  audio mismatch: {mm['audio_source']} ends {mm['shortfall_s'] * 1000:.1f} ms "
            f"({mm['shortfall_frames']:g} frames) before the EMA; read by default: {mm['default_read']}"
        )
    for rep in r["repairs"]:
        line += f"\n  repaired: {rep}"
    return line


def run_convert(args: argparse.Namespace) -> int:
    from gesturekit.io.convert import convert_corpus

    speakers = [s for arg in args.speaker for s in arg.split(",") if s]
    channels = [c for c in args.channels.split(",") if c] if args.channels else None
    summary = convert_corpus(
        args.inputs,
        args.out,
        normalize=args.normalize,
        nonneg_split=args.nonneg_split,
        normalize_by=args.normalize_by,
        rate=args.rate,
        speakers=speakers or None,
        channels=channels,
        split=args.split,
        seed=args.seed,
        overwrite=args.overwrite,
        **_read_options(args),
    )
    if args.json:
        print_json(summary)
    else:
        s = summary["split"]
        print(
            f"wrote {summary['utterances']} utterances ({summary['frames']} frames, {summary['rate_hz']:g} Hz, "
            f"{len(summary['channels'])} channels in {summary['units']}) to {summary['out']}; "
            f"split train {s['train']} / validation {s['validation']} / test {s['test']}"
        )
    return 0


def run_split(args: argparse.Namespace) -> int:
    from gesturekit.io.corpus import open_corpus, save_split

    speakers = [s for arg in args.speaker for s in arg.split(",") if s]
    corpus = open_corpus(args.inputs, speakers or None)
    split = corpus.split(args.split, seed=args.seed)
    path = save_split(split, corpus, args.save, overwrite=args.overwrite)
    if args.json:
        print_json({**split.to_dict(corpus), "saved_to": None if path is None else str(path)})
    else:
        counts = " / ".join(f"{k} {len(v)}" for k, v in split.parts.items())
        where = f"saved to {path}" if path else f"not saved ({corpus.root} is read-only; use --save PATH)"
        print(f"{len(corpus)} utterances of {len(corpus.speakers)} speaker(s): {counts}; {where}")
    return 0
