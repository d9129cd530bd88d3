"""Labelled and generative tasks that need no network, built from Python's own standard library (chapter 11).

Every Python installation ships its standard library as source, and most functions and classes in it carry a
docstring. Read with :mod:`ast` (nothing is imported, so no module can have side effects), they give two tasks:

- :func:`docstring_topics` — **classification**: which area of the library (GUI, concurrency, internet, numbers,
  files, testing) does a docstring come from? Labels come from the module the docstring sits in (the
  ``TOPICS`` table below), so they are real, not invented, and nobody labelled anything by hand.
- :func:`unlabelled_docstrings` — the same library's docstrings **without labels**, the test texts left out:
  chapter 11's pre-training text (every module, 1.5 M characters) or the task's own areas only.
- :func:`docstring_to_name` — **generation**: given a function's one-line summary, write its name
  (``"# Return True if the path is a directory.\\ndef "`` → ``"isdir("``).

Both split train/test by a hash of a key (the text, or the function's name), so the split is the same on
every run and a test name never occurs in training. The sizes depend a little on the Python version.

:func:`rouge_l` and :func:`exact_match` score generated text (ROUGE-L as in Lin, 2004, with the tokenisation of
Google's ``rouge-score`` package, against which the tests check it).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import re
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

# Areas of the standard library, each a set of top-level modules or packages.
TOPICS: dict[str, tuple[str, ...]] = {
    "gui": ("tkinter", "idlelib", "turtle", "turtledemo"),
    "concurrency": ("asyncio", "multiprocessing", "threading", "concurrent", "queue", "subprocess", "selectors",
                    "sched", "_threading_local"),
    "internet": ("email", "http", "urllib", "mailbox", "imaplib", "smtplib", "nntplib", "poplib", "ftplib",
                 "xmlrpc", "wsgiref", "socketserver", "mimetypes", "cgi", "webbrowser"),
    "numbers": ("_pydecimal", "decimal", "fractions", "statistics", "numbers", "random", "datetime", "_strptime",
                "calendar", "ipaddress", "colorsys", "cmath", "math"),
    "files": ("tarfile", "zipfile", "pathlib", "shutil", "os", "tempfile", "gzip", "bz2", "lzma", "glob",
              "fnmatch", "filecmp", "fileinput", "zipimport", "posixpath", "ntpath", "genericpath", "_pyio",
              "_compression", "stat"),
    "testing": ("unittest", "doctest", "pdb", "bdb", "trace", "profile", "cProfile", "timeit", "traceback",
                "tracemalloc", "pstats", "faulthandler"),
}
_SKIP = {"site-packages", "test", "tests", "idle_test", "lib2to3", "__pycache__"}   # test suites are not the library
_CACHE_VERSION = 2          # part of the cache's file name: bump it when what is parsed changes


@dataclass(frozen=True)
class Docstring:
    module: str          # the top-level module or package it was found in, e.g. "asyncio"
    name: str            # the function's or class's own name ("" for a module docstring)
    kind: str            # "function", "class" or "module"
    text: str            # the docstring, cleaned by ast.get_docstring


def _stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _iter_docstrings(path: Path, top: str) -> Iterator[Docstring]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            text = ast.get_docstring(node)
            if text:
                kind = {ast.ClassDef: "class", ast.Module: "module"}.get(type(node), "function")
                yield Docstring(top, getattr(node, "name", ""), kind, text)


def _parse_all(base: Path) -> list[Docstring]:
    found = []
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(base).parts
        if not _SKIP.intersection(parts):
            found.extend(_iter_docstrings(path, parts[0].removesuffix(".py")))
    return found


@lru_cache(maxsize=2)
def stdlib_docstrings(root: str | None = None) -> tuple[Docstring, ...]:
    """Every docstring in the standard library's ``.py`` files (tests and site-packages left out), in a fixed
    order; ``root`` reads another folder laid out like the standard library (the tests use this).

    Parsing the library takes a few seconds; the result is cached in ``data_dir()`` under the Python version.
    """
    base = Path(root) if root is not None else _stdlib_dir()
    if not base.is_dir():
        raise ValueError(f"root must be a folder of Python sources, got {str(base)!r}")
    if root is not None:
        return tuple(_parse_all(base))
    from aigc_course.config import data_dir

    cache = data_dir() / "tasks" / f"stdlib-docstrings-v{_CACHE_VERSION}-{platform.python_version()}.json"
    try:
        return tuple(Docstring(*row) for row in json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        found = _parse_all(base)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps([astuple(d) for d in found]), encoding="utf-8")
    os.replace(tmp, cache)                                   # atomic: a reader never sees half a file
    return tuple(found)


def _in_test_split(key: str, test_fraction: float) -> bool:
    """A stable coin: the first 8 hex digits of the MD5 of "split:" + ``key``, as a number in [0, 1)."""
    return int(hashlib.md5(f"split:{key}".encode()).hexdigest()[:8], 16) / 16**8 < test_fraction


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass
class TextTask:
    """Texts with integer labels, split into train and test."""

    classes: tuple[str, ...]
    train_texts: list[str]
    train_labels: Tensor          # (N_train,) int64 in 0..K-1
    test_texts: list[str]
    test_labels: Tensor           # (N_test,)

    def subset(self, n: int, seed: int = 0) -> tuple[list[str], Tensor]:
        """``n`` training examples drawn without replacement, stratified: each class gets n / K (as near as
        possible), so a small labelled set still holds every class."""
        if not 1 <= n <= len(self.train_texts):
            raise ValueError(f"n must be in 1..{len(self.train_texts)} (the training examples), got {n}")
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self.train_texts), generator=g)
        k = len(self.classes)
        rank = torch.empty_like(order)
        for c in range(k):                                  # position of each example within its class
            members = order[self.train_labels[order] == c]
            rank[members] = torch.arange(len(members))
        chosen = sorted(order.tolist(), key=lambda i: (int(rank[i]), int(self.train_labels[i])))[:n]
        return [self.train_texts[i] for i in chosen], self.train_labels[chosen]


def _check_fraction(test_fraction: float) -> None:
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")


def docstring_topics(max_chars: int = 64, per_class: int = 400, test_fraction: float = 0.25,
                     min_chars: int = 20, root: str | None = None) -> TextTask:
    """Classify a docstring (first ``max_chars`` characters, whitespace collapsed) by the area of the standard
    library it comes from (``TOPICS``). Duplicated texts are kept once; each class keeps at most
    ``per_class`` docstrings (chosen by hash, so the same ones every run), which balances the classes."""
    _check_fraction(test_fraction)
    area = {module: topic for topic, modules in TOPICS.items() for module in modules}
    seen, by_class = set(), {topic: [] for topic in TOPICS}
    for doc in stdlib_docstrings(root):
        text = _one_line(doc.text)[:max_chars]
        if doc.module in area and len(text) >= min_chars and text not in seen:
            seen.add(text)
            by_class[area[doc.module]].append(text)
    classes = tuple(t for t in TOPICS if by_class[t])
    if len(classes) < 2:
        raise ValueError(f"found docstrings for {len(classes)} topic(s) under {root or _stdlib_dir()}; "
                         f"a classification task needs at least 2")
    split = {"train": ([], []), "test": ([], [])}
    for label, topic in enumerate(classes):
        texts = sorted(by_class[topic], key=lambda t: hashlib.md5(t.encode()).hexdigest())[:per_class]
        for text in texts:
            texts_, labels_ = split["test" if _in_test_split(text, test_fraction) else "train"]
            texts_.append(text)
            labels_.append(label)
    return TextTask(classes, split["train"][0], torch.tensor(split["train"][1]), split["test"][0],
                    torch.tensor(split["test"][1]))


def unlabelled_docstrings(task: TextTask, topics_only: bool = True, root: str | None = None,
                          also_exclude: Sequence[str] = ()) -> list[str]:
    """Whole docstrings (whitespace collapsed), no labels: the text only — those of the modules in ``TOPICS``
    (text for task-adaptive pre-training, Gururangan et al., 2020) or, when ``topics_only`` is False, of every
    module (chapter 11's pre-training text). In the fixed order of :func:`stdlib_docstrings`, each kept once,
    and none that *starts with* one of ``task``'s test texts or one of the strings in ``also_exclude`` (e.g.
    the test summaries of :func:`docstring_to_name`), so no test input is ever seen, not even without its label."""
    if not isinstance(task, TextTask):
        raise TypeError(f"task must be a TextTask (from docstring_topics), got {type(task).__name__}")
    if isinstance(also_exclude, str) or not all(isinstance(t, str) and t for t in also_exclude):
        raise TypeError(f"also_exclude must be a sequence of non-empty strings, got {also_exclude!r:.80}")
    area = {module for modules in TOPICS.values() for module in modules}
    hidden = set(task.test_texts) | set(also_exclude)
    lengths = sorted({len(t) for t in hidden})
    seen, out = set(), []
    for doc in stdlib_docstrings(root):
        text = _one_line(doc.text)
        if ((doc.module in area or not topics_only) and text not in seen
                and not any(text[:n] in hidden for n in lengths)):
            seen.add(text)
            out.append(text)
    return out


@dataclass
class PairTask:
    """(prompt, target) pairs for sequence-to-sequence fine-tuning, split into train and test."""

    train: list[tuple[str, str]]
    test: list[tuple[str, str]]
    stop: str                     # the character that ends every target (decoding stops there)

    def test_summaries(self) -> list[str]:
        """The summaries inside the test prompts (``"# <summary>\\ndef "`` -> ``"<summary>"``): what a
        pre-training text must not contain for the test inputs to stay unseen."""
        return [prompt.removeprefix("# ").removesuffix("\ndef ") for prompt, _ in self.test]


def docstring_to_name(max_summary: int = 40, max_name: int = 16, test_fraction: float = 0.2,
                      root: str | None = None) -> PairTask:
    """Public functions whose summary (first line of the docstring) fits in ``max_summary`` characters:
    prompt ``"# <summary>\\ndef "``, target ``"<name>("`` (at most 64 characters with the defaults). The split
    is by name: a test name is never a training name, so an exact match cannot be a copy."""
    _check_fraction(test_fraction)
    pairs = set()
    for doc in stdlib_docstrings(root):
        summary = _one_line(doc.text.split("\n\n")[0])
        if (doc.kind == "function" and not doc.name.startswith("_") and len(summary) <= max_summary
                and len(doc.name) <= max_name and summary.isascii()):
            pairs.add((f"# {summary}\ndef ", f"{doc.name}("))
    train, test = [], []
    for pair in sorted(pairs):
        (test if _in_test_split(pair[1], test_fraction) else train).append(pair)
    return PairTask(train, test, stop="(")


# ------------------------------------------------------------------------------------------------- scores


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenisation: lower case, anything but a-z and 0-9 separates words."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (dynamic programming, one row at a time)."""
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (Lin, 2004; eq. 11.8): with l = LCS(c, r) over words, P = l/|c|, R = l/|r|, F = 2PR/(P + R)."""
    c, r = rouge_tokens(candidate), rouge_tokens(reference)
    lcs = lcs_length(c, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def exact_match(candidate: str, reference: str) -> float:
    """1.0 when the two strings are the same after stripping surrounding whitespace, else 0.0."""
    return float(candidate.strip() == reference.strip())
