"""AE-CNMF speed on the CPU: one training step, and encode + reconstruct of the mngu0 utterances.

Figures (the reference README's configuration: 100 gestures of width 10, encoder kernels 15-3-3,
sparse training, SGD):

- ``train_step_ms``: median time of one training step (forward, the sparse loss, backward,
  gradient step) on a batch of 16 crops of 500 frames of ``../shared/realdata/mngu0_nema``;
- ``encode_reconstruct_ms``: median time to encode and reconstruct the 8 mngu0 utterances
  (7,920 frames), one utterance at a time, from arrays in data units (normalisation included),
  with :meth:`UnitModel.reconstruct` of a trained model;
- ``encode_reconstruct_frames_per_s_1thread``: the same on one thread, in frames per second;
- ``decode_frames_per_s_1thread``: :meth:`UnitModel.decode` alone, of given scores, on one thread,
  for a model that uses most of its gestures: an AE-CNMF of 40 gestures of width 41 (the
  ``ae_mngu0`` settings, pinned here) fitted for one epoch on 6 of the utterances, decoding the
  scores it gives all 8 (``decode_gestures_used``: the median number of gestures an utterance
  uses; ``decode_nonzero_share``: the share of non-zero scores, which is what the decoder's cost
  follows);
- ``*_cpu_time``: the one-thread figures in CPU time of this process rather than wall time (a
  fairer figure on a shared, oversubscribed machine);
- ``train_step_gestures_used``: how many of the 100 gestures score above zero somewhere in a
  batch (median of the 5 steps after the timed ones: the timed steps keep no statistics); a step
  skips the unused ones (per utterance) in its last encoder layer's backward and in the decoder,
  so it is faster once sparse training has concentrated the scores;
- ``train_step_ms_all_used``: the same step on the freshly initialised model (nearly every
  gesture used; the learning rate set to 0 so that it stays so): the cost before the scores
  concentrate;
- the ratios to the reference program (44.5 ms per step, 14.8 ms for the 8 utterances on 2 cores).

The step is the one ``gesturekit units fit`` takes (:func:`training_objective`: on the CPU the
compiled loss-and-gradient passes of ``units/ops/_kernels/training.py``; ``GESTUREKIT_FUSED=0``
times the torch path). The model is trained for ``--train-steps`` steps first; the step is then
timed as the rest of that run would see it. With this configuration a run's fate depends on its
order of crops (``units_crop_orders.py --torch``: 8 crop orders, 150 steps each): 1 collapsed
(loss 0.64), 4 stayed dense (69-82 gestures in the last batch, loss 0.29-0.39) and 3
concentrated their scores on 21-34 gestures with the lowest loss (0.06-0.08), the same fates on
the compiled and the torch paths. The default ``--crop-order`` gives one of the last, the model
a user would keep; its step is faster than a dense model's because the gestures a batch does not
use are skipped, so the dense cost is reported beside it (``train_step_ms_all_used``) and
``train_step_gestures_used`` and ``train_loss_before_timing`` say which regime was timed.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import main, median_time, parser

MNGU0 = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "mngu0_nema"
REF_TRAIN_STEP_MS = 44.5
REF_ENCODE_RECONSTRUCT_MS = 14.8


def _utterances() -> list[np.ndarray]:
    files = sorted(MNGU0.glob("*.npy"))
    if files:
        return [np.load(f).astype(np.float64) for f in files]
    rng = np.random.default_rng(0)  # the same frame counts when the real data are absent
    return [rng.standard_normal((n, 12)) for n in (1269, 850, 925, 882, 829, 1045, 1115, 1005)]


def cpu_time(fn, repeats: int) -> float:
    """Median CPU seconds of ``fn()`` (this process's, all threads): robust to a busy machine."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def setup() -> dict[str, Any]:
    """The reference configuration on the mngu0 utterances: ``cfg``, ``norm``, ``data``,
    ``channels``, ``utts`` and ``items`` (the 16 utterance indices of a batch)."""
    from gesturekit.features.normalize import Normalizer
    from gesturekit.records import EMARecording
    from gesturekit.units.neural import NeuralUnitsConfig
    from gesturekit.units.neural.data import build_set

    utts = _utterances()
    channels = [f"{a}_{x}" for a in ("td", "tb", "tt", "li", "ul", "ll") for x in ("x", "y")]
    recs = [EMARecording(u, 200.0, channels, units="z") for u in utts]
    # every option the figures depend on is pinned here, so that they stay comparable when the
    # package's defaults move (they did on 2026-12-05; these are the reference's values)
    cfg = NeuralUnitsConfig(gestures=100, width=10, normalize="none", seed=12)
    cfg.net.hidden, cfg.net.kernels, cfg.net.decoder = 0, [15, 3, 3], "signed"
    cfg.loss.reconstruction, cfg.loss.sparse = "l1", True
    cfg.loss.w_c, cfg.loss.beta_c, cfg.loss.w_t, cfg.loss.beta_t, cfg.loss.w_Et = 10.0, 0.9, 100.0, 0.95, 10.0
    cfg.loss.w_Ec = 1.0
    cfg.init.kind, cfg.init.scale, cfg.init.iters, cfg.init.max_windows = "kmeans", 0.1, 50, 5000
    norm = Normalizer("none").fit([r.data for r in recs], channels=channels)
    data = build_set(recs, norm, [])
    items = np.arange(16) % len(data)
    return {"cfg": cfg, "norm": norm, "data": data, "channels": channels, "utts": utts, "items": items}


def new_net(s: dict[str, Any]):  # noqa: ANN201
    """The freshly initialised network (k-means gestures, seed 12) and its SGD optimiser."""
    import torch

    from gesturekit.units.neural.fit import _init_gestures
    from gesturekit.units.neural.models import build_net

    torch.manual_seed(12)
    net = build_net("ae", 12, s["cfg"].net_config())
    _init_gestures(net, s["cfg"], s["data"], s["norm"])
    return net, torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-5)


def batch_of(s: dict[str, Any], epoch: int):  # noqa: ANN201
    """The batch of 16 crops of 500 frames of crop sequence ``epoch``."""
    from gesturekit.units.neural.data import crop_offsets, item_batch

    offsets = crop_offsets(s["data"].lengths[s["items"]], 500, 12, epoch)
    return item_batch(s["data"], s["items"], list(range(16)), offsets, 500)


def dense_model(s: dict[str, Any], directory: str):  # noqa: ANN201
    """An AE-CNMF of 40 gestures of width 41 fitted for one epoch (the ``ae_mngu0`` settings, pinned)
    on the first 6 utterances, validated on the others: a model that uses most of its gestures."""
    from gesturekit.records import EMARecording
    from gesturekit.units.neural import NeuralUnitsConfig, fit_neural

    cfg = NeuralUnitsConfig(method="ae", gestures=40, width=41, epochs=1, seed=0, normalize="zscore")
    cfg.nonneg_split, cfg.figures = "false", False
    cfg.net.hidden, cfg.net.kernels, cfg.net.decoder = 0, [15, 3, 3], "signed"
    cfg.data.segment_len, cfg.data.items_per_epoch = 400, 64
    cfg.init.kind, cfg.init.scale, cfg.init.iters, cfg.init.max_windows = "kmeans", 0.1, 50, 100_000
    cfg.loss.reconstruction, cfg.loss.sparse = "l1", True
    cfg.loss.w_c, cfg.loss.beta_c, cfg.loss.w_t, cfg.loss.beta_t = 1.0, 0.8, 10.0, 0.8
    cfg.loss.w_Et, cfg.loss.w_Ec = 1.0, 1.0
    cfg.optim.name, cfg.optim.lr, cfg.optim.schedule, cfg.optim.grad_clip = "adam", 3e-3, "plateau", 100.0
    cfg.train.batch_size, cfg.train.progress, cfg.train.figures_every = 8, False, 0
    recs = [EMARecording(u, 200.0, s["channels"], units="z") for u in s["utts"]]
    return fit_neural(recs[:6], recs[6:], cfg, directory)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from gesturekit.units.model import UnitModel
    from gesturekit.units.neural.objective import training_objective

    threads = torch.get_num_threads()
    s = setup()
    cfg, norm, channels, utts = s["cfg"], s["norm"], s["channels"], s["utts"]
    net, opt = new_net(s)
    state: dict[str, Any] = {"epoch": 0, "used": [], "loss": []}

    def step(record: bool = True) -> None:
        batch = batch_of(s, state["epoch"])
        state["epoch"] += 1
        if record:  # the benchmark's own statistics: left out of the timed steps
            with torch.no_grad():  # the scores this step trains on
                state["used"].append(int((net.encode(batch.x, batch.mask).amax((0, 2)) > 0).sum()))
        loss, _ = training_objective(net, net, batch, cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if record:
            state["loss"].append(float(loss.detach()))

    def timed_steps(repeats: int, warmup: int) -> tuple[float, float]:
        """Median seconds of a step (no statistics kept), then the gestures used in the next 5."""
        seconds = median_time(lambda: step(record=False), repeats=repeats, warmup=warmup)
        state["used"] = []
        for _ in range(5):
            step()
        return seconds, statistics.median(state["used"])

    net.train()
    initial = copy.deepcopy(net.state_dict())
    for group in opt.param_groups:  # the dense figure first: steps that leave the weights alone
        group["lr"] = 0.0
    dense_s, dense_used = timed_steps(max(3, args.repeats // 2), 2)
    net.load_state_dict(initial)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-5)
    state["epoch"] = args.crop_order  # the crop sequence of the timed run (see the module docstring)
    for _ in range(args.train_steps):
        step()
    loss_trained = statistics.mean(state["loss"][-10:])
    train_s, used = timed_steps(args.repeats, 3)

    with tempfile.TemporaryDirectory() as d:  # a trained model, saved and loaded as a user would
        from gesturekit.units.neural.api import NeuralUnitModel
        from gesturekit.units.neural.fit import _hparams

        NeuralUnitModel(net, norm, channels, 200.0, _hparams(cfg, norm, [])).save(d)
        model = UnitModel.load(d)
    frames = sum(len(u) for u in utts)

    def encode_reconstruct() -> None:
        for u in utts:
            model.reconstruct(u)

    with tempfile.TemporaryDirectory() as d:
        dense = dense_model(s, d)
    dense_scores = [dense.encode(u) for u in utts]

    def decode() -> None:
        for h in dense_scores:
            dense.decode(h)

    er_s = median_time(encode_reconstruct, repeats=args.repeats * 2, warmup=3)
    torch.set_num_threads(1)
    er1_s = median_time(encode_reconstruct, repeats=args.repeats * 2, warmup=3)
    er1_cpu = cpu_time(encode_reconstruct, repeats=args.repeats * 2)
    dec1_s = median_time(decode, repeats=args.repeats * 2, warmup=3)
    dec1_cpu = cpu_time(decode, repeats=args.repeats * 2)
    step1_cpu = cpu_time(lambda: step(record=False), repeats=args.repeats)
    torch.set_num_threads(threads)
    return {
        "train_step_ms": train_s * 1e3,
        "train_step_gestures_used": used,
        "train_loss_before_timing": loss_trained,
        "train_step_ms_all_used": dense_s * 1e3,
        "train_step_all_used_gestures_used": dense_used,
        "encode_reconstruct_ms": er_s * 1e3,
        "encode_reconstruct_frames": frames,
        "encode_reconstruct_frames_per_s": frames / er_s,
        "encode_reconstruct_frames_per_s_1thread": frames / er1_s,
        "encode_reconstruct_frames_per_s_1thread_cpu_time": frames / er1_cpu,
        "train_step_ms_1thread_cpu_time": step1_cpu * 1e3,
        "decode_frames_per_s_1thread": frames / dec1_s,
        "decode_frames_per_s_1thread_cpu_time": frames / dec1_cpu,
        "decode_gestures_used": statistics.median(int((h.max(1) > 0).sum()) for h in dense_scores),
        "decode_nonzero_share": float(np.mean([(h > 0).mean() for h in dense_scores])),
        "train_step_speedup_vs_reference": REF_TRAIN_STEP_MS / (train_s * 1e3),
        "encode_reconstruct_speedup_vs_reference": REF_ENCODE_RECONSTRUCT_MS / (er_s * 1e3),
        "threads": threads,
        "real_data": bool(sorted(MNGU0.glob("*.npy"))),
    }


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=40, help="timed repetitions (default 40)")
    p.add_argument("--crop-order", type=int, default=400, help="first epoch of the crop sequence (default 400)")
    p.add_argument("--train-steps", type=int, default=150, help="training steps before timing (default 150)")
    main("units_speed", run, p)
