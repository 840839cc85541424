"""The contrastive terms inside the CC-NCE generators: cc_nce (reference and corrected forms),
MoCo, patch-wise NCE, soft-DTW pose similarity. The losses the trainer adds around the model
(reconstruction by name, adversarial with its weight schedule) are in
:mod:`gesturekit.cospeech.training.losses`.

Shapes: pose windows ``(N, T, P)`` (z-normalised), latents ``(N, T, C)`` unit-normalised per
frame over channels unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gesturekit.errors import ConfigError

# ----------------------------------------------------------------------------- soft-DTW


def soft_dtw(x: torch.Tensor, y: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Soft-DTW cost between every ``x[i]`` and ``y[j]`` along **time**: ``(N, T, P), (M, S, P) -> (N, M)``.

    Local cost: squared Euclidean distance between frames. A lower cost means more similar
    sequences (the reference treated its cost as a similarity and aligned the coordinate axis).
    Vectorised over pairs; the dynamic programme runs over anti-diagonals.
    """
    N, T, _ = x.shape
    M, S, _ = y.shape
    D = torch.cdist(x.reshape(N, 1, T, -1).expand(N, M, T, -1).reshape(N * M, T, -1),
                    y.reshape(1, M, S, -1).expand(N, M, S, -1).reshape(N * M, S, -1)) ** 2  # fmt: skip
    inf = torch.tensor(float("inf"), dtype=D.dtype, device=D.device)
    R = torch.full((N * M, T + 1, S + 1), float("inf"), dtype=D.dtype, device=D.device)
    R[:, 0, 0] = 0.0
    for d in range(2, T + S + 1):
        i = torch.arange(max(1, d - S), min(T, d - 1) + 1, device=D.device)
        j = d - i
        prev = torch.stack([R[:, i - 1, j - 1], R[:, i - 1, j], R[:, i, j - 1]], 0)
        finite = torch.where(torch.isinf(prev), -inf, -prev / gamma)
        R[:, i, j] = D[:, i - 1, j - 1] - gamma * torch.logsumexp(finite, 0)
    return R[:, T, S].view(N, M)


def pose_similarity(
    a: torch.Tensor, b: torch.Tensor, dtw: bool = False, gamma: float = 1.0, cosine: bool = False
) -> torch.Tensor:
    """Similarity of pose windows ``(N, T, P), (M, T, P) -> (N, M)``, higher = more similar.

    Dot product of the flattened windows (the reference), their cosine (``cosine``: the size of
    a movement no longer decides its cluster), or minus the soft-DTW cost.
    """
    if dtw:
        return -soft_dtw(a, b, gamma)
    fa, fb = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    if cosine:
        fa, fb = F.normalize(fa, dim=1), F.normalize(fb, dim=1)
    return fa @ fb.T


# ----------------------------------------------------------------------------- cc_nce


def label_windows(labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per-frame cluster labels ``(N, T)`` -> one-hot windows ``(N, T, k)`` scaled by ``1/sqrt(T)``,
    so that the dot similarity of two windows is the fraction of frames whose labels agree."""
    return F.one_hot(labels.long(), k).float() / labels.shape[1] ** 0.5


def greedy_batch_clusters(sim: np.ndarray, tau: float, rng: np.random.Generator) -> list[np.ndarray]:
    """The reference's online clustering of one batch from its similarity matrix ``(B, B)``.

    Random first anchor; its cluster is the anchor plus the unassigned windows with
    similarity > ``tau`` (no cluster if none); the next anchor is the unassigned window least
    similar to the current anchor. Returns index arrays, the anchor first.
    """
    B = sim.shape[0]
    free = np.ones(B, dtype=bool)
    anchor = int(rng.integers(B))
    clusters = []
    while True:
        free[anchor] = False
        rest = np.flatnonzero(free)
        if rest.size == 0:
            break
        s = sim[anchor, rest]
        members = rest[s > tau]
        if members.size:
            clusters.append(np.concatenate([[anchor], members]))
        nxt = int(rest[np.argmin(s)])
        free[members] = False
        if not free[nxt]:
            left = np.flatnonzero(free)
            if left.size == 0:
                break
            nxt = int(left[np.argmin(sim[anchor, left])])
        anchor = nxt
    return clusters


def ccnce_logits_reference(q: torch.Tensor, k: torch.Tensor, temperature: float) -> torch.Tensor:
    """The reference's scores ``(n, m, C)`` in [0, 1]: per-channel temporal correlation, max shift,
    temperature, then min-max over keys (which cancels shift and temperature)."""
    logits = torch.einsum("itc,jtc->ijc", q, k)
    logits = (logits - logits.max()) / temperature
    lo = logits.min(1, keepdim=True).values
    hi = logits.max(1, keepdim=True).values
    return (logits - lo) / (hi - lo).clamp_min(1e-12)


def ccnce_loss_reference(
    q: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """BCE of min-max scaled scores; target 1 for positive keys, 0 for negatives (reference form)."""
    keys = torch.cat([pos, neg], 0)
    scores = ccnce_logits_reference(q, keys, temperature).clamp(0.0, 1.0)
    target = torch.zeros_like(scores)
    target[:, : pos.shape[0]] = 1.0
    return F.binary_cross_entropy(scores, target)


def ccnce_loss_corrected(
    q: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Multi-positive InfoNCE on window similarities (the corrected form).

    Similarity of two windows = mean over frames of the cosine of their unit latents (in
    [-1, 1]); logits = similarity / temperature, so the temperature sets the sharpness; loss =
    -log(softmax mass on the positive keys), averaged over the queries.
    """
    keys = torch.cat([pos, neg], 0)
    logits = torch.einsum("itc,jtc->ij", q, keys) / (q.shape[1] * temperature)
    logp = logits.log_softmax(1)
    return -torch.logsumexp(logp[:, : pos.shape[0]], 1).mean()


@dataclass
class _Cluster:
    poses: torch.Tensor  # (n, T, P) member pose windows, the newest last
    keys: torch.Tensor  # (n, T, C) stored latents

    def add(self, poses: torch.Tensor, keys: torch.Tensor, memory: int) -> None:
        self.poses = torch.cat([self.poses, poses])[-memory:]
        self.keys = torch.cat([self.keys, keys])[-memory:]


class ClusteredContrast:
    """cc_nce: online pose clustering of each batch, a per-epoch dictionary of clusters, and a
    contrastive loss of a batch cluster's latents against the matched cluster (positives) and
    every other cluster (negatives). ``ccnce-reference.md`` section 2.

    Schedule: epochs before ``stat_epoch`` give 0; in ``stat_epoch`` the mean similarity of a
    random anchor to the batch is collected; the threshold tau = mean + std of those is fixed at
    the first later call; the loss is active from then on. ``form``: "reference" (BCE on
    min-max scaled per-channel scores) or "corrected" (InfoNCE on window similarities).
    ``keys``: "stored" (the latents stored with a cluster are used as keys, a memory bank) or
    "reencode" (stored pre-U-Net latents are re-encoded by the current U-Net, the reference).
    ``positives``: "pose" (windows are clustered by pose similarity, the reference) or "labels"
    (by the fraction of frames whose k-means label agrees, :func:`label_windows`; needs the
    labels and ``num_clusters``). ``threshold_std``: tau = mean + threshold_std x std (reference 1).
    """

    def __init__(
        self, form: str = "corrected", temperature: float = 0.1, memory: int = 20, max_clusters: int = 64,
        stat_epoch: int = 2, dtw: bool = False, dtw_gamma: float = 1.0, keys: str = "stored", seed: int = 0,
        similarity: str = "dot", positives: str = "pose", threshold_std: float = 1.0, num_clusters: int = 0,
    ) -> None:  # fmt: skip
        if form not in ("reference", "corrected"):
            raise ConfigError(f"cc_nce form must be 'reference' or 'corrected', got {form!r}")
        if keys not in ("stored", "reencode"):
            raise ConfigError(f"cc_nce keys must be 'stored' or 'reencode', got {keys!r}")
        self.form, self.temperature, self.memory = form, temperature, memory
        self.max_clusters, self.stat_epoch, self.dtw, self.dtw_gamma = max_clusters, stat_epoch, dtw, dtw_gamma
        self.keys = keys
        if similarity not in ("dot", "cosine"):
            raise ConfigError(f"cc_nce similarity must be 'dot' or 'cosine', got {similarity!r}")
        self.cosine = similarity == "cosine"
        if positives not in ("pose", "labels"):
            raise ConfigError(f"cc_nce positives must be 'pose' or 'labels', got {positives!r}")
        if positives == "labels" and num_clusters < 1:
            raise ConfigError("cc_nce positives 'labels' needs the k-means clusters (num_clusters > 0)")
        self.positives, self.threshold_std, self.num_clusters = positives, threshold_std, num_clusters
        self.rng = np.random.default_rng(seed)
        self.stats: list[float] = []
        self.tau: float | None = None
        self.clusters: list[_Cluster] = []
        self.epoch = -1
        self.last_matched = 0

    def state_dict(self) -> dict:
        """Everything a batch changes: statistics, threshold, this epoch's cluster dictionary and the
        RNG, so that training resumed between two batches continues exactly."""
        return {
            "stats": list(self.stats), "tau": self.tau, "epoch": self.epoch, "last_matched": self.last_matched,
            "clusters": [{"poses": c.poses, "keys": c.keys} for c in self.clusters],
            "rng": self.rng.bit_generator.state,
        }  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.stats, self.tau, self.epoch = list(state["stats"]), state["tau"], int(state["epoch"])
        self.last_matched = int(state.get("last_matched", 0))
        self.clusters = [_Cluster(c["poses"], c["keys"]) for c in state.get("clusters", [])]
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]

    def reset(self) -> None:
        """Empty the cluster dictionary (done at each new epoch)."""
        self.clusters = []

    def __call__(self, z: torch.Tensor, stored: torch.Tensor, pose: torch.Tensor, epoch: int, encode=None,  # noqa: ANN001, ANN204
                 labels: torch.Tensor | None = None):  # fmt: skip
        """Loss for one batch.

        ``z`` ``(B, T, C)``: normalised latents with gradient (the queries); ``stored``
        ``(B, T, C)``: what the dictionary keeps for each window (detached: ``z`` for
        ``keys="stored"``, the pre-U-Net latent for ``"reencode"``); ``pose`` ``(B, T, P)``;
        ``encode``: stored latents -> unit keys (for ``"reencode"``); ``labels`` ``(B, T)``: the
        frames' k-means labels (for ``positives="labels"``).
        """
        zero = z.new_zeros(())
        if epoch != self.epoch:
            self.epoch = epoch
            self.reset()
        if epoch < self.stat_epoch:
            return zero
        if self.positives == "labels":
            if labels is None:
                raise ConfigError("cc_nce positives 'labels' needs the k-means labels of the batch")
            pose = label_windows(labels, self.num_clusters)
        pose = pose.detach().float()
        sim = pose_similarity(pose, pose, self.dtw, self.dtw_gamma, self.cosine)
        if epoch == self.stat_epoch:
            a = int(self.rng.integers(pose.shape[0]))
            others = torch.cat([sim[a, :a], sim[a, a + 1 :]])
            self.stats.append(float(others.mean()))
            return zero
        if self.tau is None:
            vals = np.array(self.stats) if self.stats else sim.cpu().numpy()[np.triu_indices(pose.shape[0], 1)]
            self.tau = float(vals.mean() + self.threshold_std * vals.std())
        return self._loss(z, stored.detach(), pose, sim.cpu().numpy(), encode)

    def _loss(self, z, stored, pose, sim, encode) -> torch.Tensor:  # noqa: ANN001
        batch_clusters = greedy_batch_clusters(sim, self.tau, self.rng)
        losses = []
        if self.clusters and batch_clusters:
            n_keys = [len(c.keys) for c in self.clusters]
            flat = torch.cat([c.keys for c in self.clusters])
            if self.keys == "reencode":
                with torch.no_grad():
                    flat = encode(flat)
            per_cluster = list(torch.split(flat, n_keys))
            centroids = torch.stack([c.poses[int(self.rng.integers(len(c.poses)))] for c in self.clusters])
            anchors = pose[[int(bc[0]) for bc in batch_clusters]]
            csim = pose_similarity(anchors, centroids, self.dtw, self.dtw_gamma, self.cosine).cpu().numpy()
        new = []
        for ci, members in enumerate(batch_clusters):
            idx = torch.as_tensor(members, device=z.device)
            if not self.clusters:
                new.append(members)
                continue
            k = int(np.argmax(csim[ci]))
            if csim[ci, k] > self.tau and len(self.clusters) > 1:
                pos = per_cluster[k]
                neg = torch.cat([p for j, p in enumerate(per_cluster) if j != k])
                fn = ccnce_loss_reference if self.form == "reference" else ccnce_loss_corrected
                losses.append(fn(z[idx], pos.to(z.dtype), neg.to(z.dtype), self.temperature))
                self.clusters[k].add(pose[idx], stored[idx], self.memory)
            else:
                new.append(members)
        for members in new:
            if len(self.clusters) >= self.max_clusters:
                break
            idx = torch.as_tensor(members, device=z.device)
            self.clusters.append(_Cluster(pose[idx][-self.memory :], stored[idx][-self.memory :]))
        self.last_matched = len(losses)
        return torch.stack(losses).mean() if losses else z.new_zeros(())


# ----------------------------------------------------------------------------- MoCo


class MoCoQueue(nn.Module):
    """A queue of ``size`` unit key windows ``(size, T, C)`` for per-frame MoCo InfoNCE."""

    def __init__(self, size: int, time: int, channels: int) -> None:
        super().__init__()
        self.register_buffer("queue", F.normalize(torch.randn(size, time, channels), dim=-1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    def loss(self, q: torch.Tensor, k: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
        """Per frame: positive ``q_t.k_t``, negatives ``q_t`` against the queue's frame t; CE, target 0."""
        pos = (q * k).sum(-1, keepdim=True)  # (B, T, 1)
        neg = torch.einsum("btc,ktc->btk", q, self.queue.to(q.dtype, copy=True))
        logits = torch.cat([pos, neg], -1) / temperature
        return F.cross_entropy(logits.flatten(0, 1), logits.new_zeros(logits.shape[0] * logits.shape[1]).long())

    @torch.no_grad()
    def enqueue(self, k: torch.Tensor) -> None:
        n, size = k.shape[0], self.queue.shape[0]
        idx = (self.ptr + torch.arange(n, device=k.device)) % size
        self.queue[idx] = k.to(self.queue.dtype)
        self.ptr.copy_((self.ptr + n) % size)


@torch.no_grad()
def momentum_update(q_net: nn.Module, k_net: nn.Module, m: float = 0.99) -> None:
    for pq, pk in zip(q_net.parameters(), k_net.parameters(), strict=True):
        pk.mul_(m).add_(pq.detach(), alpha=1 - m)


# ----------------------------------------------------------------------------- patch-wise


def patch_nce(q: torch.Tensor, k: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """PatchNCE over ``(B, n, C)`` patch features: positive = the same patch, negatives = the
    sample's other patches (the diagonal of the negatives set to -10); CE with target 0."""
    pos = (q * k).sum(-1, keepdim=True)  # (B, n, 1)
    neg = torch.einsum("bic,bjc->bij", q, k)
    eye = torch.eye(q.shape[1], dtype=torch.bool, device=q.device)
    neg = neg.masked_fill(eye, -10.0)
    logits = torch.cat([pos, neg], -1) / temperature
    return F.cross_entropy(logits.flatten(0, 1), logits.new_zeros(logits.shape[0] * logits.shape[1]).long())
