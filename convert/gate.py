"""The quality gate: ``convert`` writes no bundle for a model that learned nothing (docs/training.md).

A model passes when, on the held-out test clips (or, for a dataset too small for a test split, over all clips by
k-fold cross-validation over groups: convert/crossval.py),
1. its int8 streaming accuracy is above chance with a one-sided binomial test at ``max_p_value``. Chance is the
   share of the largest class among the test clips (what always answering that class scores), and the test counts
   *clips*, not windows: the windows of one clip are not independent, so counting them would make a lucky model look
   significant. ``k`` is the window accuracy times the number of clips, rounded down;
2. it beats the single-frame baseline when the baseline was trained (equal is a fail unless both are perfect: the
   LSTM then adds nothing a single frame does not say);
3. the int8 model is faithful to the float one. For a trained encoder (the reference) the int8 encoder approximates
   the float one the head was trained on, so the test is top-1 agreement >= ``min_agreement``. For a frozen encoder
   quantized before training (the default) the head was trained on the int8 encoder's own features as well, the float
   model is no longer what the int8 one approximates (agreement measured 0.88 on the motion set while both were
   right on ~90% of the windows), and the test is that int8 accuracy is at most ``max_int8_drop`` below float.
Pure Python: tested without TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@dataclass
class GateResult:
    passed: bool
    chance: float
    clips: int
    correct_clips: int
    p_value: float
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "chance": self.chance, "test_clips": self.clips,
                "correct_clips": self.correct_clips, "p_value": self.p_value, "reasons": self.reasons}


def evaluate(accuracy: float, test_labels: list[int], agreement: float, min_agreement: float, max_p_value: float,
             baseline_accuracy: float | None = None, float_accuracy: float | None = None,
             max_int8_drop: float | None = None, what: str = "held-out") -> GateResult:
    """``test_labels``: the label of every held-out clip (of every clip for a cross-validated estimate, ``what``).
    With ``max_int8_drop`` (a frozen, pre-quantized encoder) the int8 check is the accuracy drop against
    ``float_accuracy``, else top-1 ``agreement``."""
    n = len(test_labels)
    counts: dict[int, int] = {}
    for y in test_labels:
        counts[y] = counts.get(y, 0) + 1
    chance = max(counts.values()) / n if n else 1.0
    k = int(math.floor(accuracy * n + 1e-9))
    p = binomial_sf(k, n, chance)
    reasons = []
    if p > max_p_value:
        reasons.append(f"{what} accuracy {100 * accuracy:.1f}% on {n} clips is not clearly above chance "
                       f"({100 * chance:.1f}%, p = {p:.2g} > {max_p_value:g})")
    if baseline_accuracy is not None and (accuracy < baseline_accuracy or
                                          (accuracy == baseline_accuracy and accuracy < 1.0)):
        reasons.append(f"{what} accuracy {100 * accuracy:.1f}% is not above the single-frame baseline's "
                       f"{100 * baseline_accuracy:.1f}%: the model does not use motion")
    if max_int8_drop is not None and float_accuracy is not None:
        if accuracy < float_accuracy - max_int8_drop:
            reasons.append(f"int8 accuracy {100 * accuracy:.1f}% is more than {100 * max_int8_drop:.0f} points below "
                           f"the float model's {100 * float_accuracy:.1f}%")
    elif agreement < min_agreement:
        reasons.append(f"int8 agreement with the float model is {agreement:.3f} < {min_agreement}")
    return GateResult(not reasons, chance, n, k, p, reasons)
