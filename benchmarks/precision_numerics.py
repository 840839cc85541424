"""What bfloat16 autocast does to the numbers of the CC-NCE model: the measurements behind what
``--precision bf16`` keeps in float32 (docs/precision.md).

bf16 autocast is forced here whatever the CPU (emulated without a bf16 fast path: slow, the same
arithmetic), on small batches (``--batch`` windows of 64 frames), for the ``ccnce`` preset:

- ``generate_rel_err``: mean |bf16 - fp32| / mean |fp32| of the generator's output (eval);
- ``grad_cosine``: cosine between the bf16 and fp32 gradients (all parameters) of one generator
  step's loss (same weights, batch, noise and dropout masks); ``grad_cosine_fp32_other_dropout_masks``:
  the same between two fp32 gradients that differ only in their dropout masks (the scale of the
  noise training lives with anyway); ``grad_cosine_tensor_min`` / ``_median``: per parameter tensor
  (those with a gradient norm above 1e-6);
- ``loss_rel_err``: the step's total loss, bf16 against fp32;
- per op, float32 against the same op in bf16 (``*_bf16`` keys: the error had it stayed in bf16):
  ``ccnce_loss_rel_err_bf16`` (the corrected cc_nce InfoNCE of unit latents, temperature 0.1),
  ``ccnce_grad_cosine_bf16`` (its gradient), ``pose_similarity_flip_bf16`` (the share of window
  pairs whose side of the cc_nce threshold tau = mean + std changes: the online clustering's
  decisions), ``mixture_rel_err_bf16`` (the cluster mixture with bf16 softmax weights).
"""

from __future__ import annotations

import statistics
from typing import Any

from _common import main, parser


def run(args: Any) -> dict[str, Any]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from gesturekit.config import load_config
    from gesturekit.cospeech.models import build_model, canonical_name
    from gesturekit.cospeech.models.contrastive import ccnce_loss_corrected, pose_similarity
    from gesturekit.cospeech.training.fit import FitConfig, model_config

    def bf16() -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16)

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    B, T, P, A, W = args.batch, 64, 96, 64, 768
    cfg = load_config(FitConfig, args.config, [])
    g = build_model(canonical_name(cfg.model), model_config(cfg, P, A, W, 100))
    centres = rng.normal(0, 1, (8, P)).astype(np.float32)
    pose = torch.as_tensor(
        centres[rng.integers(0, 8, B)][:, None] + 0.3 * rng.normal(size=(B, T, P)), dtype=torch.float32
    )
    audio = torch.as_tensor(rng.normal(size=(B, T, A)), dtype=torch.float32)
    text = torch.as_tensor(rng.normal(size=(B, T, W)), dtype=torch.float32)
    labels = torch.as_tensor(rng.integers(0, cfg.num_clusters, (B, T)))
    out: dict[str, Any] = {"config": args.config, "batch": B}

    g.eval()
    with torch.no_grad():
        ref = g(audio, text)[0]
        with bf16():
            low = g(audio, text)[0].float()
    out["generate_rel_err"] = float((low - ref).abs().mean() / ref.abs().mean())

    g.train()
    g.curriculum_step.fill_(10**9)  # the speech encoder runs (past the curriculum)
    grads, losses = {}, {}
    for name, prec, seed in (("fp32", "fp32", 1), ("bf16", "bf16", 1), ("fp32_masks", "fp32", 2)):
        g.zero_grad()
        torch.manual_seed(seed)  # the noise and dropout masks (seed 2: other masks, the reference scale)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
            o, internal, _ = g(audio, text, pose, labels, 0)
            total = F.l1_loss(o.float(), pose) + sum(v.float() for v in internal.values())
        total.backward()
        losses[name] = float(total.detach())
        grads[name] = {k: p.grad.clone() for k, p in g.named_parameters() if p.grad is not None}

    def cosine(a: str, b: str) -> float:
        flat = [torch.cat([v.flatten() for v in grads[n].values()]) for n in (a, b)]
        return float(F.cosine_similarity(flat[0], flat[1], 0))

    # tensors whose true gradient is ~0 (conv biases before a BatchNorm: ~1e-8) are noise in any precision
    cos = [float(F.cosine_similarity(grads["fp32"][k].flatten(), grads["bf16"][k].flatten(), 0))
           for k in grads["fp32"] if grads["fp32"][k].norm() > 1e-6]  # fmt: skip
    out["grad_cosine"] = cosine("fp32", "bf16")
    out["grad_cosine_fp32_other_dropout_masks"] = cosine("fp32", "fp32_masks")
    out["grad_cosine_tensor_min"], out["grad_cosine_tensor_median"] = min(cos), statistics.median(cos)
    out["loss_rel_err"] = abs(losses["bf16"] - losses["fp32"]) / abs(losses["fp32"])

    # cc_nce: unit latents of a cluster (queries, positives) against other clusters (negatives)
    C = cfg.model_options.d
    base = F.normalize(torch.randn(6, 1, T, C), dim=-1)
    lat = F.normalize(base + 0.5 * torch.randn(6, 20, T, C), dim=-1)
    q = lat[0, :8].clone().requires_grad_(True)
    pos, neg = lat[0, 8:], lat[1:].reshape(-1, T, C)
    errs = {}
    for name in ("fp32", "bf16"):
        q.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
            loss = ccnce_loss_corrected(q, pos, neg, cfg.model_options.cc_temperature)
        loss.float().backward()
        errs[name] = (float(loss), q.grad.clone())
    out["ccnce_loss_rel_err_bf16"] = abs(errs["bf16"][0] - errs["fp32"][0]) / abs(errs["fp32"][0])
    out["ccnce_grad_cosine_bf16"] = float(
        F.cosine_similarity(errs["fp32"][1].flatten(), errs["bf16"][1].flatten(), 0)
    )

    # the clustering's threshold decisions on pose-window similarities
    windows = pose.repeat(4, 1, 1) + 0.3 * torch.randn(4 * B, T, P)
    sim32 = pose_similarity(windows, windows, False, 1.0, False)
    with bf16():
        sim16 = pose_similarity(windows, windows, False, 1.0, False).float()
    off = ~torch.eye(len(windows), dtype=torch.bool)
    tau = float(sim32[off].mean() + sim32[off].std())
    out["pose_similarity_flip_bf16"] = float(((sim32 > tau) != (sim16 > tau))[off].float().mean())

    # the cluster mixture: bf16 softmax weights against float32 ones
    z = F.normalize(torch.randn(B, C, T), dim=1)
    with torch.no_grad(), bf16():
        logits = g.classifier(z)
        mix32 = g.decoder(z, logits.float().softmax(-1)).float()
        mix16 = g.decoder(z, logits.softmax(-1)).float()
    out["mixture_rel_err_bf16"] = float((mix16 - mix32).abs().mean() / mix32.abs().mean())
    return out


if __name__ == "__main__":
    p = parser("bf16 autocast numerics of the CC-NCE model (forced on any CPU)")
    p.add_argument("--config", default="ccnce", help="the config (preset name or file)")
    p.add_argument("--batch", type=int, default=8, help="windows per batch")
    main("precision_numerics", run, p)
