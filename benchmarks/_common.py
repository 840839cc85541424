"""Shared helpers for benchmark scripts: timing, and writing figures to a results file.

Every benchmark script ``benchmarks/NAME.py`` has a ``run(args) -> dict`` of figures and a
``__main__`` that calls :func:`main`. Figures go to ``benchmarks/results/NAME.json``
(atomically) with the machine's description, and are printed as a table; with ``--json`` the
last line printed is the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def median_time(fn: Callable[[], Any], repeats: int = 10, warmup: int = 2) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_times(
    fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1
) -> dict[str, tuple[float, float]]:
    """``{name: (median wall s, median process CPU s)}`` of each ``fn()``, the functions run in turn
    within every repeat, so that a shared machine's load falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def machine() -> dict[str, Any]:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    return p


def main(
    name: str, run: Callable[[argparse.Namespace], dict[str, Any]], p: argparse.ArgumentParser
) -> dict[str, Any]:
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    figures = run(args)
    record = {
        "benchmark": name,
        "figures": figures,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        target = RESULTS / f"{name}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, target)
    width = max((len(k) for k in figures), default=10)
    print(f"{name}")
    for k, v in figures.items():
        shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        print(f"  {k:<{width}}  {shown}")
    if args.json:
        print(json.dumps(figures))
    return figures
