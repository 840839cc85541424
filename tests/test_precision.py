"""The precision option: names, the run-time bf16 check and its fallback, autocast, old ``amp`` configs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

import gesturekit.precision as precision
from gesturekit.config import load_config
from gesturekit.cospeech.training.fit import FitConfig
from gesturekit.errors import ConfigError

OLD_RUN = Path(__file__).parent / "cospeech" / "data" / "old_layout_run"


@pytest.fixture
def fresh_log(monkeypatch):
    monkeypatch.setattr(precision, "_told", set())


def test_names_and_the_default():
    assert precision.check_precision(None) == precision.DEFAULT_PRECISION
    assert precision.check_precision("BF16") == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of"):
        precision.check_precision("fp16")


def test_bf16_without_a_fast_path_computes_in_fp32_with_one_log_line(monkeypatch, caplog, fresh_log):
    monkeypatch.setattr(precision, "bf16_support", lambda device: (False, "no bf16 here"))
    logger = logging.getLogger("gesturekit")  # its own handler: earlier CLI tests may stop propagation
    logger.addHandler(caplog.handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        got = [precision.resolve_precision("bf16", "cpu") for _ in range(3)]
    finally:
        logger.removeHandler(caplog.handler)
    assert got == ["fp32"] * 3
    lines = [r.getMessage() for r in caplog.records if "bf16" in r.getMessage()]
    assert lines == ["precision bf16: no bf16 here; computing in fp32"]
    assert precision.resolve_precision("fp32", "cpu") == "fp32"


def test_bf16_with_a_fast_path_is_kept(monkeypatch, fresh_log):
    monkeypatch.setattr(precision, "bf16_support", lambda device: (True, "test"))
    assert precision.resolve_precision("bf16", "cpu") == "bf16"


def test_the_cpu_check_reads_the_kernel_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n\nflags\t: ignored\n")
    assert {"avx2", "avx512_bf16"} <= precision.cpu_flags(info)
    assert precision.cpu_flags(tmp_path / "missing") == set()
    fast, why = precision.cpu_bf16_support()
    assert isinstance(fast, bool) and why  # whichever this machine is, it says why


def test_autocast_runs_matmuls_in_bf16_and_float32_regions_in_fp32():
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8)
    with precision.autocast("fp32", "cpu"):
        assert lin(x).dtype == torch.float32
    with precision.autocast("bf16", "cpu"):
        y = lin(x)
        assert y.dtype == torch.bfloat16
        with precision.float32(y):
            assert lin(y.float()).dtype == torch.float32
    assert lin.weight.dtype == torch.float32  # the master weights stay float32


def test_old_configs_with_amp_load_as_fp32(tmp_path, caplog):
    cfg = load_config(FitConfig, OLD_RUN / "config.yaml")
    assert cfg.precision == "fp32" and not hasattr(cfg, "amp")
    both = tmp_path / "both.yaml"
    both.write_text("amp: true\nprecision: bf16\n")
    assert load_config(FitConfig, both).precision == "bf16"
    off = tmp_path / "off.yaml"
    off.write_text("amp: false\n")
    assert load_config(FitConfig, off).precision == "fp32"
    assert load_config(FitConfig, None, ["precision=bf16"]).precision == "bf16"
