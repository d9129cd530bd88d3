# ruff: noqa
from lib import *
m, _ = load("gpt-all-L1800-1800")
def scratch(kind, seed):
    def f():
        torch.manual_seed(seed)
        finetune(make(kind), 72, 5e-4, f"scratch-{kind}-lr5", seed=seed)
    return f
run_all([lambda s=s: lora(m, 72, r=2, alpha=4, lr=1e-2, where="all", ln=True, seed=s) for s in (0, 1, 2)]
        + [scratch("gpt", 1), scratch("gpt", 2), scratch("mlm", 3),
           lambda: finetune(m, 72, 5e-4, "gpt-all-L1800-1800", seed=3), lambda: finetune(m, 72, 5e-4, "gpt-all-L1800-1800", seed=3, lpft=True)])
