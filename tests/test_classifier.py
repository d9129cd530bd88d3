"""The domain classifier: shapes, parameter count, determinism, learning, caching."""

import sys
import types

import pytest
import torch

from aigc_course.metrics import class_accuracy
from aigc_course.models.classifier import (
    ClassifierConfig,
    DigitClassifier,
    extract_features,
    pretrained_digit_classifier,
    train_classifier,
)


def _quadrant_data(n: int = 256, size: int = 8, seed: int = 0):
    """Four classes: noise plus one bright quadrant, the class says which."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = 0.3 * torch.rand(n, 1, size, size, generator=g)
    h = size // 2
    for i, y in enumerate(labels.tolist()):
        r, c = divmod(y, 2)
        images[i, 0, r * h:(r + 1) * h, c * h:(c + 1) * h] += 0.7
    return images, labels


def test_shapes_and_parameter_count_tiny():
    cfg = ClassifierConfig.tiny()
    model = DigitClassifier(cfg)
    x = torch.rand(5, 1, 8, 8)
    assert model(x).shape == (5, 4)
    assert model.features(x).shape == (5, 8)
    # conv 1*4*9+4, bn 8, conv 4*8*9+8, bn 16, linear 32*8+8, head 8*4+4
    assert sum(p.numel() for p in model.parameters()) == 40 + 8 + 296 + 16 + 264 + 36


@pytest.mark.parametrize("size", [8, 16, 28, 32])
def test_any_size_from_8_works(size):
    model = DigitClassifier(ClassifierConfig(image_size=size, width=4, feature_dim=8))
    assert model(torch.rand(2, 1, size, size)).shape == (2, 10)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="image_size must be an int >= 8"):
        ClassifierConfig(image_size=4)
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        ClassifierConfig(num_classes=1)
    with pytest.raises(ValueError, match="got 3 images but 2 labels"):
        train_classifier(torch.rand(3, 1, 8, 8), torch.tensor([0, 1]), steps=1)


def test_same_seed_same_model():
    images, labels = _quadrant_data(64)
    a = train_classifier(images, labels, ClassifierConfig.tiny(), steps=5, seed=3)
    b = train_classifier(images, labels, ClassifierConfig.tiny(), steps=5, seed=3)
    assert torch.equal(a(images[:4]), b(images[:4]))


def test_training_leaves_the_callers_random_stream_alone():
    """A chapter seeds once at the top: training the cached judge in the middle must not shift what follows."""
    images, labels = _quadrant_data(64)
    torch.manual_seed(11)
    expected = torch.rand(3)                                   # what the caller's stream gives without training
    torch.manual_seed(11)
    train_classifier(images, labels, ClassifierConfig.tiny(), steps=3, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_learns_a_separable_problem_and_features_are_batched():
    images, labels = _quadrant_data(256)
    model = train_classifier(images, labels, ClassifierConfig.tiny(), steps=120, batch_size=64, lr=1e-2)
    test_images, test_labels = _quadrant_data(128, seed=1)
    assert class_accuracy(model, test_images, test_labels) > 0.9
    feats = extract_features(model, test_images, batch_size=50)
    assert feats.shape == (128, 8)
    assert torch.allclose(feats, model.eval().features(test_images), atol=1e-6)


def test_pretrained_classifier_is_cached(monkeypatch):
    images, labels = _quadrant_data(256, size=16)
    calls = []

    def fake_load_images(name, size, split, fit="resize"):
        calls.append(split)
        return types.SimpleNamespace(images=images, labels=labels, name="quadrants", classes=list("abcd"))

    monkeypatch.setitem(sys.modules, "aigc_course.data", types.SimpleNamespace(load_images=fake_load_images))
    first = pretrained_digit_classifier("quadrants", size=16, device="cpu", steps=30, verbose=False)
    assert calls == ["train", "test"] and 0 <= first.test_accuracy <= 1
    second = pretrained_digit_classifier("quadrants", size=16, device="cpu", steps=30, verbose=False)
    assert calls == ["train", "test", "train"]                  # loaded from the cache: no test pass, no training
    assert second.test_accuracy == first.test_accuracy
    assert torch.equal(second(images[:3]), first(images[:3]))


def test_a_workshop_uses_a_full_runs_judge_or_trains_its_own_shorter_one(monkeypatch, tmp_path):
    from aigc_course.models.classifier import JUDGE_STEPS

    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))                # an empty cache: no judge of any mode yet
    images, labels = _quadrant_data(256, size=16)
    fake = types.SimpleNamespace(load_images=lambda name, size, split, fit="resize": types.SimpleNamespace(
        images=images, labels=labels, name="quadrants", classes=list("abcd")))
    monkeypatch.setitem(sys.modules, "aigc_course.data", fake)
    monkeypatch.setitem(JUDGE_STEPS, "workshop", 5)
    monkeypatch.delenv("AIGC_FAST", raising=False)
    monkeypatch.setenv("AIGC_MODE", "workshop")
    own = pretrained_digit_classifier("quadrants", size=16, device="cpu", verbose=False)   # no full judge yet
    monkeypatch.setenv("AIGC_MODE", "full")
    full = pretrained_digit_classifier("quadrants", size=16, device="cpu", steps=40, verbose=False)
    monkeypatch.setenv("AIGC_MODE", "workshop")
    again = pretrained_digit_classifier("quadrants", size=16, device="cpu", verbose=False)
    assert not torch.equal(own(images[:4]), full(images[:4]))          # 5 steps and 40 steps: two judges
    assert torch.equal(again(images[:4]), full(images[:4]))            # a workshop prefers the full run's
