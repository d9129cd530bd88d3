"""Music statistics: JS divergence against scipy, parallels on hand-written voice leading, key finding."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from aigc_course.data.music import REST, Chorale
from aigc_course.music_metrics import (
    duration_profile,
    estimate_key,
    interval_histogram,
    js_divergence,
    key_consistency,
    parallel_by_interval,
    parallel_motion,
    pitch_class_histogram,
    random_notes,
    range_share,
    report,
)


def _chords(rows) -> Chorale:
    """One chord per quarter note (4 steps each), every voice attacked on each chord."""
    pitch = np.repeat(np.array(rows), 4, axis=0)
    onset = np.zeros(pitch.shape, bool)
    onset[::4] = True
    return Chorale(pitch, onset & (pitch != REST))


def test_js_divergence_matches_scipy_and_its_bounds():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, q = rng.random(12), rng.random(12)
        assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)     # disjoint: the maximum, 1 bit
    assert js_divergence([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="one length"):
        js_divergence([1, 0], [1, 0, 0])


def test_parallel_fifths_and_octaves_on_written_examples():
    # soprano/bass: C5/F3 ... ; soprano and alto move G4->A4 over C4->D4: parallel fifths
    fifths = _chords([[67, 60, 52, 48], [69, 62, 53, 41]])
    r = parallel_motion(fifths)
    assert r["fifths"] == 1 and r["octaves"] == 0
    octaves = _chords([[72, 64, 55, 48], [74, 65, 57, 50]])        # soprano/bass C->D in octaves
    assert parallel_motion(octaves)["octaves"] == 1
    downward = _chords([[67, 60, 52, 48], [65, 58, 53, 43]])       # soprano and alto both step down in fifths
    assert parallel_motion(downward)["fifths"] == 1
    oblique = _chords([[67, 60, 52, 48], [67, 62, 53, 43]])        # soprano holds its pitch: not a move
    assert parallel_motion(oblique)["fifths"] == 0
    assert parallel_motion(fifths)["moves"] == 6                   # every pair moves


def test_fifth_rate_splits_into_standing_on_and_keeping_a_fifth():
    # a fifth apart (mod 12) before: S-A (67-60), S-B (67-48, a twelfth), T-B (55-48); only S-A keep it (69-62)
    r = parallel_motion(_chords([[67, 60, 55, 48], [69, 62, 57, 53]]))
    assert r["moves"] == 6 and r["from_fifth"] == 3 and r["fifths"] == 1
    assert r["start_on_fifth"] == pytest.approx(3 / 6) and r["keep_fifth"] == pytest.approx(1 / 3)
    assert r["fifth_rate"] == pytest.approx(r["start_on_fifth"] * r["keep_fifth"])
    # S-A and S-B stand a fifth apart; S-A cross in contrary motion into a fourth below (= 7 mod 12): no parallel
    contrary = parallel_motion(_chords([[67, 60, 52, 36], [62, 67, 53, 38]]))
    assert contrary["from_fifth"] == 2 and contrary["fifths"] == 0 and contrary["keep_fifth"] == 0


def test_voice_leading_profile_by_interval_class():
    # before: S-A a third (64-60 = 4), S-T a sixth (9), S-B a tenth (16 = 4 mod 12), A-T a fourth (5), A-B an
    # octave (0), T-B a fifth (7). S, A, T move up 2, the bass up 7: S-A, S-T, A-T keep their intervals
    # (parallel thirds, sixths, fourths); the pairs with the bass change interval
    profile = parallel_by_interval(_chords([[64, 60, 55, 48], [66, 62, 57, 55]]))
    start, keep = profile["start"], profile["keep"]
    assert start.sum() == 6 and start[4] == 2 and start[7] == 1 and start[0] == 1 and start[5] == 1
    assert keep[4] == pytest.approx(1 / 2)        # S-A keep their third; S-B go from 4 to 11 mod 12
    assert keep[9] == 1 and start[9] == 1 and keep[5] == 1 and keep[0] == 0 and keep[7] == 0
    par = parallel_motion(_chords([[67, 60, 55, 48], [69, 62, 57, 53]]))
    fifth_keep = parallel_by_interval(_chords([[67, 60, 55, 48], [69, 62, 57, 53]]))["keep"][7]
    assert fifth_keep == pytest.approx(par["keep_fifth"])


def test_histograms_and_ranges():
    c = _chords([[72, 64, 55, 48], [74, 65, 57, 50]])
    pc = pitch_class_histogram(c)
    assert pc.sum() == pytest.approx(1) and pc[0] == pytest.approx(2 / 8)   # C twice of 8 onsets
    iv = interval_histogram(c)
    assert iv[12 + 2] == pytest.approx(3 / 4) and iv[12 + 1] == pytest.approx(1 / 4)
    assert range_share(c) == 1.0
    low = _chords([[50, 45, 40, 30]])
    assert range_share(low) == 0.0


def test_key_finding_on_scales_and_transposition():
    major = np.zeros(12)
    major[[0, 2, 4, 5, 7, 9, 11]] = [3, 1, 2, 1, 2, 1, 1]          # a C major scale, tonic triad weighted
    assert estimate_key(major)[:2] == (0, "major")
    assert estimate_key(np.roll(major, 7))[:2] == (7, "major")     # G major
    minor = np.zeros(12)
    minor[[9, 11, 0, 2, 4, 5, 8]] = [3, 1, 2, 1, 2, 1, 1]          # A harmonic minor
    assert estimate_key(minor)[:2] == (9, "minor")
    with pytest.raises(ValueError, match="not all equal"):
        estimate_key(np.ones(12))


def test_random_notes_keep_rhythm_and_break_statistics():
    c = _chords([[72, 64, 55, 48], [74, 65, 57, 50]] * 20)
    (rnd,) = random_notes([c], seed=1)
    assert np.array_equal(rnd.onset, c.onset) and range_share(rnd) == 1.0
    assert not np.array_equal(rnd.pitch, c.pitch)
    assert key_consistency(c) == 1.0
    profile = duration_profile(c)
    assert profile.sum() == (c.pitch != REST).sum()
    r = report([rnd], [c])
    assert r["interval JS"] > 0.1 and set(r) >= {"parallel 5ths", "key consistency", "in range"}
