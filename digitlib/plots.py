"""Figures the chapters draw. Each function returns the matplotlib Figure it made."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

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
