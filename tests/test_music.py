"""Bach chorales: the grid, the corpus cache, the tokenizer's exact round trip, MIDI, clear errors."""


import numpy as np
import pytest
import torch

from aigc_course.data import music
from aigc_course.data.music import REST, Chorale, ChoraleTokenizer, check_grid


def _toy() -> Chorale:
    """Two bars by hand: a held soprano note, a repeated alto note, a tenor rest, a moving bass."""
    pitch = np.array([[67, 62, 59, 43], [67, 62, 59, 45], [67, 62, REST, 47], [69, 62, REST, 48]])
    onset = np.array([[1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1], [1, 1, 0, 1]], dtype=bool)
    return Chorale(pitch, onset, "toy")


def test_toy_grid_notes_and_transposition():
    c = _toy()
    assert c.notes(0) == [(0, 3, 67), (3, 1, 69)]                 # held for three 16ths, then a new note
    assert c.notes(1) == [(0, 1, 62), (1, 2, 62), (3, 1, 62)]     # repeated notes stay separate
    assert c.notes(2) == [(0, 2, 59)]
    up = c.transpose(2)
    assert up.pitch[0, 0] == 69 and up.pitch[2, 2] == REST and np.array_equal(up.onset, c.onset)
    assert up.transpose(-2) == c


def test_bad_grids_are_refused_with_the_reason():
    c = _toy()
    with pytest.raises(ValueError, match="outside the MIDI range 0..127"):
        Chorale(np.where(c.pitch == 69, 130, c.pitch), c.onset)
    onset = c.onset.copy()
    onset[2, 2] = True
    with pytest.raises(ValueError, match="onset on a rest"):
        check_grid(c.pitch, onset)
    pitch = c.pitch.copy()
    pitch[1, 0] = 68                                               # a held note that changes pitch
    with pytest.raises(ValueError, match="held note"):
        check_grid(pitch, c.onset)
    with pytest.raises(ValueError, match=r"\(T, 4\)"):
        Chorale(np.zeros((3, 3)), np.zeros((3, 3), bool))


def test_tokens_round_trip_exactly_and_name_their_voice():
    tok, c = ChoraleTokenizer(), _toy()
    ids = tok.encode(c)
    assert len(ids) == 4 * len(c) + 1 and ids[-1] == tok.END
    assert [tok.name(i) for i in ids[:8]] == ["S:67", "A:62", "T:59", "B:43", "S:hold", "A:62", "T:hold", "B:45"]
    assert tok.decode(ids) == c
    assert tok.vocab_size == 1 + 4 * (2 + 88)


def test_pitch_carrying_tokens_name_every_sounding_pitch_and_round_trip():
    tok, c = ChoraleTokenizer(held="pitch"), _toy()
    ids = tok.encode(c)
    assert tok.vocab_size == 1 + 4 * (1 + 2 * 88) and len(ids) == 4 * len(c) + 1
    assert [tok.name(i) for i in ids[:8]] == ["S:67", "A:62", "T:59", "B:43", "S:~67", "A:62", "T:~59", "B:45"]
    assert tok.decode(ids) == c
    assert all(tok.token(*tok.cell(i)) == i for i in range(1, tok.vocab_size))      # ids and cells: one to one
    assert len({tok.cell(i) for i in range(tok.vocab_size)}) == tok.vocab_size
    with pytest.raises(ValueError, match=r"holds soprano at step 1, but pitch 67 sounds"):
        tok.decode([ids[0]] + ids[1:4] + [tok.token(0, 69, False)] + ids[5:8])
    with pytest.raises(ValueError, match="held must be 'hold'"):
        ChoraleTokenizer(held="tie")
    lenient = tok.decode([tok.token(0, 69, False)] + ids[1:4], strict=False)   # ~69 with nothing sounding
    assert lenient.pitch[0, 0] == 69 and lenient.onset[0, 0]


def test_tokenizer_errors(chorales):
    tok = ChoraleTokenizer(low=50, high=80)
    with pytest.raises(ValueError, match="outside the tokenizer's range 50..80"):
        tok.encode(_toy())                                         # the bass goes down to 43
    full = ChoraleTokenizer()
    with pytest.raises(ValueError, match="outside the vocabulary; valid: 0..360"):
        full.decode([999])
    ids = full.encode(_toy(), end=False)
    with pytest.raises(ValueError, match="not a alto token"):
        full.decode([ids[0], ids[0], ids[2], ids[3]])
    with pytest.raises(ValueError, match="whole steps"):
        full.decode(ids[:5])
    with pytest.raises(ValueError, match="no note sounds before it"):
        full.decode([ids[4]] + ids[1:4])                           # S:hold on the first step
    with pytest.raises(ValueError, match="low < high"):
        ChoraleTokenizer(low=60, high=40)


def test_lenient_decoding_repairs_samples():
    tok, c = ChoraleTokenizer(), _toy()
    ids = tok.encode(c, end=False)
    broken = [ids[4]] + ids[1:4] + ids[4:] + ids[:2]               # a hold at the start, a partial step
    fixed = tok.decode(broken, strict=False)
    assert len(fixed) == len(c) and fixed.pitch[0, 0] == REST and fixed.pitch[1, 0] == REST
    pieces = tok.decode_many(ids + [tok.END, tok.END] + ids + [tok.END])
    assert pieces == [c, c]


def test_real_chorales_round_trip_through_tokens_and_music21(chorales):
    tok = ChoraleTokenizer()
    assert len(chorales) == 4 and all(len(c) > 50 for c in chorales)
    for c in chorales:
        assert tok.decode(tok.encode(c)) == c
        assert ChoraleTokenizer(held="pitch").decode(ChoraleTokenizer(held="pitch").encode(c)) == c
        assert music.from_score(music.to_score(c)) == c
    stream = tok.encode_many(chorales)
    assert tok.decode_many(stream) == chorales
    assert (stream == tok.END).sum() == len(chorales)


def test_midi_round_trip(chorales, tmp_path):
    c = chorales[1]
    path = music.write_midi(c, tmp_path / "c.mid")
    assert path.read_bytes()[:4] == b"MThd"
    back = music.read_midi(path)
    assert back == c


def test_first_chorale_is_bach_and_four_real_voices(chorales):
    c = chorales[0]
    assert c.name == "bach/bwv269"
    ranges = [(c.pitch[:, v][c.pitch[:, v] != REST].min(), c.pitch[:, v].max()) for v in range(4)]
    assert ranges[0][0] > ranges[3][1] - 12                        # soprano above the bass
    assert all(lo >= 36 and hi <= 84 for lo, hi in ranges)


def test_cache_is_written_once_and_read_back(chorales, monkeypatch):
    path = music.cache_path()
    assert path.exists()
    calls = []
    monkeypatch.setattr(music, "from_score", lambda *a, **k: calls.append(a))
    again = music.load_chorales(limit=4, progress=False)
    assert calls == [] and again == chorales                       # nothing parsed: all from the cache
    path.write_bytes(b"not a cache")
    assert music._read_cache(path) == {}                           # a corrupt cache is ignored, not trusted


def test_unknown_piece_and_bad_limit():
    with pytest.raises(ValueError, match="did you mean .*'bach/bwv269'"):
        music.parse_chorale("bwv2699")
    assert music.parse_chorale("bwv269").name == "bach/bwv269"
    with pytest.raises(ValueError, match="limit must be a positive int"):
        music.load_chorales(limit=0)


def test_missing_corpus_is_a_clear_error(monkeypatch):
    import music21

    monkeypatch.setattr(music21.corpus.chorales, "Iterator", lambda **k: iter([]))
    with pytest.raises(FileNotFoundError, match="chorale corpus is missing"):
        music.chorale_names()


def test_split_is_by_piece_and_augment_transposes(chorales):
    train, val = music.split_by_piece(chorales, 0.25, seed=0)
    assert len(val) == 1 and len(train) == 3
    assert not {c.name for c in train} & {c.name for c in val}
    assert music.split_by_piece(chorales, 0.25, seed=0) == (train, val)
    aug = music.augment(train[:1], range(-1, 2))
    assert [int(a.pitch[a.onset].max()) - int(train[0].pitch[train[0].onset].max()) for a in aug] == [-1, 0, 1]
    with pytest.raises(ValueError, match="val_fraction"):
        music.split_by_piece(chorales, 1.5)
    assert torch.is_tensor(ChoraleTokenizer().encode_many(aug))
