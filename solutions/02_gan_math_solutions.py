# %% [markdown]
# # 02 · The mathematics of GANs — worked solutions
#
# Each cell is the exercise from `chapters/02_gan_math.ipynb` with the answer filled in, checked strictly
# (`strict=True`: a wrong answer raises).

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
# **Exercise 1.** Pointwise, $D$ maximises $p_\text{data}\log D + p_g\log(1-D)$; setting the derivative
# $\frac{p_\text{data}}{D} - \frac{p_g}{1-D}$ to zero gives $D^* = \frac{p_\text{data}}{p_\text{data}+p_g}$.
# Where only $p_\text{data}$ is positive $D^* = 1$; where only $p_g$ is, $D^* = 0$; where both vanish the ratio is
# $0/0$, so we return its limit along $p_\text{data} = p_g$, ½ (`torch.where` picks it; the NaN it discards is
# never used).

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch02


def my_optimal_discriminator(p_data, p_g):
    total = p_data + p_g
    return torch.where(total > 0, p_data / total, torch.full_like(total, 0.5))


ch02.optimal_discriminator(my_optimal_discriminator, strict=True)

# %% [markdown]
# **Exercise 2.** Form the mixture $m$, then the two KL terms, keeping only the entries where the first
# argument is positive ($0\log 0 = 0$). `torch.where` evaluates both branches, so the log is taken of a
# clamped value to avoid NaN gradients and warnings.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch02


def my_js_divergence(p, q):
    m = (p + q) / 2

    def kl(a, b):
        return torch.where(a > 0, a * (a.clamp_min(1e-300) / b.clamp_min(1e-300)).log(), torch.zeros_like(a)).sum()

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


ch02.js_divergence(my_js_divergence, strict=True)

# %% [markdown]
# **Exercise 3.** $-\log\sigma(\ell) = \log(1 + e^{-\ell}) = \mathrm{softplus}(-\ell)$, which PyTorch computes
# without overflow; its gradient is $-(1-\sigma(\ell))$, close to $-1$ when $D$ rejects the fake.

# %% tags=["exercise"]
import torch
import torch.nn.functional as F

from aigc_course.exercises import ch02


def my_non_saturating_loss(fake_logits):
    return F.softplus(-fake_logits).mean()


ch02.non_saturating_loss(my_non_saturating_loss, strict=True)
