# ruff: noqa
"""MLM pre-training, 1,800 steps of one schedule (as lib.pretrain: AdamW 2e-3, warm-up + cosine, batch 32, seed 0/1),
split over two heavy runs: argv[1] = stop step (900 or 1800); resumes model/optimiser/schedule/batch generator
from /tmp/ft6/mlm-all-L1800-state.pt. Snapshot at the stop step; then fine-tunes it (argv[2:] = seeds, 1,448 labels)."""
from lib import *
from aigc_course.steps import supervised_step as step_of
stop, total = int(sys.argv[1]), 1800
ids = torch.tensor(bpe.encode(corpus("all")))
log(f"{len(ids):,} tokens")
torch.manual_seed(0)
m = make("mlm")
opt = torch.optim.AdamW(m.parameters(), lr=2e-3, weight_decay=0.01)
sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(total, warmup=total // 20 + 1))
gen = torch.Generator().manual_seed(1)
start, sec = 0, 0.0
ST = "/tmp/ft6/mlm-all-L1800-state.pt"
if stop > 900:
    s = torch.load(ST)
    m.load_state_dict(s["model"]); opt.load_state_dict(s["opt"]); sched.load_state_dict(s["sched"])
    gen.set_state(s["gen"]); start, sec = s["step"], s["sec"]
def batch_fn(step):
    x, y = get_batch(ids, T, 32, generator=gen)
    return mask_tokens(x, MASK_ID, V, protected=torch.tensor([PAD_ID]), generator=gen)
fn = step_of(m, opt, lambda mm, b: mm(b[0], b[1])[1], batch_fn, grad_clip=1.0, scheduler=sched)
t0, L = time.time(), []
for step in range(start, stop):
    L.append(fn(step)["loss"])
    if step % 300 == 0:
        log(f"step {step} loss {L[-1]:.3f}")
sec += time.time() - t0
log(f"steps {start}-{stop}: loss {sum(L[:20]) / 20:.3f} -> {sum(L[-20:]) / 20:.3f}, {time.time() - t0:.0f} s (total {sec:.0f} s)")
torch.save({"model": m.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "gen": gen.get_state(),
            "step": stop, "sec": sec}, ST)
torch.save({"sd": m.state_dict(), "sec": sec, "kind": "mlm"}, f"/tmp/ft6/mlm-all-L1800-{stop}.pt")
body, _ = load(f"mlm-all-L1800-{stop}")
run_all([lambda s=int(s): finetune(body, 1448, 5e-4, f"mlm-all-L1800-{stop}", seed=s) for s in sys.argv[2:]], budget=300)
