"""Peak memory of one ``cospeech fit`` epoch against the corpus size, and the loader's speed.

Builds PATS-format corpora of about ``--hours`` (default 0.1, 1 and 10 h; one speaker, intervals
of 30-90 s, 80/10/10 % train/dev/test by interval: of every ten, the second is dev and the third
test) with PATS's 768-d BERT text (``text/bert``),
written by :mod:`gesturekit.io.pats_write`, packs each once into a store cache (the pack is not
measured), then runs one epoch of ``gesturekit cospeech fit`` (the default CC-NCE model, window
64 hop 5, batch 32) per size in its own subprocess and reads that process's peak resident set
(``VmHWM`` of its ``/proc/self/status``) as it exits. Iterations per epoch are capped
(``--num-iters``, default 20) so the 10 h epoch stays short: the figure is about data, and the
model's working memory does not depend on the corpus; the z-score statistics still read the whole
training split and the dev evaluation covers the whole dev split. ``mb_per_extra_hour`` is the
least-squares slope of peak RSS against hours (goal < 150).

Loader vs training: windows per second that the training path's gather delivers (WindowDataset
batches of 32 from the 1 h store, reduced to model inputs, k-means labels, normalised, pages
released: :func:`gesturekit.cospeech.training.fit.model_arrays`) against the windows per second one
training step consumes (G + D step of the default model at batch 32, ``--threads`` threads).
Goal: loader >= 5x the step.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import _common

# The child reports its own VmHWM (peak resident set of its address space). Not ru_maxrss: Linux
# carries ru_maxrss over execve, so a child would report its parent's peak (the corpus writer's).
CHILD = r"""
import re, sys
from gesturekit.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print("PEAK_RSS_KB " + re.search(r"VmHWM:\s+(\d+)", status).group(1))
sys.exit(code)
"""


def _write(job: tuple[str, float, int]) -> None:
    from gesturekit.io.pats_write import synthetic_interval, write_pats_interval

    path, seconds, seed = job
    streams, words = synthetic_interval(np.random.default_rng(seed), seconds, bert=True)
    for k in ("pose/confidence", "audio/log_mel_512", "pose/data"):  # not read by training; less to write
        streams.pop(k)
    write_pats_interval(path, streams, words)


def make_pats(root: Path, hours: float, workers: int, seed: int = 0) -> Path:
    """A PATS data folder of about ``hours`` of one speaker (idempotent: reused when complete)."""
    import h5py

    data = root / "pats" / "data"
    done = data / "cmu_intervals_df.csv"
    if done.exists():
        return data
    rng = np.random.default_rng(seed)
    rows, jobs, total, i = [], [], 0.0, 0
    while total < hours * 3600:
        dur = float(rng.uniform(30.0, 90.0))
        iid = f"oliver_{i:06d}"
        split = "dev" if i % 10 == 1 else ("test" if i % 10 == 2 else "train")  # small corpora have both
        rows.append([i, iid, "oliver", split, 0.0, dur, dur, ""])
        jobs.append((str(data / "processed" / "oliver" / f"{iid}.h5"), dur, seed * 100_000 + i))
        total += dur
        i += 1
    (data / "processed" / "oliver").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, jobs, chunksize=4))
    with h5py.File(data / "missing_intervals.h5", "w") as f:
        f.create_dataset("intervals", data=np.array([], dtype=object), dtype=h5py.string_dtype())
    tmp = done.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["", "interval_id", "speaker", "dataset", "start_time", "end_time", "delta_time", "video_link"]
        )
        w.writerows(rows)
    tmp.replace(done)  # written last: its presence says the folder is complete
    return data


def fit_peak_mb(data: Path, cache: Path, out: Path, args: Any) -> tuple[float, float, float, dict[str, Any]]:
    """Peak RSS (MB), wall and CPU seconds of one ``cospeech fit`` epoch in a fresh process."""
    import resource

    argv = [sys.executable, "-c", CHILD, "cospeech", "fit", "--data", str(data), "--cache", str(cache),
            "--epochs", "1", "--num-iters", str(args.num_iters), "--threads", str(args.threads),
            "--device", "cpu", "--out", str(out), "--overwrite"]  # fmt: skip
    env = dict(__import__("os").environ, PYTHONPATH=str(_common.SRC), GESTUREKIT_QUIET="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PEAK_RSS_KB "))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(proc.stdout[: proc.stdout.index("PEAK_RSS_KB")])
    return int(line.split()[1]) / 1024, wall, cpu, result


def loader_vs_step(data: Path, cache: Path, args: Any) -> dict[str, float]:
    import torch

    from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store
    from gesturekit.cospeech.models import build_model
    from gesturekit.cospeech.training.fit import (
        FitConfig,
        GANSteps,
        gan_modules,
        model_arrays,
        model_config,
        prepare,
    )
    from gesturekit.cospeech.training.losses import LambdaSchedule
    from gesturekit.train import EpochSampler
    from gesturekit.train.loop import LoopConfig, Trainer

    cfg = FitConfig()
    prep = prepare(StoreInputs.from_store(open_store(data, cache)), cfg)
    rng = np.random.default_rng(0)
    n_batches = 40
    batches = [rng.choice(len(prep.train), cfg.batch_size, replace=False) for _ in range(n_batches)]
    t0 = time.perf_counter()
    c0 = time.process_time()
    for ids in batches:
        arrays = model_arrays(prep, prep.train.get_batch(np.sort(ids)))
        prep.inputs.store.release_pages()
    load_s = (time.perf_counter() - t0) / n_batches
    load_cpu = (time.process_time() - c0) / n_batches
    torch.manual_seed(0)
    inp = prep.inputs
    G = build_model("ccnce", model_config(cfg, inp.pose_dim, inp.audio_dim, inp.text_dim, 100))
    modules, opts, _ = gan_modules(cfg, G, inp.pose_dim, torch.device("cpu"))
    tr = Trainer(tempfile.mkdtemp(), modules=modules, optimizers=opts, sampler=EpochSampler(1, 1),
                 config=LoopConfig(grad_clip=cfg.grad_clip))  # fmt: skip
    steps = GANSteps(cfg, G, modules["D"], G, modules["D"], tr, LambdaSchedule(), "fp32")
    audio, text, pose, _, labels = arrays
    x = [torch.as_tensor(v) for v in (audio, text, pose)]
    lab = torch.as_tensor(labels)
    step_s = _common.median_time(lambda: steps.batch(x[0], x[1], x[2], lab, 0), repeats=5, warmup=1)
    return {
        "loader_batch32_s": load_s, "loader_batch32_cpu_s": load_cpu,
        "loader_windows_per_s": cfg.batch_size / load_s, "train_step_batch32_s": step_s,
        "train_windows_per_s": cfg.batch_size / step_s, "loader_over_training": step_s / load_s,
    }  # fmt: skip


def run(args: Any) -> dict[str, Any]:
    root = Path(args.work or tempfile.mkdtemp(prefix="cospeech_memory_"))
    out: dict[str, Any] = {"num_iters": args.num_iters, "threads": args.threads, "work": str(root)}
    hours, peaks = [], []
    for h in args.hours:
        tag = f"{h:g}h"
        t0 = time.perf_counter()
        data = make_pats(root / tag, h, args.workers)
        cache = root / f"cache-{tag}"
        from gesturekit.cospeech.data.store_inputs import open_store

        store = open_store(data, cache)
        real_h = float(sum(store.durations(s).sum() for s in store.splits) / 3600)
        out[f"{tag}_hours"] = round(real_h, 3)
        out[f"{tag}_prepare_s"] = round(time.perf_counter() - t0, 1)
        peak, wall, cpu, res = fit_peak_mb(data, cache, root / f"run-{tag}", args)
        out[f"{tag}_peak_rss_mb"] = round(peak, 1)
        out[f"{tag}_fit_wall_s"], out[f"{tag}_fit_cpu_s"] = round(wall, 1), round(cpu, 1)
        out[f"{tag}_train_windows"], out[f"{tag}_dev_windows"] = res["train_windows"], res["dev_windows"]
        hours.append(real_h)
        peaks.append(peak)
        if abs(h - 1.0) < 1e-9 and not args.no_loader:
            out.update({k: round(v, 4) for k, v in loader_vs_step(data, cache, args).items()})
    if len(hours) > 1:
        slope = float(np.polyfit(np.array(hours), np.array(peaks), 1)[0])
        out["mb_per_extra_hour"] = round(slope, 1)
    return out


if __name__ == "__main__":
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    p.add_argument("--num-iters", type=int, default=20, help="iterations in the measured epoch")
    p.add_argument("--workers", type=int, default=2, help="processes writing the PATS files")
    p.add_argument("--work", default=None, help="folder for the corpora and caches (reused when given)")
    p.add_argument("--no-loader", action="store_true", help="skip the loader-vs-step timing")
    _common.main("cospeech_memory", run, p)
