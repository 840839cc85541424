"""Does cc_nce raise the cluster classifier's accuracy? Measured on the synthetic corpus.

A tiny CC-NCE model (the must-show test's config: d 32, window 32, 6 k-means clusters) is
trained on 16 synthetic clips for ``--epochs`` epochs with the contrastive weight
``lambda_contrastive`` 0 and 1, everything else (seed, batches, noise, curriculum) identical,
for each seed; held-out accuracy of the per-frame cluster classifier (``cluster_acc`` on 64
windows of 16 unseen clips) after each epoch. Also the purity of cc_nce's positives: the mean
fraction of frames whose k-means label agrees between a batch cluster's anchor and its members,
against random pairs of windows (the reference threshold, mean + std of the per-batch mean
similarities, is what the model uses).
"""

from __future__ import annotations

import statistics
from typing import Any

from _common import main, parser


def _corpus(word_frames: tuple[int, int], n_test: int, n_train: int = 16, noise: float = 1.0):  # noqa: ANN202
    """A feature-clip folder: synthetic training clips, held-out clips in the dev slot."""
    import tempfile
    from pathlib import Path

    from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
    from gesturekit.cospeech.data.types import Corpus, FeatureClip, write_clip_folder

    syn = make_synthetic_corpus(n_train=n_train, n_dev=0, n_test=n_test, frames=128, seed=0,
                                word_frames=word_frames, noise=noise)  # fmt: skip
    dev = [FeatureClip(c.clip_id, c.speaker, "dev", c.audio, c.text, c.pose, c.fps) for c in syn.split("test")]
    corpus = Corpus(syn.split("train") + dev, syn.pose_format, syn.fps, syn.source, syn.text_features)
    return write_clip_folder(Path(tempfile.mkdtemp()) / "clips", corpus)


def _config(seed: int, lam: float, args: Any):  # noqa: ANN202
    from gesturekit.cospeech.training.fit import FitConfig, ModelOptions

    mo = ModelOptions(d=32, decoder_width=16, cc_stat_epoch=0, curriculum_epochs=1.0,
                      cc_similarity=args.similarity, cc_keys=args.keys, cc_positives=args.positives,
                      cc_threshold_std=args.threshold_std, cc_form=args.form,
                      cc_temperature=args.temperature)  # fmt: skip
    return FitConfig(model="ccnce", epochs=args.epochs, num_iters=args.iters, batch_size=16, window=32, hop=4,
                     num_clusters=6, seed=seed, lr=2e-3, model_options=mo, early_stopping=False,
                     lambda_contrastive=lam, lambda_cluster=args.lambda_cluster)  # fmt: skip


def _train(data, seed: int, lam: float, args: Any) -> tuple[list[float], float]:  # noqa: ANN001
    """Held-out cluster accuracy after each epoch; matched batch clusters per batch (epochs 1+)."""
    import tempfile

    from gesturekit.cospeech.models.contrastive import ClusteredContrast
    from gesturekit.cospeech.training.fit import fit
    from gesturekit.train.logging import read_metrics_csv

    matched = []
    loss = ClusteredContrast._loss

    def counted(self: Any, *a: Any) -> Any:
        out = loss(self, *a)
        matched.append(self.last_matched)
        return out

    ClusteredContrast._loss = counted  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as run:
            fit(_config(seed, lam, args), data, None, run, device="cpu")
            rows = read_metrics_csv(f"{run}/metrics.csv")
    finally:
        ClusteredContrast._loss = loss  # type: ignore[method-assign]
    accs = [r["value"] for r in rows if r["split"] == "val" and r["name"] == "cluster_acc"]
    return accs, sum(matched) / max(1, (args.epochs - 1) * args.iters)


def _purity(data, args: Any, batches: int = 40) -> dict[str, float]:  # noqa: ANN001
    import numpy as np
    import torch

    from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store
    from gesturekit.cospeech.models.contrastive import greedy_batch_clusters, label_windows, pose_similarity
    from gesturekit.cospeech.training.fit import model_arrays, prepare

    prep = prepare(StoreInputs.from_store(open_store(data)), _config(0, 1.0, args))
    _, _, pose_np, _, lab = model_arrays(
        prep, prep.train.get_batch(np.arange(len(prep.train)))
    )  # a tiny corpus
    pose = torch.as_tensor(pose_np)
    if args.positives == "labels":  # the clustering space is the one-hot k-means labels
        pose = label_windows(torch.as_tensor(lab), prep.clusters.k)
    rng = np.random.default_rng(0)
    cos = args.similarity == "cosine"
    means = []
    for _ in range(16):  # the statistics epoch: a random anchor's mean similarity to its batch
        idx = rng.choice(len(pose), 16, replace=False)
        means.append(float(pose_similarity(pose[idx], pose[idx], cosine=cos)[0, 1:].mean()))
    tau = float(np.mean(means) + args.threshold_std * np.std(means))
    agree = []
    for _ in range(batches):
        idx = rng.choice(len(pose), 16, replace=False)
        sim = pose_similarity(pose[idx], pose[idx], cosine=cos).numpy()
        for c in greedy_batch_clusters(sim, tau, rng):
            agree += [float((lab[idx[m]] == lab[idx[c[0]]]).mean()) for m in c[1:]]
    pairs = rng.integers(len(lab), size=(2000, 2))
    rand = float(np.mean([(lab[a] == lab[b]).mean() for a, b in pairs]))
    return {"positive_frame_agreement": float(np.mean(agree)), "random_frame_agreement": rand}


def _paired(a: list[float], b: list[float]) -> tuple[float, float, int]:
    """Mean of ``b - a``, its standard error, and the count of pairs where ``b > a``."""
    d = [y - x for x, y in zip(a, b, strict=True)]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    return statistics.mean(d), se, sum(v > 0 for v in d)


def run(args: Any) -> dict[str, Any]:
    corpus = _corpus(tuple(args.word_frames), 16, args.n_train, args.noise)
    out: dict[str, Any] = dict(_purity(corpus, args))
    finals: dict[float, list[float]] = {0.0: [], 1.0: []}
    means: dict[float, list[float]] = {0.0: [], 1.0: []}
    for seed in args.seeds:
        for lam in (0.0, 1.0):
            accs, matched = _train(corpus, seed, lam * args.weight, args)
            out[f"seed{seed}_lambda{lam:g}_matched_per_batch"] = round(matched, 2)
            finals[lam].append(accs[-1])
            means[lam].append(statistics.mean(accs[1:]))
            out[f"seed{seed}_lambda{lam:g}_acc"] = " ".join(f"{a:.3f}" for a in accs)
    for lam in (0.0, 1.0):
        out[f"final_acc_lambda{lam:g}_mean"] = statistics.mean(finals[lam])
        out[f"epochs1plus_acc_lambda{lam:g}_mean"] = statistics.mean(means[lam])
    for name, vals in (("final_acc", finals), ("epochs1plus_acc", means)):
        m, se, wins = _paired(vals[0.0], vals[1.0])
        out[f"{name}_diff_mean"], out[f"{name}_diff_se"] = m, se
        out[f"seeds_where_cc_nce_raises_{name}"] = wins
    out["seeds"] = len(args.seeds)
    return out


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--word-frames", type=int, nargs=2, default=[6, 16], help="word duration range (frames)")
    p.add_argument("--similarity", default="dot", choices=["dot", "cosine"], help="cc_nce pose similarity")
    p.add_argument("--keys", default="stored", choices=["stored", "reencode"], help="cc_nce keys")
    p.add_argument("--positives", default="pose", choices=["pose", "labels"], help="cc_nce clustering space")
    p.add_argument("--threshold-std", type=float, default=1.0, help="tau = mean + this x std (reference 1)")
    p.add_argument("--form", default="corrected", choices=["corrected", "reference"], help="cc_nce form")
    p.add_argument("--temperature", type=float, default=0.1, help="cc_nce temperature")
    p.add_argument("--weight", type=float, default=1.0, help="lambda_contrastive of the cc_nce runs")
    p.add_argument("--n-train", type=int, default=16, help="training clips (128 frames each)")
    p.add_argument("--noise", type=float, default=1.0, help="pose noise (pixels) of the synthetic corpus")
    p.add_argument("--iters", type=int, default=16, help="iterations per epoch")
    p.add_argument("--lambda-cluster", type=float, default=1.0, help="weight of the classifier's cross-entropy")
    main("ccnce_cluster_acc", run, p)
