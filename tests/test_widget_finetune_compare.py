"""Chapter 11's comparison widget: the pure function, then the widget driven headless."""

import pytest
import torch

from aigc_course.data.text import CharTokenizer
from aigc_course.finetune import SequenceClassifier
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.widgets.finetune_compare import class_probabilities, compare_classifiers, finetune_compare

TOK = CharTokenizer.from_text("abcdefgh .\x00")
CLASSES = ("first", "second", "third")


def clf(seed):
    torch.manual_seed(seed)
    model = SequenceClassifier(GPT(GPTConfig.nano(vocab_size=TOK.vocab_size)), 3)
    torch.nn.init.normal_(model.head.weight)
    return model


def test_probabilities_are_a_distribution_equal_to_the_softmax():
    model = clf(0)
    p = class_probabilities(model, TOK, "abc  de", 16, pad_id=0)
    ids = torch.tensor([TOK.encode("abc de")])
    assert torch.allclose(p, model(ids, torch.tensor([6])).softmax(-1)[0])    # whitespace collapsed
    assert p.shape == (3,) and p.sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="text is empty"):
        class_probabilities(model, TOK, "  ", 16, 0)


def test_compare_draws_one_panel_per_model():
    fig, summary = compare_classifiers({"full": clf(0), "LoRA": clf(1)}, TOK, "abc", CLASSES, 16, 0)
    assert len(fig.axes) == 2 and summary.startswith("full: ") and " | LoRA: " in summary


def test_widget_driven_headless():
    w = finetune_compare({"full": clf(0), "LoRA": clf(1)}, TOK, CLASSES, 16, 0, text="abc")
    first = w.result
    assert "full:" in first and "LoRA:" in first
    w.children[0].value = "hhhh gggg"
    assert w.result != first and "LoRA:" in w.result
    w.children[0].value = ""
    assert "text is empty" in w.result
