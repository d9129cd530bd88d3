"""Chapter 11's checkers reject the near-misses a learner is likely to write."""

import torch

from aigc_course.exercises import ch11


def test_masking_rule_rejects_mask_only_and_swapped_bands():
    assert ch11.masking_rule(lambda ids, c, a, r, m: torch.where(c, m, ids)).status == "failed"
    swapped = lambda ids, c, a, r, m: torch.where(c & (a < 0.8), m, torch.where(c & (a >= 0.9), r, ids))
    assert ch11.masking_rule(swapped).status == "failed"


def test_lora_forward_rejects_a_missing_scale_and_a_missing_bias():
    assert ch11.lora_forward(lambda x, W, b, A, B, al: x @ W.T + b + (x @ A.T) @ B.T).status == "failed"
    assert ch11.lora_forward(lambda x, W, b, A, B, al: x @ W.T + al / A.shape[0] * (x @ A.T) @ B.T).status \
        == "failed"


def test_prompt_targets_rejects_an_off_by_one():
    assert ch11.prompt_targets(lambda ids, n: [-100 if t < n else ids[t + 1]
                                               for t in range(len(ids) - 1)]).status == "failed"


def test_lora_parameters_rejects_the_full_matrix():
    assert ch11.lora_parameters(lambda i, o, r: i * o).status == "failed"
    assert ch11.lora_parameters(lambda i, o, r: r * (i + o)).status == "passed"
