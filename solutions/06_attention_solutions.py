# %% [markdown]
# # Chapter 06 — Attention: worked solutions
#
# Each exercise of `chapters/06_attention.ipynb`, solved and explained. Every cell calls its checker with
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
# ## Exercise 1 — scaled dot-product attention
#
# Scores $QK^\top/\sqrt{d_k}$ (transpose the last two dimensions of `k`, so any leading batch and head
# dimensions pass through), $-\infty$ where the mask is `False`, a softmax over the keys (the last dimension),
# then the weighted sum of the values. The checker compares with `F.scaled_dot_product_attention` and catches the
# two usual mistakes: no $\sqrt{d_k}$, and the mask read the wrong way round.

# %% tags=["exercise"]
import math
import torch
from aigc_course.exercises import ch06

def my_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))   # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v                   # (..., Tq, d_v)

ch06.attention(my_attention, strict=True)

# %% [markdown]
# ## Exercise 2 — the causal mask
#
# Query $i$ may see keys $j \le i$: the lower triangle, diagonal included (a token may look at itself).

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch06

def my_causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))

ch06.causal_mask(my_causal_mask, strict=True)

# %% [markdown]
# ## Exercise 3 — the sinusoidal encoding
#
# One angle per (position, pair): $p\,\omega_i$ with $\omega_i = 10000^{-2i/d}$, computed as an outer product;
# sines go to the even columns and cosines to the odd ones.

# %% tags=["exercise"]
import math
import torch
from aigc_course.exercises import ch06

def my_sinusoidal(T, d):
    position = torch.arange(T, dtype=torch.float32)[:, None]           # (T, 1)
    omega = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (d/2,)
    angles = position * omega                                          # (T, d/2)
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe

ch06.sinusoidal(my_sinusoidal, strict=True)

# %% [markdown]
# ## Exercise 4 — splitting heads
#
# In memory, token $t$'s $C$ channels are contiguous, and head $h$ owns channels $h\cdot hs .. (h+1)\cdot hs-1$.
# So first *view* the last dimension as $(n_h, hs)$ — that only regroups each token's channels — then swap the
# time and head axes. A direct `reshape(B, n_h, T, hs)` would instead cut the flat $(T\cdot C)$ block of each
# sequence into $n_h$ consecutive pieces, each made of whole tokens: head 0 would get the first tokens' channels.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch06

def my_split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)   # (B, T, C) -> (B, T, nh, hs) -> (B, nh, T, hs)

ch06.split_heads(my_split_heads, strict=True)
