"""A masked-language-model encoder, BERT-style (Devlin et al., 2018), built from chapter 07's GPT (chapter 11).

The only architectural difference from the GPT is the attention mask: an encoder's positions see the whole
window, left *and* right. That makes "predict the next token" trivial (the answer is visible), so an encoder
is pre-trained on a different task: hide some tokens and predict them from both sides.

Small to big:

1. :class:`SpecialTokens`: ``PAD`` and ``MASK`` ids appended to a tokenizer; :func:`tokenizer_with_specials`
   trains a byte-level BPE with them.
2. :func:`mask_tokens` — BERT's corruption: choose 15 % of the positions; of those, 80 % become ``MASK``,
   10 % a random token, 10 % stay as they are. Targets are the original tokens there, ``IGNORE`` elsewhere.
3. :func:`mlm_loss` — cross-entropy at the chosen positions only (eq. 11.2 of the chapter).
4. :class:`MaskedLM` — the GPT with the causal mask switched off in every block; same embeddings, blocks,
   final LayerNorm and tied output head, so ``forward(idx, targets)`` returns ``(logits, mlm loss)``.
5. :func:`fill_left_to_right` — what happens when a masked LM is used as a generator (append a MASK, fill it,
   repeat): it works only as far as the last position of a training window taught it to.

Shapes: B batch, T time, V vocabulary, C width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aigc_course.data.bpe import BPETokenizer
from aigc_course.models.transformer import GPT, GPTConfig

PAD = "[PAD]"       # how decode shows the two special ids (they stand for no text)
MASK = "[MASK]"
IGNORE = -100       # a target F.cross_entropy skips (its default ignore_index)


class SpecialTokens:
    """A tokenizer with two ids appended after its vocabulary: ``pad_id`` (filler after a short text) and
    ``mask_id`` (a hidden token). No text encodes to them; ``decode`` shows them as ``[PAD]`` and ``[MASK]``."""

    def __init__(self, base):
        if not (hasattr(base, "encode") and hasattr(base, "decode") and hasattr(base, "vocab_size")):
            raise TypeError(f"base must be a tokenizer (encode, decode, vocab_size), got {type(base).__name__}")
        self.base = base
        self.pad_id, self.mask_id = base.vocab_size, base.vocab_size + 1

    @property
    def vocab_size(self) -> int:
        return self.base.vocab_size + 2

    def encode(self, text: str) -> list[int]:
        return self.base.encode(text)

    def decode(self, ids) -> str:
        """Text of ``ids``: runs of ordinary ids decoded together by the base tokenizer, specials by name."""
        out, run = [], []
        for i in (int(i) for i in ids):
            if i in (self.pad_id, self.mask_id):
                out += [self.base.decode(run), PAD if i == self.pad_id else MASK]
                run = []
            else:
                run.append(i)
        return "".join(out + [self.base.decode(run)])

    def __repr__(self) -> str:
        return f"SpecialTokens({self.base!r} + PAD {self.pad_id}, MASK {self.mask_id})"


def tokenizer_with_specials(text: str, vocab_size: int = 1280) -> SpecialTokens:
    """A byte-level BPE of ``vocab_size`` tokens trained on ``text`` (chapter 08's), plus ``PAD`` and ``MASK``:
    one tokenizer for both pre-training objectives and for fine-tuning; any string can be encoded."""
    return SpecialTokens(BPETokenizer.train(text, vocab_size))


def _check_probability(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value}")


def mask_tokens(ids: Tensor, mask_id: int, vocab_size: int, p: float = 0.15, protected: Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """BERT's 80/10/10 corruption of ids (B, T) -> (inputs (B, T), targets (B, T)).

    Each position is chosen with probability ``p`` (positions whose id is in ``protected``, e.g. PAD, never
    are; a row with no choice gets one, so every row has a target). A chosen position becomes ``mask_id``
    with probability 0.8, a uniformly random id with 0.1, and keeps its id with 0.1. ``targets`` holds the
    original id at chosen positions and ``IGNORE`` elsewhere.
    """
    if ids.dim() != 2 or ids.is_floating_point():
        raise ValueError(f"ids must be a (B, T) integer tensor, got shape {tuple(ids.shape)} {ids.dtype}")
    _check_probability("p", p)
    if not 0 <= mask_id < vocab_size:
        raise ValueError(f"mask_id must be in 0..{vocab_size - 1}, got {mask_id}")
    u = torch.rand(ids.shape, generator=generator)                          # (B, T): choose where u < p
    allowed = torch.ones_like(ids, dtype=torch.bool) if protected is None else ~torch.isin(ids, protected)
    u = torch.where(allowed, u, 2.0)                                        # protected: never chosen
    chosen = u < p
    lonely = ~chosen.any(1)                                                 # rows with nothing chosen
    chosen[lonely, u[lonely].argmin(1)] = True
    chosen &= allowed
    action = torch.rand(ids.shape, generator=generator)                     # 80 / 10 / 10
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (action < 0.8), mask_id, ids)
    inputs = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_ids, inputs)
    targets = torch.where(chosen, ids, IGNORE)
    return inputs, targets


def mlm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """L_MLM = −(1/|M|) Σ_{(b,t) ∈ M} log p_θ(x_{b,t} | x̃_b), M the chosen positions (targets ≠ IGNORE).

    The same cross-entropy as the GPT's :func:`~aigc_course.models.transformer.lm_loss`, which skips
    ``IGNORE`` targets: that is why :class:`MaskedLM` can reuse the GPT's ``forward`` unchanged.
    """
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE)


class MaskedLM(GPT):
    """The GPT of chapter 07 with the causal mask removed: p(x_t | all other tokens of the window).

    Everything else is inherited: embeddings, blocks, final LayerNorm, tied head, ``forward(idx, targets)``
    (the loss is :func:`mlm_loss` when ``targets`` come from :func:`mask_tokens`).
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__(cfg)
        for block in self.blocks:
            block.attn.causal = False                                       # every query sees every key

    def generate(self, *args, **kwargs):
        raise TypeError("a masked LM is not a left-to-right generator: it predicts hidden tokens from both "
                        "sides. Use a GPT to generate, or fill_left_to_right(...) to see what goes wrong")


@torch.no_grad()
def fill_left_to_right(model: MaskedLM, prompt_ids: Tensor, n: int, mask_id: int) -> Tensor:
    """Use a masked LM as if it were a generator: append ``MASK``, replace it by the most likely token, repeat.

    prompt_ids (T0,) -> (T0 + n,). The window is cropped to the last ``block_size`` tokens.
    """
    ids = torch.as_tensor(prompt_ids, dtype=torch.long).flatten()
    block = model.cfg.block_size
    for _ in range(n):
        window = torch.cat([ids[-(block - 1):], torch.tensor([mask_id])])[None]     # (1, ≤ T)
        nxt = model(window.to(model.head.weight.device))[0][0, -1].argmax()        # the MASK's prediction
        ids = torch.cat([ids, nxt[None].cpu()])
    return ids
