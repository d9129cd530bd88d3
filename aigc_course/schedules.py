"""Learning-rate schedules for ``torch.optim.lr_scheduler.LambdaLR`` (chapter 07).

Each is a frozen dataclass, not a lambda, so the scheduler's ``state_dict`` (and with it a checkpoint) can
hold it. :class:`WarmupCosine` is also importable from :mod:`aigc_course.train`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aigc_course.validation import check_fields


@dataclass(frozen=True)
class WarmupCosine:
    """A learning-rate multiplier for ``LambdaLR`` (chapter 07): linear warm-up, then cosine decay to ``floor``.

        m(s) = min(1, (s + 1) / warmup) · ( floor + (1 − floor) · ½ (1 + cos(π · min(s, steps) / steps)) )

    for update s = 0, 1, ...; m reaches ``floor`` at s = ``steps`` and stays there. A frozen dataclass, not a
    lambda, so the scheduler's ``state_dict`` (and with it a checkpoint) can hold it.
    """

    steps: int                 # length of the decay: the run's number of updates
    warmup: int = 1            # updates of linear warm-up (1 = none)
    floor: float = 0.1         # the final multiplier, as a share of the peak learning rate

    def __post_init__(self) -> None:
        check_fields(self)  # every field of the annotated type (TypeError / ValueError naming it)
        if not isinstance(self.steps, int) or not isinstance(self.warmup, int) or min(self.steps, self.warmup) < 1:
            raise ValueError(f"steps and warmup must be positive ints, got steps={self.steps!r}, "
                             f"warmup={self.warmup!r}")
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"floor must be in [0, 1] (a share of the peak learning rate), got {self.floor}")

    def __call__(self, s: int) -> float:
        decay = 0.5 * (1 + math.cos(math.pi * min(s, self.steps) / self.steps))
        return min(1.0, (s + 1) / self.warmup) * (self.floor + (1 - self.floor) * decay)
