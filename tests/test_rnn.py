"""LSTM LM: shapes, parameters, the written-out cell equals torch's LSTM, state carry-over, training, errors."""

import pytest
import torch

from aigc_course.models.rnn import LSTMLM, LSTMConfig, lstm_cell


def test_shapes_and_parameter_count_on_tiny():
    model = LSTMLM(LSTMConfig.tiny())
    logits, loss = model(torch.randint(0, 11, (3, 6)), torch.randint(0, 11, (3, 6)))
    assert logits.shape == (3, 6, 11) and loss.shape == ()
    E, H, V = 8, 16, 11
    assert model.num_params() == V * E + 4 * H * (E + H) + 2 * 4 * H + H * V + V
    two = LSTMLM(LSTMConfig.tiny(n_layers=2))
    assert two.num_params() == model.num_params() + 4 * H * (H + H) + 2 * 4 * H


def test_written_out_cell_equals_torch_lstm():
    torch.manual_seed(0)
    model = LSTMLM(LSTMConfig.tiny(n_layers=2))
    idx = torch.randint(0, 11, (2, 9))
    assert torch.allclose(model.unrolled(idx), model(idx)[0], atol=1e-5)


def test_cell_gates_by_hand():
    H = 1
    w_ih, w_hh = torch.ones(4 * H, 1), torch.zeros(4 * H, H)
    b = torch.zeros(4 * H)
    h, c = lstm_cell(torch.tensor([[0.0]]), (torch.zeros(1, H), torch.tensor([[2.0]])), w_ih, w_hh, b, b)
    # x = 0: every gate pre-activation is 0 -> i = f = o = 0.5, g = 0; c = 0.5 * 2 = 1; h = 0.5 tanh(1)
    assert torch.allclose(c, torch.tensor([[1.0]]))
    assert torch.allclose(h, 0.5 * torch.tanh(torch.tensor([[1.0]])))


def test_state_carries_the_past_and_seed_determinism():
    torch.manual_seed(3)
    model = LSTMLM(LSTMConfig.tiny())
    idx = torch.randint(0, 11, (1, 10))
    full, _ = model(idx)
    model(idx[:, :4])
    rest, _ = model(idx[:, 4:], state=model.last_state)
    assert torch.allclose(full[:, 4:], rest, atol=1e-5)                 # continuing from the state = one pass
    assert not torch.allclose(full[:, 4:], model(idx[:, 4:])[0])        # a fresh state forgets the past
    torch.manual_seed(3)
    assert torch.equal(LSTMLM(LSTMConfig.tiny())(idx)[0], full)


def test_loss_goes_down_and_long_range_copy_is_learnable():
    torch.manual_seed(0)
    model = LSTMLM(LSTMConfig.tiny(n_hidden=32))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    # the token after 10 repeats the first token of the sequence: needs memory beyond a short window
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(250):
        first = torch.randint(0, 5, (32, 1), generator=g)
        x = torch.cat([first, torch.full((32, 5), 10), first], dim=1)     # (32, 7)
        _, loss = model(x[:, :-1], x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    test = torch.tensor([[3, 10, 10, 10, 10, 10]])
    assert model(test)[0][0, -1].argmax() == 3


@pytest.mark.parametrize("field, value, message", [
    ("n_hidden", 0, "n_hidden must be a positive int"),
    ("n_layers", 0, "n_layers must be a positive int"),
    ("dropout", -0.1, r"dropout must be in \[0, 1\)"),
])
def test_bad_configs(field, value, message):
    with pytest.raises(ValueError, match=message):
        LSTMConfig.tiny(**{field: value})
