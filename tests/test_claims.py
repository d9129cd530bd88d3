import json

import pytest

from aigc_course.claims import ClaimFailed, claim


@pytest.fixture
def mode(monkeypatch):
    monkeypatch.delenv("AIGC_FAST", raising=False)

    def set_mode(name):
        monkeypatch.setenv("AIGC_MODE", name)
    return set_mode


def test_full_mode_asserts_the_band(mode):
    mode("full")
    assert claim("accuracy", 0.985, stated=0.986, low=0.97) == 0.985
    with pytest.raises(ClaimFailed, match=r"accuracy: measured 0.96, but a full run must reach ≥ 0.97"):
        claim("accuracy", 0.96, stated=0.986, low=0.97)
    with pytest.raises(ClaimFailed, match=r"in \[1.18, 1.28\]"):
        claim("loss", 1.30, stated=1.23, low=1.18, high=1.28)


def test_nan_never_holds(mode):
    mode("full")
    with pytest.raises(ClaimFailed):
        claim("loss", float("nan"), stated=1.2, high=1.3)


def test_fast_mode_reports_only(mode, capsys):
    mode("fast")
    claim("accuracy", 0.1, stated=0.986, low=0.97)
    assert "not checked in FAST mode" in capsys.readouterr().out


def test_workshop_band_is_its_own(mode):
    mode("workshop")
    claim("accuracy", 0.5, stated=0.986, low=0.97)            # no workshop band: reported only
    claim("accuracy", 0.93, stated=0.986, low=0.97, workshop=(0.9, None))
    with pytest.raises(ClaimFailed, match="workshop run"):
        claim("accuracy", 0.85, stated=0.986, low=0.97, workshop=(0.9, None))


def test_claims_are_recorded_for_verify(mode, tmp_path, monkeypatch):
    mode("full")
    target = tmp_path / "claims.jsonl"
    monkeypatch.setenv("AIGC_CLAIMS_FILE", str(target))
    claim("a", 1.0, stated=1.0, low=0.9)
    with pytest.raises(ClaimFailed):
        claim("b", 2.0, stated=1.0, high=1.5)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(r["name"], r["holds"]) for r in rows] == [("a", True), ("b", False)]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs low= or high="),
    ({"low": 2.0, "high": 1.0}, "low=2.0 is above high=1.0"),
    ({"low": float("nan")}, "low must be a finite number"),
    ({"low": 0.0, "workshop": 0.5}, "workshop must be a"),
])
def test_bad_bands_are_named(mode, kwargs, message):
    mode("full")
    with pytest.raises(ValueError, match=message):
        claim("x", 1.0, stated=1.0, **kwargs)


def test_a_figure_not_yet_measured_reads_so_and_only_its_band_is_asserted(monkeypatch, capsys):
    from aigc_course.claims import NOT_YET_MEASURED, band_text, stated_text

    monkeypatch.setenv("AIGC_MODE", "full")
    monkeypatch.delenv("AIGC_FAST", raising=False)
    assert claim("floor", 1.3, stated=NOT_YET_MEASURED, low=0.5, high=4.0) == 1.3
    assert "stated not yet measured — holds (in [0.5, 4])" in capsys.readouterr().out
    with pytest.raises(ClaimFailed, match="the text states not yet measured"):
        claim("floor", 9.0, stated=NOT_YET_MEASURED, low=0.5, high=4.0)
    assert stated_text(0.25, " nats") == "0.25 nats" and band_text(None, 2) == "≤ 2" and band_text(1, None) == "≥ 1"
