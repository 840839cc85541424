"""cc_nce: the reference's form against gesturekit's corrected form, measured.

On batches of unit latents ``(n, 64, 128)`` whose queries agree with their positives to a chosen
degree (``agreement``: the cosine of the query frames with the positive frames, negatives
random), for temperatures 0.05 to 1: the loss, its gradient norm with respect to the queries,
and the margin the loss rewards (the drop in loss when agreement rises from 0.2 to 0.8).
The reference's min-max scaling makes the loss and its gradient independent of the temperature
and squeezes every score into [0, 1]; the corrected form's gradient and margin scale with
1/temperature, as a temperature should. Optionally (``--train``) a tiny model on the synthetic
corpus is trained with each form and evaluated on held-out clips.
"""

from __future__ import annotations

from typing import Any

from _common import main, parser

TEMPS = (0.05, 0.1, 0.3, 1.0)


def _batch(
    agreement: float, seed: int = 0, n: int = 4, n_pos: int = 6, n_neg: int = 24, T: int = 64, C: int = 128
):  # noqa: ANN202
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    pos = F.normalize(torch.randn(n_pos, T, C, generator=g), dim=-1)
    neg = F.normalize(torch.randn(n_neg, T, C, generator=g), dim=-1)
    noise = F.normalize(torch.randn(n, T, C, generator=g), dim=-1)
    base = pos[torch.arange(n) % n_pos]
    ortho = F.normalize(noise - (noise * base).sum(-1, keepdim=True) * base, dim=-1)
    q = agreement * base + (1 - agreement**2) ** 0.5 * ortho
    return q.requires_grad_(True), pos, neg


def run(args: Any) -> dict[str, Any]:
    from gesturekit.cospeech.models.contrastive import ccnce_loss_corrected, ccnce_loss_reference

    out: dict[str, Any] = {}
    for form, fn in (("reference", ccnce_loss_reference), ("corrected", ccnce_loss_corrected)):
        rows = {}
        for t in TEMPS:
            vals = {}
            for agree in (0.2, 0.8):
                q, pos, neg = _batch(agree)
                loss = fn(q, pos, neg, t)
                loss.backward()
                vals[agree] = (float(loss), float(q.grad.norm()))
            rows[f"T={t}"] = {"loss_at_0.8": round(vals[0.8][0], 5), "grad_norm_at_0.8": round(vals[0.8][1], 6),
                              "margin_0.2_to_0.8": round(vals[0.2][0] - vals[0.8][0], 5)}  # fmt: skip
        out[form] = rows
    if args.train:
        out["training"] = _train(args)
    return out


def _train(args: Any) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import torch

    from gesturekit.cospeech.data.store_inputs import StoreInputs, open_store
    from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
    from gesturekit.cospeech.data.types import Corpus, FeatureClip, write_clip_folder
    from gesturekit.cospeech.models.bundle import load_model
    from gesturekit.cospeech.training.fit import FitConfig, ModelOptions, evaluate, fit, prepare

    syn = make_synthetic_corpus(n_train=16, n_dev=0, n_test=4, frames=128, seed=0)
    held = [FeatureClip(c.clip_id, c.speaker, "dev", c.audio, c.text, c.pose, c.fps) for c in syn.split("test")]
    corpus = Corpus(syn.split("train") + held, syn.pose_format, syn.fps, syn.source, syn.text_features)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_clip_folder(Path(tmp) / "clips", corpus)
        cache = Path(tmp) / "cache"
        for form in ("reference", "corrected"):
            mo = ModelOptions(d=32, decoder_width=16, cc_stat_epoch=0, curriculum_epochs=1.0, cc_form=form)
            cfg = FitConfig(model="ccnce", epochs=args.epochs, num_iters=16, batch_size=16, window=32,
                            hop=4, num_clusters=6, seed=1, lr=2e-3, model_options=mo,
                            early_stopping=False)  # fmt: skip
            run = Path(tmp) / form
            fit(cfg, data, None, run, device="cpu", cache=cache)
            model, _ = load_model(run)
            m = evaluate(
                model, prepare(StoreInputs.from_store(open_store(data, cache)), cfg), torch.device("cpu")
            )
            res[form] = {k: round(v, 4) for k, v in m.items()}
    return res


if __name__ == "__main__":
    p = parser("cc_nce reference vs corrected form: temperature, gradients, margins")
    p.add_argument("--train", action="store_true", help="also train a tiny model with each form")
    p.add_argument("--epochs", type=int, default=8)
    main("ccnce_forms", run, p)
