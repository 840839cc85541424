"""Training curves for the report: read CSV and TensorBoard logs, draw them as small multiples.

Every gesturekit training run logs one way, the shared engine's (:mod:`gesturekit.train.logging`):

- ``metrics.csv`` (``epoch, step, split, name, value``, one row per value): one panel per
  ``name``, one line per ``split``, against ``step`` (else ``epoch``);
- TensorBoard event files (``tensorboard/``; read anywhere under the run with tensorboard's own
  reader, so co-speech runs written before the engine, with ``tb/``, still draw): scalar tags
  ``split/name`` become panel ``name``, line ``split``.

A :class:`Curves` maps panel -> line label -> ``(x, y)``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "valid", "validation", "dev", "test", "eval")


@dataclass
class Curves:
    x_label: str
    panels: dict[str, dict[str, tuple[list[float], list[float]]]] = field(default_factory=dict)

    def add(self, panel: str, line: str, x: float, y: float) -> None:
        xs, ys = self.panels.setdefault(panel, {}).setdefault(line, ([], []))
        xs.append(x)
        ys.append(y)

    def __bool__(self) -> bool:
        return any(
            any(math.isfinite(v) for v in ys) for lines in self.panels.values() for _, ys in lines.values()
        )


def _number(v: str | None) -> float:
    try:
        return float(v) if v not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def _split_name(key: str) -> tuple[str, str]:
    """``train_loss`` / ``loss_val`` / ``val/loss`` -> (panel ``loss``, line ``train`` / ``val``)."""
    for sep in ("/", "_", "-", "."):
        head, _, tail = key.partition(sep)
        if tail and head.lower() in SPLITS:
            return tail, head
        head, _, tail = key.rpartition(sep)
        if head and tail.lower() in SPLITS:
            return head, tail
    return key, ""


def read_csv_log(path: str | Path) -> Curves:
    """A ``metrics.csv`` of the training engine (see the module docstring)."""
    from gesturekit.errors import FormatError

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
        header = [k for k in (rows[0] if rows else {}) if k is not None]
    if not rows:
        return Curves("row")
    if not {"split", "name", "value"} <= set(header):
        raise FormatError(path, f"not a metrics log (columns epoch, step, split, name, value); it has {header}")
    x = next((k for k in ("step", "epoch") if k in header), None)
    curves = Curves(x or "row")
    for i, r in enumerate(rows):
        xv = _number(r.get(x)) if x else float(i)
        curves.add(str(r.get("name", "")), str(r.get("split") or ""), xv, _number(r.get("value")))
    return curves


def event_files(run_dir: str | Path) -> list[Path]:
    return sorted(p for p in Path(run_dir).rglob("events.out.tfevents.*") if p.is_file())


def read_tensorboard(run_dir: str | Path) -> Curves:
    """Scalars of every TensorBoard event file under ``run_dir`` (x: the global step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    curves = Curves("step")
    for folder in sorted({p.parent for p in event_files(run_dir)}):
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            panel, line = _split_name(tag)
            for ev in acc.Scalars(tag):
                curves.add(panel, line, float(ev.step), float(ev.value))
    for lines in curves.panels.values():  # several event files may hold one tag: order by step
        for line, (xs, ys) in list(lines.items()):
            order = sorted(range(len(xs)), key=xs.__getitem__)
            lines[line] = ([xs[i] for i in order], [ys[i] for i in order])
    return curves


def draw(curves: Curves, out: str | Path, title: str = "", max_panels: int = 12) -> Path | None:
    """Small multiples (one panel per metric, one line per split) as a PNG; None when empty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gesturekit.fsutil import atomic_path

    panels = [(name, lines) for name, lines in curves.panels.items() if lines][:max_panels]
    if not curves or not panels:
        return None
    n = len(panels)
    ncol = min(4, n)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(3.2 * ncol, 2.3 * nrow + (0.3 if title else 0)), squeeze=False
    )
    for ax, (name, lines) in zip(axes.ravel(), panels, strict=False):
        order = sorted(lines, key=lambda k: (SPLITS.index(k) if k in SPLITS else len(SPLITS), k))
        for label in order:
            xs, ys = lines[label]
            ax.plot(xs, ys, marker="o", ms=2, lw=1, label=label or None)
        if any(label for label in lines):
            ax.legend(fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(curves.x_label, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return out
