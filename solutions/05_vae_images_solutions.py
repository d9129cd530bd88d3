# %% [markdown]
# # Chapter 05 — VAEs on images: worked solutions
#
# Each exercise of `chapters/05_vae_images.ipynb`, solved and explained. Every cell calls its checker with
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
# ## Exercise 1 — the Bernoulli log-likelihood
#
# With $p = \sigma(\ell)$: $\log p = \log\sigma(\ell)$ and $\log(1-p) = \log\sigma(-\ell)$. `F.logsigmoid` computes
# both without ever forming $p$, so a logit of $\pm 40$ (where $\sigma(\ell)$ rounds to exactly 1 or 0 in float32)
# gives $-40$ instead of $\log 0 = -\infty$. Sum over every pixel dimension, keep the batch.
# (`-F.binary_cross_entropy_with_logits(logits, x, reduction="none")` is the same thing.)

# %% tags=["exercise"]
import torch
import torch.nn.functional as F
from aigc_course.exercises import ch05


def my_bernoulli_log_likelihood(logits, x):
    per_pixel = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)   # (B, C, H, W)
    return per_pixel.flatten(1).sum(dim=1)                                     # (B,)


ch05.bernoulli_log_likelihood(my_bernoulli_log_likelihood, strict=True)

# %% [markdown]
# ## Exercise 2 — log-mean-exp
#
# Factor out the largest weight $m = \max_i w_i$:
# $\log\frac1k\sum_i e^{w_i} = m + \log\frac1k\sum_i e^{w_i - m}$. Every exponent is now $\le 0$, and the largest
# term is $e^0 = 1$, so the sum neither overflows nor underflows to 0. (`torch.logsumexp(log_w, 0) - log k` does
# exactly this.)

# %% tags=["exercise"]
import math
import torch
from aigc_course.exercises import ch05


def my_log_mean_exp(log_w):
    m = log_w.max(dim=0).values                                          # (B,)
    return m + torch.log(torch.exp(log_w - m).mean(dim=0))               # (B,)


ch05.log_mean_exp(my_log_mean_exp, strict=True)

# %% [markdown]
# ## Exercise 3 — KL between two diagonal Gaussians
#
# Eq. 4.6 per coordinate: $\tfrac12\big(\log\sigma_p^2 - \log\sigma_q^2 + (\sigma_q^2 + (\mu_q-\mu_p)^2)/\sigma_p^2 - 1\big)$,
# summed over $Z$. It is zero when the two are equal, reduces to eq. 4.7 when $p = \mathcal N(0, I)$, and is not
# symmetric: the variance of $p$ is the one that divides.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch05


def my_gaussian_kl_diag(mu_q, logvar_q, mu_p, logvar_p):
    var_q, var_p = logvar_q.exp(), logvar_p.exp()
    per_dim = logvar_p - logvar_q + (var_q + (mu_q - mu_p).pow(2)) / var_p - 1
    return 0.5 * per_dim.sum(dim=-1)


ch05.gaussian_kl_diag(my_gaussian_kl_diag, strict=True)
