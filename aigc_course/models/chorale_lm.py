"""Glue between the course's language models and chorale tokens (chapter 13): scoring, sampling, copying.

Nothing here is a new model: the n-gram, the LSTM and the GPT of chapters 07–08 are trained on the token
stream of :class:`~aigc_course.data.music.ChoraleTokenizer` as they were on characters. This module adds
what music needs on top: NLL per 16th-note step as well as per token, sampling whole chorales, and the
longest stretch of a sample copied from the training pieces.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from aigc_course.data.music import VOICES, Chorale, ChoraleTokenizer
from aigc_course.sampling import ModelFn, generate, longest_copied_substring, sequence_nll


def windows(ids: Tensor, length: int) -> Tensor:
    """Cut a token stream into consecutive, non-overlapping windows of ``length`` + 1 tokens: (N, length + 1)
    (the last, incomplete window is dropped). Every model is scored on the same windows."""
    if not 1 <= length < len(ids) - 1:
        raise ValueError(f"length must be in 1..{len(ids) - 2} for a stream of {len(ids)} tokens, got {length}")
    n = (len(ids) - 1) // (length + 1)
    return ids[: n * (length + 1)].view(n, length + 1)


def window_nll(model_fn: ModelFn, wins: Tensor, batch: int = 64) -> float:
    """Mean NLL (nats/token) of every token of each window but the first, given the tokens before it in
    its window: the measure every rung of the ladder is compared by."""
    total = 0.0
    for start in range(0, len(wins), batch):
        part = wins[start:start + batch]
        total += sequence_nll(model_fn, part) * len(part)
    return total / len(wins)


def nll_per_step(nll_per_token: float, ids: Tensor) -> float:
    """NLL per 16th-note step from NLL per token (eq. 13.3): a step is 4 tokens, and each ``<end>`` adds one token
    per piece, so per step = per token × (tokens / steps)."""
    tokens = len(ids)
    ends = int((ids == ChoraleTokenizer.END).sum())
    return nll_per_token * tokens / ((tokens - ends) / len(VOICES))


@torch.no_grad()
def sample_chorales(model_fn: ModelFn, tokenizer: ChoraleTokenizer, n: int, steps: int, *,
                    temperature: float = 1.0, top_p: float | None = None, block_size: int | None = None,
                    generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> list[Chorale]:
    """Draw ``n`` new chorales of up to ``steps`` 16ths each: every sample starts after an ``<end>`` (the
    start of a piece), is decoded leniently, and stops at the first ``<end>`` it writes."""
    if n < 1 or steps < 1:
        raise ValueError(f"n and steps must be positive, got n={n}, steps={steps}")
    prompt = torch.full((n, 1), tokenizer.END, dtype=torch.long, device=device)
    out = generate(model_fn, prompt, steps * len(VOICES), temperature=temperature, top_p=top_p,
                   block_size=block_size, generator=generator)[:, 1:].cpu()
    pieces = []
    for row in out.tolist():
        first = row.index(tokenizer.END) if tokenizer.END in row else len(row)
        pieces.append(tokenizer.decode(row[:first], strict=False, name="sample"))
    return pieces


def well_formed_share(tokenizer: ChoraleTokenizer, ids: Sequence[int]) -> float:
    """Share of tokens whose voice is the one their position in the step calls for (``<end>`` ends a piece
    and restarts the count): how well a model has learnt the grammar of the encoding."""
    good = total = position = 0
    for token in ids:
        if token == tokenizer.END:
            position = 0
            continue
        voice = tokenizer.cell(token)[0]
        good += voice == position % len(VOICES)
        total += 1
        position += 1
    return good / max(total, 1)


def _as_text(ids: Sequence[int]) -> str:
    return "".join(chr(0x100 + int(i)) for i in ids)


def longest_copy(sample: Chorale, training: Sequence[Chorale], tokenizer: ChoraleTokenizer) -> int:
    """Memorisation (chapter 09's measure): the longest run of whole 16th steps of ``sample`` found verbatim
    in a training piece, in steps. Tokens become characters so that the string search of
    :func:`~aigc_course.sampling.longest_copied_substring` does the work."""
    corpus = "\n".join(_as_text(tokenizer.encode(c, end=False)) for c in training)
    copied = longest_copied_substring(_as_text(tokenizer.encode(sample, end=False)), corpus)
    return len(copied) // len(VOICES)
