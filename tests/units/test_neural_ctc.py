"""The CTC phone head and the linear probe on a labelled fixture (phones drive the kinematics)."""

from __future__ import annotations

import numpy as np
import torch

from gesturekit.records import EMARecording, Segment, SegmentTier
from gesturekit.units.neural.config import NeuralUnitsConfig
from gesturekit.units.neural.data import build_set, frame_phone_ids, item_batch, phone_inventory
from gesturekit.units.neural.fit import fit_neural
from gesturekit.units.neural.losses import ctc_targets
from gesturekit.units.neural.models import build_net
from gesturekit.units.neural.objective import objective

CHANNELS = [f"{a}_{x}" for a in ("td", "tb", "tt", "li", "ul", "ll") for x in ("x", "y")]
PHONES = ["aa", "iy", "p", "s"]


def labelled_recordings(n: int, seed: int = 0) -> list[EMARecording]:
    """Utterances whose frames follow a per-phone target posture (smoothed), with phone tiers."""
    rng = np.random.default_rng(seed)
    postures = rng.normal(size=(len(PHONES), 12)) * 1.5
    out = []
    for u in range(n):
        segs, t, frames = [], 0.0, []
        for _ in range(12):
            p = int(rng.integers(len(PHONES)))
            dur = int(rng.integers(8, 20))
            segs.append(Segment(PHONES[p], t / 200, (t + dur) / 200))
            frames.append(np.repeat(postures[p][None], dur, 0))
            t += dur
        x = np.concatenate(frames)
        kernel = np.hanning(9) / np.hanning(9).sum()
        x = np.stack([np.convolve(x[:, c], kernel, mode="same") for c in range(12)], 1)
        x += 0.05 * rng.normal(size=x.shape)
        out.append(EMARecording(x.astype(np.float32), 200.0, CHANNELS, units="z", utterance=f"utt{u}",
                                phones=SegmentTier("phones", segs)))  # fmt: skip
    return out


def test_frame_phone_ids_and_ctc_targets():
    rec = labelled_recordings(1)[0]
    inv = phone_inventory([rec])
    ids = frame_phone_ids(rec, inv)
    assert ids.shape == (rec.frames,) and ids.min() >= 0
    targets, lengths = ctc_targets([torch.tensor([2, 2, 0, 0, 1, 2]), torch.tensor([3])])
    assert targets.tolist() == [2, 0, 1, 2, 3] and lengths.tolist() == [4, 1]


def test_ctc_head_learns_and_padding_is_ignored():
    torch.manual_seed(0)
    recs = labelled_recordings(6)
    cfg = NeuralUnitsConfig(gestures=8, width=5, normalize="none")
    cfg.net.phone_head = True
    cfg.net.phone_hidden = 32
    cfg.net.phone_layers = 1
    inv = phone_inventory(recs)
    from gesturekit.features.normalize import Normalizer

    norm = Normalizer("none").fit([r.data for r in recs])
    data = build_set(recs, norm, inv)
    net = build_net("ae", 12, cfg.net_config(), n_phones=len(inv))
    assert net.phone_head.blank == len(inv)  # blank is the last class
    items = np.arange(len(data))
    batch = item_batch(data, items, list(range(6)), np.zeros(6, dtype=np.int64), 0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = last = None
    for _ in range(10):
        out = net(batch.x, batch.mask)
        loss, parts = objective(out, batch, cfg.loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(parts["ctc"]) if first is None else first
        last = float(parts["ctc"])
    assert last < 0.6 * first
    # extra padding leaves the log-probabilities of real frames unchanged
    net.eval()
    with torch.no_grad():
        lp = net(batch.x, batch.mask)["log_probs"]
        x2 = torch.nn.functional.pad(batch.x, (0, 30))
        m2 = torch.nn.functional.pad(batch.mask, (0, 30))
        lp2 = net(x2, m2)["log_probs"]
    n0 = int(batch.lengths[0])
    assert torch.allclose(lp[:n0, 0], lp2[:n0, 0], atol=1e-5)


def test_fit_with_phone_head_reports_probe_accuracy(tmp_path):
    recs = labelled_recordings(8, seed=1)
    cfg = NeuralUnitsConfig(gestures=8, width=5, epochs=3, normalize="zscore", seed=0)
    cfg.net.phone_head = True
    cfg.net.phone_hidden = 16
    cfg.net.phone_layers = 1
    cfg.data.segment_len = 0
    cfg.data.items_per_epoch = 0  # whole utterances, each once per epoch (2 steps)
    cfg.train.batch_size = 3
    cfg.train.figures_every = 0
    cfg.train.progress = False
    cfg.figures = False
    cfg.init.max_windows = 2000
    model = fit_neural(recs[:6], recs[6:], cfg, tmp_path)
    assert model.phone_set == PHONES
    import json

    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["probe_frame_acc"] > summary["probe_majority_acc"]
    rows = (tmp_path / "metrics.csv").read_text()
    assert ",val,ctc," in rows and ",train,ctc," in rows
