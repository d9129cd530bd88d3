"""``make gpu-check``: every chapter's main training, briefly, on a GPU; a throughput table at the end.

For each model the course trains (chapters 00–09) it checks, on ``--device`` (default: the best one):

1. **same semantics as the CPU**: the model is initialised on the CPU under a seed and moved to the
   device; its loss on a fixed batch (the *probe*, fp32, no update) agrees with the CPU's to 1 %, and
   what it generates has the CPU's shape;
2. **it learns**: after ``--steps`` updates of the library's own step function, under the library's
   default precision for the device (bf16 or fp16 + GradScaler on CUDA), the probe has fallen;
3. **seeded determinism**: two runs of 5 steps from the same seed record identical losses — required on
   the CPU; on CUDA reported (``deterministic`` column), since some CUDA kernels (atomic adds in an
   embedding's backward, cuDNN's convolution choice) are not bit-reproducible without the slower
   deterministic mode;

then prints steps/s and samples (or tokens)/s per model. Exit status 1 when a check fails.
``--device cpu --tiny`` runs the same checks with tiny models in seconds (a unit test does).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.accel import resolve_precision
from aigc_course.device import get_device, seed_everything
from aigc_course.train import lm_step, supervised_step, train


@dataclass
class Case:
    """One chapter's training, built on a device: step function, modules, probe and sampler."""

    step: Callable[[int], object]
    modules: dict
    probe: Callable[[], float]          # a loss on fixed data, no update (lower is better)
    sample: Callable[[], Tensor]        # what the model generates (its shape is checked against the CPU's)
    items: int                          # samples or tokens per step
    unit: str
    precision: str                      # what the step trains in on this device


def _digits(size: int, n: int) -> tuple[Tensor, Tensor]:
    from aigc_course.data.images import load_images

    data = load_images("digits", size=size, limit=n)
    return data.images, data.labels


def _text(n: int) -> Tensor:
    from aigc_course.data.text import CharTokenizer, load_corpus

    text = load_corpus("python-docs", max_chars=n)
    return torch.tensor(CharTokenizer.from_text(text).encode(text), dtype=torch.long)


def _fixed(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _moments_gap(fake: Tensor, real: Tensor) -> float:
    """A GAN's probe: ‖mean_fake − mean_real‖² + ‖std_fake − std_real‖² over features (0 when they match)."""
    f, r = fake.flatten(1).float(), real.flatten(1).float()
    return float((f.mean(0) - r.mean(0)).pow(2).sum() + (f.std(0) - r.std(0)).pow(2).sum())


def classifier_case(device: torch.device, tiny: bool) -> Case:
    """Chapters 00 and 09: the digit classifier (the judge of chapter 09) with cross-entropy."""
    from aigc_course.models.classifier import ClassifierConfig, DigitClassifier

    x, y = _digits(16, 256 if tiny else 1400)
    cfg = ClassifierConfig.tiny(image_size=16, num_classes=10) if tiny else ClassifierConfig()
    model = DigitClassifier(cfg).to(device)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g, b = _fixed(1), 32 if tiny else 128
    batch = lambda s: (lambda i: (x[i], y[i]))(torch.randint(0, len(x), (b,), generator=g).to(device))
    step = supervised_step(model, opt, lambda m, xy: F.cross_entropy(m(xy[0]), xy[1]), batch)
    probe = _no_grad_eval(model, lambda: F.cross_entropy(model(x[:256]), y[:256]).item())
    return Case(step, {"model": model, "opt": opt}, probe, _no_grad_eval(model, lambda: model(x[:8])), b,
                "samples", step.precision.precision)


def _no_grad_eval(model: nn.Module, fn: Callable):
    def run():
        was = model.training
        model.eval()
        torch.manual_seed(123)                 # the probe's own noise (VAE's ε), the same every call
        with torch.no_grad():
            out = fn()
        model.train(was)
        return out
    return run


def toy_gan_case(device: torch.device, tiny: bool) -> Case:
    """Chapter 02: the MLP GAN on the 8-Gaussian ring."""
    from aigc_course.data.toy import ring
    from aigc_course.models import gan

    cfg = gan.ToyGANConfig()                        # small enough for --tiny too (a few thousand parameters)
    g_net, d_net = (m.to(device) for m in gan.build_toy_gan(cfg))
    opt_g, opt_d = gan.gan_optimizers(g_net, d_net)
    dist, rng = ring(), _fixed(2)
    step = gan.gan_step(g_net, d_net, opt_g, opt_d, gan.toy_sampler(dist, device, rng),
                        gan.latent_sampler(cfg.latent_dim, device, rng), batch_size=128)
    z = torch.randn(512, cfg.latent_dim, generator=_fixed(3)).to(device)
    modes = dist.modes.to(device)                   # probe: mean distance from a fake to its nearest mode
    probe = _no_grad_eval(g_net, lambda: torch.cdist(g_net(z), modes).min(dim=1).values.mean().item())
    return Case(step, {"G": g_net, "D": d_net}, probe, _no_grad_eval(g_net, lambda: g_net(z[:8])), 128,
                "samples", "fp32")


def dcgan_case(device: torch.device, tiny: bool) -> Case:
    """Chapter 03: the DCGAN on 16x16 digits (image_gan_step: chapter 02's step on images)."""
    from aigc_course.models.dcgan import DCGANConfig, build_dcgan, dcgan_optimizers, image_gan_step, to_model_range

    cfg = DCGANConfig.tiny() if tiny else DCGANConfig(image_size=16, latent_dim=32, width=32)
    x, _ = _digits(16, 256 if tiny else 1400)
    g_net, d_net = (m.to(device) for m in build_dcgan(cfg))
    opt_g, opt_d = dcgan_optimizers(g_net, d_net)
    step = image_gan_step(g_net, d_net, opt_g, opt_d, x.to(device), batch_size=64)
    z = torch.randn(256, cfg.latent_dim, generator=_fixed(3)).to(device)
    real = to_model_range(x[:256]).to(device)
    probe = _no_grad_eval(g_net, lambda: _moments_gap(g_net(z), real))
    return Case(step, {"G": g_net, "D": d_net}, probe, _no_grad_eval(g_net, lambda: g_net(z[:8])), 64,
                "samples", "fp32")


def vae_case(arch: str) -> Callable[[torch.device, bool], Case]:
    def build(device: torch.device, tiny: bool) -> Case:
        """Chapters 04 and 05: the VAE (−ELBO), MLP or conv, on binarised 16x16 digits."""
        from aigc_course.models.vae import VAE, VAEConfig, elbo

        cfg = (VAEConfig.tiny(arch=arch, image_shape=(1, 16, 16)) if tiny
               else VAEConfig(image_shape=(1, 16, 16), arch=arch, latent_dim=16))
        x = (_digits(16, 256 if tiny else 1400)[0] > 0.5).float().to(device)
        model = VAE(cfg).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        g, b = _fixed(1), 64
        batch = lambda s: x[torch.randint(0, len(x), (b,), generator=g).to(device)]
        step = supervised_step(model, opt, lambda m, xb: -elbo(m, xb).elbo.mean(), batch)
        probe = _no_grad_eval(model, lambda: -elbo(model, x[:256]).elbo.mean().item())
        sample = _no_grad_eval(model, lambda: model.decode(torch.randn(8, cfg.latent_dim, device=device)))
        return Case(step, {"model": model, "opt": opt}, probe, sample, b, "samples", step.precision.precision)
    return build


def lm_case(kind: str) -> Callable[[torch.device, bool], Case]:
    def build(device: torch.device, tiny: bool) -> Case:
        """Chapters 06–08: a character language model (GPT or LSTM) on the Python docs, next-token loss."""
        data = _text(20_000 if tiny else 200_000)
        vocab = int(data.max()) + 1
        if kind == "gpt":
            from aigc_course.models.transformer import GPT, GPTConfig
            model = GPT((GPTConfig.nano if tiny else GPTConfig.tiny)(vocab_size=vocab))
            block = model.cfg.block_size
        else:
            from aigc_course.models.rnn import LSTMLM, LSTMConfig
            model = LSTMLM(LSTMConfig.tiny(vocab_size=vocab) if tiny else LSTMConfig(vocab_size=vocab))
            block = 32 if tiny else 64
        model.to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        b = 8 if tiny else 32
        step = lm_step(model, opt, data, block, b, generator=_fixed(1), device=device)
        fixed = data[: (len(data) // (block + 1)) * (block + 1)][: 16 * (block + 1)].view(16, block + 1).to(device)
        probe = _no_grad_eval(model, lambda: model(fixed[:, :-1], fixed[:, 1:])[1].item())
        return Case(step, {"model": model, "opt": opt}, probe, _no_grad_eval(model, lambda: model(fixed[:2, :-1])[0]),
                    b * block, "tokens", step.precision.precision)
    return build


CHECKS: dict[str, tuple[str, Callable[[torch.device, bool], Case]]] = {
    "classifier": ("00, 09", classifier_case),
    "toy GAN": ("02", toy_gan_case),
    "DCGAN": ("03, 05, 09", dcgan_case),
    "VAE mlp": ("04, 05", vae_case("mlp")),
    "VAE conv": ("05", vae_case("conv")),
    "GPT": ("06, 07, 08, 09", lm_case("gpt")),
    "LSTM": ("08", lm_case("lstm")),
}


def _build(name: str, device: torch.device, tiny: bool, seed: int) -> Case:
    """The case built under ``seed`` on the CPU (so weights match across devices), moved to ``device``."""
    seed_everything(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # data fallbacks are announced elsewhere
        return CHECKS[name][1](device, tiny)


def _deterministic(name: str, device: torch.device, tiny: bool, seed: int) -> bool:
    runs = []
    for _ in range(2):
        case = _build(name, device, tiny, seed)
        runs.append(train(case.step, 5, progress=False).logs)
    return runs[0] == runs[1]


def run_check(name: str, device: torch.device, steps: int, tiny: bool, seed: int = 0) -> dict:
    """One row of the table: the checks of the module docstring for CHECKS[name]."""
    cpu = torch.device("cpu")
    ref = _build(name, cpu, tiny, seed)
    cpu_probe, cpu_shape = ref.probe(), tuple(ref.sample().shape)
    case = _build(name, device, tiny, seed)
    before, shape = case.probe(), tuple(case.sample().shape)
    t0 = time.perf_counter()
    history = train(case.step, steps, modules=case.modules, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    after = case.probe()
    losses = [v for col in history.logs.values() for v in col]
    row = {"name": name, "chapters": CHECKS[name][0], "precision": case.precision, "steps": steps,
           "probe_cpu": cpu_probe, "probe_before": before, "probe_after": after,
           "steps_per_s": steps / seconds, "items_per_s": steps * case.items / seconds, "unit": case.unit,
           "deterministic": _deterministic(name, device, tiny, seed)}
    problems = []
    if not math.isclose(before, cpu_probe, rel_tol=1e-2, abs_tol=1e-4):
        problems.append(f"probe on {device} {before:.5g} vs CPU {cpu_probe:.5g}")
    if shape != cpu_shape:
        problems.append(f"sample shape {shape} vs CPU {cpu_shape}")
    if not all(math.isfinite(v) for v in losses):
        problems.append("a training loss is not finite")
    if not after < before:
        problems.append(f"probe did not fall ({before:.4g} -> {after:.4g})")
    if device.type == "cpu" and not row["deterministic"]:
        problems.append("two seeded CPU runs differ")
    row["problems"] = problems
    return row


def format_table(rows: list[dict], device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    head = f"device: {name}, torch {torch.__version__}"
    lines = [head, "", "| model | chapters | precision | probe: CPU / start / end | steps/s | throughput | "
             "deterministic | result |", "|---|---|---|---|---:|---:|---|---|"]
    for r in rows:
        result = "ok" if not r["problems"] else "FAIL: " + "; ".join(r["problems"])
        lines.append(f"| {r['name']} | {r['chapters']} | {r['precision']} | {r['probe_cpu']:.4g} / "
                     f"{r['probe_before']:.4g} / {r['probe_after']:.4g} | {r['steps_per_s']:,.1f} | "
                     f"{r['items_per_s']:,.0f} {r['unit']}/s | {'yes' if r['deterministic'] else 'no'} | {result} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/gpu_check.py", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cuda, cuda:N, mps or cpu (default: the best available)")
    parser.add_argument("--steps", type=int, default=None, help="updates per model (default 400; --tiny 30)")
    parser.add_argument("--tiny", action="store_true", help="tiny models (seconds on a CPU; for the unit test)")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of: {', '.join(CHECKS)}")
    args = parser.parse_args(argv)
    device = get_device(args.device)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        parser.error(f"unknown check(s) {unknown}; valid: {', '.join(CHECKS)}")
    steps = args.steps or (30 if args.tiny else 400)
    print(f"gpu-check on {device} (default precision: {resolve_precision('auto', device)}), {steps} steps each")
    rows = []
    for name in names:
        print(f"  {name} ...", flush=True)
        rows.append(run_check(name, device, steps, args.tiny))
    print(format_table(rows, device))
    failed = [r["name"] for r in rows if r["problems"]]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
