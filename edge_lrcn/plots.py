"""PNG plots (training curves, confusion matrices) with matplotlib: the ``convert`` or ``metrics`` extra."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_curves(history, baseline_history, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for hist, tag in ((history, "LRCN"), (baseline_history, "baseline")):
        if not hist:
            continue
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            ax.plot(hist.get(key, []), label=f"{tag} train")
            ax.plot(hist.get("val_" + key, []), "--", label=f"{tag} val")
            ax.set_xlabel("epoch")
            ax.set_title(key)
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, labels, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
