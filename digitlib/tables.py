"""Tables that put our numbers beside the report's, each row saying where its numbers come from,
and the sentences that judge a difference between two of our models from its interval.

Our numbers come with 95% bootstrap intervals over the test images (:mod:`digitlib.metrics`):
one training run is one sample, and a difference smaller than the intervals is not a result.
"""
from __future__ import annotations

import pandas as pd

from .metrics import Interval, compare, metric_intervals, paired_bootstrap

COLUMNS = {"position_accuracy": "digit (position) acc.", "character_accuracy": "character acc.",
           "sequence_accuracy": "sequence acc.", "mean_iou": "mean IoU"}
METRIC_LABELS = {"position_accuracy": "position accuracy", "character_accuracy": "character accuracy",
                 "sequence_accuracy": "sequence accuracy", "length_accuracy": "length accuracy",
                 "mean_iou": "mean IoU"}


def result_intervals(result, split: str = "test") -> dict[str, Interval] | None:
    """95% bootstrap intervals of every metric of a :class:`~digitlib.training.Result` on ``split``
    (from its saved predictions), or None for a split whose predictions were not kept."""
    path = result.folder / f"predictions_{split}.npz"
    if not path.exists():
        return None
    truth, pred = result.predictions(split)
    return metric_intervals(truth, pred)


def result_row(label: str, result, split: str = "test") -> dict:
    """One row for a :class:`~digitlib.training.Result`: its metrics on ``split`` (with their
    intervals where the predictions were kept) and what produced them."""
    exp = result.experiment
    row = {"model": label, "numbers from": f"ours: {result.data_source}, profile {result.profile}, "
                                          f"{exp['epochs']} epochs, batch {exp['batch_size']}, {split} set"}
    intervals = result_intervals(result, split) or {}
    row.update({COLUMNS[k]: intervals.get(k, result.metrics[split].get(k)) for k in COLUMNS})
    row["parameters"] = result.params
    row["CPU training time (s)"] = round(result.train_seconds, 1)
    return row


def quoted_row(label: str, numbers: dict, source: str, parameters=None) -> dict:
    """A row of published numbers (the report, Goodfellow et al.), labelled with their source."""
    row = {"model": label, "numbers from": source}
    row.update({COLUMNS[k]: numbers.get(k) for k in COLUMNS})
    row["parameters"] = parameters
    row["CPU training time (s)"] = None
    return row


def format_value(value, percent: bool) -> str:
    """A number or an :class:`~digitlib.metrics.Interval` as table text: ``43.1% [39.8, 46.5]`` for an
    accuracy interval, ``0.612 [0.601, 0.623]`` for IoU, ``""`` for a missing value."""
    if value is None or (not isinstance(value, Interval) and pd.isna(value)):
        return ""
    if isinstance(value, Interval):
        if percent:
            return f"{100 * value.estimate:.1f}% [{100 * value.low:.1f}, {100 * value.high:.1f}]"
        return f"{value.estimate:.3f} [{value.low:.3f}, {value.high:.3f}]"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def comparison_table(rows) -> pd.DataFrame:
    """A DataFrame of rows from :func:`result_row` and :func:`quoted_row`: accuracies as
    percentages, ours with their 95% intervals in brackets."""
    df = pd.DataFrame(rows)
    for key, col in COLUMNS.items():
        if col in df:
            df[col] = df[col].map(lambda v, pct=key != "mean_iou": format_value(v, pct))
    if "parameters" in df:
        df["parameters"] = df["parameters"].map(lambda v: "" if v is None or pd.isna(v) else f"{int(v):,}")
    if "CPU training time (s)" in df:
        df["CPU training time (s)"] = df["CPU training time (s)"].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.0f}")
    return df.set_index("model")


def paired_difference(result_a, result_b, metric: str = "sequence_accuracy", split: str = "test") -> Interval:
    """95% paired-bootstrap interval of ``metric(b) - metric(a)`` on the same ``split`` images."""
    truth_a, pred_a = result_a.predictions(split)
    truth_b, pred_b = result_b.predictions(split)
    if truth_a.digits.shape != truth_b.digits.shape or (truth_a.digits != truth_b.digits).any():
        raise ValueError(f"the two results were not evaluated on the same {split} images; a paired comparison "
                         "needs the same images (same data set and profile)")
    return paired_bootstrap(metric, truth_a, pred_a, pred_b)


def verdict(name_a: str, result_a, name_b: str, result_b, metric: str = "sequence_accuracy",
            split: str = "test") -> str:
    """One sentence judging ``b`` against ``a`` on ``metric``, computed from the paired interval:
    a difference, or "not resolved" when the interval includes 0 (:func:`~digitlib.metrics.compare`)."""
    diff = paired_difference(result_a, result_b, metric, split)
    return compare(name_a, name_b, diff, METRIC_LABELS[metric], as_points=metric != "mean_iou")
