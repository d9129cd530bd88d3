# %% [markdown]
# # Chapter 04 — The mathematics of VAEs: worked solutions
#
# Each exercise of `chapters/04_vae_math.ipynb`, solved and explained. Every cell calls its checker with
# `strict=True`, so a wrong answer stops the notebook.

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %%
from aigc_course.config import banner

print(banner())

# %% [markdown]
# ## Exercise 1 — the closed-form KL
#
# Eq. 4.7, term by term: $\mu^2$ and $\sigma^2$ come from $\mathbb E_q[z^2]/2$, $-\log\sigma^2$ from the
# normalising constant of $q$, and the $-1$ from $\mathbb E_q[(z-\mu)^2/\sigma^2] = 1$. The network gives
# `logvar` $= \log\sigma^2$, so $\sigma^2$ is `logvar.exp()`. Sum over the latent dimension (the last one) to get
# one KL per example; do not average, or the KL's weight against the reconstruction changes.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch04


def my_gaussian_kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)   # (B, Z) -> (B,)


ch04.gaussian_kl(my_gaussian_kl, strict=True)

# %% [markdown]
# ## Exercise 2 — the reparameterisation trick
#
# $\sigma = \sqrt{\sigma^2} = e^{\text{logvar}/2}$. Because `z` is computed from `mu` and `logvar` with ordinary
# tensor operations, autograd differentiates through it: $\partial z/\partial\mu = 1$ and
# $\partial z/\partial\,\text{logvar} = \tfrac12\sigma\varepsilon$. Sampling with `torch.normal(mu, sigma)` instead
# would give the same numbers but no gradient.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch04


def my_reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


ch04.reparameterize(my_reparameterize, strict=True)

# %% [markdown]
# ## Exercise 3 — the score-function estimator
#
# Draw $z = \mu + \sigma\varepsilon$, evaluate $f$ (its value only), and weight it by the score
# $\nabla_\mu \log\mathcal N(z;\mu,\sigma^2) = (z-\mu)/\sigma^2 = \varepsilon/\sigma$. Averaging over the samples gives
# an unbiased estimate of $\cos\mu\, e^{-\sigma^2/2}$ for $f = \sin$ — but compare its spread with the
# reparameterised estimate $\frac1N\sum\cos z_i$ to see chapter 04's variance gap again.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch04


def my_score_function_gradient(f, mu, sigma, eps):
    z = mu + sigma * eps                                  # (N, Z) samples of N(mu, sigma^2)
    score = (z - mu) / sigma**2                           # d/dmu log N(z; mu, sigma^2)
    return (f(z) * score).mean(dim=0)                     # (Z,)


ch04.score_function_gradient(my_score_function_gradient, strict=True)

# %%
import torch

mu, sigma = torch.tensor([0.3]), torch.tensor([0.7])
eps = torch.randn(10_000, 1, generator=torch.Generator().manual_seed(0))
z = mu + sigma * eps
score_terms, reparam_terms = torch.sin(z) * eps / sigma, torch.cos(z)
print(f"per-sample std: score function {score_terms.std():.3f}, reparameterisation {reparam_terms.std():.3f}")
assert score_terms.std() > reparam_terms.std()
