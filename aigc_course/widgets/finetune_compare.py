"""Chapter 11's comparison: type a docstring, see each fine-tuned classifier's class probabilities side by side.

:func:`class_probabilities` is the pure function (tested on its own); :func:`compare_classifiers` computes
every model's probabilities and draws them; :func:`finetune_compare` only wires a text box to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure

from aigc_course.finetune import SequenceClassifier, encode_texts
from aigc_course.viz import new_figure


@torch.no_grad()
def class_probabilities(clf: SequenceClassifier, tokenizer, text: str, block_size: int, pad_id: int) -> torch.Tensor:
    """softmax of the classifier's logits for one text: (K,), summing to 1. An empty text is refused."""
    if not text.strip():
        raise ValueError("text is empty: type a docstring (a sentence about some code) to classify")
    ids, lengths = encode_texts([" ".join(text.split())], tokenizer, block_size, pad_id)
    was_training = clf.training
    clf.eval()
    device = next(clf.parameters()).device
    probs = clf(ids.to(device), lengths.to(device)).softmax(-1)[0].cpu()
    clf.train(was_training)
    return probs


def compare_classifiers(models: Mapping[str, SequenceClassifier], tokenizer, text: str, classes: Sequence[str],
                        block_size: int, pad_id: int) -> tuple[Figure, str]:
    """Each model's probabilities for ``text``: one bar chart per model and a one-line summary each."""
    probs = {name: class_probabilities(m, tokenizer, text, block_size, pad_id) for name, m in models.items()}
    fig = new_figure(3.2 * len(probs) + 0.6, 2.8)
    axes = fig.subplots(1, len(probs), sharey=True, squeeze=False)[0]
    lines = []
    for ax, (name, p) in zip(axes, probs.items()):
        best = int(p.argmax())
        ax.barh(list(classes), p.tolist(), color=["C1" if i == best else "C0" for i in range(len(classes))])
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability", fontsize=9)
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=9)
        lines.append(f"{name}: {classes[best]} ({p[best]:.0%})")
    ax.invert_yaxis()
    return fig, " | ".join(lines)


def finetune_compare(models: Mapping[str, SequenceClassifier], tokenizer, classes: Sequence[str], block_size: int,
                     pad_id: int, text: str = "Return the event loop of the current thread."):
    """A text box over :func:`compare_classifiers`; the chart and summary redraw on every edit."""
    import ipywidgets as widgets
    from IPython.display import display

    def show(text: str) -> str:
        try:
            fig, summary = compare_classifiers(models, tokenizer, text, classes, block_size, pad_id)
        except ValueError as err:
            print(f"⚠️ {err}")
            return str(err)
        print(f"classified: {text!r}")         # which text the bars are for (the box updates on Enter)
        print(summary)
        display(fig)
        return summary

    box = widgets.Text(value=text, description="docstring", continuous_update=False,
                       layout=widgets.Layout(width="640px"))
    return widgets.interactive(show, text=box)
