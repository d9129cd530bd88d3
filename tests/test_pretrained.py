"""GPT-2 weights in our GPT: the tanh GELU option, the mapping checked against Hugging Face's own model."""

import pytest
import torch
import torch.nn.functional as F

from aigc_course.models.transformer import GPT, GPTConfig


def test_tanh_gelu_option():
    x = torch.linspace(-4, 4, 101)
    exact = GPT(GPTConfig.nano(vocab_size=5)).blocks[0].mlp.act
    tanh = GPT(GPTConfig.nano(vocab_size=5, gelu="tanh")).blocks[0].mlp.act
    by_hand = 0.5 * x * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (x + 0.044715 * x ** 3)))
    assert torch.allclose(tanh(x), by_hand, atol=1e-6)
    assert torch.allclose(exact(x), F.gelu(x)) and not torch.allclose(exact(x), by_hand, atol=1e-5)
    assert GPTConfig().gelu == "exact"
    with pytest.raises(ValueError, match="gelu must be 'exact' or 'tanh'"):
        GPTConfig(gelu="relu")


def test_shape_table_matches_a_built_model():
    from aigc_course.pretrained import _shapes

    cfg = GPTConfig.nano(vocab_size=13)
    assert _shapes(cfg) == {k: tuple(v.shape) for k, v in GPT(cfg).state_dict().items()}


def test_random_hf_gpt2_gives_the_same_logits_in_ours(tmp_path):
    pytest.importorskip("transformers")
    from aigc_course.pretrained import load_gpt2, save_random_gpt2

    hf = save_random_gpt2(tmp_path, vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    ours = load_gpt2(tmp_path)
    assert ours.cfg.gelu == "tanh" and ours.head.weight is ours.tok_emb.weight
    idx = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (hf(idx).logits - ours(idx)[0]).abs().max() <= 1e-5
        wrong = GPT(GPTConfig(**{**ours.cfg.__dict__, "gelu": "exact"}))
        wrong.load_state_dict(ours.state_dict())
        assert (hf(idx).logits - wrong(idx)[0]).abs().max() > 1e-5       # the approximation matters


def test_mismatched_checkpoint_names_the_keys(tmp_path):
    pytest.importorskip("transformers")
    from aigc_course.pretrained import convert_gpt2_state_dict, save_random_gpt2

    hf = save_random_gpt2(tmp_path, vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    state = hf.state_dict()
    with pytest.raises(ValueError, match=r"shape mismatches: transformer\.wte\.weight \(50, 32\)"):
        convert_gpt2_state_dict(state, GPTConfig(vocab_size=60, block_size=16, n_layer=2, n_head=4, n_embd=32))
    with pytest.raises(ValueError, match=r"missing: blocks\.2\."):
        convert_gpt2_state_dict(state, GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=4, n_embd=32))
    state["transformer.h.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="unknown keys: transformer.h.0.extra.weight"):
        convert_gpt2_state_dict(state, GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32))


def test_missing_weights_give_one_clear_message(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from aigc_course import pretrained

    monkeypatch.setattr(pretrained, "_hub_reachable", lambda *a, **k: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(pretrained.PretrainedUnavailable, match="Connect to the internet once"):
        pretrained.load_gpt2("gpt2")
    with pytest.raises(pretrained.PretrainedUnavailable, match="no local copy"):
        pretrained.load_gpt2(tmp_path / "empty")
