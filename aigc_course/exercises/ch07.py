"""Checkers for chapter 07's exercises (the transformer)."""

import torch
import torch.nn.functional as F

from aigc_course.exercises.core import exercise


@exercise("ch07.layer_norm")
def layer_norm(fn) -> None:
    """fn(x, gamma, beta, eps=1e-5) -> gamma * (x - mean) / sqrt(var + eps) + beta over the last dimension."""
    g = torch.Generator().manual_seed(0)
    x = 3 + 2 * torch.randn(4, 5, 6, generator=g)
    gamma, beta = torch.randn(6, generator=g), torch.randn(6, generator=g)
    out = fn(x, gamma, beta, eps=1e-5)
    assert tuple(out.shape) == (4, 5, 6), f"layer norm keeps the shape (4, 5, 6), got {tuple(out.shape)}"
    ref = F.layer_norm(x, (6,), gamma, beta, eps=1e-5)
    mean = x.mean(-1, keepdim=True)
    unbiased = gamma * (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=True) + 1e-5) + beta
    if torch.allclose(out, unbiased, atol=1e-4):
        raise AssertionError("you used the unbiased variance (divide by n-1): layer norm divides by n "
                             "(x.var(-1, unbiased=False) or ((x - mean)**2).mean(-1))")
    wrong_dim = gamma * (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5) + beta
    if torch.allclose(out, wrong_dim, atol=1e-4):
        raise AssertionError("you normalised over the batch (dim 0), as batch norm does: use the last dimension")
    assert torch.allclose(out, ref, atol=1e-4), \
        "your output differs from F.layer_norm: mean and variance over the last dim, then gamma * x_hat + beta"


@exercise("ch07.parameter_count")
def parameter_count(fn) -> None:
    """fn(cfg: GPTConfig) -> the number of parameters of GPT(cfg), by formula."""
    from aigc_course.models.transformer import GPT, GPTConfig

    configs = [GPTConfig.nano(vocab_size=50), GPTConfig.nano(vocab_size=50, tie_weights=False),
               GPTConfig.nano(vocab_size=70, bias=False, n_layer=3), GPTConfig(vocab_size=30, block_size=20,
                                                                              n_layer=1, n_head=4, n_embd=48)]
    for cfg in configs:
        got, counted = fn(cfg), sum(p.numel() for p in GPT(cfg).parameters())
        if got == counted:
            continue
        hint = ""
        if got - counted == cfg.vocab_size * cfg.n_embd:
            hint = " You counted the output head, but with tie_weights=True it is the token embedding."
        elif counted - got == cfg.vocab_size * cfg.n_embd:
            hint = " With tie_weights=False the output head (V x C, no bias) is a separate matrix."
        elif (counted - got) % cfg.n_embd == 0:
            hint = f" You are {(counted - got) // cfg.n_embd} x n_embd short: biases, LayerNorm parameters?"
        raise AssertionError(f"for n_layer={cfg.n_layer}, n_embd={cfg.n_embd}, vocab_size={cfg.vocab_size}, "
                             f"block_size={cfg.block_size}, bias={cfg.bias}, tie_weights={cfg.tie_weights} the "
                             f"model has {counted:,} parameters, you said {got:,}.{hint}")


@exercise("ch07.top_k")
def top_k(fn) -> None:
    """fn(logits (B, V), k) -> logits with every entry outside the k largest of its row set to -inf."""
    logits = torch.tensor([[1.0, 5.0, 3.0, 2.0, 4.0], [0.0, -1.0, 2.0, 1.0, -2.0]])
    out = fn(logits.clone(), 2)
    assert tuple(out.shape) == (2, 5), f"keep the shape (B, V) = (2, 5), got {tuple(out.shape)}"
    inf = float("-inf")
    expected = torch.tensor([[inf, 5.0, inf, inf, 4.0], [inf, inf, 2.0, 1.0, inf]])
    assert torch.equal(out, expected), (f"with k=2 row 0 keeps 5 and 4 and row 1 keeps 2 and 1 (the rest -inf); "
                                        f"you returned {out.tolist()}")
    assert torch.equal(fn(logits.clone(), 5), logits), "with k = V nothing is removed"
    kept = torch.isfinite(fn(torch.randn(3, 100, generator=torch.Generator().manual_seed(0)), 7)).sum(-1)
    assert kept.tolist() == [7, 7, 7], f"each row must keep exactly k=7 finite logits, kept {kept.tolist()}"


def _counted_training_flops(cfg, seq_len: int) -> tuple[int, int]:
    """(FLOPs per token of one forward + backward pass of GPT(cfg) on seq_len tokens, counted by PyTorch;
    the model's number of parameters)."""
    from torch.utils.flop_counter import FlopCounterMode

    from aigc_course.models.transformer import GPT

    torch.manual_seed(0)
    model = GPT(cfg)
    idx = torch.randint(cfg.vocab_size, (1, seq_len))
    with FlopCounterMode(display=False) as counter:
        model(idx, idx)[1].backward()
    return counter.get_total_flops() // seq_len, sum(p.numel() for p in model.parameters())


@exercise("ch07.training_flops")
def training_flops(fn) -> None:
    """fn(cfg, seq_len) -> matmul FLOPs per token of one training step of GPT(cfg), derived from cfg's fields.

    Checked against PyTorch's own count on real models; the usual wrong derivations get a hint.
    """
    from aigc_course.models.transformer import GPTConfig

    configs = [(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=16, fused=False), 16),
               (GPTConfig(vocab_size=90, block_size=32, n_layer=1, n_head=4, n_embd=32, fused=False,
                          tie_weights=False, bias=False), 24)]
    for cfg, T in configs:
        L, C, V = cfg.n_layer, cfg.n_embd, cfg.vocab_size
        expected, all_params = _counted_training_flops(cfg, T)
        got = fn(cfg, T)
        blocks, head, attn = 12 * L * C * C, V * C, L * T * C
        wrong = {
            2 * (blocks + head) + 4 * attn: "that is the forward pass only; the backward pass computes two products "
                                            "per forward product (gradients for the inputs and for the weights)",
            6 * (blocks + head): "6·N leaves out attention's own products: QKᵀ and weights·V, 2·T·C FLOPs each per "
                                 "token and layer in the forward pass, three times that in training",
            6 * blocks + 12 * attn: "the output head (C -> V) is a matrix product too: its V·C weights count",
            6 * (blocks + head) + 4 * attn: "attention's products are trained too: three times their forward cost",
            6 * all_params + 12 * attn: "the embedding tables are look-ups, not products: count only the weights "
                                        "used in matrix products (12·L·C² in the blocks, V·C in the head)",
            6 * all_params: "6 × all parameters counts the embedding tables (look-ups, not products) and leaves "
                            "out attention's own products (12·L·T·C in training)",
        }
        if got in wrong and got != expected:
            raise AssertionError(wrong[got])
        assert got == expected, (f"for n_layer={L}, n_embd={C}, vocab_size={V}, seq_len={T} PyTorch counts "
                                 f"{expected:,} FLOPs per token, you said {got!r}: derive which weights take part "
                                 f"in matrix products (section 6), then forward and backward")
