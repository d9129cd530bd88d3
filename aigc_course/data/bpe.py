"""Byte-pair encoding, trained from scratch (Sennrich et al., 2016; byte-level as in GPT-2, 2019) — chapter 08.

Text is first turned into UTF-8 bytes, so the 256 byte values are the base vocabulary and *any* string
can be encoded: nothing is ever out of vocabulary. Training repeats one rule until the vocabulary has
``vocab_size`` entries:

    find the most frequent adjacent pair (a, b) in the training text; add a new token ab = a + b;
    replace every occurrence of (a, b) by ab.

Encoding applies the learned merges in the order they were learned (lowest rank first); decoding
concatenates the bytes of the tokens and decodes UTF-8. Like GPT-2, text is first cut into chunks
(a word with its leading space, a run of punctuation, a run of spaces) and merges never cross a chunk
boundary, so a token never glues the end of one word to the start of the next. Training counts each
distinct chunk once, with its frequency, which is what makes it fast.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

# GPT-2's pre-tokenizer, with Python's \w standing in for the Unicode letter and number classes:
# a word with an optional leading space, a run of other symbols, or whitespace. Every character
# belongs to exactly one alternative, so joining the chunks gives the text back.
CHUNK = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\w+| ?[^\s\w]+|\s+(?!\S)|\s+""")


def chunks(text: str) -> list[str]:
    """Cut text into the pieces merges may not cross; ``''.join(chunks(t)) == t``."""
    return CHUNK.findall(text)


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of ``pair`` in ``ids`` (left to right) by ``new_id``."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def pair_counts(words: dict[tuple[int, ...], int]) -> Counter:
    """How often each adjacent pair occurs, weighting each distinct chunk by its frequency."""
    counts: Counter = Counter()
    for word, freq in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] += freq
    return counts


class BPETokenizer:
    """A byte-level BPE tokenizer: ``merges[(a, b)] = new id`` in the order learned; ``vocab[id] = bytes``."""

    def __init__(self, merges: dict[tuple[int, int], int] | None = None):
        self.merges: dict[tuple[int, int], int] = dict(merges or {})
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        for (a, b), new in self.merges.items():
            self.vocab[new] = self.vocab[a] + self.vocab[b]
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def train(cls, text: str, vocab_size: int, verbose: bool = False) -> BPETokenizer:
        """Learn ``vocab_size − 256`` merges from ``text`` (fewer if the text runs out of pairs)."""
        if not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(f"vocab_size must be an int >= 256 (the byte alphabet), got {vocab_size!r}")
        words = {tuple(w.encode("utf-8")): f for w, f in Counter(chunks(text)).items()}
        merges: dict[tuple[int, int], int] = {}
        counts = pair_counts(words)
        for new_id in range(256, vocab_size):
            if not counts:
                break
            pair = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))   # most frequent; ties: smallest ids
            merges[pair] = new_id
            words = cls._apply(words, pair, new_id, counts)
            if verbose and (new_id - 255) % 100 == 0:
                print(f"merge {new_id - 255}: {pair} -> {new_id} (seen {counts.get(pair, 0)} times)")
        return cls(merges)

    @staticmethod
    def _apply(words: dict, pair: tuple[int, int], new_id: int, counts: Counter) -> dict:
        """Merge ``pair`` in every chunk that holds it, updating the pair counts incrementally."""
        out = {}
        for word, freq in words.items():
            if pair[0] in word and len(word) > 1 and _has_pair(word, pair):
                for p in zip(word, word[1:]):
                    counts[p] -= freq
                word = tuple(merge(list(word), pair, new_id))
                for p in zip(word, word[1:]):
                    counts[p] += freq
            out[word] = out.get(word, 0) + freq
        for p in [p for p, c in counts.items() if c <= 0]:
            del counts[p]
        return out

    def _encode_chunk(self, piece: str) -> list[int]:
        """Apply merges by rank: repeatedly merge the adjacent pair that was learned first."""
        ids = list(piece.encode("utf-8"))
        while len(ids) > 1:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = merge(ids, pair, self.merges[pair])
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (any Unicode string)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        out: list[int] = []
        for piece in chunks(text):
            if piece not in self._cache:
                self._cache[piece] = self._encode_chunk(piece)
            out.extend(self._cache[piece])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of ids; byte sequences that are not valid UTF-8 (possible only for a cut
        sample, never for ``decode(encode(text))``) become U+FFFD."""
        try:
            data = b"".join(self.vocab[int(i)] for i in ids)
        except KeyError as err:
            raise ValueError(f"id {err.args[0]} is outside the vocabulary; valid: 0..{self.vocab_size - 1}") \
                from None
        return data.decode("utf-8", errors="replace")

    def token_strings(self) -> list[str]:
        """Every token as readable text (bytes that are not valid UTF-8 on their own shown as escapes)."""
        return [self.vocab[i].decode("utf-8", errors="backslashreplace") for i in range(self.vocab_size)]

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


def _has_pair(word: tuple[int, ...], pair: tuple[int, int]) -> bool:
    return any(a == pair[0] and b == pair[1] for a, b in zip(word, word[1:]))


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte, as Hugging Face's ByteLevel tokenizers use in
    their vocabularies (so their tokens can be compared with ours: map each character back to its byte)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def hf_token_bytes(token: str) -> bytes:
    """The bytes a Hugging Face ByteLevel token stands for (inverse of :func:`bytes_to_unicode`)."""
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    return bytes(inverse[c] for c in token)
