"""A Bengio-style MLP language model (Bengio et al., 2003) — chapter 08, the first neural rung of the ladder.

Each of the previous ``context`` tokens is looked up in an embedding table C, the vectors are concatenated
and passed through a hidden layer:

    e_t = [C(x_{t−k+1}); …; C(x_t)]                 (k · d)
    h_t = tanh(W e_t + b)                            (H)
    z_t = U h_t + c  (+ D e_t with direct connections, as in the paper)    (V)
    P(x_{t+1} | x_{t−k+1} … x_t) = softmax(z_t)

Like an n-gram it sees a fixed window, but similar contexts share statistical strength through the
embeddings instead of being counted separately. Positions before the start of the text see a learned
padding embedding, so ``forward`` maps every position of a (B, T) batch to logits (B, T, V) at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from aigc_course.validation import check_fields, dropout_rate, positive_ints


@dataclass
class MLPLMConfig:
    vocab_size: int
    context: int = 8                 # k: how many previous tokens the model sees
    n_embd: int = 24                 # d: size of each token's embedding
    n_hidden: int = 512              # H: width of the tanh hidden layer
    direct: bool = False             # add the paper's direct connections D e_t from embeddings to logits
    dropout: float = 0.0

    def __post_init__(self) -> None:
        positive_ints(self, "vocab_size", "context", "n_embd", "n_hidden")
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        dropout_rate(self.dropout)

    @classmethod
    def tiny(cls, **overrides) -> MLPLMConfig:
        return cls(**{"vocab_size": 11, "context": 3, "n_embd": 4, "n_hidden": 16, **overrides})


def lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Next-token cross-entropy, mean over all positions: L = −1/(BT) Σ_{b,t} log softmax(z_{b,t})[y_{b,t}]."""
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())   # (B·T, V), (B·T,)


class MLPLM(nn.Module):
    """Fixed-window neural LM: (B, T) ids -> (logits (B, T, V), loss or None)."""

    def __init__(self, cfg: MLPLMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd)        # the last row is the padding token
        self.hidden = nn.Linear(cfg.context * cfg.n_embd, cfg.n_hidden)
        self.out = nn.Linear(cfg.n_hidden, cfg.vocab_size)
        self.direct = nn.Linear(cfg.context * cfg.n_embd, cfg.vocab_size, bias=False) if cfg.direct else None
        self.drop = nn.Dropout(cfg.dropout)

    def windows(self, idx: Tensor) -> Tensor:
        """The k tokens up to and including each position, padded on the left: (B, T) -> (B, T, k)."""
        pad = torch.full((idx.shape[0], self.cfg.context - 1), self.cfg.vocab_size, dtype=idx.dtype,
                         device=idx.device)
        return torch.cat([pad, idx], dim=1).unfold(1, self.cfg.context, 1)   # (B, T + k − 1) -> (B, T, k)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        e = self.embed(self.windows(idx))                                 # (B, T, k, d)
        e = e.flatten(2)                                                  # (B, T, k·d): concatenation
        h = self.drop(torch.tanh(self.hidden(e)))                         # (B, T, H)
        logits = self.out(h)                                              # (B, T, V)
        if self.direct is not None:
            logits = logits + self.direct(e)                              # (B, T, V)
        return logits, (lm_loss(logits, targets) if targets is not None else None)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
