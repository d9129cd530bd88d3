# %% [markdown]
# # Chapter 12 — Text and images together: worked solutions
#
# Each exercise of `chapters/12_text_and_images.ipynb`, solved and explained. Every cell calls its checker
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
# ## Exercise 1 — the symmetric InfoNCE loss
#
# Normalise both feature sets (CLIP compares directions, not lengths: unnormalised features let the loss be
# lowered by growing norms), form $S = u v^\top / \tau$ (the scale *multiplies*), and average the image → text
# cross-entropy (rows) with the text → image one (columns, i.e. rows of $S^\top$). The target of row $i$ is $i$.

# %% tags=["exercise"]
import torch
import torch.nn.functional as F
from aigc_course.exercises import ch12

def my_info_nce(image_features, text_features, scale):
    u = F.normalize(image_features, dim=-1)
    v = F.normalize(text_features, dim=-1)
    logits = scale * u @ v.t()                                  # (B, B)
    target = torch.arange(len(u))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))

ch12.info_nce(my_info_nce, strict=True)

# %% [markdown]
# ## Exercise 2 — top-1 retrieval
#
# For each query (row) take the gallery item (column) with the highest similarity, and look up whether it is
# one of the correct ones: `match[q, argmax]`. When several gallery items are correct (captions that repeat),
# any of them counts — checking only the diagonal would call a right answer wrong.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch12

def my_top1(similarity, match):
    best = similarity.argmax(dim=1)                             # (Q,) one gallery index per query
    return match[torch.arange(len(match)), best].float().mean()

ch12.top1(my_top1, strict=True)

# %% [markdown]
# ## Exercise 3 — cross-attention with one head
#
# Queries from the text, keys and values from the image (12.6); the scores are (B, T, N), the softmax runs over
# the N image tokens, and the output has one row per *text* position.

# %% tags=["exercise"]
import math

import torch
from aigc_course.exercises import ch12

def my_cross_attention(x, memory, Wq, Wk, Wv):
    q, k, v = x @ Wq, memory @ Wk, memory @ Wv                  # (B, T, C), (B, N, C), (B, N, C)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])   # (B, T, N)
    return torch.softmax(scores, dim=-1) @ v                    # (B, T, C)

ch12.cross_attention(my_cross_attention, strict=True)

# %% [markdown]
# ## Exercise 4 — dropping the condition for guidance
#
# One draw per sample: where $u < p$ the *whole* vector becomes ∅ = 0. Zeroing single entries (one draw per
# entry) would give the network half-conditions, never the "no caption" case guidance needs.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch12

def my_drop_condition(cond, u, p):
    keep = (u >= p).to(cond.dtype)[:, None]                     # (B, 1): 1 keeps the sample's condition
    return cond * keep

ch12.drop_condition(my_drop_condition, strict=True)
