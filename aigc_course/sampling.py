"""Decoding: how a language model's next-token distribution becomes text (chapter 08).

Every strategy is a small function on logits ``(..., V)``; :func:`generate` is one loop that applies them
to any model that maps token ids ``(B, T)`` to logits ``(B, T, V)`` (a GPT, an LSTM, an MLP, an n-gram:
a ``(logits, loss)`` tuple is accepted too). :func:`beam_search` keeps the ``W`` best partial sequences
instead of drawing one. The last section measures samples: diversity (distinct n-grams), quality (the
sample's loss under a model) and memorisation (the longest stretch copied from the training text).

Notation (chapter 08): ``z`` are logits, ``p = softmax(z)``, ``τ`` the temperature, ``V`` the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from aigc_course.validation import check_bool, check_float, check_int, check_tensor

ModelFn = Callable[[Tensor], "Tensor | tuple[Tensor, ...]"]


# ---------------------------------------------------------------------------------------------------------
# Validation: one clear message per bad setting.
# ---------------------------------------------------------------------------------------------------------

def check_temperature(temperature: float) -> None:
    check_float("temperature", temperature, 0, low_open=True, hint=" (use greedy=True for the τ → 0 limit)")


def check_top_k(top_k: int | None, vocab_size: int | None = None) -> None:
    """top_k is None (no filtering) or an int in 1..V: one rule for :func:`generate` and ``GPT.generate``.

    (:func:`top_k_filter` itself, a filter on any logits, keeps everything when k ≥ V.)"""
    if vocab_size is None:
        check_int("top_k", top_k, 1, none_ok=True, hint=" (no filtering)")
    else:
        check_int("top_k", top_k, 1, vocab_size, none_ok=True, hint=f" (1..{vocab_size}, the vocabulary size)")


def check_top_p(top_p: float | None) -> None:
    check_float("top_p", top_p, 0, 1, low_open=True, none_ok=True, hint=" (no filtering)")


def check_repetition_penalty(penalty: float) -> None:
    check_float("repetition_penalty", penalty, 0, low_open=True, hint=" (1.0 = off, > 1 discourages repeats)")


# ---------------------------------------------------------------------------------------------------------
# Strategies on logits (..., V).
# ---------------------------------------------------------------------------------------------------------

def greedy(logits: Tensor) -> Tensor:
    """Greedy decoding: x = argmax_v z_v. (..., V) -> (...)."""
    return logits.argmax(dim=-1)


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Temperature: p_v(τ) = exp(z_v / τ) / Σ_u exp(z_u / τ). τ < 1 sharpens, τ > 1 flattens, τ → 0 is
    greedy, τ → ∞ uniform. Returns the scaled logits z / τ."""
    check_temperature(temperature)
    return logits / temperature


def top_k_filter(logits: Tensor, k: int | None) -> Tensor:
    """Top-k (Fan et al., 2018): keep the k largest logits, set the rest to −∞, so that
    p'_v = p_v / Σ_{u ∈ K} p_u for v in the top-k set K and 0 elsewhere. Exactly k survive, ties included."""
    check_top_k(k)
    if k is None or k >= logits.shape[-1]:
        return logits
    idx = logits.topk(k, dim=-1).indices                                   # (..., k)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)
    return logits.masked_fill(~keep, float("-inf"))


def top_p_filter(logits: Tensor, p: float | None) -> Tensor:
    """Top-p / nucleus (Holtzman et al., 2020): keep the smallest set S of most likely tokens with
    Σ_{v ∈ S} p_v ≥ p, renormalise within S. A token is kept when the mass *before* it (in descending
    order) is still below p, so the most likely token always survives."""
    check_top_p(p)
    if p is None or p >= 1:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)            # (..., V) each
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs                             # (..., V): Σ of the better ones
    keep_sorted = mass_before < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)   # back to vocabulary order
    return logits.masked_fill(~keep, float("-inf"))


def apply_repetition_penalty(logits: Tensor, previous: Tensor, penalty: float) -> Tensor:
    """Repetition penalty (Keskar et al., 2019, CTRL): for every token v already in ``previous`` (B, T),
    z_v ← z_v / θ if z_v > 0 else z_v · θ. θ > 1 makes repeats less likely, θ = 1 does nothing.
    ``logits`` is (B, V)."""
    check_repetition_penalty(penalty)
    if penalty == 1.0 or previous.numel() == 0:
        return logits
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, previous, True)   # (B, V)
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def filtered_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                    top_p: float | None = None) -> Tensor:
    """Temperature first, then top-k, then top-p: the distribution :func:`sample_next` draws from."""
    return top_p_filter(top_k_filter(apply_temperature(logits, temperature), top_k), top_p)


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """Draw one token per row from the filtered distribution: (B, V) -> (B,)."""
    probs = filtered_logits(logits, temperature, top_k, top_p).float().softmax(dim=-1)   # (B, V)
    if generator is not None and generator.device != probs.device:   # e.g. a CPU generator, a GPU model
        return torch.multinomial(probs.to(generator.device), 1, generator=generator).squeeze(-1).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


# ---------------------------------------------------------------------------------------------------------
# The loops.
# ---------------------------------------------------------------------------------------------------------

def model_logits(out: Tensor | tuple[Tensor, ...]) -> Tensor:
    """The logits of a model function's output: the course's models return ``(logits, loss)``, plain
    functions the logits alone."""
    return out[0] if isinstance(out, tuple) else out


def _last_logits(model_fn: ModelFn, ids: Tensor, block_size: int | None) -> Tensor:
    context = ids if block_size is None else ids[:, -block_size:]          # (B, T') the model can see
    logits = model_logits(model_fn(context))                               # (B, T', V)
    return logits[:, -1, :].float()                                        # (B, V)


def _as_batch(prompt_ids: Tensor | Sequence[int], name: str = "prompt_ids") -> Tensor:
    ids = prompt_ids if isinstance(prompt_ids, Tensor) else torch.as_tensor(prompt_ids)
    if ids.numel() > 0:  # an empty list comes out as float: the emptiness check below names it
        check_tensor(name, ids, kind="int")  # 1.7 is not a token id (as_tensor(dtype=long) would make it 1)
    ids = ids.long()
    ids = ids[None] if ids.dim() == 1 else ids                             # (T,) -> (1, T)
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (T,) or (B, T) tensor of ids, got shape "
                         f"{tuple(ids.shape)}")
    if int(ids.min()) < 0:
        raise ValueError(f"{name} must hold token ids >= 0, got {int(ids.min())}")
    return ids


def _model_block_size(model_fn: ModelFn, block_size: int | None) -> int | None:
    """The context to crop to: ``block_size`` if given, else the model's own (a GPT's ``cfg.block_size``)."""
    if block_size is not None:
        return check_int("block_size", block_size, 1)
    own = getattr(getattr(model_fn, "cfg", None), "block_size", None)
    return own if isinstance(own, int) else None


@torch.no_grad()
def generate(model_fn: ModelFn, prompt_ids: Tensor | Sequence[int], max_new_tokens: int, *,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             repetition_penalty: float = 1.0, greedy: bool = False, block_size: int | None = None,
             generator: torch.Generator | None = None) -> Tensor:
    """Autoregressive decoding: x_{t+1} ~ q(· | x_{≤t}), one token at a time, for ``max_new_tokens`` steps.

    ``model_fn`` maps (B, T) ids to (B, T, V) logits (or a tuple whose first item is that). q is the model's
    distribution after the repetition penalty, then temperature, top-k and top-p; ``greedy=True`` takes the
    argmax instead of drawing. ``block_size`` crops the context to the last tokens a model can see
    (default: the model's own ``cfg.block_size`` when it has one, so a GPT never sees too long a context).
    ``top_k`` must be in 1..V. Returns (B, T + max_new_tokens): the prompt followed by the new tokens.
    """
    check_temperature(temperature)
    check_top_k(top_k)
    check_top_p(top_p)
    check_repetition_penalty(repetition_penalty)
    check_bool("greedy", greedy)
    check_int("max_new_tokens", max_new_tokens, 0)
    ids = _as_batch(prompt_ids)
    block_size = _model_block_size(model_fn, block_size)
    for step in range(max_new_tokens):
        logits = _last_logits(model_fn, ids, block_size)                   # (B, V)
        if step == 0:
            check_top_k(top_k, logits.shape[-1])
        logits = apply_repetition_penalty(logits, ids, repetition_penalty)
        nxt = logits.argmax(-1) if greedy else sample_next(logits, temperature, top_k, top_p, generator)
        ids = torch.cat([ids, nxt[:, None].to(ids.device)], dim=1)         # (B, T + 1)
    return ids


@torch.no_grad()
def beam_search(model_fn: ModelFn, prompt_ids: Tensor | Sequence[int], max_new_tokens: int,
                beam_width: int = 4, block_size: int | None = None) -> tuple[Tensor, float]:
    """Beam search: keep the W partial sequences with the highest log-probability
    log q(y) = Σ_t log p(y_t | x, y_{<t}); at each step extend each by every token and keep the best W of
    the W·V candidates. W = 1 is greedy decoding. Returns the best sequence (T + max_new_tokens,) and its
    log-probability (of the new tokens, in nats). Fixed length, so no length normalisation is needed."""
    check_int("beam_width", beam_width, 1)
    check_int("max_new_tokens", max_new_tokens, 0)
    ids = _as_batch(prompt_ids)
    block_size = _model_block_size(model_fn, block_size)
    if ids.shape[0] != 1:
        raise ValueError(f"beam_search decodes one prompt at a time, got a batch of {ids.shape[0]}")
    scores = torch.zeros(1, dtype=torch.float64)                           # (W,) log q of each beam
    for _ in range(max_new_tokens):
        logp = _last_logits(model_fn, ids, block_size).log_softmax(-1).double()   # (W, V)
        total = (scores[:, None] + logp).flatten()                         # (W·V,) candidate scores
        scores, flat = total.topk(min(beam_width, total.numel()))          # (W,) best candidates
        beam, token = flat // logp.shape[1], flat % logp.shape[1]
        ids = torch.cat([ids[beam], token[:, None].to(ids.device)], dim=1)   # (W, T + 1)
    return ids[0], float(scores[0])


# ---------------------------------------------------------------------------------------------------------
# Measuring samples: quality, diversity, memorisation.
# ---------------------------------------------------------------------------------------------------------

@torch.no_grad()
def sequence_nll(model_fn: ModelFn, ids: Tensor | Sequence[int], start: int = 1,
                 block_size: int | None = None) -> float:
    """Mean NLL (nats/token) of tokens ``ids[..., start:]`` given what precedes them, under ``model_fn``:
    −1/(B(T−s)) Σ_b Σ_{t ≥ s} log p(x_t | x_{<t}).

    With ``block_size`` the targets are scored in chunks of block_size/2, each under a window of the last
    ``block_size`` tokens, so every token sees at least half a block of context (a strided evaluation).
    """
    ids = _as_batch(ids, "ids")
    T = ids.shape[1]
    check_int("start", start)
    if not 1 <= start < T:
        raise ValueError(f"start must be in 1..{T - 1} for a sequence of {T} tokens, got {start}")
    window = T if block_size is None else block_size
    stride = window if block_size is None else max(1, window // 2)
    total, count = 0.0, 0
    for a in range(start, T, stride):                                      # targets a .. b-1
        b = min(a + stride, T)
        lo = max(0, b - 1 - window)                                        # inputs lo .. b-2
        logits = model_logits(model_fn(ids[:, lo:b - 1])).float()          # (B, b-1-lo, V)
        nll = F.cross_entropy(logits.transpose(1, 2), ids[:, lo + 1:b], reduction="none")   # (B, b-1-lo)
        part = nll[:, a - lo - 1:]                                         # only the targets of this chunk
        total, count = total + float(part.sum()), count + part.numel()
    return total / count


def distinct_n(sequences: Sequence, n: int) -> float:
    """Diversity (Li et al., 2016): distinct-n = |unique n-grams| / |n-grams|, for one sequence (a string, a
    list of ids, a 1-D tensor) or a list of them, pooled. 1 means no n-gram repeats; a loop drives it to 0."""
    check_int("n", n, 1)
    single = isinstance(sequences, (str, Tensor)) or (len(sequences) > 0 and isinstance(sequences[0], int))
    grams = []
    for seq in [sequences] if single else sequences:
        seq = seq.tolist() if isinstance(seq, Tensor) else seq
        grams += [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def longest_copied_substring(sample: str, corpus: str) -> str:
    """Memorisation: the longest substring of ``sample`` that occurs verbatim in ``corpus``.

    Two pointers: if sample[i:j] is in the corpus so is sample[i+1:j], so j never moves back and there are
    at most 2·len(sample) substring searches.
    """
    best, j = "", 0
    for i in range(len(sample)):
        j = max(j, i)
        while j < len(sample) and sample[i:j + 1] in corpus:
            j += 1
        if j - i > len(best):
            best = sample[i:j]
    return best
