"""OpenAI's GPT-2 weights in the course's own GPT class (chapter 11).

GPT-2 (Radford et al., 2019) is the GPT of chapter 07 at a larger size, with three details that a weight
mapping has to get right:

- its MLP uses the tanh approximation of GELU: ``GPTConfig(gelu="tanh")``;
- its linear layers are stored as ``Conv1D`` modules whose weight is (in × out), the transpose of
  ``nn.Linear``'s (out × in);
- the output head is tied to the token embedding (``lm_head.weight`` is ``wte.weight``), as in ours.

:func:`convert_gpt2_state_dict` maps the names and shapes; :func:`load_gpt2` loads a Hugging Face checkpoint
(the hub name ``"gpt2"`` for the real 124M model, or a folder written by ``save_pretrained``) into a
:class:`~aigc_course.models.transformer.GPT`. The ``transformers`` package is needed only here, and is
imported inside the functions.
"""

from __future__ import annotations

import os
import re

import torch
from torch import Tensor

from aigc_course.models.transformer import GPT, GPTConfig

# Hugging Face name (with {i} for the block) -> ours; "T" marks a Conv1D weight that must be transposed.
_BLOCK_MAP = {
    "ln_1.weight": ("ln1.weight", False), "ln_1.bias": ("ln1.bias", False),
    "attn.c_attn.weight": ("attn.qkv.weight", True), "attn.c_attn.bias": ("attn.qkv.bias", False),
    "attn.c_proj.weight": ("attn.proj.weight", True), "attn.c_proj.bias": ("attn.proj.bias", False),
    "ln_2.weight": ("ln2.weight", False), "ln_2.bias": ("ln2.bias", False),
    "mlp.c_fc.weight": ("mlp.fc.weight", True), "mlp.c_fc.bias": ("mlp.fc.bias", False),
    "mlp.c_proj.weight": ("mlp.proj.weight", True), "mlp.c_proj.bias": ("mlp.proj.bias", False),
}
_TOP_MAP = {"wte.weight": "tok_emb.weight", "wpe.weight": "pos_emb.weight",
            "ln_f.weight": "ln_f.weight", "ln_f.bias": "ln_f.bias"}
_SKIPPED = re.compile(r"(^lm_head\.weight$)|(\.attn\.(masked_)?bias$)")   # the tied head; old causal buffers
_GELU = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "exact"}


def config_from_hf(hf_config) -> GPTConfig:
    """Our :class:`GPTConfig` for a Hugging Face ``GPT2Config`` (dropout 0: we load it for inference)."""
    act = hf_config.activation_function
    if act not in _GELU:
        raise ValueError(f"activation_function {act!r} has no counterpart here; supported: {sorted(_GELU)}")
    return GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions,
                     n_layer=hf_config.n_layer, n_head=hf_config.n_head, n_embd=hf_config.n_embd,
                     dropout=0.0, bias=True, tie_weights=True, gelu=_GELU[act])


def _our_name(hf_name: str) -> tuple[str, bool] | None:
    name = hf_name.removeprefix("transformer.")
    if name in _TOP_MAP:
        return _TOP_MAP[name], False
    match = re.fullmatch(r"h\.(\d+)\.(.+)", name)
    if match and match.group(2) in _BLOCK_MAP:
        ours, transpose = _BLOCK_MAP[match.group(2)]
        return f"blocks.{match.group(1)}.{ours}", transpose
    return None


def convert_gpt2_state_dict(hf_state: dict[str, Tensor], cfg: GPTConfig) -> dict[str, Tensor]:
    """Rename (and transpose the Conv1D weights of) a Hugging Face GPT-2 state dict for ``GPT(cfg)``.

    Raises a ValueError listing every key that has no counterpart, every weight ours expects but the
    checkpoint lacks, and every shape that does not match ``cfg``.
    """
    shapes = _shapes(cfg)
    out, unknown, wrong = {}, [], []
    for hf_name, tensor in hf_state.items():
        if _SKIPPED.search(hf_name):
            continue
        mapped = _our_name(hf_name)
        if mapped is None:
            unknown.append(hf_name)
            continue
        ours, transpose = mapped
        value = tensor.t().contiguous() if transpose else tensor
        if ours in shapes and tuple(value.shape) != shapes[ours]:
            wrong.append(f"{hf_name} {tuple(tensor.shape)} -> {ours} needs {shapes[ours]}")
        out[ours] = value
    tied = "head.weight"
    missing = sorted(set(shapes) - set(out) - {tied})
    if unknown or wrong or missing:
        lines = ["this checkpoint does not fit GPTConfig(" + ", ".join(
            f"{k}={getattr(cfg, k)}" for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")) + ")"]
        for label, items in (("unknown keys", unknown), ("shape mismatches", wrong), ("missing", missing)):
            if items:
                lines.append(f"  {label}: " + "; ".join(items[:10]) + (" ..." if len(items) > 10 else ""))
        raise ValueError("\n".join(lines))
    out[tied] = out["tok_emb.weight"]
    return out


def _shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    """The shapes of GPT(cfg)'s state dict (a test checks them against a built model)."""
    C, V = cfg.n_embd, cfg.vocab_size
    shapes = {"tok_emb.weight": (V, C), "pos_emb.weight": (cfg.block_size, C), "ln_f.weight": (C,),
              "ln_f.bias": (C,), "head.weight": (V, C)}
    per_block = {"ln1.weight": (C,), "ln1.bias": (C,), "attn.qkv.weight": (3 * C, C), "attn.qkv.bias": (3 * C,),
                 "attn.proj.weight": (C, C), "attn.proj.bias": (C,), "ln2.weight": (C,), "ln2.bias": (C,),
                 "mlp.fc.weight": (4 * C, C), "mlp.fc.bias": (4 * C,), "mlp.proj.weight": (C, 4 * C),
                 "mlp.proj.bias": (C,)}
    for i in range(cfg.n_layer):
        shapes.update({f"blocks.{i}.{k}": v for k, v in per_block.items()})
    return shapes


class PretrainedUnavailable(RuntimeError):
    """The weights could not be found locally nor downloaded."""


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Can a TCP connection to the hub be opened? (Offline this fails at once instead of retrying for 30 s.)"""
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hf_model(source: str, local_files_only: bool):
    from transformers import GPT2LMHeadModel

    try:                                                  # a folder, or a copy already in the cache
        return GPT2LMHeadModel.from_pretrained(source, local_files_only=True)
    except OSError:
        if local_files_only or os.path.isdir(source):
            raise
    if not _hub_reachable():
        raise OSError("huggingface.co cannot be reached (no network?)")
    return GPT2LMHeadModel.from_pretrained(source)


def load_gpt2(source: str | os.PathLike = "gpt2", local_files_only: bool = False) -> GPT:
    """Our GPT with GPT-2's weights, in eval mode. ``source``: a Hugging Face hub name ("gpt2" is the 124M
    model; it downloads once into the Hugging Face cache) or a folder written by ``save_pretrained``.

    Without a network and without a cached copy this raises :class:`PretrainedUnavailable` with one message.
    """
    try:
        import transformers  # noqa: F401
    except ImportError as err:
        raise ImportError("loading GPT-2 needs the transformers package: pip install transformers") from err
    try:
        hf = _hf_model(str(source), local_files_only)
    except OSError as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise PretrainedUnavailable(
            f"could not load GPT-2 weights from {str(source)!r}: no local copy and no download ({first}). "
            f"Connect to the internet once (the weights are then cached), or pass a folder written by "
            f"GPT2LMHeadModel.save_pretrained.") from err
    cfg = config_from_hf(hf.config)
    model = GPT(cfg)
    model.load_state_dict(convert_gpt2_state_dict(hf.state_dict(), cfg))
    return model.eval()


def save_random_gpt2(folder: str | os.PathLike, vocab_size: int = 100, n_positions: int = 32, n_embd: int = 32,
                     n_layer: int = 2, n_head: int = 2, init_std: float = 0.2, seed: int = 0):
    """A randomly initialised Hugging Face ``GPT2LMHeadModel`` of the given size, saved with
    ``save_pretrained`` into ``folder``: the offline stand-in for the real checkpoint. Returns the HF model.

    ``init_std`` is 10 times GPT-2's 0.02, so that activations are of order 1 and a wrong detail (the exact
    GELU instead of the tanh one, say) shows in the logits instead of hiding under tiny numbers."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd,
                                    n_layer=n_layer, n_head=n_head, bos_token_id=vocab_size - 1,
                                    eos_token_id=vocab_size - 1, initializer_range=init_std)).eval()
    with torch.no_grad():                      # GPT-2 starts LayerNorms at 1, 0 and biases at 0: vary them,
        for name, p in hf.named_parameters():  # so the check also catches a bias or LayerNorm misplaced
            if "ln_" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    hf.save_pretrained(folder)
    return hf
