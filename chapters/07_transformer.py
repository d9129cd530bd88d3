# %% [markdown]
# # Chapter 07 — The transformer
#
# **What you will learn**
# - the transformer block: residual stream, pre-norm, attention and MLP branches;
# - layer normalisation, derived and checked against PyTorch;
# - how many parameters a GPT has and how many FLOPs a token costs (the "6N" rule), by formula, by
#   counting, and by the clock;
# - how to assemble a GPT from blocks: embeddings, weight tying, initialisation, and the overfitting sanity check;
# - generation with a KV cache: why it gives the same tokens as recomputing everything, and how much faster it is;
# - that our block is the same function as `torch.nn.TransformerEncoderLayer` in causal mode.
#
# **Prerequisites**: chapter 06 (attention, masks, multi-head attention, positions). **Time**: about 60 minutes
# to read; the code runs in about 3 minutes on an idle 2-core CPU in full mode (a minute on a GPU); workshop mode
# (`AIGC_MODE=workshop`) trains for fewer steps and finishes in 1.5 minutes on one core.
#
# Open `aigc_course/models/transformer.py` beside this notebook.

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
import time

import torch
import torch.nn.functional as F
from torch import nn

from aigc_course.device import seed_everything
from aigc_course.viz import new_figure

generator = seed_everything(0)

# %% [markdown]
# ## 1. The block
#
# A transformer is a stack of identical blocks acting on a **residual stream**: a $(T, C)$ array, one vector
# per token, that every block reads and *adds* to. Each block has two branches:
#
# $$x \leftarrow x + \mathrm{Attn}(\mathrm{LN}_1(x)), \qquad x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x)). \tag{7.1}$$
#
# - **Attention** moves information *between* positions (the causal multi-head attention of chapter 06).
# - The **MLP**, $W_2\,\mathrm{GELU}(W_1 x + b_1) + b_2$ with a hidden width of $4C$, transforms each position
#   *on its own*.
# - **Residual connections** keep an identity path from the loss to every layer. For one branch,
#   $\partial (x + f(x))/\partial x = I + \partial f/\partial x$, and by the chain rule through $L$ blocks
#
#   $$\frac{\partial x_L}{\partial x_0} = \prod_{l=L}^{1}\Big(I + \frac{\partial f_l}{\partial x_{l-1}}\Big) = I + \sum_l \frac{\partial f_l}{\partial x_{l-1}} + \dots, \tag{7.2}$$
#
#   so gradients reach the first block however deep the stack (checked in section 3).
# - **Pre-norm**: each branch reads a normalised *copy* of the stream; the stream itself is never normalised
#   until the very end. The original transformer normalised after the addition ("post-norm",
#   $x \leftarrow \mathrm{LN}(x + \mathrm{Attn}(x))$), which needs a learning-rate warm-up to train deep stacks;
#   pre-norm (GPT-2, 2019; analysed by Xiong et al., 2020) trains without one.
#
# ## 2. Layer normalisation, derived
#
# For one token's vector $x \in \mathbb{R}^C$:
#
# $$\mu = \frac{1}{C}\sum_i x_i, \qquad \sigma^2 = \frac{1}{C}\sum_i (x_i - \mu)^2, \qquad
#   \hat{x}_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y_i = \gamma_i \hat{x}_i + \beta_i. \tag{7.3}$$
#
# Each token is normalised over its own channels (not over the batch, as batch norm does), so it behaves the
# same in training and generation, for any batch size. Two consequences we can check: $\hat x$ has mean 0 and
# variance 1 (up to $\epsilon$), and LN ignores the scale of its input: $\mathrm{LN}(a x) = \mathrm{LN}(x)$ for
# $a > 0$ — whatever the residual stream's size, each branch sees inputs of the same size.

# %%
def layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True)                              # (B, T, 1)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)               # (B, T, 1): divide by C, not C - 1
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta     # (B, T, C)


x = 5 + 3 * torch.randn(4, 10, 32, generator=generator)
gamma, beta = torch.randn(32, generator=generator), torch.randn(32, generator=generator)
ln = nn.LayerNorm(32)
with torch.no_grad():
    ln.weight.copy_(gamma)
    ln.bias.copy_(beta)
assert torch.allclose(layer_norm(x, gamma, beta), F.layer_norm(x, (32,), gamma, beta), atol=1e-5)  # check (7.3)
assert torch.allclose(layer_norm(x, gamma, beta), ln(x), atol=1e-5)
x_hat = layer_norm(x, torch.ones(32), torch.zeros(32))
assert torch.allclose(x_hat.mean(-1), torch.zeros(4, 10), atol=1e-5)
assert torch.allclose(x_hat.var(-1, unbiased=False), torch.ones(4, 10), atol=1e-3)
assert torch.allclose(layer_norm(7.0 * x, gamma, beta), layer_norm(x, gamma, beta), atol=1e-4)
print("our layer norm equals F.layer_norm and nn.LayerNorm; x_hat has mean 0 and variance 1; LN(7x) = LN(x)")

# %% [markdown]
# ## 3. The block, built in the open
#
# With chapter 06's `MultiHeadAttention` (causal), two layer norms and the MLP, a block is a few lines. We
# give it the library block's weights and compare.

# %%
from aigc_course.models.attention import MultiHeadAttention, causal_mask
from aigc_course.models.transformer import Block, GPTConfig


class MyBlock(nn.Module):
    def __init__(self, C, n_head):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = MultiHeadAttention(C, n_head, causal=True)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))   # C -> 4C -> C

    def forward(self, x):                           # (B, T, C) -> (B, T, C)
        x = x + self.attn(self.ln1(x))[0]           # talk: move information between positions
        x = x + self.mlp(self.ln2(x))               # think: transform each position alone
        return x


torch.manual_seed(0)
cfg = GPTConfig.nano(vocab_size=10, fused=False)
block = Block(cfg).eval()
mine = MyBlock(cfg.n_embd, cfg.n_head).eval()
state = {k.replace("mlp.fc", "mlp.0").replace("mlp.proj", "mlp.2"): v for k, v in block.state_dict().items()}
mine.load_state_dict(state)
x = torch.randn(2, 12, cfg.n_embd, generator=generator)
assert torch.allclose(mine(x), block(x)[0], atol=1e-6)                        # check (7.1)
print("our block equals the library's Block")

# %% [markdown]
# The residual Jacobian (7.2), measured on one token's vector: the Jacobian of a block is the identity plus the
# Jacobians of its two branches, and through a stack of blocks the identity survives.

# %%
from torch.autograd.functional import jacobian

x1 = torch.randn(1, 1, cfg.n_embd, generator=generator)                      # one token: attention is the identity mix
J_block = jacobian(lambda v: block(v)[0], x1).reshape(cfg.n_embd, cfg.n_embd)
J_attn = jacobian(lambda v: block.attn(block.ln1(v))[0], x1).reshape(cfg.n_embd, cfg.n_embd)
mid = x1 + block.attn(block.ln1(x1))[0]
J_mlp = jacobian(lambda v: block.mlp(block.ln2(v)), mid).reshape(cfg.n_embd, cfg.n_embd)
eye = torch.eye(cfg.n_embd)
assert torch.allclose(J_block, (eye + J_mlp) @ (eye + J_attn), atol=1e-5)   # check (7.2): chain rule, one block
stack = nn.ModuleList([Block(cfg).eval() for _ in range(6)])


def through(v):
    for b in stack:
        v = b(v)[0]
    return v


J_stack = jacobian(through, x1).reshape(cfg.n_embd, cfg.n_embd)
print(f"6 fresh blocks: ‖J − I‖ / ‖I‖ = {(J_stack - eye).norm() / eye.norm():.2f}; "
      f"smallest singular value {torch.linalg.svdvals(J_stack).min():.2f} (0 would block gradients)")
assert torch.linalg.svdvals(J_stack).min() > 0.1

# %% [markdown]
# PyTorch's `nn.TransformerEncoderLayer` is the same block when asked for pre-norm (`norm_first=True`), GELU, a
# $4C$ feed-forward width, and a causal mask. (Its boolean mask means *blocked*, the opposite of ours.)

# %%
layer = nn.TransformerEncoderLayer(cfg.n_embd, cfg.n_head, dim_feedforward=4 * cfg.n_embd, dropout=0.0,
                                   activation="gelu", batch_first=True, norm_first=True).eval()
with torch.no_grad():
    block.attn.load_from_torch(layer.self_attn)
    for ours, theirs in [(block.ln1, layer.norm1), (block.ln2, layer.norm2),
                         (block.mlp.fc, layer.linear1), (block.mlp.proj, layer.linear2)]:
        ours.weight.copy_(theirs.weight)
        ours.bias.copy_(theirs.bias)
reference = layer(x, src_mask=~causal_mask(12), is_causal=True)
assert torch.allclose(block(x)[0], reference, atol=1e-5)
print(f"our block equals nn.TransformerEncoderLayer (causal): max difference "
      f"{(block(x)[0] - reference).abs().max():.1e}")

# %% [markdown]
# ## 4. A GPT from blocks
#
# The whole model (Radford et al., 2018 and 2019):
#
# 1. token embedding $E \in \mathbb{R}^{V\times C}$ plus a learned position embedding $P \in \mathbb{R}^{T_{\max}\times C}$:
#    $x_t = E_{\text{token}_t} + P_t$;
# 2. $L$ blocks;
# 3. a final layer norm, and a linear **head** $C \to V$ giving the logits of the next token at every position.
#
# The loss is the mean next-token cross-entropy over all positions at once (the causal mask makes position $t$'s
# prediction depend on tokens $\le t$ only):
#
# $$\mathcal{L} = -\frac{1}{BT}\sum_{b,t} \log p_\theta(x_{b,t+1} \mid x_{b,\le t}). \tag{7.4}$$
#
# **Weight tying** (Press & Wolf, 2017): the head's $V\times C$ matrix *is* the token embedding $E$. A token's
# input vector and its output vector live in one space, and $V\cdot C$ parameters are saved.
#
# **Initialisation** (GPT-2): weights from $\mathcal{N}(0, 0.02^2)$, biases 0, and the last linear layer of each
# branch scaled down by $1/\sqrt{2L}$. Why: the stream after $L$ blocks is the embedding plus $2L$ branch outputs
# $b_j$, each a product with its last weight matrix; with roughly independent terms the variances add, and each
# $\mathrm{Var}(b_j)$ is proportional to the variance of that matrix's entries, so
#
# $$\mathrm{Var}\Big(x_0 + \sum_{j=1}^{2L} b_j\Big) \approx \mathrm{Var}(x_0) + 2L\,\kappa\,s^2, \qquad
#   s = \frac{0.02}{\sqrt{2L}} \ \Rightarrow\ 2L\,\kappa\,s^2 = \kappa\,0.02^2 \text{ for every } L, \tag{7.5}$$
#
# with $\kappa$ a constant of the branch. With small logits the model starts out predicting nearly uniformly,
# so the first loss should be close to $\ln V$ — a check worth making on every new model.

# %%
from aigc_course.data import CharTokenizer, get_batch, load_corpus, train_val_split
from aigc_course.models.transformer import GPT, flops_per_token, lm_loss, parameter_count
from aigc_course.optim import adamw

text = load_corpus("python-docs")
tokenizer = CharTokenizer.from_text(text)
data = torch.tensor(tokenizer.encode(text))
train_data, val_data = train_val_split(data, 0.1)
V = tokenizer.vocab_size

seed_everything(0)
cfg = GPTConfig.tiny(vocab_size=V, block_size=128)
model = GPT(cfg)
assert model.head.weight is model.tok_emb.weight                      # tied: one matrix
untied = GPT(GPTConfig.tiny(vocab_size=V, block_size=128, tie_weights=False))
assert untied.num_parameters() - model.num_parameters() == V * cfg.n_embd

xb, yb = get_batch(train_data, cfg.block_size, 8, generator=generator)
logits, loss = model(xb, yb)
manual = -torch.log_softmax(logits, -1).gather(-1, yb[..., None]).mean()   # check (7.4): by hand
assert torch.allclose(loss, manual, atol=1e-5) and torch.allclose(loss, lm_loss(logits, yb))
print(f"loss at initialisation {loss.item():.3f}; ln V = {math.log(V):.3f}")
assert abs(loss.item() - math.log(V)) < 0.3

# %% [markdown]
# Check (7.5): the growth of the residual stream's variance over its embedding, at initialisation, for depths
# $L$ = 2 to 16 — with the library's $1/\sqrt{2L}$ scaling, and with that scaling undone (every branch's last
# layer at 0.02).

# %%
def stream_growth(n_layer, scaled):
    torch.manual_seed(0)
    c = GPTConfig(vocab_size=V, block_size=32, n_layer=n_layer, n_head=4, n_embd=64)
    m = GPT(c).eval()
    if not scaled:
        for name, p in m.named_parameters():
            if name.endswith("proj.weight"):
                torch.nn.init.normal_(p, std=0.02)
    ids = torch.randint(V, (16, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = m.tok_emb(ids) + m.pos_emb(torch.arange(32))                       # x_0
        x0_var = h.var().item()
        for b in m.blocks:
            h = b(h)[0]
    return (h.var().item() - x0_var) / 0.02**2                                 # 2L κ s² / 0.02²


growth = {L: (stream_growth(L, True), stream_growth(L, False)) for L in (2, 4, 8, 16)}
for L, (scaled, unscaled) in growth.items():
    print(f"L = {L:2d}: added variance / 0.02² = {scaled:5.2f} with 1/√(2L), {unscaled:6.2f} without")
# check (7.5): constant in L with the scaling (within 35 %), growing ∝ L without it
assert max(g[0] for g in growth.values()) < 1.35 * min(g[0] for g in growth.values())
assert 5 < growth[16][1] / growth[2][1] < 12                                   # 16 / 2 = 8 ideally

# %% [markdown]
# ## 5. Counting parameters
#
# Per block, with $C$ = `n_embd` and $b = 1$ when layers have biases:
#
# | part | weights | biases |
# |---|---|---|
# | attention: $W_Q, W_K, W_V$ ($C\times 3C$) and $W_O$ ($C\times C$) | $4C^2$ | $4bC$ |
# | MLP: $C\times 4C$ and $4C\times C$ | $8C^2$ | $5bC$ |
# | two layer norms | $2C$ | $2bC$ |
#
# so $12C^2 + (2 + 11b)C$ per block, and for the model
#
# $$N = VC + T_{\max}C + L\,\big(12C^2 + (2+11b)C\big) + (1+b)C\ \big[+\,VC \text{ if untied}\big]. \tag{7.6}$$
#
# At the sizes of real models $12LC^2$ dominates: GPT-2 small ($L=12$, $C=768$) has $12\cdot12\cdot768^2 \approx
# 85$M parameters in its blocks, plus 39M in its embeddings: 124M.

# %% [markdown]
# To count, we build each model on PyTorch's `meta` device: parameters there have shapes but no storage, so even
# a large model is built in an instant.

# %%
def my_count(c):
    b = int(c.bias)
    per_block = 12 * c.n_embd ** 2 + (2 + 11 * b) * c.n_embd
    head = 0 if c.tie_weights else c.vocab_size * c.n_embd
    return (c.vocab_size * c.n_embd + c.block_size * c.n_embd + c.n_layer * per_block
            + (1 + b) * c.n_embd + head)


print(f"{'preset':17s} {'formula':>11s} {'counted':>11s}")
for name in ("nano", "tiny", "small"):
    for tie in (True, False):
        c = getattr(GPTConfig, name)(vocab_size=V, tie_weights=tie)
        with torch.device("meta"):                          # shapes only: no memory, no random numbers
            counted = sum(p.numel() for p in GPT(c).parameters())
        assert my_count(c) == parameter_count(c) == counted                # check (7.6)
        print(f"{name + ('' if tie else ' (untied)'):17s} {my_count(c):>11,} {counted:>11,}")
gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
print(f"GPT-2 small by formula: {parameter_count(gpt2):,}")
assert parameter_count(gpt2) == 124_439_808                          # the published figure

# %% [markdown]
# ## 6. FLOPs per token, and the 6N rule
#
# A matrix–vector product with an $m\times n$ weight matrix is $mn$ multiply–adds, $2mn$ FLOPs. In the forward
# pass every weight of every linear layer is used once per token, so a token costs $2N_{mm}$ FLOPs, where $N_{mm}
# = 12LC^2 + VC$ counts the weights used in matrix products (the embeddings are look-ups, the head is a product).
# Attention adds its own products: $QK^\top$ and weights$\cdot V$ cost $2TC$ each per token and layer, so
#
# $$\text{forward} = 2N_{mm} + 4LTC, \qquad \text{training} = 3\times\text{forward} = 6N_{mm} + 12LTC, \tag{7.7}$$
#
# because the backward pass computes two products per forward product (gradients with respect to the inputs and
# to the weights). For large models $6N$ dominates: **training costs about 6 FLOPs per parameter per token.**
#
# PyTorch can count the FLOPs of the products it actually runs (`FlopCounterMode`). The formula is exact for
# them (it leaves out element-wise work: softmax, layer norm, GELU, which is small by comparison).

# %%
from torch.utils.flop_counter import FlopCounterMode

B, T = 2, cfg.block_size
unfused = GPT(GPTConfig.tiny(vocab_size=V, block_size=128, fused=False))
xb, yb = get_batch(train_data, T, B, generator=generator)
with FlopCounterMode(display=False) as counter:
    unfused(xb)
assert counter.get_total_flops() == B * T * flops_per_token(cfg, T, training=False)
with FlopCounterMode(display=False) as counter:
    unfused(xb, yb)[1].backward()
assert counter.get_total_flops() == B * T * flops_per_token(cfg, T, training=True)   # check (7.7)
assert counter.get_total_flops() == B * T * (6 * (12 * cfg.n_layer * cfg.n_embd**2 + V * cfg.n_embd)
                                             + 12 * cfg.n_layer * T * cfg.n_embd)       # ... written out
n_mm = 12 * cfg.n_layer * cfg.n_embd ** 2 + V * cfg.n_embd
print(f"training FLOPs per token: formula {flops_per_token(cfg, T):,} = 6N ({6 * n_mm:,}) "
      f"+ attention ({12 * cfg.n_layer * T * cfg.n_embd:,}); counted by PyTorch: the same")

# %% [markdown]
# And by the clock: we time training steps and divide. The ratio between the FLOP rate a step reaches and the
# rate of one large matrix product on this machine says how well a small model uses the hardware.

# %%
optimizer = adamw(unfused, lr=1e-3, weight_decay=0.01, betas=(0.9, 0.999))
B = budget(full=16, fast=2)
xb, yb = get_batch(train_data, T, B, generator=generator)


def one_step():
    loss = unfused(xb, yb)[1]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


one_step()                                                         # warm up
repeats = budget(full=10, fast=2)
t0 = time.perf_counter()
for _ in range(repeats):
    one_step()
step_seconds = (time.perf_counter() - t0) / repeats
achieved = flops_per_token(cfg, T) * B * T / step_seconds

a, b_ = torch.randn(512, 512), torch.randn(512, 512)
a @ b_
t0 = time.perf_counter()
for _ in range(repeats):
    a @ b_
peak = 2 * 512 ** 3 * repeats / (time.perf_counter() - t0)
print(f"one training step ({B} x {T} tokens): {step_seconds * 1000:.0f} ms -> {achieved / 1e9:.2f} GFLOP/s")
print(f"a 512x512 matrix product runs at {peak / 1e9:.1f} GFLOP/s: the model uses {achieved / peak:.0%} of it")
# a step cannot do its products faster than the machine's matmul rate: were the FLOP formula several times too
# large, the "achieved" rate would exceed the peak
assert achieved < 1.5 * peak, f"achieved {achieved / 1e9:.1f} GFLOP/s above the matmul peak: the FLOP count is wrong"
claim("share of the matmul peak a tiny GPT step reaches", achieved / peak, stated=0.24, low=0.03, high=1.0)

# %% [markdown]
# Small models use a CPU poorly: their matrices are small, and element-wise work, memory traffic and Python
# overhead take a larger share. The formula is still the right way to *plan* a run: tokens × FLOPs per token ÷
# achieved FLOP/s = time.
#
# ## 7. Sanity check: can it overfit one text?
#
# Before a long run, check that the model can memorise a single short text. If the loss does not fall to near
# zero, something is broken (a mask, a shift of the targets, a learning rate) and no amount of data will help.

# %%
seed_everything(0)
snippet = text[:65]
ids = torch.tensor(tokenizer.encode(snippet))[None]               # (1, 65)
small = GPT(GPTConfig.nano(vocab_size=V, block_size=64))
opt = adamw(small, lr=3e-3, weight_decay=0.01, betas=(0.9, 0.999))
losses = []
for _ in range(budget(full=300, fast=30, workshop=300)):
    loss = small(ids[:, :-1], ids[:, 1:])[1]                       # inputs x_0..x_63, targets x_1..x_64
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
recalled = tokenizer.decode(small.generate(ids[:, :1], 64, top_k=1)[0])
print(f"loss {losses[0]:.2f} -> {losses[-1]:.3f}")
print(f"greedy recall from its first character:\n{recalled!r}\noriginal:\n{snippet!r}")
assert losses[-1] < 0.5 * losses[0]
claim("overfitting check: final loss on one text (nats)", losses[-1], stated=0.005, high=0.05, workshop=(None, 0.05))
claim("overfitting check: characters recalled exactly", sum(a == b for a, b in zip(recalled, snippet)) / len(snippet),
      stated=1.0, low=0.95, workshop=(0.95, None))

# %% [markdown]
# ## 8. Training for real
#
# Now the tiny GPT on Python's documentation: about 0.2M parameters, contexts of 128 characters.

# %%
from aigc_course.train import LivePlot, train

seed_everything(0)
model = GPT(cfg)
steps, batch_size = budget(full=4000, fast=12, workshop=1500), budget(full=16, fast=4)
optimizer = adamw(model, lr=2e-3, weight_decay=0.01, betas=(0.9, 0.999))   # no decay on biases, LayerNorm gains
eval_batches, eval_size = budget(full=8, fast=1), budget(full=32, fast=8)
batches = torch.Generator().manual_seed(1)


def step_fn(step):
    lr = 2e-3 * min(1.0, step / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
    for group in optimizer.param_groups:                        # warm-up, then cosine decay to 10 %
        group["lr"] = lr
    xb, yb = get_batch(train_data, cfg.block_size, batch_size, generator=batches)
    loss = model(xb, yb)[1]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return {"loss": loss.item()}


def eval_fn():
    g = torch.Generator().manual_seed(123)
    losses = [model(*get_batch(val_data, cfg.block_size, eval_size, generator=g))[1] for _ in range(eval_batches)]
    return {"loss": torch.stack(losses).mean().item()}


tokens = steps * batch_size * cfg.block_size
print(f"{model.num_parameters():,} parameters, {steps} steps, {tokens:,} tokens, "
      f"≈ {tokens * flops_per_token(cfg) / 1e12:.2f} TFLOP by the formula")
history = train(step_fn, steps, modules={"model": model}, eval_fn=eval_fn, eval_every=max(1, steps // 5),
                callbacks=[LivePlot(every=max(1, steps // 5))], desc="GPT tiny")
val = history.eval_logs["loss"][-1]
print(f"validation loss {val:.3f} nats/char = {val / math.log(2):.2f} bits/char, in {history.seconds / 60:.1f} min")
assert val < math.log(V)
claim("tiny GPT validation loss (nats/char)", val, stated=1.24, low=1.05, high=1.35, workshop=(None, 1.65))

# %%
prompt = torch.tensor([tokenizer.encode("The ")])
sample = model.eval().generate(prompt, budget(full=300, fast=40), temperature=0.8,
                               generator=torch.Generator().manual_seed(0))
print(tokenizer.decode(sample[0]))

# %% [markdown]
# ## 9. Generation with a KV cache
#
# Generating token $t+1$ needs the keys and values of tokens $1..t$ in every layer. Recomputing them at each step
# costs a forward pass over $t$ tokens. But with a causal mask, the keys and values of token $j$ never change
# once computed (they depend only on tokens $\le j$). So we keep them in a **cache** and, at each step, run only
# the newest token: its query attends to the cached keys and values plus its own. Counting the token positions
# the model processes to extend a prompt of $P$ tokens by $n$ (within the context window):
#
# $$\text{recomputing: } \sum_{t=P}^{P+n-1} t = nP + \frac{n(n-1)}{2} = O(T^2), \qquad \text{cached: } P + (n - 1) = O(T). \tag{7.8}$$
#
# It must give *the same* result. First the logits, step by step, against one full forward pass:

# %%
from aigc_course.models.attention import KVCache

model.eval()
ids = val_data[None, :40]
with torch.no_grad():
    full_logits = model(ids)[0]                                              # (1, 40, V): all at once
    caches = [KVCache() for _ in model.blocks]
    step_logits = [model(ids[:, t: t + 1], caches=caches)[0] for t in range(40)]   # one token at a time
assert len(caches[0]) == 40
difference = (torch.cat(step_logits, dim=1) - full_logits).abs().max()
print(f"largest difference between cached and full logits: {difference:.1e}")
assert difference < 1e-4

# %% [markdown]
# Then whole generations, and the speed-up. Within the context window (`block_size`) each cached step is one
# token's work; past it, learned absolute positions shift with the window, so the library then recomputes the
# window at each step (one reason recent models use relative positions such as RoPE).

# %%
new = budget(full=cfg.block_size - 1, fast=40)
prompt = torch.tensor([tokenizer.encode("d")])
timings = {}
for use_cache in (False, True):
    t0 = time.perf_counter()
    out = model.generate(prompt, new, temperature=0.8, use_cache=use_cache,
                         generator=torch.Generator().manual_seed(7))
    timings[use_cache] = (time.perf_counter() - t0, out)
assert torch.equal(timings[True][1], timings[False][1])                      # the same tokens
assert torch.equal(model.generate(prompt, 20, top_k=1, use_cache=True),
                   model.generate(prompt, 20, top_k=1, use_cache=False))     # greedy too
speedup = timings[False][0] / timings[True][0]
print(f"{new} tokens: {timings[False][0]:.2f} s recomputing, {timings[True][0]:.2f} s with the cache "
      f"(x{speedup:.1f}); identical output:\n{tokenizer.decode(timings[True][1][0])!r}")

# %% [markdown]
# The count (7.8), measured: a forward hook on the first block records how many positions each call processes.

# %%
processed = []
hook = model.blocks[0].register_forward_hook(lambda module, args, out: processed.append(args[0].shape[1]))
n_new, P = 30, prompt.shape[1]
for use_cache in (False, True):
    processed.clear()
    model.generate(prompt, n_new, top_k=1, use_cache=use_cache)
    print(f"use_cache={use_cache}: {sum(processed)} token positions in {len(processed)} forward passes")
    expected = (n_new * P + n_new * (n_new - 1) // 2) if not use_cache else P + n_new - 1
    assert sum(processed) == expected                                         # check (7.8)
hook.remove()

# %% [markdown]
# ## 10. Exercises
#
# Worked solutions are in `solutions/07_transformer_solutions.ipynb`.
#
# **Exercise 1.** Write layer normalisation over the last dimension.

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch07

def my_layer_norm(x, gamma, beta, eps=1e-5):
    # YOUR CODE: gamma * (x - mean) / sqrt(var + eps) + beta, statistics over the last dimension
    raise NotImplementedError

ch07.layer_norm(my_layer_norm)

# %% [markdown]
# **Exercise 2.** Count the parameters of `GPT(cfg)` by formula, from the fields of `cfg` (`vocab_size`,
# `block_size`, `n_layer`, `n_embd`, `bias`, `tie_weights`), without building the model.

# %% tags=["exercise"]
from aigc_course.exercises import ch07

def my_parameter_count(cfg):
    # YOUR CODE
    raise NotImplementedError

ch07.parameter_count(my_parameter_count)

# %% [markdown]
# **Exercise 3.** Top-$k$ filtering for sampling: keep the $k$ largest logits of each row, set the others to
# $-\infty$ (so the softmax gives them probability 0).

# %% tags=["exercise"]
import torch
from aigc_course.exercises import ch07

def my_top_k(logits, k):
    # YOUR CODE: logits (B, V) -> (B, V)
    raise NotImplementedError

ch07.top_k(my_top_k)

# %% [markdown]
# **Exercise 4.** The matrix-product FLOPs per token of one training step (forward and backward) of `GPT(cfg)`
# on sequences of `seq_len` tokens, *derived* from the fields of `cfg` (`n_layer`, `n_embd`, `vocab_size`, ...):
# which weights take part in a product, what attention adds, what the backward pass costs (section 6). The
# checker compares with PyTorch's count on real models.

# %% tags=["exercise"]
from aigc_course.exercises import ch07

def my_training_flops(cfg, seq_len):
    # YOUR CODE
    raise NotImplementedError

ch07.training_flops(my_training_flops)

# %% [markdown]
# ## Summary
#
# - A transformer block adds an attention branch (between positions) and an MLP branch (within a position) to
#   a residual stream; pre-norm feeds each branch a layer-normalised copy.
# - Layer norm standardises each token over its channels: mean 0, variance 1, then a learned scale and shift.
# - Parameters: $\approx 12LC^2$ plus embeddings. Training FLOPs per token: $6N + 12LTC$ — the 6N rule.
# - A GPT is embeddings + blocks + a final LN + a head tied to the embedding; start with loss ≈ ln V, and check
#   that it can overfit one text before a long run.
# - A KV cache makes each generation step cost one token's work, with exactly the same output.
#
# **Pitfalls**
# - Targets must be the inputs shifted by one; a model trained with targets = inputs learns to copy.
# - `x.var()` is unbiased by default; layer norm uses the biased variance.
# - Forgetting the causal mask gives a training loss that looks wonderful and a model that generates garbage.
# - With learned positions a sequence longer than `block_size` has no position vectors: crop the context.
# - Timings on a shared machine vary; measure more than once.
#
# **Further reading**
# - Vaswani et al., *Attention Is All You Need* (2017).
# - Radford et al., *Improving Language Understanding by Generative Pre-Training* (2018);
#   *Language Models are Unsupervised Multitask Learners* (2019).
# - Ba, Kiros & Hinton, *Layer Normalization* (2016).
# - Press & Wolf, *Using the Output Embedding to Improve Language Models* (2017).
# - Xiong et al., *On Layer Normalization in the Transformer Architecture* (2020).
# - Kaplan et al., *Scaling Laws for Neural Language Models* (2020); Chowdhery et al., *PaLM* (2022), appendix B.
# - Pope et al., *Efficiently Scaling Transformer Inference* (2022) — KV caches at scale.
#
# ## What a full run reached
#
# Measured by `make verify` of 1 December (one torch thread, two notebooks at a time on the 2-core CPU, at the highest
# scheduling priority over other jobs; torch 2.14, no GPU), with AdamW's nanoGPT decay groups
# (`aigc_course.optim.adamw`):
#
# - the whole notebook ran in **3.9 minutes** (3.7 CPU-minutes; 5.8 in an earlier run on a core shared with other
#   jobs);
# - training: the tiny GPT (214,848 parameters, context 128) for 4000 steps of 16 × 128 characters (8.2M tokens,
#   ≈ 13 TFLOP by the formula) took 3.8 minutes and reached a **validation loss of 1.24 nats/char (1.79
#   bits/char)**. Samples have Python-documentation layout and mostly real words, but little sense;
# - the FLOP formula matched PyTorch's count exactly; a training step of 16 × 128 tokens took 76 ms on one
#   thread, i.e. 44 GFLOP/s, 22 % of the 203 GFLOP/s of a 512 × 512 matrix product on the same thread (on a
#   shared core: 173 ms, 19 of 79 GFLOP/s — the share, not the speed, is the model's);
# - the overfitting check went from 4.52 to 0.005 and recalled its 65 characters exactly;
# - KV cache: cached and full logits agreed to 3.8e-05; 127 new tokens took 0.21 s recomputing and 0.10 s with
#   the cache (×2.1; a tiny model on a CPU is dominated by per-step overhead, so the gap grows with model size and
#   length), with identical tokens.
