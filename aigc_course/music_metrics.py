"""Measuring generated chorales against Bach's (chapter 13): statistics a music theorist would look at.

- pitch-class and melodic-interval histograms, compared by the Jensen–Shannon divergence (eq. 13.4);
- voice ranges: the share of notes inside the textbook soprano/alto/tenor/bass ranges;
- parallel fifths and octaves: two voices moving in the same direction from a perfect fifth (or octave)
  to another one, which the rules of four-part writing forbid and Bach almost never writes;
- key consistency: the Krumhansl–Kessler key of each window of the piece against the key of the whole;
- a baseline that keeps Bach's rhythm and draws every pitch at random inside the voice's range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from aigc_course.data.music import REST, VOICES, Chorale

SATB_RANGES = ((60, 81), (53, 74), (48, 69), (36, 64))   # MIDI: soprano C4–A5, alto F3–D5, tenor C3–A4, bass C2–E4
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _pieces(chorales: Chorale | Iterable[Chorale]) -> list[Chorale]:
    return [chorales] if isinstance(chorales, Chorale) else list(chorales)


# ---------------------------------------------------------------------------------------------- histograms


def pitch_class_histogram(chorales: Chorale | Iterable[Chorale]) -> np.ndarray:
    """Share of note onsets on each pitch class C, C#, ..., B: (12,), sums to 1."""
    counts = np.zeros(12)
    for c in _pieces(chorales):
        np.add.at(counts, c.pitch[c.onset].astype(int) % 12, 1)
    return counts / max(counts.sum(), 1)


def interval_histogram(chorales: Chorale | Iterable[Chorale], largest: int = 12) -> np.ndarray:
    """Share of melodic steps (consecutive notes of one voice) by interval in semitones, −largest..+largest
    (larger leaps counted at the ends): (2·largest + 1,), sums to 1."""
    counts = np.zeros(2 * largest + 1)
    for c in _pieces(chorales):
        for v in range(len(VOICES)):
            notes = c.pitch[c.onset[:, v], v].astype(int)
            steps = np.clip(np.diff(notes), -largest, largest)
            np.add.at(counts, steps + largest, 1)
    return counts / max(counts.sum(), 1)


def entropy_bits(p: np.ndarray) -> float:
    """H(P) = −Σ p log₂ p, with 0 log 0 = 0."""
    p = np.asarray(p, dtype=float)
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits (eq. 13.4): JS = H(M) − ½ H(P) − ½ H(Q), M = ½ (P + Q); in [0, 1].

    Unlike KL it is symmetric and finite when one histogram has an empty bin the other does not."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"p and q must be 1-D histograms of one length, got shapes {p.shape} and {q.shape}")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("p and q must be non-negative with a positive sum")
    p, q = p / p.sum(), q / q.sum()
    return max(0.0, entropy_bits((p + q) / 2) - (entropy_bits(p) + entropy_bits(q)) / 2)


# ---------------------------------------------------------------------------------------------- voice leading


def range_share(chorales: Chorale | Iterable[Chorale], ranges: Sequence[tuple[int, int]] = SATB_RANGES) -> float:
    """Share of note onsets that lie inside their voice's range."""
    inside = total = 0
    for c in _pieces(chorales):
        for v, (lo, hi) in enumerate(ranges):
            notes = c.pitch[c.onset[:, v], v]
            inside += int(((notes >= lo) & (notes <= hi)).sum())
            total += len(notes)
    return inside / max(total, 1)


def _pair_moves(chorales: Chorale | Iterable[Chorale]):
    """For every pair of voices, between consecutive moments where some voice starts a note: yields
    (interval before mod 12, interval after mod 12, both move, both move the same way), arrays over moments."""
    for c in _pieces(chorales):
        moments = np.flatnonzero(c.onset.any(axis=1))
        p = c.pitch[moments].astype(int)                                     # (M, 4)
        before, after = p[:-1], p[1:]
        for i in range(len(VOICES)):
            for j in range(i + 1, len(VOICES)):
                sounding = (before[:, [i, j]] != REST).all(1) & (after[:, [i, j]] != REST).all(1)
                di, dj = after[:, i] - before[:, i], after[:, j] - before[:, j]
                moving = sounding & (di != 0) & (dj != 0)
                yield ((before[:, i] - before[:, j]) % 12, (after[:, i] - after[:, j]) % 12, moving,
                       moving & (np.sign(di) == np.sign(dj)))


def parallel_motion(chorales: Chorale | Iterable[Chorale]) -> dict[str, float]:
    """Parallel fifths and octaves between every pair of voices.

    At the moments where some voice starts a note, look at each pair of voices from one moment to the
    next. A *move* is when both voices change pitch; it is a parallel fifth (octave) when both go the same
    way and the interval between them is a perfect fifth (octave or unison, i.e. 0 mod 12) before and after,
    counted modulo the octave. Returns the counts and the shares of moves, and the two factors of the fifth
    rate: fifth_rate = (moves that start on a fifth / moves) × (fifths / moves that start on a fifth), i.e.
    how often two moving voices stand a fifth apart, and how often they then keep it in similar motion.
    """
    moves = fifths = octaves = from_fifth = 0
    for a, b, moving, similar in _pair_moves(chorales):
        moves += int(moving.sum())
        from_fifth += int((moving & (a == 7)).sum())
        fifths += int((similar & (a == 7) & (b == 7)).sum())
        octaves += int((similar & (a == 0) & (b == 0)).sum())
    share = 1 / max(moves, 1)
    return {"moves": moves, "fifths": fifths, "octaves": octaves, "from_fifth": from_fifth,
            "fifth_rate": fifths * share, "octave_rate": octaves * share,
            "start_on_fifth": from_fifth * share, "keep_fifth": fifths / max(from_fifth, 1)}


def parallel_by_interval(chorales: Chorale | Iterable[Chorale]) -> dict[str, np.ndarray]:
    """The voice-leading profile: for each interval class k = 0..11 between two voices that both move,
    ``start`` = how many moves start k apart and ``keep`` = the share of those that stay k apart moving the
    same way (parallel motion). ``keep[7]`` is :func:`parallel_motion`'s ``keep_fifth``; four-part writing
    allows parallel thirds and sixths (k = 3, 4, 8, 9) and forbids parallel fifths and octaves (7, 0)."""
    start, kept = np.zeros(12), np.zeros(12)
    for a, b, moving, similar in _pair_moves(chorales):
        np.add.at(start, a[moving], 1)
        np.add.at(kept, a[similar & (a == b)], 1)
    return {"start": start, "keep": kept / np.maximum(start, 1)}


# ---------------------------------------------------------------------------------------------- keys


def duration_profile(chorale: Chorale, start: int = 0, stop: int | None = None) -> np.ndarray:
    """How many 16th steps each pitch class sounds (all voices) in steps start..stop: (12,)."""
    cells = chorale.pitch[start:stop].ravel()
    return np.bincount(cells[cells != REST].astype(int) % 12, minlength=12).astype(float)


def estimate_key(profile: np.ndarray) -> tuple[int, str, float]:
    """Krumhansl–Kessler key finding: the (tonic pitch class, 'major'/'minor') whose profile, rotated to
    that tonic, has the highest Pearson correlation with ``profile``; returns (tonic, mode, r)."""
    profile = np.asarray(profile, dtype=float)
    if profile.shape != (12,) or profile.std() == 0:
        raise ValueError(f"profile must be 12 pitch-class weights that are not all equal, got {profile!r}")
    best = (0, "major", -2.0)
    for mode, template in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if r > best[2]:
                best = (tonic, mode, r)
    return best


def key_name(tonic: int, mode: str) -> str:
    return f"{PITCH_NAMES[tonic % 12]} {mode}"


def key_consistency(chorales: Chorale | Iterable[Chorale], window: int = 64, hop: int = 32) -> float:
    """Share of windows (``window`` 16ths, every ``hop``) whose estimated key is the whole piece's key."""
    agree = total = 0
    for c in _pieces(chorales):
        whole = duration_profile(c)
        if whole.std() == 0:
            continue
        key = estimate_key(whole)[:2]
        for start in range(0, max(1, len(c) - window + 1), hop):
            part = duration_profile(c, start, start + window)
            if part.std() > 0:
                agree += estimate_key(part)[:2] == key
                total += 1
    return agree / max(total, 1)


# ---------------------------------------------------------------------------------------------- baseline


def random_notes(chorales: Chorale | Iterable[Chorale], ranges: Sequence[tuple[int, int]] = SATB_RANGES,
                 seed: int = 0) -> list[Chorale]:
    """Bach's rhythm with random pitches: every note keeps its start and length, its pitch is drawn
    uniformly from its voice's range. The floor every statistic is compared with."""
    rng = np.random.default_rng(seed)
    out = []
    for c in _pieces(chorales):
        pitch = c.pitch.copy()
        for v, (lo, hi) in enumerate(ranges):
            for start, length, _ in c.notes(v):
                pitch[start:start + length, v] = rng.integers(lo, hi + 1)
        out.append(Chorale(pitch, c.onset.copy(), f"random({c.name})"))
    return out


def report(chorales: Chorale | Iterable[Chorale], reference: Iterable[Chorale]) -> dict[str, float]:
    """Every measure of this module for ``chorales``, the histograms compared with ``reference``'s."""
    pieces, reference = _pieces(chorales), list(reference)
    par = parallel_motion(pieces)
    return {"pitch-class JS": js_divergence(pitch_class_histogram(pieces), pitch_class_histogram(reference)),
            "interval JS": js_divergence(interval_histogram(pieces), interval_histogram(reference)),
            "in range": range_share(pieces), "parallel 5ths": par["fifth_rate"],
            "parallel 8ves": par["octave_rate"], "key consistency": key_consistency(pieces)}
