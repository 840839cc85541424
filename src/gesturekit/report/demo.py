"""Demo step: the report over whatever the other demo steps wrote (``../units``, ``../cospeech``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def step(out_dir: str | Path, seed: int = 0, quick: bool = False) -> dict[str, Any]:
    """Build ``out_dir/index.html`` from the sibling demo folders that exist."""
    from gesturekit.report import build_report
    from gesturekit.report.collect import find_runs

    out_dir = Path(out_dir)
    inputs = [p for p in (out_dir.parent / "units", out_dir.parent / "cospeech") if p.exists()]
    runs = find_runs(inputs) if inputs else []
    index = build_report(inputs, out_dir, render_intervals=2 if quick else 4, overwrite=True)
    return {
        "summary": f"report with {len(runs)} run(s) -> {index}",
        "index": str(index),
        "runs": [str(r) for r in runs],
    }
