"""``gesturekit cospeech info | features | pack``: co-speech data from the command line."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from gesturekit.cli.common import print_json
from gesturekit.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("info", help="what a PATS data folder or a folder of BEAT2 takes holds")
    p.add_argument("root", help="PATS data folder (pats/data or pats) or a folder of BEAT2 takes")
    p.add_argument("--speaker", action="append", default=None, help="speaker (repeatable; default all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("features", help="PATS features (log-mel, silence, tokens, embeddings) of a WAV file")
    p.add_argument("--audio", required=True, metavar="WAV")
    p.add_argument("--transcript", metavar="TEXTGRID|JSON", help="word timings: a TextGrid or a JSON word list")
    p.add_argument(
        "--model",
        metavar="DIR",
        help="local Hugging Face model folder for text/bert (default: a cached bert-base-uncased); "
        "text/tokens need none (bert-base-uncased's vocabulary ships with gesturekit)",
    )
    p.add_argument("--no-embeddings", action="store_true", help="tokens only, no text/bert")
    p.add_argument("--fps", type=float, default=15.0, help="pose frame rate of the per-frame keys (default 15)")
    p.add_argument(
        "--vad", default="auto", choices=["auto", "webrtc", "energy"], help="voice-activity detector"
    )
    p.add_argument("--out", required=True, metavar="FILE.h5")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser(
        "pack", help="pack PATS intervals, BEAT2 takes or feature clips into a memory-mapped store"
    )
    p.add_argument("root", help="PATS data folder, BEAT2 folder (as downloaded or flat) or feature-clip folder")
    p.add_argument("--speaker", action="append", default=None, help="speaker (repeatable; default all)")
    p.add_argument("--out", required=True, metavar="STORE")
    p.add_argument(
        "--keys", help="comma-separated modality keys (default: the CC-NCE set / BEAT2 pose + audio)"
    )
    p.add_argument("--model", metavar="DIR", help="BEAT2: tokenizer folder for text/tokens")
    p.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)), help="processes")
    p.add_argument("--resume", action="store_true", help="continue an interrupted pack in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out store")
    p.add_argument(
        "--skip-broken", action="store_true", help="skip and report broken intervals instead of failing"
    )
    p.add_argument(
        "--verify", action="store_true", help="check every checksum (alone on a finished store: only check)"
    )
    p.set_defaults(func=cmd_pack)


def cmd_info(args: argparse.Namespace) -> int:
    from gesturekit.store.sources import corpus_info

    info = corpus_info(args.root, args.speaker)
    for b in info["broken"]:
        print(f"broken: {b['speaker']}/{b['name']}: {b['problem']}", file=sys.stderr)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['format']} corpus at {info['root']}")
    split = info.get("split")
    if split is not None:
        how = (
            f"whole takes from {split['csv']}"
            if split["rule"] == "csv"
            else "in time inside each take (no train_test_split.csv)"
        )
        print(f"split: {how}")
        for name in split["rows_without_files"]:
            print(f"  CSV row without files: {name}")
        for name in split["files_without_rows"]:
            print(f"  take without a CSV row (left out): {name}")
    print(f"{'speaker':<16} {'train':>6} {'dev':>5} {'test':>5} {'missing':>7} {'hours':>8}  keys")
    for s, e in info["speakers"].items():
        counts = f"{e['train']:>6} {e['dev']:>5} {e['test']:>5} {e['missing']:>7} {e['hours']:>8.3f}"
        print(f"{s:<16} {counts}  {', '.join(e['keys'])}")
    print(f"broken intervals: {len(info['broken'])}")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from gesturekit.features.clip import describe, speech_features, write_features_h5
    from gesturekit.features.text import default_text_model, read_transcript
    from gesturekit.io.audio import read_audio

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    audio = read_audio(args.audio)
    words = read_transcript(args.transcript) if args.transcript else None
    model = Path(args.model) if args.model else default_text_model()
    embeddings = not args.no_embeddings and model is not None
    if embeddings and not args.model and importlib.util.find_spec("transformers") is None:
        embeddings = False  # a cached model found by chance: not worth an error on a plain install
        print(
            f"note: {model} found, but text/bert needs 'transformers' (pip install gesturekit[text])",
            file=sys.stderr,
        )
    if words is not None and model is None and not args.no_embeddings:
        print(
            "note: no --model and no local bert-base-uncased: text/bert not computed "
            "(text/tokens use the bundled bert-base-uncased vocabulary)",
            file=sys.stderr,
        )
    try:
        streams, _, meta = speech_features(
            audio, words, fps=args.fps, model_dir=model, embeddings=embeddings, vad=args.vad
        )
    except ConfigError:
        raise
    except ValueError as exc:  # DataError from the feature code, named with the file
        raise ConfigError(f"{args.audio}: {exc}") from None
    write_features_h5(out, streams, meta)
    summary = describe(streams)
    if meta is not None:
        summary["text/meta"] = [len(meta), 3]
    tokenizer = str(model) if model else "bert-base-uncased (bundled vocabulary)"
    model_name = str(model) if model else None
    print_json({"out": str(out), "keys": summary, "model": model_name, "tokenizer": tokenizer})
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from gesturekit.store import pack_beat2, pack_clips, pack_pats, verify_store
    from gesturekit.store.layout import STORE_JSON
    from gesturekit.store.sources import detect_format

    out = Path(args.out)
    if args.verify and (out / STORE_JSON).exists() and not (args.overwrite or args.resume):
        res = verify_store(out)
        print_json(res)
        return 0 if res["ok"] else 1
    keys = [k.strip() for k in args.keys.split(",")] if args.keys else None
    kw: dict[str, Any] = {
        "workers": args.workers,
        "resume": args.resume,
        "overwrite": args.overwrite,
        "skip_broken": args.skip_broken,
        "progress": _progress,
    }
    fmt = detect_format(args.root)
    if fmt == "store":
        raise ConfigError(f"{args.root} is a packed store already")
    if fmt == "pats":
        report = pack_pats(args.root, out, speakers=args.speaker, keys=keys, **kw)
    elif fmt == "clips":
        if keys is not None:
            raise ConfigError(
                "a feature-clip folder packs its pose, audio and text features; --keys does not apply"
            )
        report = pack_clips(args.root, out, speakers=args.speaker, **kw)
    else:
        report = pack_beat2(args.root, out, speakers=args.speaker, keys=keys, vocab=args.model, **kw)
    for s in report.skipped:
        print(f"skipped: {s['name']}: {s['problem']}", file=sys.stderr)
    print(f"skipped {len(report.skipped)} broken interval(s)", file=sys.stderr)
    result: dict[str, Any] = {
        "store": str(out),
        "format": fmt,
        "intervals": report.written,
        "pose_frames": report.frames,
        "skipped": len(report.skipped),
        "resumed": report.resumed,
    }
    if args.verify:
        result["verify"] = verify_store(out)
    print_json(result)
    return 0 if not args.verify or result["verify"]["ok"] else 1


def _progress(stage: str, done: int, total: int) -> None:
    if os.environ.get("GESTUREKIT_QUIET") or not sys.stderr.isatty():
        return
    print(f"\r{stage}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
