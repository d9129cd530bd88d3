"""Hearing a chorale without a synthesiser: Karplus–Strong plucked strings in NumPy (chapter 13).

Karplus & Strong (1983): fill a delay line with a burst of noise and let it run through a loop that
averages neighbouring samples. The loop repeats with the period of the delay, so the noise becomes a pitch;
the averaging is a low-pass filter, so high harmonics die first, as on a plucked string.

    y[n] = noise[n]                                                    for n < L
    y[n] = ρ · ( a·y[n−N] + b·y[n−N−1] + c·y[n−N−2] )                   for n ≥ L           (eq. 13.1)

with (a, b, c) = ((1−δ)/2, 1/2, δ/2): the two-point average of the original algorithm, moved δ ∈ [0, 1)
of a sample later by linear interpolation. The taps sum to 1, and their mean lag is N + ½ + δ samples,
which is the period of the loop at low frequency, so the note sounds at

    f₀ = f_s / (N + ½ + δ)                                                                   (eq. 13.2)

For a target f₀, :func:`delay_for` picks N = ⌊f_s/f₀ − ½⌋ and δ = f_s/f₀ − ½ − N. (The original algorithm
has δ = 0 and integer periods only: a semitone out of tune at high pitches and low sample rates.)
Every output sample depends on samples at least N back, so the loop runs N samples at a time in NumPy.
"""

from __future__ import annotations

import numpy as np

from aigc_course.data.music import STEPS_PER_QUARTER, VOICES, Chorale

SAMPLE_RATE = 16_000


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Equal temperament, A4 = MIDI 69 = 440 Hz: f = 440 · 2^((m − 69)/12)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69) / 12)


def delay_for(f0: float, sample_rate: int = SAMPLE_RATE) -> tuple[int, float]:
    """(N, δ) with N + ½ + δ = f_s / f₀ (eq. 13.2), N ≥ 2 and δ in [0, 1)."""
    if not 0 < f0 <= sample_rate / 3:
        raise ValueError(f"f0 must be in (0, {sample_rate / 3:.0f}] Hz at sample_rate={sample_rate} (the loop "
                         f"needs a few samples per period), got {f0}")
    period = sample_rate / f0 - 0.5
    n = int(np.floor(period))
    return n, period - n


def pluck(f0: float, seconds: float, sample_rate: int = SAMPLE_RATE, decay: float = 0.996,
          rng: np.random.Generator | None = None) -> np.ndarray:
    """One plucked note of pitch f0 (Hz) lasting ``seconds``: float32 samples, eq. 13.1."""
    if not 0 < decay <= 1:
        raise ValueError(f"decay ρ must be in (0, 1] (1 = no loss beyond the averaging), got {decay}")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    n, delta = delay_for(f0, sample_rate)
    length = int(round(seconds * sample_rate))
    rng = rng if rng is not None else np.random.default_rng(0)
    taps = decay * np.array([(1 - delta) / 2, 0.5, delta / 2])                   # lags N, N+1, N+2
    y = np.zeros(length + n + 2)
    start = n + 2
    y[:start] = rng.uniform(-1, 1, start)                                        # the noise burst
    for a in range(start, len(y), n):                                            # N samples at a time
        b = min(a + n, len(y))
        y[a:b] = taps[0] * y[a - n:b - n] + taps[1] * y[a - n - 1:b - n - 1] + taps[2] * y[a - n - 2:b - n - 2]
    return y[:length].astype(np.float32)


def render(chorale: Chorale, bpm: float = 80.0, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None,
           seed: int = 0) -> np.ndarray:
    """The whole chorale as a mono waveform in [−1, 1]: every note of every voice plucked and summed.

    ``bpm`` quarter notes per minute; ``max_seconds`` cuts the piece (and the work) short.
    """
    if bpm <= 0:
        raise ValueError(f"bpm must be positive, got {bpm}")
    step_s = 60.0 / bpm / STEPS_PER_QUARTER
    total = len(chorale) * step_s if max_seconds is None else min(max_seconds, len(chorale) * step_s)
    out = np.zeros(int(round(total * sample_rate)) + 1, dtype=np.float32)
    rng = np.random.default_rng(seed)
    for v in range(len(VOICES)):
        for start, length, midi in chorale.notes(v):
            a = int(round(start * step_s * sample_rate))
            if a >= len(out):
                break
            note = pluck(float(midi_to_hz(midi)), length * step_s, sample_rate, rng=rng)
            b = min(a + len(note), len(out))
            out[a:b] += note[: b - a]
    peak = np.abs(out).max()
    return out / peak if peak > 0 else out


def audio(chorale: Chorale, bpm: float = 80.0, max_seconds: float | None = 20.0, sample_rate: int = SAMPLE_RATE):
    """An ``IPython.display.Audio`` player for the chorale (rendered by :func:`render`)."""
    from IPython.display import Audio

    return Audio(render(chorale, bpm, sample_rate, max_seconds), rate=sample_rate, normalize=False)


def spectrum_peak(wave: np.ndarray, low: float, high: float, sample_rate: int = SAMPLE_RATE) -> float:
    """The frequency (Hz) of the strongest FFT bin between ``low`` and ``high`` Hz, refined by a parabola
    through its neighbours (log magnitudes): for measuring the pitch of :func:`pluck`."""
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    freqs = np.fft.rfftfreq(len(wave), 1 / sample_rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    k = int(np.argmax(spectrum))
    lo, mid, hi = np.log(spectrum[k - 1: k + 2] + 1e-12)
    shift = 0.5 * (lo - hi) / (lo - 2 * mid + hi)
    return float((k + shift) * sample_rate / len(wave))


VOICE_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:blue")


def plot_piano_roll(chorales: Chorale | list[Chorale], titles: list[str] | None = None, max_steps: int = 128):
    """Piano rolls, one panel per chorale: a bar per note (time in bars of 16 steps, height the MIDI pitch),
    a colour per voice; a note's left edge is its attack, so repeated notes show as separate bars."""
    from aigc_course.viz import new_figure

    pieces = [chorales] if isinstance(chorales, Chorale) else list(chorales)
    fig = new_figure(7.0, 2.3 * len(pieces))
    axes = fig.subplots(len(pieces), 1, squeeze=False)[:, 0]
    for i, (ax, c) in enumerate(zip(axes, pieces)):
        for v, colour in enumerate(VOICE_COLOURS):
            bars = [(s / 16, n / 16 * 0.95) for s, n, _ in c.notes(v) if s < max_steps]
            pitches = [p for s, _, p in c.notes(v) if s < max_steps]
            for (x, w), p in zip(bars, pitches):
                ax.broken_barh([(x, w)], (p - 0.4, 0.8), color=colour, label=VOICES[v] if x == bars[0][0] else None)
        ax.set_xlim(0, min(len(c), max_steps) / 16)
        ax.set_ylabel("MIDI pitch", fontsize=9)
        ax.set_title(titles[i] if titles else c.name, fontsize=10)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8, ncol=4, loc="upper right")
    axes[-1].set_xlabel("bar (16 sixteenth-note steps)", fontsize=9)
    return fig
