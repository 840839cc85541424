"""Training curves from wide CSV, long CSV and TensorBoard logs, and how the report shows them."""

from __future__ import annotations

import math

import pytest

from gesturekit.report import build_report
from gesturekit.report.curves import draw, read_csv_log, read_tensorboard


def test_wide_csv_groups_splits_of_one_metric(tmp_path):
    p = tmp_path / "history.csv"
    p.write_text("epoch,train_loss,val_loss,lr,note\n1,1.0,1.5,0.1,a\n2,0.5,,0.05,b\n3,0.25,0.75,0.01,c\n")
    c = read_csv_log(p)
    assert c.x_label == "epoch" and set(c.panels) == {"loss", "lr"}
    assert c.panels["loss"]["train"] == ([1.0, 2.0, 3.0], [1.0, 0.5, 0.25])
    xs, ys = c.panels["loss"]["val"]
    assert ys[0] == 1.5 and math.isnan(ys[1]) and ys[2] == 0.75
    assert c.panels["lr"][""][1] == [0.1, 0.05, 0.01]
    assert draw(c, tmp_path / "c.png").stat().st_size > 1000


def test_long_csv_of_the_metric_logger(tmp_path):
    p = tmp_path / "metrics.csv"  # gesturekit's MetricLogger layout: one row per value
    rows = ["epoch,step,split,name,value"]
    for step in range(1, 4):
        rows += [f"{step},{10 * step},train,loss,{1 / step}", f"{step},{10 * step},val,loss,{2 / step}"]
        rows.append(f"{step},{10 * step},val,mean_r,{0.1 * step}")
    p.write_text("\n".join(rows) + "\n")
    c = read_csv_log(p)
    assert c.x_label == "step" and set(c.panels) == {"loss", "mean_r"}
    assert c.panels["loss"]["val"] == ([10.0, 20.0, 30.0], [2.0, 1.0, 2 / 3])
    assert c.panels["mean_r"]["val"][1] == pytest.approx([0.1, 0.2, 0.3])


def _tensorboard_run(d, steps=5):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(d / "tb"))
    for s in range(steps):
        w.add_scalar("train/loss", 1.0 / (s + 1), global_step=s)
        w.add_scalar("val/loss", 2.0 / (s + 1), global_step=s)
        w.add_scalar("lr", 0.5**s, global_step=s)
    w.close()


def test_tensorboard_scalars_are_read_back(tmp_path):
    _tensorboard_run(tmp_path)
    c = read_tensorboard(tmp_path)
    assert set(c.panels) == {"loss", "lr"}
    assert c.panels["loss"]["train"][0] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert c.panels["loss"]["val"][1] == pytest.approx([2.0 / (s + 1) for s in range(5)])
    assert c.panels["lr"][""][1] == pytest.approx([0.5**s for s in range(5)])


def test_report_draws_tensorboard_curves_and_survives_a_broken_log(tmp_path):
    run = tmp_path / "runs" / "tb_only"
    _tensorboard_run(run)  # nothing but tb/: still a run, with curves
    bad = tmp_path / "runs" / "bad_log"
    bad.mkdir(parents=True)
    (bad / "config.yaml").write_text("model: x\n")
    (bad / "history.csv").write_bytes(b"epoch,loss\n1,\xff\xfe\x00garbage\n")
    index = build_report([tmp_path / "runs"], tmp_path / "rep", render_intervals=0)
    html = index.read_text()
    assert "tb_only" in html and "training curves (TensorBoard scalars)" in html
    assert (tmp_path / "rep" / "assets" / "tb_only" / "curves_tensorboard.png").is_file()
    assert "bad_log" in html and "history.csv: cannot draw curves" in html
