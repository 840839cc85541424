"""The default schedule on small corpora (``min_steps``) and the motion terms of the generator loss."""

from __future__ import annotations

import pytest
import torch

import gesturekit.cospeech.training.fit as fit_module
from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import write_clip_folder
from gesturekit.cospeech.training.fit import FitConfig, ModelOptions, fit
from gesturekit.train.logging import read_metrics_csv

torch.set_num_threads(1)


def tiny(**kw) -> FitConfig:
    mo = ModelOptions(d=16, cc_stat_epoch=0, curriculum_epochs=1.0)
    base = dict(epochs=2, num_iters=2, batch_size=4, window=32, hop=16, num_clusters=3, min_epochs=0,
                seed=3, model_options=mo, lambda_vel=0.0, lambda_acc=0.0, min_steps=0)  # fmt: skip
    base.update(kw)
    return FitConfig(**base)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    corpus = make_synthetic_corpus(n_train=4, n_dev=0, n_test=1, frames=64, seed=0)
    return write_clip_folder(tmp_path_factory.mktemp("clips") / "synth", corpus)


def test_the_default_schedule_adds_epochs_on_a_small_corpus_only(tmp_path, clip_dir):
    assert FitConfig().epochs == 0 and FitConfig().min_steps > 0  # the default is the automatic schedule
    res = fit(
        tiny(epochs=0, min_steps=47), clip_dir, None, tmp_path / "run", device="cpu", cache=tmp_path / "c"
    )
    assert res["epochs"] == 24 and res["steps"] == 48  # ceil(47 / 2 batches per epoch) epochs
    res = fit(
        tiny(epochs=0, min_steps=7), clip_dir, None, tmp_path / "run2", device="cpu", cache=tmp_path / "c"
    )
    assert res["epochs"] == fit_module.AUTO_EPOCHS  # at least 20 epochs
    res = fit(
        tiny(epochs=3, min_steps=47), clip_dir, None, tmp_path / "run3", device="cpu", cache=tmp_path / "c"
    )
    assert res["epochs"] == 3  # epochs given: exactly those


def test_velocity_acceleration_and_energy_terms_are_trained_and_logged(tmp_path, clip_dir):
    def names(run):
        return {r["name"] for r in read_metrics_csv(run / "metrics.csv") if r["split"] == "train"}

    fit(tiny(), clip_dir, None, tmp_path / "plain", device="cpu", cache=tmp_path / "c")
    fit(tiny(lambda_vel=1.0, lambda_acc=2.0, lambda_energy=0.5), clip_dir, None, tmp_path / "motion",
        device="cpu", cache=tmp_path / "c")  # fmt: skip
    assert not {"vel", "acc", "energy"} & names(tmp_path / "plain")
    assert {"vel", "acc", "energy"} <= names(tmp_path / "motion")
    rows = [r for r in read_metrics_csv(tmp_path / "motion" / "metrics.csv") if r["split"] == "train"]
    by = {(r["step"], r["name"]): r["value"] for r in rows}
    for step in {r["step"] for r in rows if r["name"] == "vel"}:
        parts = by[(step, "pose")] + by[(step, "vel")] + 2.0 * by[(step, "acc")] + 0.5 * by[(step, "energy")]
        extra = sum(v for (s, n), v in by.items() if s == step and n in ("G_gan", "cc_nce", "cluster_ce"))
        assert by[(step, "G_total")] == pytest.approx(parts + extra, rel=1e-4)


def test_the_energy_term_is_the_l1_of_the_windows_spread_over_time():
    """lambda_energy compares each coordinate's standard deviation over the window, not the poses: a
    generated window that moves as much as the real one, in any direction, costs nothing."""
    t = torch.linspace(0, 6.28, 32)
    real = torch.stack([torch.sin(t), 2 * torch.cos(t)], -1)[None]  # (1, T, 2)
    moved = torch.stack([-torch.sin(t), 2 * torch.sin(t + 1.0)], -1)[None]  # other motion, same spread
    still = torch.zeros_like(real)
    crit = torch.nn.L1Loss()
    energy = fit_module.energy_term
    assert float(energy(crit, moved, real)) < 0.02
    assert float(energy(crit, still, real)) == pytest.approx(float(real.std(dim=1).mean()), rel=1e-6)
