"""The end-to-end demo: every pipeline on built-in data, results in one output folder.

Each pipeline contributes one step, a function ``step(out_dir, seed, quick) -> dict`` whose
dict holds at least ``summary`` (one line for the terminal). Steps run in order; the report
step comes last and reads what the others wrote.
"""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path
from typing import Any

from gesturekit.fsutil import atomic_write_json, prepare_run_dir

log = logging.getLogger("gesturekit")

# "module:function" of each step, in order. A step whose module is not built yet is skipped.
STEPS: list[tuple[str, str]] = [
    ("units", "gesturekit.units.demo:step"),
    ("cospeech", "gesturekit.cospeech.demo:step"),
    ("report", "gesturekit.report.demo:step"),
]


def _load(target: str) -> Any | None:
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, func_name)


def run_demo(out: str | Path, seed: int = 0, quick: bool = False, overwrite: bool = False) -> dict:
    """Run every available step into ``out``; returns the summary also saved as ``summary.json``."""
    out = prepare_run_dir(out, overwrite=overwrite)
    summary: dict[str, Any] = {"out": str(out), "seed": seed, "quick": quick, "steps": {}}
    for name, target in STEPS:
        func = _load(target)
        if func is None:
            continue
        t0 = time.perf_counter()
        log.info("demo: %s ...", name)
        result = func(out / name, seed=seed, quick=quick)
        result["seconds"] = round(time.perf_counter() - t0, 2)
        summary["steps"][name] = result
    atomic_write_json(out / "summary.json", summary)
    return summary
