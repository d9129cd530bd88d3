import pytest

from aigc_course import config


def test_budget_follows_fast_mode(monkeypatch):
    monkeypatch.setenv("AIGC_FAST", "1")
    assert config.fast_mode() is True
    assert config.budget(full=5000, fast=40) == 40
    monkeypatch.setenv("AIGC_FAST", "0")
    assert config.budget(full=5000, fast=40) == 5000
    monkeypatch.delenv("AIGC_FAST")
    assert config.budget(full=5000, fast=40) == 5000


def test_bad_fast_value_is_named(monkeypatch):
    monkeypatch.setenv("AIGC_FAST", "maybe")
    with pytest.raises(ValueError, match="AIGC_FAST must be one of .* got 'maybe'"):
        config.fast_mode()


def test_budget_rejects_mixed_types():
    with pytest.raises(TypeError, match="int and float"):
        config.budget(full=10, fast=0.5)


def test_data_dir_from_env_is_created(tmp_path, monkeypatch):
    target = tmp_path / "cache" / "deep"
    monkeypatch.setenv("AIGC_DATA_DIR", str(target))
    assert config.data_dir() == target and target.is_dir()


def test_data_dir_default_under_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("AIGC_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert config.data_dir() == tmp_path / "aigc_course"


def test_banner_names_mode_and_device(monkeypatch):
    monkeypatch.setenv("AIGC_FAST", "1")
    line = config.banner()
    assert "FAST" in line and "device: cpu" in line and "torch" in line and "\n" not in line


def test_workshop_mode_picks_its_budget_and_defaults_to_full(monkeypatch):
    monkeypatch.delenv("AIGC_FAST", raising=False)
    monkeypatch.setenv("AIGC_MODE", "workshop")
    assert config.run_mode() == "workshop"
    assert config.budget(full=5000, fast=40, workshop=800) == 800
    assert config.budget(full=5000, fast=40) == 5000
    monkeypatch.setenv("AIGC_MODE", "full")
    assert config.budget(full=5000, fast=40, workshop=800) == 5000
    monkeypatch.setenv("AIGC_MODE", "fast")
    assert config.budget(full=5000, fast=40, workshop=800) == 40


def test_bad_mode_is_named(monkeypatch):
    monkeypatch.delenv("AIGC_FAST", raising=False)
    monkeypatch.setenv("AIGC_MODE", "quick")
    with pytest.raises(ValueError, match=r"AIGC_MODE must be one of \['full', 'workshop', 'fast'\], got 'quick'"):
        config.run_mode()


def test_fast_and_other_mode_disagree(monkeypatch):
    monkeypatch.setenv("AIGC_FAST", "1")
    monkeypatch.setenv("AIGC_MODE", "workshop")
    with pytest.raises(ValueError, match="disagree"):
        config.run_mode()


def test_budget_rejects_mixed_workshop_type():
    with pytest.raises(TypeError, match="workshop"):
        config.budget(full=10, fast=1, workshop=0.5)
