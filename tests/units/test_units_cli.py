"""``gesturekit units fit/evaluate/plot`` on small written corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli_subprocess
from gesturekit.units.synthetic import write_planted_nema

pytestmark = pytest.mark.usefixtures("one_thread")


def test_fit_evaluate_plot(cli, tmp_path: Path) -> None:
    files, _ = write_planted_nema(tmp_path / "data")
    run = tmp_path / "run"
    r = cli(
        "units", "fit", "--method", "cnmf", "--data", tmp_path / "data", "--gestures", "4", "--width", "11",
        "--epochs", "30", "--val-fraction", "0.34", "--seed", "1",
        "--set", "transform_max_iter=30", "--no-figures", "--out", run, "--json",
    )  # fmt: skip
    assert r.code == 0, r
    metrics = json.loads(r.out)
    assert metrics["config"]["gestures"] == 4 and metrics["config"]["seed"] == 1
    assert metrics["config"]["transform_max_iter"] == 30
    assert (run / "model.safetensors").exists() and (run / "config.yaml").exists()

    r = cli("units", "evaluate", run, *files[:2], "--json")
    assert r.code == 0, r
    ev = json.loads(r.out)
    assert {"mean_channel_r", "rmse", "per_file"} <= set(ev)
    assert len(ev["per_file"]) == 2 and ev["per_file"][0]["frames"] == 300
    assert 0.5 < ev["mean_channel_r"] <= 1.0 and ev["rmse"] > 0

    r = cli("units", "plot", run, files[0], "--out", tmp_path / "figs")
    assert r.code == 0, r
    pngs = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    assert pngs == ["gestures.png", "reconstruction_planted_00.png", "scores_planted_00.png"]
    assert all((tmp_path / "figs" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)

    # an existing run folder is never overwritten silently
    r = cli("units", "fit", "--data", tmp_path / "data", "--out", run, "--epochs", "2")
    assert r.code == 1 and "--overwrite" in r.err


def test_cli_errors_are_one_line(cli, tmp_path: Path) -> None:
    r = cli("units", "fit", "--method", "nosuch", "--data", tmp_path, "--out", tmp_path / "r")
    assert r.code == 1 and "unknown method" in r.err
    r = cli("units", "fit", "--data", tmp_path / "missing", "--out", tmp_path / "r2")
    assert r.code == 1 and "missing" in r.err and "Traceback" not in r.err
    bad = tmp_path / "bad"
    bad.mkdir()
    x = np.random.default_rng(0).normal(size=(100, 12))
    x[5:9, 3] = np.nan
    np.save(bad / "nan.npy", x)
    r = cli("units", "fit", "--data", bad, "--out", tmp_path / "r3", "--epochs", "2")
    assert r.code == 1 and "nan.npy" in r.err and "NaN" in r.err


def test_units_help_in_a_fresh_process() -> None:
    r = run_cli_subprocess("units", "fit", "--help")
    assert r.code == 0 and "--gestures" in r.out and "--method" in r.out


def test_fit_in_bf16_says_it_computes_in_fp32_and_does(cli, tmp_path: Path) -> None:
    write_planted_nema(tmp_path / "data")
    common = ["units", "fit", "--method", "cnmf", "--data", tmp_path / "data", "--gestures", "3",
              "--width", "11", "--epochs", "5", "--seed", "1", "--no-figures", "--json"]  # fmt: skip
    r = cli(*common, "--precision", "bf16", "--out", tmp_path / "bf16")
    assert r.code == 0, r
    assert r.err.count("units fit computes in fp32") == 1
    r = cli(*common, "--out", tmp_path / "fp32")
    assert r.code == 0 and "computes in fp32" not in r.err, r
    from gesturekit.checkpoint import load_checkpoint

    a, _ = load_checkpoint(tmp_path / "bf16" / "model")
    b, _ = load_checkpoint(tmp_path / "fp32" / "model")
    assert set(a) == set(b) and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
