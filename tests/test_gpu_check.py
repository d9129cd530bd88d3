"""tools/gpu_check.py (make gpu-check) runs and passes on the CPU with tiny models, and catches failures."""

import importlib.util
import sys
from pathlib import Path

import torch

_spec = importlib.util.spec_from_file_location("gpu_check", Path(__file__).parents[1] / "tools" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
sys.modules["gpu_check"] = gpu_check            # dataclasses look their module up
_spec.loader.exec_module(gpu_check)


def test_every_check_passes_on_cpu_with_tiny_models(capsys):
    assert gpu_check.main(["--device", "cpu", "--tiny", "--steps", "30"]) == 0
    out = capsys.readouterr().out
    assert f"{len(gpu_check.CHECKS)}/{len(gpu_check.CHECKS)} passed" in out
    for name in gpu_check.CHECKS:
        assert f"| {name} |" in out


def test_a_model_that_does_not_learn_fails(monkeypatch, capsys):
    real = gpu_check.CHECKS["VAE mlp"][1]

    def frozen(device, tiny):
        case = real(device, tiny)
        case.step = lambda step: {"loss": 1.0}           # no update: the probe cannot fall
        return case

    monkeypatch.setitem(gpu_check.CHECKS, "VAE mlp", ("04, 05", frozen))
    assert gpu_check.main(["--device", "cpu", "--tiny", "--steps", "5", "--only", "VAE mlp"]) == 1
    assert "FAIL: probe did not fall" in capsys.readouterr().out


def test_rows_report_semantics_and_determinism():
    row = gpu_check.run_check("GPT", torch.device("cpu"), 10, tiny=True)
    assert row["probe_before"] == row["probe_cpu"] and row["deterministic"] and not row["problems"]
    assert row["unit"] == "tokens" and row["items_per_s"] > 0
