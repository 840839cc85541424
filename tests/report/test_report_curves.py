"""Training curves from the engine's metrics.csv and TensorBoard logs, and how the report shows them."""

from __future__ import annotations

import pytest

from gesturekit.errors import FormatError
from gesturekit.report import build_report
from gesturekit.report.curves import draw, read_csv_log, read_tensorboard


def test_a_csv_that_is_not_the_engines_metrics_log_is_refused(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,train_loss,val_loss\n1,1.0,1.5\n")
    with pytest.raises(FormatError, match=r"metrics.csv: not a metrics log .*'train_loss'"):
        read_csv_log(p)


def test_a_training_run_draws_its_metrics_log(tmp_path):
    from gesturekit.train.logging import MetricLogger

    with MetricLogger(tmp_path, tensorboard=False) as lg:
        for step in range(1, 4):
            lg.log({"pose": 1.0 / step, "lr_G": 0.1}, step=step, epoch=step - 1)
            lg.log({"L1": 2.0 / step}, step=step, epoch=step - 1, split="val")
    c = read_csv_log(tmp_path / "metrics.csv")
    assert c.x_label == "step" and set(c.panels) == {"pose", "lr_G", "L1"}
    assert c.panels["L1"]["val"] == ([1.0, 2.0, 3.0], [2.0, 1.0, 2 / 3])
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

    w = SummaryWriter(str(d / "tensorboard"))
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
    _tensorboard_run(run)  # nothing but tensorboard/: still a run, with curves
    bad = tmp_path / "runs" / "bad_log"
    bad.mkdir(parents=True)
    (bad / "config.yaml").write_text("model: x\n")
    (bad / "metrics.csv").write_bytes(b"epoch,step,split,name,value\n1,\xff\xfe\x00garbage\n")
    index = build_report([tmp_path / "runs"], tmp_path / "rep", render_intervals=0)
    html = index.read_text()
    assert "tb_only" in html and "training curves (TensorBoard scalars)" in html
    assert (tmp_path / "rep" / "assets" / "tb_only" / "curves_tensorboard.png").is_file()
    assert "bad_log" in html and "metrics.csv: cannot draw curves" in html
