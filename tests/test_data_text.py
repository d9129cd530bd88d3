"""Text data: corpora (offline default, cached download, fallback), the char tokenizer, batching."""

import hashlib
import io
import urllib.error
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_course.data import CORPORA, CharTokenizer, DataFallbackWarning, get_batch, load_corpus, train_val_split
from aigc_course.data import text as text_mod

SHAKESPEARE = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"


# ---------------------------------------------------------------------------------------------- corpora


def test_offline_default_is_real_python_documentation():
    corpus = load_corpus()
    assert isinstance(corpus, str) and len(corpus) > 100_000
    assert "def" in corpus and "lambda" in corpus and "The" in corpus
    assert corpus == load_corpus("python-docs")  # deterministic
    assert load_corpus(max_chars=500) == corpus[:500]


def test_bad_corpus_arguments_say_what_is_valid():
    with pytest.raises(ValueError, match="Did you mean 'tiny-shakespeare'") as info:
        load_corpus("tiny-shakespear")
    assert all(name in str(info.value) for name in CORPORA)
    with pytest.raises(ValueError, match="max_chars"):
        load_corpus(max_chars=0)


def _serve(monkeypatch, body: bytes, seen: list):
    def fake_urlopen(url, timeout=None):
        seen.append((url, timeout))
        return io.BytesIO(body)

    monkeypatch.setattr(text_mod.urllib.request, "urlopen", fake_urlopen)


def _refuse(monkeypatch):
    def fail(url, timeout=None):
        raise urllib.error.URLError("Name or service not known (test)")

    monkeypatch.setattr(text_mod.urllib.request, "urlopen", fail)


@pytest.fixture(autouse=True)
def _shakespeare_is_our_sample(monkeypatch):
    """The checks compare against the sample served here instead of the real 1,115,394 bytes."""
    body = SHAKESPEARE.encode()
    monkeypatch.setattr(text_mod, "TINY_SHAKESPEARE_CHECK", (len(body), hashlib.sha256(body).hexdigest()))


def test_tiny_shakespeare_downloads_once_then_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    seen = []
    _serve(monkeypatch, SHAKESPEARE.encode(), seen)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataFallbackWarning)
        assert load_corpus("tiny-shakespeare") == SHAKESPEARE
    assert seen == [(text_mod.TINY_SHAKESPEARE_URL, seen[0][1])] and 0 < seen[0][1] <= 10
    assert (tmp_path / "tiny_shakespeare.txt").read_text() == SHAKESPEARE
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_shakespeare.txt"]  # no temporary file left
    _refuse(monkeypatch)                                                     # offline now: the cache serves
    assert load_corpus("tiny_shakespeare", strict=True, max_chars=13) == "First Citizen"


def test_tiny_shakespeare_offline_falls_back_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    _refuse(monkeypatch)
    with pytest.warns(DataFallbackWarning) as record:
        corpus = load_corpus("tiny-shakespeare")
    assert len(record) == 1
    message = str(record[0].message)
    assert "could not download 'tiny-shakespeare'" in message and "using 'python-docs'" in message
    assert "Name or service not known" in message
    assert corpus == load_corpus("python-docs")
    assert not (tmp_path / "tiny_shakespeare.txt").exists()


def test_tiny_shakespeare_strict_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    _refuse(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataFallbackWarning)
        with pytest.raises(RuntimeError, match="could not download 'tiny-shakespeare'.*python-docs"):
            load_corpus("tiny-shakespeare", strict=True)


def test_an_empty_download_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    _serve(monkeypatch, b"  \n", [])
    with pytest.warns(DataFallbackWarning, match="empty"):
        load_corpus("tiny-shakespeare")
    assert not (tmp_path / "tiny_shakespeare.txt").exists()


@pytest.mark.parametrize("body", [b"<html><body>Log in to the hotel Wi-Fi</body></html>",
                                  SHAKESPEARE.encode()[:-3], SHAKESPEARE.encode().replace(b"speak", b"Speak")])
def test_a_download_that_is_not_tiny_shakespeare_is_refused_not_cached(tmp_path, monkeypatch, body):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    _serve(monkeypatch, body, [])
    with pytest.warns(DataFallbackWarning, match=r"SHA-256 .* expected .* bytes") as record:
        assert load_corpus("tiny-shakespeare") == load_corpus("python-docs")
    assert len(record) == 1 and "using 'python-docs'" in str(record[0].message)
    assert not (tmp_path / "tiny_shakespeare.txt").exists()


@pytest.mark.parametrize("cached", [b"", b"<html>captive portal</html>", SHAKESPEARE.encode()[:20]])
def test_a_damaged_cache_is_noticed_refetched_or_replaced_with_the_usual_message(tmp_path, monkeypatch, cached):
    from aigc_course.doctor import data_availability

    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    (tmp_path / "tiny_shakespeare.txt").write_bytes(cached)
    assert "damaged" in data_availability()["tiny-shakespeare (text)"]
    _refuse(monkeypatch)
    with pytest.warns(DataFallbackWarning, match="is damaged.*downloading it again failed") as record:
        assert load_corpus("tiny-shakespeare") == load_corpus("python-docs")
    assert len(record) == 1
    _serve(monkeypatch, SHAKESPEARE.encode(), [])                 # back online: the cache is repaired
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataFallbackWarning)
        assert load_corpus("tiny-shakespeare") == SHAKESPEARE
    assert data_availability()["tiny-shakespeare (text)"] == "cached (verified)"


def test_a_read_only_data_folder_still_returns_the_download(tmp_path, monkeypatch):
    import errno

    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    _serve(monkeypatch, SHAKESPEARE.encode(), [])

    def read_only(path, text):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(text_mod, "_write_atomic", read_only)
    with pytest.warns(DataFallbackWarning, match="could not cache it.*Read-only file system.*this session only"):
        assert load_corpus("tiny-shakespeare") == SHAKESPEARE


# ---------------------------------------------------------------------------------------------- tokenizer

VOCAB = CharTokenizer.from_text(SHAKESPEARE + "0123456789éß\t")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=VOCAB.chars, max_size=200))
def test_encode_decode_round_trip(s):
    ids = VOCAB.encode(s)
    assert all(0 <= i < VOCAB.vocab_size for i in ids)
    assert VOCAB.decode(ids) == s
    assert VOCAB.decode(torch.tensor(ids, dtype=torch.long)) == s


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=80))
def test_replace_mode_maps_any_string_into_the_vocabulary(s):
    tok = CharTokenizer("abc ", unknown="replace")
    expected = "".join(c if c in "abc " else "\ufffd" for c in s)
    assert tok.decode(tok.encode(s)) == expected


def test_vocabulary_is_sorted_and_consistent():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == sorted(set("hello world")) and tok.vocab_size == 8
    assert all(tok.itos[tok.stoi[c]] == c for c in tok.chars)
    assert tok.encode("hello") == [tok.stoi[c] for c in "hello"]
    replace = CharTokenizer("ab", unknown="replace")
    assert "\ufffd" in replace.stoi and replace.vocab_size == 3


def test_unknown_characters_are_named_in_error_mode():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"2 character\(s\) outside the vocabulary.*'xz'.*position 1"):
        tok.encode("axbzx")
    with pytest.raises(ValueError, match="unknown must be one of error, replace"):
        CharTokenizer("abc", unknown="ignore")
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab", "c"])
    with pytest.raises(ValueError, match=r"valid: 0\.\.2"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="1-D"):
        tok.decode(torch.zeros(2, 2, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- batches


def test_get_batch_shapes_and_shift():
    data = torch.arange(1000)
    x, y = get_batch(data, block_size=16, batch_size=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == torch.int64
    assert torch.equal(y, x + 1)                                   # y is x shifted by one token
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)                    # each row is one contiguous window
    assert x.min() >= 0 and y.max() <= 999


def test_get_batch_reaches_both_ends_and_never_runs_off():
    data = torch.arange(10)
    x, y = get_batch(data, block_size=9, batch_size=50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, torch.arange(9).expand(50, 9)) and torch.equal(y, torch.arange(1, 10).expand(50, 9))
    x, _ = get_batch(data, block_size=2, batch_size=500, generator=torch.Generator().manual_seed(0))
    assert set(x[:, 0].tolist()) == set(range(8))


def test_get_batch_is_deterministic_under_a_generator():
    data = torch.randint(0, 50, (5000,), generator=torch.Generator().manual_seed(1))
    a = get_batch(data, 32, 4, generator=torch.Generator().manual_seed(7))
    b = get_batch(data, 32, 4, generator=torch.Generator().manual_seed(7), device="cpu")
    c = get_batch(data, 32, 4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])


def test_train_val_split_is_contiguous_with_val_last():
    data = torch.arange(100)
    train, val = train_val_split(data, 0.1)
    assert torch.equal(train, torch.arange(90)) and torch.equal(val, torch.arange(90, 100))
    train, val = train_val_split(torch.tensor(VOCAB.encode(SHAKESPEARE)))
    assert len(train) + len(val) == len(SHAKESPEARE) and len(val) == round(0.1 * len(SHAKESPEARE))


@pytest.mark.parametrize("call, word", [
    (lambda d: get_batch(d, block_size=100, batch_size=2), "block_size"),
    (lambda d: get_batch(d, block_size=0, batch_size=2), "block_size"),
    (lambda d: get_batch(d, block_size=8, batch_size=0), "batch_size"),
    (lambda d: get_batch(d.float(), block_size=8, batch_size=2), "1-D integer"),
    (lambda d: train_val_split(d, 0.0), r"val_fraction must be in \(0, 1\)"),
    (lambda d: train_val_split(d, 1.0), r"val_fraction must be in \(0, 1\)"),
    (lambda d: train_val_split(d, 1.5), r"val_fraction must be in \(0, 1\)"),
    (lambda d: train_val_split(d[:3], 0.1), "at least one token"),
])
def test_bad_batch_arguments_say_what_is_valid(call, word):
    with pytest.raises(ValueError, match=word):
        call(torch.arange(100))
