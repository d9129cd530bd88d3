# ruff: noqa
from lib import *
b, _ = load("mlm-all-L1800-1800")
m, _ = load("gpt-all-L1800-1800")
run_all([lambda s=s: finetune(b, 145, 5e-4, "mlm-all-L1800-1800", seed=s) for s in (0, 1, 2)]
        + [lambda s=s: lora(m, 1448, r=2, alpha=4, lr=1e-2, where="mlp", ln=True, seed=s) for s in (2, 3)])
