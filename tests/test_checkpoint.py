import pickle
from dataclasses import dataclass

import pytest
import torch

from aigc_course.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint


@dataclass
class TinyConfig:
    width: int = 4


def make(width=4):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.ReLU(), torch.nn.Linear(width, 1))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def test_round_trip_restores_model_optimizer_step_config(tmp_path):
    model, opt = make()
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "run.pt", {"model": model, "opt": opt}, step=17, config=TinyConfig(),
                           history={"steps": [1, 2]})
    fresh, fresh_opt = make()
    payload = load_checkpoint(path, {"model": fresh, "opt": fresh_opt})
    assert payload["step"] == 17 and payload["config"] == {"class": "TinyConfig", "width": 4}
    assert payload["history"] == {"steps": [1, 2]}
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
    assert fresh_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    model, _ = make()
    save_checkpoint(tmp_path / "a.pt", {"model": model}, step=1)
    save_checkpoint(tmp_path / "a.pt", {"model": model}, step=2)
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    assert read_checkpoint(tmp_path / "a.pt")["step"] == 2


def test_other_model_lists_mismatched_keys(tmp_path):
    model, _ = make(width=4)
    path = save_checkpoint(tmp_path / "run.pt", {"model": model}, step=1)
    other = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1), torch.nn.Linear(1, 1))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, {"model": other})
    text = str(err.value)
    assert "run.pt" in text and "another model" in text
    assert "missing from the checkpoint: 3.bias, 3.weight" in text
    assert "0.weight: checkpoint (4, 3) vs model (8, 3)" in text


def test_missing_module_name_is_explained(tmp_path):
    model, _ = make()
    path = save_checkpoint(tmp_path / "run.pt", {"model": model}, step=1)
    with pytest.raises(CheckpointError, match=r"has no state for \['critic'\]; it holds \['model'\]"):
        load_checkpoint(path, {"critic": model})


def test_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="broken.pt is not a readable checkpoint"):
        read_checkpoint(bad)


def test_truncated_checkpoint_is_corrupt(tmp_path):
    model, _ = make()
    path = save_checkpoint(tmp_path / "run.pt", {"model": model}, step=1)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(path)


class Payload:
    """Unpickling this would run code; weights_only loading must refuse it."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('ran')",))


def test_pickle_with_code_is_refused_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        torch.save({"format": 1, "modules": {}, "x": Payload()}, f, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="refused, not executed"):
        read_checkpoint(evil)
    assert not (tmp_path / "PWNED").exists()


def test_foreign_torch_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not an aigc_course checkpoint"):
        read_checkpoint(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        read_checkpoint("/nonexistent/run.pt")
