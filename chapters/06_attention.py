# %% [markdown]
# # Chapter 06 — Attention
#
# **What you will learn**
# - why a recurrent encoder is a bottleneck, and how attention lets every output look back at every input;
# - dot-product attention as a *soft dictionary lookup*;
# - scaled dot-product attention $\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$, and where the $\sqrt{d_k}$ comes from;
# - causal and padding masks, and a test that proves nothing leaks through them;
# - multi-head attention, checked against PyTorch's own implementations;
# - why attention needs positional information: sinusoidal, learned and (as an aside) rotary encodings;
# - how to read the attention maps of a small trained model with an interactive viewer.
#
# **Prerequisites**: PyTorch tensors and `nn.Module`, softmax and cross-entropy, the training loop of
# chapter 00. **Time**: about 60 minutes to read; the code runs in about 2 minutes on an idle 2-core CPU in
# full mode (under a minute on a GPU); workshop mode (`AIGC_MODE=workshop`) trains the small GPT of section 7
# for fewer steps.
#
# Open `aigc_course/models/attention.py` beside this notebook: it is what we build here, written to be read.

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %%
from aigc_course.claims import claim
from aigc_course.config import budget, banner

print(banner())

# %%
import math

import torch
import torch.nn.functional as F
from torch import nn

from aigc_course.device import seed_everything
from aigc_course.viz import new_figure

generator = seed_everything(0)

# %% [markdown]
# ## 1. The bottleneck of a recurrent encoder
#
# A recurrent network reads a sequence $x_1, \dots, x_T$ one step at a time and carries a state of fixed size:
# $h_t = f(h_{t-1}, x_t)$. Whatever a later step needs to know about $x_1$ must survive $T-1$ updates of $h$,
# and all of a long sentence must fit in the same $d$ numbers as a short one. The encoder–decoder translation
# models of 2014 read the whole source into one vector $h_T$; Cho et al. (2014) showed that the quality of such
# fixed-vector models falls quickly with sentence length, and Bahdanau et al. (2014) measured the same fall
# for their baseline. (Sutskever et al., 2014, whose deep LSTM read the source reversed, reported that it did
# well on long sentences: the bottleneck can be eased, which is not the same as removed.)
#
# **Attention** (Bahdanau, Cho & Bengio, 2014) removes the bottleneck: an output keeps all the inputs
# $x_1..x_T$ and, at each step, takes a weighted average of them, with weights it computes from the data.
#
# Let us *measure* how much $h_T$ depends on each input, through the gradient $\lVert \partial (u^\top h_T) /
# \partial x_t \rVert$ (u a fixed random direction), for a freshly initialised GRU and for one attention read-out
# whose query is the last input.

# %%
T, d = 60, 32
x = torch.randn(1, T, d, generator=generator, requires_grad=True)
u = torch.randn(d, generator=generator)

gru = nn.GRU(d, d, batch_first=True)
h_all, _ = gru(x)
(grad_gru,) = torch.autograd.grad(h_all[0, -1] @ u, x)

Wq, Wk, Wv = (nn.Linear(d, d) for _ in range(3))
q, k, v = Wq(x[:, -1:]), Wk(x), Wv(x)                                   # (1, 1, d), (1, T, d), (1, T, d)
weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), dim=-1)   # (1, 1, T)
read_out = (weights @ v)[0, 0]                                          # (d,)
(grad_att,) = torch.autograd.grad(read_out @ u, x)

sens_gru, sens_att = grad_gru[0].norm(dim=1), grad_att[0].norm(dim=1)   # (T,) sensitivity to each input
fig = new_figure(6.5, 3.0)
ax = fig.add_subplot()
ax.semilogy(range(1, T + 1), sens_gru, label="GRU: final state $h_T$")
ax.semilogy(range(1, T + 1), sens_att, label="attention read-out")
ax.set_xlabel("input position t")
ax.set_ylabel("sensitivity to $x_t$")
ax.legend()
print(f"GRU: the first input matters {sens_gru[0] / sens_gru[-1]:.1e} times as much as the last; "
      f"attention: {sens_att[0] / sens_att[-1]:.1e}")
assert sens_gru[0] / sens_gru[-1] < 1e-3 < sens_att[:-1].min() / sens_att[:-1].max()
fig

# %% [markdown]
# The GRU's dependence on early inputs decays geometrically (training can slow the decay, not remove it); the
# attention read-out depends on every input by the same order of magnitude, however far back. That is the idea
# of the whole chapter. The rest is making it precise.
#
# ## 2. Attention as a soft dictionary lookup
#
# A Python dictionary maps a *query* to the *value* whose *key* equals it. Attention does the same with vectors,
# softly: it scores the query against every key with a dot product, turns the scores into weights with a
# softmax, and returns the weighted average of the values:
#
# $$\mathrm{lookup}(q) = \sum_j \alpha_j v_j, \qquad \alpha_j = \frac{\exp(\beta\, q\cdot k_j)}{\sum_{j'} \exp(\beta\, q\cdot k_{j'})}. \tag{6.1}$$
#
# Four keys (random unit vectors) and four values; the query is a noisy copy of the key of "dog".

# %%
names = ["cat", "dog", "car", "tree"]
keys = F.normalize(torch.randn(4, 8, generator=generator), dim=1)     # (4, 8), unit vectors
values = torch.tensor([1.0, 2.0, 3.0, 4.0])                           # (4,)
query = keys[1] + 0.3 * torch.randn(8, generator=generator)           # close to "dog"


def soft_lookup(query, keys, values, beta):
    alpha = torch.softmax(beta * keys @ query, dim=0)                 # (4, 8) @ (8,) -> (4,)
    return alpha @ values, alpha


hard = values[(keys @ query).argmax()]
for beta in (0.0, 1.0, 5.0, 50.0):
    out, alpha = soft_lookup(query, keys, values, beta)
    print(f"beta={beta:5.1f}  weights={[round(a, 3) for a in alpha.tolist()]}  result={out:.3f}")
assert hard == 2.0                                                    # the hard lookup finds "dog"
# check (6.1): the two limits, and one weight by hand
assert abs(soft_lookup(query, keys, values, 0.0)[0] - values.mean()) < 1e-6   # beta=0: the plain mean
assert abs(soft_lookup(query, keys, values, 50.0)[0] - hard) < 1e-2           # large beta: the hard lookup
scores_1 = [math.exp(5.0 * float(kj @ query)) for kj in keys]
assert math.isclose(soft_lookup(query, keys, values, 5.0)[1][1].item(), scores_1[1] / sum(scores_1), rel_tol=1e-5)

# %% [markdown]
# With $\beta = 0$ the lookup returns the average of all values; as $\beta$ grows it becomes the hard lookup.
# In between it is differentiable in the query, the keys and the values: a network can *learn* what to look
# for. The inverse temperature $\beta$ matters, and that is the next section.
#
# ## 3. Scaled dot-product attention, and why $\sqrt{d_k}$
#
# In a layer, queries, keys and values are linear maps of the inputs, stacked as matrices
# $Q \in \mathbb{R}^{T_q\times d_k}$, $K \in \mathbb{R}^{T_k\times d_k}$, $V \in \mathbb{R}^{T_k\times d_v}$, and
# all the lookups happen at once (Vaswani et al., 2017):
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V. \tag{6.2}$$
#
# **Where $\sqrt{d_k}$ comes from.** Suppose the components of $q$ and $k$ are independent, with mean 0 and
# variance 1 (roughly what a well-initialised layer produces). Then
#
# 1. $\mathbb{E}[q\cdot k] = \sum_i \mathbb{E}[q_i]\,\mathbb{E}[k_i] = 0$;
# 2. each term has $\mathrm{Var}(q_i k_i) = \mathbb{E}[q_i^2]\,\mathbb{E}[k_i^2] - 0 = 1$;
# 3. the $d_k$ terms are independent, so their variances add:
#
# $$\mathbb{E}[q\cdot k] = 0, \qquad \mathrm{Var}(q\cdot k) = d_k, \qquad \mathrm{Var}\big(q\cdot k/\sqrt{d_k}\big) = 1. \tag{6.3}$$
#
# The scores grow like $\sqrt{d_k}$; dividing by $\sqrt{d_k}$ brings them back to variance 1, whatever the
# head size. Let us measure it.

# %%
for d_k in (8, 64, 512):
    qs = torch.randn(20_000, d_k, generator=generator)
    ks = torch.randn(20_000, d_k, generator=generator)
    dots = (qs * ks).sum(1)                                          # (N,) one dot product per pair  # check (6.3)
    print(f"d_k={d_k:4d}: Var(q.k) = {dots.var():7.1f}   Var(q.k / sqrt(d_k)) = {(dots / math.sqrt(d_k)).var():.3f}")
    assert abs(dots.var() / d_k - 1) < 0.05 and abs((dots / math.sqrt(d_k)).var() - 1) < 0.05
    assert abs(dots.mean()) < 4 * math.sqrt(d_k / len(dots))            # mean 0, within 4 standard errors

# %% [markdown]
# Why large scores hurt: a softmax of scores with a standard deviation of $\sqrt{512} \approx 23$ puts almost all
# the weight on one key. Its Jacobian follows from $\alpha_i = e^{s_i}/\sum_l e^{s_l}$ by the quotient rule:
# $\partial\alpha_i/\partial s_j = (\delta_{ij} e^{s_i}\sum_l e^{s_l} - e^{s_i}e^{s_j})/(\sum_l e^{s_l})^2$, that is
#
# $$\frac{\partial\alpha_i}{\partial s_j} = \alpha_i(\delta_{ij} - \alpha_j), \qquad J = \mathrm{diag}(\alpha) - \alpha\alpha^\top, \tag{6.4}$$
#
# which is almost zero when one $\alpha_i$ is near 1 and the rest near 0: the layer cannot learn where to look.
# First the Jacobian against autograd's:

# %%
s_test = torch.randn(6, generator=generator, dtype=torch.float64)
alpha_test = torch.softmax(s_test, 0)
J_auto = torch.autograd.functional.jacobian(lambda s: torch.softmax(s, 0), s_test)     # (6, 6)
assert torch.allclose(J_auto, torch.diag(alpha_test) - torch.outer(alpha_test, alpha_test))   # check (6.4)
print(f"softmax Jacobian = diag(α) − ααᵀ; its largest entry for scores ×20: "
      f"{torch.autograd.functional.jacobian(lambda s: torch.softmax(s, 0), 20 * s_test).abs().max():.1e} "
      f"(against {J_auto.abs().max():.2f})")

# %%
d_k, n_keys = 512, 16
qs = torch.randn(2000, 1, d_k, generator=generator)
ks = torch.randn(2000, n_keys, d_k, generator=generator)
for name, scale in (("unscaled", 1.0), ("scaled  ", 1 / math.sqrt(d_k))):
    scores = (qs @ ks.transpose(1, 2) * scale).squeeze(1).requires_grad_()   # (N, n_keys)
    alpha = torch.softmax(scores, dim=-1)
    alpha[:, 0].sum().backward()                                             # how much can key 0's weight move?
    print(f"{name}: mean largest weight {alpha.max(-1).values.mean():.3f}, "
          f"mean |gradient| {scores.grad.abs().mean():.2e}")
    if scale == 1.0:
        unscaled_max, unscaled_grad = alpha.max(-1).values.mean(), scores.grad.abs().mean()
assert unscaled_max > 0.9 and alpha.max(-1).values.mean() < 0.5
assert scores.grad.abs().mean() > 5 * unscaled_grad

# %% [markdown]
# Now the function itself, built in the open. The mask is boolean and `True` where a query *may* look
# (the convention of `torch.nn.functional.scaled_dot_product_attention`); a masked score becomes $-\infty$, so its
# weight is exactly $e^{-\infty} = 0$.

# %%
def attention(q, k, v, mask=None):
    """softmax(q kᵀ / sqrt(d_k) + M) v, with M = -inf where mask is False."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))   # (..., Tq, d) @ (..., d, Tk) -> (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights                                # (..., Tq, Tk) @ (..., Tk, dv) -> (..., Tq, dv)


from aigc_course.models.attention import scaled_dot_product_attention

q, k, v = (torch.randn(2, 4, 10, 16, generator=generator) for _ in range(3))   # (B, heads, T, d)
ours, w = attention(q, k, v)
assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v), atol=1e-5)   # check (6.2): PyTorch's kernel
assert torch.allclose(ours, scaled_dot_product_attention(q, k, v)[0])            # the course library
assert torch.allclose(w.sum(-1), torch.ones(2, 4, 10))                          # rows are distributions
print("our attention equals torch.nn.functional.scaled_dot_product_attention")

# %% [markdown]
# ## 4. Masks: causal and padding
#
# Two reasons to forbid some lookups:
#
# - **Causal mask.** A language model predicts token $t+1$ from tokens $\le t$. If position $t$ could look at
#   position $t+1$ it would copy the answer. Query $i$ may see key $j$ only when $j \le i$: a lower triangle.
# - **Padding mask.** Sequences of different lengths are padded to one length to form a batch; the padding is not
#   data, so no query may look at it. Key $j$ of sequence $b$ is allowed when $j < \text{length}_b$.
#
# Masks combine with `&`.

# %%
from aigc_course.models.attention import causal_mask, padding_mask

lengths = torch.tensor([6, 4])
causal = causal_mask(6)                                   # (T, T)
pad = padding_mask(lengths, 6)                            # (B, 1, 1, T): broadcasts over heads and queries
both = causal & pad                                       # (B, 1, T, T)
fig = new_figure(7.5, 2.6)
for i, (m, title) in enumerate([(causal, "causal"), (pad[1, 0].expand(6, 6), "padding (length 4)"),
                                (both[1, 0], "causal & padding")]):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.imshow(m, cmap="Greys_r", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("key j")
    ax.set_ylabel("query i")
assert torch.equal(causal, torch.ones(6, 6).tril().bool())
fig

# %% [markdown]
# **The leakage test.** A mask works when no output depends on a masked input. Dependence is what a gradient
# measures: for each output position $t$, the gradient of $y_t$ with respect to every input after $t$ must be
# *exactly* zero, not merely small. We test the library's multi-head attention, causal, at every position.

# %%
from aigc_course.models.attention import MultiHeadAttention

torch.manual_seed(0)
mha = MultiHeadAttention(n_embd=32, n_head=4, causal=True)
x = torch.randn(2, 8, 32, requires_grad=True)
y, _ = mha(x)
for t in range(8):
    (g,) = torch.autograd.grad(y[:, t].sum(), x, retain_graph=True)
    assert torch.all(g[:, t + 1:] == 0), f"output {t} depends on a later input"
    assert torch.all(g[:, : t + 1].abs().sum(-1) > 0), f"output {t} ignores an earlier input"

y, _ = mha(x, mask=padding_mask(torch.tensor([8, 5]), 8))          # the second sequence has 3 padding tokens
(g,) = torch.autograd.grad(y[1, :5].sum(), x)
assert torch.all(g[1, 5:] == 0)
print("no output depends on a masked input: every such gradient is exactly 0")

# %% [markdown]
# ## 5. Multi-head attention
#
# One attention layer computes one weighting per query. Different relations (the previous character, the start of
# the word, the matching bracket) need different weightings, so we run $h$ attentions side by side, each on its
# own projections of size $d_k = C/h$, and concatenate them:
#
# $$\mathrm{MultiHead}(X) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W_O, \qquad
#   \mathrm{head}_i = \mathrm{Attention}(X W_Q^i, X W_K^i, X W_V^i). \tag{6.5}$$
#
# The cost equals one head of size $C$: the $h$ projections $W_Q^i$ ($C\times C/h$) side by side form one
# $C\times C$ matrix. So we compute $XW_Q$ once and *reshape* it into heads: $(B, T, C) \to (B, T, h, C/h) \to
# (B, h, T, C/h)$. Counting multiply–adds for $T$ tokens: the four projections cost $4TC^2$, and each head's
# $QK^\top$ and weights$\cdot V$ cost $2T^2 (C/h)$, so all $h$ heads together
#
# $$\text{FLOPs}(h) = 2\,\big(4TC^2 + h \cdot 2T^2 \tfrac{C}{h}\big) = 8TC^2 + 4T^2C, \quad \text{the same for every } h. \tag{6.6}$$
#
# Built in the open with the weights of the library's module:

# %%
def multi_head(x, module, mask=None):
    B, T, C = x.shape
    h = module.n_head
    q, k, v = module.qkv(x).split(C, dim=2)                             # (B, T, 3C) -> 3 x (B, T, C)
    q, k, v = (z.view(B, T, h, C // h).transpose(1, 2) for z in (q, k, v))   # (B, T, C) -> (B, h, T, C/h)
    out, _ = attention(q, k, v, mask)                                   # (B, h, T, C/h)
    out = out.transpose(1, 2).reshape(B, T, C)                          # concatenate the heads: (B, T, C)
    return module.proj(out)                                             # W_O


torch.manual_seed(1)
mha = MultiHeadAttention(n_embd=32, n_head=4)
x = torch.randn(3, 7, 32)
assert torch.allclose(multi_head(x, mha), mha(x)[0], atol=1e-6)
assert torch.allclose(multi_head(x, mha, causal_mask(7)), mha(x, mask=causal_mask(7))[0], atol=1e-6)
# check (6.5): one head at a time, each from its own column block of W_Q, W_K, W_V, then concatenated
C, h, hs = 32, mha.n_head, 32 // mha.n_head
Wq_all, Wk_all, Wv_all = mha.qkv.weight.split(C, dim=0)                 # 3 x (C, C)
bq, bk, bv = mha.qkv.bias.split(C)
heads = [attention(x @ Wq_all[i * hs:(i + 1) * hs].T + bq[i * hs:(i + 1) * hs],
                   x @ Wk_all[i * hs:(i + 1) * hs].T + bk[i * hs:(i + 1) * hs],
                   x @ Wv_all[i * hs:(i + 1) * hs].T + bv[i * hs:(i + 1) * hs])[0] for i in range(h)]
assert torch.allclose(mha.proj(torch.cat(heads, dim=-1)), mha(x)[0], atol=1e-6)
print("the multi-head attention built here equals the library's, with and without a mask, and head by head")

# %% [markdown]
# And the cost (6.6), counted by PyTorch's `FlopCounterMode` for 1, 2, 4 and 8 heads (the unfused path, so that
# the counter sees the products):

# %%
from torch.utils.flop_counter import FlopCounterMode

Tc, Cc = 16, 32
xc = torch.randn(1, Tc, Cc, generator=generator)
flops = {}
for n_head in (1, 2, 4, 8):
    layer = MultiHeadAttention(Cc, n_head, fused=False)
    with FlopCounterMode(display=False) as counter:
        layer(xc)
    flops[n_head] = counter.get_total_flops()
print("FLOPs by number of heads:", flops, "formula:", 8 * Tc * Cc**2 + 4 * Tc**2 * Cc)
assert set(flops.values()) == {8 * Tc * Cc**2 + 4 * Tc**2 * Cc}                 # check (6.6)

# %% [markdown]
# PyTorch ships the same layer as `torch.nn.MultiheadAttention`, with the three projections stacked in
# `in_proj_weight` in the order Q, K, V, as ours. We copy its weights into our module and compare, with and
# without a causal mask. **Pitfall**: `nn.MultiheadAttention`'s boolean `attn_mask` means the opposite of ours —
# `True` there means *blocked* — so we pass the negation.

# %%
torch.manual_seed(2)
theirs = nn.MultiheadAttention(32, 4, batch_first=True)
nn.init.normal_(theirs.in_proj_bias)                     # non-zero biases, so the comparison checks them too
ours = MultiHeadAttention(32, 4).load_from_torch(theirs)
ref, ref_weights = theirs(x, x, x, average_attn_weights=False)
y, our_weights = ours(x, need_weights=True)
assert torch.allclose(y, ref, atol=1e-5) and torch.allclose(our_weights, ref_weights, atol=1e-6)
ref_causal, _ = theirs(x, x, x, attn_mask=~causal_mask(7))             # True = blocked in torch's convention
assert torch.allclose(ours(x, mask=causal_mask(7))[0], ref_causal, atol=1e-5)
print("our multi-head attention equals torch.nn.MultiheadAttention (plain and causal)")

# %% [markdown]
# ## 6. Attention does not know the order of its inputs
#
# Nothing in (6.2) refers to positions: permute the input tokens and the outputs are permuted the same way
# (without a causal mask). Attention is *permutation-equivariant*: "dog bites man" and "man bites dog" would be
# the same bag of vectors.

# %%
perm = torch.randperm(7, generator=generator)
assert torch.allclose(ours(x[:, perm])[0], ours(x)[0][:, perm], atol=1e-5)
print("permuting the inputs permutes the outputs: order is invisible to attention")

# %% [markdown]
# So the order must be *added*. The original transformer adds to token $p$'s vector a fixed **sinusoidal**
# encoding, pairs of sines and cosines at geometrically spaced frequencies:
#
# $$\mathrm{PE}_{p,2i} = \sin\!\left(p\,\omega_i\right),\quad \mathrm{PE}_{p,2i+1} = \cos\!\left(p\,\omega_i\right),
#   \qquad \omega_i = 10000^{-2i/d}. \tag{6.7}$$
#
# Why sines and cosines: each pair $(\sin p\omega_i, \cos p\omega_i)$ is a point on a circle, and moving $k$
# positions is a *rotation* of that point by the angle $k\omega_i$, the same rotation for every $p$. So
# $\mathrm{PE}_{p+k} = M_k\, \mathrm{PE}_p$ with a matrix $M_k$ that does not depend on $p$: relative offsets are
# linear functions a layer can learn. Numeric check of both claims:

# %%
from aigc_course.models.attention import sinusoidal_encoding

T, d = 64, 16
pe = sinusoidal_encoding(T, d)                                     # (T, d)
p, i = 9, 3
assert torch.isclose(pe[p, 2 * i], torch.tensor(math.sin(p * 10000 ** (-2 * i / d))))      # check (6.7)
assert torch.isclose(pe[p, 2 * i + 1], torch.tensor(math.cos(p * 10000 ** (-2 * i / d))))

k = 5
omega = 10000 ** (-torch.arange(0, d, 2) / d)                      # (d/2,)
M = torch.zeros(d, d)
for j, w in enumerate(omega * k):                                  # block-diagonal rotation by k * omega_j
    c, s = math.cos(w), math.sin(w)
    M[2 * j: 2 * j + 2, 2 * j: 2 * j + 2] = torch.tensor([[c, s], [-s, c]])
assert torch.allclose(pe[k:], pe[:-k] @ M.T, atol=1e-5)           # PE[p + k] = M_k PE[p] for every p
fig = new_figure(6.5, 2.8)
ax = fig.add_subplot()
ax.imshow(pe.T, aspect="auto", cmap="RdBu")
ax.set_xlabel("position p")
ax.set_ylabel("channel")
ax.set_title("sinusoidal positional encoding: fast channels at the top, slow at the bottom", fontsize=9)
fig

# %% [markdown]
# Adding positions breaks the symmetry, as it should: the same permuted input now gives different outputs.
#
# GPT-2 instead **learns** the table: a parameter $P \in \mathbb{R}^{T_{\max} \times d}$, one row per position.
# It is simpler and works as well for the lengths seen in training, but it knows nothing about positions beyond
# $T_{\max}$. Both are in the library.

# %%
from aigc_course.models.attention import LearnedPositionalEncoding, SinusoidalPositionalEncoding

add_sin = SinusoidalPositionalEncoding(max_len=64, d=32)
add_learned = LearnedPositionalEncoding(max_len=64, d=32)
assert torch.allclose(add_sin(x)[0] - x[0], sinusoidal_encoding(7, 32), atol=1e-6)
for add in (add_sin, add_learned):
    with torch.no_grad():
        y_perm = ours(add(x[:, perm]))[0]
        y_then_perm = ours(add(x))[0][:, perm]
    assert not torch.allclose(y_perm, y_then_perm, atol=1e-3)       # order now matters
print("with positional encodings added, permuting the inputs no longer just permutes the outputs")

# %% [markdown]
# **Aside: rotary embeddings (RoPE).** Instead of adding a vector to the input, rotate each query and key by
# its position: pair $(x_{2i}, x_{2i+1})$ at position $p$ is rotated by the angle $p\,\omega_i$. A dot product
# of two rotated vectors depends only on the *difference* of their rotations, so
# $\langle R_m q, R_n k\rangle$ depends on $m - n$ alone: attention scores see relative positions. Most recent
# large language models (LLaMA, 2023, and its descendants) use it.

# %%
from aigc_course.models.attention import apply_rotary

qv, kv = torch.randn(2, 16, generator=generator)
rot = lambda vec, pos: apply_rotary(vec[None], offset=pos)[0]
scores = {(m, n): (rot(qv, m) @ rot(kv, n)).item() for m, n in [(3, 1), (12, 10), (40, 38), (3, 2)]}
print({f"m={m}, n={n}": round(s, 4) for (m, n), s in scores.items()})
assert abs(scores[3, 1] - scores[12, 10]) < 1e-4 and abs(scores[3, 1] - scores[40, 38]) < 1e-4
assert abs(scores[3, 1] - scores[3, 2]) > 1e-3

# %% [markdown]
# ## 7. Attention maps of a trained model
#
# Time to see what heads learn. We borrow the next chapter's GPT — a stack of the causal multi-head attention
# you just built, each followed by a small MLP — and train a tiny one for a few minutes to predict the next
# character of Python's own documentation. Chapter 07 takes it apart; here we only look at its attention.

# %%
from aigc_course.data import CharTokenizer, get_batch, load_corpus, train_val_split
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.optim import adamw
from aigc_course.train import LivePlot, train

text = load_corpus("python-docs")
tokenizer = CharTokenizer.from_text(text)
data = torch.tensor(tokenizer.encode(text))
train_data, val_data = train_val_split(data, 0.1)
print(f"{len(text):,} characters, vocabulary of {tokenizer.vocab_size}")

seed_everything(0)
cfg = GPTConfig.tiny(vocab_size=tokenizer.vocab_size, block_size=64)
model = GPT(cfg)
optimizer = adamw(model, lr=2e-3, weight_decay=0.01, betas=(0.9, 0.999))   # no decay on biases, LayerNorm gains
steps = budget(full=2000, fast=12, workshop=800)
batch_size, eval_batches = budget(full=32, fast=8), budget(full=8, fast=1)
batches = torch.Generator().manual_seed(1)


def step_fn(step):
    xb, yb = get_batch(train_data, cfg.block_size, batch_size, generator=batches)
    _, loss = model(xb, yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item()}


def eval_fn():
    g = torch.Generator().manual_seed(123)                       # the same validation batches every time
    losses = [model(*get_batch(val_data, cfg.block_size, 32, generator=g))[1] for _ in range(eval_batches)]
    return {"loss": torch.stack(losses).mean().item()}


print(f"{model.num_parameters():,} parameters; {steps} steps of {batch_size} x {cfg.block_size} characters")
history = train(step_fn, steps, modules={"model": model}, eval_fn=eval_fn, eval_every=max(1, steps // 4),
                callbacks=[LivePlot(every=max(1, steps // 4))], desc="tiny GPT")
print(f"validation loss {history.eval_logs['loss'][-1]:.3f} nats/char (last training batch {history.last('loss'):.3f}; "
      f"uniform guessing: {math.log(tokenizer.vocab_size):.3f})")
assert history.eval_logs["loss"][-1] < math.log(tokenizer.vocab_size)
claim("tiny GPT validation loss (nats/char)", history.eval_logs["loss"][-1], stated=1.33, low=1.2, high=1.45,
      workshop=(None, 1.85))

# %% [markdown]
# Every head of layer 0 on one short line of Python. Row $i$ is where the character at $i$ looks; the upper
# triangle is empty because of the causal mask.

# %%
from aigc_course.viz import plot_attention
from aigc_course.widgets.attention_viewer import AttentionViewer, attention_map, readable_ticks

sample = "def area(r):\n    return r * r"
cols = 2
fig = new_figure(11, 5.5 * math.ceil(cfg.n_head / cols))
for h in range(cfg.n_head):
    tokens, w = attention_map(model, tokenizer, sample, layer=0, head=h)
    ax = fig.add_subplot(math.ceil(cfg.n_head / cols), cols, h + 1)
    plot_attention(w, tokens, f"layer 0, head {h}", ax=ax)
    readable_ticks(ax, tokens, fontsize=9)
assert all(label.get_fontsize() >= 8 for ax in fig.axes for label in ax.get_xticklabels())
fig

# %% [markdown]
# A simple way to name a head: how much weight does it put on the *previous* character, on average? A
# "previous-token head" (a common sight in trained models, which later heads use to find what followed an
# earlier occurrence of the current character) scores near 1.

# %%
ids = val_data[None, :cfg.block_size]                                 # (1, T) a validation text
maps = model.attention_maps(ids)[:, 0]                                # (L, nh, T, T)
previous = maps.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)        # (L, nh): mean weight on key t-1
for layer in range(cfg.n_layer):
    print(f"layer {layer}: weight on the previous character per head:",
          [round(v, 2) for v in previous[layer].tolist()])
assert torch.allclose(maps.sum(-1), torch.ones_like(maps.sum(-1)), atol=1e-5)

# %% [markdown]
# **Explore.** Pick a text, a layer and a head (or the mean of the heads). Look for heads that attend to the
# previous character, to the last space or newline, or to the matching quote or bracket.

# %%
viewer = AttentionViewer(model, tokenizer, [
    sample,
    "The \"assert\" statement is a convenient way to insert debugging assertions.",
    "for i in range(10):\n    print(i, i ** 2)",
], layer=0, head=0)
viewer.widget

# %% [markdown]
# ## What the articles got wrong
#
# Popular articles on attention make three mistakes that the pieces above let us *measure*.
#
# **1. "Attention is $QK^\top/\sqrt{d_k}$."** Without the softmax and the product with $V$ that is a $(T, T)$ table
# of scores: not a distribution over keys (scores are negative, rows do not sum to 1), not a vector per
# position (it cannot be added to the residual stream), and the *values never enter*: change $V$ and nothing
# changes.

# %%
q, k, v = (torch.randn(1, 6, 16, generator=generator) for _ in range(3))
scores_only = q @ k.transpose(1, 2) / math.sqrt(16)                   # the articles' "attention": (1, 6, 6)
print(f"shape {tuple(scores_only.shape)} instead of {tuple(attention(q, k, v)[0].shape)}; row sums "
      f"{[round(r, 2) for r in scores_only[0].sum(-1).tolist()]}; smallest 'weight' {scores_only.min():.2f}")
assert scores_only.shape != v.shape and (scores_only < 0).any()
assert not torch.allclose(scores_only.sum(-1), torch.ones(1, 6))
assert not torch.allclose(attention(q, k, v)[0], attention(q, k, 2 * v)[0])       # real attention reads V
# (the scores cannot depend on V at all: it is not among their inputs)

# %% [markdown]
# **2. "Heads are several layers."** Heads run side by side inside *one* layer, on the same input, and are
# concatenated (6.5); nothing flows from one head to the next. Two measurements: the parameters of a layer do not
# depend on the number of heads (a stack of $h$ layers would have $h$ times as many), and reversing the order of
# the heads (with the matching rows of $W_O$) gives exactly the same output — there is no "first" head.

# %%
counts = {n_head: sum(p.numel() for p in MultiHeadAttention(32, n_head).parameters()) for n_head in (1, 2, 4, 8)}
print("parameters of one attention layer by number of heads:", counts)
assert len(set(counts.values())) == 1
torch.manual_seed(3)
mha4 = MultiHeadAttention(32, 4)
flipped = MultiHeadAttention(32, 4)
order = torch.arange(32).view(4, 8).flip(0).reshape(-1)                # channels of heads 3, 2, 1, 0
with torch.no_grad():
    flipped.qkv.weight.copy_(mha4.qkv.weight.view(3, 32, 32)[:, order].reshape(96, 32))
    flipped.qkv.bias.copy_(mha4.qkv.bias.view(3, 32)[:, order].reshape(96))
    flipped.proj.weight.copy_(mha4.proj.weight[:, order])
    flipped.proj.bias.copy_(mha4.proj.bias)
assert torch.allclose(flipped(x)[0], mha4(x)[0], atol=1e-6)
print("the heads taken in reverse order give the same output: they are parallel, not stacked")

# %% [markdown]
# **3. "A self-attention loss."** Some articles train attention with a labelled cross-entropy on the attention
# weights themselves. There are no such labels: a language model is trained only on its next-token predictions
# (eq. 7.5 in chapter 07), and the weights become whatever helps that. Forcing them toward made-up labels trains
# something else. Measured on the model of section 7: fine-tune a copy for a few steps with a cross-entropy that
# pushes every query to attend to itself (a plausible-looking "label"), and watch the prediction loss.

# %%
import copy

forced = copy.deepcopy(model).train()
opt_forced = adamw(forced, lr=2e-3, weight_decay=0.01, betas=(0.9, 0.999))
batches_forced = torch.Generator().manual_seed(5)
before = eval_fn()["loss"]


def maps_with_grad(gpt, idx):
    """Every layer's attention weights (L, B, nh, T, T), differentiable (`attention_maps` is for looking)."""
    h, maps_out = gpt.tok_emb(idx) + gpt.pos_emb(torch.arange(idx.size(1))), []   # (B, T, C)
    for block in gpt.blocks:
        h, w_block = block(h, need_weights=True)
        maps_out.append(w_block)
    return torch.stack(maps_out)


with torch.no_grad():
    xb0 = val_data[None, :cfg.block_size]
    assert torch.allclose(maps_with_grad(forced, xb0), forced.eval().attention_maps(xb0), atol=1e-6)
forced.train()
for _ in range(budget(full=60, fast=5)):
    xb, _ = get_batch(train_data, cfg.block_size, 16, generator=batches_forced)
    maps_f = maps_with_grad(forced, xb)                                   # (L, B, nh, T, T)
    self_label = torch.arange(cfg.block_size).expand(*maps_f.shape[:-1])  # "attend to yourself"
    attn_loss = F.nll_loss(maps_f.clamp_min(1e-9).log().flatten(0, -2), self_label.flatten())
    opt_forced.zero_grad()
    attn_loss.backward()
    opt_forced.step()
model_backup, model = model, forced                                      # eval_fn reads `model`
after = eval_fn()["loss"]
model = model_backup
print(f"'self-attention loss' {attn_loss.item():.3f}; next-character loss {before:.3f} -> {after:.3f} nats/char")
claim("next-char loss rise after a 'self-attention loss' (nats)", after - before, stated=2.66, low=1.0,
      workshop=(0.1, None))

# %% [markdown]
# ## 8. Exercises
#
# Each cell holds a stub and a checker; replace the stub with your code and run the cell. Worked solutions are
# in `solutions/06_attention_solutions.ipynb`.
#
# **Exercise 1.** Write scaled dot-product attention with an optional boolean mask (`True` = may attend).

# %% tags=["exercise"]
import math
import torch
from aigc_course.exercises import ch06

def my_attention(q, k, v, mask=None):
    # YOUR CODE: softmax(q kᵀ / sqrt(d_k)) v, with scores set to -inf where mask is False
    raise NotImplementedError

ch06.attention(my_attention)

# %% [markdown]
# **Exercise 2.** Build the causal mask for a sequence of length `T`: a `(T, T)` boolean tensor, `True` where
# query `i` may see key `j`.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch06

def my_causal_mask(T):
    # YOUR CODE
    raise NotImplementedError

ch06.causal_mask(my_causal_mask)

# %% [markdown]
# **Exercise 3.** Compute the sinusoidal positional encoding (6.7) as a `(T, d)` tensor.

# %% tags=["exercise"]
import math
import torch
from aigc_course.exercises import ch06

def my_sinusoidal(T, d):
    # YOUR CODE: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d))
    raise NotImplementedError

ch06.sinusoidal(my_sinusoidal)

# %% [markdown]
# **Exercise 4.** Split a `(B, T, C)` tensor into `n_head` heads: `(B, n_head, T, C // n_head)`, where head `h`
# holds channels `h*hs .. (h+1)*hs - 1`. (Hint: a single `reshape` to the final shape is wrong. Why?)

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch06

def my_split_heads(x, n_head):
    # YOUR CODE
    raise NotImplementedError

ch06.split_heads(my_split_heads)

# %% [markdown]
# ## Summary
#
# - Attention replaces the fixed-size state of a recurrent encoder by a data-dependent weighted average over
#   *all* inputs: a soft dictionary lookup, $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$.
# - Dot products of $d_k$ independent unit-variance components have variance $d_k$; dividing by $\sqrt{d_k}$
#   keeps the softmax out of saturation, where its gradient vanishes.
# - Masks set scores to $-\infty$; the leakage test (gradients exactly zero) is how to know a mask works.
# - Multi-head attention is $h$ small attentions side by side, at the cost of one.
# - Attention is permutation-equivariant, so positions must be added (sinusoidal, learned) or rotated in (RoPE).
#
# **Pitfalls**
# - Mask conventions differ: `F.scaled_dot_product_attention` takes `True` = attend, `nn.MultiheadAttention`
#   takes `True` = blocked. Test with the leakage test, not by eye.
# - A row that masks *every* key gives NaN (softmax of all $-\infty$): never pad a whole sequence.
# - Splitting heads with one `reshape(B, h, T, C/h)` silently mixes time and channels: view as $(B, T, h, C/h)$,
#   then transpose.
# - Forgetting $1/\sqrt{d_k}$ trains, slowly, and worse as heads grow.
#
# **Further reading**
# - Bahdanau, Cho & Bengio, *Neural Machine Translation by Jointly Learning to Align and Translate* (2014).
# - Vaswani et al., *Attention Is All You Need* (2017).
# - Su et al., *RoFormer: Enhanced Transformer with Rotary Position Embedding* (2021).
# - Elhage et al., *A Mathematical Framework for Transformer Circuits* (2021) — reading attention heads.
# - Olsson et al., *In-context Learning and Induction Heads* (2022).
#
# ## What a full run reached
#
# Measured by `make verify` of 1 December (one torch thread, two notebooks at a time on the 2-core CPU, at the highest
# scheduling priority over other jobs; torch 2.14, no GPU), with AdamW's nanoGPT decay groups
# (`aigc_course.optim.adamw`):
#
# - the whole notebook ran in **1.9 minutes** (1.8 CPU-minutes; an earlier run on a core shared with other jobs,
#   load average 5.8, took 4.3: timings on a shared machine mean little);
# - the tiny GPT (210,752 parameters, 2000 steps of 32 × 64 characters) reached a **validation loss of 1.33
#   nats/char** (its last training batch: 1.22; uniform guessing: 4.64);
# - the sensitivity measurement: a fresh GRU's final state depended on its first input 1.7e-13 times as much as
#   on its last, the attention read-out 0.17 times;
# - $\mathrm{Var}(q\cdot k)$ measured 8.0, 64.9 and 508.5 for $d_k$ = 8, 64, 512; unscaled softmaxes over 16 keys put
#   0.947 of their weight on one key, scaled ones 0.245, with gradients 11× larger;
# - no head of this small, briefly trained model is a clean previous-token head: the largest mean weight on the
#   previous character was 0.29 (layer 0). Heads with sharper patterns appear with longer training and larger
#   models; look for them in chapter 08's model with the same viewer;
# - the articles' "self-attention loss" (every query pushed to attend to itself) raised the next-character loss
#   from 1.33 to 3.99 nats/char.
