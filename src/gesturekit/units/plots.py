"""Figures of gestural-unit models (matplotlib Agg, PNG).

- :func:`plot_reconstruction`: original vs reconstructed trajectory of every channel
  (a grid with the x and y coordinate of each articulator side by side: 6 x 2 for nema).
- :func:`plot_gestures`: every gesture as a short midsagittal movement of the articulators
  on the vocal-tract plane (x anterior, y vertical), from a dot (start) to an arrow (end),
  drawn around the mean posture; the tongue sensors are joined at the kernel centre.
- :func:`plot_scores`: the gestural score as a gesture x time image, phone labels above it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gesturekit.fsutil import atomic_path  # noqa: E402
from gesturekit.records import EMARecording, SegmentTier  # noqa: E402

ARTICULATOR_NAMES = {
    "td": "tongue dorsum", "tb": "tongue blade", "tt": "tongue tip",
    "li": "lower incisor", "ul": "upper lip", "ll": "lower lip",
}  # fmt: skip
COLOURS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def articulator_pairs(channels: list[str]) -> list[tuple[str, int, int]]:
    """``[(articulator, x column, y column)]`` from names ``<art>_x`` / ``<art>_y``; else consecutive pairs."""
    pairs = []
    for i, c in enumerate(channels):
        if c.endswith("_x") and c[:-2] + "_y" in channels:
            pairs.append((c[:-2], i, channels.index(c[:-2] + "_y")))
    if pairs:
        return pairs
    return [(f"ch{i}-{i + 1}", i, i + 1) for i in range(0, len(channels) - 1, 2)]


def plot_reconstruction(
    x: np.ndarray,
    y: np.ndarray,
    channels: list[str],
    rate_hz: float,
    path: str | Path,
    title: str = "",
    units: str = "",
) -> Path:
    """Original (black) and reconstruction (red) of each channel, ``(time, channels)`` arrays."""
    from gesturekit.units.metrics import channel_r

    n = x.shape[1]
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    t = np.arange(x.shape[0]) / rate_hz
    r = channel_r(x, y)
    fig, axes = plt.subplots(nrows, ncols, figsize=(12, 1.6 * nrows + 0.6), sharex=True, squeeze=False)
    for i in range(nrows * ncols):
        ax = axes[i // ncols, i % ncols]
        if i >= n:
            ax.axis("off")
            continue
        ax.plot(t, x[:, i], color="k", lw=1.0, label="original")
        ax.plot(t, y[:, i], color="tab:red", lw=1.0, ls="--", label="reconstruction")
        name = channels[i] if i < len(channels) else f"ch{i}"
        ax.set_ylabel(f"{name}" + (f" ({units})" if units else ""), fontsize=8)
        ax.text(0.99, 0.9, f"r = {r[i]:.3f}", transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title or "original vs reconstructed trajectories", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_gestures(
    displacements: np.ndarray,
    channels: list[str],
    path: str | Path,
    posture: np.ndarray | None = None,
    amplitudes: np.ndarray | None = None,
    max_gestures: int = 40,
    units: str = "",
) -> Path:
    """Each gesture as the midsagittal movement of every articulator.

    ``displacements`` ``(gestures, width, channels)`` in data units (relative to ``posture``
    ``(channels,)``, zero when not given), scaled per gesture by ``amplitudes`` (e.g. a typical
    peak score).
    """
    G, K, A = displacements.shape
    pairs = articulator_pairs(channels)
    posture = np.zeros(A) if posture is None else np.asarray(posture, dtype=np.float64)
    amp = np.ones(G) if amplitudes is None else np.asarray(amplitudes, dtype=np.float64)
    show = list(range(min(G, max_gestures)))
    ncols = min(8, len(show))
    nrows = math.ceil(len(show) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols, 2.1 * nrows + 0.5), squeeze=False)
    traj_all = posture[None, None, :] + amp[:, None, None] * displacements
    xs = np.concatenate([traj_all[show][..., xi].ravel() for _, xi, _ in pairs])
    ys = np.concatenate([traj_all[show][..., yi].ravel() for _, _, yi in pairs])
    pad_x = 0.05 * (np.ptp(xs) + 1e-9)
    pad_y = 0.05 * (np.ptp(ys) + 1e-9)
    tongue = [p for p in pairs if p[0] in ("td", "tb", "tt")]
    for j, ax in enumerate(axes.ravel()):
        if j >= len(show):
            ax.axis("off")
            continue
        g = show[j]
        traj = traj_all[g]
        mid = K // 2
        if len(tongue) >= 2:
            ax.plot(
                [traj[mid, xi] for _, xi, _ in tongue],
                [traj[mid, yi] for _, _, yi in tongue],
                color="0.75",
                lw=2,
            )
        for p, (art, xi, yi) in enumerate(pairs):
            col = COLOURS[p % len(COLOURS)]
            ax.plot(traj[:, xi], traj[:, yi], color=col, lw=1.3, label=art)
            ax.plot(traj[0, xi], traj[0, yi], "o", color=col, ms=2.5)
            ax.annotate(
                "",
                xy=(traj[-1, xi], traj[-1, yi]),
                xytext=(traj[-2, xi], traj[-2, yi]),
                arrowprops={"arrowstyle": "-|>", "color": col, "lw": 1.0, "mutation_scale": 8},
            )
        ax.set_xlim(xs.min() - pad_x, xs.max() + pad_x)
        ax.set_ylim(ys.min() - pad_y, ys.max() + pad_y)
        ax.set_title(f"gesture {g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        [ARTICULATOR_NAMES.get(lb, lb) for lb in labels],
        loc="lower center",
        ncol=len(pairs),
        fontsize=8,
    )
    fig.suptitle(
        "gestures on the midsagittal plane (x anterior, y up"
        + (f", {units}" if units else "")
        + "): dot = start, arrow = end",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return _save(fig, path)


def plot_scores(
    H: np.ndarray,
    rate_hz: float,
    path: str | Path,
    phones: SegmentTier | None = None,
    title: str = "",
) -> Path:
    """The gestural score ``(gestures, time)`` as an image over time, phone labels above."""
    G, T = H.shape
    dur = T / rate_hz
    fig, ax = plt.subplots(figsize=(12, 0.09 * G + 2.2))
    vmax = np.percentile(H, 99.5) if H.size and H.max() > 0 else 1.0
    im = ax.imshow(
        H, aspect="auto", origin="lower", cmap="magma", extent=(0, dur, -0.5, G - 0.5), vmin=0, vmax=vmax
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("gesture")
    fig.colorbar(im, ax=ax, pad=0.01, label="score")
    if phones is not None and len(phones):
        top = ax.secondary_xaxis("top")
        centres, labels = [], []
        for s in phones:
            if s.end <= 0 or s.start >= dur:
                continue
            ax.axvline(s.start, color="w", lw=0.4, alpha=0.6)
            centres.append(0.5 * (max(s.start, 0) + min(s.end, dur)))
            labels.append(s.label)
        top.set_xticks(centres)
        top.set_xticklabels(labels, fontsize=7, rotation=90)
    ax.set_title(title or "gestural score", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def run_figures(model, recs: list[EMARecording], out_dir: str | Path, max_gestures: int = 40) -> list[Path]:
    """The standard figures of a run: gestures (the first ``max_gestures``), and reconstruction
    + score of each recording."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    amps = None
    posture = None
    if recs:
        x0 = model.prepare(recs[0])
        posture = x0.mean(axis=0)
    for r in recs:
        h, y = model.reconstruct(r)
        x = model.prepare(r)
        paths.append(
            plot_reconstruction(x, y, model.channels, model.rate_hz, out_dir / f"reconstruction_{r.name}.png",
                                title=f"{r.name}: original (black) vs reconstruction (red)", units=r.units)
        )  # fmt: skip
        paths.append(
            plot_scores(
                h, model.rate_hz, out_dir / f"scores_{r.name}.png", r.phones, f"{r.name}: gestural score"
            )
        )
        if amps is None:
            amps = np.percentile(h, 99, axis=1)
    paths.append(
        plot_gestures(model.gestures_data_units(), model.channels, out_dir / "gestures.png", posture, amps,
                      max_gestures=max_gestures, units=recs[0].units if recs else "")
    )  # fmt: skip
    return paths
