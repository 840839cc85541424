"""The HTML report: contents, relative assets, and a headless-Chromium check that everything loads."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from cdp_pipe import HeadlessPage, find_chromium
from evalfixtures import make_samples_file
from gesturekit.errors import ConfigError
from gesturekit.report import build_report
from gesturekit.report.collect import find_runs


def _units_run(d: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (d / "figures").mkdir(parents=True)
    (d / "model.json").write_text("{}")
    (d / "config.yaml").write_text("method: cnmf\n")
    metrics = {
        "method": "cnmf",
        "fit_seconds": 1.5,
        "train": {"rmse": 0.1, "r2": 0.9},
        "val": {"rmse": 0.2, "r2": 0.8},
    }
    (d / "metrics.json").write_text(json.dumps(metrics))
    for name in ("gestures", "reconstruction_utt1", "scores_utt1"):
        plt.figure(figsize=(2, 2))
        plt.plot(np.arange(5) ** 2)
        plt.savefig(d / "figures" / f"{name}.png")
        plt.close()
    rows = [f"{e},{e},{split},loss,{v}" for e, (a, b) in enumerate([(1.0, 1.2), (0.5, 0.7), (0.3, 0.5)], 1)
            for split, v in (("train", a), ("val", b))]  # fmt: skip
    (d / "metrics.csv").write_text("epoch,step,split,name,value\n" + "\n".join(rows) + "\n")
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report_in")
    _units_run(root / "units" / "cnmf_run")
    make_samples_file(root / "cospeech" / "model_a", n_intervals=2, frames=48, model="model_a")
    make_samples_file(root / "cospeech" / "model_b", n_intervals=2, frames=48, model="model_b")
    out = tmp_path_factory.mktemp("report") / "site"
    build_report([root], out, render_intervals=1)
    return out


def test_report_has_tables_figures_curves_and_videos(report):
    html = (report / "index.html").read_text()
    expected = ["cnmf_run", "model_a", "model_b", "Metrics by split", "Co-speech metrics", "Models compared"]
    expected += ["Training curves", "gestural score", "kinematics", "hello world again", "gk-poseae-"]
    for text in expected:
        assert text in html, text
    assert 'class="best"' in html
    links = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert links and not any(link.startswith(("/", "http", "file:")) for link in links if link != "data:,")
    for link in links:
        if link != "data:,":
            assert (report / link).is_file(), link
    assert len(re.findall(r"<video ", html)) == 2 and len(re.findall(r"<img ", html)) == 4


def test_find_runs_and_refusing_to_overwrite(tmp_path, report):
    make_samples_file(tmp_path / "a" / "b", n_intervals=1, frames=40)
    assert find_runs([tmp_path]) == [tmp_path / "a" / "b"]
    with pytest.raises(ConfigError, match="--overwrite"):
        build_report([tmp_path], report)
    with pytest.raises(ConfigError, match="no such folder"):
        build_report([tmp_path / "missing"], tmp_path / "r")


def test_report_cli(tmp_path, cli):
    make_samples_file(tmp_path / "runs" / "m", n_intervals=1, frames=40)
    r = cli("report", tmp_path / "runs", "--out", tmp_path / "rep", "--render", "0")
    assert r.code == 0, r
    assert (tmp_path / "rep" / "index.html").exists()
    assert "<video" not in (tmp_path / "rep" / "index.html").read_text()


CHECK_MEDIA = """
(async () => {
  const vids = Array.from(document.querySelectorAll('video'));
  await Promise.all(vids.map(v => v.readyState >= 1 || v.error ? null : new Promise(res => {
    v.addEventListener('loadedmetadata', res, {once: true});
    v.addEventListener('error', res, {once: true});
    setTimeout(res, 15000);
  })));
  const imgs = Array.from(document.querySelectorAll('img'));
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(res => {
    i.addEventListener('load', res, {once: true}); i.addEventListener('error', res, {once: true});
    setTimeout(res, 15000);
  })));
  return {
    videos: vids.map(v => ({src: v.currentSrc, ready: v.readyState, error: v.error ? v.error.code : null,
                            duration: v.duration, w: v.videoWidth, h: v.videoHeight})),
    images: imgs.map(i => ({src: i.currentSrc, complete: i.complete, w: i.naturalWidth})),
    title: document.title,
  };
})()
"""


def test_report_loads_in_headless_chromium(report):
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI") or os.environ.get("GESTUREKIT_REQUIRE_SHARED"):
            pytest.fail("chromium is required in CI (Debian package `chromium`, listed in .ci/apt-packages)")
        pytest.skip("chromium not installed (apt-get install chromium); the browser check runs in CI")
    page = HeadlessPage(exe)
    try:
        page.call("Page.navigate", url=(report / "index.html").resolve().as_uri())
        page.wait_event("Page.loadEventFired")
        state = page.evaluate(CHECK_MEDIA)
        problems = page.problems()
    finally:
        page.close()
    assert state["title"] == "gesturekit report"
    assert problems == []
    assert len(state["images"]) == 4 and len(state["videos"]) == 2
    for img in state["images"]:
        assert img["complete"] and img["w"] > 0, img
    for v in state["videos"]:
        assert v["error"] is None and v["ready"] >= 1, v
        assert v["w"] == 800 and v["h"] == 400
        assert v["duration"] == pytest.approx(48 / 15, abs=1 / 15)


def test_the_browser_check_catches_a_missing_image_and_a_broken_video(tmp_path):
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium not installed")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    (tmp_path / "index.html").write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>t</title></head><body>'
        '<img src="missing.png"><video src="bad.mp4" preload="metadata"></video></body></html>'
    )
    page = HeadlessPage(exe)
    try:
        page.call("Page.navigate", url=(tmp_path / "index.html").as_uri())
        page.wait_event("Page.loadEventFired")
        state = page.evaluate(CHECK_MEDIA)
        problems = page.problems()
    finally:
        page.close()
    assert any("load failed" in p or "missing.png" in p for p in problems), problems
    assert state["images"][0]["w"] == 0
    assert state["videos"][0]["error"] is not None


def test_demo_step_reports_the_sibling_demo_folders(tmp_path):
    from gesturekit.report.demo import step

    _units_run(tmp_path / "units" / "cnmf")
    make_samples_file(tmp_path / "cospeech" / "samples", n_intervals=1, frames=40)
    res = step(tmp_path / "report", seed=0, quick=True)
    assert len(res["runs"]) == 2 and "2 run(s)" in res["summary"]
    html = (tmp_path / "report" / "index.html").read_text()
    assert "cnmf" in html and "<video" in html
    empty = step(tmp_path / "alone" / "report", seed=0, quick=True)
    assert empty["runs"] == [] and "No runs" in (tmp_path / "alone" / "report" / "index.html").read_text()


def test_demo_command_ends_with_the_report_of_both_pipelines(tmp_path, monkeypatch, cli):
    """``gesturekit demo``: the report step (last) covers what the units and cospeech steps wrote;
    a pipeline whose step is not installed is left out without breaking the report."""
    import sys
    import types

    from gesturekit import demo

    def units_step(out_dir, seed=0, quick=False):
        _units_run(Path(out_dir) / "cnmf_run")
        return {"summary": "units done"}

    def cospeech_step(out_dir, seed=0, quick=False):
        make_samples_file(Path(out_dir) / "ccnce_run", n_intervals=1, frames=40, model="ccnce")
        return {"summary": "cospeech done"}

    for name, fn in (("gk_fake_units", units_step), ("gk_fake_cospeech", cospeech_step)):
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(step=fn))
    steps = [("units", "gk_fake_units:step"), ("cospeech", "gk_fake_cospeech:step"), demo.STEPS[-1]]
    assert demo.STEPS[-1] == ("report", "gesturekit.report.demo:step")
    monkeypatch.setattr(demo, "STEPS", steps)
    r = cli("demo", "--out", tmp_path / "demo", "--quick", "--json")
    assert r.code == 0, r
    summary = json.loads(r.out)
    assert list(summary["steps"]) == ["units", "cospeech", "report"]
    html = (tmp_path / "demo" / "report" / "index.html").read_text()
    assert "cnmf_run" in html and "Metrics by split" in html and "gestural score" in html
    assert "ccnce_run" in html and "Co-speech metrics" in html and "<video" in html
    # the cospeech pipeline not installed: the demo still ends with a report of the units run
    monkeypatch.setattr(demo, "STEPS", [steps[0], ("cospeech", "gk_not_installed_xyz:step"), steps[2]])
    r = cli("demo", "--out", tmp_path / "demo2", "--quick", "--json")
    assert r.code == 0, r
    assert list(json.loads(r.out)["steps"]) == ["units", "report"]
    html = (tmp_path / "demo2" / "report" / "index.html").read_text()
    assert "cnmf_run" in html and "Co-speech metrics" not in html


def test_report_renders_generated_poses(tmp_path):
    from evalfixtures import FPS, moving_poses
    from gesturekit.skeleton import PATS

    gen = tmp_path / "runs" / "generated"
    gen.mkdir(parents=True)
    np.savez(gen / "poses.npz", poses=moving_poses(20, seed=1), fps=np.float32(FPS),
             joint_names=np.array(PATS.joints), parents=np.array(PATS.parents))  # fmt: skip
    index = build_report([tmp_path / "runs"], tmp_path / "rep", render_intervals=1)
    html = index.read_text()
    assert "generated" in html and len(re.findall(r"<video ", html)) == 1
    src = re.search(r'<video [^>]*src="([^"]+)"', html) or re.search(r'<source src="([^"]+)"', html)
    assert (tmp_path / "rep" / src.group(1)).is_file()
