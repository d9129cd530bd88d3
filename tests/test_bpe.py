"""Byte-level BPE: round trips on any text (property test), the merge rule, compression, HF comparison."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigc_course.data.bpe import BPETokenizer, bytes_to_unicode, chunks, hf_token_bytes, merge, pair_counts

CORPUS = ("the cat sat on the mat. the cat ate the rat; the rat sat on the cat's hat!\n" * 20
          + "Ünïcödé — 漢字 and emoji 🙂 too.\n")


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(CORPUS, 300)


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_round_trip_on_arbitrary_text(tok, text):
    assert tok.decode(tok.encode(text)) == text
    assert "".join(chunks(text)) == text


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_training_on_arbitrary_text_round_trips(text):
    small = BPETokenizer.train(text, 270)
    assert small.decode(small.encode(text)) == text
    assert all(0 <= i < small.vocab_size for i in small.encode(text))


def test_merge_and_pair_counts():
    assert merge([1, 2, 2, 1, 2], (1, 2), 9) == [9, 2, 9]
    assert merge([7, 7, 7], (7, 7), 9) == [9, 7]                  # left to right, no overlaps
    assert pair_counts({(1, 2, 3): 2, (2, 3): 5}) == {(1, 2): 2, (2, 3): 7}


def test_first_merge_is_the_most_frequent_pair_and_vocab_is_consistent(tok):
    words = {tuple(w.encode()): f for w, f in __import__("collections").Counter(chunks(CORPUS)).items()}
    counts = pair_counts(words)
    best = max(counts.values())
    first = next(iter(tok.merges))
    assert counts[first] == best and tok.merges[first] == 256
    assert tok.vocab_size == 300
    for (a, b), new in tok.merges.items():
        assert tok.vocab[new] == tok.vocab[a] + tok.vocab[b] and new > max(a, b)
    assert " the" in tok.token_strings()


def test_compresses_the_training_text(tok):
    ids = tok.encode(CORPUS)
    assert len(CORPUS.encode()) / len(ids) > 3                     # bytes per token
    assert len(BPETokenizer.train(CORPUS, 256).encode(CORPUS)) == len(CORPUS.encode())   # no merges: bytes


def test_training_is_deterministic(tok):
    assert BPETokenizer.train(CORPUS, 300).merges == tok.merges


def test_bad_input(tok):
    with pytest.raises(ValueError, match="vocab_size must be an int >= 256"):
        BPETokenizer.train(CORPUS, 100)
    with pytest.raises(ValueError, match=r"id 999 is outside the vocabulary; valid: 0..299"):
        tok.decode([1, 999])
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(b"bytes")


def test_hugging_face_byte_level_mapping_and_comparison():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256 and table[ord("a")] == "a" and table[ord(" ")] == "Ġ"
    assert hf_token_bytes("Ġthe") == b" the"
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer(tokenizers.models.BPE())
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = tokenizers.decoders.ByteLevel()
    alphabet = tokenizers.pre_tokenizers.ByteLevel.alphabet()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, initial_alphabet=alphabet, show_progress=False)
    hf.train_from_iterator([CORPUS], trainer)
    theirs = {hf_token_bytes(t) for t in hf.get_vocab()}
    ours = set(BPETokenizer.train(CORPUS, 300).vocab.values())
    assert len(ours & theirs) / len(ours) > 0.8                   # the same algorithm learns mostly the same tokens
    assert hf.decode(hf.encode(CORPUS).ids) == CORPUS
