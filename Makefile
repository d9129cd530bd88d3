# The course's commands. The two that matter: `make lab` and `make test`.
# Both create .venv and install the course into it when needed (idempotent: seconds when up to date).

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.aigc-installed
PORT     ?= 8888
IP       ?= 127.0.0.1
WORKERS  ?= 2
NOTEBOOKS = chapters solutions

.PHONY: help install lab lab-guard test unit notebooks browser pairing lint sync bench doctor book verify clean workshop-test nbgrader ddp

help:
	@echo "make lab      install if needed, open the course in JupyterLab (PORT=$(PORT), IP=$(IP); an IP beyond"
	@echo "              this machine needs ALLOW_REMOTE=1: anyone who can reach it and has the token runs code)"
	@echo "make test     install if needed, run every test and every notebook (FAST mode)"
	@echo "make unit | notebooks | browser | pairing | lint   run one part of 'make test'"
	@echo "make sync     re-pair every .ipynb with its .py twin (or only NB=\"chapters/03_x.py ...\")"
	@echo "make bench    benchmarks of the reference models on this device"
	@echo "make book     the course as a static HTML book in build/book/html (FAST outputs; FULL=1: full-mode outputs; FROM=dir: the notebooks make verify KEEP=dir executed)"
	@echo "make doctor   what this machine has: Python, torch, device, data sets"
	@echo "make verify   every chapter and solution in full mode (MODE=workshop possible): claims table"
	@echo "make workshop-test | nbgrader COURSE=dir | ddp NPROC=2   JupyterHub, nbgrader, torchrun (workshop/README.md)"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# JupyterLab runs arbitrary code for whoever holds its token: bind beyond loopback only when asked to, loudly,
# and never without the token.
lab-guard:
	@case "$(IP)" in \
	  127.*|localhost|::1|"[::1]") ;; \
	  *) if [ "$(ALLOW_REMOTE)" != "1" ]; then \
	       echo "make lab: refusing to serve on IP=$(IP), beyond this machine: anyone who can reach it and" \
	            "learns the token can run code as you. Use the default IP=127.0.0.1, or opt in with" \
	            "ALLOW_REMOTE=1 on a network you trust." >&2; exit 1; fi; \
	     case "$(LAB_ARGS)" in *token*|*password*) \
	       echo "make lab: refusing to change the token or password (LAB_ARGS=$(LAB_ARGS)) while serving" \
	            "on IP=$(IP); the token is what protects it." >&2; exit 1;; esac; \
	     echo "WARNING: serving JupyterLab on $(IP) (ALLOW_REMOTE=1): reachable from other machines;" \
	          "keep the token secret and stop the server when done." >&2;; \
	esac

lab: lab-guard install
	@echo "Serving the course on http://$(IP):$(PORT)/lab (Ctrl-C to stop)"
	$(VENV)/bin/jupyter lab --ip=$(IP) --port=$(PORT) --notebook-dir=. \
		$(if $(DISPLAY),,--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) \
		chapters/00_setup_and_tour.ipynb

test: install
	@bash tools/run_tests.sh

unit: install
	$(PY) -m pytest tests -n $(WORKERS) -m "not browser and not book"

notebooks: install
	AIGC_FAST=1 OMP_NUM_THREADS=1 $(PY) -m pytest -p no:python --nbval-lax --nbval-current-env -n $(WORKERS) --dist loadscope $(NOTEBOOKS)

browser: install
	$(PY) -m pytest tests -m browser

pairing: install
	$(PY) -m pytest tests/test_pairing.py

lint: install
	$(PY) -m ruff check .

sync: install
	$(PY) tools/notebooks.py sync $(NB)

bench: install
	$(PY) -m benchmarks

# FULL=1: one full run (make verify, its claims table in verify-report.md) whose executed notebooks are the pages
book: install
	$(if $(FULL),$(PY) tools/verify.py --mode full --jobs $(WORKERS) --keep build/full-run)
	$(PY) tools/book.py $(if $(FULL),--executed build/full-run,$(if $(FROM),--executed $(FROM))) --jobs $(WORKERS)
	AIGC_REQUIRE_BOOK=1 $(PY) -m pytest tests/test_book.py -m book -q -p no:xdist

doctor: install
	$(PY) -m aigc_course doctor

workshop-test: install
	$(PY) -m pytest tests/test_jupyterhub.py tests/test_nbgrader.py tests/test_distributed.py -n 0

COURSE ?= nbgrader-course
nbgrader: install
	$(PY) tools/nbgrader_export.py $(COURSE)

NPROC ?= 2
ddp: install
	$(VENV)/bin/torchrun --standalone --nproc_per_node=$(NPROC) -m aigc_course.distributed $(DDP_ARGS)

clean:
	rm -rf build *.egg-info .pytest_cache .ruff_cache

# Every chapter and solution in full mode (MODE=workshop for the workshop budgets); one table of every claim,
# measured against stated, in verify-report.md, WORKERS notebooks at a time (one thread each on 2 cores).
# Exits non-zero when a claim or a cell fails.
MODE ?= full
verify: install
	$(PY) tools/verify.py --mode $(MODE) --jobs $(WORKERS) $(if $(KEEP),--keep $(KEEP))

# every chapter's main training, briefly, on the GPU (DEVICE=cpu to try it here): losses fall, the CPU's
# semantics hold, a throughput table (tools/gpu_check.py)
.PHONY: gpu-check
gpu-check: install
	$(PY) tools/gpu_check.py $(if $(DEVICE),--device $(DEVICE))
