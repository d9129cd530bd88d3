import numpy as np
import pytest
import torch

from aigc_course import device


def test_auto_is_cpu_here_and_cpu_can_be_forced(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else ("mps" if device._mps_available() else "cpu")
    assert device.get_device().type == expected
    monkeypatch.setenv("AIGC_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")


def test_bad_device_env_lists_valid_values(monkeypatch):
    monkeypatch.setenv("AIGC_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"AIGC_DEVICE must be one of auto, cpu, cuda, mps or cuda:N, got 'tpu'"):
        device.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_missing_cuda_says_so():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        device.get_device("cuda:0")


def test_autocast_is_off_on_cpu():
    cpu = torch.device("cpu")
    assert device.autocast_dtype(cpu) is None
    with device.autocast(cpu):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32


def test_seed_everything_repeats_every_generator():
    def draw():
        device.seed_everything(123)
        return torch.rand(3), np.random.rand(3), __import__("random").random()

    a, b = draw(), draw()
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    g = device.seed_everything(7)
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=torch.Generator().manual_seed(7)))


def test_seed_rejects_negative():
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        device.seed_everything(-1)


def test_rng_state_round_trip():
    device.seed_everything(1)
    state = device.rng_state()
    first = (torch.rand(2), np.random.rand(2), __import__("random").random())
    device.set_rng_state(state)
    again = (torch.rand(2), np.random.rand(2), __import__("random").random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]
