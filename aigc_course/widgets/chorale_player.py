"""Chorale player: turn temperature and top-p, get a new chorale, see its piano roll and hear it (chapter 13).

:func:`new_chorale` is the pure function (tested on its own); :class:`ChoralePlayer` only wires ipywidgets
controls to it and shows the result: a line of statistics, the piano roll, an audio player.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aigc_course.data.music import Chorale, ChoraleTokenizer
from aigc_course.data.synth import audio, plot_piano_roll
from aigc_course.models.chorale_lm import sample_chorales
from aigc_course.music_metrics import duration_profile, estimate_key, key_name, parallel_motion, range_share
from aigc_course.sampling import ModelFn


@dataclass
class PlayerResult:
    chorale: Chorale
    temperature: float
    top_p: float
    notes: int = 0                 # note onsets in all voices
    in_range: float = 0.0          # share of notes inside their voice's range
    parallel_fifths: int = 0
    key: str = ""

    def __str__(self) -> str:
        return (f"τ={self.temperature:.2f}, top-p={self.top_p:.2f}: {len(self.chorale)} steps, {self.notes} notes, "
                f"{self.in_range:.0%} in range, {self.parallel_fifths} parallel fifths, key {self.key}")


def new_chorale(model_fn: ModelFn, tokenizer: ChoraleTokenizer, temperature: float = 1.0, top_p: float = 1.0,
                steps: int = 64, seed: int = 0, block_size: int | None = None) -> PlayerResult:
    """One chorale of up to ``steps`` 16ths drawn with these knobs (top_p = 1 is off), and its statistics.
    The same seed and knobs give the same chorale."""
    training = isinstance(model_fn, torch.nn.Module) and model_fn.training
    if training:
        model_fn.eval()
    try:
        (piece,) = sample_chorales(model_fn, tokenizer, 1, steps, temperature=temperature,
                                   top_p=None if top_p >= 1 else top_p, block_size=block_size,
                                   generator=torch.Generator().manual_seed(int(seed)))
    finally:
        if training:
            model_fn.train()
    profile = duration_profile(piece)
    key = key_name(*estimate_key(profile)[:2]) if profile.std() > 0 else "none"
    return PlayerResult(piece, temperature, top_p, int(piece.onset.sum()), range_share(piece),
                        parallel_motion(piece)["fifths"], key)


class ChoralePlayer:
    """Widget: temperature, top-p and seed controls over :func:`new_chorale`; ``.result`` is the latest."""

    def __init__(self, model_fn: ModelFn, tokenizer: ChoraleTokenizer, steps: int = 64,
                 block_size: int | None = None, bpm: float = 80.0):
        import ipywidgets as W

        self.model_fn, self.tokenizer, self.steps, self.block_size, self.bpm = (
            model_fn, tokenizer, steps, block_size, bpm)
        wide = {"description_width": "initial"}                 # labels in full, not "temperat..."
        self.temperature = W.FloatSlider(value=1.0, min=0.1, max=2.0, step=0.05, description="temperature",
                                         style=wide)
        self.top_p = W.FloatSlider(value=0.95, min=0.05, max=1.0, step=0.05, description="top-p (1=off)",
                                   style=wide)
        self.seed = W.IntText(value=0, description="seed")
        self.output = W.Output()
        for control in (self.temperature, self.top_p, self.seed):
            control.observe(self._update, names="value")
        self.widget = W.VBox([W.HBox([self.temperature, self.top_p, self.seed]), self.output])
        self.widget.add_class("chorale-player")                   # for the browser test to find it
        self._update()

    def compute(self) -> PlayerResult:
        return new_chorale(self.model_fn, self.tokenizer, self.temperature.value, self.top_p.value, self.steps,
                           self.seed.value, self.block_size)

    def _update(self, change=None) -> None:
        from IPython.display import clear_output, display

        self.result = self.compute()
        with self.output:
            clear_output(wait=True)
            print(self.result)
            if len(self.result.chorale):
                display(plot_piano_roll(self.result.chorale, ["a new chorale"]))
                display(audio(self.result.chorale, self.bpm))
