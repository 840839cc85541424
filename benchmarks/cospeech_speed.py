"""Speed of the CC-NCE paper model: one full training step and generating 60 s.

``train_full_step_s``: median time of one generator step (pose L1 + adversarial + cc_nce +
cluster cross-entropy, backward, gradient clip, AdamW) plus one discriminator step (on the
generator step's output), batch 32 x 64 pose frames, for the ``ccnce_fullwidth`` preset: the
paper's ``JointLateClusterSoftContrastiveGlobalDTW_G`` with the reference's layer widths (2-D
conv audio encoder, 256 latent channels, 6-layer cluster classifier, 4 x 256 cluster decoders,
8 clusters), text from stored 768-d BERT vectors (PATS ships them; the reference fine-tunes its
own BERT, which we do not). cc_nce is active (past its statistics epoch, the per-epoch cluster
dictionary filled) and the curriculum is over (the speech encoder runs every step).
``generate_60s_s``: median model forward (eval) for 60 s of speech at 15 fps (the pipeline's
one-pass sequence mode), feature extraction excluded. The reference measured 4.8 s per step and
0.35 s per 60 s on 2 CPU cores, float32. The same figures for gesturekit's default fast form
(``cospeech fit`` with no ``--config``: 1-D audio encoder, 64 channels, lighter heads) are the
``fast_*`` keys, and ``fast_step_speedup_over_paper`` (``..._cpu_...`` in CPU time) is the
paper-width step's time over the default's, both timed in the same run.

Arithmetic: ``*_gflop`` counts the matrix-product and convolution FLOPs of one step and of one
60 s forward (``torch.utils.flop_counter``, 2 per multiply-add); ``gemm_peak_gflops`` is this
machine's measured float32 matrix-product rate (2048-square products on the benchmark's
threads), and ``*_floor_s`` = FLOPs / that rate: no implementation of the same arithmetic runs
faster here, so ``*_ceiling_speedup`` (the reference's time over the floor) bounds the ratio a
configuration can reach on this CPU.

Precision (:mod:`gesturekit.precision`): the ``*_bf16_s`` keys time the same step and forward
in ``bf16`` mixed precision, in the same run as the float32 ones (each repeat runs both in
turn, so a shared machine's load falls on both alike); ``*_cpu_s`` are the same medians in
process CPU time. Where the CPU has no bfloat16 fast path (``bf16_fast_path`` false, the reason
in ``bf16_why``) ``--precision bf16`` computes in float32, so the bf16 keys are null unless
``--force-bf16`` times bfloat16 autocast anyway (emulated: many times slower).
``profile`` / ``fast_profile``: the operators of a full training step (``torch.profiler``, per
step over 3 steps, top ``--profile-top`` by self CPU time, in the precision timed last: bf16
where it ran) and
``matmul_conv_share``, the share of the step's self CPU time in matrix products and convolutions.

``OMP_WAIT_POLICY`` defaults to PASSIVE (set before torch loads): on a shared machine OpenMP
threads that spin while waiting slow a 2-thread run several-fold.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from _common import main, median_time, paired_times, parser  # noqa: E402

#: operator names (substrings) of matrix products and convolutions, forward and backward
MATMUL_CONV = ("conv", "mm", "matmul", "linear", "einsum", "mkldnn")


def measure(config: str | None, args: Any) -> dict[str, Any]:
    """Step and generation times of one training config, in fp32 and (where it runs) bf16."""
    import numpy as np
    import torch

    from gesturekit.config import load_config
    from gesturekit.cospeech.inference.pipeline import run_sequence
    from gesturekit.cospeech.models import build_model, canonical_name
    from gesturekit.cospeech.training.fit import FitConfig, GANSteps, gan_modules, model_config
    from gesturekit.cospeech.training.losses import LambdaSchedule
    from gesturekit.precision import bf16_support, resolve_precision
    from gesturekit.train import EpochSampler
    from gesturekit.train.loop import LoopConfig, Trainer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = load_config(FitConfig, config, [])
    B, T, N, P = 32, 64, 256, 96
    # structured poses (8 gesture groups) so that the online clustering finds clusters
    centres = rng.normal(0, 1, (8, P)).astype(np.float32)
    group = rng.integers(0, 8, N)
    pose = (centres[group][:, None, :] + 0.3 * rng.normal(size=(N, T, P))).astype(np.float32)
    text = rng.normal(size=(N, T // 4, 768)).astype(np.float32).repeat(4, 1)  # word pieces of 4 frames
    audio = rng.normal(size=(N, T, 64)).astype(np.float32)
    labels = rng.integers(0, 8, (N, T))
    cfg.batch_size, cfg.num_clusters = B, 8
    dev = torch.device(args.device)
    g = build_model(canonical_name(cfg.model), model_config(cfg, P, 64, 768, 100)).to(dev)
    modules, opts, _ = gan_modules(cfg, g, P, dev)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(Path(tmp), modules=modules, optimizers=opts, sampler=EpochSampler(1, 1),
                          config=LoopConfig(grad_clip=cfg.grad_clip))  # fmt: skip
    D = modules.get("D")
    tr = GANSteps(cfg, g, D, g, D, trainer, LambdaSchedule(), "fp32")
    fast, why = bf16_support(dev)
    precisions = ["fp32"]
    if args.force_bf16 or resolve_precision("bf16", dev) == "bf16":
        precisions.append("bf16")
    stat_epoch = cfg.model_options.cc_stat_epoch
    state = {"i": 0}

    def batch() -> list[torch.Tensor]:
        idx = (np.arange(B) + state["i"] * B) % N
        state["i"] += 1
        return [torch.as_tensor(x[idx], device=dev) for x in (audio, text, pose, labels)]

    for _ in range(3):  # the statistics epoch: learns the threshold
        tr.g_step(*batch(), epoch=stat_epoch)
    g.curriculum_step.fill_(10**9)  # past the curriculum: the speech encoder runs every step
    for _ in range(2):  # fills the per-epoch cluster dictionary
        tr.g_step(*batch(), epoch=stat_epoch + 1)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def full_step(precision: str = "fp32") -> dict[str, float]:
        tr.precision = precision
        a, t, y, lab = batch()
        fake, logs = tr.g_step(a, t, y, lab, epoch=stat_epoch + 1)
        tr.d_step(y, fake)
        sync()
        return logs

    logs = full_step()
    step = paired_times({p: lambda p=p: full_step(p) for p in precisions}, repeats=args.repeats, warmup=1)
    step_flop = _flop(full_step)
    profile = op_profile(lambda: full_step(precisions[-1]), args.profile_top)
    profile["precision"] = precisions[-1]
    g.eval()
    frames = 60 * 15
    a60 = rng.normal(size=(frames, 64)).astype(np.float32)
    t60 = rng.normal(size=(frames // 4 + 1, 768)).astype(np.float32).repeat(4, 0)[:frames]

    def gen(precision: str = "fp32") -> None:
        run_sequence(g, a60, t60, cfg.window, dev, precision=precision)
        sync()

    gens = paired_times({p: lambda p=p: gen(p) for p in precisions}, repeats=args.repeats * 2, warmup=1)
    gen_flop = _flop(gen)
    bf_step, bf_gen = step.get("bf16", (None, None)), gens.get("bf16", (None, None))
    return {
        "train_full_step_s": step["fp32"][0],
        "generate_60s_s": gens["fp32"][0],
        "train_full_step_bf16_s": bf_step[0],
        "generate_60s_bf16_s": bf_gen[0],
        "train_full_step_cpu_s": step["fp32"][1],
        "generate_60s_cpu_s": gens["fp32"][1],
        "train_full_step_bf16_cpu_s": bf_step[1],
        "generate_60s_bf16_cpu_s": bf_gen[1],
        "config": str(config) if config else "defaults",
        "device": str(dev),
        "bf16_fast_path": fast,
        "bf16_why": why,
        "bf16_forced": bool(args.force_bf16 and not fast),
        "speedup_train": 4.8 / step["fp32"][0],
        "speedup_generate": 0.35 / gens["fp32"][0],
        "speedup_train_bf16": 4.8 / bf_step[0] if bf_step[0] else None,
        "speedup_generate_bf16": 0.35 / bf_gen[0] if bf_gen[0] else None,
        "bf16_over_fp32_train": step["fp32"][0] / bf_step[0] if bf_step[0] else None,
        "bf16_over_fp32_generate": gens["fp32"][0] / bf_gen[0] if bf_gen[0] else None,
        "generator_params_m": sum(p.numel() for p in g.parameters()) / 1e6,
        "cc_nce_matched_clusters": int(g.cc.last_matched) if getattr(g, "cc", None) is not None else 0,
        "cc_nce_active": float(logs.get("cc_nce", 0.0)) > 0.0,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "train_full_step_gflop": step_flop / 1e9,
        "generate_60s_gflop": gen_flop / 1e9,
        "profile": profile,
    }


def op_profile(fn: Any, top: int = 15, calls: int = 3) -> dict[str, Any]:
    """The operators of a call of ``fn`` by self CPU time (``torch.profiler``; per call, over
    ``calls`` calls: one call on a shared machine is noisy): the ``top`` ones, and the share of all
    self CPU time spent in matrix products and convolutions."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) / calls
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    mm = sum(e.self_cpu_time_total for e in events if any(k in e.key.lower() for k in MATMUL_CONV)) / calls
    return {
        "self_cpu_total_ms": total / 1e3,
        "matmul_conv_share": mm / total if total else 0.0,
        "top": [
            {
                "op": e.key,
                "self_cpu_ms": e.self_cpu_time_total / calls / 1e3,
                "share": e.self_cpu_time_total / calls / total,
                "calls": e.count // calls,
            }  # fmt: skip
            for e in events[:top]
        ],
    }


def _flop(fn: Any) -> float:
    """Matrix-product and convolution FLOPs of one call of ``fn``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def gemm_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-product rate on the current threads (median of ``repeats``)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / median_time(lambda: a @ b, repeats=repeats, warmup=2) / 1e9


def gemm_gflops(n: int, dtype: Any, repeats: int = 3) -> float:
    """The matrix-product rate of ``dtype`` (``n``-square, current threads): bfloat16 against
    float32 shows whether this CPU has a bf16 fast path."""
    import torch

    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n**3 / median_time(lambda: a @ b, repeats=repeats, warmup=1) / 1e9


def _floors(fig: dict[str, Any], peak: float, prefix: str = "") -> dict[str, float]:
    step_floor = fig["train_full_step_gflop"] / peak
    gen_floor = fig["generate_60s_gflop"] / peak
    return {
        f"{prefix}train_full_step_floor_s": step_floor,
        f"{prefix}generate_60s_floor_s": gen_floor,
        f"{prefix}train_ceiling_speedup": 4.8 / step_floor,
        f"{prefix}generate_ceiling_speedup": 0.35 / gen_floor,
    }


def run(args: Any) -> dict[str, Any]:
    """The paper's layer widths give the headline keys; the fast form is reported beside them."""
    import torch

    paper = measure(args.config, args)
    out = dict(paper)
    out["reference_train_step_s"], out["reference_generate_60s_s"] = 4.8, 0.35
    peak = gemm_peak_gflops() if args.device == "cpu" else None
    if peak is not None:
        out["gemm_peak_gflops"] = peak
        out["gemm512_fp32_gflops"] = gemm_gflops(512, torch.float32)
        out["gemm512_bf16_gflops"] = gemm_gflops(512, torch.bfloat16)
        out.update(_floors(paper, peak))
    if args.fast_config:
        fast = measure(None if args.fast_config == "default" else args.fast_config, args)
        shared = ("device", "omp_wait_policy", "bf16_fast_path", "bf16_why")  # the same for both configs
        out.update({f"fast_{k}": v for k, v in fast.items() if k not in shared})
        if peak is not None:
            out.update(_floors(fast, peak, "fast_"))
        # issue 16's speed goal: the fast form's full step against the paper widths', timed in one run
        out["fast_step_speedup_over_paper"] = paper["train_full_step_s"] / fast["train_full_step_s"]
        out["fast_step_cpu_speedup_over_paper"] = paper["train_full_step_cpu_s"] / fast["train_full_step_cpu_s"]
    return out


if __name__ == "__main__":
    p = parser("CC-NCE training step and 60 s generation speed (paper configuration)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--config",
        default="ccnce_fullwidth",
        help="the config (preset name or file) reproducing the paper's model (headline keys)",
    )
    p.add_argument("--force-bf16", action="store_true", help="time bf16 autocast even without a fast path")
    p.add_argument("--profile-top", type=int, default=15, help="operators listed in the profiles")
    p.add_argument(
        "--fast-config",
        default="default",
        help="also time this config, as fast_* keys ('default': cospeech fit's own defaults, no --config;"
        " '' to skip)",
    )
    main("cospeech_speed", run, p)
