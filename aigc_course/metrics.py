"""How good is a generative model? Likelihood-based measures (here) and sample-based ones (Fréchet distance,
precision/recall, class accuracy) shared by the GAN, VAE, text and evaluation chapters.
"""

from __future__ import annotations

import math

import torch

from aigc_course.validation import ArgumentTypeError, check_float, check_tensor

LN2 = math.log(2.0)


def _mean_nll(value: float | torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        check_tensor("mean_nll_nats", value, finite=False)
        if value.numel() != 1:
            raise ValueError(f"mean_nll_nats must be one number (a mean), got a tensor of shape {tuple(value.shape)}")
        value = float(value)
    check_float("mean_nll_nats", value, 0, hint=" (a mean negative log-likelihood in nats)")
    return torch.tensor(value, dtype=torch.float64)


def perplexity(mean_nll_nats: float | torch.Tensor) -> float:
    """Perplexity from the mean negative log-likelihood per token in nats: PPL = exp(NLL)."""
    return float(_mean_nll(mean_nll_nats).exp())


def bits_per_token(mean_nll_nats: float | torch.Tensor) -> float:
    """Mean NLL in bits: bpc = NLL / ln 2 (bits per character for a character model)."""
    return float(_mean_nll(mean_nll_nats) / LN2)


# ---------------------------------------------------------------------------------------------------------
# Sample-based measures: Fréchet distance, precision/recall, class accuracy, nearest neighbours.
# ---------------------------------------------------------------------------------------------------------

def _as_features(feats: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(feats, torch.Tensor):
        try:
            feats = torch.as_tensor(feats, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ArgumentTypeError(f"{name} must be a 2-D tensor (N, D) of features, got "
                                    f"{type(feats).__name__}") from None
    check_tensor(name, feats, kind="any", nonempty=False)  # NaN / inf features: named here, not in eigh
    if feats.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor (N, D) of features, got shape {tuple(feats.shape)}")
    if feats.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 rows to estimate a covariance, got {feats.shape[0]}")
    return feats.detach().to("cpu", torch.float64)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix: S = V diag(sqrt(max(λ, 0))) Vᵀ."""
    eigvals, eigvecs = torch.linalg.eigh((matrix + matrix.T) / 2)            # (D,), (D, D)
    return (eigvecs * eigvals.clamp(min=0).sqrt()) @ eigvecs.T               # (D, D)


def gaussian_frechet(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mu1, cov1) and N(mu2, cov2):

    d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}).

    Tr (Σ₁Σ₂)^{1/2} is computed as Tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}: the same eigenvalues, but a symmetric
    matrix, so a float64 eigendecomposition is stable where a general matrix square root is not.
    """
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64).reshape(-1) for m in (mu1, mu2))
    cov1, cov2 = (torch.as_tensor(c, dtype=torch.float64) for c in (cov1, cov2))
    d = mu1.numel()
    if mu2.numel() != d or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu1 {tuple(mu1.shape)}, cov1 {tuple(cov1.shape)}, "
                         f"mu2 {tuple(mu2.shape)}, cov2 {tuple(cov2.shape)}; need (D,), (D, D) for both")
    root1 = _sqrt_psd(cov1)                                                  # Σ₁^{1/2}
    middle = root1 @ cov2 @ root1                                            # (D, D), symmetric PSD
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt
    return float(value.clamp(min=0))


def feature_stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    feats = _as_features(feats, "feats")
    mu = feats.mean(dim=0)                                                   # (D,)
    centred = feats - mu                                                     # (N, D)
    return mu, centred.T @ centred / (feats.shape[0] - 1)                    # (D, D)


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N_a, D) and (N_b, D).

    With an Inception network's features this is FID (Heusel et al., 2017); the course uses a small
    classifier trained on the data set instead. It is biased upward for small N: compare models with the
    same N, and next to the floor of two disjoint real halves of that size.
    """
    fa, fb = _as_features(feats_a, "feats_a"), _as_features(feats_b, "feats_b")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"feature sizes differ: {fa.shape[1]} vs {fb.shape[1]}")
    return gaussian_frechet(*feature_stats(fa), *feature_stats(fb))


def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, k: int = 1,
                       exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distances (Q, k) and indices (Q, k) of each query's k nearest rows of ``reference``.

    Flattens images to vectors. ``exclude_self=True`` skips a zero-distance match at the same index (use it
    when ``queries`` is ``reference``). A generated sample whose nearest training image is very close is a
    sign of memorisation.
    """
    q = torch.as_tensor(queries).detach().flatten(1).double()               # (Q, D)
    r = torch.as_tensor(reference).detach().flatten(1).double()             # (R, D)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} features but reference has {r.shape[1]}")
    limit = r.shape[0] - (1 if exclude_self else 0)
    if not 1 <= k <= limit:
        raise ValueError(f"k must be in 1..{limit} for a reference of {r.shape[0]} rows, got {k}")
    dist = torch.cdist(q, r)                                                 # (Q, R)
    if exclude_self:
        if q.shape[0] != r.shape[0]:
            raise ValueError("exclude_self=True needs queries and reference to be the same set")
        dist.fill_diagonal_(float("inf"))
    values, indices = dist.topk(k, dim=1, largest=False)                     # (Q, k) each
    return values, indices


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) from k-NN balls in feature space.

    Each real point gets a ball reaching its k-th nearest real neighbour; the union of balls estimates the
    real manifold. precision = share of fake points inside it (are samples realistic?).
    recall = share of real points inside the fake manifold, built the same way (is the data covered?).
    """
    real, fake = _as_features(real_feats, "real_feats"), _as_features(fake_feats, "fake_feats")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")

    def coverage(support: torch.Tensor, points: torch.Tensor) -> float:
        radii = nearest_neighbours(support, support, k=k, exclude_self=True)[0][:, -1]   # (S,)
        inside = torch.cdist(points, support) <= radii.unsqueeze(0)                      # (P, S)
        return float(inside.any(dim=1).double().mean())

    return {"precision": coverage(real, fake), "recall": coverage(fake, real)}


@torch.no_grad()
def predict(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Class predictions (N,) of ``classifier`` (logits out) on ``images`` (N, C, H, W), in eval mode."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    preds = [classifier(images[i:i + batch_size].to(device)).argmax(dim=1).cpu()
             for i in range(0, len(images), batch_size)]
    classifier.train(was_training)
    return torch.cat(preds)


def class_accuracy(classifier: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   batch_size: int = 512) -> float:
    """Share of ``images`` that ``classifier`` assigns to ``labels``: for a conditional generator, how
    often a sample shows the class that was asked for."""
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("class_accuracy needs at least one image")
    return float((predict(classifier, images, batch_size) == labels).double().mean())
