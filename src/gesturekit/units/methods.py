"""The registry of unit-discovery methods and the run-folder workflow they share.

A method registers a :class:`UnitMethod`: its name (``--method``), its config dataclass (a
subclass of :class:`UnitFitConfig`) and ``fit(train, val, cfg, run_dir, resume) -> UnitModel``.
:func:`fit_run` does the rest for every method: reads the data, makes the reproducible split
(``split.json``), saves the resolved config (``config.yaml``), calls the method's fit, saves the
model (``model.safetensors`` + ``model.json``), evaluates (``metrics.json``), draws the
figures (``figures/*.png``) and makes the folder self-describing (``config.json`` and the model card
``README.md``, :mod:`gesturekit.model_card`).

Method modules register themselves on import; :data:`METHOD_MODULES` lists them (a module that
is not built yet is skipped). The neural methods add their module name here.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.config import config_to_dict, save_config
from gesturekit.errors import ConfigError, DataError
from gesturekit.features.normalize import Normalizer
from gesturekit.fsutil import atomic_write_json, prepare_run_dir
from gesturekit.precision import check_precision
from gesturekit.records import EMARecording

log = logging.getLogger("gesturekit")

METHOD_MODULES = ["gesturekit.units.cnmf_method", "gesturekit.units.neural"]


@dataclass
class UnitFitConfig:
    """Options every method shares (a method's config subclasses this)."""

    method: str = "cnmf"
    gestures: int = 40
    width: int = 41
    epochs: int = 200
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    normalize: str = "minmax"  # none | zscore | minmax
    nonneg_split: str = "auto"  # auto | true | false (auto: split unless minmax)
    minmax_margin: float = 0.1  # minmax maps the training range to [m, 1-m]/(1+2m) headroom
    val_fraction: float = 0.0  # share of files held out for validation (0: fit on all)
    figures: bool = True
    precision: str = "fp32"  # every unit model computes in fp32: bf16 does not pay (docs/precision.md)


@dataclass(frozen=True)
class UnitMethod:
    name: str
    config_cls: type
    fit: Callable[..., Any]  # (train, val, cfg, run_dir, resume) -> UnitModel
    help: str = ""


METHODS: dict[str, UnitMethod] = {}


def register_method(method: UnitMethod) -> UnitMethod:
    METHODS[method.name] = method
    return method


def import_method_modules() -> None:
    for name in METHOD_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise


def get_method(name: str) -> UnitMethod:
    import_method_modules()
    if name not in METHODS:
        raise ConfigError(f"unknown method '{name}'; available: {sorted(METHODS)}")
    return METHODS[name]


def available_methods() -> list[str]:
    import_method_modules()
    return sorted(METHODS)


# ------------------------------------------------------------------------- data and split
def make_split(paths: list[Path], val_fraction: float, seed: int) -> dict[str, Any]:
    """A reproducible file-level split: ``{"train": [...], "val": [...], "seed", "val_fraction"}``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    names = sorted(str(p) for p in paths)
    n_val = int(round(val_fraction * len(names)))
    if val_fraction > 0 and n_val == 0:
        if len(names) < 2:
            raise ConfigError(f"a validation share of {val_fraction} needs at least 2 files, got {len(names)}")
        n_val = 1
    if n_val >= len(names):
        raise ConfigError(f"a validation share of {val_fraction} leaves no training files of {len(names)}")
    order = np.random.default_rng(seed).permutation(len(names))
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return {"seed": seed, "val_fraction": val_fraction, "train": train, "val": val}


def check_compatible(recs: list[EMARecording]) -> None:
    """Same channels and rate in every recording, and no NaNs (naming the file otherwise)."""
    first = recs[0]
    for r in recs:
        if list(r.channels) != list(first.channels):
            raise DataError(f"channels {r.channels} differ from {first.channels} of {first.path}", r.path)
        if abs(r.rate_hz - first.rate_hz) > 1e-6 * first.rate_hz:
            raise DataError(f"rate {r.rate_hz:g} Hz differs from {first.rate_hz:g} Hz of {first.path}", r.path)
        nan = r.nan_report()
        if nan:
            raise DataError(f"NaN or infinite samples {nan}; repair them before fitting", r.path)


def fit_normalizer(cfg: UnitFitConfig, recs: list[EMARecording]) -> Normalizer:
    """The normaliser of a run (fitted on the training files only)."""
    split = cfg.nonneg_split.lower() if isinstance(cfg.nonneg_split, str) else str(cfg.nonneg_split).lower()
    if split not in ("auto", "true", "false"):
        raise ConfigError(f"nonneg_split must be auto, true or false, got {cfg.nonneg_split!r}")
    nonneg = cfg.normalize != "minmax" if split == "auto" else split == "true"
    norm = Normalizer(cfg.normalize, nonneg_split=nonneg).fit([r.data for r in recs], channels=recs[0].channels)
    if cfg.normalize == "minmax" and cfg.minmax_margin > 0:
        m = float(cfg.minmax_margin)
        norm.shift = norm.shift - m * norm.scale
        norm.scale = norm.scale * (1 + 2 * m)
    return norm


# ------------------------------------------------------------------------- evaluation
def evaluate_model(model, recs: list[EMARecording]) -> dict[str, Any]:
    """Metrics of ``model`` on ``recs``: a summary (frame-weighted) and a per-file list."""
    from gesturekit.units.metrics import reconstruction_metrics, score_metrics, summarise

    per_file = []
    t0 = time.perf_counter()
    scores = model.encode_batch(recs)
    sec = (time.perf_counter() - t0) / max(len(recs), 1)
    for r, h in zip(recs, scores, strict=True):
        y = model.decode(h)
        x = model.prepare(r)
        m = reconstruction_metrics(x, y, channels=model.channels)
        if r.units == "mm":
            m["rmse_mm"], m["l1_mm"] = m["rmse"], m["l1"]
        m.update(score_metrics(h))
        m["encode_seconds"] = sec
        m = {"path": str(r.path) if r.path else r.name, "name": r.name, **m}
        per_file.append(m)
    summary = summarise(per_file)
    return {**summary, "per_file": per_file}


# ------------------------------------------------------------------------- the run
def fit_run(
    data: list[str | Path],
    cfg: UnitFitConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit ``cfg.method`` on the EMA files under ``data`` into the run folder ``out``.

    Returns the metrics also written to ``RUN_DIR/metrics.json``.
    """
    from gesturekit.io import find_ema_files, read_ema
    from gesturekit.runtime import seed_everything, set_threads

    method = get_method(cfg.method)
    if check_precision(cfg.precision) == "bf16":
        log.info("units fit computes in fp32 (bf16 does not pay for unit models; docs/precision.md)")
    files = find_ema_files(list(data))
    if not files:
        raise DataError("no EMA files found in " + ", ".join(map(str, data)))
    split = make_split(files, cfg.val_fraction, cfg.seed)
    from gesturekit.train.distributed import env_dist_info

    rank = env_dist_info().rank  # under torchrun only rank 0 writes the run folder
    run_dir = prepare_run_dir(out, resume=resume, overwrite=overwrite) if rank == 0 else Path(out)
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    if rank == 0:
        save_config(cfg, run_dir / "config.yaml")
        atomic_write_json(run_dir / "split.json", split)
    train = [read_ema(p) for p in split["train"]]
    val = [read_ema(p) for p in split["val"]]
    check_compatible(train + val)
    t0 = time.perf_counter()
    model = method.fit(train, val, cfg, run_dir, resume)
    fit_seconds = time.perf_counter() - t0
    if rank != 0:
        return {}
    model.save(run_dir)
    metrics: dict[str, Any] = {
        "method": cfg.method,
        "fit_seconds": fit_seconds,
        "config": config_to_dict(cfg),
        "train": evaluate_model(model, train),
    }
    if val:
        metrics["val"] = evaluate_model(model, val)
    atomic_write_json(run_dir / "metrics.json", metrics)
    if cfg.figures:
        from gesturekit.units.plots import run_figures

        figs = run_figures(model, val[:1] + train[:1] if val else train[:1], run_dir / "figures")
        metrics["figures"] = [str(p) for p in figs]
        atomic_write_json(run_dir / "metrics.json", metrics)
    from gesturekit.model_card import write_model_folder

    write_model_folder(run_dir, data=", ".join(map(str, data)))  # config.json + README.md model card
    log.info("units fit: %s in %.1fs -> %s", cfg.method, fit_seconds, run_dir)
    return metrics
