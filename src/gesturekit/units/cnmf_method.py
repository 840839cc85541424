"""The ``cnmf`` method: :class:`ConvNMF` behind the :class:`UnitModel` run-folder interface.

``--epochs`` is the number of multiplicative-update iterations. Encoding new data runs the
score updates with the learned gestures fixed (``transform``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import DataError
from gesturekit.records import EMARecording
from gesturekit.units.cnmf import ConvNMF
from gesturekit.units.methods import UnitFitConfig, UnitMethod, fit_normalizer, register_method
from gesturekit.units.model import UnitModel, register_unit_model

log = logging.getLogger("gesturekit")


@dataclass
class CNMFConfig(UnitFitConfig):
    """``units fit --method cnmf`` options (``--set beta_loss=frobenius`` etc.)."""

    method: str = "cnmf"
    beta_loss: str = "kullback-leibler"
    tol: float = 1e-4
    centred: bool = True
    alpha_H: float = 0.0
    sparseness: float | None = None
    sparseness_warmup: int | None = None
    lambda_xortho: float = 0.0
    normalize_gestures: bool = True
    transform_max_iter: int | None = None
    dtype: str = "float32"
    engine: str = "fft"


_HPARAMS = (
    "beta_loss", "tol", "centred", "alpha_H", "sparseness", "sparseness_warmup", "lambda_xortho",
    "normalize_gestures", "transform_max_iter", "dtype", "engine",
)  # fmt: skip


class CNMFUnitModel(UnitModel):
    """Classic CNMF: scores inferred by multiplicative updates with the gestures fixed."""

    method = "cnmf"

    def estimator(self) -> ConvNMF:
        h = self.hparams
        est = ConvNMF(
            n_components=self.n_gestures,
            width=self.width,
            beta_loss=h.get("beta_loss", "kullback-leibler"),
            max_iter=int(h.get("max_iter", 200)),
            tol=float(h.get("tol", 1e-4)),
            random_state=int(h.get("random_state", 0)),
            centred=bool(h.get("centred", True)),
            alpha_H=float(h.get("alpha_H", 0.0)),
            sparseness=h.get("sparseness"),
            sparseness_warmup=h.get("sparseness_warmup"),
            lambda_xortho=float(h.get("lambda_xortho", 0.0)),
            normalize_gestures=bool(h.get("normalize_gestures", True)),
            transform_max_iter=h.get("transform_max_iter"),
            device=h.get("device", "cpu"),
            dtype=h.get("dtype", "float32"),
            engine=h.get("engine", "fft"),
        )
        est.components_ = self.gestures
        est.n_features_in_ = self.gestures.shape[0]
        return est

    def encode_normalised(self, xn: np.ndarray) -> np.ndarray:
        return self.encode_normalised_batch([xn])[0]

    def encode_normalised_batch(self, xns: list[np.ndarray]) -> list[np.ndarray]:
        """Scores of several normalised arrays in one batched inference.

        Samples below the training range (negative after normalisation) cannot be represented
        by non-negative gestures; they are masked out of the inference (not clipped) and
        counted in a warning. Their reconstruction is still produced and scored.
        """
        masks, clean = [], []
        for xn in xns:
            neg = xn < 0
            if neg.any():
                log.warning(
                    "%d of %d samples fall below the training range after normalisation (min %.3g); "
                    "they are left out of score inference",
                    int(neg.sum()), neg.size, float(xn.min()),
                )  # fmt: skip
            masks.append(~neg)
            clean.append(np.where(neg, 0.0, xn).astype(np.float32))
        any_neg = any((~m).any() for m in masks)
        return self.estimator().transform(clean, mask=masks if any_neg else None)

    def encode_batch(self, xs: list) -> list[np.ndarray]:
        return self.encode_normalised_batch([self.normalise(x) for x in xs])


register_unit_model("cnmf", CNMFUnitModel)


def fit_cnmf(
    train: list[EMARecording],
    val: list[EMARecording],
    cfg: CNMFConfig,
    run_dir: Path | None,
    resume: bool = False,
) -> CNMFUnitModel:
    """Fit ConvNMF on the training recordings; ``val`` is only evaluated afterwards."""
    if not train:
        raise DataError("no training recordings")
    norm = fit_normalizer(cfg, train)
    X = [norm.transform(r.data) for r in train]
    est = ConvNMF(
        n_components=cfg.gestures,
        width=cfg.width,
        beta_loss=cfg.beta_loss,
        max_iter=cfg.epochs,
        tol=cfg.tol,
        random_state=cfg.seed,
        centred=cfg.centred,
        alpha_H=cfg.alpha_H,
        sparseness=cfg.sparseness,
        sparseness_warmup=cfg.sparseness_warmup,
        lambda_xortho=cfg.lambda_xortho,
        normalize_gestures=cfg.normalize_gestures,
        transform_max_iter=cfg.transform_max_iter,
        device=cfg.device,
        dtype=cfg.dtype,
        engine=cfg.engine,
    )
    est.fit(X)
    hparams: dict[str, Any] = {k: getattr(cfg, k) for k in _HPARAMS}
    hparams.update(
        max_iter=cfg.epochs,
        random_state=cfg.seed,
        device="cpu",
        n_iter=est.n_iter_,
        reconstruction_err=est.reconstruction_err_,
        fit_seconds=est.fit_time_,
    )
    return CNMFUnitModel(est.components_, norm, list(train[0].channels), train[0].rate_hz, hparams)


register_method(UnitMethod("cnmf", CNMFConfig, fit_cnmf, "classic convolutive NMF (multiplicative updates)"))
