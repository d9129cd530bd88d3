"""Fine-tuning a pre-trained transformer (chapter 11): classification heads, LoRA, prompt-masked losses.

Small to big:

1. :func:`encode_texts` and :func:`hidden_states` — a batch of padded texts through a GPT or
   :class:`~aigc_course.models.encoder.MaskedLM` body, padding hidden from attention.
2. :class:`SequenceClassifier` — a body, a pooling of its hidden states, and a linear head: logits (B, K).
3. :class:`LoRALinear`, :func:`add_lora`, :func:`merge_lora` — low-rank adaptation (Hu et al., 2021):
   W x + (α/r) B A x with W frozen, B = 0 at the start.
4. :func:`pack_pairs` and :func:`prompt_masked_loss` — instruction / sequence-to-sequence tuning of a GPT:
   the loss counts the answer's tokens only.
5. :func:`accuracy_interval` and :func:`paired_gap_interval` — accuracy on a test set with a 95 % interval,
   and the interval of the difference of two classifiers scored on the same examples.
6. :func:`fit_classifier`, :func:`fit_lp_ft` (the head first, then everything) and :func:`bag_of_tokens` (the
   no-network baseline's features).

Shapes: B batch, T time, C width, K classes, V vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.models.encoder import IGNORE
from aigc_course.models.transformer import GPT

# ------------------------------------------------------------------------------------------ texts -> states


def encode_texts(texts: Sequence[str], tokenizer, block_size: int, pad_id: int) -> tuple[Tensor, Tensor]:
    """Texts -> (ids (N, T) right-padded with ``pad_id``, lengths (N,)); each text is cut to ``block_size``."""
    rows = [tokenizer.encode(t)[:block_size] for t in texts]
    if any(len(r) == 0 for r in rows):
        raise ValueError("every text needs at least one character; got an empty one")
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
    return ids, torch.tensor([len(r) for r in rows])


def hidden_states(model: GPT, idx: Tensor, lengths: Tensor | None = None) -> Tensor:
    """The final-LayerNorm states (B, T, C) of a GPT or MaskedLM body; positions ≥ length are padding and are
    hidden as keys (a query never attends to them). The blocks are run as in ``Block.forward``, with the
    padding mask passed to their attention (combined with the causal mask for a GPT)."""
    x = model._embed(idx, offset=0)                                       # (B, T, C)
    mask = None
    if lengths is not None:
        mask = (torch.arange(idx.size(1), device=idx.device)[None] < lengths.to(idx.device)[:, None])
        mask = mask[:, None, None, :]                                     # (B, 1, 1, T): keys that are real
    for block in model.blocks:
        x = x + block.attn(block.ln1(x), mask=mask)[0]
        x = x + block.mlp(block.ln2(x))
    return model.ln_f(x)


def pool(states: Tensor, lengths: Tensor, how: str = "mean") -> Tensor:
    """(B, T, C) -> (B, C): the mean over the real positions, or the last real position ("last")."""
    lengths = lengths.to(states.device)
    if how == "last":
        return states[torch.arange(states.size(0), device=states.device), lengths - 1]
    if how != "mean":
        raise ValueError(f"how must be 'mean' or 'last', got {how!r}")
    real = (torch.arange(states.size(1), device=states.device)[None] < lengths[:, None]).to(states.dtype)
    return (states * real[..., None]).sum(1) / lengths[:, None].to(states.dtype)   # (B, C)


class SequenceClassifier(nn.Module):
    """logits = W_h · pool(h_θ(x)) + b_h: a pre-trained (or fresh) body h_θ and a new linear head (K classes).

    W_h starts small and random (std ``head_std``, 0.02 as in BERT), b_h at zero: every class starts near 1/K.
    A zero head (``head_std=0``) starts at exactly 1/K but passes no gradient into the body, since
    ∂L/∂h̄ = W_hᵀ (p − y) = 0; Adam then blows the body's first, nearly-zero gradients up to full-size steps.
    """

    def __init__(self, body: GPT, num_classes: int, pooling: str = "mean", head_std: float = 0.02):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if not head_std >= 0:
            raise ValueError(f"head_std must be a number >= 0 (0: a zero head), got {head_std!r}")
        self.body, self.pooling, self.num_classes = body, pooling, num_classes
        self.head = nn.Linear(body.cfg.n_embd, num_classes)               # (K x C)
        nn.init.normal_(self.head.weight, std=head_std) if head_std > 0 else nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, idx: Tensor, lengths: Tensor) -> Tensor:
        """idx (B, T), lengths (B,) -> logits (B, K)."""
        return self.head(pool(hidden_states(self.body, idx, lengths), lengths, self.pooling))


def classification_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy −(1/B) Σ_b log softmax(z_b)[y_b]; labels outside 0..K−1 are refused, not skipped."""
    k = logits.size(-1)
    bad = labels[(labels < 0) | (labels >= k)]
    if bad.numel():
        raise ValueError(f"labels must be class ids in 0..{k - 1}, got {sorted(set(bad.tolist()))[:5]}")
    return F.cross_entropy(logits, labels)


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients into every parameter of ``module`` (they stay as they are in training)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def parameter_share(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters); a shared (tied) tensor counts once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


# ------------------------------------------------------------------------------------------------- LoRA


class LoRALinear(nn.Module):
    """y = W x + b + (α/r) · B A x   (Hu et al., 2021; eq. 11.5): W (out × in) and b frozen, A (r × in) random,
    B (out × r) zero, so at the start the layer is exactly the pre-trained one."""

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0):
        super().__init__()
        limit = min(base.in_features, base.out_features)
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= limit:
            raise ValueError(f"LoRA rank r must be an int in 1..{limit} (the smaller side of the "
                             f"{base.out_features} x {base.in_features} layer), got {r!r}")
        self.base, self.r, self.scale = freeze(base), r, alpha / r
        self.A = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))   # (r, in)
        self.B = nn.Parameter(torch.zeros(base.out_features, r))                                # (out, r)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T   # (..., in) -> (..., r) -> (..., out)

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """One plain Linear with W' = W + (α/r) B A: the same outputs, no extra cost at inference."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        out.weight.copy_(self.base.weight + self.scale * self.B @ self.A)                  # (out, r) @ (r, in)
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out.to(self.base.weight.device)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def add_lora(model: nn.Module, r: int, alpha: float = 1.0,
             targets: Iterable[str] = ("attn.qkv", "attn.proj"), train_norms: bool = False) -> list[str]:
    """Freeze every parameter of ``model`` and wrap each ``nn.Linear`` whose name ends with one of ``targets``
    in a :class:`LoRALinear`; return the wrapped names. Only the A and B matrices train afterwards — and, with
    ``train_norms``, the LayerNorms' gains and shifts (2C numbers per LayerNorm, cheap to keep per task)."""
    freeze(model)
    if train_norms:
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                for p in m.parameters():
                    p.requires_grad_(True)
    targets = tuple(targets)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.endswith(targets)]
    if not names:
        raise ValueError(f"no nn.Linear in the model has a name ending in {targets}")
    for name in names:
        _replace(model, name, LoRALinear(model.get_submodule(name), r, alpha))
    return names


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` in ``model`` by its merged Linear (in place); return the model."""
    for name in [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]:
        _replace(model, name, model.get_submodule(name).merged())
    return model


# ---------------------------------------------------------------------------- sequence-to-sequence tuning


def pack_pairs(pairs: Sequence[tuple[str, str]], tokenizer, block_size: int,
               pad_id: int) -> tuple[Tensor, Tensor]:
    """(prompt, answer) pairs -> inputs x (N, T) and targets y (N, T) for a GPT, T ≤ ``block_size``.

    The sequence s = prompt + answer is shifted as in language modelling (x = s[:-1], y = s[1:]); a target is
    kept only where it is an answer token, so y = ``IGNORE`` at the prompt and at the padding.
    """
    rows = []
    for prompt, answer in pairs:
        p, a = tokenizer.encode(prompt), tokenizer.encode(answer)
        if not p or not a:
            raise ValueError(f"prompt and answer must both be non-empty, got {prompt!r}, {answer!r}")
        if len(p) + len(a) - 1 > block_size:
            raise ValueError(f"prompt + answer is {len(p) + len(a)} tokens ({prompt!r} + {answer!r}); the model's "
                             f"context holds {block_size + 1} (block_size={block_size} inputs): shorten the prompt")
        rows.append((p + a, len(p)))
    width = max(len(s) for s, _ in rows) - 1
    x = torch.full((len(rows), width), pad_id, dtype=torch.long)
    y = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (s, n_prompt) in enumerate(rows):
        x[i, :len(s) - 1] = torch.tensor(s[:-1])
        y[i, n_prompt - 1:len(s) - 1] = torch.tensor(s[n_prompt:])          # answer tokens only
    return x, y


def prompt_masked_loss(model: GPT, x: Tensor, y: Tensor) -> Tensor:
    """L = −(1/|A|) Σ_{(b,t) ∈ A} log p_θ(y_{b,t} | x_{b,≤t})   (eq. 11.7), A the answer positions (y ≠ IGNORE)."""
    return F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten(), ignore_index=IGNORE)


@torch.no_grad()
def complete(model: GPT, tokenizer, prompts: Sequence[str], stop: str, max_new: int = 24,
             chunk: int = 4) -> list[str]:
    """Greedy answers to ``prompts``, each cut at the first ``stop`` (inclusive), at most ``max_new`` tokens.
    Prompts of one length are decoded together in a batch, ``chunk`` tokens at a time, until every answer of
    the batch holds ``stop`` (greedy decoding of a prefix does not depend on what comes after it, so stopping
    early changes no answer)."""
    from aigc_course.sampling import generate

    answers: dict[int, str] = {}
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(tokenizer.encode(p)), []).append(i)
    device = next(model.parameters()).device
    for n, members in by_length.items():
        ids = torch.tensor([tokenizer.encode(prompts[i]) for i in members], device=device)   # (b, n)
        while ids.size(1) - n < max_new:
            ids = generate(model, ids, min(chunk, max_new - (ids.size(1) - n)), greedy=True,
                           block_size=model.cfg.block_size)
            texts = [tokenizer.decode(row) for row in ids[:, n:].cpu()]
            if all(stop in t for t in texts):
                break
        for i, text in zip(members, texts):
            answers[i] = text[:text.index(stop) + len(stop)] if stop in text else text
    return [answers[i] for i in range(len(prompts))]


# --------------------------------------------------------------------------------------- accuracy, intervals


def accuracy_interval(correct: Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """Accuracy of a 0/1 vector with its Wilson score interval (z = 1.96: 95 %): (acc, low, high)."""
    n = correct.numel()
    if n == 0:
        raise ValueError("correct is empty: no test examples to score")
    acc = correct.float().mean().item()
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return acc, centre - half, centre + half


def paired_gap_interval(correct_a: Tensor, correct_b: Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """acc(a) − acc(b) on the same examples, ± z standard errors of the mean of d_i = a_i − b_i (paired)."""
    if correct_a.shape != correct_b.shape or correct_a.numel() < 2:
        raise ValueError(f"need two 0/1 vectors of one shape (n ≥ 2), got {tuple(correct_a.shape)} and "
                         f"{tuple(correct_b.shape)}")
    d = correct_a.float() - correct_b.float()
    gap, se = d.mean().item(), d.std().item() / math.sqrt(d.numel())
    return gap, gap - z * se, gap + z * se


# ---------------------------------------------------------------------------------------------- training


def _batches(n: int, batch_size: int, seed: int):
    """batch_fn(step) -> indices of a random minibatch (the same sequence for the same seed)."""
    g = torch.Generator().manual_seed(seed)
    return lambda step: torch.randint(n, (min(batch_size, n),), generator=g)


def _frozen(clf: SequenceClassifier) -> bool:
    """True when nothing in the body trains and its forward is the same in training mode (no dropout)."""
    return not any(p.requires_grad for p in clf.body.parameters()) and clf.body.cfg.dropout == 0


def fit_classifier(clf: SequenceClassifier, ids: Tensor, lengths: Tensor, labels: Tensor, steps: int,
                   lr: float, batch_size: int = 32, seed: int = 0, weight_decay: float = 0.01,
                   progress: bool = True, desc: str = "fine-tuning", cache_features: bool = True):
    """Train the trainable parameters of ``clf`` (AdamW, warm-up then cosine, clipping at 1) for ``steps``
    minibatches of the labelled examples; returns the :class:`~aigc_course.train.History`.

    A frozen body (no trainable parameter, no dropout) gives every text the same pooled features at every
    step, so with ``cache_features`` they are computed once (:func:`pooled_features`) and only the head runs
    per step: the same updates on the same batches, at a fraction of the cost. Otherwise each batch is cut to
    its longest text (the padding beyond it is hidden from attention anyway: the same numbers, less work).
    """
    from aigc_course.train import WarmupCosine, supervised_step, train

    device = next(clf.parameters()).device
    params = [p for p in clf.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(steps, warmup=max(1, steps // 10)))
    pick = _batches(len(labels), batch_size, seed)
    if cache_features and _frozen(clf):
        feats = pooled_features(clf.body, ids, lengths, clf.pooling).to(device)          # (N, C), once
        model = clf.head
    else:
        model = clf

    def batch_fn(step: int):
        i = pick(step)
        if model is clf.head:
            return [feats[i], labels[i].to(device)]
        width = int(lengths[i].max())             # the batch's own width: its trailing padding is hidden anyway
        return [ids[i, :width].to(device), lengths[i].to(device), labels[i].to(device)]

    def loss_fn(m, batch):
        return classification_loss(m(*batch[:-1]), batch[-1])

    step_fn = supervised_step(model, opt, loss_fn, batch_fn, grad_clip=1.0, scheduler=sched)
    return train(step_fn, steps, modules={"classifier": clf}, progress=progress, desc=desc)


def fit_lp_ft(clf: SequenceClassifier, ids: Tensor, lengths: Tensor, labels: Tensor, steps: int, lr: float,
              head_steps: int | None = None, head_lr: float = 3e-3, **kwargs):
    """LP-FT (Kumar et al., 2022): first fit the head alone on the frozen body's features (``head_steps``,
    default ``steps``, at ``head_lr``: a linear probe), then fine-tune everything that was trainable (``steps``
    at ``lr``). The body's first updates then follow a head that already separates the classes, not a random
    one that would pull the features towards noise. ``kwargs`` go to both :func:`fit_classifier` calls;
    returns their two Histories (probe, fine-tuning)."""
    trainable = [p for p in clf.body.parameters() if p.requires_grad]
    freeze(clf.body)
    probe = fit_classifier(clf, ids, lengths, labels, head_steps or steps, head_lr, **kwargs)
    for p in trainable:
        p.requires_grad_(True)
    return probe, fit_classifier(clf, ids, lengths, labels, steps, lr, **kwargs)


def bag_of_tokens(ids: Tensor, lengths: Tensor, vocab_size: int) -> Tensor:
    """ids (N, T) -> (N, V) 0/1: which tokens occur in each text, padding left out — the features of a
    classifier with no network and no pre-training (logistic regression on them is chapter 11's floor)."""
    real = torch.arange(ids.size(1))[None] < lengths[:, None]                  # (N, T)
    if ids[real].numel() and not 0 <= int(ids[real].min()) <= int(ids[real].max()) < vocab_size:
        raise ValueError(f"ids must be in 0..{vocab_size - 1} (vocab_size={vocab_size}), got "
                         f"{int(ids[real].min())}..{int(ids[real].max())}")
    out = torch.zeros(len(ids), vocab_size + 1)                                # column V: padding's bin
    out.scatter_(1, torch.where(real, ids, vocab_size), 1.0)
    return out[:, :vocab_size]


@torch.no_grad()
def pooled_features(body: GPT, ids: Tensor, lengths: Tensor, pooling: str = "mean",
                    batch_size: int = 256) -> Tensor:
    """pool(h_θ(x)) (N, C) of a body in eval mode, ``batch_size`` texts at a time: the input of a linear head."""
    was_training, device = body.training, next(body.parameters()).device
    body.eval()
    out = [pool(hidden_states(body, ids[i:i + batch_size].to(device), lengths[i:i + batch_size]),
                lengths[i:i + batch_size], pooling)
           for i in range(0, len(ids), batch_size)]
    body.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def predict_classes(clf: SequenceClassifier, ids: Tensor, lengths: Tensor, batch_size: int = 256) -> Tensor:
    """Predicted class ids (N,), in eval mode, ``batch_size`` texts at a time."""
    was_training, device = clf.training, next(clf.parameters()).device
    clf.eval()
    out = [clf(ids[i:i + batch_size].to(device), lengths[i:i + batch_size].to(device)).argmax(-1).cpu()
           for i in range(0, len(ids), batch_size)]
    clf.train(was_training)
    return torch.cat(out)
