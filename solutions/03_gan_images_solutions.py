# %% [markdown]
# # Chapter 03 — worked solutions
#
# Each cell below is the chapter's exercise cell with the answer filled in, checked strictly (a wrong answer
# raises). Try the exercises yourself first.

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
# ## Exercise 1 — the discriminator's loss from logits
# With $D = \sigma(\ell)$: $-\log\sigma(\ell) = \operatorname{softplus}(-\ell)$ and
# $-\log(1 - \sigma(\ell)) = -\log\sigma(-\ell) = \operatorname{softplus}(\ell)$. `F.logsigmoid` (or
# `F.binary_cross_entropy_with_logits`) computes these without ever forming $\sigma(\ell) = 0$ or $1$, so
# logits of ±200 give exact, finite losses. Taking `torch.log(torch.sigmoid(l))` gives `-inf` there.

# %% tags=["exercise"]
import torch
import torch.nn.functional as F
from aigc_course.exercises import ch03


def my_discriminator_loss(real_logits, fake_logits):
    # -E[log sigma(real)] - E[log(1 - sigma(fake))] = E[softplus(-real)] + E[softplus(fake)]
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


ch03.discriminator_loss(my_discriminator_loss, strict=True)

# %% [markdown]
# ## Exercise 2 — the size a transposed convolution produces
# A convolution maps $n \mapsto o = (n + 2p - k)/s + 1$ (when the division is exact). The transposed
# convolution goes the other way: $n = (o - 1)s - 2p + k$. PyTorch uses this formula for every input, exact
# or not (the `output_padding` argument adds extra rows when a strided convolution had several inputs
# mapping to one output size).

# %% tags=["exercise"]
from aigc_course.exercises import ch03


def my_transposed_conv_size(size, k, s, p):
    return (size - 1) * s - 2 * p + k


ch03.transposed_conv_size(my_transposed_conv_size, strict=True)

# %% [markdown]
# ## Exercise 3 — conditioning the discriminator
# `F.one_hot` gives `(B, K)`; two new axes make it `(B, K, 1, 1)` and `expand` repeats it over the image
# (without copying memory) before the concatenation along channels.

# %% tags=["exercise"]
import torch
import torch.nn.functional as F
from aigc_course.exercises import ch03


def my_label_maps(images, labels, num_classes):
    maps = F.one_hot(labels, num_classes).to(images.dtype)[:, :, None, None]   # (B, K, 1, 1)
    maps = maps.expand(-1, -1, images.shape[2], images.shape[3])               # (B, K, H, W)
    return torch.cat([images, maps], dim=1)                                     # (B, C + K, H, W)


ch03.label_maps(my_label_maps, strict=True)

# %% [markdown]
# ## Exercise 4 — spherical interpolation
# $\Omega$ is the angle between the two vectors. At $t = 0$ the weights are $(1, 0)$, at $t = 1$ they are
# $(0, 1)$; in between the point moves along the great circle, so two vectors of equal norm give points of
# that same norm. Clamping $\cos\Omega$ keeps `acos` finite when rounding pushes it past ±1.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch03


def my_slerp(z0, z1, t):
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm())
    omega = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


ch03.slerp(my_slerp, strict=True)

# %% [markdown]
# ## Exercise 5 — the Fréchet distance from features
# Means and *unbiased* covariances (divide by $N - 1$, as `torch.cov` does), then the closed form. The
# square root is of the *matrix* product $\Sigma_a\Sigma_b$; its trace is what we need. SciPy's `sqrtm` may
# return tiny imaginary parts from rounding: keep the real part. (The library computes the same trace as
# $\operatorname{Tr}(\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2})^{1/2}$ from symmetric eigendecompositions, which
# is more stable.)

# %% tags=["exercise"]
import scipy.linalg
import torch
from aigc_course.exercises import ch03


def my_frechet_distance(feats_a, feats_b):
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    covmean = torch.from_numpy(scipy.linalg.sqrtm((cov_a @ cov_b).numpy()).real)
    return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a + cov_b - 2 * covmean))


ch03.frechet_distance(my_frechet_distance, strict=True)
