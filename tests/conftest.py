"""Shared test set-up: a non-interactive matplotlib backend, one torch thread per test process (tiny models
run fastest that way, and two xdist workers then share two cores without oversubscription), and an isolated
data cache and default modes for every test."""

import os

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """Each test sees a private data cache and default modes, whatever the caller's environment says."""
    cache = tmp_path_factory.getbasetemp() / "aigc-data"
    monkeypatch.setenv("AIGC_DATA_DIR", os.environ.get("AIGC_TEST_DATA_DIR", str(cache)))
    monkeypatch.delenv("AIGC_DEVICE", raising=False)
    monkeypatch.delenv("AIGC_STRICT_EXERCISES", raising=False)
    monkeypatch.delenv("AIGC_FAST", raising=False)
    yield


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    """Four real chorales, parsed into the same private cache the function-level fixture points at."""
    cache = os.environ.get("AIGC_TEST_DATA_DIR", str(tmp_path_factory.getbasetemp() / "aigc-data"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIGC_DATA_DIR", cache)
        from aigc_course.data import music

        return music.load_chorales(limit=4, progress=False)
