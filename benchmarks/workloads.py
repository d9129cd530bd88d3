"""The reference workloads: one training step (and one generation call) of each course model.

Data are random tensors of the right shape and range: the time of a step does not depend on what the
pixels or token ids are. Each workload knows its FLOPs per step, by formula (GPT, LSTM) or counted by
PyTorch's FLOP counter on one step (the conv GAN and VAE, whose layer shapes make a formula long).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from aigc_course.cost import count_parameters, counted_flops, forward_flops, lstm_flops_per_token

MODELS = ("gan", "vae", "lstm", "gpt", "diffusion")
VOCAB = 96          # a character vocabulary of the size the course's corpora have


@dataclass
class Workload:
    """One thing to time: ``step()`` does the work once and moves ``items`` samples or tokens."""

    model: str                      # gan / vae / lstm / gpt
    kind: str                       # "train" (one optimiser step) or "generate"
    step: Callable[[], object]
    items: int                      # samples or tokens per call
    unit: str                       # "samples" or "tokens"
    flops: int                      # FLOPs per call
    flops_source: str               # "formula" or "counted"
    parameters: int
    modules: list[nn.Module]        # what torch.compile wraps
    config: str                     # a short description of the size


def _gan(quick: bool, device: torch.device) -> list[Workload]:
    from aigc_course.models.dcgan import DCGANConfig, build_dcgan, dcgan_optimizers, image_gan_step

    cfg = DCGANConfig.tiny() if quick else DCGANConfig(image_size=16, latent_dim=32, width=32)
    batch = 16 if quick else 64
    gen, disc = (m.to(device) for m in build_dcgan(cfg))
    opt_g, opt_d = dcgan_optimizers(gen, disc)
    images = torch.rand(4 * batch, 1, cfg.image_size, cfg.image_size)
    train = image_gan_step(gen, disc, opt_g, opt_d, images, loss="non_saturating", batch_size=batch)
    z = torch.randn(batch, cfg.latent_dim, device=device)
    sample = torch.no_grad()(lambda: gen(z))
    desc = f"DCGAN {cfg.image_size}px, z={cfg.latent_dim}, width={cfg.width}, batch {batch}"
    params = count_parameters(gen) + count_parameters(disc)
    return [Workload("gan", "train", lambda: train(0), batch, "samples", counted_flops(lambda: train(0)),
                     "counted", params, [gen, disc], desc),
            Workload("gan", "generate", sample, batch, "samples", forward_flops(gen, z)["total"], "formula",
                     count_parameters(gen), [gen], desc)]


def _vae(quick: bool, device: torch.device) -> list[Workload]:
    from aigc_course.models.vae import VAE, VAEConfig, elbo

    cfg = VAEConfig.tiny(arch="conv") if quick else VAEConfig(image_shape=(1, 16, 16), arch="conv", latent_dim=16)
    batch = 16 if quick else 128
    model = VAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = (torch.rand(batch, *cfg.image_shape) > 0.5).float().to(device)

    def train() -> float:
        loss = -elbo(model, x).elbo.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    z = torch.randn(batch, cfg.latent_dim, device=device)
    sample = torch.no_grad()(lambda: model.decode(z))
    desc = f"conv VAE {cfg.image_shape[-1]}px, z={cfg.latent_dim}, hidden={cfg.hidden}, batch {batch}"
    return [Workload("vae", "train", train, batch, "samples", counted_flops(train), "counted",
                     count_parameters(model), [model], desc),
            Workload("vae", "generate", sample, batch, "samples", _decoder_flops(model, z), "formula",
                     count_parameters(model), [model.dec_in, model.dec_body], desc)]   # decode is not forward


def _decoder_flops(model: nn.Module, z: torch.Tensor) -> int:
    """Forward FLOPs of ``model.decode(z)``: its two parts, dec_in then dec_body."""
    with torch.no_grad():
        h = model.dec_in(z)                                                # (B, hidden)
    return forward_flops(model.dec_in, z)["total"] + forward_flops(model.dec_body, h)["total"]


def _lm_train(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train() -> float:
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return train


def _lstm(quick: bool, device: torch.device) -> list[Workload]:
    from aigc_course.models.rnn import LSTMLM, LSTMConfig

    cfg = LSTMConfig.tiny(vocab_size=VOCAB) if quick else LSTMConfig(vocab_size=VOCAB, n_embd=64, n_hidden=256)
    batch, T = (4, 32) if quick else (32, 128)
    model = LSTMLM(cfg).to(device)
    x, y = (torch.randint(0, VOCAB, (batch, T), device=device) for _ in range(2))
    per_token = lstm_flops_per_token(cfg.n_embd, cfg.n_hidden, cfg.n_layers, VOCAB, training=True)
    desc = f"LSTM {cfg.n_layers}x{cfg.n_hidden}, emb {cfg.n_embd}, batch {batch}x{T}"
    return [Workload("lstm", "train", _lm_train(model, x, y), batch * T, "tokens", per_token * batch * T,
                     "formula", count_parameters(model), [model], desc)]


def _gpt(quick: bool, device: torch.device) -> list[Workload]:
    from aigc_course.models.transformer import GPT, GPTConfig, flops_per_token

    cfg = GPTConfig.nano(vocab_size=VOCAB) if quick else GPTConfig.small(vocab_size=VOCAB, dropout=0.0)
    batch, T = (4, cfg.block_size) if quick else (16, cfg.block_size)
    model = GPT(cfg).to(device)
    x, y = (torch.randint(0, VOCAB, (batch, T), device=device) for _ in range(2))
    new = 16 if quick else 64
    prompt = torch.zeros(batch, 1, dtype=torch.long, device=device)
    gen = torch.Generator().manual_seed(0)
    sample = lambda: model.generate(prompt, new, generator=gen if device.type == "cpu" else None)
    gen_flops = sum(flops_per_token(cfg, seq_len=t, training=False) for t in range(1, new + 1)) * batch
    desc = f"GPT L={cfg.n_layer} C={cfg.n_embd} T={T}, batch {batch}"
    return [Workload("gpt", "train", _lm_train(model, x, y), batch * T, "tokens",
                     flops_per_token(cfg, training=True) * batch * T, "formula", count_parameters(model),
                     [model], desc),
            Workload("gpt", "generate", sample, batch * new, "tokens", gen_flops, "formula",
                     count_parameters(model), [model], desc + f", {new} new tokens (KV cache)")]


def _diffusion(quick: bool, device: torch.device) -> list[Workload]:
    """Chapter 10's conditional U-Net: one ε-loss step, and a 20-step DDIM sample with guidance (2B per call)."""
    from aigc_course.models.diffusion import cosine_schedule, ddim_sample
    from aigc_course.models.flow import generative_step
    from aigc_course.models.unet import UNet, UNetConfig

    cfg = UNetConfig.tiny(num_classes=10) if quick else UNetConfig(image_size=8, base=32, mults=(1, 2), num_classes=10)
    batch, steps = (8, 2) if quick else (64, 20)
    sched = cosine_schedule(250)
    model = UNet(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.rand(4 * batch, cfg.channels, cfg.image_size, cfg.image_size, device=device) * 2 - 1
    labels = torch.randint(0, 10, (4 * batch,), device=device)
    step = generative_step(model, opt, data, labels, sched=sched, batch_size=batch, p_uncond=0.1)
    y = torch.arange(batch, device=device) % 10
    shape = (batch, cfg.channels, cfg.image_size, cfg.image_size)
    sample = lambda: ddim_sample(model, shape, sched, steps, y=y, w=1.0, null_label=model.null_label,  # noqa: E731
                                 device=device, clip=1.0)
    desc = f"U-Net {cfg.image_size}px base {cfg.base} mults {cfg.mults}, batch {batch}"
    params = count_parameters(model)
    return [Workload("diffusion", "train", lambda: step(0), batch, "samples", counted_flops(lambda: step(0)),
                     "counted", params, [model], desc),
            Workload("diffusion", "generate", sample, batch, "samples", counted_flops(sample), "counted", params,
                     [model], desc + f", DDIM {steps} steps, guided")]


BUILDERS: dict[str, Callable[[bool, torch.device], list[Workload]]] = {
    "gan": _gan, "vae": _vae, "lstm": _lstm, "gpt": _gpt, "diffusion": _diffusion}


def build(model: str, quick: bool, device: torch.device) -> list[Workload]:
    """The workloads of ``model`` (one of MODELS), small ones when ``quick``."""
    if model not in BUILDERS:
        raise ValueError(f"unknown model {model!r}; valid: {', '.join(MODELS)}")
    torch.manual_seed(0)
    return BUILDERS[model](quick, device)
