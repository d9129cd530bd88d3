import subprocess
import sys

from aigc_course import doctor


def test_report_names_the_essentials(monkeypatch, tmp_path):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIGC_FAST", "1")
    rows = dict(doctor.report())
    assert rows["Python"].startswith(sys.version.split()[0])
    assert rows["device"].startswith("cpu") or rows["device"].startswith(("cuda", "mps"))
    assert rows["mode"].startswith("FAST") and rows["data cache"] == str(tmp_path)
    assert rows["data: digits"].startswith("offline") and rows["data: mnist"].startswith("not cached")


def test_cached_download_is_seen(monkeypatch, tmp_path):
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path))
    (tmp_path / "torchvision" / "MNIST").mkdir(parents=True)
    (tmp_path / "tiny_shakespeare.txt").write_text("First Citizen:")
    status = doctor.data_availability()
    assert status["mnist"] == "cached" and status["tiny-shakespeare (text)"] == "cached"
    assert status["cifar10"].startswith("not cached")


def test_command_line(monkeypatch):
    out = subprocess.run([sys.executable, "-m", "aigc_course", "doctor"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "aigc_course doctor" in out.stdout and "torch" in out.stdout and "All good." in out.stdout
    bad = subprocess.run([sys.executable, "-m", "aigc_course", "fix-everything"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage: python -m aigc_course {doctor}" in bad.stderr


def test_bad_device_is_reported_not_crashed(monkeypatch):
    monkeypatch.setenv("AIGC_DEVICE", "quantum")
    assert dict(doctor.report())["device"].startswith("ERROR: AIGC_DEVICE must be one of")


def test_torchvision_cached_rejects_other_names():
    import pytest

    from aigc_course.data.images import torchvision_cached

    with pytest.raises(ValueError, match=r"torchvision data sets are \['cifar10', 'fashion-mnist', 'mnist'\]"):
        torchvision_cached("digits")
