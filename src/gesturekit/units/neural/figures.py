"""Figures of a neural CNMF run: kinematics (original vs reconstruction), gestures, scores.

Matplotlib figures (Agg backend) that training logs to TensorBoard and saves as PNG.
"""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def reconstruction_figure(
    x: np.ndarray, x_hat: np.ndarray, channels: list[str], rate_hz: float, title: str = ""
):
    """Each channel over time: original (solid) and reconstruction (dashed). ``(time, channels)``."""
    plt = _plt()
    n = x.shape[1]
    cols = 2 if n > 1 else 1
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 1.3 * rows + 0.6), sharex=True, squeeze=False)
    t = np.arange(len(x)) / rate_hz
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        if i >= n:
            ax.axis("off")
            continue
        ax.plot(t, x[:, i], "k-", lw=1.0, label="original")
        ax.plot(t, x_hat[:, i], "C3--", lw=1.0, label="reconstruction")
        r = np.corrcoef(x[:, i], x_hat[:, i])[0, 1] if np.std(x[:, i]) > 0 and np.std(x_hat[:, i]) > 0 else 0.0
        ax.set_ylabel(channels[i], rotation=0, ha="right", fontsize=8)
        ax.text(0.99, 0.85, f"r={r:.3f}", transform=ax.transAxes, ha="right", fontsize=7)
    axes[0][0].legend(fontsize=7, loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.suptitle(title or "kinematics: original vs reconstruction")
    fig.tight_layout()
    return fig


def scores_figure(h: np.ndarray, rate_hz: float, title: str = ""):
    """The gestural score ``(gestures, time)`` as an image."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(12, 4))
    im = ax.imshow(h, aspect="auto", origin="lower", cmap="Blues", interpolation="nearest",
                   extent=(0, h.shape[1] / rate_hz, -0.5, h.shape[0] - 0.5))  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("gesture")
    fig.colorbar(im, ax=ax, fraction=0.02)
    ax.set_title(title or "gestural scores")
    fig.tight_layout()
    return fig


def gestures_figure(
    w: np.ndarray, channels: list[str], max_gestures: int = 16, order: np.ndarray | None = None
):
    """The first ``max_gestures`` gestures (by ``order``), each as channel x time traces."""
    plt = _plt()
    g = w.shape[1]
    idx = (order if order is not None else np.arange(g))[:max_gestures]
    cols = 4
    rows = -(-len(idx) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.2 * rows), squeeze=False)
    for j, ax in enumerate(axes.flat):
        if j >= len(idx):
            ax.axis("off")
            continue
        k = idx[j]
        for a in range(w.shape[0]):
            ax.plot(w[a, k], lw=0.8, label=channels[a] if j == 0 else None)
        ax.set_title(f"gesture {k}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.legend(fontsize=6, loc="lower right", ncol=6)
    fig.tight_layout()
    return fig
