"""Shared test set-up: a non-interactive matplotlib backend and an isolated data cache per test session."""

import os

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """Each test sees a private data cache and default modes, whatever the caller's environment says."""
    cache = tmp_path_factory.getbasetemp() / "aigc-data"
    monkeypatch.setenv("AIGC_DATA_DIR", os.environ.get("AIGC_TEST_DATA_DIR", str(cache)))
    monkeypatch.delenv("AIGC_DEVICE", raising=False)
    monkeypatch.delenv("AIGC_STRICT_EXERCISES", raising=False)
    yield
