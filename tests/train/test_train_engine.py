"""The shared training engine: state round trips, RNG, tracking, sampler, logger, exact resume."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from gesturekit.train import (
    BestTracker,
    EarlyStopping,
    EpochSampler,
    MetricLogger,
    build_optimizer,
    build_scheduler,
    capture_rng_state,
    flatten_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
    unflatten_state,
)
from gesturekit.train.logging import read_metrics_csv
from gesturekit.train.loop import LoopConfig, Trainer
from gesturekit.train.state import latest_training_state


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_flatten_roundtrip_keeps_types_and_int_keys():
    obj = {
        "state": {0: {"exp_avg": torch.randn(3), "step": torch.tensor(4.0)}, 1: {}},
        "groups": [{"lr": 1e-3, "betas": (0.9, 0.99), "params": [0, 1]}],
        "arr": np.arange(5, dtype=np.uint32),
        "inf": float("inf"),
        "nan": float("nan"),
        "none": None,
    }
    tensors, skel = flatten_state(obj)
    assert all(isinstance(t, torch.Tensor) for t in tensors.values())
    import json

    back = unflatten_state(json.loads(json.dumps(skel)), tensors)
    _assert_same(obj, back)


def test_rng_state_roundtrip(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    tensors, skel = flatten_state(capture_rng_state())
    import json

    skel = json.loads(json.dumps(skel))
    want = (random.random(), np.random.rand(), torch.rand(2))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(unflatten_state(skel, tensors))
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert want[0] == got[0] and want[1] == got[1] and torch.equal(want[2], got[2])


def _toy():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = build_optimizer(model.parameters(), "adam", lr=1e-2)
    sched = build_scheduler(opt, "cosine", epochs=10, warmup_epochs=2)
    return model, opt, sched


def test_training_state_roundtrip(tmp_path):
    model, opt, sched = _toy()
    x = torch.randn(16, 4)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        sched.step()
    save_training_state(tmp_path, modules={"m": model}, optimizers={"o": opt}, schedulers={"s": sched},
                        counters={"epoch": 3, "step": 3}, extra={"best": 0.5})  # fmt: skip
    assert (tmp_path / "state-0000000003.safetensors").exists()
    assert not any(p.suffix in (".pt", ".pth", ".pkl") for p in tmp_path.iterdir())
    m2, o2, s2 = _toy()
    got = load_training_state(tmp_path, modules={"m": m2}, optimizers={"o": o2}, schedulers={"s": s2})
    assert got["counters"] == {"epoch": 3, "step": 3} and got["extra"] == {"best": 0.5}
    _assert_same(model.state_dict(), m2.state_dict())
    _assert_same(opt.state_dict(), o2.state_dict())
    assert s2.state_dict()["last_epoch"] == sched.state_dict()["last_epoch"]
    with pytest.raises(Exception, match="optimizers"):
        load_training_state(tmp_path, modules={"m": m2}, optimizers={})


def test_pointer_survives_an_interrupted_write(tmp_path):
    model, opt, _ = _toy()
    save_training_state(tmp_path, modules={"m": model}, optimizers={"o": opt}, counters={"step": 1})
    save_training_state(tmp_path, modules={"m": model}, optimizers={"o": opt}, counters={"step": 2}, keep=1)
    assert latest_training_state(tmp_path).name == "state-0000000002"
    assert not (tmp_path / "state-0000000001.json").exists()
    # a half-written newer state (tensor file only) is ignored: the pointer still names step 2
    (tmp_path / "state-0000000003.safetensors").write_bytes(b"garbage")
    got = load_training_state(tmp_path, modules={"m": model}, optimizers={"o": opt})
    assert got["counters"]["step"] == 2


def test_best_tracker_and_early_stopping():
    t = BestTracker(mode="max")
    assert t.update(0.5, 0) and not t.update(0.4, 1) and not t.update(float("nan"), 2) and t.update(0.6, 3)
    assert (t.best, t.best_epoch) == (0.6, 3)
    t2 = BestTracker(mode="min")
    t2.load_state_dict(t.state_dict() | {"mode": "min"})
    assert t2.best == 0.6
    es = EarlyStopping(patience=2, min_epochs=5)
    flags = [es.step(i == 0, i) for i in range(6)]
    assert flags == [False, False, False, False, True, True]  # bad since epoch 1, but not before 5 epochs


def test_epoch_sampler_deterministic_and_sharded():
    s = EpochSampler(10, batch_size=3, seed=4)
    assert s.batches(2) == EpochSampler(10, batch_size=3, seed=4).batches(2)
    assert s.batches(1) != s.batches(2)
    assert s.batches(2, start=2) == s.batches(2)[2:]
    assert sorted(i for b in s.batches(0) for i in b) == list(range(10))
    shards = [EpochSampler(10, 2, seed=4, rank=r, world_size=3).indices(0) for r in range(3)]
    assert len({len(x) for x in shards}) == 1 and set().union(*shards) == set(range(10))


def test_metric_logger_csv_and_resume_truncation(tmp_path):
    with MetricLogger(tmp_path, tensorboard=True) as lg:
        for step in range(1, 5):
            lg.log({"loss": 1.0 / step}, step=step, epoch=step - 1)
            lg.log({"loss": 2.0 / step}, step=step, epoch=step - 1, split="val")
    assert len(read_metrics_csv(tmp_path / "metrics.csv")) == 8
    assert any((tmp_path / "tensorboard").iterdir())
    with MetricLogger(tmp_path, tensorboard=False, resume_step=2) as lg:
        lg.log({"loss": 9.0}, step=3, epoch=2)
    rows = read_metrics_csv(tmp_path / "metrics.csv")
    assert [r["step"] for r in rows] == [1, 1, 2, 2, 3] and rows[-1]["value"] == 9.0


def _run_toy(state_dir, epochs, resume=False, stop_after_steps=None, checkpoint_every=0):
    torch.manual_seed(0)
    data_x = torch.randn(40, 4)
    data_y = data_x.sum(1, keepdim=True) + 0.1 * torch.randn(40, 1)
    model, opt, sched = _toy()
    cfg = LoopConfig(epochs=epochs, patience=0, grad_clip=1.0, checkpoint_every_steps=checkpoint_every)
    cfg.progress = False
    tr = Trainer(state_dir, modules={"m": model}, optimizers={"o": opt}, schedulers={"s": sched},
                 sampler=EpochSampler(40, 8, seed=1), config=cfg)  # fmt: skip
    calls = {"n": 0}

    class Stop(Exception):
        pass

    def train_batch(idx, epoch):
        if stop_after_steps is not None and calls["n"] >= stop_after_steps:
            raise Stop
        calls["n"] += 1
        x, y = data_x[idx], data_y[idx]
        noise = torch.randn_like(x) * 0.01  # consumes the global RNG: resume must restore it
        loss = torch.nn.functional.mse_loss(model(x + noise), y)
        tr.backward_step(loss, "o")
        return {"loss": loss.item()}

    def validate(epoch):
        return {"loss": torch.nn.functional.mse_loss(model(data_x), data_y).item()}

    try:
        tr.fit(train_batch, validate, resume=resume)
    except Stop:
        return None
    return model


def test_trainer_resume_is_bit_identical(tmp_path):
    ref = _run_toy(tmp_path / "a", epochs=4)
    assert _run_toy(tmp_path / "b", epochs=4, stop_after_steps=13, checkpoint_every=3) is None
    resumed = _run_toy(tmp_path / "b", epochs=4, resume=True, checkpoint_every=3)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
