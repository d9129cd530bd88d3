# ruff: noqa
from lib import *
m, _ = load("gpt-all-L1800-1800")
J = lambda **k: (lambda: lora(m, 1448, **k))
run_all([J(r=2, alpha=4, lr=1e-2, where="all", ln=True, lp=True), J(r=8, alpha=16, lr=1e-2, where="qkv", ln=True, lp=True),
         J(r=4, alpha=8, lr=1e-2, ln=True, lp=True), J(r=2, alpha=8, lr=1e-2, where="all", ln=True),
         J(r=8, alpha=16, lr=1e-2, where="qkv", ln=True), J(r=2, alpha=4, lr=1e-2, where="mlp", ln=True, lp=True),
         J(r=1, alpha=4, lr=1e-2, where="all", ln=True, lp=True),
         J(r=2, alpha=4, lr=1e-2, where="all", ln=True, seed=1), J(r=2, alpha=4, lr=1e-2, where="all", ln=True, lp=True, seed=1),
         J(r=8, alpha=16, lr=1e-2, where="qkv", ln=True, lp=True, seed=1)])
