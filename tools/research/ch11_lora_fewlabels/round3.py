# ruff: noqa
from lib import *
m, _ = load("gpt-all-L1800-1800")
J = lambda **k: (lambda: lora(m, 1448, **k))
run_all([J(r=4, alpha=8, lr=1e-2), J(r=4, alpha=16, lr=1e-2), J(r=4, alpha=4, lr=3e-2),
         J(r=2, alpha=4, lr=1e-2, where="all"), J(r=4, alpha=8, lr=1e-2, ln=True),
         J(r=4, alpha=8, lr=1e-2, lp=True), J(r=2, alpha=4, lr=1e-2, where="all", ln=True),
         J(r=8, alpha=16, lr=1e-2, where="qkv"), J(r=8, alpha=16, lr=1e-2), J(r=16, alpha=32, lr=1e-2)])
