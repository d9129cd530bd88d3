# %% [markdown]
# # Chapter 10 — Diffusion and flow matching: worked solutions
#
# Each exercise of `chapters/10_diffusion_and_flow.ipynb`, solved and explained. Every cell calls its checker
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
# ## Exercise 1 — ᾱ from β
#
# $\bar\alpha_t = \prod_{s\le t}(1-\beta_s)$ is a running product: `torch.cumprod`. The checker rejects the
# per-step $\alpha_t$ alone, and $1 - \sum_s\beta_s$ (the first-order expansion of the product, good only
# while all the β are tiny — it even turns negative for a long chain).

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch10

def my_alpha_bar(betas):
    return torch.cumprod(1 - betas, dim=0)

ch10.alpha_bar(my_alpha_bar, strict=True)

# %% [markdown]
# ## Exercise 2 — jump straight to step t
#
# $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$ (10.2): both coefficients are *standard
# deviations* (square roots); their squares add up to 1, which keeps the variance of unit-variance data at 1.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch10

def my_q_sample(x0, alpha_bar_t, eps):
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * eps

ch10.q_sample(my_q_sample, strict=True)

# %% [markdown]
# ## Exercise 3 — one DDIM step
#
# Invert (10.2) with the predicted noise to get $\hat x_0$, then apply (10.2) again at the lower level with the
# *same* noise (10.10). A step to the same level leaves $x$ where it was — a quick self-test.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch10

def my_ddim_step(x_t, eps_hat, ab_t, ab_s):
    x0_hat = (x_t - (1 - ab_t).sqrt() * eps_hat) / ab_t.sqrt()
    return ab_s.sqrt() * x0_hat + (1 - ab_s).sqrt() * eps_hat

ch10.ddim_step(my_ddim_step, strict=True)

# %% [markdown]
# ## Exercise 4 — the guided noise
#
# (10.16): $\tilde\varepsilon = (1+w)\,\varepsilon(x,y) - w\,\varepsilon(x,\varnothing)$, i.e. the conditional
# prediction plus $w$ times the difference "conditional minus unconditional". Some papers and libraries write
# $\varepsilon(x,\varnothing) + s\,(\varepsilon(x,y) - \varepsilon(x,\varnothing))$ with $s = 1 + w$; the checker
# points out that mix-up.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch10

def my_guided_eps(eps_cond, eps_uncond, w):
    return (1 + w) * eps_cond - w * eps_uncond

ch10.guided_eps(my_guided_eps, strict=True)

# %% [markdown]
# ## Exercise 5 — the flow-matching pair
#
# (10.12): the straight line from noise at $t=0$ to data at $t=1$, and its time derivative $x_1 - x_0$ — the
# same for every $t$ on one line.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch10

def my_flow_target(x0, x1, t):
    tt = t[:, None]
    return (1 - tt) * x0 + tt * x1, x1 - x0

ch10.flow_target(my_flow_target, strict=True)
