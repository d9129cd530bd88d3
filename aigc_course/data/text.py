"""Text for language models: corpora, a character tokenizer, and random (input, target) batches.

- ``python-docs``: the English documentation shipped inside Python itself (``pydoc_data.topics``), about
  465,000 characters on Python 3.11 (a little more or less on other versions). Needs no network.
- ``tiny-shakespeare``: Andrej Karpathy's 1.1 MB of Shakespeare, downloaded once into
  ``data_dir()/tiny_shakespeare.txt``. Without a network: one :class:`DataFallbackWarning` and python-docs.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
import urllib.request
import warnings
from collections.abc import Iterable, Sequence
from numbers import Integral
from pathlib import Path

import torch
from torch import Tensor

from aigc_course.config import data_dir
from aigc_course.data.images import DataFallbackWarning
from aigc_course.validation import ArgumentTypeError, check_bool, check_float, check_int

CORPORA = ("python-docs", "tiny-shakespeare")
TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
# What the download must be, byte for byte: karpathy/char-rnn's input.txt (checked before it is cached, and
# again each time the cache is read; a zero-byte file or an HTML page is never returned as Shakespeare).
TINY_SHAKESPEARE_CHECK = (1_115_394, "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")
UNKNOWN_TOKEN = "\ufffd"   # the replacement character: stands for any character outside the vocabulary
_UNKNOWN_MODES = ("error", "replace")
_FETCH_TIMEOUT_S = 10.0


# ---------------------------------------------------------------------------------------------- corpora


def _python_docs() -> str:
    """Python's own documentation topics, sorted by topic name and joined with blank lines."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics)) + "\n"


def _fetch_url(url: str, timeout: float = _FETCH_TIMEOUT_S) -> bytes:
    """The body of ``url`` (raises OSError / ValueError when that is impossible)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
    if not body.strip():
        raise ValueError(f"{url} returned an empty body")
    return body


def _verify(body: bytes) -> str:
    """``body`` as text if it is Tiny Shakespeare (size and SHA-256); a ValueError saying what it is if not."""
    size, sha256 = TINY_SHAKESPEARE_CHECK
    digest = hashlib.sha256(body).hexdigest()
    if len(body) != size or digest != sha256:
        start = body[:40].decode("utf-8", "replace").strip().replace("\n", " ")
        raise ValueError(f"got {len(body):,} bytes with SHA-256 {digest[:12]}…, expected {size:,} bytes with "
                         f"{sha256[:12]}… (it starts {start!r}: a proxy or captive-portal page?)")
    return body.decode("utf-8")


def _write_atomic(path: os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def tiny_shakespeare_path() -> Path:
    """Where Tiny Shakespeare is cached once downloaded (it may not exist yet)."""
    return data_dir() / "tiny_shakespeare.txt"


def tiny_shakespeare_cache_problem() -> str | None:
    """None when the cached Tiny Shakespeare is there and intact; else what is wrong with it."""
    path = tiny_shakespeare_path()
    if not path.is_file():
        return "not cached"
    try:
        _verify(path.read_bytes())
    except (OSError, ValueError) as err:
        return f"the cached {path} is damaged ({err})"
    return None


def _cache(path: Path, text: str) -> None:
    """Keep a verified download; a read-only folder gives one warning and the text is still returned."""
    try:
        _write_atomic(path, text)
    except OSError as err:
        warnings.warn(DataFallbackWarning(
            f"downloaded 'tiny-shakespeare' but could not cache it in {path} ({err.strerror or err}); using it "
            f"for this session only. Set AIGC_DATA_DIR to a folder you can write."), stacklevel=4)


def _tiny_shakespeare(strict: bool) -> str:
    """The cached Tiny Shakespeare (verified), downloading it if needed; python-docs (with a warning) if not."""
    path = tiny_shakespeare_path()
    problem = tiny_shakespeare_cache_problem()
    if problem is None:
        return path.read_text(encoding="utf-8")
    try:
        text = _verify(_fetch_url(TINY_SHAKESPEARE_URL))
    except Exception as err:  # no network, a timeout, a proxy error page...: no usable download
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        if problem != "not cached":
            reason = f"{problem}; downloading it again failed: {reason}"
        if strict:
            raise RuntimeError(f"could not download 'tiny-shakespeare' from {TINY_SHAKESPEARE_URL} ({reason}). "
                               f"Connect to the internet once (it is cached in {path}), or use "
                               f"load_corpus('python-docs'), which needs no network.") from err
        warnings.warn(DataFallbackWarning(
            f"could not download 'tiny-shakespeare' ({reason}); using 'python-docs' instead: the English "
            f"documentation shipped with Python. Connect to the internet once (it is cached in {path}), or "
            f"pass strict=True to make this an error."), stacklevel=3)
        return _python_docs()
    _cache(path, text)
    return text


def load_corpus(name: str = "python-docs", *, strict: bool = False, max_chars: int | None = None) -> str:
    """Load a text corpus as one string: ``python-docs`` (offline, ~465k chars) or ``tiny-shakespeare``.

    tiny-shakespeare downloads once into ``data_dir()``; when it cannot, a DataFallbackWarning says so and
    python-docs is returned instead (``strict=True`` raises a RuntimeError). ``max_chars`` keeps the first
    ``max_chars`` characters.
    """
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a str, one of {', '.join(CORPORA)}; got {name!r}")
    check_bool("strict", strict)
    key = str(name).strip().lower().replace("_", "-")
    if key not in CORPORA:
        close = difflib.get_close_matches(key, CORPORA, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown corpus name {name!r}; valid: {', '.join(CORPORA)}.{hint}")
    check_int("max_chars", max_chars, 1, none_ok=True)
    text = _python_docs() if key == "python-docs" else _tiny_shakespeare(strict)
    return text[: int(max_chars)] if max_chars is not None else text


# ---------------------------------------------------------------------------------------------- tokenizer


class CharTokenizer:
    """Map each character to an integer id and back; the vocabulary is the sorted set of characters.

    unknown: "error" raises a ValueError on a character outside the vocabulary; "replace" maps it to
    ``UNKNOWN_TOKEN`` ("\\ufffd"), which is then part of the vocabulary.
    """

    def __init__(self, chars: Iterable[str], unknown: str = "error"):
        if unknown not in _UNKNOWN_MODES:
            raise ValueError(f"unknown must be one of {', '.join(_UNKNOWN_MODES)}, got {unknown!r}")
        chars = set(chars)
        bad = sorted(repr(c) for c in chars if not isinstance(c, str) or len(c) != 1)
        if bad:
            raise ValueError(f"chars must be single characters, got {', '.join(bad[:5])}")
        if unknown == "replace":
            chars.add(UNKNOWN_TOKEN)
        if not chars:
            raise ValueError("chars is empty; a tokenizer needs at least one character")
        self.unknown = unknown
        self.chars: list[str] = sorted(chars)
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}
        self.itos: dict[int, str] = dict(enumerate(self.chars))

    @classmethod
    def from_text(cls, text: str, unknown: str = "error") -> CharTokenizer:
        """A tokenizer whose vocabulary is every character that occurs in ``text``."""
        return cls(set(text), unknown=unknown)

    @property
    def vocab_size(self) -> int:
        """How many distinct ids there are."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """The id of each character of ``text``."""
        stoi = self.stoi
        if self.unknown == "replace":
            unk = stoi[UNKNOWN_TOKEN]
            return [stoi.get(c, unk) for c in text]
        try:
            return [stoi[c] for c in text]
        except KeyError:
            missing = list(dict.fromkeys(c for c in text if c not in stoi))
            first = next(i for i, c in enumerate(text) if c not in stoi)
            raise ValueError(f"text has {len(missing)} character(s) outside the vocabulary, e.g. "
                             f"{''.join(missing[:10])!r} (first at position {first}); build the tokenizer "
                             f"from this text (CharTokenizer.from_text) or pass unknown='replace'") from None

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """The text for a list or 1-D tensor of ids."""
        if isinstance(ids, Tensor):
            if ids.ndim != 1 or ids.is_floating_point() or ids.dtype == torch.bool:
                raise ValueError(f"ids must be a 1-D integer tensor, got shape {tuple(ids.shape)} {ids.dtype}")
            ids = ids.tolist()
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise ArgumentTypeError(f"ids must be a list or 1-D tensor of ints, got {type(ids).__name__}")
        ids = list(ids)
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, Integral)]
        if bad:  # int(1.7) would silently decode as id 1
            raise ArgumentTypeError(f"ids must be ints (token ids in 0..{self.vocab_size - 1}), got {bad[0]!r} "
                                    f"({type(bad[0]).__name__})")
        try:
            return "".join(self.itos[int(i)] for i in ids)
        except KeyError as err:
            raise ValueError(f"id {err.args[0]} is outside the vocabulary; valid: 0..{self.vocab_size - 1}") \
                from None

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, unknown={self.unknown!r})"


# ---------------------------------------------------------------------------------------------- batches


def _check_ids(data: Tensor) -> Tensor:
    if not isinstance(data, Tensor) or data.ndim != 1 or data.is_floating_point() or data.dtype == torch.bool:
        shape = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
        raise ValueError(f"data must be a 1-D integer tensor of token ids, got {shape}")
    return data


def train_val_split(data: Tensor, val_fraction: float = 0.1) -> tuple[Tensor, Tensor]:
    """Split a 1-D token tensor into (train, val): contiguous, the last ``val_fraction`` is validation."""
    data = _check_ids(data)
    check_float("val_fraction", val_fraction, 0, 1, low_open=True, high_open=True)
    n_val = round(len(data) * val_fraction)
    if not 1 <= n_val < len(data):
        raise ValueError(f"val_fraction={val_fraction} of {len(data)} tokens leaves {n_val} for validation; "
                         f"both parts need at least one token")
    return data[: len(data) - n_val], data[len(data) - n_val:]


def get_batch(data: Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None,
              device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Sample ``batch_size`` random windows: x (B, T) int64 and y (B, T), where y[:, t] = x[:, t + 1].

    T = ``block_size``; each window starts uniformly in [0, len(data) - T - 1], so y never runs off the end.
    The windows come from ``generator`` (a CPU torch.Generator) when given.
    """
    data = _check_ids(data)
    check_int("block_size", block_size, 1, len(data) - 1, hint=f" (less than the {len(data)} tokens of data)")
    check_int("batch_size", batch_size, 1)
    block_size, batch_size = int(block_size), int(batch_size)
    start = torch.randint(len(data) - block_size, (batch_size,), generator=generator)   # (B,)
    index = start[:, None] + torch.arange(block_size + 1)                                # (B, T + 1)
    window = data[index.to(data.device)].long()                                          # (B, T + 1)
    x, y = window[:, :-1].contiguous(), window[:, 1:].contiguous()                       # (B, T), (B, T)
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y
