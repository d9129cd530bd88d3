"""Offline tasks from the standard library: stable splits, balanced classes, no leak; ROUGE-L vs rouge-score."""

import random
import textwrap

import pytest

from aigc_course.data.tasks import (
    TOPICS,
    docstring_to_name,
    docstring_topics,
    exact_match,
    lcs_length,
    rouge_l,
    stdlib_docstrings,
    unlabelled_docstrings,
)


@pytest.fixture()
def fake_stdlib(tmp_path):
    (tmp_path / "asyncio").mkdir()
    (tmp_path / "asyncio" / "queues.py").write_text(textwrap.dedent('''
        """Queues for coroutines, in a module docstring long enough."""
        def qsize():
            """Return the number of items in the queue."""
        def _private():
            """Private helpers are left out of the naming task."""
    '''))
    (tmp_path / "shutil.py").write_text(textwrap.dedent('''
        def copyfile(src, dst):
            """Copy data from src to dst in the most efficient way possible."""
        class Error(OSError):
            """Base class of the errors this module raises, documented."""
    '''))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text('def f():\n    """A test docstring that must be skipped."""\n')
    (tmp_path / "broken.py").write_text("def (:\n")
    return tmp_path


def test_docstrings_are_read_without_importing(fake_stdlib):
    docs = stdlib_docstrings(str(fake_stdlib))
    assert {(d.module, d.name, d.kind) for d in docs} == {
        ("asyncio", "", "module"), ("asyncio", "qsize", "function"), ("asyncio", "_private", "function"),
        ("shutil", "copyfile", "function"), ("shutil", "Error", "class")}
    with pytest.raises(ValueError, match="folder of Python sources"):
        stdlib_docstrings(str(fake_stdlib / "nope"))


def test_topics_on_a_fake_library(fake_stdlib):
    task = docstring_topics(root=str(fake_stdlib), test_fraction=0.5)
    assert task.classes == ("concurrency", "files")
    texts = task.train_texts + task.test_texts
    assert len(texts) == 5 and not any("test docstring" in t for t in texts)
    with pytest.raises(ValueError, match="test_fraction"):
        docstring_topics(root=str(fake_stdlib), test_fraction=1.0)


def test_name_task_on_a_fake_library(fake_stdlib):
    task = docstring_to_name(root=str(fake_stdlib), test_fraction=0.5)
    pairs = sorted(task.train + task.test)
    assert pairs == [("# Copy data from src to dst in the most efficient way possible.\ndef ", "copyfile(")] \
        or ("# Return the number of items in the queue.\ndef ", "qsize(") in pairs
    assert all(not a.startswith("_") for _, a in pairs) and task.stop == "("


def test_unlabelled_docstrings_leave_every_test_text_out(fake_stdlib):
    (fake_stdlib / "json.py").write_text('"""Not one of the TOPICS: kept only with topics_only=False."""\n')
    task = docstring_topics(root=str(fake_stdlib), test_fraction=0.5, max_chars=30)
    assert task.test_texts                                                # this split has a test text
    for topics_only, n_all in ((True, 5), (False, 6)):
        docs = unlabelled_docstrings(task, topics_only=topics_only, root=str(fake_stdlib))
        assert not any(d.startswith(t) for d in docs for t in task.test_texts)
        assert len(docs) == n_all - len(task.test_texts)                  # whole texts, test ones left out
    assert any(len(d) > 30 for d in docs)                                 # not cut to the task's length
    kept = unlabelled_docstrings(task, topics_only=False, root=str(fake_stdlib), also_exclude=["Not one of"])
    assert kept == [d for d in docs if not d.startswith("Not one of")] and len(kept) == len(docs) - 1
    with pytest.raises(TypeError, match="task must be a TextTask"):
        unlabelled_docstrings(["a text"])
    with pytest.raises(TypeError, match="also_exclude must be a sequence of non-empty strings"):
        unlabelled_docstrings(task, also_exclude="Not one of")


def test_pretraining_text_never_starts_with_a_test_input():
    """Chapter 11's pre-training text: every module's docstrings, no classification test text and no test
    summary of the naming task at the start of any of them (the test inputs stay unseen)."""
    task, names = docstring_topics(), docstring_to_name()
    summaries = names.test_summaries()
    assert len(summaries) == len(names.test) and all(f"# {s}\ndef " == p for s, (p, _) in zip(summaries, names.test))
    docs = unlabelled_docstrings(task, topics_only=False, also_exclude=summaries)
    assert sum(map(len, docs)) > 1_000_000                                 # about 1.5 M characters
    hidden = tuple(task.test_texts) + tuple(summaries)
    assert not any(d.startswith(hidden) for d in docs)
    everything = unlabelled_docstrings(task, topics_only=False)
    assert len(everything) > len(docs) and any(d.startswith(tuple(summaries)) for d in everything)


def test_real_topics_are_balanced_stable_and_disjoint():
    task = docstring_topics()
    assert task.classes == tuple(TOPICS)
    counts = [int((task.train_labels == k).sum() + (task.test_labels == k).sum()) for k in range(6)]
    assert min(counts) >= 300 and max(counts) <= 400                     # per_class caps the big areas
    assert not set(task.train_texts) & set(task.test_texts)
    assert 0.2 < len(task.test_texts) / (len(task.train_texts) + len(task.test_texts)) < 0.3
    again = docstring_topics()
    assert again.test_texts == task.test_texts                          # the same split every run
    texts, labels = task.subset(60, seed=1)
    assert sorted(labels.tolist()) == sorted(list(range(6)) * 10)        # stratified
    assert set(texts) <= set(task.train_texts)
    with pytest.raises(ValueError, match="n must be in 1.."):
        task.subset(0)


def test_real_name_task_never_shares_a_name_between_splits():
    task = docstring_to_name()
    assert len(task.train) > 500 and len(task.test) > 100
    assert not {a for _, a in task.train} & {a for _, a in task.test}
    assert all(p.startswith("# ") and p.endswith("\ndef ") and a.endswith("(") for p, a in task.test)


def test_lcs_and_rouge_by_hand():
    assert lcs_length("ABCBDAB", "BDCABA") == 4                          # the textbook example (CLRS)
    assert lcs_length([], [1]) == 0
    # candidate "get item", reference "get the item": l = 2, P = 1, R = 2/3, F = 0.8
    assert rouge_l("get_item", "get the item") == pytest.approx(0.8)
    assert rouge_l("", "x") == 0.0 and rouge_l("A-B", "a b") == 1.0
    assert exact_match(" qsize( ", "qsize(") == 1.0 and exact_match("qsize", "qsize(") == 0.0


def test_rouge_l_equals_the_rouge_score_package():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(0)
    words = ["get", "set", "item", "name", "path", "is", "dir", "file", "add", "x2"]
    for _ in range(300):
        cand = rng.choice(["_", " ", "-"]).join(rng.choices(words, k=rng.randint(0, 6)))
        ref = "_".join(rng.choices(words, k=rng.randint(1, 6)))
        assert rouge_l(cand, ref) == pytest.approx(scorer.score(ref, cand)["rougeL"].fmeasure, abs=1e-12)
