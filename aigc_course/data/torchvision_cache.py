"""torchvision's MNIST, Fashion-MNIST and CIFAR-10: a cache checked before it is trusted, downloads that
fail fast without a network.

The extracted MNIST-format (IDX) files carry their own size in a big-endian header, so a truncated or
zero-byte file is noticed before torchvision's parser meets it (with a bare AssertionError); CIFAR-10's
batch files are checked by torchvision itself (MD5) when loaded. A damaged cache is deleted and fetched
again; when that fails the caller falls back with its usual one-line message.
"""

from __future__ import annotations

import math
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from aigc_course.config import data_dir

_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
_PROBE_TIMEOUT_S = 5.0       # how long to wait for a server before deciding there is no network
_DOWNLOAD_TIMEOUT_S = 60.0   # a download that stalls this long counts as failed


# The folder torchvision's class for each data set keeps its files in, under data_dir()/torchvision.
_TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py"}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def _idx_problem(path: Path) -> str | None:
    """Why an IDX file (MNIST's format) is unusable: its big-endian header says how many bytes must follow."""
    if not path.is_file():
        return f"{path.name} is missing"
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or not 1 <= head[3] <= 4:
            return f"{path.name} is not an IDX file ({path.stat().st_size} bytes)"
        dims = [int.from_bytes(f.read(4), "big") for _ in range(head[3])]
    expected = 4 + 4 * len(dims) + math.prod(dims)
    if path.stat().st_size != expected:
        return f"{path.name} has {path.stat().st_size} bytes, its header promises {expected}"
    return None


def _cache_problem(key: str, root: str | Path) -> str | None:
    """None when ``key``'s files under ``root`` are all there and consistent; else what is wrong."""
    folder = Path(root) / _TORCHVISION_FOLDERS[key]
    if not folder.is_dir():
        return "not cached"
    if key == "cifar10":  # torchvision itself checks each batch file's MD5 when it loads them
        missing = [n for n in _CIFAR_FILES if not (folder / n).is_file()]
        return f"the cached files are damaged ({', '.join(missing)} missing)" if missing else None
    problems = [p for p in (_idx_problem(folder / "raw" / n) for n in _IDX_FILES) if p]
    if problems and all(p.endswith("is missing") for p in problems):
        return "not cached"
    return f"the cached files are damaged ({'; '.join(problems)})" if problems else None


def _remove_damaged(key: str, root: str | Path) -> None:
    """Delete the extracted files that failed the checks, so torchvision fetches them again."""
    folder = Path(root) / _TORCHVISION_FOLDERS[key]
    names = _CIFAR_FILES if key == "cifar10" else _IDX_FILES
    for path in ([folder / n for n in names] if key == "cifar10" else [folder / "raw" / n for n in names]):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def torchvision_cache_problem(name: str) -> str | None:
    """None when ``mnist``, ``fashion-mnist`` or ``cifar10`` is cached and intact; else what is wrong."""
    if name not in _TORCHVISION_FOLDERS:
        raise ValueError(f"torchvision data sets are {sorted(_TORCHVISION_FOLDERS)}, got {name!r}")
    return _cache_problem(name, data_dir() / "torchvision")


def torchvision_cached(name: str) -> bool:
    """True when ``mnist``, ``fashion-mnist`` or ``cifar10`` is already in the cache and intact."""
    return torchvision_cache_problem(name) is None


class _DownloadError(Exception):
    """A download failed; the message says why in one line."""


def _probe(urls: list[str], timeout: float = _PROBE_TIMEOUT_S) -> None:
    """Fail fast (OSError) when none of the servers behind ``urls`` accepts a connection."""
    if urllib.request.getproxies():
        return  # behind a proxy a direct connection says nothing; let the download itself decide
    errors = []
    for url in urls:
        parsed = urlparse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            return
        except OSError as err:
            errors.append(f"{parsed.hostname}: {err}")
    raise OSError("no network: " + "; ".join(errors))


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Let no socket wait longer than ``seconds`` (torchvision's downloads set no timeout of their own)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _open_torchvision(key: str, train: bool, root: str):
    """The torchvision data set, read from ``root`` or else downloaded there; _DownloadError if impossible.

    A cache that fails :func:`torchvision_cache_problem` (a truncated or zero-byte file) is fetched again."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION[key])
    problem = _cache_problem(key, root)
    if problem is None:
        try:
            return cls(root, train=train, download=False)
        except Exception as err:  # torchvision's parser on a damaged file: AssertionError, ValueError, ...
            problem = f"the cached files are damaged ({type(err).__name__}: {err})"
    damaged = problem != "not cached"
    if damaged:
        _remove_damaged(key, root)
    urls = [cls.url] if hasattr(cls, "url") else list(cls.mirrors)
    try:
        _probe(urls)
        with _socket_timeout(_DOWNLOAD_TIMEOUT_S):
            return cls(root, train=train, download=True)
    except Exception as err:  # any failure to fetch means: no usable download
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise _DownloadError(f"{problem}; downloading them again failed: {reason}" if damaged else reason) from err
