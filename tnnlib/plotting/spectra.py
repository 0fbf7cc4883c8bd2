"""Singular-value spectra and low-rank reconstructions (lesson 02).

* :func:`plot_spectra` - singular values of several matrices side by side,
  and the energy a rank-``r`` truncation leaves out;
* :func:`plot_rank_approximations` - an image and its best rank-``r``
  approximations, with their relative errors and storage;
* :func:`show_image_rows` - rows of small images (e.g. digits and their
  reconstructions), one label per row.

Every function returns a :class:`matplotlib.figure.Figure` made without
pyplot, so a notebook shows it once (as the value of a cell) and nothing is
left open. The module also registers the figures of lesson 02 with
:func:`tnnlib.figures.figure`: ``svd_network``, ``singular_values`` and
``svd_photo_ranks``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from tnnlib import diagrams as dg
from tnnlib.data import load_mnist, load_photo
from tnnlib.figures import figure
from tnnlib.plotting.common import COLORS, canvas
from tnnlib.svd import low_rank_approx, low_rank_params, rank_for_energy

__all__ = ["plot_spectra", "plot_rank_approximations", "show_image_rows"]


def _singular_values(values, name) -> np.ndarray:
    s = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"{name}: expected a non-empty vector of singular values, got shape {s.shape}")
    if (s < 0).any() or np.any(np.diff(s) > 1e-12 * s[0]):
        raise ValueError(f"{name}: singular values must be non-negative and in decreasing order")
    if s[0] == 0:
        raise ValueError(f"{name}: all singular values are zero")
    return s


def plot_spectra(spectra: Mapping[str, Sequence[float]], levels: Sequence[float] = (0.9, 0.95, 0.99),
                 floor: float = 1e-4, title: str | None = None) -> Figure:
    """Plot singular values and the energy left out by truncation, for several matrices.

    Left panel: ``s_k / s_1`` against ``k`` (log scale), so matrices of any
    size and scale compare. Right panel: the fraction of the energy
    ``sum_k s_k^2`` that the best rank-``r`` approximation leaves out,
    ``1 - E_r`` (log scale); its square root is the relative error
    ``||A - A_r||_F / ||A||_F`` (Eckart-Young). For each level of ``levels``
    a dashed line marks ``1 - level`` and a dot the smallest rank reaching it.

    Parameters
    ----------
    spectra : mapping name -> singular values
        Each a non-empty vector in decreasing order (e.g. ``S`` of an SVD).
    levels : energies in (0, 1) to mark, e.g. ``(0.9, 0.95, 0.99)``.
    floor : float
        Lower end of the right panel's axis (the energy left out drops to
        rounding level, or to exactly 0, at the numerical rank).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure with two axes.
    """
    if not spectra:
        raise ValueError("give at least one spectrum")
    fig = Figure(figsize=(10.0, 3.8))
    left, right = fig.subplots(1, 2)
    for color, (name, values) in zip(COLORS * 3, spectra.items()):
        s = _singular_values(values, name)
        k = np.arange(1, s.size + 1)
        energy = s ** 2
        left_out = np.append(np.cumsum(energy[::-1])[::-1][1:], 0.0) / energy.sum()  # 1 - E_r, r = 1..k
        left.semilogy(k, np.maximum(s / s[0], 1e-16), color=color, lw=1.8, label=name)
        keep = left_out > 0  # the last point is exactly 0: nothing left out
        right.semilogy(k[keep], left_out[keep], color=color, lw=1.8, label=name)
        for level in levels:
            r = rank_for_energy(s, level)
            if left_out[r - 1] > 0:
                right.plot([r], [left_out[r - 1]], "o", color=color, ms=5)
    for level in levels:
        right.axhline(1 - level, color="#777777", lw=0.9, ls="--")
        right.annotate(f"{level:.0%} kept", (1.0, 1 - level), xycoords=("axes fraction", "data"),
                       xytext=(-3, 2), textcoords="offset points", ha="right", va="bottom",
                       fontsize=8, color="#555555")
    left.set(xlabel="index $k$", ylabel="$s_k / s_1$", title="singular values")
    right.set(xlabel="rank $r$", ylabel=r"$1 - E_r$", ylim=(floor, 1.5),
              title="energy left out by the best rank-$r$ approximation")
    left.set_ylim(bottom=max(floor ** 2, 1e-12))
    for ax in (left, right):
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlim(left=0)
    left.legend(frameon=False, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_rank_approximations(image, ranks: Sequence, size: float = 2.6, cmap: str = "gray") -> Figure:
    """Show an image and its best rank-``r`` approximations side by side.

    Each panel is titled with the rank, the relative error
    ``||A - A_r||_F / ||A||_F`` and the storage of the factors,
    ``r (m + n)`` numbers, as a percentage of the ``m n`` pixels.

    Parameters
    ----------
    image : array, shape (m, n)
        A grayscale image (values in [0, 1]).
    ranks : sequence of int or None
        The ranks to show; ``None`` shows the image itself ("full").
    size : float
        Inches per panel.
    cmap : str
        Colour map of the images.

    Returns
    -------
    matplotlib.figure.Figure with one axes per rank.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"expected a grayscale image (a matrix), got shape {image.shape}")
    if len(ranks) == 0:
        raise ValueError("give at least one rank")
    m, n = image.shape
    norm = np.linalg.norm(image)
    fig = Figure(figsize=(size * len(ranks), size * n / m * 1.0 + 0.6))
    axes = np.atleast_1d(fig.subplots(1, len(ranks)))
    for ax, rank in zip(axes, ranks):
        if rank is None:
            approx, text = image, f"original\n{m * n:,} numbers"
        else:
            approx = low_rank_approx(image, rank)
            error = np.linalg.norm(image - approx) / norm
            storage = low_rank_params(m, n, rank) / (m * n)
            text = f"rank {rank}: error {error:.1%}\n{storage:.1%} of the numbers"
        ax.imshow(np.clip(approx, 0.0, 1.0), cmap=cmap, vmin=0.0, vmax=1.0)
        ax.set_title(text, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_image_rows(rows: Mapping[str, np.ndarray], size: float = 0.9, cmap: str = "gray_r") -> Figure:
    """Show several rows of small images, each row labelled on its left.

    Parameters
    ----------
    rows : mapping label -> images
        Every value a stack of the same number of square images, shape
        ``(N, H, W)`` or flattened ``(N, H*W)``; values in [0, 1] (clipped
        for display).
    size : float
        Inches per image.
    cmap : str
        Colour map (``"gray_r"``: dark ink on a light background).

    Returns
    -------
    matplotlib.figure.Figure with ``len(rows) * N`` axes.
    """
    if not rows:
        raise ValueError("give at least one row of images")
    stacks = {label: _as_image_stack(images, label) for label, images in rows.items()}
    counts = {len(stack) for stack in stacks.values()}
    if len(counts) != 1:
        raise ValueError(f"every row needs the same number of images, got {sorted(counts)}")
    n_cols = counts.pop()
    fig = Figure(figsize=(size * n_cols + 1.4, size * len(stacks)))
    axes = fig.subplots(len(stacks), n_cols, squeeze=False)
    for row, (label, stack) in zip(axes, stacks.items()):
        for ax, img in zip(row, stack):
            ax.imshow(np.clip(img, 0.0, 1.0), cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    fig.subplots_adjust(left=1.3 / (size * n_cols + 1.4), right=0.99, top=0.98, bottom=0.02,
                        wspace=0.05, hspace=0.08)
    return fig


def _as_image_stack(images, label) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"row {label!r}: flattened images must be square, got {images.shape[1]} pixels each")
        images = images.reshape(len(images), side, side)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"row {label!r}: expected a non-empty stack of images, got shape {images.shape}")
    return images


# --------------------------------------------------------------------------
# Figures of lesson 02 (written to figures/ by `python -m tnnlib.figures`)
# --------------------------------------------------------------------------

#: Size (points) of the triangles U and V^T in ``svd_network``, larger than the default node.
_TRIANGLE_SIZE = 44

#: Ranks shown in ``svd_photo_ranks`` (None: the photograph itself).
PHOTO_RANKS = (5, 20, 50, None)


def _random_matrix(shape=(512, 512), seed=0) -> np.ndarray:
    """A Gaussian random matrix, the extreme of a matrix with no low-rank structure."""
    return np.random.default_rng(seed).standard_normal(shape)


@figure("svd_network")
def svd_network() -> Figure:
    """The SVD as a tensor network: A = U S V^T, three nodes joined by two bonds r."""
    fig, ax = canvas(9.0, 2.6)
    step, x_u = dg.STYLE["spacing"], 4.4
    nodes = {"A": dg.Node("A", 0.0, 0.0, color=dg.STYLE["special_face"]),
             "U": dg.Node("U", x_u, 0.0, shape="triangle_right", size=_TRIANGLE_SIZE),
             "S": dg.Node("S", x_u + step, 0.0, shape="diamond", label="$S$"),
             # the label sits a little off the triangle's centre: bigger triangles keep V^T inside
             "V": dg.Node("V", x_u + 2 * step, 0.0, shape="triangle_left", label="$V^T$", size=_TRIANGLE_SIZE)}
    edges = [dg.Edge("A", None, "i", direction="left", dim="m"),
             dg.Edge("A", None, "j", direction="right", dim="n"),
             dg.Edge("U", None, "i", direction="left", dim="m"),
             dg.Edge("U", "S", "k", dim="r"),
             dg.Edge("S", "V", "k", dim="r"),
             dg.Edge("V", None, "j", direction="right", dim="n")]
    dg.draw_network(nodes, edges, ax=ax)
    ax.text(x_u / 2, 0.0, "$=$", ha="center", va="center", fontsize=22)
    dg.draw_caption(ax, x_u / 2 + step, -0.75,
                    r"$A_{ij} = \sum_{k=1}^{r} U_{ik}\, s_k\, V_{jk} = \sum_{k=1}^{r} s_k\,"
                    r" (u_k v_k^T)_{ij}$")
    dg.draw_caption(ax, x_u / 2 + step, -1.5,
                    r"$U^T U = V^T V = I_r$ (triangles: orthonormal columns);  $S$ diagonal,"
                    r" $s_1 \geq s_2 \geq \dots \geq s_r > 0$", size=13, color="#444444")
    return fig


@figure("singular_values")
def singular_values() -> Figure:
    """Spectra of the camera photo, MNIST digits and a random matrix."""
    digits, _ = load_mnist("train", flatten=True)
    spectra = {
        "photo (512 x 512)": np.linalg.svd(load_photo("camera"), compute_uv=False),
        "MNIST digits (10,000 x 784)": np.linalg.svd(digits.astype(np.float64), compute_uv=False),
        "Gaussian random (512 x 512)": np.linalg.svd(_random_matrix(), compute_uv=False),
    }
    return plot_spectra(spectra)


@figure("svd_photo_ranks")
def svd_photo_ranks() -> Figure:
    """The camera photo at ranks 5, 20, 50 and in full."""
    return plot_rank_approximations(load_photo("camera"), PHOTO_RANKS)
