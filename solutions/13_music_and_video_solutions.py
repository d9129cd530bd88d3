# %% [markdown]
# # Chapter 13 — worked solutions
#
# Each cell below is an exercise cell of `chapters/13_music_and_video.ipynb` with the answer filled in; the
# checker runs strictly here (a wrong answer raises).

# %% [markdown]
# **Section 6's exercise — the candidate set of one chord** (first here because it sits in section 6).
# Voice `u` above `voice` rules out a pitch `p` when both sounded at the last moment a perfect interval
# apart (`k = (before[u] - before[voice]) % 12` is 0 or 7), `u` has moved, `p` moves the same way from
# `before[voice]`, and `(now[u] - p) % 12 == k` keeps the interval.

# %% tags=["colab-setup"]
# On Google Colab this installs the course (about 2 minutes); anywhere else it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aigc-course @ git+https://github.com/aigc-course/aigc-course"], check=True)

# %% tags=["exercise"]
from aigc_course.exercises import ch13


def my_completing_pitches(before, now, voice):
    out = set()
    vm = before[voice]
    for u in range(voice):
        um, us = before[u], now[u]
        k = (um - vm) % 12
        if -1 in (um, vm, us) or us == um or k not in (0, 7):
            continue
        out |= {p for p in range(36, 85) if (p > vm) == (us > um) and p != vm and (us - p) % 12 == k}
    return out


ch13.completing_pitches(my_completing_pitches, strict=True)

# %% [markdown]
# **Exercise 1 — one cell, one token.** Token 0 is `<end>`, so voice `v`'s block starts at
# `1 + v * per_voice` with `per_voice = 2 + (high - low + 1)`: offset 0 is `hold`, 1 is `rest`, and a new
# note of pitch `p` is `2 + p - low`. A rest is a rest whatever its onset flag; a sounding cell without an
# onset is a hold.

# %% tags=["exercise"]
from aigc_course.exercises import ch13


def my_cell_token(voice, pitch, onset, low, high):
    base = 1 + voice * (2 + high - low + 1)
    if pitch < 0:
        return base + 1
    if not onset:
        return base
    return base + 2 + pitch - low


ch13.cell_token(my_cell_token, strict=True)

# %% [markdown]
# **Exercise 2 — parallel fifths.** For each of the 6 pairs (i above j), both voices must move (a held
# pitch is oblique motion, not parallel), in the same direction, and the interval `(p_i - p_j) mod 12`
# must be 7 in both chords — so a twelfth (19 semitones) counts as a fifth.

# %% tags=["exercise"]
from aigc_course.exercises import ch13


def my_parallel_fifths(before, after):
    count = 0
    for i in range(4):
        for j in range(i + 1, 4):
            di, dj = after[i] - before[i], after[j] - before[j]
            same_way = di != 0 and dj != 0 and (di > 0) == (dj > 0)
            fifths = (before[i] - before[j]) % 12 == 7 and (after[i] - after[j]) % 12 == 7
            count += same_way and fifths
    return count


ch13.parallel_fifths(my_parallel_fifths, strict=True)

# %% [markdown]
# **Exercise 3 — tuning the string.** Eq. 13.2 says the loop is `fs / f0` samples long, and that length is
# `N + 1/2 + delta`. So `N + delta = fs / f0 - 1/2`: `N` is its integer part and `delta` the fraction.

# %% tags=["exercise"]
import math

from aigc_course.exercises import ch13


def my_delay(f0, fs):
    period = fs / f0 - 0.5
    n = math.floor(period)
    return n, period - n


ch13.ks_delay(my_delay, strict=True)

# %% [markdown]
# **Exercise 4 — smooth motion.** With centred time $t - \bar t$ the least-squares line through each
# coordinate has slope $b = \sum (t-\bar t)(c_t - \bar c) / \sum (t - \bar t)^2$ and passes through
# $(\bar t, \bar c)$ (eq. 13.5); the residual is the root of the mean over frames of the squared distance.

# %% tags=["exercise"]
import torch

from aigc_course.exercises import ch13


def my_residual(centres):
    t = torch.arange(centres.shape[1], dtype=centres.dtype)
    t = t - t.mean()                                                   # (F,)
    mean = centres.mean(dim=1, keepdim=True)                           # (N, 1, 2)
    slope = ((centres - mean) * t[None, :, None]).sum(1, keepdim=True) / (t ** 2).sum()
    fit = mean + slope * t[None, :, None]                              # (N, F, 2)
    return ((centres - fit) ** 2).sum(-1).mean(-1).sqrt()


ch13.motion_residual(my_residual, strict=True)
