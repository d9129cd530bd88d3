# ruff: noqa
from lib import *
m, _ = load("gpt-all-L1800-1800")
J = lambda n, **k: (lambda: lora(m, n, r=2, alpha=4, ln=True, **k))
run_all([J(1448, where="mlp", lr=1e-2, lp=True, seed=2), J(1448, where="mlp", lr=1e-2, lp=True, seed=3),
         J(1448, where="mlp", lr=1e-2, seed=0), J(1448, where="mlp", lr=1e-2, seed=1),
         J(1448, where="all", lr=5e-3, lp=True, seed=0), J(1448, where="all", lr=5e-3, lp=True, seed=1),
         J(145, where="mlp", lr=1e-2, lp=True, seed=1), J(145, where="all", lr=1e-2, seed=3),
         J(1448, where="all", lr=5e-3, lp=True, seed=2), J(145, where="mlp", lr=1e-2, lp=True, seed=2)])
