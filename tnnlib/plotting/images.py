"""Grids of images (digits, clothes, photographs)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np


def show_images(images, labels=None, class_names=None, n_cols: int = 10, size: float = 1.0, title=None):
    """Show images in a grid; return the Figure.

    Parameters
    ----------
    images : array, shape (N, H, W) or (N, H*W) with H = W, values in [0, 1]
    labels : array of int, shape (N,), optional; written above each image
    class_names : sequence of str, optional; maps a label to a name
    n_cols : images per row
    size : inches per image
    """
    images = np.asarray(images)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"flattened images must be square, got {images.shape[1]} pixels each")
        images = images.reshape(-1, side, side)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"expected a non-empty stack of images (N, H, W), got shape {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    n_cols = min(n_cols, len(images))
    n_rows = math.ceil(len(images) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows * 1.15), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(images):
            continue
        ax.imshow(images[k], cmap="gray_r" if images[k].mean() < 0.5 else "gray", vmin=0, vmax=1)
        if labels is not None:
            label = int(labels[k])
            ax.set_title(class_names[label] if class_names is not None else str(label), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
