"""Plots and diagrams of lessons 04 (Tucker, CP) and 05 (tensor ring, TT-matrix).

Plots (each returns a :class:`matplotlib.figure.Figure`):

* :func:`plot_error_vs_params` -- relative error against number of
  parameters, one curve per format (Tucker, CP, TT, TR ...);
* :func:`plot_cp_degeneracy` -- a degenerate CP-ALS run: the error creeps
  down while the norms of the rank-one components grow without bound;
* :func:`plot_cost_curves` -- costs (FLOPs, parameters, seconds) against a
  size (batch, rank) on log-log axes, with a dense reference line.

Static figures registered for the lessons (``python -m tnnlib.figures``):
``tucker_cp_tt`` (the three formats of lesson 04 as diagrams),
``tt_vs_ring`` (a tensor train and a tensor ring) and ``ttm_reshape``
(a weight matrix becoming a TT-matrix).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from tnnlib import diagrams as dg
from tnnlib.figures import figure
from tnnlib.plotting.common import COLORS, MARKERS, canvas, new_axes, plain_log_labels, sorted_curve

__all__ = ["plot_error_vs_params", "plot_cp_degeneracy", "plot_cost_curves"]

#: Font size of the grey captions under the diagrams (readable when projected).
_NOTE_SIZE = 15
#: Their colour: dark enough to read on a projector.
_NOTE_COLOR = "#444444"


def plot_error_vs_params(results: Mapping[str, tuple], n_entries: int | None = None, ax=None,
                         title: str | None = None, logy: bool = True, *, full_size: int | None = None) -> Figure:
    """Relative error against number of parameters, one curve per format or method.

    The one plot of this kind in the course (lessons 03, 04 and 05); also
    importable from :mod:`tnnlib.plotting.tt`.

    Parameters
    ----------
    results : mapping name -> (params, errors)
        For each format (Tucker, CP, TT, QTT, matrix SVD ...), the numbers
        of parameters (> 0) and the relative errors
        ``||X - X_hat||_F / ||X||_F`` (>= 0), two sequences of the same
        length in any order (points are sorted by parameters). On a log
        error axis, errors of exactly 0 are not drawn.
    n_entries : int, optional
        Number of entries of the dense (uncompressed) data: drawn as a
        dashed vertical line ("dense"), and the top axis then shows the
        compression ``n_entries / params``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new 6.4 x 4.2 inch figure (laid out
        tight).
    title : str, optional
    logy : bool
        Logarithmic error axis (default); the parameter axis is always
        logarithmic.
    full_size : int, optional
        Older name of ``n_entries`` (keyword only); give one or the other.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of the axes drawn on: one line per entry of ``results``
        (gid ``"curve:NAME"``, in a legend), and the ``"dense"`` line.

    Raises
    ------
    ValueError
        If ``results`` is empty or a curve is malformed.

    Examples
    --------
    >>> fig = plot_error_vs_params({"TT": ([300, 100], [0.1, 0.3]), "CP": ([50, 500], [0.6, 0.05])},
    ...                            n_entries=1000)
    >>> [line.get_gid() for line in fig.axes[0].lines]
    ['curve:TT', 'curve:CP', 'dense']
    """
    if full_size is not None:
        if n_entries is not None:
            raise ValueError("give n_entries or its older name full_size, not both")
        n_entries = full_size
    if not results:
        raise ValueError("results is empty: give at least one curve")
    curves = {name: sorted_curve(name, *_pair(name, pair), positive_x=True, nonnegative_y=True)
              for name, pair in results.items()}
    created = ax is None
    fig, ax = new_axes(ax, (6.4, 4.2))
    shown, drawn_params = [], []
    for k, (name, (params, errors)) in enumerate(curves.items()):
        keep = errors > 0 if logy else np.ones(errors.shape, bool)
        shown.extend(errors[keep])
        drawn_params.extend(params[keep])
        ax.plot(params[keep], errors[keep], marker=MARKERS[k % len(MARKERS)], markersize=5,
                color=COLORS[k % len(COLORS)], label=name, gid=f"curve:{name}")
    if n_entries is not None:
        ax.axvline(n_entries, color="0.4", linestyle="--", linewidth=1, gid="dense")
        ax.text(n_entries, 0.98, "dense ", transform=ax.get_xaxis_transform(), va="top",
                ha="right", color="0.3", fontsize=10)
        top = ax.secondary_xaxis("top", functions=(lambda p: n_entries / np.maximum(p, 1e-12),
                                                   lambda c: n_entries / np.maximum(c, 1e-12)))
        top.set_xlabel("compression (dense size / parameters)")
    ax.set_xscale("log")
    if _about_a_decade(drawn_params + ([n_entries] if n_entries is not None else [])):
        plain_log_labels(ax.xaxis)  # 20, 30, 50 ... rather than overlapping 2 x 10^1, 3 x 10^1 ...
    if logy:
        ax.set_yscale("log")
        if _about_a_decade(shown):  # 0.2, 0.3 ... rather than 2 x 10^-1
            plain_log_labels(ax.yaxis)
    ax.set_xlabel("number of parameters")
    ax.set_ylabel(r"relative error $\|X - \hat X\|_F / \|X\|_F$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    if created:
        fig.tight_layout()
    return fig


def _about_a_decade(values) -> bool:
    """True if positive `values` span at most a factor 30 (a log axis then shows few ticks)."""
    return bool(len(values)) and max(values) <= 30 * min(values)


def _pair(name, pair) -> tuple:
    """``(params, errors)`` of one entry of ``results``."""
    try:
        params, errors = pair
    except (TypeError, ValueError):
        raise ValueError(f"curve {name!r}: expected a pair (params, errors), got {pair!r}") from None
    return params, errors


def plot_cp_degeneracy(errors: Sequence[float], sweeps: Sequence[int], norms, tensor_norm: float | None = None,
                       error_sweeps: Sequence[int] | None = None, title: str | None = None) -> Figure:
    """Two panels of a degenerate CP-ALS run.

    Left: the relative error per sweep (log-log). Right: the norm of each
    rank-one component ``lambda_r`` (the weight after normalising the
    factor columns) at the recorded sweeps, with the norm of the tensor as a
    reference: components far larger than the tensor they add up to must
    cancel each other.

    Parameters
    ----------
    errors : sequence of float
        Relative error after each sweep (sweep ``1, 2, ...`` unless
        ``error_sweeps`` says otherwise).
    sweeps : sequence of int
        Sweeps at which ``norms`` were recorded.
    norms : array, shape (len(sweeps), R)
        Norms of the R components at those sweeps.
    tensor_norm : float, optional
        ``||X||_F``, drawn as a dashed line.
    error_sweeps : sequence of int, optional
        Sweep numbers of ``errors`` (default ``1..len(errors)``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    errors = np.asarray(errors, dtype=float).ravel()
    norms = np.asarray(norms, dtype=float)
    sweeps = np.asarray(sweeps, dtype=float).ravel()
    if norms.ndim != 2 or norms.shape[0] != sweeps.size:
        raise ValueError(f"norms must have shape (len(sweeps), R) = ({sweeps.size}, R), got {norms.shape}")
    error_sweeps = np.arange(1, errors.size + 1) if error_sweeps is None else np.asarray(error_sweeps, float)
    if error_sweeps.size != errors.size:
        raise ValueError(f"{errors.size} errors but {error_sweeps.size} error_sweeps")
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    left.loglog(error_sweeps, errors, color="C3", gid="errors")
    left.set_xlabel("ALS sweep")
    left.set_ylabel("relative error")
    left.set_title("the error creeps down...")
    for r in range(norms.shape[1]):
        right.loglog(sweeps, norms[:, r], marker=MARKERS[r % len(MARKERS)], label=f"component {r + 1}",
                     gid=f"norm:{r}")
    if tensor_norm is not None:
        right.axhline(tensor_norm, color="0.4", linestyle="--", linewidth=1, label=r"$\|X\|_F$",
                      gid="tensor_norm")
    right.set_xlabel("ALS sweep")
    right.set_ylabel(r"component norm $\lambda_r$")
    right.set_title("...while the components blow up and cancel")
    right.legend()
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_cost_curves(x: Sequence[float], curves: Mapping[str, Sequence[float]], xlabel: str, ylabel: str,
                     reference: Sequence[float] | float | None = None, reference_label: str = "dense",
                     ax=None, title: str | None = None, logx: bool = True, logy: bool = True) -> Figure:
    """Costs against a size, log-log, with an optional dense reference.

    Parameters
    ----------
    x : sequence of float
        The sizes (batch sizes, ranks ...), shared by all curves.
    curves : mapping name -> sequence of float
        One cost per size for each curve.
    xlabel, ylabel : str
    reference : float or sequence, optional
        The dense cost: one number (a horizontal line) or one per size (a
        dashed black curve).
    reference_label : str
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    logx, logy : bool

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not curves:
        raise ValueError("curves is empty: give at least one curve")
    x = np.asarray(x, dtype=float).ravel()
    fig, ax = new_axes(ax, (6.0, 4.0))
    for k, (name, ys) in enumerate(curves.items()):
        ys = np.asarray(ys, dtype=float).ravel()
        if ys.size != x.size:
            raise ValueError(f"curve {name!r} has {ys.size} values for {x.size} sizes")
        ax.plot(x, ys, marker=MARKERS[k % len(MARKERS)], label=name, gid=f"curve:{name}")
    if reference is not None:
        ref = np.asarray(reference, dtype=float)
        if ref.ndim == 0:
            ax.axhline(float(ref), color="k", linestyle="--", linewidth=1.2, label=reference_label, gid="reference")
        else:
            if ref.size != x.size:
                raise ValueError(f"reference has {ref.size} values for {x.size} sizes")
            ax.plot(x, ref, "k--", label=reference_label, gid="reference")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# Static figures of lessons 04 and 05
# --------------------------------------------------------------------------

@figure("tucker_cp_tt")
def tucker_cp_tt() -> Figure:
    """Tucker, CP and TT of an order-3 tensor side by side, with parameter counts."""
    fig, ax = canvas(12.5, 5.0)
    s = dg.STYLE["spacing"]
    x_cp, x_tt = 2 * s + 3.4, 4 * s + 6.6
    dg.draw_tucker(3, ax=ax, at=(0.0, 0.0))
    dg.draw_cp(3, ax=ax, at=(x_cp, 0.0))
    dg.draw_chain(3, ax=ax, kind="mps", at=(x_tt, 0.0))
    captions = [
        (0.0, "Tucker", r"$\mathcal{G} \times_1 U_1 \times_2 U_2 \times_3 U_3$",
         r"$r_1 r_2 r_3 + n_1 r_1 + n_2 r_2 + n_3 r_3$"),
        (x_cp, "CP", r"$\sum_{r=1}^{R} \lambda_r\, a^{(1)}_r \circ a^{(2)}_r \circ a^{(3)}_r$",
         r"$R\,(n_1 + n_2 + n_3 + 1)$"),
        (x_tt + s, "tensor train", r"$G_1[i_1]\, G_2[i_2]\, G_3[i_3]$",
         r"$n_1 r_1 + r_1 n_2 r_2 + r_2 n_3$"),
    ]
    for x, name, formula, params in captions:
        dg.draw_caption(ax, x, -3.5, name, size=18)
        dg.draw_caption(ax, x, -4.15, formula, size=16)
        dg.draw_caption(ax, x, -5.5, "parameters: " + params, size=_NOTE_SIZE, color=_NOTE_COLOR)
    return fig


@figure("tt_vs_ring")
def tt_vs_ring() -> Figure:
    """A tensor train of 5 cores next to a tensor ring of 5 cores."""
    fig, ax = canvas(11.0, 4.4)
    s = dg.STYLE["spacing"]
    dg.draw_chain(5, ax=ax, kind="mps", at=(0.0, 0.0))
    dg.draw_caption(ax, 2 * s, -1.45, r"tensor train: $r_0 = r_5 = 1$", size=17)
    dg.draw_caption(ax, 2 * s, -2.15,
                    r"$T_{i_1 \dots i_5} = G_1[i_1]\, G_2[i_2] \cdots G_5[i_5]$ (a $1 \times 1$ product)",
                    size=_NOTE_SIZE, color=_NOTE_COLOR)
    centre = (4 * s + 4.3, 0.25)
    dg.draw_chain(5, ax=ax, kind="ring", at=centre)
    dg.draw_caption(ax, centre[0], -2.05, r"tensor ring: $r_0 = r_5 \geq 1$", size=17)
    dg.draw_caption(ax, centre[0], -2.75,
                    r"$T_{i_1 \dots i_5} = \mathrm{Tr}\,(G_1[i_1]\, G_2[i_2] \cdots G_5[i_5])$",
                    size=_NOTE_SIZE, color=_NOTE_COLOR)
    return fig


@figure("ttm_reshape")
def ttm_reshape() -> Figure:
    """A weight matrix W (M x N) reshaped into (i_1..i_3, j_1..j_3), then a TT-matrix."""
    fig, ax = canvas(12.5, 3.6)
    s = dg.STYLE["spacing"]
    # 1. the matrix, output index down-left, input index up-right
    dg.draw_network({"W": dg.Node("W", 0.0, 0.0)},
                    [dg.Edge("W", None, "i", direction="down", dim="M"),
                     dg.Edge("W", None, "j", direction="up", dim="N")], ax=ax)
    dg.draw_caption(ax, 0.0, -1.55, r"$W$: $M \times N$", size=13)
    dg.draw_caption(ax, 0.0, -2.05, r"$M = m_1 m_2 m_3$,  $N = n_1 n_2 n_3$", size=12, color="#555555")
    # 2. reshaped: one node, outputs down, inputs up
    x1 = 2.8
    legs = [dg.Edge("W6", None, f"$i_{k}$", direction=270 + 25 * (k - 2), length=0.9) for k in (1, 2, 3)]
    legs += [dg.Edge("W6", None, f"$j_{k}$", direction=90 - 25 * (k - 2), length=0.9) for k in (1, 2, 3)]
    dg.draw_network({"W6": dg.Node("W6", x1, 0.0, label="$W$")}, legs, ax=ax)
    dg.draw_caption(ax, x1, -1.55, "reshape", size=13)
    dg.draw_caption(ax, x1, -2.05, r"$W[i_1 i_2 i_3, j_1 j_2 j_3]$", size=12, color="#555555")
    # 3. interleave the pairs (i_k, j_k)
    x2 = x1 + 2.6
    legs = [dg.Edge("Wp", None, f"$(i_{k} j_{k})$", direction=270 + 40 * (k - 2), length=0.9)
            for k in (1, 2, 3)]
    dg.draw_network({"Wp": dg.Node("Wp", x2, 0.0, label="$W$")}, legs, ax=ax)
    dg.draw_caption(ax, x2, -1.55, "interleave", size=13)
    dg.draw_caption(ax, x2, -2.05, r"$d = 3$ modes of sizes $m_k n_k$", size=12, color="#555555")
    # 4. TT-SVD -> MPO
    x3 = x2 + 2.6
    dg.draw_chain(3, ax=ax, kind="mpo", at=(x3, 0.0))
    dg.draw_caption(ax, x3 + s, -1.55, "TT-SVD: a TT-matrix (MPO)", size=13)
    dg.draw_caption(ax, x3 + s, -2.05, r"core $G_k$: $r_{k-1} \times m_k \times n_k \times r_k$",
                    size=12, color="#555555")
    for xa, xb in ((0.75, x1 - 0.9), (x1 + 0.9, x2 - 0.9), (x2 + 0.9, x3 - 0.6)):
        ax.annotate("", xy=(xb, 0.0), xytext=(xa, 0.0),
                    arrowprops=dict(arrowstyle="->", color="0.35", linewidth=1.6))
    return fig
