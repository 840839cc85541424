"""Gesture initialisation of a neural run from a fitted classic CNMF run (``init.kind: cnmf``)."""

from __future__ import annotations

import numpy as np
import pytest

from gesturekit.errors import ConfigError
from gesturekit.io import read_ema
from gesturekit.units.cnmf_method import CNMFConfig
from gesturekit.units.methods import fit_normalizer, fit_run
from gesturekit.units.model import UnitModel
from gesturekit.units.neural import NeuralUnitsConfig
from gesturekit.units.neural.data import build_set
from gesturekit.units.neural.fit import _init_gestures
from gesturekit.units.neural.models import build_net


def test_init_from_a_cnmf_run_converts_to_this_runs_units(mngu0_dir, tmp_path):
    cnmf_cfg = CNMFConfig(gestures=5, width=7, epochs=5, normalize="zscore", nonneg_split="true", figures=False)
    fit_run([mngu0_dir], cnmf_cfg, tmp_path / "cnmf")
    cnmf = UnitModel.load(tmp_path / "cnmf")
    recs = [read_ema(p) for p in sorted(mngu0_dir.glob("*.npy"))[:3]]
    cfg = NeuralUnitsConfig(gestures=5, width=7, normalize="zscore", nonneg_split="true")
    cfg.net.decoder = "softplus"
    cfg.init.kind, cfg.init.cnmf_run, cfg.init.scale = "cnmf", str(tmp_path / "cnmf"), 0.5
    norm = fit_normalizer(cfg, recs)
    net = build_net("ae", norm.n_out, cfg.net_config())
    _init_gestures(net, cfg, build_set(recs, norm, []), norm)
    ratio = np.repeat(np.asarray(cnmf.normalizer.scale) / np.asarray(norm.scale), 2)
    want = np.maximum(cnmf.gestures * ratio[:, None, None] * 0.5, 1e-6)
    got = net.decoder.gestures().detach().numpy()
    assert got.shape == (24, 5, 7)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-5)
    cfg.width = 9  # a run whose gestures do not fit is refused, naming the run
    with pytest.raises(ConfigError, match="cnmf"):
        _init_gestures(build_net("ae", norm.n_out, cfg.net_config()), cfg, build_set(recs, norm, []), norm)
