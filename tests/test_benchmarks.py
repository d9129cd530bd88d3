"""A tiny benchmark run returns well-formed results (timings are never asserted on)."""

import json
import math

import pytest
import torch

from benchmarks.__main__ import main
from benchmarks.runner import format_table, run, write_json
from benchmarks.workloads import MODELS, build


def test_every_model_builds_quick_workloads_with_positive_flops():
    for model in MODELS:
        for w in build(model, quick=True, device=torch.device("cpu")):
            assert w.model == model and w.kind in ("train", "generate") and w.unit in ("samples", "tokens")
            assert w.items > 0 and w.flops > 0 and w.parameters > 0


def test_tiny_run_is_well_formed_and_written_as_json(tmp_path):
    report = run(models=("vae", "lstm"), modes=("fp32",), quick=True, repeats=1, progress=False)
    rows = report["results"]
    assert {(r["model"], r["kind"]) for r in rows} == {("vae", "train"), ("vae", "generate"), ("lstm", "train")}
    for r in rows:
        assert r["error"] is None, r["error"]
        assert r["seconds_median"] > 0 and math.isfinite(r["throughput"]) and r["throughput"] > 0
        assert r["fraction_of_peak"] > 0
    assert "| vae | train | fp32 |" in format_table(report)
    path = write_json(report, tmp_path / "r.json")
    assert json.loads(path.read_text())["environment"]["torch"] == torch.__version__


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match="unknown model or mode"):
        run(models=("sora",), modes=("fp32",), quick=True)
    with pytest.raises(SystemExit):
        main(["--quick", "--models", "nope"])
    with pytest.raises(ValueError, match="unknown model"):
        build("nope", True, torch.device("cpu"))


def test_channels_last_and_fp16_modes_run_the_conv_workloads():
    report = run(models=("gan", "lstm"), modes=("channels_last", "fp16"), quick=True, repeats=1, progress=False)
    rows = report["results"]
    assert {(r["model"], r["mode"]) for r in rows if r["mode"] == "channels_last"} == {("gan", "channels_last")}
    for r in rows:
        if r["model"] == "gan":
            assert r["error"] is None, r["error"]
    assert "float16" in str(report["peak_flops_per_s"])


def test_decay_groups_quick_runs_both_recipes_and_only_grouped_spares_the_gains(capsys):
    from aigc_course.models.transformer import GPT, GPTConfig
    from benchmarks import decay_groups

    assert decay_groups.main(["--quick", "--seeds", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: float(line.split()[2]) for line in lines if line.startswith(("grouped", "one-group"))}
    assert set(rows) == set(decay_groups.RECIPES) and all(math.isfinite(v) for v in rows.values())
    model = GPT(GPTConfig.nano(vocab_size=11, bias=False))
    grouped = decay_groups.make_optimizer("grouped", model)
    assert [g["weight_decay"] for g in grouped.param_groups] == [0.1, 0.0]      # the gains are spared
    assert [g["weight_decay"] for g in decay_groups.make_optimizer("one-group", model).param_groups] == [0.1]
    with pytest.raises(ValueError, match="recipe must be one of"):
        decay_groups.make_optimizer("adam", model)
