# %% [markdown]
# # 01 · Generative models — worked solutions
#
# Each cell is the exercise from `chapters/01_generative_models.ipynb` with the answer filled in, checked
# strictly (`strict=True`: a wrong answer raises).

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %%
from aigc_course.config import budget, banner
print(banner())

# %% [markdown]
# **Exercise 1.** $\log\mathcal N(x;\mu,\sigma^2) = -\frac{(x-\mu)^2}{2\sigma^2} - \log\sigma - \frac12\log 2\pi$:
# the squared standardised distance, the normaliser's $\log\sigma$, and the constant.

# %% tags=["exercise"]
import math

import torch

from aigc_course.exercises import ch01


def my_gaussian_log_prob(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)


ch01.gaussian_log_prob(my_gaussian_log_prob, strict=True)

# %% [markdown]
# **Exercise 2.** $\mathrm{KL}(p\|q) = \mathbb E_p[\log p - \log q]
# = \log\frac{\sigma_2}{\sigma_1} - \frac12 + \frac{\mathbb E_p[(x-\mu_2)^2]}{2\sigma_2^2}$ and
# $\mathbb E_p[(x-\mu_2)^2] = \sigma_1^2 + (\mu_1-\mu_2)^2$.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch01


def my_gaussian_kl(mu1, sigma1, mu2, sigma2):
    return torch.log(sigma2 / sigma1) + (sigma1 ** 2 + (mu1 - mu2) ** 2) / (2 * sigma2 ** 2) - 0.5


ch01.gaussian_kl(my_gaussian_kl, strict=True)

# %% [markdown]
# **Exercise 3.** Work in log space throughout: $\log\pi_k$ from `log_softmax`, each component's
# log-density (a 2-D isotropic Gaussian has normaliser $-\log(2\pi\sigma^2)$), then `logsumexp` over $k$.
# Far from every mode each $\exp$ underflows to 0, but `logsumexp` subtracts the largest term first.

# %% tags=["exercise"]
import math

import torch

from aigc_course.exercises import ch01


def my_mixture_log_prob(x, logits, means, stds):
    sq = (x[:, None, :] - means[None]).pow(2).sum(-1)                          # (N, K)
    log_comp = -sq / (2 * stds[None] ** 2) - torch.log(2 * math.pi * stds[None] ** 2)   # (N, K)
    return torch.logsumexp(torch.log_softmax(logits, 0)[None] + log_comp, dim=1)      # (N,)


ch01.mixture_log_prob(my_mixture_log_prob, strict=True)

# %% [markdown]
# **Exercise 4.** Setting the derivatives of $\sum_i\log\mathcal N(x_i;\mu,\sigma^2)$ to zero gives
# $\hat\mu = \frac1N\sum_i x_i$ and $\hat\sigma^2 = \frac1N\sum_i(x_i-\hat\mu)^2$ — divided by $N$, not $N-1$.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch01


def my_mle_gaussian(x):
    mu = x.mean()
    return mu, ((x - mu) ** 2).mean().sqrt()


ch01.mle_gaussian(my_mle_gaussian, strict=True)
