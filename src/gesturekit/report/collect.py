"""Find what a report shows in run and sample folders, and copy it into the report's assets.

A folder given to the report is one *run* when it holds any of: ``metrics.json``,
``model.json``, ``config.yaml``, ``metrics.csv``, ``figures/*.png``,
TensorBoard event files (in it or in ``tensorboard/``), a
samples file (``*.h5`` with the gesturekit-samples format), generated poses (``poses.npz``),
``videos.json`` / ``*.mp4``;
otherwise its sub-folders are searched (three levels deep) for runs. A samples file may also
be given directly.

Per run, a :class:`Section` holds: metric tables (gestural-unit metrics by split; co-speech
metrics overall and per speaker, evaluated on the fly when no evaluation JSON is beside the
samples), training curves (:mod:`gesturekit.report.curves`: the CSV logs, else the TensorBoard
scalars; every training run writes the shared engine's layout), the run's figures (for gestural-unit runs
the kinematics/reconstruction, gesture and score figures), and videos with transcripts
(copied from ``videos.json`` listings, or rendered from the samples or ``poses.npz``).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("gesturekit")

RUN_MARKERS = (
    "metrics.json", "model.json", "config.yaml", "metrics.csv", "videos.json", "eval.json",
    "poses.npz",
)  # fmt: skip
TB_FOLDERS = ("tensorboard",)
EVAL_NAMES = ("eval.json", "evaluation.json", "metrics.json")
COSPEECH_COLUMNS = [
    "l1", "vel_l1", "pck", "fid", "fgd", "w1_vel", "w1_acc", "diversity", "diversity_gt",
    "l1div", "spatial_norm", "jerk", "jerk_gt", "cluster_f1", "cluster_accuracy",
    "beat_consistency", "beat_consistency_gt",
]  # fmt: skip


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[Any]]
    best: dict[tuple[int, int], bool] = field(default_factory=dict)  # (row, col) cells to mark
    note: str = ""


@dataclass
class Section:
    title: str
    kind: str  # "units" | "cospeech" | "run"
    source: str
    tables: list[Table] = field(default_factory=list)
    curves: list[tuple[str, str]] = field(default_factory=list)  # (asset path, caption)
    images: list[tuple[str, str]] = field(default_factory=list)
    videos: list[dict[str, Any]] = field(default_factory=list)  # src, caption, transcript
    notes: list[str] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "run"


def is_samples_file(path: Path) -> bool:
    if path.suffix not in (".h5", ".hdf5") or not path.is_file():
        return False
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == "gesturekit-samples"
    except OSError:
        return False


def _is_run(d: Path) -> bool:
    if any((d / m).exists() for m in RUN_MARKERS):
        return True
    if (d / "figures").is_dir() and any((d / "figures").glob("*.png")):
        return True
    if any(d.glob("events.out.tfevents.*")) or any(
        (d / t).is_dir() and any((d / t).rglob("events.out.tfevents.*")) for t in TB_FOLDERS
    ):
        return True
    return any(is_samples_file(p) for p in d.glob("*.h5")) or any(d.glob("*.mp4"))


def find_runs(paths: list[Path], depth: int = 3) -> list[Path]:
    """Run folders (and samples files given directly) under ``paths``, in order, without duplicates."""
    found: list[Path] = []

    def visit(p: Path, level: int) -> None:
        if p.is_file():
            if is_samples_file(p):
                found.append(p)
            return
        if _is_run(p):
            found.append(p)
            return
        if level < depth:
            for child in sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")):
                visit(child, level + 1)

    for p in paths:
        visit(Path(p), 0)
    seen: set[Path] = set()
    return [p for p in found if not (p.resolve() in seen or seen.add(p.resolve()))]


class Assets:
    """Copies files into ``REPORT_DIR/assets/<section>/`` and returns their relative links."""

    def __init__(self, report_dir: Path) -> None:
        self.root = report_dir
        self.used: set[str] = set()

    def folder(self, section: str) -> Path:
        d = self.root / "assets" / slug(section)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def copy(self, src: Path, section: str, name: str | None = None) -> str:
        target = self.folder(section) / slug_file(name or src.name)
        shutil.copyfile(src, target)
        return target.relative_to(self.root).as_posix()

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def slug_file(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{slug(stem)}.{ext}" if dot else slug(name)


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float | str | bool) or v is None


# ------------------------------------------------------------------ gestural-unit metrics
def units_tables(metrics: dict[str, Any]) -> list[Table]:
    """``metrics.json`` of a gestural-unit run: scalar figures per split (train/val/test) as one table."""
    splits = [k for k in ("train", "val", "test") if isinstance(metrics.get(k), dict)]
    tables = []
    if splits:
        keys: list[str] = []
        for s in splits:
            keys += [k for k, v in metrics[s].items() if _scalar(v) and k not in keys]
        rows = [[k, *[metrics[s].get(k) for s in splits]] for k in keys]
        tables.append(Table("Metrics by split", ["metric", *splits], rows))
    top = [[k, v] for k, v in metrics.items() if _scalar(v)]
    if top:
        tables.append(Table("Run", ["field", "value"], top))
    return tables


# ------------------------------------------------------------------ co-speech metrics
def cospeech_tables(res: dict[str, Any]) -> list[Table]:
    blocks = [("overall", res["overall"]), *sorted(res.get("per_speaker", {}).items())]
    cols = [c for c in COSPEECH_COLUMNS if any(b.get(c) is not None for _, b in blocks)]
    rows = [[name, *[b.get(c) for c in cols]] for name, b in blocks]
    meta = res.get("meta", {})
    enc = (meta.get("fgd_encoder") or {}).get("name")
    note = "l1/fid in z-normalised space; beat consistency x1 (not x10)"
    if enc:
        note += f"; FGD encoder {enc} (recipe {json.dumps((meta['fgd_encoder'] or {}).get('recipe'))})"
    return [Table("Co-speech metrics (overall and per speaker)", ["", *cols], rows, note=note)]


def comparison(sections: list[Section]) -> Table | None:
    """Across co-speech sections: one row per model, the best value per column marked."""
    from gesturekit.cospeech.evaluation.compare import Row, comparison_table, encoder_name, encoder_note

    evald = [s for s in sections if s.evaluation is not None]
    if len(evald) < 2:
        return None
    table = comparison_table(
        [Row(s.title, s.source, s.evaluation["overall"], encoder_name(s.evaluation)) for s in evald]
    )
    cols = table["columns"]
    rows = [[r["name"], *[r[c] for c in cols]] for r in table["rows"]]
    best = {
        (i, j + 1): True
        for i, r in enumerate(table["rows"])
        for j, c in enumerate(cols)
        if r["name"] in table["best"][c]
    }
    note = "lowest error; highest pck/f1/accuracy/bc; diversity, l1div and jerk closest to ground truth"
    if encoder_note(table):
        note += "; " + encoder_note(table)
    return Table("Models compared (best per column in bold)", ["model", *cols], rows, best, note=note)


# ------------------------------------------------------------------ curves
def training_curves(d: Path, assets: Assets, key: str, notes: list[str]) -> list[tuple[str, str]]:
    """Curves of a run's ``metrics.csv`` or, when it draws nothing, of its TensorBoard events."""
    from gesturekit.report import curves

    out: list[tuple[str, str]] = []
    for csv_path in [d / "metrics.csv"] if (d / "metrics.csv").is_file() else []:
        png = assets.folder(key) / f"curves_{slug(csv_path.stem)}.png"
        try:
            if curves.draw(curves.read_csv_log(csv_path), png) is not None:
                out.append((assets.rel(png), f"training curves ({csv_path.name})"))
        except Exception as exc:  # a report shows what it can; the reason goes on the page
            notes.append(f"{csv_path.name}: cannot draw curves ({exc})")
    if not out and curves.event_files(d):
        png = assets.folder(key) / "curves_tensorboard.png"
        try:
            if curves.draw(curves.read_tensorboard(d), png) is not None:
                out.append((assets.rel(png), "training curves (TensorBoard scalars)"))
        except Exception as exc:
            notes.append(f"TensorBoard logs: cannot draw curves ({exc})")
    return out


# ------------------------------------------------------------------ one run
def _load_eval(d: Path) -> dict[str, Any] | None:
    for name in EVAL_NAMES:
        p = d / name
        if p.exists():
            try:
                res = json.loads(p.read_text())
            except json.JSONDecodeError:
                continue
            if isinstance(res, dict) and isinstance(res.get("overall"), dict):
                return res
    return None


def _figure_caption(name: str) -> str:
    stem = Path(name).stem
    if stem.startswith("reconstruction"):
        return f"kinematics: original vs reconstruction ({stem.partition('_')[2] or stem})"
    if stem.startswith("scores"):
        return f"gestural score ({stem.partition('_')[2] or stem})"
    if stem.startswith("gestures"):
        return "gestures (kernels in the vocal-tract plane)"
    return stem.replace("_", " ")


def _videos_from_listing(listing: Path, assets: Assets, key: str) -> list[dict[str, Any]]:
    data = json.loads(listing.read_text())
    out = []
    for v in data.get("videos", []):
        src = listing.parent / v["video"]
        if not src.exists():
            continue
        caption = " / ".join(x for x in (v.get("speaker"), v.get("interval")) if x)
        out.append({"src": assets.copy(src, key), "caption": caption, "transcript": v.get("transcript", "")})
    return out


def collect_run(path: Path, assets: Assets, render_intervals: int, title: str | None = None) -> Section:
    """Everything the report shows for one run folder or samples file."""
    from gesturekit.cospeech.evaluation.metrics import evaluate_file

    d = path if path.is_dir() else path.parent
    title = title or (path.name if path.is_dir() else path.stem)
    key = title
    samples = [path] if path.is_file() else sorted(p for p in d.glob("*.h5") if is_samples_file(p))
    metrics_path = d / "metrics.json"
    metrics = None
    if path.is_dir() and metrics_path.exists():
        try:
            metrics = json.loads(metrics_path.read_text())
        except json.JSONDecodeError:
            metrics = None
    unit_metrics = isinstance(metrics, dict) and ("train" in metrics or "method" in metrics)
    is_units = path.is_dir() and (d / "model.json").exists() and unit_metrics and not samples
    kind = "cospeech" if samples or _load_eval(d) is not None else ("units" if is_units else "run")
    sec = Section(title, kind, str(path))

    # metric tables
    res = _load_eval(d) if path.is_dir() else None
    if res is None and samples:
        try:
            res = evaluate_file(samples[0])
        except Exception as exc:  # a report shows what it can; the reason goes on the page
            sec.notes.append(f"evaluation of {samples[0].name} failed: {exc}")
    if res is not None:
        sec.evaluation = res
        sec.tables += cospeech_tables(res)
    elif isinstance(metrics, dict):
        sec.tables += units_tables(metrics)

    if path.is_dir():
        sec.curves += training_curves(d, assets, key, sec.notes)
        # figures
        figs = sorted((d / "figures").glob("*.png")) if (d / "figures").is_dir() else []
        order = {"reconstruction": 0, "gestures": 1, "scores": 2}
        figs.sort(key=lambda p: (order.get(p.stem.split("_")[0], 3), p.name))
        for f in figs:
            sec.images.append((assets.copy(f, key), _figure_caption(f.name)))
        # videos already rendered
        for listing in sorted(d.rglob("videos.json")):
            sec.videos += _videos_from_listing(listing, assets, key)
    generated = d / "poses.npz" if path.is_dir() and (d / "poses.npz").is_file() else None
    source = samples[0] if samples else generated  # what to render when nothing is rendered yet
    if not sec.videos and source is not None and render_intervals > 0:
        from gesturekit.render.video import render_input

        try:
            target = assets.folder(key) / "videos"
            render_input(source, target, text=True, intervals=render_intervals, overwrite=True)
            listing = json.loads((target / "videos.json").read_text())
            for v in listing["videos"]:
                caption = " / ".join(x for x in (v.get("speaker"), v.get("interval")) if x)
                sec.videos.append(
                    {"src": assets.rel(target / v["video"]), "caption": caption, "transcript": v["transcript"]}
                )
        except Exception as exc:
            sec.notes.append(f"rendering {source.name} failed: {exc}")
    return sec
