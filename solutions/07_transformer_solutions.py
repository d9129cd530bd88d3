# %% [markdown]
# # Chapter 07 — The transformer: worked solutions
#
# Each exercise of `chapters/07_transformer.ipynb`, solved and explained. Every cell calls its checker with
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
# ## Exercise 1 — layer normalisation
#
# Statistics over the last dimension only (each token on its own), with the *biased* variance (divide by $C$):
# that is the definition, and what `F.layer_norm` computes. `x.var()` would divide by $C - 1$.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch07

def my_layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True)                          # (..., 1)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)           # (..., 1), biased
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta

ch07.layer_norm(my_layer_norm, strict=True)

# %% [markdown]
# ## Exercise 2 — counting parameters
#
# Per block: attention $4C^2 + 4bC$, MLP $8C^2 + 5bC$, two layer norms $2C + 2bC$; then the two embedding
# tables, the final layer norm, and a separate head only when the weights are not tied (the head has no bias).

# %% tags=["exercise"]
from aigc_course.exercises import ch07

def my_parameter_count(cfg):
    C, b = cfg.n_embd, int(cfg.bias)
    per_block = 12 * C * C + (2 + 11 * b) * C
    embeddings = cfg.vocab_size * C + cfg.block_size * C
    head = 0 if cfg.tie_weights else cfg.vocab_size * C
    return embeddings + cfg.n_layer * per_block + (1 + b) * C + head

ch07.parameter_count(my_parameter_count, strict=True)

# %% [markdown]
# ## Exercise 3 — top-k filtering
#
# The $k$-th largest value of each row is the threshold; anything strictly below it becomes $-\infty$. (With ties
# at the threshold more than $k$ entries can survive; the library's `generate` does the same.)

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch07

def my_top_k(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]          # (B, 1) the k-th largest per row
    return logits.masked_fill(logits < kth, float("-inf"))

ch07.top_k(my_top_k, strict=True)

# %% [markdown]
# ## Exercise 4 — training FLOPs per token
#
# Products, per token: the blocks' weights $12LC^2$ (QKV and $W_O$: $4C^2$, MLP: $8C^2$) and the head's $VC$ —
# the embeddings are look-ups. Each weight costs a multiply–add, 2 FLOPs. Attention adds $QK^\top$ and
# weights·$V$: $2TC$ each per layer. The backward pass costs twice the forward (gradients for the inputs and for
# the weights), so training is three times it: $6N_{mm} + 12LTC$.

# %% tags=["exercise"]
from aigc_course.exercises import ch07

def my_training_flops(cfg, seq_len):
    n_mm = 12 * cfg.n_layer * cfg.n_embd ** 2 + cfg.vocab_size * cfg.n_embd     # weights used in products
    forward = 2 * n_mm + 4 * cfg.n_layer * seq_len * cfg.n_embd
    return 3 * forward

ch07.training_flops(my_training_flops, strict=True)
