"""Captioned shapes (chapter 12): factors, captions, held-out combinations, tokenizer and its errors."""

import itertools

import pytest
import torch

from aigc_course.data import captions as cap


def test_combo_index_round_trip_and_held_out():
    every = torch.tensor(list(itertools.product(range(3), range(2), range(2), range(2))))
    idx = cap.combo_index(every)
    assert sorted(idx.tolist()) == list(range(24))
    assert torch.equal(cap.combo_factors(idx), every)
    assert len(cap.HELD_OUT_COMBOS) == 4 and set(cap.HELD_OUT_COMBOS).isdisjoint(cap.SEEN_COMBOS)


def test_train_split_never_shows_a_held_out_combination_but_every_word():
    train = cap.load_captioned_shapes("train", 400)
    assert set(train.combos.tolist()) == set(cap.SEEN_COMBOS)
    seen_words = {w for c in cap.all_captions(cap.SEEN_COMBOS) for w in c.split()}
    held_words = {w for c in cap.all_captions(cap.HELD_OUT_COMBOS) for w in c.split()}
    assert held_words <= seen_words
    held = cap.load_captioned_shapes("test", 40, "held-out")
    assert set(held.combos.tolist()) == set(cap.HELD_OUT_COMBOS)
    with pytest.raises(ValueError, match="held out"):
        cap.load_captioned_shapes("train", 10, "held-out")


def test_parse_caption_reads_back_every_wording():
    for f in itertools.product(range(3), range(2), range(2), range(2)):
        for t in range(len(cap.TEMPLATES)):
            for s in range(3):
                assert cap.parse_caption(cap.caption(f, t, s)) == f
    assert cap.parse_caption("a heart") == (2, -1, -1, -1)
    assert cap.parse_caption("a small big heart") == (2, -1, -1, -1)     # contradictory: no answer


def test_images_show_their_factors():
    d = cap.load_captioned_shapes("test", 480, "all")
    assert d.images.shape == (480, 1, 16, 16) and 0 <= d.images.min() and d.images.max() <= 1
    grid = torch.arange(16.0) + 0.5
    mass = d.images[:, 0].sum((1, 2))
    cy = (d.images[:, 0].sum(2) * grid).sum(1) / mass
    cx = (d.images[:, 0].sum(1) * grid).sum(1) / mass
    assert torch.equal(cy > 8, d.factors[:, 2].bool())        # bottom: centre of mass below the middle
    assert torch.equal(cx > 8, d.factors[:, 3].bool())        # right
    for shape in range(3):                                    # large: more lit pixels than any small one
        small = mass[(d.factors[:, 0] == shape) & (d.factors[:, 1] == 0)]
        large = mass[(d.factors[:, 0] == shape) & (d.factors[:, 1] == 1)]
        assert large.min() > small.max() and large.mean() > 1.5 * small.mean()


def test_tokenizer_one_token_per_word_round_trip_and_errors():
    tok = cap.caption_tokenizer()
    for w in tok.words:
        assert len(tok.bpe.encode(" " + w)) == 1, w
    text = "a tiny heart in the upper left"
    ids = tok.encode(text)
    assert ids[0] == ids[-1] == tok.eot and len(ids) == len(text.split()) + 2
    batch, lengths = tok.batch([text, "big box , lower right"])
    assert batch.shape == (2, tok.max_len) and lengths.tolist() == [9, 7] and int(batch[1, 7]) == tok.pad
    assert tok.decode(batch[0]) == text
    with pytest.raises(ValueError, match="empty"):
        tok.encode("   ")
    with pytest.raises(ValueError, match=r"\['purple'\]"):
        tok.encode("a purple heart")
    with pytest.raises(TypeError):
        tok.encode(3)
    with pytest.raises(ValueError, match="max_len"):
        tok.encode(" ".join(["heart"] * 20))


def test_factor_accuracy_and_prompts():
    true = torch.tensor([[0, 1, 0, 1], [2, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, -1, 1, 1]])
    acc = cap.factor_accuracy(pred, true)
    assert acc == {"shape": 1.0, "size": 0.5, "vertical": 0.5, "horizontal": 1.0, "all": 0.0}
    prompts = cap.prompt_ensemble("shape")
    assert len(prompts) == 3 and all("heart" in p for p in prompts[2])
    with pytest.raises(ValueError):
        cap.prompt_ensemble("colour")
