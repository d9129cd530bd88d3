"""Karplus–Strong: the pitch formula (eq. 13.2) measured on the waveform, decay, rendering, errors."""

import numpy as np
import pytest

from aigc_course.data.music import REST, Chorale
from aigc_course.data.synth import SAMPLE_RATE, audio, delay_for, midi_to_hz, pluck, render, spectrum_peak


def test_midi_to_hz_is_equal_temperament():
    assert midi_to_hz(69) == pytest.approx(440.0)
    assert midi_to_hz(81) == pytest.approx(880.0)
    assert midi_to_hz(60) == pytest.approx(261.6256, abs=1e-3)


@pytest.mark.parametrize("midi", [40, 57, 69, 84, 93])
def test_pluck_sounds_at_the_pitch_of_eq_13_2(midi):
    f0 = float(midi_to_hz(midi))
    n, delta = delay_for(f0)
    assert n + 0.5 + delta == pytest.approx(SAMPLE_RATE / f0)
    measured = spectrum_peak(pluck(f0, 1.0), 0.8 * f0, 1.2 * f0)
    assert abs(measured / f0 - 1) < 0.002                          # within 3.5 cents
    if midi >= 69:                                                 # the integer-period formula is audibly off
        assert abs(SAMPLE_RATE / n / f0 - 1) > 0.01


def test_pluck_decays_and_is_deterministic():
    w = pluck(220.0, 1.0)
    first, last = np.abs(w[:1600]).mean(), np.abs(w[-1600:]).mean()
    assert last < 0.5 * first
    assert np.array_equal(w, pluck(220.0, 1.0))
    assert len(w) == SAMPLE_RATE and w.dtype == np.float32


def test_render_places_notes_in_time():
    pitch = np.full((16, 4), REST)
    onset = np.zeros((16, 4), bool)
    pitch[8:, 0], onset[8, 0] = 69, True                           # one A4, starting half-way
    wave = render(Chorale(pitch, onset), bpm=60)                   # a 16th = 0.25 s: 4 s in all
    assert len(wave) == 4 * SAMPLE_RATE + 1
    half = 2 * SAMPLE_RATE
    assert np.abs(wave[:half]).max() == 0 and np.abs(wave[half:]).max() == pytest.approx(1.0)
    assert len(render(Chorale(pitch, onset), bpm=60, max_seconds=1.0)) == SAMPLE_RATE + 1
    player = audio(Chorale(pitch, onset), bpm=60)
    assert player.data[:4] == b"RIFF"


def test_synth_errors():
    with pytest.raises(ValueError, match="f0 must be in"):
        delay_for(6000.0)
    with pytest.raises(ValueError, match="decay"):
        pluck(440.0, 1.0, decay=1.5)
    with pytest.raises(ValueError, match="bpm"):
        render(Chorale(np.full((2, 4), REST), np.zeros((2, 4), bool)), bpm=0)
