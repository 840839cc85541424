"""gesturekit's ConvNMF beside torchnmf's NMFD on the mngu0 sample, in the same process.

Data: the 8 utterances of ``../shared/realdata/mngu0_nema`` min-max scaled to [0, 1] (one range
per channel over all of them). Both fit rank 40, width 41, KL (beta = 1), 200 multiplicative-update
iterations, no early stopping, float32, ``--threads`` CPU threads (2 by default), seed 0.

- torchnmf's NMFD takes one batch item per sequence of equal length, so it gets the 8 utterances
  concatenated into one sequence (12, 7920); its kernels are causal ("valid" convolution).
- gesturekit's ConvNMF takes the list of 8 utterances (kept apart, no cross-utterance leakage).

Figures: median wall time of the 200-iteration fit over ``--repeats`` runs (the two methods
interleaved, so machine load hits both alike), the mean per-channel Pearson r of each
reconstruction and its generalised KL divergence to the data (both computed here in float64 on
the same 7920 frames), the speed-up, and the KL each reaches after a fixed time budget
(``--budget`` seconds: each method runs as many iterations as its own measured per-iteration time
allows within the budget).

    python benchmarks/cnmf_vs_torchnmf.py [--threads 2] [--repeats 3] [--budget 2.0]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

import _common

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "mngu0_nema"
RANK, WIDTH, ITERS = 40, 41, 200


def load() -> list[np.ndarray]:
    from gesturekit.io import read_ema

    files = sorted(DATA.glob("*.npy"))
    if len(files) != 8:
        raise SystemExit(f"expected the 8 mngu0 utterances in {DATA}, found {len(files)}")
    raw = [read_ema(p).data for p in files]
    lo = np.min([x.min(0) for x in raw], axis=0)
    hi = np.max([x.max(0) for x in raw], axis=0)
    return [((x - lo) / (hi - lo)).astype(np.float32) for x in raw]


def kl(x: np.ndarray, xh: np.ndarray) -> float:
    """Generalised KL divergence D(x | xh), summed (float64)."""
    x = x.astype(np.float64)
    xh = np.maximum(xh.astype(np.float64), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(x > 0, x * np.log(x / xh), 0.0)
    return float((t - x + xh).sum())


def channel_r(x: np.ndarray, xh: np.ndarray) -> float:
    from gesturekit.units.metrics import mean_channel_r

    return float(mean_channel_r(x, xh))


def fit_ours(X: list[np.ndarray], iters: int, device: str) -> tuple[float, np.ndarray]:
    from gesturekit.units import ConvNMF

    m = ConvNMF(RANK, WIDTH, beta_loss="kullback-leibler", max_iter=iters, tol=0, random_state=0, device=device)
    t0 = time.perf_counter()
    H = m.fit_transform(X)
    dt = time.perf_counter() - t0
    R = np.concatenate(m.inverse_transform(H))
    return dt, R


def fit_torchnmf(X: list[np.ndarray], iters: int, device: str) -> tuple[float, np.ndarray]:
    import torch
    from torchnmf.nmf import NMFD

    torch.manual_seed(0)
    V = torch.from_numpy(np.concatenate(X).T.copy()).unsqueeze(0).to(device)  # (1, 12, 7920)
    m = NMFD(V.shape, rank=RANK, T=WIDTH).to(device)
    t0 = time.perf_counter()
    m.fit(V, beta=1, tol=0, max_iter=iters)
    with torch.no_grad():
        R = m().squeeze(0).T.cpu().numpy()
    if device != "cpu":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return dt, R


def run(args: Any) -> dict[str, Any]:
    X = load()
    data = np.concatenate(X)
    fits = {"gesturekit": fit_ours, "torchnmf": fit_torchnmf}
    times: dict[str, list[float]] = {k: [] for k in fits}
    recon: dict[str, np.ndarray] = {}
    for fn in fits.values():  # warm-up (first-call allocations, FFT plans)
        fn(X, 5, args.device)
    for _ in range(args.repeats):
        for name, fn in fits.items():
            dt, R = fn(X, ITERS, args.device)
            times[name].append(dt)
            recon[name] = R
    out: dict[str, Any] = {"frames": int(len(data)), "iterations": ITERS, "threads": args.threads}
    for name in fits:
        out[f"{name}_seconds"] = float(np.median(times[name]))
        out[f"{name}_seconds_min"] = float(np.min(times[name]))
        out[f"{name}_mean_channel_r"] = channel_r(data, recon[name])
        out[f"{name}_kl"] = kl(data, recon[name])
    out["speedup"] = out["torchnmf_seconds"] / out["gesturekit_seconds"]
    out["speedup_min_times"] = out["torchnmf_seconds_min"] / out["gesturekit_seconds_min"]
    # error after a fixed time budget
    out["budget_seconds"] = args.budget
    for name, fn in fits.items():
        per_iter = float(np.min(times[name])) / ITERS
        n = max(1, int(args.budget / per_iter))
        dt, R = fn(X, n, args.device)
        out[f"{name}_budget_iterations"] = n
        out[f"{name}_budget_actual_seconds"] = dt
        out[f"{name}_budget_kl"] = kl(data, R)
        out[f"{name}_budget_mean_channel_r"] = channel_r(data, R)
    return out


if __name__ == "__main__":
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each method (default 3)")
    p.add_argument("--budget", type=float, default=2.0, help="time budget in seconds (default 2.0)")
    _common.main("cnmf_vs_torchnmf", run, p)
