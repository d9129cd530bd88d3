# ruff: noqa
"""Paired gaps / bootstrap ratios over the 362 validation texts. An arm = a glob of correctness vectors (one per seed)
in /tmp/ft4 or /tmp/ft6; seed-averaged correctness, d_i = a_i - b_i, gap ± 1.96 SE."""
import glob, math, sys, torch
ARMS = {
    "ft": "c-gpt-all-L1800-1800-{n}-mean-[0-9].pt",
    "lpft": "c-gpt-all-L1800-1800-{n}-mean-[0-9]-lpft.pt",
    "mlm0": "c-scratch-mlm-lr5-{n}-mean-[0-9].pt",
    "gpt0": "c-scratch-gpt-lr5-{n}-mean-[0-9].pt",
    "lora": "c-lora-gpt1800-all-r2-a4-lr0.01-ln-{n}-[0-9].pt",
    "lplora": "c-lora-gpt1800-all-r2-a4-lr0.01-lp-ln-{n}-[0-9].pt",
    "mlplora": "c-lora-gpt1800-mlp-r2-a4-lr0.01-lp-ln-{n}-[0-9].pt",
    "mlm18": "c-mlm-all-L1800-1800-{n}-mean-[0-9].pt",
    "mlm9": "c-mlm-all-L900-900-{n}-mean-[0-9].pt",
    "mlm18_900": "c-mlm-all-L1800-900-{n}-mean-[0-9].pt",
}
def files(pat, n):
    pat = ARMS.get(pat, pat).replace("{n}", str(n))
    return sorted(set(glob.glob(f"/tmp/ft4/{pat}")) | set(glob.glob(f"/tmp/ft6/{pat}")), key=lambda f: f.split("/")[-1])
def arm(pat, n):
    fs = files(pat, n)
    if not fs:
        raise SystemExit(f"no files for {pat} n={n}")
    # the same file name in both dirs counts once (ft6 wins)
    byname = {}
    for f in fs:
        byname.setdefault(f.split("/")[-1], f)
        if f.startswith("/tmp/ft6"):
            byname[f.split("/")[-1]] = f
    return torch.stack([torch.load(f).float() for f in byname.values()])   # (seeds, 362)
def gap(a, b, n, na=None):
    A, B = arm(a, na or n), arm(b, n)
    d = A.mean(0) - B.mean(0)
    g, se = d.mean().item() * 100, d.std().item() / math.sqrt(d.numel()) * 100
    return A, B, g, 1.96 * se
def show(a, b, n):
    A, B, g, h = gap(a, b, n)
    ps = lambda X: "[" + " ".join(f"{v:.1f}" for v in X.mean(1).mul(100).tolist()) + "]"
    print(f"n={n:5d} {a:42} {A.mean()*100:5.1f} {ps(A)} vs {b:10} {B.mean()*100:5.1f} {ps(B)}: gap {g:+5.1f} ± {h:.1f}")
def ratio(a, b, n_small, n_big=1448, reps=4000, seed=0):
    """gap(n_small)/gap(n_big), bootstrap: resample texts (same indices for all four arms: pairing kept) and seeds."""
    arms = [arm(a, n_small), arm(b, n_small), arm(a, n_big), arm(b, n_big)]
    g = torch.Generator().manual_seed(seed)
    pt = lambda X: X.mean(0)
    point = ((pt(arms[0]) - pt(arms[1])).mean() / (pt(arms[2]) - pt(arms[3])).mean()).item()
    out, dd = [], []
    for _ in range(reps):
        i = torch.randint(362, (362,), generator=g)
        m = [X[torch.randint(X.size(0), (X.size(0),), generator=g)][:, i].mean() for X in arms]
        out.append(((m[0] - m[1]) / (m[2] - m[3])).item())
        dd.append((100 * ((m[0] - m[1]) - 2 * (m[2] - m[3]))).item())
    out, dd = torch.tensor(out), torch.tensor(dd)
    lo, hi = torch.quantile(out, torch.tensor([0.025, 0.975])).tolist()
    p2 = (out >= 2).float().mean().item()
    d0 = 100 * ((pt(arms[0]) - pt(arms[1])).mean() - 2 * (pt(arms[2]) - pt(arms[3])).mean()).item()
    dlo, dhi = torch.quantile(dd, torch.tensor([0.025, 0.975])).tolist()
    print(f"ratio gap({n_small})/gap({n_big}) {a} vs {b}: {point:.2f}  95% bootstrap [{lo:.2f}, {hi:.2f}]  P(ratio>=2) {p2:.2f};"
          f"  gap({n_small}) - 2 gap({n_big}) = {d0:+.1f} [{dlo:+.1f}, {dhi:+.1f}] points")
if __name__ == "__main__":
    for spec in sys.argv[1:]:
        if spec.startswith("ratio:"):
            _, a, b, ns = spec.split(":"); ratio(a, b, int(ns))
        else:
            ab, n = spec.rsplit("@", 1); a, b = ab.split("="); show(a, b, int(n))
