"""Sampling playground: type a prompt, turn the decoding knobs, read what the model writes (chapter 08).

:func:`sample_text` is the pure function (tested on its own); :class:`SamplingPlayground` only wires
ipywidgets controls to it. Build it headless, set a control's ``.value`` and read ``.result``.

Bad input is handled, not hidden: an empty prompt, or characters the tokenizer does not know, give a
:class:`SampleResult` whose ``error`` says what was wrong (the widget prints it) instead of text.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aigc_course.sampling import ModelFn, distinct_n, generate, sequence_nll
from aigc_course.validation import check_int
from aigc_course.widgets import LABEL_STYLE, int_in


@dataclass
class SampleResult:
    prompt: str
    text: str = ""                  # the continuation only (the prompt is not repeated)
    distinct_2: float = 0.0         # share of distinct character bigrams in the continuation (diversity)
    nll: float = float("nan")       # mean loss (nats/token) of the continuation under the model (quality)
    error: str | None = None        # what was wrong with the input, when nothing could be generated

    def __str__(self) -> str:
        if self.error:
            return f"⚠️ {self.error}"
        return f"{self.prompt}{self.text}"


def sample_text(model_fn: ModelFn, tokenizer, prompt: str, temperature: float = 1.0, top_k: int = 0,
                top_p: float = 1.0, length: int = 200, seed: int = 0,
                block_size: int | None = None) -> SampleResult:
    """Continue ``prompt`` by ``length`` tokens with the given knobs; ``top_k=0`` and ``top_p=1`` mean off.

    The same seed and settings give the same text. Returns a :class:`SampleResult`; input the tokenizer
    cannot encode (or an empty prompt) comes back as ``error`` rather than an exception, so a widget can
    show it. Invalid knob values (temperature ≤ 0, top_p outside (0, 1]) still raise ``ValueError``.
    """
    check_int("length", length, 0)        # named here: generate() would call it max_new_tokens
    check_int("seed", seed, 0)
    if not prompt:
        return SampleResult(prompt, error="the prompt is empty: type at least one character to start from")
    try:
        ids = tokenizer.encode(prompt)
    except ValueError as err:
        return SampleResult(prompt, error=str(err))
    training = isinstance(model_fn, torch.nn.Module) and model_fn.training
    if training:
        model_fn.eval()                                                  # no dropout while sampling
    try:
        out = generate(model_fn, torch.tensor(ids), length, temperature=temperature,
                       top_k=top_k if top_k else None, top_p=None if top_p == 1 else top_p,
                       block_size=block_size, generator=torch.Generator().manual_seed(int(seed)))[0]
        nll = sequence_nll(model_fn, out, start=len(ids), block_size=block_size) if length else float("nan")
    finally:
        if training:
            model_fn.train()
    new = out[len(ids):].tolist()
    return SampleResult(prompt, tokenizer.decode(new), distinct_n(new, 2), nll)


class SamplingPlayground:
    """Widget: prompt, temperature, top-k, top-p, length and seed controls over :func:`sample_text`.

    ``.widget`` is the box to display; ``.result`` the latest :class:`SampleResult`.
    """

    def __init__(self, model_fn: ModelFn, tokenizer, prompt: str = "The ", length: int = 200,
                 block_size: int | None = None):
        import ipywidgets as W

        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {prompt!r} ({type(prompt).__name__})")
        int_in("length", length, 1, 1000)
        self.model_fn, self.tokenizer, self.block_size = model_fn, tokenizer, block_size
        vocab = tokenizer.vocab_size
        self.prompt = W.Text(value=prompt, description="prompt", continuous_update=False, style=LABEL_STYLE)
        self.temperature = W.FloatSlider(value=1.0, min=0.05, max=2.0, step=0.05, description="temperature",
                                         style=LABEL_STYLE)
        self.top_k = W.IntSlider(value=0, min=0, max=vocab, description="top-k (0 = off)", style=LABEL_STYLE)
        self.top_p = W.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p (1 = off)",
                                   style=LABEL_STYLE)
        self.length = W.IntSlider(value=length, min=1, max=1000, description="length", style=LABEL_STYLE)
        self.seed = W.IntText(value=0, description="seed", style=LABEL_STYLE)
        self.output = W.Output()
        controls = [self.prompt, self.temperature, self.top_k, self.top_p, self.length, self.seed]
        for control in controls:
            control.observe(self._update, names="value")
        self.widget = W.VBox([self.prompt, W.HBox(controls[1:3]), W.HBox(controls[3:]), self.output])
        self._update()

    def compute(self) -> SampleResult:
        return sample_text(self.model_fn, self.tokenizer, self.prompt.value, self.temperature.value,
                           self.top_k.value, self.top_p.value, self.length.value, self.seed.value,
                           self.block_size)

    def _update(self, change=None) -> None:
        from IPython.display import clear_output

        self.result = self.compute()
        with self.output:
            clear_output(wait=True)
            print(self.result)
            if not self.result.error:
                print(f"\n[distinct-2 {self.result.distinct_2:.2f} | loss under the model "
                      f"{self.result.nll:.2f} nats/token]")
