"""Cost accounting: FLOP formulas against PyTorch's own counter and counted parameters; timers and the
energy/money arithmetic. Timings are only checked for being well-formed, never for their values."""

import math

import pytest
import torch

from aigc_course.cost import (
    CostAssumptions,
    Timing,
    achieved_fraction,
    cost_estimate,
    cost_per_items,
    count_parameters,
    counted_flops,
    forward_flops,
    lstm_flops_per_token,
    matmul_peak,
    time_fn,
)
from aigc_course.models.dcgan import DCGANConfig, build_dcgan
from aigc_course.models.rnn import LSTMLM, LSTMConfig
from aigc_course.models.transformer import GPT, GPTConfig, flops_per_token, parameter_count


def test_count_parameters_matches_the_gpt_formula_and_skips_frozen():
    cfg = GPTConfig.nano(vocab_size=40)
    model = GPT(cfg)
    assert count_parameters(model) == parameter_count(cfg)          # the tied head counts once
    model.pos_emb.weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == parameter_count(cfg) - cfg.block_size * cfg.n_embd


@pytest.mark.parametrize("conditional", [False, True])
def test_forward_flops_of_a_dcgan_equal_torchs_count(conditional):
    cfg = DCGANConfig.tiny(num_classes=3 if conditional else 0)
    gen, disc = build_dcgan(cfg)
    z, x = torch.randn(4, cfg.latent_dim), torch.rand(4, 1, 16, 16) * 2 - 1
    y = torch.randint(0, 3, (4,)) if conditional else None
    assert forward_flops(gen, z, y)["total"] == counted_flops(lambda: gen(z, y))
    assert forward_flops(disc, x, y)["total"] == counted_flops(lambda: disc(x, y))


def test_forward_flops_by_hand_for_one_linear_and_one_conv():
    lin = torch.nn.Linear(5, 7)
    assert forward_flops(lin, torch.randn(3, 4, 5))["total"] == 2 * 5 * 7 * 12   # 12 rows of 5 features
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    assert forward_flops(conv, torch.randn(1, 2, 6, 6))["total"] == 2 * 2 * 9 * (3 * 36)


def test_vae_flops_equal_torchs_count():
    vae_mod = pytest.importorskip("aigc_course.models.vae")
    model = vae_mod.VAE(vae_mod.VAEConfig.tiny(arch="conv"))
    x = torch.rand(4, 1, 8, 8)
    assert forward_flops(model, x)["total"] == counted_flops(lambda: model(x))


def test_lstm_formula_equals_the_counted_flops_of_the_written_out_cell():
    cfg = LSTMConfig.tiny(n_layers=2)
    model = LSTMLM(cfg)
    idx = torch.randint(0, cfg.vocab_size, (3, 7))
    per_token = lstm_flops_per_token(cfg.n_embd, cfg.n_hidden, cfg.n_layers, cfg.vocab_size)
    assert forward_flops(model, idx)["total"] == per_token * 21
    assert counted_flops(lambda: model.unrolled(idx)) == per_token * 21     # torch counts the explicit matmuls
    assert lstm_flops_per_token(8, 16, 2, 11, training=True) == 3 * per_token
    with pytest.raises(ValueError, match="n_hidden must be a positive int"):
        lstm_flops_per_token(8, 0, 2, 11)


def test_gpt_flops_formula_from_counted_matmul_parameters():
    """forward FLOPs per token = 2 × (weights used in matmuls) + 4·L·T·C, the weights counted on the model."""
    cfg = GPTConfig.nano(vocab_size=50, fused=False)      # the unfused attention: torch counts QKᵀ and AV
    model = GPT(cfg)
    n_mm = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2 and n.startswith("blocks"))
    n_mm += model.tok_emb.weight.numel()                                # the tied head is a V x C matmul
    T = cfg.block_size
    assert flops_per_token(cfg, training=False) == 2 * n_mm + 4 * cfg.n_layer * T * cfg.n_embd
    idx = torch.randint(0, 50, (2, T))
    assert counted_flops(lambda: model(idx)) == 2 * T * flops_per_token(cfg, training=False)
    assert counted_flops(lambda: model(idx, idx)[1].backward()) == 2 * T * flops_per_token(cfg, training=True)


def test_time_fn_returns_well_formed_timings():
    calls = []
    timing = time_fn(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and len(timing.seconds) == 4
    assert all(s >= 0 for s in timing.seconds) and timing.best <= timing.median
    assert Timing([1.0, 2.0, 3.0]).spread == pytest.approx(1.0)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        time_fn(lambda: None, repeats=0)


def test_matmul_peak_is_a_finite_positive_rate():
    peak = matmul_peak("cpu", n=64, repeats=2)
    assert math.isfinite(peak) and peak > 0
    with pytest.raises(ValueError, match="n must be positive"):
        matmul_peak("cpu", n=0)


def test_matmul_peak_without_n_is_the_best_over_several_sizes(monkeypatch):
    import aigc_course.cost as cost

    seen = []

    def fake_rate(device, n, dtype, repeats):
        seen.append(n)
        return {512: 3e9, 1024: 5e9, 2048: 4e9}[n]

    monkeypatch.setattr(cost, "_matmul_rate", fake_rate)
    assert matmul_peak("cpu") == 5e9 and seen == [512, 1024, 2048]
    assert matmul_peak("cpu", n=512) == 3e9 and seen[-1] == 512


def test_cost_estimate_arithmetic():
    a = CostAssumptions(watts=1000.0, pue=1.5, price_per_kwh=0.2, price_per_hour=3.0, grams_co2_per_kwh=100.0)
    out = cost_estimate(3600.0, a)                         # one hour at 1 kW × 1.5 = 1.5 kWh
    assert out["joules"] == pytest.approx(1000 * 1.5 * 3600)
    assert out["kwh"] == pytest.approx(1.5)
    assert out["electricity_usd"] == pytest.approx(0.3) and out["rental_usd"] == pytest.approx(3.0)
    assert out["total_usd"] == pytest.approx(3.3) and out["co2_g"] == pytest.approx(150.0)
    per_k = cost_per_items(seconds=2.0, items=500, per=1000, assumptions=a)   # 1000 tokens take 4 s
    assert per_k["seconds"] == pytest.approx(4.0)
    assert per_k["total_usd"] == pytest.approx(cost_estimate(4.0, a)["total_usd"])
    assert CostAssumptions.gpu_h100().watts > CostAssumptions.cpu_2core().watts


def test_cost_inputs_are_validated():
    with pytest.raises(ValueError, match="pue is total facility power"):
        CostAssumptions(pue=0.5)
    with pytest.raises(ValueError, match="watts must be a non-negative number"):
        CostAssumptions(watts=-1)
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        cost_estimate(-1.0)
    with pytest.raises(ValueError, match="items and per must be positive"):
        cost_per_items(1.0, 0)


def test_achieved_fraction():
    assert achieved_fraction(flops=1e9, seconds=0.5, peak_flops_per_s=4e9) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="must be positive"):
        achieved_fraction(1e9, 0.0, 1e9)


def test_cost_calculator_widget_headless():
    """The chapter's calculator: ipywidgets.interactive over cost_per_items; moving a slider updates the result."""
    widgets = pytest.importorskip("ipywidgets")

    def price(watts=35.0, price_per_hour=0.08):
        a = CostAssumptions(watts=watts, price_per_hour=price_per_hour)
        return cost_per_items(0.01, 1, per=1000, assumptions=a)["total_usd"]

    w = widgets.interactive(price, watts=(5.0, 1000.0, 5.0), price_per_hour=(0.0, 5.0, 0.01))
    w.update()
    base = w.result
    w.children[0].value = 700.0
    assert w.result > base
    w.children[1].value = 0.0
    assert w.result == pytest.approx(cost_estimate(10.0, CostAssumptions(watts=700.0, price_per_hour=0.0))["total_usd"])
