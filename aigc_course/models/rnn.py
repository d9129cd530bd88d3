"""An LSTM language model (chapter 08): a recurrent state carries the whole past, not a fixed window.

The LSTM cell (Hochreiter & Schmidhuber, 1997; with the forget gate of Gers et al., 2000), for input x_t
and previous state (h_{t−1}, c_{t−1}):

    i_t = σ(W_i x_t + U_i h_{t−1} + b_i)        input gate
    f_t = σ(W_f x_t + U_f h_{t−1} + b_f)        forget gate
    g_t = tanh(W_g x_t + U_g h_{t−1} + b_g)     candidate
    o_t = σ(W_o x_t + U_o h_{t−1} + b_o)        output gate
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t             cell: additive, so gradients survive many steps
    h_t = o_t ⊙ tanh(c_t)

:func:`lstm_cell` writes this out; :class:`LSTMLM` uses ``torch.nn.LSTM`` (the same equations, fused and
fast), and the tests check that both agree. Output: P(x_{t+1} | x_{≤t}) = softmax(W_out h_t + b_out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aigc_course.models.mlp_lm import lm_loss
from aigc_course.validation import check_fields, dropout_rate, positive_ints


@dataclass
class LSTMConfig:
    vocab_size: int
    n_embd: int = 64                 # size of the token embedding fed to the first layer
    n_hidden: int = 256              # size of h_t and c_t in every layer
    n_layers: int = 2                # stacked LSTM layers: layer l reads the h_t of layer l − 1
    dropout: float = 0.0             # between layers and before the output layer

    def __post_init__(self) -> None:
        positive_ints(self, "vocab_size", "n_embd", "n_hidden", "n_layers")
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        dropout_rate(self.dropout)

    @classmethod
    def tiny(cls, **overrides) -> LSTMConfig:
        return cls(**{"vocab_size": 11, "n_embd": 8, "n_hidden": 16, "n_layers": 1, **overrides})


State = tuple[Tensor, Tensor]


def lstm_cell(x: Tensor, state: State, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> State:
    """One LSTM step, written out: x (B, D), h and c (B, H); weights stacked as in torch (gates i, f, g, o).

    Returns (h_t, c_t), each (B, H).
    """
    h, c = state
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh                         # (B, D)@(D, 4H) + (B, H)@(H, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)                                   # 4 × (B, H)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)           # c_t = f ⊙ c + i ⊙ g
    h = torch.sigmoid(o) * torch.tanh(c)                                  # h_t = o ⊙ tanh(c_t)
    return h, c


class LSTMLM(nn.Module):
    """Embedding → stacked LSTM → linear: (B, T) ids -> (logits (B, T, V), loss or None)."""

    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.lstm = nn.LSTM(cfg.n_embd, cfg.n_hidden, cfg.n_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.n_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.n_hidden, cfg.vocab_size)

    def forward(self, idx: Tensor, targets: Tensor | None = None,
                state: State | None = None) -> tuple[Tensor, Tensor | None]:
        """Run over the whole sequence from ``state`` (zeros when None); the final state is kept in
        ``self.last_state`` for a caller that wants to continue (truncated back-propagation through time)."""
        x = self.embed(idx)                                               # (B, T, E)
        h, last = self.lstm(x, state)                                     # (B, T, H); ((L, B, H), (L, B, H))
        self.last_state = (last[0].detach(), last[1].detach())
        logits = self.out(self.drop(h))                                   # (B, T, V)
        return logits, (lm_loss(logits, targets) if targets is not None else None)

    def unrolled(self, idx: Tensor) -> Tensor:
        """The same logits as ``forward``, step by step with :func:`lstm_cell` (slow; for checking)."""
        B, T = idx.shape
        x = self.embed(idx)                                               # (B, T, E)
        for layer in range(self.cfg.n_layers):
            w = [getattr(self.lstm, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            state = (x.new_zeros(B, self.cfg.n_hidden), x.new_zeros(B, self.cfg.n_hidden))
            outs = []
            for t in range(T):
                state = lstm_cell(x[:, t], state, *w)
                outs.append(state[0])
            x = torch.stack(outs, dim=1)                                  # (B, T, H)
        return self.out(x)                                                # (B, T, V)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
