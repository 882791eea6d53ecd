"""A bundle's report as a person reads it: labels, the accuracy and which estimate it is, the confusion matrix,
the clips per class it was trained on, who signed it and when it was made. ``edge-lrcn info --report`` prints it as
text; the page shows the same dict (``GET /api/model``)."""

from __future__ import annotations

import re

from .bundle import Bundle


def _clips_per_class(dataset: dict) -> dict[str, int]:
    """From the report's ``dataset.summary``: ``200 clips in 5 classes (down: 40, left: 40, ...)``."""
    inside = re.search(r"\((.*)\)", str(dataset.get("summary") or ""))
    found = re.findall(r"([^\s,:]+): (\d+)", inside.group(1)) if inside else []
    return {label: int(n) for label, n in found}


def _estimate(report: dict, manifest: dict) -> dict:
    cv = report.get("cross_validation")
    if isinstance(cv, dict) and cv.get("accuracy") is not None:
        return {"accuracy": cv["accuracy"], "estimate": f"cross-validated ({cv.get('folds', '?')} folds)",
                "confusion_matrix": cv.get("confusion_matrix")}
    int8 = report.get("int8_streaming") or {}
    val = manifest.get("validation") or {}
    clips = (report.get("gate") or {}).get("test_clips") or val.get("test_clips")
    return {"accuracy": int8.get("accuracy", val.get("int8_accuracy")),
            "estimate": f"held-out: {clips} test clips never trained on (int8, streaming)" if clips else "unknown",
            "confusion_matrix": int8.get("confusion_matrix")}


def summary(bundle: Bundle, signature: dict | None = None) -> dict:
    m, r = bundle.manifest, bundle.report or {}
    gate = r.get("gate") or {}
    return {"model": bundle.model_id, "labels": list(bundle.labels), "created": m.get("created"),
            **_estimate(r, m), "chance": gate.get("chance", (m.get("validation") or {}).get("chance")),
            "baseline_single_frame": (r.get("baseline_single_frame") or {}).get("accuracy"),
            "gate_passed": gate.get("passed"), "degraded": (m.get("validation") or {}).get("degraded"),
            "clips_per_class": _clips_per_class(r.get("dataset") or {}),
            "signer": (signature or {}).get("signer"), "signed_at": (signature or {}).get("signed_at")}


def as_text(s: dict) -> str:
    def pct(x) -> str:
        return "?" if x is None else f"{100 * x:.1f}%"

    lines = [f"model {s['model']}, made {s['created'] or '?'}"
             + (f", signed by {s['signer']} ({s['signed_at']})" if s.get("signer") else ", not signed"),
             f"labels: {', '.join(s['labels'])}",
             f"accuracy {pct(s['accuracy'])} ({s['estimate']}); chance {pct(s['chance'])}, "
             f"a single frame {pct(s['baseline_single_frame'])}"
             + ("; the quality gate was NOT passed" if s.get("degraded") else "")]
    if s["clips_per_class"]:
        lines.append("trained on: " + ", ".join(f"{k} {n}" for k, n in s["clips_per_class"].items()) + " clips")
    cm = s.get("confusion_matrix")
    if cm:
        width = max(len(x) for x in s["labels"] + ["true\\said"])
        lines.append("confusion over the test windows (rows: the true label, columns: what the model said):")
        lines.append(" " * (width + 1) + " ".join(f"{x[:6]:>6}" for x in s["labels"]))
        lines += [f"{lab:>{width}} " + " ".join(f"{n:>6}" for n in row)
                  for lab, row in zip(s["labels"], cm, strict=False)]
    return "\n".join(lines)
