"""How good is a generative model? Likelihood-based measures (here) and sample-based ones (Fréchet distance,
precision/recall, class accuracy) shared by the GAN, VAE, text and evaluation chapters.
"""

from __future__ import annotations

import math

import torch

LN2 = math.log(2.0)


def perplexity(mean_nll_nats: float | torch.Tensor) -> float:
    """Perplexity from the mean negative log-likelihood per token in nats: PPL = exp(NLL)."""
    return float(torch.as_tensor(mean_nll_nats, dtype=torch.float64).exp())


def bits_per_token(mean_nll_nats: float | torch.Tensor) -> float:
    """Mean NLL in bits: bpc = NLL / ln 2 (bits per character for a character model)."""
    return float(torch.as_tensor(mean_nll_nats, dtype=torch.float64) / LN2)
