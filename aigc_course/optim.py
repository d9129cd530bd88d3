"""AdamW with weight-decay groups, as nanoGPT's ``configure_optimizers`` builds them.

Decoupled weight decay (Loshchilov & Hutter, 2019) shrinks each decayed parameter toward 0 by lr·λ·θ per
step. That is a prior on *matrices*: it keeps the weights that multiply activations small. It is wrong for

- **biases**, which shift a unit's operating point: pulling them to 0 fights the data for nothing;
- **LayerNorm gains** γ, whose neutral value is 1, not 0: decay pulls every γ toward 0, i.e. toward
  switching the normalised stream off.

So, like nanoGPT, every parameter with ``dim() >= 2`` (the weights of Linear and Conv layers, and the
embedding tables) decays and every parameter with ``dim() < 2`` (biases, LayerNorm/BatchNorm gains and
shifts) does not. nanoGPT decays the embeddings too: with tied weights the token table *is* the output
head's matrix. ``decay_embeddings=False`` leaves ``nn.Embedding`` tables undecayed (minGPT's older rule;
a tied table then counts as an embedding and is not decayed either).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from aigc_course.validation import check_bool, check_float


def decay_groups(model: nn.Module, weight_decay: float, decay_embeddings: bool = True) -> list[dict]:
    """Two parameter groups for an optimiser: ``[{"params": decayed, "weight_decay": weight_decay},
    {"params": the rest, "weight_decay": 0.0}]``; a shared (tied) parameter appears once."""
    check_float("weight_decay", weight_decay, 0)
    check_bool("decay_embeddings", decay_embeddings)
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():            # parameters() yields a tied tensor once
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        embedding = id(p) in embedding_ids
        (decay if p.dim() >= 2 and (decay_embeddings or not embedding) else no_decay).append(p)
    return [{"params": decay, "weight_decay": float(weight_decay)},
            {"params": no_decay, "weight_decay": 0.0}]


def adamw(model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.1, betas: Iterable[float] = (0.9, 0.95),
          decay_embeddings: bool = True, fused: bool | None = None) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over :func:`decay_groups` (nanoGPT's defaults: λ = 0.1, β = (0.9, 0.95)).

    ``fused``: the single-kernel CUDA implementation; default: on when every parameter is on a CUDA GPU.
    """
    check_float("lr", lr, 0, low_open=True)
    betas = tuple(float(b) for b in betas)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
    groups = decay_groups(model, weight_decay, decay_embeddings)
    if fused is None:
        params = [p for g in groups for p in g["params"]]
        fused = bool(params) and all(p.device.type == "cuda" for p in params)
    check_bool("fused", fused)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, **({"fused": True} if fused else {}))
