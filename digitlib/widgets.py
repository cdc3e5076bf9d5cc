"""Interactive explorers for JupyterLab, each with a static figure for the rendered book.

Both functions first draw a static matplotlib figure (what the rendered book and nbval show), then
return an ipywidgets control that redraws on every change when a live kernel is attached.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: kernels the explorer offers, 3x3
KERNELS = {
    "vertical edges": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float),
    "horizontal edges": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=float),
    "blur": np.full((3, 3), 1 / 9),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float),
}


def feature_map(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'Valid' cross-correlation of a grey image with a kernel, as a Conv2D layer computes it."""
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(np.asarray(image, float), kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, kernel)


def _draw(axes, image, kernel, name):
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=9)
    axes[1].imshow(kernel, cmap="coolwarm", vmin=-np.abs(kernel).max(), vmax=np.abs(kernel).max())
    for (i, j), v in np.ndenumerate(kernel):
        axes[1].text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=8)
    axes[1].set_title(f"kernel: {name}", fontsize=9)
    fmap = feature_map(image, kernel)
    axes[2].imshow(np.maximum(fmap, 0), cmap="magma")
    axes[2].set_title("feature map after ReLU", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def kernel_explorer(image: np.ndarray, kernels=("vertical edges", "horizontal edges", "blur")):
    """Static figure of ``image`` filtered by a few kernels, plus a live picker/editor widget.

    Returns the ipywidgets control (None when ipywidgets is not installed).
    """
    fig, axes = plt.subplots(len(kernels), 3, figsize=(9, 2.2 * len(kernels)), squeeze=False)
    for row, name in zip(axes, kernels):
        _draw(row, image, KERNELS[name], name)
    fig.tight_layout()
    plt.show()
    try:
        import ipywidgets as w
    except ImportError:
        return None
    cells = [w.FloatText(value=0.0, layout=w.Layout(width="70px")) for _ in range(9)]
    picker = w.Dropdown(options=list(KERNELS), value=kernels[0], description="kernel")
    out = w.Output()

    def load(change=None):
        for c, v in zip(cells, KERNELS[picker.value].ravel()):
            c.value = float(v)

    def redraw(change=None):
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 3, figsize=(9, 2.4))
            _draw(axes, image, np.array([c.value for c in cells]).reshape(3, 3), "edited")
            plt.show()

    picker.observe(load, names="value")
    for c in cells:
        c.observe(redraw, names="value")
    load()
    return w.VBox([picker, w.GridBox(cells, layout=w.Layout(grid_template_columns="repeat(3, 75px)")), out])


def try_the_model(model, data, predict_fn, indices=(0, 1, 2, 3)):
    """Predict digits and boxes for test images: a static gallery of ``indices``, plus a slider to
    pick any test image in a live kernel. ``predict_fn(model, data, indices)`` returns predictions."""
    from .plots import show_predictions

    chosen = np.sort(np.asarray(indices))
    show_predictions(data.read(chosen), predict_fn(model, data, chosen), range(len(chosen)), columns=len(chosen))
    plt.show()
    try:
        import ipywidgets as w
    except ImportError:
        return None
    out = w.Output()
    slider = w.IntSlider(value=int(chosen[0]), min=0, max=len(data) - 1, description="test image")

    def redraw(change=None):
        with out:
            out.clear_output(wait=True)
            i = np.array([slider.value])
            show_predictions(data.read(i), predict_fn(model, data, i), [0], columns=1)
            plt.show()

    slider.observe(redraw, names="value")
    return w.VBox([slider, out])
