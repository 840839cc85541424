"""cc_nce (clustering, dictionary, positives/negatives; both forms), soft-DTW, MoCo, PatchNCE,
the adversarial weight schedule, reconstruction losses by name, pose clustering."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gesturekit.cospeech.models.contrastive import (
    ClusteredContrast,
    MoCoQueue,
    ccnce_loss_corrected,
    ccnce_loss_reference,
    greedy_batch_clusters,
    patch_nce,
    pose_similarity,
    soft_dtw,
)
from gesturekit.cospeech.training.clusters import PoseClusters, frame_features
from gesturekit.cospeech.training.losses import LambdaSchedule, loss_by_name
from gesturekit.errors import ConfigError

torch.set_num_threads(1)
T, P, C = 8, 6, 4


def test_greedy_batch_clustering_follows_the_reference_rule():
    # windows 0,1,2 alike; 3,4 alike; 5 alone
    sim = np.array(
        [[9, 8, 8, 0, 0, 1],
         [8, 9, 8, 0, 0, 1],
         [8, 8, 9, 0, 0, 1],
         [0, 0, 0, 9, 8, 0],
         [0, 0, 0, 8, 9, 0],
         [1, 1, 1, 0, 0, 9]], dtype=float)  # fmt: skip

    class FirstAnchor:
        def integers(self, n):
            return 0

    clusters = greedy_batch_clusters(sim, tau=5.0, rng=FirstAnchor())
    # anchor 0 takes 1, 2; the next anchor is the least similar remaining window (3), which takes 4;
    # then 5 is left alone and forms no cluster
    assert [c.tolist() for c in clusters] == [[0, 1, 2], [3, 4]]


def _two_group_batch(n=4, flip_latents=False):
    """n windows of pose pattern +1 and n of pattern -1; latents e0 for group A, e1 for group B."""
    pose = torch.cat([torch.ones(n, T, P), -torch.ones(n, T, P)])
    a, b = F.one_hot(torch.tensor(0), C).float(), F.one_hot(torch.tensor(1), C).float()
    if flip_latents:
        a, b = b, a
    z = torch.cat([a.expand(n, T, C), b.expand(n, T, C)]).clone()
    return pose, z


@pytest.mark.parametrize("form", ["corrected", "reference"])
def test_cc_nce_pulls_to_the_matched_cluster_and_pushes_from_others(form):
    cc = ClusteredContrast(form=form, stat_epoch=2, seed=0)
    pose, z = _two_group_batch()
    assert float(cc(z, z, pose, epoch=1)) == 0.0  # before the statistics epoch
    for _ in range(3):
        assert float(cc(z, z, pose, epoch=2)) == 0.0  # statistics epoch: no loss
    # first batch of epoch 3 fills the dictionary: two clusters, no match yet
    assert float(cc(z, z, pose, epoch=3)) == 0.0
    assert len(cc.clusters) == 2
    # latents agreeing with the stored ones (positives) give a low loss ...
    good = float(cc(z, z, pose, epoch=3))
    assert cc.last_matched == 2
    # ... latents equal to the other cluster's (negatives) give a high one
    _, z_bad = _two_group_batch(flip_latents=True)
    bad = float(cc(z_bad, z, pose, epoch=3))
    assert good < bad
    # a new epoch empties the dictionary; the threshold learned in epoch 2 stays
    tau = cc.tau
    assert float(cc(z, z, pose, epoch=4)) == 0.0 and len(cc.clusters) == 2 and cc.tau == tau


def test_cc_nce_label_positives_group_windows_by_their_k_means_labels():
    """positives="labels": a batch cluster is the windows whose frames share k-means labels, even
    where the poses group the windows the other way (the reference, positives="pose")."""
    n = 8
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])[:, None].repeat(1, T)
    labels[:4, -2:] = 2  # label groups {0..3}, {4..7}
    pose = torch.ones(n, T, P)
    pose[[2, 3, 6, 7]] = -1.0  # pose groups {0, 1, 4, 5}, {2, 3, 6, 7}
    z = F.one_hot(torch.arange(n), n).float()[:, None].repeat(1, T, 1)  # latent i marks window i
    groups, ccs = {}, {}
    for positives in ("pose", "labels"):
        cc = ClusteredContrast(stat_epoch=0, positives=positives, num_clusters=3, seed=0)
        for _ in range(2):
            assert float(cc(z, z, pose, epoch=0, labels=labels)) == 0.0  # statistics epoch
        assert float(cc(z, z, pose, epoch=1, labels=labels)) == 0.0  # fills the dictionary
        groups[positives] = sorted(sorted(int(i) for i in c.keys[:, 0].argmax(-1)) for c in cc.clusters)
        ccs[positives] = cc
    assert groups["labels"] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert groups["pose"] == [[0, 1, 4, 5], [2, 3, 6, 7]]
    # the positives of a window are the stored windows with its labels: latents equal to those
    # give a lower loss than latents equal to the other label group's
    cc = ccs["labels"]
    good = float(cc(z, z, pose, epoch=1, labels=labels))
    assert cc.last_matched == 2
    bad = float(cc(z[torch.arange(n).add(4) % n], z, pose, epoch=1, labels=labels))
    assert good < bad
    with pytest.raises(ConfigError):
        cc(z, z, pose, epoch=1)  # no labels
    with pytest.raises(ConfigError):
        ClusteredContrast(positives="labels")  # no num_clusters


def test_reference_form_ignores_its_temperature_and_the_corrected_form_does_not():
    torch.manual_seed(0)
    q = F.normalize(torch.randn(3, T, C), dim=-1)
    pos = F.normalize(torch.randn(2, T, C), dim=-1)
    neg = F.normalize(torch.randn(5, T, C), dim=-1)
    r1, r2 = ccnce_loss_reference(q, pos, neg, 0.1), ccnce_loss_reference(q, pos, neg, 1.0)
    torch.testing.assert_close(r1, r2)
    c1, c2 = ccnce_loss_corrected(q, pos, neg, 0.1), ccnce_loss_corrected(q, pos, neg, 1.0)
    assert abs(float(c1) - float(c2)) > 1e-3


def test_corrected_loss_is_small_for_queries_equal_to_positives():
    pos = F.normalize(torch.randn(2, T, C), dim=-1)
    neg = -pos.repeat(2, 1, 1)
    low = ccnce_loss_corrected(pos, pos, neg, 0.1)
    high = ccnce_loss_corrected(pos, neg[:2], pos, 0.1)
    assert float(low) < 0.01 < 1.0 < float(high)


def _soft_dtw_loop(x, y, gamma):
    n, m = len(x), len(y)
    R = np.full((n + 1, m + 1), np.inf)
    R[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = ((x[i - 1] - y[j - 1]) ** 2).sum()
            r = np.array([R[i - 1, j - 1], R[i - 1, j], R[i, j - 1]])
            finite = r[np.isfinite(r)]
            R[i, j] = c - gamma * np.log(np.exp(-finite / gamma).sum())
    return R[n, m]


def test_soft_dtw_matches_the_recursion_and_lower_means_more_similar():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 3))
    y = rng.normal(size=(3, 5, 3))
    got = soft_dtw(torch.as_tensor(x), torch.as_tensor(y), gamma=0.5).numpy()
    want = np.array([[_soft_dtw_loop(a, b, 0.5) for b in y] for a in x])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    t = torch.linspace(0, 6, 32)
    wave = torch.sin(t)[None, :, None]
    shifted = torch.sin(t - 0.4)[None, :, None]
    other = torch.cos(3 * t)[None, :, None]
    s = pose_similarity(wave, torch.cat([shifted, other]), dtw=True, gamma=0.1)
    assert s[0, 0] > s[0, 1]  # similarity = -cost: the shifted copy is the more similar


def test_moco_and_patch_nce_prefer_aligned_keys():
    torch.manual_seed(0)
    q = F.normalize(torch.randn(4, T, C), dim=-1)
    queue = MoCoQueue(16, T, C)
    assert float(queue.loss(q, q)) < float(queue.loss(q, F.normalize(torch.randn(4, T, C), dim=-1)))
    queue.enqueue(q)
    assert int(queue.ptr) == 4 and torch.equal(queue.queue[:4], q)
    p = torch.randn(2, 5, 8)
    assert float(patch_nce(p, p)) < float(patch_nce(p, torch.randn(2, 5, 8)))


def test_lambda_schedule_and_losses_by_name():
    s = LambdaSchedule(1.0, 0.1, 2.0, interval=2)
    vals = []
    for _ in range(40):
        vals.append(s.value)
        s.tick()
    assert vals[0] == 1.0 and vals[3] == pytest.approx(1.1) and max(vals) == 2.0
    assert isinstance(loss_by_name("SmoothL1Loss"), torch.nn.SmoothL1Loss)
    with pytest.raises(ConfigError, match="torch.nn loss"):
        loss_by_name("Linear")


def test_pose_clusters_separate_distinct_gestures():
    rng = np.random.default_rng(0)
    still = rng.normal(0, 0.01, size=(10, 16, 4))
    raised = 5.0 + rng.normal(0, 0.01, size=(10, 16, 4))
    windows = np.concatenate([still, raised]).astype(np.float32)
    joint_of = np.array([0, 0, 1, 1])
    assert frame_features(windows, joint_of, ["pose", "velocity", "speed"]).shape == (20, 16, 4 + 4 + 2)
    pc = PoseClusters(2, seed=0).fit(windows, joint_of)
    lab = pc.predict(windows)
    assert lab.shape == (20, 16)
    assert len(set(lab[:10].ravel())) == 1 and len(set(lab[10:].ravel())) == 1 and lab[0, 0] != lab[10, 0]
    with pytest.raises(ConfigError, match="cluster features"):
        frame_features(windows, joint_of, ["acceleration"])
