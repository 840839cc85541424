"""The convolutive products equal their explicit double sums, in both engines."""

import pytest
import torch

from gesturekit.units import convops


@pytest.mark.parametrize("engine", convops.ENGINES)
@pytest.mark.parametrize("centred", [True, False])
def test_decoder_equals_explicit_double_sum(engine: str, centred: bool) -> None:
    g = torch.Generator().manual_seed(1)
    A, G, K, T = 3, 4, 7, 150
    W = torch.rand(A, G, K, generator=g, dtype=torch.float64)
    H = torch.rand(G, T, generator=g, dtype=torch.float64)
    off = convops.kernel_offset(K, centred)
    assert off == (3 if centred else 0)
    ref = convops.explicit_reconstruct(W, H, off)
    torch.testing.assert_close(convops.reconstruct(W, H, off, engine), ref, rtol=1e-10, atol=1e-10)


def test_explicit_sum_matches_the_formula_at_one_point() -> None:
    W = torch.zeros(1, 1, 5, dtype=torch.float64)
    W[0, 0, 4] = 1.0  # last tap
    H = torch.zeros(1, 20, dtype=torch.float64)
    H[0, 10] = 1.0
    # X[t] = W[k] H[t - k + c]; with c = 2 and k = 4 the spike lands at t = 10 + 4 - 2 = 12
    x = convops.reconstruct(W, H, 2, "direct")
    assert int(x[0].argmax()) == 12
    assert int(convops.explicit_reconstruct(W, H, 2)[0].argmax()) == 12


@pytest.mark.parametrize("engine", convops.ENGINES)
@pytest.mark.parametrize("offset", [0, 20])
def test_adjoint_and_correlate_are_the_gradients(engine: str, offset: int) -> None:
    g = torch.Generator().manual_seed(2)
    A, G, K, T = 5, 6, 41, 700
    W = torch.rand(A, G, K, generator=g, dtype=torch.float64, requires_grad=True)
    H = torch.rand(G, T, generator=g, dtype=torch.float64, requires_grad=True)
    R = torch.rand(A, T, generator=g, dtype=torch.float64)
    (convops.reconstruct(W, H, offset, "direct") * R).sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(convops.adjoint(W, R, offset, engine), H.grad, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(convops.correlate(R, H, K, offset, engine), W.grad, rtol=1e-9, atol=1e-9)
        # batched inputs give the per-item results
        Rb = torch.stack([R, 2 * R])
        torch.testing.assert_close(convops.adjoint(W, Rb, offset, engine)[1], 2 * H.grad, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(
            convops.correlate(Rb, H, K, offset, engine)[1], 2 * W.grad, rtol=1e-9, atol=1e-9
        )
