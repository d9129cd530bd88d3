"""Bach's four-part chorales as data (chapter 13): a 16th-note grid, a token encoding, MIDI in and out.

- **Corpus**: the 371 chorales bundled with ``music21`` (no network), parsed once (slow; progress bar) and
  cached in ``data_dir()/bach_chorales.npz``; later calls read the cache and parse only pieces it lacks.
- **Piano roll** (:class:`Chorale`): on a grid of 16th notes, for each step t and voice v (soprano, alto,
  tenor, bass) the MIDI pitch sounding, ``REST`` (−1) for silence, and whether a new note starts there.
  The onset flag tells a repeated note (two attacks) from a held one.
- **Tokens** (:class:`ChoraleTokenizer`): the grid read step by step, S A T B inside each step, each cell a
  token naming its voice and what it does: ``S:67`` (a new note), ``S:rest``, and ``S:hold`` or ``S:~67``
  (67 still sounding); ``<end>`` closes each piece. Decoding gives back exactly the grid that was encoded.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from aigc_course.config import data_dir

VOICES = ("soprano", "alto", "tenor", "bass")
REST = -1                       # the pitch of a silent cell
STEPS_PER_QUARTER = 4           # the grid is in 16th notes
CACHE_VERSION = 1
MIDI_RANGE = (0, 127)


# ---------------------------------------------------------------------------------------------- the grid


@dataclass
class Chorale:
    """Four voices on a 16th-note grid. ``pitch`` (T, 4) int: MIDI pitch or REST; ``onset`` (T, 4) bool."""

    pitch: np.ndarray
    onset: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        self.pitch = np.asarray(self.pitch, dtype=np.int16)
        self.onset = np.asarray(self.onset, dtype=bool)
        check_grid(self.pitch, self.onset, self.name)

    def __len__(self) -> int:
        return len(self.pitch)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Chorale) and np.array_equal(self.pitch, other.pitch)
                and np.array_equal(self.onset, other.onset))

    def notes(self, voice: int) -> list[tuple[int, int, int]]:
        """The notes of one voice as (start step, length in steps, MIDI pitch)."""
        p, o = self.pitch[:, voice], self.onset[:, voice]
        starts = np.flatnonzero(o)
        out = []
        for s in starts:
            end = s + 1
            while end < len(p) and not o[end] and p[end] == p[s]:
                end += 1
            out.append((int(s), int(end - s), int(p[s])))
        return out

    def transpose(self, semitones: int) -> Chorale:
        """The same piece ``semitones`` higher (negative: lower); rests stay rests."""
        pitch = np.where(self.pitch == REST, REST, self.pitch.astype(np.int32) + semitones)
        return Chorale(pitch, self.onset.copy(), f"{self.name}{semitones:+d}" if self.name else "")


def check_grid(pitch: np.ndarray, onset: np.ndarray, name: str = "") -> None:
    """Raise a ValueError unless (pitch, onset) is a valid grid: shapes (T, 4), pitches in the MIDI range or
    REST, onsets only on notes, and every note that is not attacked continues the previous step's pitch."""
    where = f" in {name!r}" if name else ""
    if pitch.ndim != 2 or pitch.shape[1] != len(VOICES) or onset.shape != pitch.shape:
        raise ValueError(f"pitch and onset must both be (T, 4) for {VOICES}, got {pitch.shape} and {onset.shape}")
    lo, hi = MIDI_RANGE
    bad = (pitch != REST) & ((pitch < lo) | (pitch > hi))
    if bad.any():
        t, v = np.argwhere(bad)[0]
        raise ValueError(f"pitch {int(pitch[t, v])} at step {t}, voice {VOICES[v]}{where} is outside the MIDI "
                         f"range {lo}..{hi} (or {REST} for a rest)")
    if (onset & (pitch == REST)).any():
        raise ValueError(f"an onset on a rest{where}: onset must be False where pitch is REST")
    previous = np.vstack([np.full((1, len(VOICES)), REST, dtype=pitch.dtype), pitch[:-1]])
    held = (pitch != REST) & ~onset
    if (held & (pitch != previous)).any():
        t, v = np.argwhere(held & (pitch != previous))[0]
        raise ValueError(f"step {t}, voice {VOICES[v]}{where}: a held note (onset False) must continue the "
                         f"previous step's pitch {int(previous[t, v])}, got {int(pitch[t, v])}")


# ---------------------------------------------------------------------------------------------- music21


def _music21():
    try:
        import music21
    except ImportError as err:
        raise ImportError("the Bach chorales come from the music21 package: pip install music21") from err
    return music21


def chorale_names() -> list[str]:
    """The names of the chorales in music21's bundled corpus, e.g. ``'bach/bwv269'``."""
    names = list(_music21().corpus.chorales.Iterator(returnType="filename"))
    if not names:
        raise FileNotFoundError("music21 is installed but its Bach chorale corpus is missing; reinstall the "
                                "full package (pip install --force-reinstall music21), which ships the corpus")
    return names


def _check_name(name: str, names: Sequence[str]) -> str:
    for candidate in (name, f"bach/{name}"):
        if candidate in names:
            return candidate
    close = difflib.get_close_matches(str(name), list(names), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"unknown chorale {name!r}: valid names are the {len(names)} of chorale_names(), "
                     f"e.g. {names[0]!r}{hint}")


def _voice_parts(score) -> list | None:
    """The soprano, alto, tenor and bass parts of a score (by name, or the only 4 parts), else None."""
    parts = list(score.parts)
    by_name = {}
    for part in parts:
        label = (part.partName or "").strip().lower()
        for voice in VOICES:
            if label.startswith(voice) or label == voice[0]:
                by_name.setdefault(voice, part)
    if len(by_name) == len(VOICES):
        return [by_name[v] for v in VOICES]
    return parts if len(parts) == len(VOICES) else None


def _fill_voice(part, pitch: np.ndarray, onset: np.ndarray, v: int) -> None:
    """Write one music21 part into column v of the grid: ties merged, chords read by their top note."""
    for el in part.stripTies().flatten().notes:
        start = round(float(el.offset) * STEPS_PER_QUARTER)
        end = round(float(el.offset + el.quarterLength) * STEPS_PER_QUARTER)
        if end <= start:                                         # grace notes and 32nds below the grid
            continue
        midi = max(p.midi for p in el.pitches)
        pitch[start:end, v] = midi
        onset[start:end, v] = False
        onset[start, v] = True


def from_score(score, name: str = "") -> Chorale:
    """A music21 score with four voices -> :class:`Chorale` on the 16th-note grid."""
    parts = _voice_parts(score)
    if parts is None:
        raise ValueError(f"{name or 'the score'} has parts {[p.partName for p in score.parts]}, not the four "
                         f"voices {VOICES}")
    steps = round(float(score.highestTime) * STEPS_PER_QUARTER)
    pitch, onset = np.full((steps, 4), REST, dtype=np.int16), np.zeros((steps, 4), dtype=bool)
    for v, part in enumerate(parts):
        _fill_voice(part, pitch, onset, v)
    return Chorale(pitch, onset, name)


def to_score(chorale: Chorale):
    """:class:`Chorale` -> a music21 Score of four parts (notes and rests in quarter lengths)."""
    music21 = _music21()
    stream, note = music21.stream, music21.note
    score = stream.Score()
    for v, voice in enumerate(VOICES):
        part = stream.Part()
        part.partName = voice.capitalize()
        t = 0
        for start, length, midi in chorale.notes(v):
            if start > t:
                part.insert(t / STEPS_PER_QUARTER, note.Rest(quarterLength=(start - t) / STEPS_PER_QUARTER))
            part.insert(start / STEPS_PER_QUARTER, note.Note(midi, quarterLength=length / STEPS_PER_QUARTER))
            t = start + length
        if t < len(chorale):
            part.insert(t / STEPS_PER_QUARTER, note.Rest(quarterLength=(len(chorale) - t) / STEPS_PER_QUARTER))
        score.insert(0, part)
    return score


def write_midi(chorale: Chorale, path: str | Path) -> Path:
    """Save a chorale as a standard MIDI file (through music21); returns the path."""
    path = Path(path)
    to_score(chorale).write("midi", fp=str(path))
    return path


def read_midi(path: str | Path) -> Chorale:
    """Read a four-track MIDI file (e.g. one :func:`write_midi` wrote) back onto the grid.

    A MIDI file pads its last bar with silence; silent steps at the very end are dropped.
    """
    music21 = _music21()
    chorale = from_score(music21.converter.parse(str(path), quantizePost=False), Path(path).stem)
    sounding = np.flatnonzero((chorale.pitch != REST).any(axis=1))
    end = int(sounding[-1]) + 1 if len(sounding) else 0
    return Chorale(chorale.pitch[:end], chorale.onset[:end], chorale.name)


def parse_chorale(name: str) -> Chorale:
    """Parse one chorale of the corpus by name (``'bach/bwv269'`` or ``'bwv269'``)."""
    name = _check_name(name, chorale_names())
    return from_score(_music21().corpus.parse(name), name)


# ---------------------------------------------------------------------------------------------- the cache


def cache_path() -> Path:
    return data_dir() / "bach_chorales.npz"


def _read_cache(path: Path) -> dict[str, Chorale | None]:
    """name -> Chorale (None for a piece that is not four voices); {} when there is no valid cache."""
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != CACHE_VERSION:
                return {}
            names, lengths = z["names"].tolist(), z["lengths"]
            bounds = np.concatenate([[0], np.cumsum(np.maximum(lengths, 0))])
            out: dict[str, Chorale | None] = {}
            for i, name in enumerate(names):
                a, b = bounds[i], bounds[i + 1]
                out[name] = None if lengths[i] < 0 else Chorale(z["pitch"][a:b], z["onset"][a:b], name)
            return out
    except (OSError, KeyError, ValueError):   # a corrupt or foreign file: parse again
        return {}


def _write_cache(path: Path, pieces: dict[str, Chorale | None]) -> None:
    names = list(pieces)
    grids = [pieces[n] for n in names]
    lengths = np.array([len(c) if c is not None else -1 for c in grids], dtype=np.int64)
    pitch = np.concatenate([c.pitch for c in grids if c is not None] or [np.zeros((0, 4), np.int16)])
    onset = np.concatenate([c.onset for c in grids if c is not None] or [np.zeros((0, 4), bool)])
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, version=CACHE_VERSION, names=np.array(names, dtype=str), lengths=lengths,
                        pitch=pitch, onset=onset)
    tmp.replace(path)


def load_chorales(limit: int | None = None, progress: bool = True) -> list[Chorale]:
    """The four-voice chorales of the corpus (the first ``limit`` names when given), parsed once and cached.

    Pieces that are not four voices (a handful have an extra instrument without names) are skipped.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None (all pieces), got {limit!r}")
    names, path = chorale_names()[:limit], cache_path()
    pieces = _read_cache(path)
    missing = [n for n in names if n not in pieces]
    if missing:
        corpus = _music21().corpus
        for name in tqdm(missing, desc="parsing chorales (once; cached)", disable=not progress):
            try:
                pieces[name] = from_score(corpus.parse(name), name)
            except ValueError:                                   # not four voices
                pieces[name] = None
        _write_cache(path, pieces)
    return [pieces[n] for n in names if pieces[n] is not None]


def split_by_piece(chorales: Sequence[Chorale], val_fraction: float = 0.1,
                   seed: int = 0) -> tuple[list[Chorale], list[Chorale]]:
    """(train, validation) by whole pieces, in a fixed shuffled order: no piece is in both."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction}")
    order = torch.randperm(len(chorales), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(val_fraction * len(chorales)))
    if n_val >= len(chorales):
        raise ValueError(f"{len(chorales)} pieces cannot be split with val_fraction={val_fraction}: need >= 2")
    return [chorales[i] for i in sorted(order[n_val:])], [chorales[i] for i in sorted(order[:n_val])]


def augment(chorales: Iterable[Chorale], shifts: Iterable[int]) -> list[Chorale]:
    """Every chorale transposed by every shift in semitones (0 keeps the original)."""
    return [c.transpose(s) for c in chorales for s in shifts]


# ---------------------------------------------------------------------------------------------- tokens


class ChoraleTokenizer:
    """Voice-aware tokens: ``<end>``, then a block of tokens for each voice, S A T B (one per voice per step).

    ``held="hold"`` (the default): a voice's block is ``V:hold``, ``V:rest`` and ``V:p`` (a new note, p in
    low..high); a held note does not say its pitch. ``held="pitch"``: ``V:rest``, ``V:p`` and ``V:~p`` (p
    still sounding), so every step names the pitch of all four voices. A piece is its steps, then ``<end>``.
    """

    END = 0
    HOLD = -2                                                    # the pitch a held-note token of "hold" gives

    def __init__(self, low: int = 21, high: int = 108, held: str = "hold"):
        if not MIDI_RANGE[0] <= low < high <= MIDI_RANGE[1]:
            raise ValueError(f"need {MIDI_RANGE[0]} <= low < high <= {MIDI_RANGE[1]}, got low={low}, high={high}")
        if held not in ("hold", "pitch"):
            raise ValueError(f"held must be 'hold' (one V:hold token) or 'pitch' (V:~p names it), got {held!r}")
        self.low, self.high, self.held, self.n = low, high, held, high - low + 1
        self.per_voice = 2 + self.n if held == "hold" else 1 + 2 * self.n   # hold, rest, p | rest, p, ~p

    @property
    def vocab_size(self) -> int:
        return 1 + len(VOICES) * self.per_voice

    def token(self, voice: int, pitch: int, onset: bool) -> int:
        base = 1 + voice * self.per_voice - (self.held == "pitch")   # "pitch" has no hold: rest is offset 0
        if pitch == REST:
            return base + 1
        if not onset and self.held == "hold":
            return base
        if not self.low <= pitch <= self.high:
            raise ValueError(f"pitch {pitch} ({VOICES[voice]}) is outside the tokenizer's range "
                             f"{self.low}..{self.high}: widen ChoraleTokenizer(low=, high=) or transpose less")
        return base + 2 + pitch - self.low + (0 if onset else self.n)

    def name(self, token: int) -> str:
        """A readable name: '<end>', 'S:hold', 'A:rest', 'T:60', 'B:~48' (48 still sounding) ..."""
        voice, pitch, onset = self.cell(token)
        if voice is None:
            return "<end>"
        what = "hold" if pitch == self.HOLD else "rest" if pitch == REST else f"{'' if onset else '~'}{pitch}"
        return f"{VOICES[voice][0].upper()}:{what}"

    def cell(self, token: int) -> tuple[int | None, int, bool]:
        """token -> (voice, pitch, onset): pitch is MIDI, ``REST``, or ``HOLD`` for a ``V:hold`` token;
        (None, REST, False) for ``<end>``."""
        token = int(token)
        if not 0 <= token < self.vocab_size:
            raise ValueError(f"token {token} is outside the vocabulary; valid: 0..{self.vocab_size - 1}")
        if token == self.END:
            return None, REST, False
        voice, offset = divmod(token - 1, self.per_voice)
        offset += self.held == "pitch"                           # the layout of "hold" without its first id
        if offset < 2:
            return voice, (self.HOLD, REST)[offset], False
        return voice, self.low + (offset - 2) % self.n, offset - 2 < self.n

    def encode(self, chorale: Chorale, end: bool = True) -> list[int]:
        """The piece as tokens, step by step, S A T B within a step, then ``<end>``."""
        ids = [self.token(v, int(chorale.pitch[t, v]), bool(chorale.onset[t, v]))
               for t in range(len(chorale)) for v in range(len(VOICES))]
        return ids + [self.END] if end else ids

    def encode_many(self, chorales: Iterable[Chorale]) -> Tensor:
        """One 1-D stream of every piece's tokens (each closed by ``<end>``)."""
        return torch.tensor([i for c in chorales for i in self.encode(c)], dtype=torch.long)

    def decode(self, ids: Sequence[int] | Tensor, strict: bool = True, name: str = "") -> Chorale:
        """Tokens of one piece (a trailing ``<end>`` allowed) -> :class:`Chorale`.

        ``strict`` raises on anything :meth:`encode` cannot produce. Otherwise (for sampled tokens) a token
        is read as its value in the voice its position calls for, a hold with nothing to hold is a rest, a
        held ``V:~p`` when p is not sounding is a new note p, and an incomplete last step is dropped.
        """
        ids = [int(i) for i in (ids.tolist() if isinstance(ids, Tensor) else ids)]
        cells = [self.cell(token) for token in ids]              # raises on a token outside the vocabulary
        if ids and ids[-1] == self.END:
            ids = ids[:-1]
        if strict and len(ids) % len(VOICES):
            raise ValueError(f"{len(ids)} tokens are not whole steps of {len(VOICES)} (one per voice)")
        steps = len(ids) // len(VOICES)
        pitch, onset = np.full((steps, 4), REST, dtype=np.int16), np.zeros((steps, 4), dtype=bool)
        for i, (token, (voice, value, new)) in enumerate(zip(ids[: steps * len(VOICES)], cells)):
            t, v = divmod(i, len(VOICES))
            if voice is None and strict:
                raise ValueError(f"token {i} is <end> inside a piece; use decode_many for a stream of pieces")
            if voice is None or value == REST:                   # a rest (or a stray <end>: silence)
                continue
            if strict and voice != v:
                raise ValueError(f"token {i} ({self.name(token)}) is not a {VOICES[v]} token: each step is "
                                 f"S, A, T, B in that order")
            sounding = pitch[t - 1, v] if t > 0 else REST
            if not new and (sounding == REST or value not in (self.HOLD, sounding)):
                if strict:
                    raise ValueError(f"token {i} ({self.name(token)}) holds {VOICES[v]} at step {t}, but "
                                     f"{'no note' if sounding == REST else f'pitch {sounding}'} sounds before it")
                new = value != self.HOLD                         # lenient: ~p with p not sounding is a new p
                if not new:                                      # hold with nothing to hold: a rest
                    continue
            pitch[t, v], onset[t, v] = (sounding, False) if value == self.HOLD else (value, new)
        return Chorale(pitch, onset, name)

    def decode_many(self, ids: Sequence[int] | Tensor, strict: bool = True) -> list[Chorale]:
        """A stream of pieces separated by ``<end>`` -> one :class:`Chorale` per non-empty piece."""
        ids = [int(i) for i in (ids.tolist() if isinstance(ids, Tensor) else ids)]
        runs = groupby(ids, key=lambda token: token == self.END)
        return [self.decode(list(run), strict=strict) for is_end, run in runs if not is_end]

    def __repr__(self) -> str:
        return f"ChoraleTokenizer(low={self.low}, high={self.high}, held={self.held!r}, vocab_size={self.vocab_size})"
