"""Plots and diagrams of lesson 03 (tensor train).

Plots made from numbers the lesson computes:

* :func:`plot_error_vs_params` -- relative error against number of parameters,
  one curve per method (TT-SVD, QTT, matrix SVD ...), log-log (the same
  function as :func:`tnnlib.plotting.decompositions.plot_error_vs_params`);
* :func:`plot_bond_spectra` -- the singular values at every bond of a train;
* :func:`show_image_row` -- a row of grayscale images with titles (a photo and
  its approximations).

Static diagrams, registered with :func:`tnnlib.figures.figure` and written to
``figures/`` by ``python -m tnnlib.figures --only NAME``:

* ``tt_svd_steps`` -- TT-SVD step by step (reshape, SVD, keep U as a core,
  carry S V^T on);
* ``tt_canonical_forms`` -- left-, right- and mixed-canonical trains, and the
  identity a left-orthogonal core satisfies;
* ``qtt_quadtree`` -- which pixels each index of a quantized (QTT) image
  selects when row and column bits are interleaved.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tnnlib import diagrams as dg
from tnnlib.figures import figure
from tnnlib.plotting.common import canvas, new_axes
from tnnlib.plotting.decompositions import plot_error_vs_params

__all__ = ["plot_error_vs_params", "plot_bond_spectra", "show_image_row",
           "tt_svd_steps", "tt_canonical_forms", "qtt_quadtree"]

# --------------------------------------------------------------------------
# Plots of computed numbers
# --------------------------------------------------------------------------

def plot_bond_spectra(spectra: Sequence, ax: Axes | None = None, normalize: bool = True,
                      title: str | None = None) -> Figure:
    """The singular (Schmidt) values at each bond of a tensor train, log scale.

    Parameters
    ----------
    spectra : sequence of 1-d arrays
        ``spectra[k-1]`` holds the singular values at bond ``k`` (between
        cores ``G_k`` and ``G_{k+1}``), as ``tnnlib.tt.bond_spectra`` returns
        them. Zeros are not drawn.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new 6 x 3.6 inch figure.
    normalize : bool
        Divide each spectrum by its norm (the norm of the tensor), so that
        the squares sum to 1 at every bond.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One line per bond, labelled ``r_k`` with the number of values drawn.
    """
    spectra = [np.asarray(s, dtype=float).ravel() for s in spectra]
    if not spectra or any(s.size == 0 or not np.any(s > 0) for s in spectra):
        raise ValueError("need at least one spectrum, each with a positive singular value")
    if any(np.any(s < 0) for s in spectra):
        raise ValueError("singular values cannot be negative")
    _, ax = new_axes(ax, (6.0, 3.6))
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(spectra)))
    for k, (s, color) in enumerate(zip(spectra, colors), start=1):
        if normalize:
            s = s / np.linalg.norm(s)
        s = s[s > 0]
        ax.semilogy(np.arange(1, s.size + 1), s, marker="o", markersize=3, color=color,
                    label=f"$r_{{{k}}}$ ({s.size})")
    ax.set_xlabel("index of the singular value")
    ax.set_ylabel("singular value" + (" / norm" if normalize else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2 if len(spectra) > 5 else 1, title="bond (rank)", title_fontsize=8,
              frameon=False)
    if title:
        ax.set_title(title, fontsize=11)
    return ax.figure


def show_image_row(images: Sequence, titles: Sequence[str] | None = None, size: float = 2.6) -> Figure:
    """A row of grayscale images (values in [0, 1]) with a title over each.

    Values outside [0, 1] (an approximation may overshoot) are clipped for
    display only.

    Returns
    -------
    matplotlib.figure.Figure with one axes per image.
    """
    images = [np.asarray(im, dtype=float) for im in images]
    if not images or any(im.ndim != 2 for im in images):
        raise ValueError("expected a non-empty sequence of 2-d images")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    fig = Figure(figsize=(size * len(images), size * 1.12))
    axes = np.atleast_1d(fig.subplots(1, len(images)))
    for k, (ax, im) in enumerate(zip(axes, images)):
        ax.imshow(np.clip(im, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# Registered diagrams
# --------------------------------------------------------------------------

#: Inches per data unit of the diagrams (the scale of :mod:`tnnlib.diagrams`).
_INCH = 0.85

#: Font sizes of the labels and of the notes under a diagram (readable when projected).
_LABEL_SIZE, _NOTE_SIZE = 15, 14
#: Colour of the notes: dark enough to read on a projector.
_NOTE_COLOR = "#444444"


def _fit(fig: Figure, ax: Axes, xlim: tuple, ylim: tuple) -> Figure:
    """Show exactly `xlim` x `ylim`, at the common scale, with equal aspect."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")
    fig.set_size_inches(_INCH * (xlim[1] - xlim[0]), _INCH * (ylim[1] - ylim[0]))
    return fig


def _fan(n: int) -> list:
    """Directions (degrees) of `n` open legs fanned out below a node."""
    if n == 1:
        return [270.0]
    return list(np.linspace(235.0, 305.0, n))


#: Number of cores drawn in ``tt_svd_steps``.
SVD_STEPS_ORDER = 4


@figure("tt_svd_steps")
def tt_svd_steps() -> Figure:
    """TT-SVD of an order-4 tensor: one row per step, new cores as triangles."""
    d = SVD_STEPS_ORDER
    step, row_gap = dg.STYLE["spacing"], 2.2
    fig, ax = canvas()
    captions = [
        r"reshape $A$ to the matrix $C_0$ of shape $n_1 \times (n_2 n_3 n_4)$",
        r"SVD $C_0 \approx U S V^T$ with $r_1$ terms: $G_1 = U$;"
        "\n" r"carry $C_1 = S V^T$ on, reshaped to $(r_1 n_2) \times (n_3 n_4)$",
        r"SVD $C_1 \approx U S V^T$ with $r_2$ terms: $G_2 = U$ as $r_1 \times n_2 \times r_2$;"
        "\n" r"carry $C_2 = S V^T$ on, reshaped to $(r_2 n_3) \times n_4$",
        r"SVD $C_2 \approx U S V^T$ with $r_3$ terms: $G_3 = U$, $G_4 = S V^T$",
    ]
    x_text = (d - 1) * step + 1.0
    for k in range(d):
        y = -row_gap * k
        nodes, edges = {}, []
        for m in range(1, k + 1):
            name = f"G{m}"
            nodes[name] = dg.Node(name, (m - 1) * step, y, shape="triangle_right", label=f"$G_{m}$", size=30)
            edges.append(dg.Edge(name, None, f"$i_{m}$", direction="down", length=0.7))
            if m > 1:
                edges.append(dg.Edge(f"G{m - 1}", name, f"$r_{m - 1}$"))
        if k < d - 1:
            rest, label = f"C{k}", ("$A$" if k == 0 else f"$C_{k}$")
            free = list(range(k + 1, d + 1))
            for m, angle in zip(free, _fan(len(free))):
                edges.append(dg.Edge(rest, None, f"$i_{m}$", direction=float(angle), length=0.9))
        else:
            rest, label = f"G{d}", f"$G_{d}$"
            edges.append(dg.Edge(rest, None, f"$i_{d}$", direction="down", length=0.7))
        nodes[rest] = dg.Node(rest, k * step, y, label=label, color=dg.STYLE["special_face"])
        if k > 0:
            edges.append(dg.Edge(f"G{k}", rest, f"$r_{k}$"))
            dg.draw_step_number(ax, -0.9, y, k)
        dg.draw_network(nodes, edges, ax=ax)
        dg.draw_caption(ax, x_text, y + 0.3, captions[k], ha="left", size=12)
    bottom = -row_gap * (d - 1) - 1.6
    dg.draw_caption(ax, -1.2, bottom + 0.05,
                    r"triangles: left-orthogonal cores (columns of $U$);   shaded: the part still to be split",
                    ha="left", va="bottom", size=11, color="#555555")
    return _fit(fig, ax, (-1.3, x_text + 5.7), (bottom - 0.1, 0.75))


def _identity_bracket(ax: Axes, x: float, y_top: float, y_bottom: float, width: float = 0.5) -> None:
    """A line bent like '[': the identity joining the two legs at its ends."""
    xs = [x + width, x, x, x + width]
    ys = [y_top, y_top, y_bottom, y_bottom]
    ax.plot(xs, ys, color=dg.STYLE["line_color"], linewidth=dg.STYLE["line_width"],
            solid_capstyle="round", solid_joinstyle="round", zorder=1, gid="tn-bond:identity")


@figure("tt_canonical_forms")
def tt_canonical_forms() -> Figure:
    """Left-, right- and mixed-canonical trains of 5 cores, and the left-orthogonality identity."""
    d, step, row_gap = 5, dg.STYLE["spacing"], 1.9
    fig, ax = canvas()
    rows = [("left-canonical", d, r"$\|A\| = \|G_5\|$"),
            ("right-canonical", 1, r"$\|A\| = \|G_1\|$"),
            ("mixed-canonical, centre 3", 3, r"$\|A\| = \|G_3\|$")]
    for row, (name, centre, norm) in enumerate(rows):
        y = -row_gap * row
        nodes, edges = {}, []
        for m in range(1, d + 1):
            shape = "triangle_right" if m < centre else "triangle_left" if m > centre else "circle"
            color = dg.STYLE["special_face"] if m == centre else None
            nodes[f"G{m}"] = dg.Node(f"G{m}", (m - 1) * step, y, shape=shape, color=color,
                                     label=f"$G_{m}$", size=30 if shape != "circle" else None)
            edges.append(dg.Edge(f"G{m}", None, f"$i_{m}$", direction="down", length=0.6))
            if m > 1:
                edges.append(dg.Edge(f"G{m - 1}", f"G{m}", f"$r_{m - 1}$"))
        dg.draw_network(nodes, edges, ax=ax)
        dg.draw_caption(ax, -0.7, y + 0.12, name, ha="right", va="center", size=_LABEL_SIZE)
        dg.draw_caption(ax, (d - 1) * step + 0.7, y + 0.12, norm, ha="left", va="center", size=_LABEL_SIZE,
                        color=dg.STYLE["bond_color"])
    # under the trains: the identity a left-orthogonal core satisfies, and what it means
    x0, top, bottom = 0.0, -row_gap * 2 - 1.9, -row_gap * 2 - 3.5
    nodes = {"G": dg.Node("G", x0, top, shape="triangle_right", label="$G_k$", size=30),
             "Gc": dg.Node("Gc", x0, bottom, shape="triangle_right", label=r"$\bar G_k$", size=30)}
    edges = [dg.Edge("G", "Gc", "$i_k$", side=1),
             dg.Edge("G", None, "$r_k$", direction="right", length=0.7),
             dg.Edge("Gc", None, "$r_k'$", direction="right", length=0.7),
             dg.Edge("G", "Gc", "$r_{k-1}$", bend=-0.3, side=-1)]
    dg.draw_network(nodes, edges, ax=ax)
    x_eq = x0 + 1.75
    ax.text(x_eq, (top + bottom) / 2, "$=$", ha="center", va="center", fontsize=20,
            math_fontfamily=dg.STYLE["math_font"])
    _identity_bracket(ax, x_eq + 0.45, top, bottom, width=0.6)
    for y, label in ((top, "$r_k$"), (bottom, "$r_k'$")):
        dg.draw_caption(ax, x_eq + 1.12, y, label, ha="left", va="center", size=_LABEL_SIZE,
                        color=dg.STYLE["leg_color"])
    x_text = x_eq + 2.2
    dg.draw_caption(ax, x_text, top + 0.15,
                    r"left-orthogonal: $\sum_{r_{k-1}, i_k} G_k[r_{k-1}, i_k, r_k]\,"
                    r"G_k[r_{k-1}, i_k, r_k'] = \delta_{r_k r_k'}$",
                    ha="left", size=_NOTE_SIZE)
    dg.draw_caption(ax, x_text, top - 0.95,
                    r"the unfolding $(r_{k-1} n_k) \times r_k$ has orthonormal columns;" "\n"
                    r"right-orthogonal ($\triangleleft$): the same, mirrored",
                    ha="left", size=_NOTE_SIZE, color=_NOTE_COLOR)
    return _fit(fig, ax, (-4.2, (d - 1) * step + 2.3), (bottom - 0.5, 0.7))


#: Bits per coordinate in ``qtt_quadtree`` (an 8 x 8 image).
QUADTREE_BITS = 3


@figure("qtt_quadtree")
def qtt_quadtree() -> Figure:
    """An 8 x 8 image as a (4, 4, 4) QTT tensor: the value of each index at every pixel."""
    k = QUADTREE_BITS
    side = 2 ** k
    rows, cols = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    fig = Figure(figsize=(3.0 * k, 3.6))
    axes = fig.subplots(1, k)
    names = ["quadrant", "sub-quadrant", r"pixel in a $2 \times 2$ block"]
    cmap = matplotlib.colormaps["Pastel1"]
    for m, ax in enumerate(axes, start=1):
        b = (rows >> (k - m)) & 1      # m-th bit of the row, most significant first
        c = (cols >> (k - m)) & 1      # m-th bit of the column
        digit = 2 * b + c
        ax.imshow(digit, cmap=cmap, vmin=0, vmax=8, interpolation="nearest")
        for r in range(side):
            for s in range(side):
                ax.text(s, r, str(digit[r, s]), ha="center", va="center", fontsize=9)
        block = 2 ** (k - m + 1)
        for line in range(0, side + 1, block):
            ax.axhline(line - 0.5, color="black", linewidth=1.4)
            ax.axvline(line - 0.5, color="black", linewidth=1.4)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"$i_{m} = 2 b_{m} + c_{m}$: {names[m - 1] if m <= len(names) else ''}",
                     fontsize=11, math_fontfamily=dg.STYLE["math_font"])
    fig.suptitle(r"pixel (row, col) with row $= (b_1 b_2 b_3)_2$, col $= (c_1 c_2 c_3)_2$"
                 r" $\rightarrow$ QTT index $(i_1, i_2, i_3)$",
                 fontsize=12, math_fontfamily=dg.STYLE["math_font"])
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.8, wspace=0.08)
    return fig
