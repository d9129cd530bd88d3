# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix (chapter 15) — When one machine is not enough
#
# Everything so far trained on one process. When a model or its data outgrow one machine, the standard engine
# is PyTorch's own: `torchrun` starts one process per device, `DistributedDataParallel` (DDP) keeps their
# copies of the model in step, and FSDP shards the model's state when even that does not fit. This appendix
# builds data parallelism in the open, checks it against real 2-process runs on this CPU, measures what the
# communication costs, and counts the memory that sharding saves, for the course's GPT and for GPT-2.
#
# **What you will learn**
# - why p processes with batch B compute exactly the update of one process with batch p·B (and where
#   "exactly" stops: float rounding, which training amplifies);
# - what an all-reduce does, how many bytes a ring all-reduce sends, and what it costs on this machine;
# - the memory of training state (16 bytes per parameter with Adam) and what ZeRO / FSDP divide by N;
# - the exact `torchrun` commands for several GPUs and several machines, with checkpoints that resume.
#
# **Prerequisites**: chapter 07 (the GPT), chapter 09 (parameters, FLOPs, cost).
# **Time**: 30 minutes to read; the code starts a few runs of 1–4 processes and took 47 s in full mode on our
# 2-core CPU (load average 1.4; FAST mode: about 30 s). No GPU needed: on CPUs the processes talk through `gloo`; on GPUs the
# same code uses `nccl`.
#
# Open `aigc_course/distributed.py` and `aigc_course/zero.py` beside this notebook.

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %%
from aigc_course.config import budget, banner

print(banner())

# %%
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from aigc_course import distributed as D
from aigc_course.checkpoint import read_checkpoint
from aigc_course.data import CharTokenizer, load_corpus
from aigc_course.models.transformer import GPT, GPTConfig, parameter_count
from aigc_course.viz import new_figure
from aigc_course.zero import Precision, measure, training_bytes

WORK = Path(tempfile.mkdtemp(prefix="aigc-ch15-"))          # checkpoints and reports of the runs below
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))  # the torchrun of this environment


def launch(module: str, *args: str, nproc: int) -> float:
    """Run ``torchrun ... -m module args`` with ``nproc`` processes on this machine; the seconds it took."""
    cmd = [TORCHRUN] + D.torchrun_command(module, *args, nproc_per_node=nproc, module=True)[1:]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


print("runs write to", WORK)

# %% [markdown]
# ## 1. Data parallelism: the same step, computed in p places
#
# A training step computes the gradient of the mean loss over a batch of $pB$ examples. Split the batch into
# $p$ shards $\mathcal B_1, \dots, \mathcal B_p$ of $B$ examples each. Because the mean over all of them is the
# mean of the shards' means,
#
# $$\nabla_\theta \frac{1}{pB}\sum_{i=1}^{pB} \ell_i(\theta)
#   \;=\; \frac{1}{p}\sum_{r=1}^{p}\; \underbrace{\nabla_\theta \frac{1}{B}\sum_{i\in\mathcal B_r} \ell_i(\theta)}_{g_r:\ \text{rank } r\text{'s gradient}} \tag{15.1}$$
#
# So $p$ processes, each holding a full copy of the model and its own shard, compute the global gradient by
# *averaging* their gradients — the all-reduce — and then take identical optimiser steps: their copies stay
# identical without ever sending a weight. Two conditions hide in the equation: every shard has the same
# size $B$ (with unequal shards the mean of means is not the global mean), and no randomness differs between
# ranks inside the model (dropout would draw different masks).
#
# `ShardedBatches` gives step $s$ one global batch and rank $r$ the $r$-th slice of it; `lm_windows` cuts
# the language-model windows at those positions. Check (15.1) on the course's GPT, in float64:

# %%
text = load_corpus("python-docs", max_chars=30_000)
tok = CharTokenizer.from_text(text)
data = torch.tensor(tok.encode(text), dtype=torch.long)
cfg = GPTConfig.nano(vocab_size=tok.vocab_size, dropout=0.0)
B, P = 16, 2
n_windows = len(data) - cfg.block_size
global_batch = D.ShardedBatches(n_windows, B, rank=0, world_size=P).global_indices(1)   # (P·B,)

torch.manual_seed(0)
model = GPT(cfg).double()


def gradients(idx: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad()
    model(*D.lm_windows(data, idx, cfg.block_size))[1].backward()
    return [p.grad.clone() for p in model.parameters()]


full = gradients(global_batch)                                                  # one process, batch P·B
per_rank = [gradients(D.ShardedBatches(n_windows, B, rank=r, world_size=P)(1)) for r in range(P)]
averaged = [sum(g) / P for g in zip(*per_rank)]                                 # the all-reduce
# check (15.1)
worst = max((a - f).abs().max().item() for a, f in zip(averaged, full))
assert worst < 1e-12, worst
summed = max((sum(g) - f).abs().max().item() for g, f in zip(zip(*per_rank), full))
assert summed > 1e-3, "summing instead of averaging makes a P times larger step"
print(f"average of {P} shard gradients vs the gradient of the whole batch: max difference {worst:.1e}")

# %% [markdown]
# ## 2. DDP in the open, then the real thing
#
# Here are $p$ replicas in one process, doing what DDP does on $p$ processes: same initial weights, each its
# own shard, gradients averaged, each its own AdamW step. The replicas must stay *bit for bit* identical, and
# match one model trained on the whole batch.

# %%
def data_parallel_in_the_open(steps: int, p: int, b: int, dtype: torch.dtype) -> tuple[list, list]:
    """``p`` replicas trained with averaged gradients; the replicas and replica 0's flat weights per step."""
    torch.manual_seed(0)
    base = GPT(cfg).to(dtype)
    replicas = [copy.deepcopy(base) for _ in range(p)]
    optimizers = [torch.optim.AdamW(m.parameters(), lr=3e-3) for m in replicas]
    shards = [D.ShardedBatches(n_windows, b, rank=r, world_size=p, seed=0) for r in range(p)]
    trajectory = []
    for step in range(1, steps + 1):
        for m, opt, shard in zip(replicas, optimizers, shards):
            opt.zero_grad()
            m(*D.lm_windows(data, shard(step), cfg.block_size))[1].backward()
        for params in zip(*(m.parameters() for m in replicas)):       # the all-reduce (mean)
            mean = sum(q.grad for q in params) / p
            for q in params:
                q.grad = mean.clone()
        for opt in optimizers:
            opt.step()
        trajectory.append(torch.cat([q.detach().flatten() for q in replicas[0].parameters()]).double())
    return replicas, trajectory


STEPS = budget(full=40, fast=8, workshop=20)
replicas, two_ranks = data_parallel_in_the_open(STEPS, p=2, b=B, dtype=torch.float64)
assert all(torch.equal(a, b) for a, b in zip(replicas[0].parameters(), replicas[1].parameters()))
_, one_rank = data_parallel_in_the_open(STEPS, p=1, b=2 * B, dtype=torch.float64)
gap64 = (two_ranks[-1] - one_rank[-1]).abs().max().item()
assert gap64 < 1e-8, gap64
print(f"{STEPS} steps: 2 replicas stay identical; vs one model with batch {2 * B}: max difference {gap64:.1e}")

# %% [markdown]
# Now the library's version, for real: `python -m aigc_course.distributed` trains the same GPT under
# `torchrun`, two processes talking through gloo, rank 0 writing the checkpoint. Same seed, same data, same
# steps: its weights must equal the replicas' above.

# %%
args = ["--steps", str(STEPS), "--batch-size", str(B), "--chars", "30000", "--dtype", "float64",
        "--checkpoint", str(WORK / "ddp.pt"), "--out", str(WORK / "ddp.json")]
seconds = launch("aigc_course.distributed", *args, nproc=2)

real = read_checkpoint(WORK / "ddp.pt")["modules"]["model"]
ours = replicas[0].state_dict()
gap_real = max((real[k] - ours[k]).abs().max().item() for k in ours)
assert gap_real < 1e-8, gap_real
print(f"torchrun, 2 processes ({seconds:.1f} s with start-up): max difference to the replicas {gap_real:.1e}")

# %% [markdown]
# **"The same" in float32.** In float64 the runs agree to about $10^{-11}$. In float32 they do not stay that
# close: averaging two half-batch gradients rounds differently from one whole-batch gradient (a difference of
# about $10^{-7}$), and training amplifies differences, step after step. This is not a bug of DDP: any change
# of summation order — another batch size, another GPU, another library version — does the same. Compare runs
# by their losses and evaluation, not their bits.

# %%
_, two32 = data_parallel_in_the_open(STEPS, p=2, b=B, dtype=torch.float32)
_, one32 = data_parallel_in_the_open(STEPS, p=1, b=2 * B, dtype=torch.float32)
gaps = {name: [(a - b).abs().max().item() for a, b in zip(x, y)]
        for name, (x, y) in {"float32": (two32, one32), "float64": (two_ranks, one_rank)}.items()}
assert gaps["float32"][-1] > 100 * max(gaps["float64"][-1], 1e-15)
fig = new_figure(5.5, 3.2)
ax = fig.add_subplot()
for name, values in gaps.items():
    ax.semilogy(range(1, STEPS + 1), [max(v, 1e-17) for v in values], marker=".", label=name)
ax.set(xlabel="training step", ylabel="max |θ(2 ranks, B) − θ(1 rank, 2B)|",
       title="Data parallelism is exact up to rounding")
ax.legend()
fig

# %% [markdown]
# ## 3. What the all-reduce costs
#
# An all-reduce leaves on every rank the sum of every rank's vector of $N$ numbers. The ring algorithm
# (Patarasuk & Yuan, 2009; one of NCCL's and gloo's algorithms) cuts each vector into $p$ chunks and passes chunks around a
# ring of ranks: in $p-1$ rounds of *reduce-scatter* each rank adds the chunk it receives to its own, after
# which rank $r$ holds the complete sum of one chunk; in $p-1$ rounds of *all-gather* those finished chunks go
# round the ring. Each round sends one chunk, $N/p$ numbers of $b$ bytes, so each rank sends
#
# $$\text{bytes sent per rank} \;=\; 2\,(p-1)\,\frac{N}{p}\,b \;=\; 2\,\frac{p-1}{p}\,N\,b \tag{15.2}$$
#
# — nearly $2Nb$ however many ranks there are: the ring's total bandwidth grows with $p$. Build it in the open
# and count what it sends:

# %%
def ring_all_reduce(vectors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int]]:
    """Sum ``vectors`` (one per rank) around a ring; every rank's result and the numbers each rank sent."""
    p = len(vectors)
    chunks = [list(v.clone().chunk(p)) for v in vectors]           # chunks[r][c]: rank r's copy of chunk c
    sent = [0] * p
    for phase in ("reduce-scatter", "all-gather"):
        for s in range(p - 1):
            # rank r sends one chunk to rank r + 1: the chunk it just completed (or received) in this phase
            messages = [(r, (r - s + (phase == "all-gather")) % p) for r in range(p)]
            payloads = [chunks[r][c].clone() for r, c in messages]
            for (r, c), payload in zip(messages, payloads):
                dst = (r + 1) % p
                chunks[dst][c] = chunks[dst][c] + payload if phase == "reduce-scatter" else payload
                sent[r] += payload.numel()
    return [torch.cat(c) for c in chunks], sent


# check (15.2)
for p in (2, 3, 4, 8):
    n = 24 * p
    vectors = [torch.randn(n, dtype=torch.float64) for _ in range(p)]
    results, sent = ring_all_reduce(vectors)
    assert all(torch.allclose(res, sum(vectors)) for res in results), p
    assert all(count * 8 == 2 * (p - 1) / p * n * 8 for count in sent), (p, sent)
print("ring all-reduce: correct sums; each rank sends 2(p−1)/p · N numbers, for p = 2, 3, 4, 8")

# %% [markdown]
# Time is latency plus bandwidth: roughly $2(p-1)\,\alpha + 2\frac{p-1}{p}\frac{Nb}{\beta}$ for a per-message
# latency $\alpha$ and a link bandwidth $\beta$. Between processes of one CPU, "the link" is memory and the
# cores are shared with the computation; between GPUs it is NVLink (hundreds of GB/s) or a network
# (InfiniBand, 25–50 GB/s), which is why the gradient all-reduce can cost more across machines than the
# whole backward pass on each.
#
# Measure it here: the course's GPT (`tiny` preset, 0.2 M parameters), batch 8 windows *per process*
# (weak scaling: more processes, more examples per step), each process on one thread. Two cores here, so
# beyond two processes they compete for the same cores.

# %%
PROCS = budget(full=[1, 2, 4], fast=[1, 2], workshop=[1, 2])
SCALE_STEPS = budget(full=150, fast=10, workshop=60)
rows = []
for p in PROCS:
    out = WORK / f"scale{p}.json"
    launch("aigc_course.distributed", "--steps", str(SCALE_STEPS), "--batch-size", "8", "--preset", "tiny",
           "--chars", "30000", "--time-all-reduce", "--out", str(out), nproc=p)
    r = json.loads(out.read_text())
    step_s = r["seconds"] / r["steps"]
    tokens_s = p * 8 * GPTConfig.tiny().block_size / step_s
    reduce_s = r["all_reduce_seconds"] or 0.0
    rows.append((p, step_s, tokens_s, reduce_s))
    print(f"{p} process(es): {1000 * step_s:6.1f} ms/step, {tokens_s:8.0f} tokens/s, "
          f"all-reduce of {r['parameters']:,} gradients {1000 * reduce_s:5.2f} ms ({reduce_s / step_s:5.1%} of a step)")
print("load average while measuring:", os.getloadavg())

fig = new_figure(7.0, 3.0)
ax1, ax2 = fig.subplots(1, 2)
ax1.bar([str(r[0]) for r in rows], [r[2] for r in rows], color="tab:blue")
ax1.set(xlabel="processes", ylabel="tokens / s", title="Throughput (weak scaling)")
ax2.bar([str(r[0]) for r in rows], [1000 * r[1] for r in rows], color="tab:gray", label="step")
ax2.bar([str(r[0]) for r in rows], [1000 * r[3] for r in rows], color="tab:red", label="all-reduce")
ax2.set(xlabel="processes", ylabel="ms", title="Step time and its all-reduce")
ax2.legend()
fig

# %% [markdown]
# Read your own numbers: on two cores, two processes should process more tokens per second than one (each has
# a core), and four should not (they share two). The all-reduce of 0.2 M gradients takes a small share of a
# step here; the share grows with the model and with a slower link, which is the case for the next section's
# methods, and for overlapping communication with the backward pass (DDP all-reduces gradients in "buckets"
# while backward is still running).

# %% [markdown]
# ## 4. Memory: what a device must hold, and what sharding divides
#
# Training with Adam keeps, for each of the $\Psi$ parameters, the weight, its gradient and Adam's two moments.
# In mixed precision (16-bit weights and gradients for the arithmetic, fp32 master weights for the update) that
# is $2 + 2 + (4 + 4 + 4)$ bytes; in plain fp32, $4 + 4 + (4 + 4)$. Either way
#
# $$M_{\text{DP}} \;=\; K\,\Psi, \qquad K = 16 \text{ bytes per parameter} \tag{15.3}$$
#
# on *every* device under data parallelism — before any activation. Count what PyTorch really holds, in
# fp32 and in mixed precision (bf16 copy for forward/backward, fp32 master with AdamW):

# %%
# check (15.3)
torch.manual_seed(0)
gpt = GPT(GPTConfig.tiny(vocab_size=96))
psi = sum(q.numel() for q in gpt.parameters())
opt = torch.optim.AdamW(gpt.parameters(), lr=1e-3)
idx = torch.randint(0, 96, (2, 64))
gpt(idx, idx)[1].backward()
opt.step()
fp32 = measure(gpt, opt)
assert sum(fp32.values()) == 16 * psi == training_bytes(psi, 0, 1, Precision.fp32()), fp32

master = copy.deepcopy(gpt)                                     # fp32 master weights, updated by AdamW
low = copy.deepcopy(gpt).to(torch.bfloat16)                     # what forward and backward use
master_opt = torch.optim.AdamW(master.parameters(), lr=1e-3)
low(idx, idx)[1].backward()
for q32, q16 in zip(master.parameters(), low.parameters()):
    q32.grad = q16.grad.float()                                 # gradients reach the master in fp32
master_opt.step()
mixed = measure(low, master_opt)                                # bf16 weights + bf16 grads + Adam moments
mixed_total = mixed["weights"] + mixed["grads"] + mixed["optimizer"] + measure(master, master_opt)["weights"]
assert mixed_total == 16 * psi == training_bytes(psi), (mixed_total, psi)
print(f"Ψ = {psi:,}: fp32 {fp32}; mixed precision {mixed_total:,} bytes = 16 Ψ")

# %% [markdown]
# ZeRO (Rajbhandari et al., 2020) notices that data parallelism stores $N_d$ identical copies of all of this,
# and shards it instead: each of the $N_d$ ranks keeps $1/N_d$ of the optimizer state (stage 1), also of the
# gradients (stage 2: each rank only needs the averaged gradient of *its* shard — a reduce-scatter instead of
# an all-reduce), and also of the weights (stage 3, which PyTorch calls FSDP: a layer's weights are
# all-gathered just before it runs and freed after). With $w$, $g$, $o$ the bytes per parameter of weights,
# gradients and optimizer state ($2, 2, 12$ in mixed precision):
#
# $$M_1 = (w+g)\,\Psi + \frac{o\,\Psi}{N_d},\qquad M_2 = w\,\Psi + \frac{(g+o)\,\Psi}{N_d},\qquad
#   M_3 = \frac{(w+g+o)\,\Psi}{N_d} \tag{15.4}$$
#
# Stage 3 costs communication: an all-gather of the weights in forward and again in backward, plus the
# reduce-scatter — about 1.5 times plain DDP's traffic. Check $M_3$ for real: FSDP's `fully_shard` on two
# processes (gloo), one AdamW step, and each rank counts the bytes it holds.

# %%
launch("aigc_course.zero", "--preset", "tiny", "--out", str(WORK / "fsdp"), nproc=2)
ranks = [json.loads((WORK / f"fsdp.rank{r}.json").read_text()) for r in range(2)]
# check (15.4)
for r in ranks:
    held = r["weights"] + r["grads"] + r["optimizer"]
    expected = training_bytes(r["n_params"], 3, 2, Precision.fp32())
    assert abs(held - expected) <= 0.01 * expected, (held, expected)     # shards are padded to equal sizes
    assert held < 0.51 * training_bytes(r["n_params"], 0, 1, Precision.fp32())
print("FSDP on 2 processes, bytes held per rank:", [r["weights"] + r["grads"] + r["optimizer"] for r in ranks],
      f"= 16 Ψ / 2 = {training_bytes(ranks[0]['n_params'], 3, 2, Precision.fp32()):,.0f}")

# %% [markdown]
# The arithmetic for real models. The course's `small` GPT has about 2.7 M parameters; GPT-2 "124M" (Radford et
# al., 2019: 12 layers, 12 heads, width 768, context 1024, vocabulary 50,257, tied embeddings) has 124,439,808 —
# the library's parameter formula (chapter 07) must give that published count.

# %%
gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
assert parameter_count(gpt2) == 124_439_808
models = {"course GPT (small)": parameter_count(GPTConfig.small(vocab_size=96)),
          "GPT-2 124M": parameter_count(gpt2), "a 7B model": 7_000_000_000}
GiB = 2**30
print(f"{'model':22s} {'Ψ':>14s} | {'DP':>9s} | ZeRO-1/2/3 on 8 devices | ZeRO-3 on 64")
for name, n in models.items():
    stages = [training_bytes(n, s, 8) / GiB for s in (1, 2, 3)]
    print(f"{name:22s} {n:14,d} | {training_bytes(n) / GiB:7.2f} G | "
          + " / ".join(f"{v:7.2f} G" for v in stages) + f" | {training_bytes(n, 3, 64) / GiB:6.2f} G")

# %% [markdown]
# GPT-2 124M needs about 1.9 GiB of training state: any modern GPU holds it, and data parallelism (DDP) is
# the right tool — sharding would only add communication. A 7-billion-parameter model needs 104 GiB per device
# under DDP, more than an 80 GB GPU, before activations; ZeRO-3 / FSDP over 8 GPUs brings it to 13 GiB.
# Activations come on top and are not divided by sharding (they scale with batch × sequence × width × layers;
# activation checkpointing trades them for recomputation).

# %% [markdown]
# ## 5. The commands
#
# The same script runs on one CPU, several GPUs of one machine, or several machines; only the launch changes.
# `torchrun` starts the processes, gives each its `RANK`, `LOCAL_RANK` and `WORLD_SIZE`, and `setup()` picks
# `nccl` when there are GPUs (one per process) and `gloo` otherwise.

# %%
train_args = ["--preset", "small", "--steps", "5000", "--batch-size", "32", "--checkpoint", "ckpt.pt",
              "--checkpoint-every", "250", "--resume"]
one_machine = D.torchrun_command("aigc_course.distributed", *train_args, nproc_per_node=8, module=True)
two_machines = D.torchrun_command("aigc_course.distributed", *train_args, nproc_per_node=8, nnodes=2,
                                  rdzv_endpoint="node0.example.org:29400", module=True)
assert one_machine[:3] == ["torchrun", "--nproc_per_node=8", "--standalone"]
assert "--rdzv_endpoint=node0.example.org:29400" in two_machines and "--nnodes=2" in two_machines
print("one machine, 8 GPUs:\n   ", " ".join(one_machine))
print("two machines, 8 GPUs each (run the same line on both):\n   ", " ".join(two_machines))

# %% [markdown]
# - The global batch is `nproc_per_node × nnodes × --batch-size` windows: scale the learning rate (or its
#   warm-up) when you scale it (Goyal et al., 2017).
# - Rank 0 alone writes `ckpt.pt`, shows the progress bar and evaluates; `--resume` makes every rank load it.
#   Ctrl-C (which `torchrun` passes on to every process) is held until the next step boundary, so the file
#   always matches the weights it claims (`tests/test_distributed.py` interrupts a 2-process run and checks
#   that the resumed run ends with the same weights as one never interrupted).
# - A process that dies stops the job: `torchrun` ends the others on its machine, and ranks on other machines
#   fail in their next all-reduce (after `setup(timeout_s=...)`). Run the same command again and it resumes
#   from the last checkpoint; `torchrun --max-restarts=3` does that by itself.

# %% [markdown]
# ## 6. Exercises

# %% [markdown]
# **Exercise 1.** Write `ring_traffic(p, n_values, bytes_per_value)`: the bytes one rank sends in a ring
# all-reduce of `n_values` numbers over `p` ranks (eq. 15.2).

# %% tags=["exercise"]
from aigc_course.exercises import ch15


def ring_traffic(p, n_values, bytes_per_value):
    # YOUR CODE: bytes one rank sends, reduce-scatter and all-gather together
    raise NotImplementedError


ch15.ring_traffic(ring_traffic)

# %% [markdown]
# **Exercise 2.** Write `zero_bytes(n_params, stage, n_devices)`: the bytes of training state per device with
# mixed-precision Adam (2 + 2 + 12 bytes per parameter) under ZeRO stage 0 (plain DDP), 1, 2 or 3 (eq. 15.4).

# %% tags=["exercise"]
from aigc_course.exercises import ch15


def zero_bytes(n_params, stage, n_devices):
    # YOUR CODE: which of weights (2), gradients (2) and optimizer state (12 bytes) are divided by n_devices?
    raise NotImplementedError


ch15.zero_bytes(zero_bytes)

# %% [markdown]
# **Exercise 3.** Write `shard(global_batch, rank, world_size)`: rank `rank`'s share of a global batch, as
# `ShardedBatches` cuts it — equal, contiguous slices, rank 0's first.

# %% tags=["exercise"]
from aigc_course.exercises import ch15


def shard(global_batch, rank, world_size):
    # YOUR CODE: global_batch is a 1-D tensor whose length world_size divides
    raise NotImplementedError


ch15.shard(shard)

# %% [markdown]
# ## What a full run reached
#
# Full mode (`AIGC_MODE=full`) on the course's 2-core CPU, load average 2.7 (a test run beside it), 74 s for
# the whole notebook:
# - (15.1): the average of 2 shard gradients equals the whole-batch gradient to 2.8e-17 (float64);
# - DDP built in the open, 40 steps: the 2 replicas stay identical and match one model with batch 32 to 1.6e-11;
#   real `torchrun` with 2 processes (6.4 s with start-up) matches them to 1.7e-11;
# - step time for 1 / 2 / 4 processes on 2 cores: 15.5 / 37.9 / 72.7 ms, 33.0k / 27.0k / 28.2k tokens/s; the
#   all-reduce of 209,984 gradients took 0.01 / 0.48 / 9.34 ms (0.1 % / 1.3 % / 12.8 % of a step) — more
#   processes than cores only adds overhead here;
# - (15.3): Ψ = 210,304 parameters hold 3,364,864 bytes = 16 Ψ in mixed precision; (15.4): FSDP on 2 processes
#   holds 1,682,432 bytes = 16 Ψ / 2 per rank;
# - GPT-2 124M: 1.85 GB per device with plain data parallelism, 0.23 GB with ZeRO-3 on 8 devices.

# %% [markdown]
# ## Summary
# - Data parallelism: p processes, each a full model copy and its own shard of the batch; the all-reduced
#   (averaged) gradient is the gradient of the whole batch (eq. 15.1), so the copies stay identical — checked
#   here against real 2-process `torchrun` runs to $10^{-8}$ in float64. In float32, rounding differences
#   grow during training: compare runs by loss, not bits.
# - A ring all-reduce sends $2\frac{p-1}{p}Nb$ bytes per rank (eq. 15.2), nearly independent of p; its time is
#   latency + bandwidth, measured above on this machine.
# - Adam's training state is 16 bytes per parameter (eq. 15.3) on every device under DDP; ZeRO stages 1–3 /
#   FSDP divide optimizer state, gradients and weights by the number of devices (eq. 15.4), for more
#   communication. GPT-2 124M: 1.9 GiB, DDP is enough; 7B: 104 GiB, shard it.
#
# **Pitfalls**
# - Unequal shards (the last batch of an epoch) or dropout masks that differ silently break eq. 15.1.
# - Summing gradients instead of averaging multiplies the learning rate by p.
# - Every rank saving the checkpoint (p writers of one file) or printing progress; every rank must *load* it.
# - Two processes per GPU with nccl fail: one process per device (`--nproc_per_node` ≤ number of GPUs).
# - On a CPU, p processes × `OMP_NUM_THREADS` threads beyond the number of cores is slower, not faster.
#
# **Further reading**
# - Li et al., *PyTorch Distributed: Experiences on Accelerating Data Parallel Training* (VLDB 2020).
# - Rajbhandari, Rasley, Ruwase & He, *ZeRO: Memory Optimizations Toward Training Trillion Parameter Models* (SC 2020).
# - Zhao et al., *PyTorch FSDP: Experiences on Scaling Fully Sharded Data Parallel* (VLDB 2023).
# - Patarasuk & Yuan, *Bandwidth Optimal All-reduce Algorithms for Clusters of Workstations* (JPDC 2009).
# - Goyal et al., *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour* (2017).
# - Korthikanti et al., *Reducing Activation Recomputation in Large Transformer Models* (2022).
