"""Sample-quality metrics against independent computations and constructed cases."""

import math

import pytest
import torch

from aigc_course.metrics import (
    bits_per_token,
    class_accuracy,
    feature_stats,
    frechet_distance,
    gaussian_frechet,
    nearest_neighbours,
    perplexity,
    precision_recall,
)


def _random_cov(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_likelihood_helpers_still_there():
    assert perplexity(math.log(7.0)) == pytest.approx(7.0)
    assert bits_per_token(math.log(2.0)) == pytest.approx(1.0)


def test_gaussian_frechet_one_dimension_closed_form():
    # 1-D: W2²(N(m1, s1²), N(m2, s2²)) = (m1 - m2)² + (s1 - s2)²
    m1, s1, m2, s2 = 0.3, 1.7, -1.1, 0.4
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    got = gaussian_frechet(t([m1]), t([[s1**2]]), t([m2]), t([[s2**2]]))
    assert got == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-9)


def test_gaussian_frechet_matches_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    d = 12
    c1, c2 = _random_cov(d, 0), _random_cov(d, 1)
    mu1, mu2 = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    covmean = scipy_linalg.sqrtm(c1.numpy() @ c2.numpy()).real
    expected = float((mu1 - mu2).pow(2).sum() + c1.trace() + c2.trace() - 2 * covmean.trace())
    assert gaussian_frechet(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-7)


def test_gaussian_frechet_is_zero_for_equal_and_symmetric():
    c1, c2 = _random_cov(5, 2), _random_cov(5, 3)
    mu = torch.zeros(5)
    assert gaussian_frechet(mu, c1, mu, c1) == pytest.approx(0.0, abs=1e-8)
    forward, backward = gaussian_frechet(mu, c1, mu + 1, c2), gaussian_frechet(mu + 1, c2, mu, c1)
    assert forward == pytest.approx(backward, rel=1e-8)


def test_gaussian_frechet_rank_deficient_covariance_is_finite():
    c = torch.zeros(4, 4, dtype=torch.float64)
    c[0, 0] = 1.0                                        # rank 1, as with fewer samples than features
    got = gaussian_frechet(torch.zeros(4), c, torch.zeros(4), _random_cov(4, 5))
    assert math.isfinite(got) and got >= 0


def test_frechet_distance_from_samples_approaches_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g)
    b = torch.randn(20000, 3, generator=g) * 2 + torch.tensor([1.0, 0.0, 0.0])
    # closed form for N(0, I) vs N(e1, 4I): 1 + 3 * (1 - 2)² = 4
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)


def test_feature_stats_matches_torch_cov():
    x = torch.randn(50, 4)
    mu, cov = feature_stats(x)
    assert torch.allclose(mu, x.double().mean(0))
    assert torch.allclose(cov, torch.cov(x.double().T))


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match=r"2-D tensor \(N, D\)"):
        frechet_distance(torch.randn(10), torch.randn(10, 4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(torch.randn(1, 3), torch.randn(10, 3))


def test_nearest_neighbours_against_brute_force():
    g = torch.Generator().manual_seed(1)
    q, r = torch.randn(7, 2, 3, generator=g), torch.randn(30, 2, 3, generator=g)   # images are flattened
    dist, idx = nearest_neighbours(q, r, k=2)
    for i in range(7):
        d = ((r.flatten(1) - q[i].flatten()) ** 2).sum(1).sqrt()
        order = d.argsort()[:2]
        assert idx[i].tolist() == order.tolist()
        assert torch.allclose(dist[i], d[order].double(), atol=1e-6)


def test_nearest_neighbours_exclude_self_and_errors():
    x = torch.tensor([[0.0], [1.0], [3.0]])
    dist, idx = nearest_neighbours(x, x, k=1, exclude_self=True)
    assert idx.flatten().tolist() == [1, 0, 1]
    assert dist.flatten().tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="k must be in 1..2"):
        nearest_neighbours(x, x, k=3, exclude_self=True)


def test_precision_recall_constructed_cases():
    grid = torch.stack(torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij"), -1).reshape(-1, 2)
    same = precision_recall(grid, grid.clone(), k=3)
    assert same == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(grid, grid + 100.0, k=3)
    assert far == {"precision": 0.0, "recall": 0.0}
    # half of the fakes on the data, half far away: precision 1/2; the on-data half covers the data
    half = torch.cat([grid[:18], grid[:18] + 100.0])
    pr = precision_recall(grid, half, k=3)
    assert pr["precision"] == pytest.approx(0.5)
    # mode collapse: every fake sits in one corner of the data -> realistic (precision 1) but poor recall
    corner = grid[:4].repeat(9, 1) + 0.01 * torch.randn(36, 2)
    pr = precision_recall(grid, corner, k=3)
    assert pr["precision"] == 1.0 and pr["recall"] < 0.4


class _PixelClassifier(torch.nn.Module):
    """Predicts class 1 when the first pixel is bright, class 0 otherwise."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        p = x.flatten(1)[:, 0] * self.scale
        return torch.stack([0.5 - p, p - 0.5], dim=1)


def test_class_accuracy_counts_matches_and_restores_mode():
    images = torch.zeros(4, 1, 2, 2)
    images[:2, 0, 0, 0] = 1.0                           # two bright -> class 1
    clf = _PixelClassifier().train()
    assert class_accuracy(clf, images, torch.tensor([1, 1, 0, 0])) == 1.0
    assert class_accuracy(clf, images, torch.tensor([1, 0, 0, 0])) == 0.75
    assert clf.training
    with pytest.raises(ValueError, match="got 4 images but 3 labels"):
        class_accuracy(clf, images, torch.tensor([1, 0, 0]))
