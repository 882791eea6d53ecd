"""Groups of clips (one person, one session) and the splits and folds that never cut through a group.

Clips of one person or one recording session look alike (the same clothes, light, background, often overlapping
frames): a model tested on a clip whose sibling it trained on is tested on what it saw, and its accuracy is
optimistic. So every split here keeps a group whole: train, validation and test, and the folds of cross-validation.
A clip without a group is a group of its own (dataset.py ``group_of``, ``--groups``); data without any group splits
exactly as before (:func:`convert.dataset.split_by_clip`).

Also here: the plan, decided before training, of how accuracy will be estimated (a held-out test split, or k-fold
cross-validation over groups when the test split would be small) and whether the dataset can pass the gate at all.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from . import dataset as D
from .gate import binomial_sf

MIN_TEST_CLIPS = 30  # a held-out test split smaller than this: cross-validation instead
FOLDS = 5
REALISTIC_ACCURACY = 0.9  # the accuracy a good model reaches on a small set: what the dataset advice assumes


def key(clip: D.Clip) -> str:
    """The clip's group, or a name of its own when it has none ("\\0" never starts a folder or a CSV cell)."""
    return clip.group or f"\0{clip.path}"


def by_group(clips: list[D.Clip]) -> dict[str, list[D.Clip]]:
    out: dict[str, list[D.Clip]] = {}
    for c in clips:
        out.setdefault(key(c), []).append(c)
    return out


def grouped(clips: list[D.Clip]) -> bool:
    """Whether any two clips share a group."""
    return any(len(g) > 1 for g in by_group(clips).values())


def _want(n: int, share: float) -> int:
    """Clips of a class of ``n`` that a split of ``share`` should take (split_by_clip's own rule)."""
    return int(round(n * share)) if n >= 3 else 0


def split(clips: list[D.Clip], val: float = 0.15, test: float = 0.15, seed: int = 0):
    """Train/validation/test with no group in two of them. Groups are taken in a seeded random order; one goes to
    test (then validation) when it brings every class it holds closer to that split's share (a group more than
    twice what a class still needs stays out) and leaves the class a training clip, else to train. Ungrouped data:
    :func:`convert.dataset.split_by_clip`, unchanged."""
    if not grouped(clips):
        return D.split_by_clip(clips, val, test, seed)
    groups = by_group(clips)
    names = sorted(groups)
    n = Counter(c.label for c in clips)
    target = {"test": {c: _want(k, test) for c, k in n.items()}, "val": {c: _want(k, val) for c, k in n.items()}}
    placed = {"test": Counter(), "val": Counter()}
    left = Counter(n)  # clips of each class not (yet) in validation or test
    out: dict[str, list[D.Clip]] = {"train": [], "val": [], "test": []}
    for i in np.random.default_rng(seed).permutation(len(names)):
        members = groups[names[i]]
        count = Counter(c.label for c in members)
        dest = next((s for s in ("test", "val") if all(k < 2 * (target[s][c] - placed[s][c]) and left[c] - k >= 1
                                                      for c, k in count.items())), "train")
        if dest != "train":
            placed[dest].update(count)
            left.subtract(count)
        out[dest] += members
    return out["train"], out["val"], out["test"]


def folds(clips: list[D.Clip], k: int = FOLDS, seed: int = 0) -> list[list[D.Clip]]:
    """``k`` folds of whole groups (fewer when there are fewer groups), each class spread over them: groups are
    placed largest first (ties in a seeded random order), each into the fold holding the fewest clips of its
    classes. Every clip is in exactly one fold."""
    groups = by_group(clips)
    names = sorted(groups)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order.sort(key=lambda g: -len(groups[g]))
    k = min(k, len(groups))
    held = [Counter() for _ in range(k)]
    out: list[list[D.Clip]] = [[] for _ in range(k)]
    for name in order:
        count = Counter(c.label for c in groups[name])
        f = min(range(k), key=lambda j: (sum(held[j][c] for c in count), sum(held[j].values()), j))
        held[f].update(count)
        out[f] += groups[name]
    return out


@dataclass
class Plan:
    """How accuracy will be estimated, decided before training, and why a dataset cannot pass (``problems``)."""

    method: str  # "holdout" or "cross-validation"
    folds: int = 0
    test_clips: int = 0  # clips the gate will count
    problems: list[str] = field(default_factory=list)
    advice: str = ""

    def describe(self) -> str:
        if self.method == "holdout":
            return f"held-out test split ({self.test_clips} clips)"
        return f"{self.folds}-fold cross-validation over groups ({self.test_clips} clips, each tested once)"


def plan(clips: list[D.Clip], labels: list[str], test: float, max_p_value: float, seed: int = 0,
         how: str = "auto") -> Plan:
    """``how`` auto: a held-out test split when it would hold at least ``MIN_TEST_CLIPS`` clips and every class has 3
    groups or more, else k-fold cross-validation over groups; or "holdout", or "cv". With the problems that make the
    gate impossible to pass, each saying what to record."""
    n = Counter(c.label for c in clips)
    group_count = {c: len({key(x) for x in clips if x.label == c}) for c in n}
    held_out = split(clips, 0.15, test, seed)[2]
    if how == "holdout" or (how == "auto" and len(held_out) >= MIN_TEST_CLIPS and min(group_count.values()) >= 3):
        out = Plan("holdout", test_clips=len(held_out))
        gated = Counter(c.label for c in held_out)
    else:
        out = Plan("cross-validation", folds=min(FOLDS, len(by_group(clips))), test_clips=len(clips))
        gated = n
        for c, g in sorted(group_count.items()):
            if g < 2:
                out.problems.append(f"class {labels[c]!r} has all its {n[c]} clips in one group: no model can be "
                                    f"tested on it without having seen that group; record it with at least 2 more "
                                    f"people or sessions")
    total = sum(gated.values())
    chance = max(gated.values()) / total if total else 1.0
    best = binomial_sf(total, total, chance)
    if best > max_p_value:
        out.problems.append(f"{total} {'test ' if out.method == 'holdout' else ''}clips are too few: even all of them "
                            f"right would not be clearly above chance ({100 * chance:.0f}%, p = {best:.2g} > "
                            f"{max_p_value:g})")
    need = clips_needed(len(n), max_p_value)
    if out.method != "holdout" and min(n.values()) < need:
        out.advice = (f"at {100 * REALISTIC_ACCURACY:.0f}% accuracy the gate needs about {need} clips per class "
                      f"({min(n.values())} in the smallest class, {labels[min(n, key=n.get)]!r}); record more")
    return out


def clips_needed(classes: int, max_p_value: float) -> int:
    """Clips per class (balanced) at which ``REALISTIC_ACCURACY`` is clearly above chance for the gate."""
    for per in range(1, 1000):
        total = per * classes
        if binomial_sf(int(math.floor(REALISTIC_ACCURACY * total + 1e-9)), total, 1 / classes) <= max_p_value:
            return per
    return 1000
