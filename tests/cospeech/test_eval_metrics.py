"""Metrics on hand-built cases and against independent implementations (scipy, a NumPy Fréchet)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from scipy import linalg

from evalfixtures import FPS, click_audio, make_samples_file, moving_poses
from gesturekit.cospeech.evaluation import beats, cluster_metrics, pose_metrics
from gesturekit.cospeech.evaluation.fgd import FGDEncoder, FGDRecipe, train_fgd_encoder
from gesturekit.cospeech.evaluation.frechet import frechet_from_features
from gesturekit.cospeech.evaluation.metrics import EvalOptions, evaluate_file, evaluate_samples, style_score
from gesturekit.errors import DataError
from gesturekit.io.samples import SampleItem, Samples, read_samples
from gesturekit.skeleton import PATS

J = pose_metrics.metric_joints(PATS)
R = pose_metrics.root_joints(PATS)
SMALL = FGDRecipe(window=16, hop=8, channels=16, latent=8, epochs=3)


def _seqs(n=3, frames=90):
    return [moving_poses(frames, seed=s).astype(np.float64) for s in range(n)]


def test_metric_joints_mask_neck_and_face():
    assert len(J) == 48 and not set(J) & {0, 7, 8, 9}


def test_identical_sequences_give_l1_zero_pck_one_fid_zero():
    gt = _seqs()
    assert pose_metrics.l1(gt, gt, J, None) == 0.0
    assert pose_metrics.vel_l1(gt, gt, J, None) == 0.0
    p = pose_metrics.pck(gt, gt, J, R)
    assert p["pck"] == 1.0 and p["pck_0.1"] == 1.0 and p["pck_0.2"] == 1.0
    assert pose_metrics.fid(gt, gt, J, None) == pytest.approx(0.0, abs=1e-6)
    w = pose_metrics.w1_kinematics(gt, gt, J)
    assert w == {"w1_vel": 0.0, "w1_acc": 0.0}


def test_constant_offset_gives_expected_l1_and_unchanged_velocity():
    gt = _seqs()
    off = np.array([3.0, -4.0])
    gen = [g + off for g in gt]
    assert pose_metrics.l1(gen, gt, J, None) == pytest.approx(3.5)  # mean of |3| and |-4|
    assert pose_metrics.vel_l1(gen, gt, J, None) == pytest.approx(0.0, abs=1e-12)
    stats = pose_metrics.PoseStats.fit(gt)
    zl1 = pose_metrics.l1([stats.normalise(g) for g in gen], [stats.normalise(g) for g in gt], J, None)
    assert zl1 == pytest.approx(np.mean(np.abs(off / stats.std[J])))
    # a shift of 5 px on every joint: every joint is within 0.2 * extent (extent >> 25 px) -> PCK 1
    d = np.linalg.norm(off)
    p = pose_metrics.pck(gen, gt, J, R)
    extent = np.concatenate([(g.max(1) - g.min(1)).max(-1) for g in gt])
    assert p["pck_0.1"] == pytest.approx(float(np.mean(d < 0.1 * extent)))
    # the FID of a pure mean shift is |shift|^2 in the space it is computed in
    assert pose_metrics.fid(gen, gt, J, None) == pytest.approx(len(J) * d**2, rel=1e-6)


def test_pck_counts_joints_beyond_the_threshold():
    gt = [moving_poses(10, seed=1).astype(np.float64)]
    gen = [gt[0].copy()]
    extent = (gt[0].max(1) - gt[0].min(1)).max(-1)  # (T,)
    gen[0][:, J[:12], 0] += 0.15 * extent[:, None]  # 12 of 48 joints off by 0.15 * extent
    p = pose_metrics.pck(gen, gt, J, R)
    assert p["pck_0.1"] == pytest.approx(36 / 48)
    assert p["pck_0.2"] == pytest.approx(1.0)
    assert p["pck"] == pytest.approx((36 / 48 + 1) / 2)


def test_shuffled_frames_keep_pose_distribution_but_change_velocity():
    gt = _seqs(2, 150)
    rng = np.random.default_rng(0)
    gen = [g[rng.permutation(len(g))] for g in gt]
    assert pose_metrics.fid(gen, gt, J, None) == pytest.approx(0.0, abs=1e-6)
    assert pose_metrics.l1div(gen, J) == pytest.approx(pose_metrics.l1div(gt, J))
    w = pose_metrics.w1_kinematics(gen, gt, J)
    assert w["w1_vel"] > 1.0 and w["w1_acc"] > 1.0
    assert pose_metrics.frame_speed(gen, J).mean() > 2 * pose_metrics.frame_speed(gt, J).mean()


def test_wasserstein_by_hand_and_on_frame_speeds():
    # a point mass at 0 against half at 1, half at 3: every unit of mass moves 1 or 3 -> 2
    assert pose_metrics.wasserstein1(np.zeros(4), np.array([1.0, 3.0])) == pytest.approx(2.0)
    rng = np.random.default_rng(3)
    u = rng.gamma(2.0, size=257)
    assert pose_metrics.wasserstein1(u, u + 0.75) == pytest.approx(0.75)  # a shift moves all mass by it
    assert np.isnan(pose_metrics.wasserstein1(u, np.zeros(0)))  # no frames: NaN, not an error
    gen, gt = _seqs(2), _seqs(2)[::-1]
    gen = [g * 1.3 for g in gen]
    ref = scipy.stats.wasserstein_distance(pose_metrics.frame_speed(gen, J), pose_metrics.frame_speed(gt, J))
    assert pose_metrics.w1_kinematics(gen, gt, J)["w1_vel"] == pytest.approx(ref)


def _numpy_frechet(x, y):
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))


def test_frechet_matches_an_independent_numpy_version_and_a_closed_form():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 6)), rng.normal(0.5, 2.0, size=(300, 6)) @ rng.normal(size=(6, 6))
    assert frechet_from_features(x, y) == pytest.approx(_numpy_frechet(x, y), rel=1e-8)
    # 1-D closed form: (m1-m2)^2 + (s1 - s2)^2
    a, b = rng.normal(1, 2, size=(1000, 1)), rng.normal(-1, 0.5, size=(800, 1))
    expect = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_from_features(a, b) == pytest.approx(expect, rel=1e-9)


def test_diversity_l1div_spatial_norm_and_jerk_by_hand():
    x = np.zeros((4, 52, 2))
    x[:, J, 0] = np.array([0.0, 2.0, 0.0, 2.0])[:, None]  # x alternates 0, 2; y stays 0
    mp = np.zeros((52, 2))
    assert pose_metrics.diversity([x], J, R, [mp]) == pytest.approx(0.5)  # |x| mean over (x, y)
    assert pose_metrics.l1div([x], J) == pytest.approx(0.5)  # mean 1 -> |dev| 1 on x, 0 on y
    # jerk: third difference of 0,2,0,2 is -8 (frame 0) -> 8 * fps^3
    j = pose_metrics.jerk([x], J, fps=10.0)
    assert j["mean"] == pytest.approx(8 * 1000.0) and j["std"] == pytest.approx(0.0)
    assert pose_metrics.spatial_norm([x], [x], J, R, [mp]) == 0.0
    assert pose_metrics.spatial_norm([2 * x], [x], J, R, [mp]) == pytest.approx(1.0)


def test_cluster_scores_by_hand_and_weighted_f1():
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 0])
    s = cluster_metrics.classification_scores(pred, true, 3)
    # per-class F1: c0 p=2/3 r=2/3 -> 2/3; c1 p=2/3 r=1 -> 0.8; c2 -> 0; weights 3, 2, 1
    assert s["cluster_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8) / 6)
    assert s["cluster_accuracy"] == pytest.approx(4 / 6)
    gt = _seqs(2)
    feats = np.concatenate([cluster_metrics.cluster_features(g, J) for g in gt])
    assert feats.shape[1] == 48 * 2 * 2 + 48  # 240 as in the reference
    c = cluster_metrics.kmeans(feats, 8, seed=0)
    assert np.array_equal(c, cluster_metrics.kmeans(feats, 8, seed=0))
    assert cluster_metrics.cluster_scores(gt, gt, J, c)["cluster_accuracy"] == 1.0


def test_reference_kmeans_centres_have_the_reference_layout(pats_stats_dir):
    c = cluster_metrics.read_reference_centres(pats_stats_dir / "kmeans" / "oliver.h5")
    assert c.shape == (8, 240)


def test_audio_onsets_find_clicks():
    clicks = [0.5, 1.25, 2.0, 3.1, 4.4]
    a = click_audio(5.0, clicks)
    on = beats.audio_onsets(a.samples, a.rate_hz)
    tol = 3 * beats.HOP / beats.SR  # within 3 hops (96 ms)
    d_click = np.abs(on[:, None] - np.array(clicks)[None])
    assert np.all(d_click.min(axis=0) <= tol)  # every click found
    # every onset after the first 0.2 s is a click (librosa's 16 kHz defaults can mark two frames)
    assert np.all(d_click.min(axis=1)[on > 0.2] <= tol)
    # resampling path: the same clicks at 22.05 kHz
    from scipy.signal import resample_poly

    on2 = beats.audio_onsets(resample_poly(a.samples, 441, 320), 22050)
    assert np.all(np.abs(on2[:, None] - np.array(clicks)[None]).min(axis=0) <= tol)


def test_audio_onsets_agree_with_librosa_when_installed():
    librosa = pytest.importorskip("librosa", reason="librosa not installed (the optional cross-check)")
    a = click_audio(6.0, [0.6, 1.7, 2.2, 3.9, 5.1], seed=4)
    y = a.samples + 0.05 * np.sin(2 * np.pi * 220 * np.arange(len(a.samples)) / a.rate_hz).astype(np.float32)
    ref = librosa.onset.onset_detect(y=y, sr=a.rate_hz, hop_length=512, units="time")
    np.testing.assert_allclose(beats.audio_onsets(y, a.rate_hz), ref, atol=1e-9)
    env_ref = librosa.onset.onset_strength(y=y, sr=a.rate_hz, hop_length=512)
    np.testing.assert_allclose(beats.onset_strength(y), env_ref, rtol=1e-3, atol=1e-3)


def test_motion_beats_and_beat_consistency_by_hand():
    fps = 30.0
    t = np.arange(300) / fps
    # one joint moving with speed minima (above the threshold) every 1 s: |v| = 1.5 + cos(2 pi t)
    pos = 1.5 * t + np.sin(2 * np.pi * (t - 0.5)) / (2 * np.pi)  # speed 1.5 + cos(2 pi (t - 0.5))
    seq = np.zeros((300, 1, 2))
    seq[:, 0, 0] = pos
    norm = beats.joint_speed(seq, fps) / beats.joint_speed(seq, fps).mean(0)
    b = beats.motion_beats(norm, fps)[0] / fps
    np.testing.assert_allclose(b, np.arange(1.0, 10.0), atol=1.5 / fps)
    mean_speed = beats.joint_speed(seq, fps).mean(0)
    onsets = np.arange(2.0, 8.01, 1.0)  # exactly on the beats -> BC 1
    assert beats.beat_scores(onsets, seq, fps, mean_speed).mean() == pytest.approx(1.0, abs=1e-3)
    shifted = onsets + 0.3  # d = 0.3 s = sigma -> exp(-1/2)
    assert beats.beat_scores(shifted, seq, fps, mean_speed).mean() == pytest.approx(np.exp(-0.5), abs=0.02)
    # onsets in the first and last 2 s are left out
    assert len(beats.beat_scores(np.array([0.5, 9.5]), seq, fps, mean_speed)) == 0


def test_fgd_encoder_is_deterministic_and_round_trips(tmp_path):
    gt = _seqs(3, 80)
    e1 = train_fgd_encoder(gt, J, R, SMALL, trained_on="fixture")
    e2 = train_fgd_encoder(gt, J, R, SMALL, trained_on="fixture")
    assert e1.sha256 == e2.sha256 and e1.name == e2.name
    assert e1.fgd(gt, gt) == pytest.approx(0.0, abs=1e-6)
    shuffled = [g[np.random.default_rng(0).permutation(len(g))] for g in gt]
    noisy = [g + np.random.default_rng(1).normal(0, 0.5, g.shape) for g in gt]
    assert e1.fgd(shuffled, gt) > 5 * e1.fgd(noisy, gt)  # shuffled windows look unlike real motion
    e1.save(tmp_path / "enc")
    assert (tmp_path / "enc.safetensors").exists() and (tmp_path / "enc.json").exists()
    e3 = FGDEncoder.load(tmp_path / "enc")
    assert e3.name == e1.name
    np.testing.assert_allclose(e3.features(gt), e1.features(gt), rtol=1e-6)
    other = train_fgd_encoder(gt, J, R, FGDRecipe(**{**SMALL.__dict__, "seed": 1}))
    assert other.sha256 != e1.sha256


def test_style_score_of_a_hand_built_classifier():
    seqs = [np.zeros((128, 52, 2)), np.ones((128, 52, 2))]

    def confident(w):  # class by mean value: two windows per class, perfectly confident
        p = np.zeros((len(w), 2))
        p[np.arange(len(w)), (w.mean(axis=(1, 2, 3)) > 0.5).astype(int)] = 1.0
        return p

    assert style_score(confident, seqs) == pytest.approx(2.0, rel=1e-6)  # IS = number of classes
    assert style_score(lambda w: np.full((len(w), 2), 0.5), seqs) == pytest.approx(1.0)


def test_evaluate_samples_overall_and_per_speaker(tmp_path):
    path = make_samples_file(tmp_path, n_intervals=4, frames=90)
    res = evaluate_file(path, EvalOptions(fgd_recipe=SMALL))
    keys = {"l1", "pck", "fid", "w1_vel", "w1_acc", "diversity", "fgd", "beat_consistency", "cluster_f1"}
    assert keys <= set(res["overall"])
    assert set(res["per_speaker"]) == {"oliver", "seth"}
    for block in [res["overall"], *res["per_speaker"].values()]:
        assert all(block[k] is not None for k in keys), block
        assert 0 <= block["pck"] <= 1 and block["l1"] > 0 and 0 < block["beat_consistency"] <= 1
    assert res["overall"]["n_intervals"] == 4 and res["meta"]["intervals_with_audio"] == 4
    assert res["meta"]["fgd_encoder"]["name"].startswith("gk-poseae-w16-z8-seed0-")
    again = evaluate_file(path, EvalOptions(fgd_recipe=SMALL))
    assert again["overall"] == res["overall"]  # deterministic, including FGD


def test_evaluate_identical_samples_and_reference_statistics(tmp_path, pats_stats_dir):
    s = read_samples(make_samples_file(tmp_path, n_intervals=2, frames=80, with_audio=False))
    for it in s.items:
        it.generated = it.ground_truth.copy()
    opt = EvalOptions(
        fgd_recipe=SMALL, stats_dir=pats_stats_dir / "muvar", kmeans_dir=pats_stats_dir / "kmeans"
    )
    res = evaluate_samples(s, opt)["overall"]
    assert res["l1"] == 0 and res["pck"] == 1 and res["fid"] == pytest.approx(0, abs=1e-6)
    assert res["cluster_accuracy"] == 1 and res["w1_vel"] == 0
    assert res["beat_consistency"] is None  # no audio in this file


def test_evaluate_rejects_bad_samples(tmp_path):
    g = np.zeros((20, 52, 2), dtype=np.float32)
    bad = Samples([SampleItem("a", "x", g, g[:10])], FPS, PATS)
    with pytest.raises(DataError, match="differ in shape"):
        evaluate_samples(bad)
    nan = g.copy()
    nan[3, 4, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        evaluate_samples(Samples([SampleItem("a", "x", nan, g)], FPS, PATS))
    with pytest.raises(DataError, match="no ground truth"):
        evaluate_samples(Samples([SampleItem("a", "x", g)], FPS, PATS))


def test_degenerate_splits_give_null_not_nonsense():
    one = [moving_poses(1, seed=0).astype(np.float64)]
    assert np.isnan(pose_metrics.fid(one, one, J, None))  # no covariance from one frame
    stats = pose_metrics.PoseStats.fit(one)
    assert np.all(stats.std == 1.0)  # nothing moves: compared in data units
    s = Samples([SampleItem("a", "x", one[0] + 2.0, one[0])], FPS, PATS)
    res = evaluate_samples(s, EvalOptions(fgd_recipe=SMALL))["overall"]
    assert res["l1"] == pytest.approx(2.0) and res["fid"] is None and res["fgd"] is None
    assert res["w1_vel"] is None and res["jerk"] is None
