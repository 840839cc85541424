"""Decompose new recordings with a fitted unit model: scores and reconstructions on disk.

:func:`decompose_files` reads EMA files of any supported format, encodes each with
``UnitModel.load(run_dir)`` (every method) and writes ``NAME.scores.npy`` ``(gestures, time)``,
``NAME.reconstruction.npy`` ``(time, channels)`` in the data's units, optionally VAE posterior
draws ``NAME.samples.npy`` ``(samples, gestures, time)``, and ``decompose.json`` (atomically;
the folder is prepared by :func:`gesturekit.fsutil.prepare_run_dir`, never silently overwritten).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import ConfigError
from gesturekit.fsutil import atomic_write_bytes, atomic_write_json, prepare_run_dir


def _save_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def decompose_files(
    run_dir: str | Path,
    files: list[str | Path],
    out: str | Path,
    *,
    samples: int = 0,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Encode and reconstruct ``files`` with the model of ``run_dir`` into ``out``; a summary dict."""
    from gesturekit.io import load_recordings
    from gesturekit.units.metrics import reconstruction_metrics
    from gesturekit.units.model import UnitModel

    model = UnitModel.load(run_dir)
    if samples and not hasattr(model, "sample"):
        raise ConfigError(f"--samples needs a variational model; {run_dir} is '{model.method}'")
    recs = load_recordings(list(files))
    names = [r.name for r in recs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"several input files share the name(s) {dupes}; decompose them separately")
    out_dir = prepare_run_dir(out, overwrite=overwrite)
    listed = []
    for r in recs:
        h, y = model.reconstruct(r)
        x = model.prepare(r)
        m = reconstruction_metrics(x, y, channels=model.channels)
        entry = {"name": r.name, "path": str(r.path), "frames": int(x.shape[0]), "gestures": int(h.shape[0]),
                 "scores": f"{r.name}.scores.npy", "reconstruction": f"{r.name}.reconstruction.npy",
                 "mean_channel_r": m["mean_channel_r"], "rmse": m["rmse"]}  # fmt: skip
        _save_npy(out_dir / entry["scores"], h.astype(np.float32))
        _save_npy(out_dir / entry["reconstruction"], y.astype(np.float32))
        if samples:
            entry["samples"] = f"{r.name}.samples.npy"
            _save_npy(out_dir / entry["samples"], model.sample(r, n=samples, seed=seed).astype(np.float32))
        listed.append(entry)
    summary = {"run_dir": str(run_dir), "method": model.method, "channels": model.channels,
               "rate_hz": model.rate_hz, "files": listed}  # fmt: skip
    atomic_write_json(out_dir / "decompose.json", summary)
    return summary
