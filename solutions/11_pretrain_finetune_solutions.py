# %% [markdown]
# # Chapter 11 — worked solutions
#
# Each cell below is an exercise cell of `chapters/11_pretrain_finetune.ipynb` with the answer filled in; the
# checker runs strictly here (a wrong answer raises).

# %% [markdown]
# **Exercise 1 — the masking rule.** Start from the original tokens. Where a position is chosen and its draw is
# below 0.8, put the mask id; where it is chosen and the draw is in [0.8, 0.9), put the random id. Every other
# position — unchosen, or chosen with a draw ≥ 0.9 — keeps its token, so the model must predict a token it
# can see 10 % of the time and cannot trust any input blindly.

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch11


def my_masking(ids, chosen, action, random_ids, mask_id):
    out = torch.where(chosen & (action < 0.8), mask_id, ids)
    return torch.where(chosen & (action >= 0.8) & (action < 0.9), random_ids, out)


ch11.masking_rule(my_masking, strict=True)

# %% [markdown]
# **Exercise 2 — LoRA's forward.** Multiply by $A^\top$ first: $x A^\top$ is (N, r), tiny, and $(xA^\top)B^\top$
# is (N, out). Forming $BA$ (out × in) first gives the same numbers at the cost of a full-size matrix — which
# is what merging does once, after training.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch11


def my_lora_forward(x, W, b, A, B, alpha):
    r = A.shape[0]
    return x @ W.T + b + (alpha / r) * (x @ A.T) @ B.T


ch11.lora_forward(my_lora_forward, strict=True)

# %% [markdown]
# **Exercise 3 — prompt-masked targets.** Input position t predicts `ids[t + 1]`; that target belongs to the
# prompt when `t + 1 < n_prompt`. So the first `n_prompt - 1` targets are ignored, and the position holding the
# *last* prompt token already predicts the first answer token.

# %% tags=["exercise"]
from aigc_course.exercises import ch11


def my_prompt_targets(ids, n_prompt):
    return [-100 if t + 1 < n_prompt else ids[t + 1] for t in range(len(ids) - 1)]


ch11.prompt_targets(my_prompt_targets, strict=True)

# %% [markdown]
# **Exercise 4 — counting LoRA's parameters.** A is r × d_in and B is d_out × r: r (d_in + d_out). For GPT-2's
# `c_attn` (768 → 2304) at rank 8 that is 8 · 3072 = 24,576 per layer, 294,912 for the 12 layers: 0.24 % of
# its 124 M parameters, against 1.77 M for the full 768 × 2304 matrix of one layer.

# %% tags=["exercise"]
from aigc_course.exercises import ch11


def my_lora_parameters(d_in, d_out, r):
    return r * (d_in + d_out)


print(f"GPT-2, rank 8 on c_attn: {12 * my_lora_parameters(768, 2304, 8):,} parameters, "
      f"{12 * my_lora_parameters(768, 2304, 8) / 124_439_808:.2%} of 124,439,808")
ch11.lora_parameters(my_lora_parameters, strict=True)
