# ruff: noqa
from lib import *
m, _ = load("gpt-all-L1800-1800")
J = lambda n, **k: (lambda: lora(m, n, r=2, alpha=4, lr=1e-2, ln=True, **k))
run_all([J(1448, where="all", seed=2), J(1448, where="all", seed=3),
         J(145, where="all", seed=0), J(145, where="all", lp=True, seed=0),
         J(145, where="all", seed=1), J(145, where="all", lp=True, seed=1),
         J(1448, where="mlp", lp=True, seed=1), J(1448, where="all", lp=True, seed=2),
         J(145, where="all", seed=2), J(145, where="mlp", lp=True, seed=0)])
