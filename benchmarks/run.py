"""Run every benchmark (or those named) and print one table of their figures.

    python benchmarks/run.py                 # all benchmarks/*.py with a run()
    python benchmarks/run.py units_speed     # only some

Each benchmark writes its own ``benchmarks/results/NAME.json``; this runner also writes
``benchmarks/results/all.json`` with every figure it collected.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith(("_", "run")))
    collected = {}
    for name in names:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"no benchmark named {name}", file=sys.stderr)
            return 2
        proc = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            collected[name] = {"error": proc.stderr[-500:]}
            continue
        collected[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "all.json").write_text(json.dumps(collected, indent=2) + "\n")
    print(f"{'benchmark':<24} {'figure':<32} value")
    for name, figs in collected.items():
        for k, v in figs.items():
            shown = f"{v:.4g}" if isinstance(v, float) else str(v)
            print(f"{name:<24} {k:<32} {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
