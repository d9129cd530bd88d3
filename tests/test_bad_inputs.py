"""Property-based: every public entry point a chapter uses, fed wrong types, NaN/inf, out-of-range and empty
values, raises a ValueError or TypeError whose message names the argument (never an obscure traceback from
deep inside torch, never a silently accepted value).

Each ENTRY is (label, call, valid keyword arguments, {argument: kind}); for every argument hypothesis draws
bad values of its kind, the call is made with that one argument replaced, and the error is checked. The valid
call itself is checked to succeed, so a test cannot pass by an entry point failing for another reason.
"""

import math
from collections import Counter

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aigc_course import metrics, sampling
from aigc_course.config import budget
from aigc_course.cost import CostAssumptions, cost_estimate
from aigc_course.data import CharTokenizer, get_batch, load_corpus, load_images, toy_distribution, train_val_split
from aigc_course.device import seed_everything
from aigc_course.models.attention import MultiHeadAttention
from aigc_course.models.classifier import ClassifierConfig
from aigc_course.models.dcgan import DCGANConfig, FlatGANConfig
from aigc_course.models.gan import ToyGANConfig
from aigc_course.models.mixture import MixtureConfig
from aigc_course.models.mlp_lm import MLPLMConfig
from aigc_course.models.ngram import NGramConfig
from aigc_course.models.rnn import LSTMConfig
from aigc_course.models.transformer import GPT, GPTConfig
from aigc_course.models.vae import VAEConfig
from aigc_course.train import LivePlot, WarmupCosine, train

TALLY: Counter = Counter()   # bad inputs tried / clear errors, printed at the end (pytest -s)

NAN, INF = float("nan"), float("inf")
NOT_NUMBERS = st.one_of(st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2), st.just(object()))
FLOATS_NOT_INT = st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not float(x).is_integer())


def bad_values(kind: str):
    """Hypothesis strategy of values that are wrong for an argument of ``kind``."""
    wrong_type = st.one_of(NOT_NUMBERS, st.booleans())
    if kind in ("pos_int", "nonneg_int", "opt_pos_int"):
        low = 0 if kind == "nonneg_int" else 1
        ints = st.integers(max_value=low - 1, min_value=-10**6)
        floats = st.one_of(FLOATS_NOT_INT, st.sampled_from([2.0, NAN, INF]))
        values = st.one_of(ints, floats, st.text(max_size=5), st.booleans(), st.just(object()))
        return values if kind == "opt_pos_int" else st.one_of(values, st.none())
    if kind == "prob":           # [0, 1)
        out = st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not 0 <= x < 1)
        return st.one_of(out, wrong_type)
    if kind == "unit_open":      # (0, 1)
        return st.one_of(st.floats(allow_nan=True).filter(lambda x: not 0 < x < 1), wrong_type)
    if kind == "pos_float":
        return st.one_of(st.floats(max_value=0.0), st.sampled_from([NAN, INF, -INF]), wrong_type)
    if kind == "nonneg_float":
        return st.one_of(st.floats(max_value=-1e-9), st.sampled_from([NAN, INF, -INF]), wrong_type)
    if kind == "bool":
        return st.one_of(st.integers(), st.text(max_size=3), st.none(), st.floats())
    if kind.startswith("choice"):
        return st.one_of(st.text(max_size=8).filter(lambda s: s.strip().lower() not in kind), st.integers(),
                         st.none())
    raise KeyError(kind)


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig.nano(vocab_size=11)).eval()


GPT_MODEL = tiny_gpt()
TOKENS = torch.arange(200) % 11
TOKENIZER = CharTokenizer.from_text("abcdefghijk")


def _bigram(idx):
    return torch.nn.functional.one_hot(idx % 11, 11).float()


ENTRIES = [
    ("GPTConfig", GPTConfig, {"vocab_size": 11}, {
        "vocab_size": "pos_int", "block_size": "pos_int", "n_layer": "pos_int", "n_embd": "pos_int",
        "n_head": "pos_int", "dropout": "prob", "bias": "bool", "tie_weights": "bool", "fused": "bool"}),
    ("VAEConfig", VAEConfig, {}, {"latent_dim": "pos_int", "hidden": "pos_int", "width": "pos_int",
                                  "obs_sigma": "pos_float", "num_classes": "nonneg_int",
                                  "likelihood": "choice bernoulli gaussian", "arch": "choice mlp conv"}),
    ("ToyGANConfig", ToyGANConfig, {}, {"data_dim": "pos_int", "latent_dim": "pos_int", "hidden": "pos_int",
                                        "depth": "pos_int", "num_classes": "nonneg_int"}),
    ("DCGANConfig", DCGANConfig, {}, {"image_size": "pos_int", "channels": "pos_int", "latent_dim": "pos_int",
                                      "width": "pos_int", "num_classes": "nonneg_int"}),
    ("FlatGANConfig", FlatGANConfig, {}, {"image_size": "pos_int", "channels": "pos_int", "hidden": "pos_int",
                                          "depth": "pos_int", "latent_dim": "pos_int"}),
    ("ClassifierConfig", ClassifierConfig, {}, {"image_size": "pos_int", "channels": "pos_int", "width": "pos_int",
                                                "feature_dim": "pos_int", "dropout": "prob"}),
    ("LSTMConfig", LSTMConfig, {"vocab_size": 11}, {"vocab_size": "pos_int", "n_embd": "pos_int",
                                                    "n_hidden": "pos_int", "n_layers": "pos_int", "dropout": "prob"}),
    ("MLPLMConfig", MLPLMConfig, {"vocab_size": 11}, {"vocab_size": "pos_int", "context": "pos_int",
                                                      "n_hidden": "pos_int", "direct": "bool", "dropout": "prob"}),
    ("MixtureConfig", MixtureConfig, {}, {"n_components": "pos_int", "dim": "pos_int", "init_std": "pos_float"}),
    ("NGramConfig", NGramConfig, {"vocab_size": 11}, {"vocab_size": "pos_int", "n": "pos_int",
                                                      "k": "pos_float", "discount": "unit_open",
                                                      "smoothing": "choice kneser-ney add-k"}),
    ("WarmupCosine", WarmupCosine, {"steps": 10}, {"steps": "pos_int", "warmup": "pos_int"}),
    ("CostAssumptions", CostAssumptions, {}, {"watts": "nonneg_float", "pue": "nonneg_float"}),
    ("load_images", load_images, {"name": "digits", "limit": 4}, {
        "name": "choice digits shapes mnist fashion-mnist cifar10", "split": "choice train test",
        "size": "opt_pos_int", "limit": "opt_pos_int", "seed": "nonneg_int", "strict": "bool"}),
    ("load_images(shapes)", load_images, {"name": "shapes", "limit": 4}, {"limit": "opt_pos_int"}),
    ("load_corpus", load_corpus, {"max_chars": 10}, {"name": "choice python-docs tiny-shakespeare",
                                                      "max_chars": "opt_pos_int", "strict": "bool"}),
    ("get_batch", get_batch, {"data": TOKENS, "block_size": 8, "batch_size": 2},
     {"block_size": "pos_int", "batch_size": "pos_int"}),
    ("train_val_split", train_val_split, {"data": TOKENS}, {"val_fraction": "unit_open"}),
    ("toy_distribution", lambda **kw: toy_distribution("ring", **kw), {}, {
        "n_modes": "pos_int", "radius": "pos_float", "std": "pos_float"}),
    ("sampling.generate", sampling.generate, {"model_fn": _bigram, "prompt_ids": [1, 2], "max_new_tokens": 2}, {
        "max_new_tokens": "nonneg_int", "temperature": "pos_float", "top_k": "opt_pos_int",
        "repetition_penalty": "pos_float", "greedy": "bool", "block_size": "opt_pos_int"}),
    ("sampling.beam_search", sampling.beam_search, {"model_fn": _bigram, "prompt_ids": [1], "max_new_tokens": 2},
     {"beam_width": "pos_int", "max_new_tokens": "nonneg_int"}),
    ("sampling.distinct_n", sampling.distinct_n, {"sequences": "abcab", "n": 2}, {"n": "pos_int"}),
    ("GPT.generate", GPT_MODEL.generate, {"idx": torch.zeros(1, 2, dtype=torch.long), "max_new_tokens": 2}, {
        "max_new_tokens": "nonneg_int", "temperature": "pos_float", "top_k": "opt_pos_int", "use_cache": "bool"}),
    ("perplexity", metrics.perplexity, {"mean_nll_nats": 1.0}, {"mean_nll_nats": "nonneg_float"}),
    ("bits_per_token", metrics.bits_per_token, {"mean_nll_nats": 1.0}, {"mean_nll_nats": "nonneg_float"}),
    ("cost_estimate", cost_estimate, {"seconds": 1.0}, {"seconds": "nonneg_float"}),
    ("seed_everything", seed_everything, {"seed": 0}, {"seed": "nonneg_int"}),
    ("LivePlot", LivePlot, {}, {"every": "pos_int"}),
    ("train", train, {"step_fn": lambda s: 0.0, "steps": 2, "progress": False}, {
        "steps": "pos_int", "eval_every": "opt_pos_int", "checkpoint_every": "opt_pos_int", "resume": "bool",
        "progress": "bool"}),
]
CASES = [(label, fn, valid, arg, kind) for label, fn, valid, args in ENTRIES for arg, kind in args.items()]


@pytest.mark.parametrize("label, fn, valid", [(label, fn, valid) for label, fn, valid, _ in ENTRIES],
                         ids=[e[0] for e in ENTRIES])
def test_the_valid_call_works(label, fn, valid):
    fn(**valid)


@pytest.mark.parametrize("label, fn, valid, arg, kind", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_bad_value_gets_a_clear_error_naming_the_argument(label, fn, valid, arg, kind, data):
    bad = data.draw(bad_values(kind), label=arg)
    TALLY["tried"] += 1
    with pytest.raises((ValueError, TypeError)) as err:
        fn(**{**valid, arg: bad})
    assert arg in str(err.value), f"{label}({arg}={bad!r}): {type(err.value).__name__}: {err.value}"
    TALLY["clear"] += 1


# ---------------------------------------------------------------------------------------------- tensors


def _nan_rows(n=6, d=3):
    x = torch.randn(n, d)
    x[2, 1] = NAN
    return x


TENSOR_CASES = [
    ("frechet_distance(NaN)", lambda: metrics.frechet_distance(_nan_rows(), torch.randn(6, 3)), "feats_a"),
    ("frechet_distance(inf)", lambda: metrics.frechet_distance(torch.randn(6, 3), torch.full((6, 3), INF)),
     "feats_b"),
    ("frechet_distance(str)", lambda: metrics.frechet_distance("abc", torch.randn(6, 3)), "feats_a"),
    ("perplexity(str)", lambda: metrics.perplexity("abc"), "mean_nll_nats"),
    ("perplexity(vector)", lambda: metrics.perplexity(torch.ones(3)), "mean_nll_nats"),
    ("GPT ids >= vocab", lambda: GPT_MODEL(torch.tensor([[3, 11]])), "idx"),
    ("GPT negative ids", lambda: GPT_MODEL(torch.tensor([[-1, 2]])), "idx"),
    ("GPT float ids", lambda: GPT_MODEL(torch.tensor([[1.0, 2.0]])), "idx"),
    ("GPT.generate empty prompt", lambda: GPT_MODEL.generate(torch.zeros(1, 0, dtype=torch.long), 2), "idx"),
    ("GPT.generate ids >= vocab", lambda: GPT_MODEL.generate(torch.tensor([[12]]), 2), "idx"),
    ("GPT.generate top_k > V", lambda: GPT_MODEL.generate(torch.zeros(1, 1, dtype=torch.long), 2, top_k=12),
     "top_k"),
    ("sampling.generate top_k > V", lambda: sampling.generate(_bigram, [1], 2, top_k=12), "top_k"),
    ("sampling.generate empty prompt", lambda: sampling.generate(_bigram, [], 2), "prompt_ids"),
    ("sampling.generate float prompt", lambda: sampling.generate(_bigram, [1.7], 2), "prompt_ids"),
    ("decode([1.7])", lambda: TOKENIZER.decode([1.7]), "ids"),
    ("decode([99])", lambda: TOKENIZER.decode([99]), "vocabulary"),
    ("decode('abc')", lambda: TOKENIZER.decode("abc"), "ids"),
    ("get_batch(float data)", lambda: get_batch(TOKENS.float(), 8, 2), "data"),
    ("float 0/1 mask", lambda: MultiHeadAttention(8, 2, fused=True)(torch.randn(1, 4, 8),
                                                                    mask=torch.ones(4, 4)), "mask"),
    ("VAEConfig image_shape 2.5", lambda: VAEConfig(image_shape=(1, 2.5, 8)), "image_shape"),
    ("VAEConfig image_shape str", lambda: VAEConfig(image_shape="1x8x8"), "image_shape"),
    ("budget type mismatch", lambda: budget(full=10, fast=2.5), "fast"),
    ("train callbacks not a list", lambda: train(lambda s: 0.0, 2, callbacks=LivePlot(), progress=False),
     "callbacks"),
    ("train step returns None", lambda: train(lambda s: None, 2, progress=False), "step_fn"),
    ("train step returns a vector", lambda: train(lambda s: torch.ones(3), 2, progress=False), "step_fn"),
    ("train step returns a str", lambda: train(lambda s: {"loss": "low"}, 2, progress=False), "step_fn"),
    ("train step_fn not callable", lambda: train(3, 2, progress=False), "step_fn"),
    ("load_images shapes 10**9", lambda: load_images("shapes", limit=10**9), "limit"),
    ("load_images size=True", lambda: load_images("digits", size=True), "size"),
    ("VAEConfig latent_dim=True", lambda: VAEConfig(latent_dim=True), "latent_dim"),
    ("VAEConfig obs_sigma=nan", lambda: VAEConfig(obs_sigma=NAN), "obs_sigma"),
    ("VAEConfig hidden='256'", lambda: VAEConfig(hidden="256"), "hidden"),
    ("GPTConfig dropout='0.1'", lambda: GPTConfig(dropout="0.1"), "dropout"),
]


@pytest.mark.parametrize("label, call, word", TENSOR_CASES, ids=[c[0] for c in TENSOR_CASES])
def test_bad_tensors_and_listed_cases_get_clear_errors(label, call, word):
    TALLY["tried"] += 1
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert word in str(err.value), f"{label}: {type(err.value).__name__}: {err.value}"
    assert "Traceback" not in str(err.value) and len(str(err.value)) < 600
    TALLY["clear"] += 1


def test_sampling_generate_crops_to_a_gpts_own_block_size():
    """A prompt that outgrows the context used to fail mid-generation without block_size=."""
    out = sampling.generate(GPT_MODEL, torch.zeros(1, 30, dtype=torch.long), 10)
    assert out.shape == (1, 40)


def test_zzz_report_the_tally(capsys):
    with capsys.disabled():
        print(f"\nbad inputs tried: {TALLY['tried']}, clear errors: {TALLY['clear']}")
    assert TALLY["tried"] == TALLY["clear"]
    assert math.isfinite(TALLY["tried"])
