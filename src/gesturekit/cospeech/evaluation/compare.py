"""Compare evaluated models: one row per model, one column per metric, the best value per column marked.

Inputs are evaluation results (the JSON ``gesturekit cospeech evaluate --json`` prints), samples
files (evaluated on the fly) or folders holding either (``metrics.json``/``eval.json``, or
``samples.h5``). "Best" depends on the metric: lowest error/distance, highest PCK/F1/BC, and
for diversity and jerk the value closest to the ground truth's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gesturekit.errors import FormatError

# column -> "min" | "max" | "gt" (closest to the ground truth's value, key + "_gt")
COLUMNS: dict[str, str] = {
    "l1": "min",
    "vel_l1": "min",
    "pck": "max",
    "fid": "min",
    "fgd": "min",
    "w1_vel": "min",
    "w1_acc": "min",
    "diversity": "gt",
    "l1div": "gt",
    "spatial_norm": "min",
    "jerk": "gt",
    "cluster_f1": "max",
    "cluster_accuracy": "max",
    "beat_consistency": "max",
}
RESULT_NAMES = ("metrics.json", "eval.json", "evaluation.json")
SAMPLE_NAMES = ("samples.h5",)


@dataclass
class Row:
    name: str
    source: str
    metrics: dict[str, Any]
    fgd_encoder: str | None = None  # the encoder's name (recipe, seed, weights hash) behind "fgd"


def encoder_name(res: dict[str, Any]) -> str | None:
    enc = (res.get("meta") or {}).get("fgd_encoder")
    return enc.get("name") if isinstance(enc, dict) else None


def load_result(path: str | Path, **eval_kwargs: Any) -> Row:
    """An evaluation result from a JSON file, a samples file, or a folder holding one."""
    from gesturekit.cospeech.evaluation.metrics import EvalOptions, evaluate_file

    path = Path(path)
    if path.is_dir():
        cands = [path / n for n in (*RESULT_NAMES, *SAMPLE_NAMES)]
        found = next((c for c in cands if c.exists()), None)
        if found is None:
            raise FormatError(path, f"no {' / '.join(RESULT_NAMES + SAMPLE_NAMES)} in this folder")
        row = load_result(found, **eval_kwargs)
        row.name = path.name
        return row
    if not path.exists():
        raise FormatError(path, "file not found")
    if path.suffix in (".h5", ".hdf5"):
        res = evaluate_file(path, EvalOptions(**eval_kwargs))
        return Row(res["meta"].get("model") or path.stem, str(path), res["overall"], encoder_name(res))
    try:
        res = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"not a JSON evaluation result ({exc})") from None
    overall = res.get("overall") if isinstance(res, dict) else None
    if not isinstance(overall, dict):
        raise FormatError(path, "JSON has no 'overall' block (not a gesturekit cospeech evaluation)")
    name = (res.get("meta") or {}).get("model") or path.parent.name or path.stem
    return Row(name, str(path), overall, encoder_name(res))


def best_rows(rows: list[Row]) -> dict[str, list[int]]:
    """For each column, the indices of the rows holding the best value."""
    best: dict[str, list[int]] = {}
    for col, rule in COLUMNS.items():
        vals = []
        for i, r in enumerate(rows):
            v = r.metrics.get(col)
            if v is None:
                continue
            if rule == "gt":
                ref = r.metrics.get(col + "_gt")
                if ref is None:
                    continue
                vals.append((abs(v - ref), i))
            else:
                vals.append((-v if rule == "max" else v, i))
        if vals:
            top = min(v for v, _ in vals)
            best[col] = [i for v, i in vals if v == top]
    return best


def comparison_table(rows: list[Row]) -> dict[str, Any]:
    cols = [c for c in COLUMNS if any(r.metrics.get(c) is not None for r in rows)]
    best = best_rows(rows)
    encoders = sorted({r.fgd_encoder for r in rows if r.fgd_encoder and r.metrics.get("fgd") is not None})
    return {
        "columns": cols,
        "rules": {c: COLUMNS[c] for c in cols},
        "rows": [
            {
                "name": r.name,
                "source": r.source,
                **{c: r.metrics.get(c) for c in cols},
                "fgd_encoder": r.fgd_encoder,
            }
            for r in rows
        ],
        "best": {c: [rows[i].name for i in best.get(c, [])] for c in cols},
        "fgd_encoders": encoders,
        "fgd_comparable": len(encoders) <= 1,
    }


def encoder_note(table: dict[str, Any]) -> str:
    """One line naming the FGD encoder(s) behind the table's ``fgd`` column."""
    encoders = table.get("fgd_encoders") or []
    if not encoders:
        return ""
    if len(encoders) == 1:
        return f"FGD encoder: {encoders[0]}"
    per_row = "; ".join(f"{r['name']}: {r['fgd_encoder']}" for r in table["rows"] if r.get("fgd_encoder"))
    return f"FGD encoders differ, so FGD values are NOT comparable across rows ({per_row})"


def format_table(table: dict[str, Any], markdown: bool = False) -> str:
    """Plain-text (or Markdown) table; ``*`` marks the best value of each column."""
    cols = table["columns"]
    header = ["model", *cols]
    body = []
    for row in table["rows"]:
        cells = [row["name"]]
        for c in cols:
            v = row[c]
            s = "-" if v is None else f"{v:.4g}"
            if row["name"] in table["best"][c]:
                s += "*"
            cells.append(s)
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c) + " |" for c in body]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*header)] + [fmt.format(*c) for c in body]
    legend = (
        "* best per column (lowest error; highest pck/f1/accuracy/bc; "
        "diversity, l1div, jerk closest to ground truth)"
    )
    note = encoder_note(table)
    return "\n".join([*lines, legend, *([note] if note else [])])
