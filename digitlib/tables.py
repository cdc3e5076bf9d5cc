"""Tables that put our numbers beside the report's, each row saying where its numbers come from."""
from __future__ import annotations

import pandas as pd

COLUMNS = {"position_accuracy": "digit (position) acc.", "character_accuracy": "character acc.",
           "sequence_accuracy": "sequence acc.", "mean_iou": "mean IoU"}


def result_row(label: str, result, split: str = "test") -> dict:
    """One row for a :class:`~digitlib.training.Result`: its metrics on ``split`` and what produced them."""
    row = {"model": label, "numbers from": f"ours: {result.data_source}, profile {result.profile}, "
                                          f"{result.experiment['epochs']} epochs, {split} set"}
    row.update({COLUMNS[k]: result.metrics[split].get(k) for k in COLUMNS})
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


def comparison_table(rows) -> pd.DataFrame:
    """A DataFrame of rows from :func:`result_row` and :func:`quoted_row`, accuracies as percentages."""
    df = pd.DataFrame(rows)
    for col in COLUMNS.values():
        if col in df:
            if col == "mean IoU":
                df[col] = df[col].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.3f}")
            else:
                df[col] = df[col].map(lambda v: "" if v is None or pd.isna(v) else f"{100 * v:.1f}%")
    if "parameters" in df:
        df["parameters"] = df["parameters"].map(lambda v: "" if v is None or pd.isna(v) else f"{int(v):,}")
    if "CPU training time (s)" in df:
        df["CPU training time (s)"] = df["CPU training time (s)"].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.0f}")
    return df.set_index("model")
