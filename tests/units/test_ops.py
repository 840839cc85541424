"""The convolutive products (gesturekit.units.ops) equal their explicit double sums, in every engine."""

import pytest
import torch

from gesturekit.units import ops


def explicit_reconstruct(W: torch.Tensor, H: torch.Tensor, offset: int) -> torch.Tensor:
    """The double sum written out with Python loops (a slow reference)."""
    A, G, K = W.shape
    T = H.shape[-1]
    out = torch.zeros(A, T, dtype=W.dtype)
    for k in range(K):
        for t in range(T):
            s = t - k + offset
            if 0 <= s < T:
                out[:, t] += W[:, :, k] @ H[:, s]
    return out


@pytest.mark.parametrize("engine", [*ops.ENGINES, "gemm"])
@pytest.mark.parametrize("centred", [True, False])
def test_decoder_equals_explicit_double_sum(engine: str, centred: bool) -> None:
    g = torch.Generator().manual_seed(1)
    A, G, K, T = 3, 4, 7, 150
    W = torch.rand(A, G, K, generator=g, dtype=torch.float64)
    H = torch.rand(G, T, generator=g, dtype=torch.float64)
    off = ops.kernel_offset(K, centred)
    assert off == (3 if centred else 0)
    ref = explicit_reconstruct(W, H, off)
    torch.testing.assert_close(ops.reconstruct(W, H, off, engine), ref, rtol=1e-10, atol=1e-10)


def test_explicit_sum_matches_the_formula_at_one_point() -> None:
    W = torch.zeros(1, 1, 5, dtype=torch.float64)
    W[0, 0, 4] = 1.0  # last tap
    H = torch.zeros(1, 20, dtype=torch.float64)
    H[0, 10] = 1.0
    # X[t] = W[k] H[t - k + c]; with c = 2 and k = 4 the spike lands at t = 10 + 4 - 2 = 12
    x = ops.reconstruct(W, H, 2, "direct")
    assert int(x[0].argmax()) == 12
    assert int(explicit_reconstruct(W, H, 2)[0].argmax()) == 12


@pytest.mark.parametrize("engine", ops.ENGINES)
@pytest.mark.parametrize("offset", [0, 20])
def test_adjoint_and_correlate_are_the_gradients(engine: str, offset: int) -> None:
    g = torch.Generator().manual_seed(2)
    A, G, K, T = 5, 6, 41, 700
    W = torch.rand(A, G, K, generator=g, dtype=torch.float64, requires_grad=True)
    H = torch.rand(G, T, generator=g, dtype=torch.float64, requires_grad=True)
    R = torch.rand(A, T, generator=g, dtype=torch.float64)
    (ops.reconstruct(W, H, offset, "direct") * R).sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(ops.adjoint(W, R, offset, engine), H.grad, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(ops.correlate(R, H, K, offset, engine), W.grad, rtol=1e-9, atol=1e-9)
        # batched inputs give the per-item results
        Rb = torch.stack([R, 2 * R])
        torch.testing.assert_close(ops.adjoint(W, Rb, offset, engine)[1], 2 * H.grad, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(ops.correlate(Rb, H, K, offset, engine)[1], 2 * W.grad, rtol=1e-9, atol=1e-9)
