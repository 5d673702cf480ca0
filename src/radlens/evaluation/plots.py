"""Report figures (matplotlib object API on the Agg canvas), returned as PNG bytes.

ROC and precision-recall curves per label (the first `max_labels` by number of positives drawn in
colour with their AUROC/AP, the rest in grey), a reliability diagram with the histogram of
predictions, and a confusion matrix for single-label tasks.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from radlens.evaluation import calibration
from radlens.evaluation.frames import PredictionSet

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_COLOURED = 10


def _figure(figsize: tuple[float, float]) -> Figure:
    """A figure on the Agg canvas; matplotlib is imported only when a report is drawn."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _drawable(ps: PredictionSet) -> list[int]:
    """Labels with both classes present, most positives first."""
    n_pos = np.nansum(ps.y == 1.0, axis=0)
    n_neg = np.nansum(ps.y == 0.0, axis=0)
    ok = [j for j in range(len(ps.label_names)) if n_pos[j] > 0 and n_neg[j] > 0]
    return sorted(ok, key=lambda j: -n_pos[j])


def _curves(ps: PredictionSet, kind: str, table_values: np.ndarray) -> bytes:
    fig = _figure((6.0, 5.0))
    ax = fig.subplots()
    labels = _drawable(ps)
    for rank, j in enumerate(labels):
        known = ~np.isnan(ps.y[:, j])
        y, s = ps.y[known, j], ps.scores[known, j]
        if kind == "roc":
            xs, ys, _ = roc_curve(y, s)
        else:
            prec, rec, _ = precision_recall_curve(y, s)
            xs, ys = rec, prec
        if rank < MAX_COLOURED:
            name = f"{ps.label_names[j]} ({table_values[j]:.3f})"
            ax.plot(xs, ys, lw=1.5, label=name, drawstyle="steps-post" if kind == "pr" else None)
        else:
            ax.plot(xs, ys, lw=0.6, color="0.75")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=0.8)
        ax.set_xlabel("1 - specificity (false positive rate)")
        ax.set_ylabel("sensitivity (true positive rate)")
        ax.set_title(f"ROC curves, {ps.split} (AUROC in brackets)")
    else:
        ax.set_xlabel("recall (sensitivity)")
        ax.set_ylabel("precision (PPV)")
        ax.set_title(f"Precision-recall curves, {ps.split} (AP in brackets)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    if labels:
        extra = len(labels) - MAX_COLOURED
        title = f"+{extra} more in grey" if extra > 0 else None
        ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left", title=title)
    else:
        ax.text(0.5, 0.5, "no label has both classes", ha="center", va="center")
    ax.grid(alpha=0.3)
    return _png(fig)


def roc_figure(ps: PredictionSet, auroc: np.ndarray) -> bytes:
    return _curves(ps, "roc", auroc)


def pr_figure(ps: PredictionSet, auprc: np.ndarray) -> bytes:
    return _curves(ps, "pr", auprc)


def calibration_figure(
    ps: PredictionSet, n_bins: int = 10, calibrated: np.ndarray | None = None
) -> bytes:
    """Pooled reliability diagram (all labels one-vs-rest) with a histogram of predictions."""
    fig = _figure((6.0, 6.0))
    ax, hist = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    known = ~np.isnan(ps.y)
    curve = calibration.reliability_curve(ps.y[known], ps.scores[known], n_bins)
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=0.8, label="perfect calibration")
    ok = curve.count > 0
    ax.plot(
        curve.mean_predicted[ok],
        curve.observed[ok],
        marker="o",
        label=f"model (ECE {curve.ece():.3f})",
    )
    if calibrated is not None:
        cal = calibration.reliability_curve(ps.y[known], calibrated[known], n_bins)
        ok2 = cal.count > 0
        ax.plot(
            cal.mean_predicted[ok2],
            cal.observed[ok2],
            marker="s",
            label=f"temperature-scaled (ECE {cal.ece():.3f})",
        )
    ax.set_ylabel("observed frequency")
    ax.set_title(f"Reliability, {ps.split} (all labels pooled, {n_bins} equal-width bins)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    hist.bar((curve.edges[:-1] + curve.edges[1:]) / 2, curve.count, width=1.0 / n_bins, color="0.6")
    hist.set_xlabel("predicted probability")
    hist.set_ylabel("cases")
    return _png(fig)


def confusion_figure(ps: PredictionSet, threshold: float | None = None) -> bytes | None:
    """Confusion matrix for single-label tasks (argmax; binary at `threshold` when given)."""
    if ps.target is None or ps.probs is None:
        return None
    n = len(ps.class_names)
    if ps.task == "binary" and n == 2 and threshold is not None and np.isfinite(threshold):
        pred = (ps.probs[:, 1] >= threshold).astype(int)
        how = f"score >= {threshold:.3g}"
    else:
        pred = np.argmax(ps.probs, axis=1)
        how = "highest score"
    cm = confusion_matrix(ps.target, pred, labels=np.arange(n))
    size = min(2.5 + 0.5 * n, 10.0)
    fig = _figure((size + 1.0, size))
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(n), [str(c)[:18] for c in ps.class_names], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c)[:18] for c in ps.class_names])
    ax.set_xlabel(f"predicted ({how})")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix, {ps.split}")
    if n <= 12:
        top = cm.max() if cm.size else 0
        for i in range(n):
            for j in range(n):
                colour = "white" if cm[i, j] > top / 2 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color=colour)
    return _png(fig)
