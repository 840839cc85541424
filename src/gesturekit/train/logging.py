"""Metric logging for training runs: TensorBoard scalars and images plus a CSV of every value.

``MetricLogger(run_dir)`` writes ``run_dir/metrics.csv`` (long format: ``epoch, step, split,
name, value``; one row per value, so new metrics never break the header) and TensorBoard event
files under ``run_dir/tensorboard`` with tags ``split/name``. Only the main process writes
(``enabled=False`` elsewhere). On resume pass ``resume_step``: CSV rows logged after that step by
the interrupted process are dropped and TensorBoard purges its events after it, so a resumed
run's logs read as if it had never stopped.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.fsutil import atomic_write_text

CSV_FIELDS = ["epoch", "step", "split", "name", "value"]


class MetricLogger:
    """TensorBoard + CSV logger (rank-0 only); also keeps the last value of every metric."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        enabled: bool = True,
        tensorboard: bool = True,
        csv_name: str = "metrics.csv",
        resume_step: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.csv_path = self.run_dir / csv_name
        self.last: dict[str, float] = {}
        self._tb = None
        self._fh = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.csv_path.exists():
            self._truncate_csv(resume_step)
        elif self.csv_path.exists() and resume_step is None:
            self.csv_path.unlink()
        new = not self.csv_path.exists()
        self._fh = open(self.csv_path, "a", newline="", buffering=1)  # noqa: SIM115 - kept open
        self._csv = csv.writer(self._fh)
        if new:
            self._csv.writerow(CSV_FIELDS)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            kwargs: dict[str, Any] = {}
            if resume_step is not None:
                kwargs["purge_step"] = int(resume_step) + 1
            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), **kwargs)

    def _truncate_csv(self, resume_step: int) -> None:
        text = self.csv_path.read_text()
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return
        keep = [rows[0]] + [r for r in rows[1:] if len(r) == len(CSV_FIELDS) and int(r[1]) <= resume_step]
        buf = io.StringIO()
        csv.writer(buf).writerows(keep)
        atomic_write_text(self.csv_path, buf.getvalue())

    def log(self, metrics: Mapping[str, float], *, step: int, epoch: int, split: str = "train") -> None:
        """Write each ``name: value`` as ``split/name`` at ``step``."""
        for name, value in metrics.items():
            value = float(value)
            self.last[f"{split}/{name}"] = value
            if not self.enabled:
                continue
            self._csv.writerow([epoch, step, split, name, repr(value) if math.isfinite(value) else str(value)])
            if self._tb is not None:
                self._tb.add_scalar(f"{split}/{name}", value, global_step=step)

    def log_figure(self, tag: str, figure: Any, *, step: int) -> None:
        """A matplotlib figure as a TensorBoard image (the figure is closed)."""
        if self.enabled and self._tb is not None:
            self._tb.add_figure(tag, figure, global_step=step, close=True)
        else:
            import matplotlib.pyplot as plt

            plt.close(figure)

    def log_image(self, tag: str, image: np.ndarray, *, step: int) -> None:
        """An ``(height, width, 3)`` uint8 or float image."""
        if self.enabled and self._tb is not None:
            self._tb.add_image(tag, image, global_step=step, dataformats="HWC")

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> MetricLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_metrics_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics CSV as dicts with typed values."""
    with open(path, newline="") as fh:
        return [
            {"epoch": int(r["epoch"]), "step": int(r["step"]), "split": r["split"], "name": r["name"],
             "value": float(r["value"])}
            for r in csv.DictReader(fh)
        ]  # fmt: skip
