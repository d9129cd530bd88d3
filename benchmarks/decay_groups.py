"""nanoGPT's weight-decay groups vs one AdamW group, at nanoGPT's CPU "baby" config and 2,000 iterations.

    python -m benchmarks.decay_groups [--iters 2000] [--seeds 0,1] [--quick]

Both recipes are nanoGPT's ``shakespeare_char`` training recipe on the offline ``python-docs`` corpus (Tiny
Shakespeare cannot be downloaded here): L = 4, H = 4, C = 128, T = 64, batch 12, no biases, dropout 0; AdamW
lr 1e-3, β = (0.9, 0.99), λ = 0.1; 100 warm-up steps, then cosine to 1e-4; gradient clipping at 1. They differ
only in which parameters decay:

- ``grouped``: :func:`aigc_course.optim.adamw` (matrices and embeddings decay; LayerNorm gains do not);
- ``one-group``: ``torch.optim.AdamW(model.parameters(), weight_decay=0.1)`` (every parameter decays, the
  LayerNorm gains pulled toward 0).

Same seed ⇒ same initial weights and the same batches for both recipes, so a difference is the recipe's.
Validation loss: the mean over 200 fixed batches of the held-out 10 %. Prints a table and writes JSON to
``benchmarks/results/decay_groups.json``. A heavy job (≈ 5–10 min per run on one core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from aigc_course.data import CharTokenizer, get_batch, load_corpus, train_val_split
from aigc_course.device import seed_everything
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.optim import adamw
from aigc_course.schedules import WarmupCosine
from aigc_course.steps import lm_step
from aigc_course.train import train

RESULTS = Path(__file__).resolve().parent / "results" / "decay_groups.json"
RECIPES = ("grouped", "one-group")
LR, BETAS, WEIGHT_DECAY, WARMUP, BLOCK, BATCH = 1e-3, (0.9, 0.99), 0.1, 100, 64, 12


def make_optimizer(recipe: str, model: torch.nn.Module) -> torch.optim.AdamW:
    if recipe == "grouped":
        return adamw(model, lr=LR, weight_decay=WEIGHT_DECAY, betas=BETAS)
    if recipe == "one-group":
        return torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")


@torch.no_grad()
def validation_loss(model: GPT, val: torch.Tensor, batches: int) -> float:
    model.eval()
    g = torch.Generator().manual_seed(1234)
    losses = [model(*get_batch(val, BLOCK, BATCH, generator=g))[1] for _ in range(batches)]
    model.train()
    return torch.stack(losses).mean().item()


def run_one(recipe: str, seed: int, iters: int, val_batches: int, data: tuple) -> dict:
    train_ids, val_ids, vocab = data
    seed_everything(seed)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=BLOCK, n_layer=4, n_head=4, n_embd=128, bias=False))
    optimizer = make_optimizer(recipe, model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(iters, warmup=WARMUP, floor=0.1))
    step = lm_step(model, optimizer, train_ids, BLOCK, BATCH, generator=torch.Generator().manual_seed(seed),
                   grad_clip=1.0, scheduler=scheduler)
    started = time.perf_counter()
    history = train(step, iters, modules={"model": model}, desc=f"{recipe} seed {seed}", progress=False)
    seconds = time.perf_counter() - started
    gains = [m.weight for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    return {"recipe": recipe, "seed": seed, "iters": iters, "seconds": round(seconds, 1),
            "train_loss_last_100": round(sum(history.logs["loss"][-100:]) / len(history.logs["loss"][-100:]), 4),
            "val_loss": round(validation_loss(model, val_ids, val_batches), 4),
            "layernorm_gain_mean": round(torch.cat([g.flatten() for g in gains]).mean().item(), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decay_groups", description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--val-batches", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="20 iterations, 5 validation batches (a smoke test)")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    iters, val_batches = (20, 5) if args.quick else (args.iters, args.val_batches)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    text = load_corpus("python-docs")
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = train_val_split(torch.tensor(tokenizer.encode(text)), 0.1)
    load_before = os.getloadavg()
    rows = [run_one(recipe, seed, iters, val_batches, (train_ids, val_ids, tokenizer.vocab_size))
            for seed in seeds for recipe in RECIPES]
    print(f"{'recipe':10s} {'seed':>4s} {'val loss':>9s} {'train (last 100)':>17s} {'LN gain mean':>13s} {'s':>7s}")
    for r in rows:
        print(f"{r['recipe']:10s} {r['seed']:4d} {r['val_loss']:9.4f} {r['train_loss_last_100']:17.4f} "
              f"{r['layernorm_gain_mean']:13.4f} {r['seconds']:7.1f}")
    for seed in seeds:
        by = {r["recipe"]: r["val_loss"] for r in rows if r["seed"] == seed}
        print(f"seed {seed}: one-group − grouped = {by['one-group'] - by['grouped']:+.4f} nats")
    report = {"rows": rows, "threads": torch.get_num_threads(), "torch": torch.__version__,
              "machine": platform.processor() or platform.machine(), "load_before": load_before,
              "load_after": os.getloadavg(), "corpus": "python-docs", "vocab": tokenizer.vocab_size}
    if not args.quick:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
