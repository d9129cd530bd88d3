"""Teaching the chorale GPT a rule of voice leading (chapter 13): no parallel fifths or octaves.

The per-token loss hardly asks for the rule (it concerns one move in a few hundred), so this module makes it
explicit, in two ways that share one definition of what breaks it:

- :func:`completing_counts`: for the token of voice v at step s, which new pitches would complete a
  parallel fifth or octave with a voice u < v already written at that step — computable from the context
  alone, with :func:`~aigc_course.music_metrics.parallel_motion`'s definition of a move;
- **learnt**: :func:`unlikelihood_loss` (Welleck et al., 2019) adds λ · Σ_{c ∈ C_t} −log(1 − p_θ(c | x_<t))
  to the NLL, and :func:`unlikelihood_step` fine-tunes a model with it;
- **imposed**: :func:`forbid_parallels` wraps a model so that sampling never draws a token of C_t.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aigc_course.data.music import REST, VOICES, Chorale, ChoraleTokenizer
from aigc_course.data.text import get_batch
from aigc_course.sampling import ModelFn, model_logits
from aigc_course.steps import StepFn, supervised_step
from aigc_course.validation import check_float

PERFECT = (0, 7)                # interval classes (semitones mod 12) that may not be kept in similar motion
N_PITCH = 128                   # MIDI pitches 0..127


# ---------------------------------------------------------------------------------------------- the rule


def step_context(chorale: Chorale) -> tuple[np.ndarray, np.ndarray]:
    """For every step s: the pitches at the previous *moment* (the last step before s where some voice
    starts a note; all REST before the first) and the pitches at s: ``(before, now)``, both (T, 4)."""
    steps = np.arange(len(chorale))
    last = np.maximum.accumulate(np.where(chorale.onset.any(axis=1), steps, -1))          # (T,)
    previous = np.concatenate([[-1], last[:-1]])                                          # (T,)
    before = np.where(previous[:, None] >= 0, chorale.pitch[np.maximum(previous, 0)], REST)
    return before.astype(np.int16), chorale.pitch.astype(np.int16)


def completing_counts(before: Tensor, now: Tensor, voice: Tensor) -> Tensor:
    """How many parallel fifths or octaves a new note of each pitch 0..127 in ``voice`` would complete with
    the voices above it (u < voice) at this step: (N, 128) int, from ``before``/``now`` (N, 4) and ``voice``
    (N,) (−1: no voice, nothing counted).

    Voices u and v *move* when both sound at the previous moment and now and both change pitch; the move is
    a parallel when they go the same way and stand k ≡ 0 or 7 (mod 12) apart before and after. Only u's
    pitch now is needed, so the set is known before v's token is written."""
    before, now, voice = before.long(), now.long(), voice.long()
    pitches = torch.arange(N_PITCH, device=before.device)[None]                           # (1, 128)
    bv = before.gather(1, voice.clamp(min=0)[:, None])                                    # (N, 1) v before
    counts = torch.zeros(len(voice), N_PITCH, dtype=torch.long, device=before.device)
    for u in range(len(VOICES) - 1):
        bu, nu = before[:, u:u + 1], now[:, u:u + 1]                                      # (N, 1) each
        k = (bu - bv) % 12                                                                # the interval before
        applies = ((u < voice[:, None]) & (bu != REST) & (bv != REST) & (nu != REST) & (nu != bu)
                   & ((k == PERFECT[0]) | (k == PERFECT[1])))
        same_way = torch.where(nu > bu, pitches > bv, pitches < bv)                      # (N, 128)
        kept = (nu - pitches) % 12 == k                                                   # (N, 128)
        counts += applies & same_way & kept
    return counts


def token_pitches(tokenizer: ChoraleTokenizer) -> Tensor:
    """(V,) the pitch each token sounds as a note (``V:p`` and ``V:~p``); −1 for rests, holds and <end>.

    The sampler's lenient decoder reads a token in any voice slot as its pitch, and ``~p`` as a new note
    when p is not the one sounding, which it never is for a pitch that would make a parallel (both
    voices must change pitch), so every token that names a completing pitch is a candidate."""
    table = [tokenizer.cell(i)[1] for i in range(tokenizer.vocab_size)]
    return torch.tensor([p if p >= 0 else -1 for p in table], dtype=torch.long)


def candidate_mask(tokenizer: ChoraleTokenizer, context: Tensor, voice: Tensor,
                   pitches: Tensor | None = None) -> Tensor:
    """C_t as a mask over the vocabulary: (..., V) bool from ``context`` (..., 8) = before and now pitches
    (4 each) and ``voice`` (...,). ``pitches``: :func:`token_pitches` (computed when not given)."""
    if context.shape[-1:] != (8,) or context.shape[:-1] != voice.shape:
        raise ValueError(f"context must be (..., 8) (4 pitches before, 4 now) and voice (...) of the same leading "
                         f"shape, got context {tuple(context.shape)} and voice {tuple(voice.shape)}")
    pitches = token_pitches(tokenizer) if pitches is None else pitches
    shape, flat = voice.shape, context.reshape(-1, 8)
    counts = completing_counts(flat[:, :4], flat[:, 4:], voice.reshape(-1))
    mask = (counts[:, pitches.clamp(min=0).to(counts.device)] > 0) & (pitches >= 0).to(counts.device)
    return mask.view(*shape, -1)                                                          # (..., V)


def stream_context(chorales: Iterable[Chorale]) -> tuple[Tensor, Tensor]:
    """For every token of ``ChoraleTokenizer.encode_many(chorales)``: its step's context (N, 8) int16
    (before, now) and the voice it writes (N,) int8, −1 for ``<end>``."""
    contexts, voices = [], []
    for c in chorales:
        before, now = step_context(c)
        step = np.repeat(np.concatenate([before, now], axis=1), len(VOICES), axis=0)      # (4T, 8)
        contexts += [step, np.full((1, 8), REST, dtype=np.int16)]
        voices += [np.tile(np.arange(len(VOICES), dtype=np.int8), len(c)), np.array([-1], dtype=np.int8)]
    return torch.from_numpy(np.concatenate(contexts)), torch.from_numpy(np.concatenate(voices))


@torch.no_grad()
def candidate_mass(model: ModelFn, tokenizer: ChoraleTokenizer, ids: Tensor, context: Tensor, voice: Tensor,
                   block_size: int, device: torch.device | str = "cpu") -> float:
    """How much probability a model puts on C_t where C_t is not empty: the mean of Σ_{c ∈ C_t} p(c | x_<t)
    over those positions of ``ids`` (scored in consecutive windows of ``block_size``, as ``window_nll``)."""
    n = block_size * ((len(ids) - 1) // block_size)
    pitches, total, count = token_pitches(tokenizer), 0.0, 0
    for start in range(0, n, 64 * block_size):
        x = ids[start:min(n, start + 64 * block_size)].view(-1, block_size)                # (B, T)
        at = torch.arange(start + 1, start + 1 + x.numel())                                 # targets' positions
        mask = candidate_mask(tokenizer, context[at], voice[at], pitches)                   # (B·T, V)
        p = model_logits(model(x.to(device))).float().softmax(-1).reshape(len(at), -1).cpu()
        total += float((p * mask).sum())
        count += int(mask.any(1).sum())
    return total / max(count, 1)


# ---------------------------------------------------------------------------------------------- learnt


def unlikelihood_loss(logits: Tensor, targets: Tensor, candidates: Tensor, lam: float) -> Tensor:
    """L = (1/N) Σ_t [ −log p_θ(x_t | x_<t) + λ Σ_{c ∈ C_t} −log(1 − p_θ(c | x_<t)) ]  (Welleck et al., 2019).

    ``logits`` (B, T, V), ``targets`` (B, T), ``candidates`` (B, T, V) bool; the target itself is never a
    candidate (Bach's rare parallels stay in the NLL's care). λ = 0 is the plain NLL."""
    check_float("lam", lam, 0)
    logp = logits.float().log_softmax(-1)                                                 # (B, T, V)
    nll = F.nll_loss(logp.reshape(-1, logp.size(-1)), targets.reshape(-1))
    pushed = candidates & (torch.arange(logp.size(-1), device=logp.device) != targets[..., None])
    one_minus = (1 - logp.exp()).clamp(min=1e-6).log()                                    # log(1 − p)
    return nll - lam * (one_minus * pushed).sum(-1).mean()


def unlikelihood_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, tokenizer: ChoraleTokenizer,
                      ids: Tensor, context: Tensor, voice: Tensor, block_size: int, batch_size: int, lam: float,
                      generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                      scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> StepFn:
    """A ``step_fn`` that fine-tunes a language model with :func:`unlikelihood_loss` on random windows of
    ``ids`` (drawn as ``lm_step`` draws them), with C_t from :func:`stream_context`'s ``context``/``voice``."""
    positions, pitches = torch.arange(len(ids)), token_pitches(tokenizer)

    def batch(step: int) -> tuple[Tensor, Tensor, Tensor]:
        x_at, y_at = get_batch(positions, block_size, batch_size, generator=generator)    # (B, T) positions
        mask = candidate_mask(tokenizer, context[y_at], voice[y_at], pitches)            # (B, T, V)
        return ids[x_at].to(device), ids[y_at].to(device), mask.to(device)

    def loss(model: torch.nn.Module, b: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        return unlikelihood_loss(model(b[0])[0], b[1], b[2], lam)

    step_fn = supervised_step(model, optimizer, loss, batch, grad_clip=1.0, scheduler=scheduler)
    if generator is not None:
        step_fn.generators = {"unlikelihood_step.generator": generator}
    return step_fn


# ---------------------------------------------------------------------------------------------- imposed


def next_candidates(tokenizer: ChoraleTokenizer, rows: Sequence[Sequence[int]]) -> Tensor:
    """C_t for the token that comes next after each row of ids: (B, V) bool. The current piece (after the
    last ``<end>``) is read as the sampler's lenient decoder reads it, the step being written completed by
    rests, so that the mask agrees with what the samples will be measured on."""
    pitches = token_pitches(tokenizer)
    context, voice = torch.full((len(rows), 8), REST, dtype=torch.int16), torch.full((len(rows),), -1)
    for b, row in enumerate(rows):
        row = list(row)
        piece = row[len(row) - row[::-1].index(tokenizer.END):] if tokenizer.END in row else row
        s, v = divmod(len(piece), len(VOICES))
        if s == 0 or v == 0:
            continue
        rests = [tokenizer.token(w, REST, False) for w in range(v, len(VOICES))]
        before, now = step_context(tokenizer.decode(piece + rests, strict=False))
        context[b], voice[b] = torch.from_numpy(np.concatenate([before[s], now[s]])), v
    return candidate_mask(tokenizer, context, voice, pitches)


def forbid_parallels(model: ModelFn, tokenizer: ChoraleTokenizer, block_size: int) -> ModelFn:
    """Constrained decoding: a model function whose last logits are −∞ on C_t. It takes the whole history
    (the rule needs the piece's last moment) and shows ``model`` only the last ``block_size`` tokens."""
    def masked(ids: Tensor) -> Tensor:
        logits = model_logits(model(ids[:, -block_size:]))[:, -1:]                          # (B, 1, V)
        forbidden = next_candidates(tokenizer, ids.tolist()).to(logits.device)
        return logits.masked_fill(forbidden[:, None], float("-inf"))
    return masked
