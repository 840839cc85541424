"""``gesturekit cospeech stream``: replay a recording through a causal model chunk by chunk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gesturekit.cli.common import add_precision_option, print_json


def register(sub: Any) -> None:
    s = sub.add_parser(
        "stream", help="live generation: push a recording in chunks through a causal model (ccnce_stream)",
        description="Replays WAV chunk by chunk through gesturekit.cospeech.StreamingGenerator, writes "
        "DIR/poses.npz (the format of `cospeech generate`, equal to its poses) and prints the compute time "
        "per chunk and the lookahead.",
    )  # fmt: skip
    s.add_argument("run", metavar="RUN_DIR", help="a run trained with a causal model (--config ccnce_stream)")
    s.add_argument("--audio", required=True, metavar="WAV")
    s.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length in ms (default 100)")
    s.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    s.add_argument("--device", default="cpu")
    add_precision_option(s)
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--overwrite", action="store_true", help="replace DIR/poses.npz if it exists")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=_stream)


def _stream(args: argparse.Namespace) -> int:
    from gesturekit.cospeech.inference.sampling import write_poses
    from gesturekit.cospeech.inference.streaming import StreamingGenerator, replay
    from gesturekit.errors import ConfigError
    from gesturekit.features.audio import SAMPLE_RATE, resample
    from gesturekit.io.audio import read_audio
    from gesturekit.runtime import set_threads

    set_threads(args.threads)
    out = Path(args.out)
    if (out / "poses.npz").exists() and not args.overwrite:
        raise ConfigError(f"{out / 'poses.npz'} exists; pass --overwrite to replace it")
    chunk = int(round(args.chunk_ms * SAMPLE_RATE / 1000.0))
    if chunk < 1:
        raise ConfigError(f"--chunk-ms {args.chunk_ms}: a chunk must hold at least one sample (1/16 ms)")
    gen = StreamingGenerator.from_run(args.run, args.device, precision=args.precision)
    audio = read_audio(args.audio)
    samples = resample(audio.samples, audio.rate_hz)  # as generate does, once for the whole file
    poses, fig = replay(gen, samples, chunk)
    result = {**write_poses(gen.pipe, poses, out), **fig}
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(
            f"{result['frames']} frames at {gen.fps:g} fps -> {result['out']}\n"
            f"{fig['chunks']} chunks of {fig['chunk_ms']:g} ms: compute p50 {fig['compute_p50_ms']:.2f} ms, "
            f"p95 {fig['compute_p95_ms']:.2f} ms, max {fig['compute_max_ms']:.2f} ms "
            f"(CPU p50 {fig['cpu_p50_ms']:.2f} ms, p95 {fig['cpu_p95_ms']:.2f} ms); "
            f"flush {fig['flush_ms']:.2f} ms\n"
            f"lookahead {fig['lookahead_ms']:.1f} ms; latency (lookahead + p95) {fig['latency_ms']:.1f} ms; "
            f"real-time factor {fig['realtime_factor']:.4f}\n"
        )
    return 0
