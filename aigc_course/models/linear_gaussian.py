"""The linear-Gaussian latent variable model (probabilistic PCA, Tipping & Bishop 1999), chapter 04.

    z ~ N(0, I_k),     x | z ~ N(W z + b, σ² I_d)

Everything a VAE must estimate is exact here, which makes it the test bench of the ELBO:

    p(x)     = N(x; b, W Wᵀ + σ² I)                                   (eq. 4.10)
    p(z | x) = N(z; M⁻¹ Wᵀ (x − b), σ² M⁻¹),   M = Wᵀ W + σ² I_k       (eq. 4.11)

and for any Gaussian q(z) = N(m, S) the ELBO has a closed form, so the identity
log p(x) = ELBO(q) + KL(q ‖ p(z|x)) (eq. 4.4) can be checked to machine precision.
Everything is float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def mvn_kl(m1: Tensor, s1: Tensor, m2: Tensor, s2: Tensor) -> Tensor:
    """KL( N(m1, S1) ‖ N(m2, S2) ) for full covariances, (k,) and (k, k):

    KL = ½ ( tr(S2⁻¹ S1) + (m2 − m1)ᵀ S2⁻¹ (m2 − m1) − k + log det S2 − log det S1 )
    """
    k = m1.shape[-1]
    s2_inv = torch.linalg.inv(s2)                                             # (k, k)
    diff = m2 - m1                                                            # (k,)
    return 0.5 * (torch.trace(s2_inv @ s1) + diff @ s2_inv @ diff - k
                  + torch.logdet(s2) - torch.logdet(s1))


@dataclass
class LinearGaussian:
    """pPCA with parameters W (d, k), b (d,), noise σ. Use :meth:`random` to draw one."""

    W: Tensor        # (d, k) loading matrix
    b: Tensor        # (d,) mean of x
    sigma: float     # observation noise standard deviation

    def __post_init__(self) -> None:
        if self.W.dim() != 2 or self.b.shape != (self.W.shape[0],):
            raise ValueError(f"W must be (d, k) and b (d,), got {tuple(self.W.shape)} and {tuple(self.b.shape)}")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
        self.W, self.b = self.W.double(), self.b.double()

    @classmethod
    def random(cls, d: int = 5, k: int = 2, sigma: float = 0.5, seed: int = 0) -> LinearGaussian:
        if not 1 <= k <= d:
            raise ValueError(f"need 1 <= k <= d, got d={d}, k={k}")
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(d, k, generator=g, dtype=torch.float64),
                   torch.randn(d, generator=g, dtype=torch.float64), sigma)

    @property
    def k(self) -> int:
        return self.W.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(x (n, d), z (n, k)) from the generative process."""
        z = torch.randn(n, self.k, generator=generator, dtype=torch.float64)            # (n, k)
        noise = torch.randn(n, self.W.shape[0], generator=generator, dtype=torch.float64)
        return z @ self.W.T + self.b + self.sigma * noise, z                            # (n, d), (n, k)

    def marginal_cov(self) -> Tensor:
        return self.W @ self.W.T + self.sigma**2 * torch.eye(self.W.shape[0], dtype=torch.float64)   # (d, d)

    def log_marginal(self, x: Tensor) -> Tensor:
        """Exact log p(x) (eq. 4.10) for x (d,) or (n, d)."""
        dist = torch.distributions.MultivariateNormal(self.b, covariance_matrix=self.marginal_cov())
        return dist.log_prob(x.double())

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Exact p(z | x) = N(mean, cov) (eq. 4.11) for one x (d,): mean (k,), cov (k, k)."""
        M = self.W.T @ self.W + self.sigma**2 * torch.eye(self.k, dtype=torch.float64)   # (k, k)
        M_inv = torch.linalg.inv(M)
        return M_inv @ self.W.T @ (x.double() - self.b), self.sigma**2 * M_inv

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log N(x; Wz + b, σ² I) + log N(z; 0, I) for z (..., k) and one x (d,)."""
        d = self.W.shape[0]
        resid = x.double() - z.double() @ self.W.T - self.b                   # (..., d)
        log_px_z = -0.5 * (d * (LOG_2PI + 2 * math.log(self.sigma)) + resid.pow(2).sum(-1) / self.sigma**2)
        log_pz = -0.5 * (self.k * LOG_2PI + z.double().pow(2).sum(-1))
        return log_px_z + log_pz

    def elbo(self, x: Tensor, m: Tensor, S: Tensor) -> Tensor:
        """Exact ELBO for q(z) = N(m, S) and one x (d,) (eq. 4.12):

        E_q[log p(x|z)] = −d/2 log 2πσ² − ( ‖x − Wm − b‖² + tr(W S Wᵀ) ) / 2σ²
        E_q[log p(z)]   = −k/2 log 2π − ( ‖m‖² + tr S ) / 2
        H[q]            = k/2 log 2πe + ½ log det S
        """
        d, k, s2 = self.W.shape[0], self.k, self.sigma**2
        resid = x.double() - self.W @ m - self.b                              # (d,)
        e_log_px = -0.5 * d * (LOG_2PI + math.log(s2)) - (resid @ resid + torch.trace(self.W @ S @ self.W.T)) / (2 * s2)
        e_log_pz = -0.5 * k * LOG_2PI - 0.5 * (m @ m + torch.trace(S))
        entropy = 0.5 * k * (LOG_2PI + 1) + 0.5 * torch.logdet(S)
        return e_log_px + e_log_pz + entropy
