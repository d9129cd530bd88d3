# %% [markdown]
# # Chapter 09 — Evaluation and cost: worked solutions
#
# Each exercise of `chapters/09_evaluation_and_cost.ipynb`, solved and explained. Every cell calls its checker
# with `strict=True`, so a wrong answer stops the notebook.

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
# ## Exercise 1 — the Fréchet distance for diagonal covariances
#
# Diagonal matrices commute and their square roots are elementwise, so
# $\operatorname{Tr}(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}) = \sum_j (v_{1j} + v_{2j} - 2\sqrt{v_{1j}v_{2j}})
# = \sum_j (\sigma_{1j} - \sigma_{2j})^2$: the trace term compares *standard deviations*. The checker catches
# the usual slip, $\sum_j (v_{1j} - v_{2j})^2$, and a square root taken at the end (FID is the *squared* distance).

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch09

def my_frechet_diagonal(mu1, var1, mu2, var2):
    return (mu1 - mu2).pow(2).sum() + (var1.sqrt() - var2.sqrt()).pow(2).sum()

ch09.frechet_diagonal(my_frechet_diagonal, strict=True)

# %% [markdown]
# ## Exercise 2 — precision by k-nearest-neighbour balls
#
# `torch.cdist(real, real)` gives all real-to-real distances; each point is at distance 0 from itself, so the
# $k$-th nearest *other* point is the $(k+1)$-th smallest value of its row. A fake point is inside the real
# manifold when its distance to some real point is at most that point's radius.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch09

def my_precision(real, fake, k):
    d_real = torch.cdist(real, real)                                   # (N, N), zeros on the diagonal
    radii = d_real.topk(k + 1, dim=1, largest=False).values[:, -1]    # (N,) skip the point itself
    inside = torch.cdist(fake, real) <= radii.unsqueeze(0)             # (M, N)
    return inside.any(dim=1).double().mean().item()

ch09.precision(my_precision, strict=True)

# %% [markdown]
# ## Exercise 3 — the price of 1,000 tokens
#
# 1,000 tokens take $s = 1000 / \text{tokens per second}$ seconds. Rental: $s / 3600 \times$ USD/hour.
# Electricity: $\text{watts} \times \text{PUE} \times s$ joules $= \dots / 3.6 \times 10^6$ kWh, times USD/kWh.

# %% tags=["exercise"]
from aigc_course.exercises import ch09

def my_cost_per_1k_tokens(tokens_per_second, price_per_hour, watts, price_per_kwh, pue):
    seconds = 1000 / tokens_per_second
    rental = seconds / 3600 * price_per_hour
    electricity = watts * pue * seconds / 3.6e6 * price_per_kwh
    return rental + electricity

ch09.cost_per_1k_tokens(my_cost_per_1k_tokens, strict=True)

# %% [markdown]
# ## Exercise 4 — a power law by least squares
#
# $\log L = \log a - b \log C$ is a straight line: solve the least-squares problem with columns
# $[1, \log C]$; the intercept is $\log a$ and the slope is $-b$.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch09

def my_power_law_fit(compute, loss):
    X = torch.stack([torch.ones_like(compute), compute.log()], dim=1)          # (n, 2)
    coef = torch.linalg.lstsq(X, loss.log().unsqueeze(1)).solution.squeeze(1)  # (log a, -b)
    return coef[0].exp().item(), -coef[1].item()

ch09.power_law_fit(my_power_law_fit, strict=True)
