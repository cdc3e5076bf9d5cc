"""Figures the chapters draw. Each function returns the matplotlib Figure it made."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .data.boxes import ltwh_to_xyxy
from .data.labels import decode_digits


def show_sequences(data, n: int = 4, title: str | None = None):
    """Show the first ``n`` samples of a :class:`~digitlib.data.DigitSequences` with their labels.

    The caption of each panel is the five-position label (blank = 10) and the number it reads.
    """
    n = min(n, len(data))
    fig, axes = plt.subplots(n, 1, figsize=(6, 1.35 * n), squeeze=False)
    for ax, i in zip(axes[:, 0], range(n)):
        image = data.images[i]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        label = ", ".join(str(int(d)) for d in data.digits[i])
        ax.set_title(f"digits = [{label}]   length = {int(data.lengths[i])}   reads \"{decode_digits(data.digits[i])}\"",
                     fontsize=9, loc="left")
        ax.set_xticks(np.arange(0, image.shape[1] + 1, 28) if image.ndim == 2 else [])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def draw_boxes(ax, boxes, labels=None, colour="lime", linestyle="-"):
    """Draw xyxy ``boxes`` (k, 4) on ``ax``, skipping blanks (negative boxes); label them if given."""
    for j, box in enumerate(np.asarray(boxes)):
        if np.all(box < 0):
            continue
        x0, y0, x1, y1 = box
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour,
                                   linewidth=1.5, linestyle=linestyle))
        if labels is not None:
            ax.text(x0, y0 - 1, str(int(labels[j])), color=colour, fontsize=8, va="bottom",
                    bbox=dict(facecolor="black", alpha=0.5, pad=0.5, edgecolor="none"))


def _image_grid(n: int, columns: int, cell_size):
    """A figure with ``n`` image panels (axes off) in rows of ``columns``; returns (fig, axes list)."""
    columns = max(1, min(columns, n))
    rows = max(1, int(np.ceil(n / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(cell_size[0] * columns, cell_size[1] * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, list(axes.flat)


def show_house_numbers(data, n: int = 12, columns: int = 6, title: str | None = None):
    """A grid of house-number crops with their digit boxes drawn and labels printed."""
    n = min(n, len(data))
    fig, axes = _image_grid(n, columns, (1.9, 2.1))
    for ax, i in zip(axes, range(n)):
        ax.imshow(data.images[i])
        draw_boxes(ax, data.boxes[i], data.digits[i])
        ax.set_title(f"\"{decode_digits(data.digits[i])}\"", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_digit_histograms(histograms, benford=None, title: str | None = None):
    """Per-position class histograms (5, 11) as five bar charts; Benford's law over position 1.

    Class 10 is drawn as "blank". ``benford``: expected leading-digit frequencies for 1-9.
    """
    histograms = np.asarray(histograms)
    fig, axes = plt.subplots(1, histograms.shape[0], figsize=(15, 2.8), sharey=True)
    ticks = [str(d) for d in range(10)] + ["blank"]
    for p, ax in enumerate(axes):
        freq = histograms[p] / max(histograms[p].sum(), 1)
        ax.bar(range(11), freq, color=["tab:blue"] * 10 + ["tab:gray"])
        ax.set_xticks(range(11), ticks, rotation=90, fontsize=8)
        ax.set_title(f"position {p + 1}", fontsize=10)
        if p == 0 and benford is not None:
            lead = histograms[0, 1:10].sum() / max(histograms[0].sum(), 1)
            ax.plot(range(1, 10), np.asarray(benford) * lead, "o-", color="tab:red", ms=3, label="Benford")
            ax.legend(fontsize=8)
    axes[0].set_ylabel("fraction of images")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_length_histogram(counts, title: str | None = None):
    """Bar chart of sequence lengths 1-5 from ``counts`` of lengths 0-5."""
    counts = np.asarray(counts)
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    ax.bar(range(1, len(counts)), counts[1:] / max(counts.sum(), 1), color="tab:blue")
    ax.set_xlabel("digits in the number")
    ax.set_ylabel("fraction of images")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_history(history: dict, title: str | None = None):
    """The report's training curves (its Figs. 16-18): total loss, first-digit accuracy and, for
    house numbers, the box MSE, each for training and validation, by epoch."""
    panels = [("loss", "total loss"), ("digit_1_accuracy", "first-digit accuracy")]
    if "boxes_mse" in history:
        panels.append(("boxes_mse", "box MSE (0..1 coordinates)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3))
    for ax, (key, label) in zip(np.atleast_1d(axes), panels):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], "o-", ms=3, label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s--", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_predictions(data, predictions, indices, columns: int = 4, title: str | None = None):
    """A gallery in the style of the report's Figs. 19-20: true boxes in green, predicted boxes in
    red (dashed), and the true and predicted labels (``[4, 2, 10, 10, 10]``, 10 = blank) printed."""
    indices = list(indices)
    fig, axes = _image_grid(max(1, len(indices)), columns, (2.6, 3.0))
    for ax, i in zip(axes, indices):
        image = data.images[i]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        if data.boxes is not None:
            draw_boxes(ax, data.boxes[i], colour="lime")
        if predictions.boxes is not None:
            shown = np.where((data.digits[i] == 10)[:, None], -1.0, predictions.boxes[i])
            draw_boxes(ax, shown, colour="red", linestyle="--")
        ok = np.array_equal(data.digits[i], predictions.digits[i])
        ax.set_title(f"true {list(map(int, data.digits[i]))}\npred {list(map(int, predictions.digits[i]))}",
                     fontsize=7, color="darkgreen" if ok else "darkred")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_format1_samples(folder, n: int = 6, columns: int = 3, title: str | None = None):
    """Original format-1 images (before cropping) with their annotated boxes, as in the report's Fig. 5."""
    from pathlib import Path

    from PIL import Image

    from .data.digitstruct import read_digit_struct
    from .data.labels import from_svhn_label

    folder = Path(folder)
    struct = read_digit_struct(folder / "digitStruct.mat", progress=False)
    n = min(n, len(struct))
    fig, axes = _image_grid(n, columns, (3.2, 2.2))
    for ax, i in zip(axes, range(n)):
        rec = struct[i]
        with Image.open(folder / rec["name"]) as img:
            ax.imshow(np.asarray(img))
        draw_boxes(ax, ltwh_to_xyxy(rec["left"], rec["top"], rec["width"], rec["height"]), from_svhn_label(rec["label"]))
        ax.set_title(f"{rec['name']}  ({img.width}x{img.height})", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_coverage(coverage, accuracy, label: str, ax=None):
    """Sequence accuracy against coverage (:func:`digitlib.metrics.coverage_curve`): how well the
    reader does when it answers only for its most confident share of the images."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(100 * np.asarray(coverage), np.asarray(accuracy), label=label)
    ax.set_xlabel("coverage: share of images answered (%)")
    ax.set_ylabel("sequence accuracy on them")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax



def plot_weight_study(intervals: dict, report: dict, label: str):
    """Chapter 7's trade-off: sequence accuracy against mean IoU, one point per box-loss weight.

    ``intervals``: ``{weight: {"sequence_accuracy": Interval, "mean_iou": Interval}}`` (e.g.
    :func:`digitlib.tables.result_intervals` of each run), drawn with their 95% intervals as error
    bars; ``report``: ``{weight: {"sequence_accuracy": float, "mean_iou": float}}``, the report's
    Fig. 15, drawn for the weights it has. Returns the figure."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    weights = list(intervals)

    def column(metric):  # (estimate, distance down, distance up) per weight
        values = np.array([[i.estimate, i.low, i.high] for i in (intervals[w][metric] for w in weights)])
        return values[:, 0], [values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]]

    (iou, iou_err), (seq, seq_err) = column("mean_iou"), column("sequence_accuracy")
    ax.errorbar(iou, seq, xerr=iou_err, yerr=seq_err, fmt="o-", capsize=3, label=label)
    quoted = [w for w in weights if w in report]
    ax.plot([report[w]["mean_iou"] for w in quoted], [report[w]["sequence_accuracy"] for w in quoted],
            "s--", label="report (real SVHN)")
    for w, x, y in zip(weights, iou, seq):
        ax.annotate(f"w={w:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("validation mean IoU")
    ax.set_ylabel("validation sequence accuracy")
    ax.legend(fontsize=8)
    return fig
