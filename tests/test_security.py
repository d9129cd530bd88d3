"""Security: the torch floor that makes "loading a checkpoint cannot execute code" true, and `make lab`
refusing to serve beyond this machine without an explicit opt-in."""

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

from aigc_course import checkpoint as ckpt
from aigc_course.checkpoint import CheckpointError, read_checkpoint, save_checkpoint

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[1]


def _requirement(name: str) -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(Requirement(d) for d in deps if Requirement(d).name == name)


def test_the_torch_floor_excludes_every_version_with_a_weights_only_bypass():
    spec = _requirement("torch").specifier
    for unsafe in ("2.2.0", "2.5.1", "2.6.0", "2.9.1"):        # CVE-2025-32434 (< 2.6), memory safety (< 2.10)
        assert not spec.contains(unsafe), f"pyproject admits torch {unsafe}"
    assert spec.contains("2.10.0") and spec.contains(torch.__version__.split("+")[0])
    assert Version(".".join(map(str, ckpt.SAFE_TORCH))) == min(Version(s.version) for s in spec if ">" in s.operator)
    assert _requirement("torchvision").specifier.contains("0.25.0")
    assert not _requirement("torchvision").specifier.contains("0.24.0")   # pairs with torch < 2.10


def test_an_older_torch_refuses_to_load_checkpoints(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "run.pt", {"m": torch.nn.Linear(2, 2)}, step=1)
    monkeypatch.setattr(torch, "__version__", "2.5.1+cpu")
    with pytest.raises(CheckpointError, match=r"torch 2.5.1\+cpu is older than 2.10.*CVE-2025-32434"):
        read_checkpoint(path)
    monkeypatch.setattr(torch, "__version__", "2.10.0a0+git1234")
    assert read_checkpoint(path)["step"] == 1


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _guard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(ROOT), "lab-guard", *args], capture_output=True, text=True,
                          timeout=30, env={"PATH": "/usr/bin:/bin"})


@needs_make
@pytest.mark.parametrize("ip", ["127.0.0.1", "localhost", "::1"])
def test_make_lab_serves_on_loopback_quietly(ip):
    out = _guard(f"IP={ip}")
    assert out.returncode == 0 and out.stderr == ""


@needs_make
@pytest.mark.parametrize("ip", ["0.0.0.0", "192.168.1.20", "::"])
def test_make_lab_refuses_other_addresses_without_opt_in(ip):
    out = _guard(f"IP={ip}")
    assert out.returncode != 0 and f"refusing to serve on IP={ip}" in out.stderr and "ALLOW_REMOTE=1" in out.stderr
    opted = _guard(f"IP={ip}", "ALLOW_REMOTE=1")
    assert opted.returncode == 0 and "WARNING: serving JupyterLab" in opted.stderr


@needs_make
def test_make_lab_never_drops_the_token_when_remote():
    out = _guard("IP=0.0.0.0", "ALLOW_REMOTE=1", "LAB_ARGS=--IdentityProvider.token=")
    assert out.returncode != 0 and "refusing to change the token" in out.stderr
