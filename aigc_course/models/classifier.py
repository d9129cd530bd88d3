"""A small CNN classifier for digit-like images: the course's "domain classifier".

Sample-based metrics need a feature space in which real and generated images can be compared. FID uses
an Inception network trained on ImageNet; for 16x16 or 28x28 digits a small CNN trained on the data set
itself sees what matters (strokes, digit identity) and costs seconds to train. It gives us

- ``classifier(x)``: logits, so a conditional generator can be scored by how often its samples show the
  class that was asked for (:func:`aigc_course.metrics.class_accuracy`);
- ``classifier.features(x)``: the penultimate layer, the space of the Fréchet distance
  (:func:`aigc_course.metrics.frechet_distance`) and of precision / recall.

:func:`pretrained_digit_classifier` trains one once per data set and size and caches it in ``data_dir()``,
so chapters 03, 05 and 09 share one classifier (and so their numbers are comparable).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aigc_course.validation import check_fields


@dataclass
class ClassifierConfig:
    image_size: int = 16        # height = width of the input (>= 8)
    channels: int = 1
    num_classes: int = 10
    width: int = 32             # feature maps of the first conv block; the second has twice as many
    feature_dim: int = 64       # size of features(x), the space the Fréchet distance works in
    dropout: float = 0.2        # before the last layer, in training only

    def __post_init__(self) -> None:
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        if not isinstance(self.image_size, int) or self.image_size < 8:
            raise ValueError(f"image_size must be an int >= 8 (two 2x poolings), got {self.image_size!r}")
        for name in ("channels", "width", "feature_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def tiny(cls, **overrides) -> ClassifierConfig:
        """A very small classifier for tests: 8x8 inputs, 4 classes, 8 features."""
        return cls(**{"image_size": 8, "num_classes": 4, "width": 4, "feature_dim": 8, **overrides})


class DigitClassifier(nn.Module):
    """(B, C, S, S) pixels in [0, 1] -> logits (B, K); ``features`` gives the (B, feature_dim) layer before."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.conv = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.MaxPool2d(2),                                     # (w, S/2, S/2)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.MaxPool2d(2),                                     # (2w, S/4, S/4)
            nn.AdaptiveAvgPool2d(2),                             # (2w, 2, 2) whatever S is
        )
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 4, cfg.feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.feature_dim, cfg.num_classes))

    def features(self, x: Tensor) -> Tensor:
        """The penultimate layer: (B, C, S, S) -> (B, feature_dim)."""
        return self.embed(self.conv(x))                          # (B, 2w, 2, 2) -> (B, 8w) -> (B, F)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))                       # (B, K)


@torch.no_grad()
def extract_features(classifier: DigitClassifier, images: Tensor, batch_size: int = 512) -> Tensor:
    """``classifier.features`` over many images (N, C, S, S), batched, in eval mode -> (N, feature_dim)."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    out = [classifier.features(images[i:i + batch_size].to(device)).cpu()
           for i in range(0, len(images), batch_size)]
    classifier.train(was_training)
    return torch.cat(out)


def _shift(images: Tensor, generator: torch.Generator) -> Tensor:
    """Random translation by up to one pixel each way (cheap augmentation: generated digits are rarely
    centred exactly like the data)."""
    dx, dy = torch.randint(-1, 2, (2,), generator=generator).tolist()
    return torch.roll(images, shifts=(dy, dx), dims=(2, 3))


def train_classifier(images: Tensor, labels: Tensor, cfg: ClassifierConfig | None = None, steps: int = 600,
                     batch_size: int = 128, lr: float = 2e-3, seed: int = 0, device: torch.device | str = "cpu",
                     progress: bool = False) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on ``images`` (N, C, S, S) in [0, 1] and ``labels`` (N,) with Adam.

    All randomness comes from ``seed``; the caller's global random stream is left as it was, so a chapter's
    later results do not depend on whether the classifier was trained now or loaded from the cache.
    """
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    if cfg is None:
        cfg = ClassifierConfig(image_size=images.shape[-1], channels=images.shape[1],
                               num_classes=int(labels.max()) + 1)
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _train_classifier(images, labels, cfg, steps, batch_size, lr, seed, device, progress)


def _train_classifier(images: Tensor, labels: Tensor, cfg: ClassifierConfig, steps: int, batch_size: int,
                      lr: float, seed: int, device: torch.device, progress: bool) -> DigitClassifier:
    from aigc_course.train import supervised_step, train

    model = DigitClassifier(cfg).to(device)
    images, labels = images.to(device), labels.to(device)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)

    def batch_fn(step: int) -> tuple[Tensor, Tensor]:
        idx = torch.randint(0, len(images), (min(batch_size, len(images)),), generator=g).to(images.device)
        return _shift(images[idx], g), labels[idx]

    step_fn = supervised_step(model, opt, lambda m, b: F.cross_entropy(m(b[0]), b[1]), batch_fn, scheduler=sched)
    train(step_fn, steps, modules={"classifier": model}, progress=progress, desc="domain classifier")
    return model.eval()


def _cache_path(name: str, size: int, mode: str, fit: str = "resize") -> Path:
    from aigc_course.config import data_dir

    suffix = ("-pad" if fit == "pad" else "") + ("" if mode == "full" else f"-{mode}")
    return data_dir() / "classifiers" / f"{name}-{size}px{suffix}.pt"


def _load_cached(path: Path, verbose: bool) -> DigitClassifier | None:
    """The classifier cached at ``path``, or None (missing or unusable: then it says why)."""
    from aigc_course.checkpoint import CheckpointError, read_checkpoint

    if not path.exists():
        return None
    try:
        payload = read_checkpoint(path)
        model = DigitClassifier(ClassifierConfig(**{k: v for k, v in payload["config"].items() if k != "class"}))
        model.load_state_dict(payload["modules"]["classifier"])
        model.test_accuracy = float(payload["history"]["test_accuracy"])
        return model
    except (CheckpointError, KeyError, TypeError, RuntimeError) as err:
        if verbose:
            print(f"cached classifier at {path} is unusable ({err}); training a new one")
        return None


# steps of the shared judge per run mode; a workshop loads a full run's judge when one is cached
JUDGE_STEPS = {"full": 800, "workshop": 300, "fast": 120}


def pretrained_digit_classifier(dataset: str = "digits", size: int = 16, device: torch.device | str | None = None,
                                steps: int | None = None, retrain: bool = False,
                                verbose: bool = True, fit: str = "resize") -> DigitClassifier:
    """The shared domain classifier for ``dataset`` at ``size`` px: trained on its train split once, then
    loaded from the cache (``data_dir()/classifiers``). FAST mode trains (and caches) a small-budget one;
    workshop mode uses a full run's cached judge when there is one, else trains (and caches) its own
    ``JUDGE_STEPS["workshop"]``-step judge. ``fit`` is passed to :func:`load_images` ("pad" for MNIST in 32x32).

    Its test-split accuracy is stored with it and available as ``classifier.test_accuracy``.
    """
    from aigc_course.checkpoint import CheckpointWriteError, save_checkpoint
    from aigc_course.config import run_mode
    from aigc_course.data import load_images
    from aigc_course.device import get_device
    from aigc_course.metrics import class_accuracy

    device = get_device(None if device is None else str(device))
    train_set = load_images(dataset, size=size, split="train", fit=fit)
    mode = run_mode()
    path = _cache_path(train_set.name, size, mode, fit)
    full_path = _cache_path(train_set.name, size, "full", fit)
    for candidate in [] if retrain else ([full_path] if mode == "workshop" else []) + [path]:
        model = _load_cached(candidate, verbose)
        if model is not None:
            return model.to(device).eval()
    test_set = load_images(dataset, size=size, split="test", fit=fit)
    steps = steps if steps is not None else JUDGE_STEPS[mode]
    model = train_classifier(train_set.images, train_set.labels, steps=steps, device=device)
    model.test_accuracy = class_accuracy(model, test_set.images, test_set.labels)
    try:
        save_checkpoint(path, {"classifier": model}, steps, config=model.cfg,
                        history={"test_accuracy": model.test_accuracy})
        where = f"cached at {path}"
    except CheckpointWriteError as err:  # a read-only or full data folder: keep the model, say so once
        warnings.warn(f"the trained classifier is returned but not cached: {err}", stacklevel=2)
        where = "not cached"
    if verbose:
        print(f"trained the {train_set.name} {size}px classifier ({steps} steps): test accuracy "
              f"{model.test_accuracy:.3f}; {where}")
    return model.to(device).eval()


def classifier_summary(model: DigitClassifier) -> dict[str, float]:
    """Parameter count and configuration, for a notebook's printout."""
    return {"parameters": sum(p.numel() for p in model.parameters()), **asdict(model.cfg),
            "test_accuracy": getattr(model, "test_accuracy", math.nan)}
