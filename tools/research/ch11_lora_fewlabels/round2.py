# ruff: noqa
from lib import *
m, _ = load("gpt-all-L1800-1800")
def scratch(kind, seed):
    def f():
        torch.manual_seed(seed)
        finetune(make(kind), 72, 5e-4, f"scratch-{kind}-lr5", seed=seed)
    return f
jobs = []
for s in (0, 1, 2):
    jobs += [lambda s=s: finetune(m, 72, 5e-4, "gpt-all-L1800-1800", seed=s), scratch("mlm", s),
             lambda s=s: finetune(m, 72, 5e-4, "gpt-all-L1800-1800", seed=s, lpft=True)]
jobs += [scratch("gpt", s) for s in (0, 1, 2)]
run_all(jobs)
