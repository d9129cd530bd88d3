#!/usr/bin/env bash
# `make test`: lint, unit tests (browser test included), every notebook in FAST mode, then the HTML book.
# Prints how long each part took. Exits non-zero when any part fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKERS=${WORKERS:-2}
status=0
t0=$SECONDS
# One torch/BLAS thread per process everywhere (unit workers, notebook kernels, the browser test's kernels, the
# book's executions): the models are tiny, two processes run at once, and a container may report the host's
# cores (dozens) while granting two, where torch's default thread count would oversubscribe them many times.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

echo "== lint (ruff)"
$PY -m ruff check . || status=1
t1=$SECONDS

echo "== unit tests, pairing check and browser test"
$PY -m pytest tests -n "$WORKERS" --dist loadgroup -m "not book" --durations=25 || status=1
t2=$SECONDS

echo "== notebooks (nbval, AIGC_FAST=1)"
# Two notebooks run at once on two cores: one thread per kernel avoids oversubscription (tiny models).
AIGC_FAST=1 $PY -m pytest -p no:python --nbval-lax --nbval-current-env \
    -n "$WORKERS" --dist loadscope --durations=0 chapters solutions || status=1
t3=$SECONDS

echo "== book (executed in FAST mode, then checked: pages, cell errors, links, math and figures in Chromium)"
$PY tools/book.py --jobs "$WORKERS" && AIGC_REQUIRE_BOOK=1 $PY -m pytest tests/test_book.py -m book -q -p no:xdist \
    || status=1
t4=$SECONDS

echo "== timings: lint $((t1 - t0)) s, unit $((t2 - t1)) s, notebooks $((t3 - t2)) s, book $((t4 - t3)) s"
exit $status
