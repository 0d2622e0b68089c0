import math

import numpy as np
import pytest
import torch

from genlab.information import cross_entropy, entropy, kl_divergence

HAND_PAIRS = [
    ([0.5, 0.5], [0.9, 0.1]),
    ([0.9, 0.1], [0.5, 0.5]),
    ([0.2, 0.3, 0.5], [0.1, 0.1, 0.8]),
    ([1.0, 0.0, 0.0], [0.7, 0.2, 0.1]),  # exercises 0 log 0 = 0
]


def _random_dists(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.dirichlet(np.ones(k), size=n)


@pytest.mark.parametrize(("p", "q"), HAND_PAIRS)
def test_cross_entropy_decomposes_hand_values(p, q):
    assert cross_entropy(p, q) == pytest.approx(entropy(p) + kl_divergence(p, q), abs=1e-12)


def test_cross_entropy_decomposes_random_batched_numpy_and_torch():
    rng = np.random.default_rng(0)
    p, q = _random_dists(rng, 50, 7), _random_dists(rng, 50, 7)
    h_pq = cross_entropy(p, q)
    assert isinstance(h_pq, np.ndarray) and h_pq.shape == (50,)
    np.testing.assert_allclose(h_pq, entropy(p) + kl_divergence(p, q), atol=1e-12)

    pt, qt = torch.from_numpy(p), torch.from_numpy(q)
    h_t = cross_entropy(pt, qt)
    assert isinstance(h_t, torch.Tensor) and h_t.shape == (50,)
    torch.testing.assert_close(h_t, entropy(pt) + kl_divergence(pt, qt))
    np.testing.assert_allclose(h_t.numpy(), h_pq, atol=1e-12)


def test_one_dim_input_returns_float():
    for value in (
        entropy([0.5, 0.5]),
        entropy(torch.tensor([0.25, 0.75])),
        cross_entropy(np.array([0.5, 0.5]), np.array([0.9, 0.1])),
        kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])),
    ):
        assert type(value) is float


def test_kl_is_positive_for_distinct_and_zero_for_identical():
    rng = np.random.default_rng(1)
    p, q = _random_dists(rng, 200, 5), _random_dists(rng, 200, 5)
    assert np.all(kl_divergence(p, q) > 0)
    np.testing.assert_allclose(kl_divergence(p, p), 0.0, atol=1e-12)
    assert kl_divergence([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_cross_entropy_is_not_symmetric():
    p, q = [0.5, 0.5], [0.9, 0.1]
    h_pq = -(0.5 * math.log(0.9) + 0.5 * math.log(0.1))  # 1.203973
    h_qp = -(0.9 * math.log(0.5) + 0.1 * math.log(0.5))  # log 2 = 0.693147
    assert cross_entropy(p, q) == pytest.approx(h_pq, abs=1e-12)
    assert cross_entropy(q, p) == pytest.approx(h_qp, abs=1e-12)
    assert h_pq == pytest.approx(1.203973, abs=1e-6)
    assert cross_entropy(p, q) != pytest.approx(cross_entropy(q, p))


@pytest.mark.parametrize("k", [1, 2, 4, 10, 256])
def test_entropy_of_uniform_is_log_k(k):
    assert entropy(np.full(k, 1.0 / k)) == pytest.approx(math.log(k), abs=1e-9)
    assert entropy(torch.full((k,), 1.0 / k, dtype=torch.float64)) == pytest.approx(math.log(k))


def test_zero_mass_conventions():
    assert entropy([1.0, 0.0]) == 0.0
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    # q misses an outcome that p can produce: infinitely surprised
    assert math.isinf(kl_divergence([0.5, 0.5], [1.0, 0.0]))
    assert math.isinf(cross_entropy([0.5, 0.5], [1.0, 0.0]))


@pytest.mark.parametrize(
    "bad",
    [[0.5, 0.6], [1.2, -0.2], [0.3, 0.3], [float("nan"), 1.0], torch.tensor([2.0, -1.0]), []],
)
def test_invalid_distribution_raises(bad):
    with pytest.raises(ValueError):
        entropy(bad)
    with pytest.raises(ValueError):
        kl_divergence([0.5, 0.5], bad)
    with pytest.raises(ValueError):
        cross_entropy(bad, [0.5, 0.5])


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
