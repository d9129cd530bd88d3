import math
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
    raw = tmp_path / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, dims in (("train-images-idx3-ubyte", (2, 28, 28)), ("train-labels-idx1-ubyte", (2,)),
                       ("t10k-images-idx3-ubyte", (1, 28, 28)), ("t10k-labels-idx1-ubyte", (1,))):
        header = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
        (raw / name).write_bytes(header + bytes(math.prod(dims)))
    (tmp_path / "tiny_shakespeare.txt").write_text("First Citizen:")   # 14 bytes, not the real 1.1 MB
    status = doctor.data_availability()
    assert status["mnist"] == "cached" and "is damaged" in status["tiny-shakespeare (text)"]
    assert status["cifar10"].startswith("not cached")
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"")                 # a zero-byte file: not "cached"
    assert doctor.data_availability()["mnist"].startswith("the cached files are damaged (t10k-images-idx3-ubyte")


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


def _doctor_in_subprocess(prelude: str, env_extra: dict) -> subprocess.CompletedProcess:
    import os

    code = f"{prelude}\nimport sys\nfrom aigc_course.doctor import main\nsys.exit(main())"
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_doctor_without_torch_reports_instead_of_crashing():
    out = _doctor_in_subprocess("import sys; sys.modules['torch'] = None  # as in a Python without torch", {})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "torch is not installed in this Python" in out.stdout and "make install" in out.stdout


def test_doctor_advice_fits_the_problem(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIGC_DEVICE", "cdua")
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "fix AIGC_DEVICE" in out and "make install" not in out
    monkeypatch.delenv("AIGC_DEVICE")
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "file"))
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "is a file, not a folder" in out and "make install" not in out and "data: digits" not in out
