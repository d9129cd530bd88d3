"""Captioned shapes (chapter 12): the course's shapes, drawn at 16x16, each with a caption in varied wordings.

Four discrete factors decide what a caption says, and the picture shows them:

- ``shape``: square, ellipse or heart;  ``size``: small or large;
- ``vertical``: top or bottom;  ``horizontal``: left or right  (24 combinations).

Within a combination the exact scale, position and a small rotation vary, so no two images are alike. Four
combinations (:data:`HELD_OUT`) never occur in training, so that generalisation to *new combinations* of known
words can be measured. Captions come from :data:`TEMPLATES` with synonyms ("tiny", "big", "upper", "oval"...),
and are tokenised with chapter 08's byte-pair encoding (:class:`CaptionTokenizer`), one token per word.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from aigc_course.data.bpe import BPETokenizer
from aigc_course.data.images import render_shapes
from aigc_course.validation import ArgumentTypeError, check_choice, check_int

FACTORS = ("shape", "size", "vertical", "horizontal")
VALUES: dict[str, tuple[str, ...]] = {"shape": ("square", "ellipse", "heart"), "size": ("small", "large"),
                                      "vertical": ("top", "bottom"), "horizontal": ("left", "right")}
SYNONYMS: dict[str, tuple[str, ...]] = {   # the first word is the canonical one
    "square": ("square", "box"), "ellipse": ("ellipse", "oval"), "heart": ("heart",),
    "small": ("small", "tiny", "little"), "large": ("large", "big", "huge"),
    "top": ("top", "upper"), "bottom": ("bottom", "lower"), "left": ("left",), "right": ("right",)}
TEMPLATES = (
    "a {size} {shape} in the {vertical} {horizontal}",
    "{vertical} {horizontal} : a {size} {shape}",
    "the {shape} is {size} and sits at the {vertical} {horizontal}",
    "there is a {size} {shape} in the {vertical} {horizontal} corner",
    "{size} {shape} , {vertical} {horizontal}",
)
# (shape, size, vertical, horizontal) never seen in training: every word still is, in other combinations
HELD_OUT = ((2, 1, 1, 1), (0, 0, 0, 0), (1, 1, 0, 1), (1, 0, 1, 0))
NUM_COMBOS = 24
IMAGE_SIZE = 16
SUBSETS = ("seen", "held-out", "all")
_SPLIT_OFFSET = {"train": 0, "test": 7_000_001, "judge": 9_000_011}


def combo_index(factors: Tensor) -> Tensor:
    """(N, 4) factor ids -> (N,) combination index ((shape·2 + size)·2 + vertical)·2 + horizontal in 0..23."""
    f = factors.long()
    return ((f[:, 0] * 2 + f[:, 1]) * 2 + f[:, 2]) * 2 + f[:, 3]


def combo_factors(combo: Tensor) -> Tensor:
    """The inverse of :func:`combo_index`: (N,) -> (N, 4)."""
    c = combo.long()
    return torch.stack([c // 8, c // 4 % 2, c // 2 % 2, c % 2], dim=1)


HELD_OUT_COMBOS = tuple(int(c) for c in combo_index(torch.tensor(HELD_OUT)))
SEEN_COMBOS = tuple(c for c in range(NUM_COMBOS) if c not in HELD_OUT_COMBOS)


# ---------------------------------------------------------------------------------------------- captions

def caption(factors: tuple[int, ...] | Tensor, template: int = 0, synonym: int = 0) -> str:
    """The caption of one factor row in wording ``template`` with the ``synonym``-th word of each value
    (cycling when a value has fewer synonyms)."""
    f = [int(v) for v in factors]
    words = {}
    for name, value in zip(FACTORS, f):
        options = SYNONYMS[VALUES[name][value]]
        words[name] = options[synonym % len(options)]
    return TEMPLATES[template % len(TEMPLATES)].format(**words)


def all_captions(combos: tuple[int, ...] = tuple(range(NUM_COMBOS))) -> list[str]:
    """Every wording (template × synonyms) of every combination in ``combos``."""
    out = []
    for c in combos:
        f = combo_factors(torch.tensor([c]))[0]
        out += [caption(f, t, s) for t in range(len(TEMPLATES)) for s in range(3)]
    return list(dict.fromkeys(out))


_WORD_TO_FACTOR = {w: (i, VALUES[name].index(canon)) for i, name in enumerate(FACTORS)
                   for canon in VALUES[name] for w in SYNONYMS[canon]}


def parse_caption(text: str) -> tuple[int, int, int, int]:
    """Read the factors back from a caption: each factor's id, or −1 when the caption names none or several."""
    found: dict[int, set[int]] = {}
    for word in text.split():
        if word in _WORD_TO_FACTOR:
            i, v = _WORD_TO_FACTOR[word]
            found.setdefault(i, set()).add(v)
    return tuple(next(iter(found[i])) if len(found.get(i, ())) == 1 else -1 for i in range(4))


# ---------------------------------------------------------------------------------------------- tokenizer

class CaptionTokenizer:
    """Chapter 08's byte-level BPE, trained on the caption wordings until every word is one token, plus two
    special ids: ``eot`` (starts and ends a caption, GPT-2's <|endoftext|>) and ``pad`` (fills to ``max_len``).

    Captions are checked before encoding: an empty caption, or a word outside :attr:`words`, is a ValueError
    (the models have never seen it: BPE would split it into bytes they have no meaning for)."""

    def __init__(self, max_len: int = 16):
        self.max_len = check_int("max_len", max_len, 3)
        corpus = " ".join(" " + c for c in all_captions(SEEN_COMBOS))
        self.words = tuple(sorted({w for c in all_captions() for w in c.split()}))
        self.bpe = BPETokenizer.train(corpus, 256 + 8 * len(self.words))
        self.eot, self.pad = self.bpe.vocab_size, self.bpe.vocab_size + 1
        self.vocab_size = self.bpe.vocab_size + 2

    def check(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise ArgumentTypeError(f"a caption must be a str, got {type(text).__name__}")
        words = text.split()
        if not words:
            raise ValueError("the caption is empty; write e.g. 'a small heart in the top left'")
        unknown = [w for w in words if w not in self.words]
        if unknown:
            raise ValueError(f"the caption {text!r} has word(s) outside the vocabulary: {unknown}; the models "
                             f"know only: {' '.join(self.words)}")
        return words

    def encode(self, text: str) -> list[int]:
        """[eot] + one id per word + [eot]."""
        ids = [self.eot] + self.bpe.encode(" " + " ".join(self.check(text))) + [self.eot]
        if len(ids) > self.max_len:
            raise ValueError(f"the caption {text!r} is {len(ids)} tokens with its two end markers; at most "
                             f"max_len={self.max_len} fit")
        return ids

    def batch(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """Captions -> (ids (B, max_len) padded with ``pad``, lengths (B,) counting both eot markers)."""
        if isinstance(texts, str):
            texts = [texts]
        rows = [self.encode(t) for t in texts]
        ids = torch.full((len(rows), self.max_len), self.pad, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
        return ids, torch.tensor([len(r) for r in rows])

    def decode(self, ids: Tensor | list[int]) -> str:
        """Text of generated ids after the first eot, up to the next eot (pad and specials dropped)."""
        ids = [int(i) for i in ids]
        if ids and ids[0] == self.eot:
            ids = ids[1:]
        ids = ids[:ids.index(self.eot)] if self.eot in ids else ids
        return self.bpe.decode([i for i in ids if i < self.bpe.vocab_size]).strip()


@functools.cache
def caption_tokenizer(max_len: int = 16) -> CaptionTokenizer:
    """The one tokenizer every chapter-12 model shares (trained once per process: it is deterministic)."""
    return CaptionTokenizer(max_len)


# ---------------------------------------------------------------------------------------------- images

@dataclass
class CaptionedShapes:
    """Images (N, 1, 16, 16) in [0, 1], their factors (N, 4), combination ids (N,) and captions."""

    images: Tensor
    factors: Tensor
    combos: Tensor
    captions: list[str]

    def __len__(self) -> int:
        return len(self.images)


def _continuous(factors: Tensor, g: torch.Generator) -> Tensor:
    """Discrete factors (N, 4) -> render_shapes' (shape, scale, rotation, x, y), jittered within each value."""
    n = len(factors)
    u = torch.rand(n, 4, generator=g)
    f = factors.float()
    scale = torch.where(f[:, 1] == 0, 0.75 + 0.15 * u[:, 0], 1.1 + 0.2 * u[:, 0])
    rotation = (u[:, 1] - 0.5) * 0.6                              # ±0.3 rad
    x = torch.where(f[:, 3] == 0, 0.05 + 0.25 * u[:, 2], 0.7 + 0.25 * u[:, 2])
    y = torch.where(f[:, 2] == 0, 0.05 + 0.25 * u[:, 3], 0.7 + 0.25 * u[:, 3])   # y points down: 0 = top
    return torch.stack([f[:, 0], scale, rotation, x, y], dim=1)


def render_captioned(factors: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw factor rows (N, 4) at 32x32 and average 2x2 blocks: (N, 1, 16, 16) grey levels in [0, 1]."""
    g = generator or torch.Generator().manual_seed(0)
    return F.avg_pool2d(render_shapes(_continuous(factors, g), 2 * IMAGE_SIZE), 2)


def load_captioned_shapes(split: str = "train", n: int = 6000, subset: str = "seen", seed: int = 0) -> CaptionedShapes:
    """``n`` captioned images of the combinations in ``subset`` ("seen": the 20 training combinations,
    "held-out": the 4 of :data:`HELD_OUT`, "all"), in equal numbers, wordings drawn at random.
    ``split`` ("train", "test", "judge") picks an independent random stream."""
    check_choice("split", split, tuple(_SPLIT_OFFSET))
    check_choice("subset", subset, SUBSETS)
    check_int("n", n, 1, 200_000)
    check_int("seed", seed, 0)
    combos = {"seen": SEEN_COMBOS, "held-out": HELD_OUT_COMBOS, "all": tuple(range(NUM_COMBOS))}[subset]
    if split == "train" and subset != "seen":
        raise ValueError(f"split='train' holds only the seen combinations (that is what held out means), "
                         f"got subset={subset!r}")
    g = torch.Generator().manual_seed(seed + _SPLIT_OFFSET[split])
    combo = torch.tensor(combos)[torch.arange(n) % len(combos)]
    combo = combo[torch.randperm(n, generator=g)]
    factors = combo_factors(combo)
    images = render_captioned(factors, g)
    picks = torch.randint(0, 3 * len(TEMPLATES), (n,), generator=g).tolist()
    texts = [caption(f, p % len(TEMPLATES), p // len(TEMPLATES)) for f, p in zip(factors.tolist(), picks)]
    return CaptionedShapes(images, factors, combo, texts)


def factor_accuracy(predicted: Tensor, true: Tensor) -> dict[str, float]:
    """Per-factor agreement of (N, 4) predicted and true factor ids (−1 counts as wrong), and ``all``: the
    fraction of rows right on every factor."""
    hit = predicted.long() == true.long()
    out = {name: float(hit[:, i].float().mean()) for i, name in enumerate(FACTORS)}
    out["all"] = float(hit.all(1).float().mean())
    return out


def chance_accuracy() -> dict[str, float]:
    """What guessing uniformly scores per factor (1/3 for the shape, 1/2 for the others)."""
    return {name: 1 / len(VALUES[name]) for name in FACTORS} | {"all": 1 / NUM_COMBOS}


def prompt_ensemble(factor: str) -> list[list[str]]:
    """For each value of ``factor``, every canonical caption (first template) of the combinations showing it:
    the prompts whose mean text embedding stands for that value in zero-shot classification."""
    check_choice("factor", factor, FACTORS)
    i = FACTORS.index(factor)
    out = []
    for value in range(len(VALUES[factor])):
        rows = [f for f in itertools.product(range(3), range(2), range(2), range(2)) if f[i] == value]
        out.append([caption(f, t) for f in rows for t in range(len(TEMPLATES))])
    return out

