# %% [markdown]
# # Chapter 08 — worked solutions
#
# Each cell below is an exercise cell of `chapters/08_text_generation.ipynb` with the answer filled in; the
# checker runs strictly here (a wrong answer raises).

# %% [markdown]
# **Exercise 1 — perplexity.** The mean cross-entropy in nats is $\mathcal{L} = -\frac1N\sum_t \ln
# p(x_t\mid x_{<t})$, which `F.cross_entropy` computes from logits (it applies `log_softmax` itself).
# Perplexity is $e^{\mathcal{L}}$: base $e$ because the loss is in nats, and a *mean*, not a sum, so that it
# does not grow with the length of the text.

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %% tags=["exercise"]
import math

import torch
from torch.nn import functional as F

from aigc_course.exercises import ch08


def my_perplexity(logits, targets):
    return math.exp(F.cross_entropy(logits, targets).item())


ch08.perplexity(my_perplexity, strict=True)

# %% [markdown]
# **Exercise 2 — top-k.** `topk` gives the indices of the k largest logits; a boolean mask built from those
# indices (rather than comparing with the k-th value) keeps *exactly* k even when values tie.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch08


def my_top_k(logits, k):
    idx = logits.topk(k, dim=-1).indices                                   # (B, k)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)
    return logits.masked_fill(~keep, float("-inf"))


ch08.top_k(my_top_k, strict=True)

# %% [markdown]
# **Exercise 3 — top-p.** Sort the probabilities in descending order; the mass of the tokens *before* each
# one is `cumsum - p`. A token belongs to the nucleus while that mass is still below `p` — so the token that
# first makes the total reach `p` is kept, and the most likely token is always kept. Scatter the decision
# back to vocabulary order.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch08


def my_top_p(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs
    keep = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before < p)
    return logits.masked_fill(~keep, float("-inf"))


ch08.top_p(my_top_p, strict=True)

# %% [markdown]
# **Exercise 4 — one BPE merge.** Walk left to right; when the pair starts at position i, emit the new id and
# jump two places, otherwise copy one token. Jumping two is what makes `[7, 7, 7]` become `[new, 7]`.

# %% tags=["exercise"]
from aigc_course.exercises import ch08


def my_merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


ch08.bpe_merge(my_merge, strict=True)
