"""Bengio-style MLP LM: shapes, parameter count, the window it sees, equations, seeds, training, errors."""

import math

import pytest
import torch
from torch.nn import functional as F

from aigc_course.models.mlp_lm import MLPLM, MLPLMConfig, lm_loss


def test_shapes_and_parameter_count_on_tiny():
    cfg = MLPLMConfig.tiny()
    model = MLPLM(cfg)
    logits, loss = model(torch.randint(0, 11, (2, 7)), torch.randint(0, 11, (2, 7)))
    assert logits.shape == (2, 7, 11) and loss.shape == ()
    expected = (11 + 1) * 4 + (3 * 4 * 16 + 16) + (16 * 11 + 11)      # embeddings (+pad), hidden, output
    assert model.num_params() == expected
    assert MLPLM(MLPLMConfig.tiny(direct=True)).num_params() == expected + 3 * 4 * 11


def test_windows_are_the_last_k_tokens_padded_on_the_left():
    model = MLPLM(MLPLMConfig.tiny())
    w = model.windows(torch.tensor([[5, 6, 7, 8]]))
    assert w.tolist() == [[[11, 11, 5], [11, 5, 6], [5, 6, 7], [6, 7, 8]]]


def test_forward_matches_the_equations_and_sees_only_its_window():
    torch.manual_seed(0)
    model = MLPLM(MLPLMConfig.tiny(direct=True))
    idx = torch.tensor([[1, 2, 3, 4, 5]])
    logits, _ = model(idx)
    C = model.embed.weight
    e = torch.cat([C[3], C[4], C[5]])                                   # window at the last position
    z = model.out(torch.tanh(model.hidden(e))) + model.direct(e)
    assert torch.allclose(logits[0, -1], z, atol=1e-6)
    changed = idx.clone()
    changed[0, 0] = 9                                                   # outside the last window
    assert torch.allclose(model(changed)[0][0, -1], logits[0, -1])
    assert not torch.allclose(model(changed)[0][0, 0], logits[0, 0])


def test_lm_loss_is_mean_cross_entropy():
    logits = torch.randn(2, 3, 5)
    targets = torch.randint(0, 5, (2, 3))
    direct = -sum(logits[b, t].log_softmax(-1)[targets[b, t]] for b in range(2) for t in range(3)) / 6
    assert torch.allclose(lm_loss(logits, targets), direct)
    assert math.isclose(float(lm_loss(torch.zeros(1, 1, 7), torch.tensor([[3]]))), math.log(7), rel_tol=1e-6)


def test_same_seed_same_model_and_loss_goes_down():
    torch.manual_seed(1)
    a = MLPLM(MLPLMConfig.tiny())
    torch.manual_seed(1)
    b = MLPLM(MLPLMConfig.tiny())
    x = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]] * 4)
    assert torch.equal(a(x)[0], b(x)[0])
    opt = torch.optim.Adam(a.parameters(), lr=1e-2)
    data = torch.arange(11).repeat(20)
    first = None
    for _ in range(100):
        _, loss = a(data[None, :-1], data[None, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    assert F.softmax(a(torch.tensor([[2, 3, 4]]))[0][0, -1], -1).argmax() == 5


@pytest.mark.parametrize("field, value, message", [
    ("context", 0, "context must be a positive int"),
    ("n_hidden", -3, "n_hidden must be a positive int"),
    ("dropout", 1.0, r"dropout must be in \[0, 1\)"),
])
def test_bad_configs(field, value, message):
    with pytest.raises(ValueError, match=message):
        MLPLMConfig.tiny(**{field: value})
