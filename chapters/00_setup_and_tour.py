# %% [markdown]
# # Chapter 00 — Set-up and a tour of the course
#
# **What you will learn**
# - how to check that your machine is ready (`doctor`), and what it says about devices and data;
# - how every chapter is laid out, and what the three run modes (*full*, *workshop*, *FAST*) mean;
# - where data sets live, and what happens when there is no network;
# - how the course trains a model: one loop with a progress bar, a live loss plot, checkpoints and resume;
# - how the interactive widgets and the exercises work;
# - how to run the course's own tests.
#
# **Prerequisites**: Python and a first acquaintance with PyTorch tensors. **Time**: 20 minutes to read;
# the code runs in about 1 minute on a laptop CPU (seconds on a GPU).

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %%
from aigc_course.config import banner, budget, data_dir, run_mode

print(banner())

# %% [markdown]
# ## 1. Is this machine ready?
#
# The doctor lists Python, PyTorch, the device the course will compute on, the mode, and which data sets you
# can use right now without a network. From a terminal: `python -m aigc_course doctor` (or `make doctor`).

# %%
from aigc_course.doctor import main as doctor

assert doctor() == 0, "the doctor found a problem: read its last line"

# %% [markdown]
# **The device.** The course picks a CUDA GPU if there is one, else Apple's MPS, else the CPU. To force one,
# set `AIGC_DEVICE=cpu` (or `cuda`, `cuda:1`, `mps`) before starting Jupyter. Every chapter runs on a CPU;
# a GPU only makes the full runs faster.

# %%
import torch

from aigc_course.device import get_device, seed_everything

device = get_device()
generator = seed_everything(0)          # Python, NumPy and torch seeded: the same numbers every run
print(f"computing on {device}; first random numbers: {torch.rand(3, generator=generator)}")

# %% [markdown]
# ## 2. How a chapter is laid out
#
# Every chapter follows the same anatomy:
#
# 1. **What you will learn**, prerequisites and the time it needs (CPU and GPU).
# 2. **The mathematics, derived step by step** — every display equation carries a number, such as (4.7), and
#    a *numeric check*: a cell marked `# check (4.7)` that computes the same quantity two independent ways and
#    `assert`s that they agree (a check that would fail if the formula were wrong).
# 3. **Code that builds the idea in the open**, then an `assert` that our version equals the library's
#    (`aigc_course`), which later chapters import.
# 4. **Training for real**, with a progress bar, a live loss curve and samples.
# 5. **Interactive exploration** with widgets.
# 6. **Exercises** with instant checkers; worked solutions are in `solutions/`.
# 7. **Summary, pitfalls and further reading**, and what a full run reached on a 2-core CPU. Each figure the
#    text states from a full run is a *claim* (`aigc_course.claims.claim`): the cell prints it next to the
#    figure stated and fails if a full run no longer reaches it.
#
# The library sits beside the notebooks in `aigc_course/`. Its files are written to be read: open
# `aigc_course/train.py` next to this notebook when we use it below.
#
# ## 3. Run modes: full, workshop, FAST
#
# Training budgets (steps, epochs, sample counts) come from one helper, `budget(full=..., fast=...,
# workshop=...)`, and the environment variable `AIGC_MODE` picks the column:
#
# | mode | who it is for | what you get |
# |---|---|---|
# | `full` (the default) | you, the learner | the budgets that reach every figure the text states |
# | `workshop` | a room with an instructor | each chapter in ≤ 3 minutes on a 2-core laptop, the text still true (a chapter keeps its full budget where a shorter one would make its text false) |
# | `fast` (`AIGC_FAST=1`) | CI and `make test` only | the same code in seconds; its numbers mean nothing — do not learn from them |
#
# Set the mode *before* starting Jupyter (`AIGC_MODE=workshop make lab`); the first line of every chapter
# (`banner()`) says which mode it runs in.

# %%
steps = budget(full=600, fast=60, workshop=600)
print(f"mode {run_mode()!r}: this chapter trains for {steps} steps")

# %% [markdown]
# ## 4. Where data lives
#
# Data sets are cached in one folder (set `AIGC_DATA_DIR` to move it). Some data ships with the packages
# you installed and needs no network: `digits` (scikit-learn's 8×8 handwritten digits) and `shapes` (squares,
# ellipses and hearts that the course draws itself, with the factors that generated them). `mnist`,
# `fashion-mnist` and `cifar10` are downloaded on first use; without a network the loader says so in one
# message and tells you which data set it uses instead.

# %%
from aigc_course.data import load_images
from aigc_course.viz import image_grid

print("data cache:", data_dir())
digits = load_images("digits", split="train", device=device)
digits_test = load_images("digits", split="test", device=device)
print(f"digits: {len(digits)} training and {len(digits_test)} test images of shape {digits.shape}, "
      f"values in [{digits.images.min():.0f}, {digits.images.max():.0f}]")
assert digits.images.min() >= 0 and digits.images.max() <= 1 and digits.shape == (1, 8, 8)
fig = image_grid(digits.images[:32], nrow=4, labels=[str(int(y)) for y in digits.labels[:32]], title="digits",
                 scale=1.0)
for label in fig.axes[0].texts:          # the red class labels, at a readable size
    label.set_fontsize(10)
fig

# %%
shapes = load_images("shapes", limit=32)
print("generative factors of the first shape:", dict(zip(shapes.factor_names, shapes.factors[0].tolist())))
image_grid(shapes.images, nrow=4, title="shapes (generated)")

# %% [markdown]
# ## 5. Training: one loop for the whole course
#
# `aigc_course.train.train` runs a *step function* — one update of the model — as many times as you ask,
# and returns a `History`. It shows a progress bar with the running loss; callbacks such as `LivePlot`
# redraw the loss curve while it trains. A GAN's step updates two networks; a classifier's step updates one:
# the loop does not care.
#
# Here is a tiny classifier for the digits: a two-layer perceptron trained with cross-entropy.

# %%
from torch import nn
from torch.nn import functional as F

from aigc_course.train import LivePlot, supervised_step, train

seed_everything(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)


def classification_loss(model, batch):
    images, labels = batch
    return F.cross_entropy(model(images), labels)


def random_batch(step, batch_size=64):
    idx = torch.randint(0, len(digits), (batch_size,), device=device)
    return digits.images[idx], digits.labels[idx]


def test_accuracy():
    predictions = model(digits_test.images).argmax(dim=1)
    return {"test_accuracy": (predictions == digits_test.labels).float().mean()}


history = train(supervised_step(model, optimizer, classification_loss, random_batch), steps,
                modules={"model": model, "optimizer": optimizer}, eval_fn=test_accuracy,
                eval_every=max(1, steps // 6), callbacks=[LivePlot(every=max(1, steps // 6))], desc="digits MLP")
print(f"{len(history.steps)} steps in {history.seconds:.1f} s; test accuracy {history.last('test_accuracy'):.3f}")

# %% [markdown]
# Random guessing gets 10 %; a full run reaches about 97 %. That figure is a *claim*: in full mode the cell
# fails if the accuracy falls outside its band, in FAST mode it is only printed. The asserts beside it hold in
# every mode: the accuracy the loop logged is the one we recompute here from the model's predictions, and the
# loss went down.

# %%
from aigc_course.claims import claim

with torch.no_grad():
    recomputed = (model(digits_test.images).argmax(dim=1) == digits_test.labels).float().mean().item()
assert abs(recomputed - history.last("test_accuracy")) < 1e-6
assert sum(history.logs["loss"][-10:]) < sum(history.logs["loss"][:10])
claim("digits MLP test accuracy", history.last("test_accuracy"), stated=0.97, low=0.94, high=1.0,
      workshop=(0.94, 1.0))

# %% [markdown]
# ### Checkpoints and resume: nothing is lost
#
# Give `train` a `checkpoint` path and it saves the model, the optimiser, the step, the random-number states
# and the history — atomically, so a crash never leaves half a file. If you interrupt a run (the ■ button or
# *Kernel → Interrupt*), it stops cleanly, keeps its history and writes the checkpoint; run the same cell
# with `resume=True` and it carries on from where it stopped.
#
# Below we simulate the interruption: the step function raises `KeyboardInterrupt` — exactly what the
# interrupt button does — half-way through.

# %%
import tempfile
from pathlib import Path

checkpoint = Path(tempfile.mkdtemp()) / "digits_mlp.pt"
seed_everything(1)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
step_fn = supervised_step(model, optimizer, classification_loss, random_batch)
half = steps // 2


def interrupted_half_way(step):
    if step > half:
        raise KeyboardInterrupt          # what the kernel's interrupt button raises
    return step_fn(step)


first = train(interrupted_half_way, steps, modules={"model": model, "optimizer": optimizer},
              checkpoint=checkpoint, desc="interrupted run")
second = train(step_fn, steps, modules={"model": model, "optimizer": optimizer}, checkpoint=checkpoint,
               resume=True, eval_fn=test_accuracy, desc="resumed run")
print(f"first run stopped after {len(first.steps)} steps (interrupted={first.interrupted}); "
      f"the resumed run finished at step {second.steps[-1]} with test accuracy {second.last('test_accuracy'):.3f}")
assert first.interrupted and len(first.steps) == half
assert second.steps == list(range(1, steps + 1)) and not second.interrupted

# %% [markdown]
# A checkpoint from *another* model is refused with a list of the mismatched weights, and files that carry
# code instead of weights are refused without running it (they are read with `torch.load(weights_only=True)`):

# %%
from aigc_course.checkpoint import CheckpointError, load_checkpoint

wider = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
try:
    load_checkpoint(checkpoint, {"model": wider})
except CheckpointError as err:
    message = str(err)
    print(message)
assert "different shapes" in message

# %% [markdown]
# ## 6. Interactive widgets
#
# Widgets let you change a parameter and see the effect at once. Each widget is a thin layer over a plain
# function that the course tests on its own — here `describe_toy`, which samples a mixture of Gaussians
# (the kind of 2-D data the GAN chapters learn to imitate) and draws its samples beside its exact density.
# Move the sliders: more modes, a larger scale, a wider spread.

# %%
from aigc_course.widgets.toy_explorer import describe_toy, toy_explorer

fig, summary = describe_toy("ring", modes=8, scale=2.0, std=0.05)
print(summary)
assert "8/8" in summary
toy_explorer()

# %% [markdown]
# ## 7. Exercises
#
# Each exercise is one cell: replace the placeholder and run it; the checker says ✅, ❌ with a hint, or ✏️
# while it is still unsolved (an unsolved exercise never stops the notebook). Worked solutions are in
# `solutions/00_setup_and_tour_solutions.ipynb` — try first!
#
# **Exercise 1.** Write `accuracy(logits, labels)`: the fraction of rows whose largest logit is at the
# label's index.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch00


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    # YOUR CODE: logits (N, K), labels (N,) -> a float in [0, 1]
    raise NotImplementedError


ch00.accuracy(accuracy)

# %% [markdown]
# **Exercise 2.** `budget` picks one of its values by run mode. Write `budget_for(mode, full, fast, workshop)`
# that returns what `budget(full=full, fast=fast, workshop=workshop)` returns in run mode `mode` — without
# reading the environment. Mind the case `workshop=None`, and raise `ValueError` for a mode that does not exist.

# %% tags=["exercise"]
from aigc_course.exercises import ch00


def budget_for(mode: str, full, fast, workshop=None):
    # YOUR CODE: mode is "full", "workshop" or "fast"
    raise NotImplementedError


ch00.budget_for(budget_for)

# %% [markdown]
# ## 8. Running the course's tests
#
# From the course folder, `make test` installs what is needed and runs everything: the library's unit tests,
# a check that every notebook's `.ipynb` and `.py` twin agree, a real browser test that opens this chapter in
# JupyterLab and moves the slider above, and every notebook top to bottom in FAST mode (nbval). The asserts
# you saw in this notebook are part of that: if a formula stops doing what the text says, the test fails.
# `make verify` runs every chapter and solution in full mode (or `MODE=workshop`) and prints one table of every
# claim — measured against stated — with the minutes each chapter took.
#
# ## 9. Colab, Binder, GPU
#
# - **Colab**: open a chapter's `.ipynb`, then in its first cell run
#   `!pip install -q "git+<this repository's URL>"` (torch is already there); choose *Runtime → Change
#   runtime type → GPU* for faster full runs.
# - **Binder** builds from `environment.yml` (the same packages as `make lab`).
# - **GPU / Apple silicon**: nothing to change; `get_device()` finds it. bf16 autocast is used on recent NVIDIA
#   GPUs (`aigc_course.device.autocast`), and is off on CPU.
#
# ## Summary
# - `python -m aigc_course doctor` tells you what the machine offers.
# - `budget(full=, fast=, workshop=)` is the only difference between a learner's run, a workshop's and a test
#   run; FAST mode is for CI, and no text relies on its numbers.
# - `train(step_fn, steps, ...)` returns a history, draws live curves, checkpoints, resumes, and stops with a
#   clear message when a loss becomes NaN.
#
# **Pitfalls**: run chapters top to bottom (*Kernel → Restart kernel and run all*); a cell that depends on a
# model trained above fails if you skip it.
#
# **What a full run reached** (2-core CPU, no GPU): the digits MLP reaches about 0.97 test accuracy in 600
# steps (the claim above: between 0.94 and 1), in a few seconds; the whole notebook runs in under a minute.
