"""Fine-tuning: padding hidden from attention, the classifier, LoRA's checks, prompt masking, intervals."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aigc_course.data.text import CharTokenizer
from aigc_course.finetune import (
    LoRALinear,
    SequenceClassifier,
    accuracy_interval,
    add_lora,
    bag_of_tokens,
    classification_loss,
    complete,
    encode_texts,
    fit_classifier,
    fit_lp_ft,
    freeze,
    hidden_states,
    merge_lora,
    pack_pairs,
    paired_gap_interval,
    parameter_share,
    pool,
    pooled_features,
    predict_classes,
    prompt_masked_loss,
)
from aigc_course.models.encoder import IGNORE, MaskedLM
from aigc_course.models.transformer import GPT, GPTConfig

TOK = CharTokenizer.from_text("abcdefgh #()\n_")


def nano(cls=GPT, **kw):
    torch.manual_seed(0)
    return cls(GPTConfig.nano(vocab_size=TOK.vocab_size, **kw))


def test_encode_texts_pads_and_cuts():
    ids, lengths = encode_texts(["abc", "a", "abcdefgh"], TOK, block_size=5, pad_id=0)
    assert ids.shape == (3, 5) and lengths.tolist() == [3, 1, 5]
    assert ids[1, 1:].eq(0).all() and TOK.decode(ids[2]) == "abcde"
    with pytest.raises(ValueError, match="at least one character"):
        encode_texts(["a", ""], TOK, 5, 0)


@pytest.mark.parametrize("cls", [GPT, MaskedLM])
def test_hidden_states_ignore_padding_and_match_the_model(cls):
    model = nano(cls).eval()
    ids, lengths = encode_texts(["abcd", "ab"], TOK, 8, pad_id=1)
    h = hidden_states(model, ids, lengths)
    alone = hidden_states(model, ids[1:, :2])                            # the short text without padding
    assert torch.allclose(h[1, :2], alone[0], atol=1e-5)
    other_pad = ids.clone()
    other_pad[1, 2:] = 5
    assert torch.allclose(hidden_states(model, other_pad, lengths)[1, :2], h[1, :2], atol=1e-5)
    assert torch.allclose(model.head(hidden_states(model, ids)), model(ids)[0], atol=1e-5)
    if cls is MaskedLM:                                                  # without the mask, padding leaks in
        assert not torch.allclose(hidden_states(model, ids)[1, :2], h[1, :2], atol=1e-4)


def test_pooling():
    states = torch.arange(24.0).view(2, 4, 3)
    lengths = torch.tensor([2, 4])
    assert torch.equal(pool(states, lengths), torch.stack([states[0, :2].mean(0), states[1].mean(0)]))
    assert torch.equal(pool(states, lengths, "last"), torch.stack([states[0, 1], states[1, 3]]))
    with pytest.raises(ValueError, match="'mean' or 'last'"):
        pool(states, lengths, "max")


def test_a_zero_head_passes_no_gradient_into_the_body_a_small_random_one_does():
    texts = ["abab", "cdcd", "aabb", "ccdd"]
    ids, lengths = encode_texts(texts, TOK, 8, 0)
    grads = {}
    for std in (0.0, 0.02):
        clf = SequenceClassifier(nano(MaskedLM), 2, head_std=std)
        classification_loss(clf(ids, lengths), torch.tensor([0, 1, 0, 1])).backward()
        grads[std] = sum(p.grad.abs().sum().item() for p in clf.body.parameters() if p.grad is not None)
        assert clf.head.weight.std().item() == pytest.approx(std, abs=0.006) and not clf.head.bias.any()
    assert grads[0.0] == 0.0 and grads[0.02] > 0                          # dL/dh = W^T (p - y) = 0 when W = 0
    with pytest.raises(ValueError, match="head_std must be a number >= 0"):
        SequenceClassifier(nano(MaskedLM), 2, head_std=-1.0)


def test_classifier_starts_uniform_and_learns_a_task():
    clf = SequenceClassifier(nano(MaskedLM), 2, head_std=0.0)
    texts = ["abab", "baba", "aabb", "cdcd", "dcdc", "ccdd"] * 4
    labels = torch.tensor([0, 0, 0, 1, 1, 1] * 4)
    ids, lengths = encode_texts(texts, TOK, 8, 0)
    assert torch.allclose(clf(ids, lengths), torch.zeros(len(texts), 2))  # zero head: p = 1/2
    assert SequenceClassifier(nano(MaskedLM), 2)(ids, lengths).softmax(-1).sub(0.5).abs().max() < 0.1
    fit_classifier(clf, ids, lengths, labels, steps=40, lr=3e-3, batch_size=8, progress=False)
    assert (predict_classes(clf, ids, lengths) == labels).all()
    assert clf.training                                                  # predict put it back


def test_a_frozen_body_is_run_once_and_trains_the_same_head():
    texts = ["abab", "baba", "aabb", "cdcd", "dcdc", "ccdd", "ab", "cdc"] * 3
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 0, 1] * 3)
    ids, lengths = encode_texts(texts, TOK, 8, 0)
    heads, calls = [], []
    for cache in (True, False):
        clf = SequenceClassifier(nano(MaskedLM), 2)
        freeze(clf.body)
        hook = clf.body.ln_f.register_forward_hook(lambda *_, c=cache: calls.append(c))
        fit_classifier(clf, ids, lengths, labels, steps=12, lr=3e-3, batch_size=8, progress=False,
                       cache_features=cache)
        hook.remove()
        heads.append(clf.head.weight.detach().clone())
    assert calls.count(True) == 1 and calls.count(False) == 12             # once, against once per step
    assert torch.allclose(heads[0], heads[1], atol=1e-5) and heads[0].abs().sum() > 0
    body = nano(MaskedLM)
    expected = pool(hidden_states(body.eval(), ids, lengths), lengths)
    assert torch.allclose(pooled_features(body, ids, lengths, batch_size=5), expected, atol=1e-5)


def test_lp_ft_fits_the_head_first_then_everything_that_was_trainable():
    texts = ["abab", "baba", "aabb", "cdcd", "dcdc", "ccdd", "ab", "cdc"] * 3
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 0, 1] * 3)
    ids, lengths = encode_texts(texts, TOK, 8, 0)
    kw = dict(batch_size=8, progress=False, seed=3)
    probe = SequenceClassifier(nano(GPT), 2)                               # a probe by hand: frozen body
    freeze(probe.body)
    fit_classifier(probe, ids, lengths, labels, 12, 3e-3, **kw)
    clf = SequenceClassifier(nano(GPT), 2)
    before = copy.deepcopy(clf.body.state_dict())
    fit_lp_ft(clf, ids, lengths, labels, 12, 0.0, **kw)                    # fine-tuning at rate 0: the probe only
    assert all(torch.equal(v, clf.body.state_dict()[k]) for k, v in before.items())
    assert torch.allclose(clf.head.weight, probe.head.weight, atol=1e-5)
    assert all(p.requires_grad for p in clf.body.parameters())            # trainable again afterwards
    lora = SequenceClassifier(nano(GPT), 2)
    add_lora(lora.body, r=2)
    fit_lp_ft(lora, ids, lengths, labels, 12, 3e-3, **kw)
    assert {n for n, p in lora.body.named_parameters() if p.requires_grad} == \
        {n for n, _ in lora.body.named_parameters() if n.endswith((".A", ".B"))}
    assert all(m.B.abs().sum() > 0 for m in lora.body.modules() if isinstance(m, LoRALinear))   # they trained


def test_bag_of_tokens_against_a_loop():
    ids, lengths = encode_texts(["abca", "hh", "a_(#"], TOK, 8, 0)
    bag = bag_of_tokens(ids, lengths, TOK.vocab_size)
    by_hand = torch.zeros(3, TOK.vocab_size)
    for i in range(3):
        for t in ids[i, :lengths[i]].tolist():
            by_hand[i, t] = 1.0
    assert torch.equal(bag, by_hand) and bag[1].sum() == 1                  # "hh": one token, padding not counted
    with pytest.raises(ValueError, match="ids must be in 0..4"):
        bag_of_tokens(ids, lengths, 5)


def test_classification_loss_refuses_unknown_labels():
    logits = torch.zeros(3, 4)
    assert classification_loss(logits, torch.tensor([0, 3, 1])).item() == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match=r"class ids in 0..3, got \[4\]"):
        classification_loss(logits, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        SequenceClassifier(nano(), 1)


def test_lora_starts_as_the_base_and_merges_exactly():
    torch.manual_seed(0)
    base = nn.Linear(8, 6)
    lora = LoRALinear(base, r=2, alpha=4.0)
    x = torch.randn(5, 8)
    assert torch.equal(lora(x), base(x))                                 # B = 0
    with torch.no_grad():
        lora.B.normal_()
    expected = base(x) + 2.0 * x @ (lora.B @ lora.A).T                   # W x + b + (α/r) B A x
    assert torch.allclose(lora(x), expected, atol=1e-6)
    assert torch.allclose(lora.merged()(x), lora(x), atol=1e-6)
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["A", "B"]
    for r in (0, 7, 2.0):
        with pytest.raises(ValueError, match=r"rank r must be an int in 1..6"):
            LoRALinear(nn.Linear(8, 6), r=r)


def test_add_lora_trains_only_adapters_and_merge_keeps_logits():
    model = nano()
    idx = torch.randint(0, TOK.vocab_size, (2, 10))
    before = model(idx)[0]
    names = add_lora(model, r=2, alpha=2)
    assert names == [f"blocks.{i}.attn.{m}" for i in range(2) for m in ("qkv", "proj")]
    assert torch.allclose(model(idx)[0], before, atol=1e-6)
    trainable, total = parameter_share(model)
    assert trainable == 2 * (2 * (32 + 96) + 2 * (32 + 32))              # r·(in + out) per wrapped layer
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model(idx, idx)[1].backward()
    opt.step()
    tuned = model(idx)[0]
    assert not torch.allclose(tuned, before, atol=1e-4)
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert torch.allclose(model(idx)[0], tuned, atol=1e-5)
    assert parameter_share(model)[1] == total - trainable
    with pytest.raises(ValueError, match="no nn.Linear"):
        add_lora(nano(), 2, targets=("nothing",))
    with_norms = nano()
    add_lora(with_norms, r=2, alpha=2, train_norms=True)
    n_norms = 2 * 2 + 1                                                    # ln1, ln2 per block, ln_f
    assert parameter_share(with_norms)[0] == trainable + n_norms * 2 * 32  # a gain and a shift per channel


def test_freeze_and_share():
    clf = SequenceClassifier(nano(), 3)
    freeze(clf.body)
    trainable, total = parameter_share(clf)
    assert trainable == 32 * 3 + 3 and total == clf.body.num_parameters() + trainable


def test_pack_pairs_masks_the_prompt_and_padding():
    x, y = pack_pairs([("# ab\ndef ", "cd("), ("# a\ndef ", "h(")], TOK, block_size=16, pad_id=0)
    s = TOK.encode("# ab\ndef cd(")
    assert x[0].tolist() == s[:-1] and x.shape == (2, 11)
    assert y[0].tolist() == [IGNORE] * 8 + TOK.encode("cd(")             # targets: the answer only
    assert y[1].tolist() == [IGNORE] * 7 + TOK.encode("h(") + [IGNORE] * 2
    with pytest.raises(ValueError, match="shorten the prompt"):
        pack_pairs([("#" * 20, "ab(")], TOK, block_size=16, pad_id=0)


def test_prompt_masked_loss_by_hand_and_blind_to_the_prompt():
    model = nano()
    x, y = pack_pairs([("# ab\ndef ", "cd("), ("# a\ndef ", "h(")], TOK, block_size=16, pad_id=0)
    logp = model(x)[0].log_softmax(-1)
    keep = y != IGNORE
    by_hand = -logp[keep].gather(1, y[keep][:, None]).mean()
    assert torch.allclose(prompt_masked_loss(model, x, y), by_hand)
    full = F.cross_entropy(model(x)[0].flatten(0, 1), torch.where(keep, y, x).flatten())
    assert not torch.allclose(full, by_hand)                              # unmasked, the prompt would count


def test_complete_stops_at_the_stop_character():
    model = nano().eval()
    out = complete(model, TOK, ["# ab\ndef ", "# a\ndef ", "# ba\ndef "], stop="(", max_new=6)
    assert len(out) == 3 and all(len(o) <= 6 for o in out)
    assert all(o.endswith("(") or "(" not in o for o in out)
    from aigc_course.sampling import generate

    prompts = ["# ab\ndef ", "# cd\ndef ", "# a\ndef ", "# hh\ndef "]
    for stop, max_new in (("(", 1), ("(", 13), (" ", 5), (" ", 13)):      # stopping early changes no answer
        whole = []                                                       # (this model writes spaces: " " stops)
        for p in prompts:
            text = TOK.decode(generate(model, torch.tensor([TOK.encode(p)]), max_new, greedy=True)[0, len(p):])
            whole.append(text[:text.index(stop) + 1] if stop in text else text)
        assert complete(model, TOK, prompts, stop=stop, max_new=max_new, chunk=2) == whole


def test_intervals_against_hand_formulas():
    correct = torch.tensor([1] * 80 + [0] * 20)
    acc, lo, hi = accuracy_interval(correct)
    assert acc == pytest.approx(0.8) and lo == pytest.approx(0.7112, abs=1e-4) and hi == pytest.approx(0.8666, abs=1e-4)
    a = torch.tensor([1, 1, 0, 1, 0, 1, 1, 1])
    b = torch.tensor([1, 0, 0, 1, 0, 0, 1, 0])
    gap, lo, hi = paired_gap_interval(a, b)
    d = (a - b).float()
    assert gap == pytest.approx(0.375) and hi - gap == pytest.approx(1.96 * d.std().item() / math.sqrt(8))
    with pytest.raises(ValueError, match="empty"):
        accuracy_interval(torch.tensor([]))
    with pytest.raises(ValueError, match="one shape"):
        paired_gap_interval(a, b[:3])
