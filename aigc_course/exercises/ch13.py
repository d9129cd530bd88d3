"""Checkers for chapter 13's exercises (music and moving pictures)."""

import numpy as np
import torch

from aigc_course.exercises.core import exercise


@exercise("ch13.cell_token")
def cell_token(fn) -> None:
    """fn(voice, pitch, onset, low, high) -> the token id of one cell, as ChoraleTokenizer numbers them."""
    from aigc_course.data.music import REST, ChoraleTokenizer

    for low, high in ((21, 108), (40, 90)):
        tok = ChoraleTokenizer(low, high)
        cases = [(v, p, o) for v in range(4) for p, o in ((REST, False), (60, False), (60, True), (low, True),
                                                          (high, True), (72, True))]
        for voice, pitch, onset in cases:
            expected, got = tok.token(voice, pitch, onset), fn(voice, pitch, onset, low, high)
            assert got == expected, (
                f"voice {voice}, pitch {pitch}, onset {onset} (range {low}..{high}): expected token {expected} "
                f"({tok.name(expected)}), got {got}. Id 0 is <end>; each voice has a block of 2 + (high − low + 1) "
                f"ids: hold, rest, then the pitches from low")


@exercise("ch13.parallel_fifths")
def parallel_fifths(fn) -> None:
    """fn(before, after) -> number of voice pairs moving in parallel perfect fifths between two chords."""
    from aigc_course.data.music import Chorale
    from aigc_course.music_metrics import parallel_motion

    fixed = [(([67, 60, 52, 48], [69, 62, 53, 41]), 1),             # soprano and alto up in fifths
             (([67, 60, 52, 48], [67, 62, 53, 43]), 0),             # the soprano holds: oblique, not parallel
             (([79, 60, 52, 48], [81, 62, 53, 41]), 1),             # a twelfth counts as a fifth
             (([67, 60, 55, 48], [69, 62, 57, 50]), 3)]             # S-A, S-B... every fifth pair moves up
    rng = np.random.default_rng(0)
    for _ in range(300):
        before = rng.integers(40, 80, 4)
        after = before + rng.integers(-3, 4, 4)
        fixed.append(((before.tolist(), after.tolist()), None))
    for (before, after), expected in fixed:
        pitch = np.repeat(np.array([before, after]), 4, axis=0)
        onset = np.zeros(pitch.shape, bool)
        onset[::4] = True
        reference = parallel_motion(Chorale(pitch, onset))["fifths"]
        assert expected is None or reference == expected
        got = int(fn(list(before), list(after)))
        assert got == reference, (
            f"chords {before} -> {after}: {reference} pair(s) in parallel fifths, you counted {got}. A pair "
            f"counts when both voices move the same way and the interval is 7 semitones mod 12 before and after")


@exercise("ch13.ks_delay")
def ks_delay(fn) -> None:
    """fn(f0, sample_rate) -> (N, delta) with N + 1/2 + delta = sample_rate / f0 (eq. 13.2)."""
    from aigc_course.data.synth import delay_for, pluck, spectrum_peak

    for f0, fs in ((440.0, 16000), (82.41, 16000), (1000.0, 44100), (523.25, 8000)):
        n, delta = fn(f0, fs)
        en, ed = delay_for(f0, fs)
        assert int(n) == en and abs(float(delta) - ed) < 1e-9, (
            f"f0 = {f0} Hz at {fs} Hz: expected N = {en}, δ = {ed:.4f}, got N = {n}, δ = {float(delta):.4f}. The "
            f"averaging filter delays by half a sample, so the loop is N + ½ + δ samples long")
    wave = pluck(660.0, 1.0)
    assert abs(spectrum_peak(wave, 600, 720) / 660.0 - 1) < 0.003, "the plucked note is out of tune"


@exercise("ch13.motion_residual")
def motion_residual(fn) -> None:
    """fn(centres (N, F, 2)) -> (N,) RMS distance from the least-squares constant-velocity line (eq. 13.5)."""
    from aigc_course.data.clips import motion_residual as reference

    g = torch.Generator().manual_seed(0)
    t = torch.arange(8, dtype=torch.float64)
    line = 0.2 + 0.05 * t[None, :, None] * torch.tensor([1.0, -0.5], dtype=torch.float64)   # (1, 8, 2)
    got = torch.as_tensor(fn(line.clone())).double()
    assert got.shape == (1,) and float(got[0]) < 1e-9, \
        f"points on a straight line at constant speed have residual 0, you returned {got.tolist()}"
    noisy = line + 0.01 * torch.randn(5, 8, 2, generator=g, dtype=torch.float64)
    got = torch.as_tensor(fn(noisy.clone())).double()
    assert torch.allclose(got, reference(noisy), atol=1e-9), (
        f"expected {reference(noisy).tolist()}, got {got.tolist()}: fit a + b·t per clip and coordinate by least "
        f"squares, then take the root of the mean (over frames) squared distance")


@exercise("ch13.completing_pitches")
def completing_pitches(fn) -> None:
    """fn(before, now, voice) -> the set of MIDI pitches 36..84 that, as a new note of ``voice``, would move in
    parallel fifths or octaves with a voice above it (before: the 4 pitches at the last moment; now: the
    pitches of the voices above ``voice`` at this step; -1 is a rest)."""
    from aigc_course.models.voice_leading import completing_counts

    fixed = [([67, 60, 52, 48], [69], 1), ([67, 60, 52, 48], [67], 1), ([67, 60, 52, 43], [69, 62, 53], 3),
             ([67, 60, 52, 48], [65, 57], 2), ([67, -1, 52, 48], [69, 62], 2)]
    rng = np.random.default_rng(0)
    for _ in range(200):
        voice = int(rng.integers(1, 4))
        before = sorted(rng.integers(40, 80, 4).tolist(), reverse=True)
        fixed.append((before, (np.array(before[:voice]) + rng.integers(-4, 5, voice)).tolist(), voice))
    for before, now, voice in fixed:
        padded = torch.tensor([now + [-1] * (4 - len(now))])
        counts = completing_counts(torch.tensor([before]), padded, torch.tensor([voice]))[0]
        expected = {p for p in range(36, 85) if counts[p] > 0}
        got = set(int(p) for p in fn(list(before), list(now), voice))
        assert got == expected, (
            f"before {before}, voices above now {now}, voice {voice}: expected {sorted(expected)}, got "
            f"{sorted(got)}. A pitch p completes a parallel with voice u when both sound before and now, both "
            f"change pitch in the same direction, and (u − v) mod 12 is 0 or 7 before and the same after")
