"""The HTML report: metric tables, training curves, figures and videos of runs, in one static page.

``build_report(inputs, out_dir)`` writes ``out_dir/index.html`` and copies every image and video
it shows into ``out_dir/assets/`` (relative links; opens from ``file://`` with no server and no
network).
"""

from __future__ import annotations

import time
from pathlib import Path

from gesturekit.errors import ConfigError
from gesturekit.fsutil import atomic_write_text, prepare_run_dir


def build_report(
    inputs: list[str | Path],
    out_dir: str | Path,
    *,
    render_intervals: int = 4,
    overwrite: bool = False,
    title: str = "gesturekit report",
) -> Path:
    """Collect every run under ``inputs`` and write the report; returns the path of ``index.html``."""
    from gesturekit.report.collect import Assets, collect_run, comparison, find_runs
    from gesturekit.report.html import page

    paths = [Path(p) for p in inputs]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"{missing[0]}: no such folder or file")
    out = prepare_run_dir(out_dir, overwrite=overwrite)
    runs = find_runs(paths)
    assets = Assets(out)
    titles: list[str] = []
    sections = []
    for r in runs:
        name = r.name if r.is_dir() else r.stem
        if r.parent.name and name in titles:
            name = f"{r.parent.name}/{name}"
        titles.append(name)
        sections.append(collect_run(r, assets, render_intervals, title=name))
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    sources = ", ".join(str(p) for p in paths)
    html_text = page(title, sections, comparison(sections), f"built {when} from {sources}")
    index = out / "index.html"
    atomic_write_text(index, html_text)
    return index
