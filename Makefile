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

.PHONY: help install lab test unit notebooks browser pairing lint sync bench doctor clean workshop-test nbgrader ddp

help:
	@echo "make lab      install if needed, open the course in JupyterLab (PORT=$(PORT), IP=$(IP))"
	@echo "make test     install if needed, run every test and every notebook (FAST mode)"
	@echo "make unit | notebooks | browser | pairing | lint   run one part of 'make test'"
	@echo "make sync     re-pair every .ipynb with its .py twin (or only NB=\"chapters/03_x.py ...\")"
	@echo "make bench    benchmarks of the reference models on this device"
	@echo "make doctor   what this machine has: Python, torch, device, data sets"
	@echo "make workshop-test | nbgrader COURSE=dir | ddp NPROC=2   JupyterHub, nbgrader, torchrun (workshop/README.md)"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

lab: install
	@echo "Serving the course on http://$(IP):$(PORT)/lab (Ctrl-C to stop)"
	$(VENV)/bin/jupyter lab --ip=$(IP) --port=$(PORT) --notebook-dir=. \
		$(if $(DISPLAY),,--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) \
		chapters/00_setup_and_tour.ipynb

test: install
	@bash tools/run_tests.sh

unit: install
	$(PY) -m pytest tests -n $(WORKERS) -m "not browser"

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
