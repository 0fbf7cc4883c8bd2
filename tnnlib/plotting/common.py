"""Small helpers shared by every plotting module (and by :mod:`tnnlib.figures`).

* :func:`new_axes` -- the axes to draw on: the one given, or a new figure's;
* :func:`canvas` -- a figure whose single axes fills it (for diagrams);
* :func:`sorted_curve` -- check a curve's x and y values and sort them by x;
* :func:`plain_log_labels` -- label a log axis that spans about a decade
  with plain numbers (0.2, 0.3 ...);
* :data:`MARKERS`, :data:`COLORS`, :data:`LINESTYLES` -- the cycles that
  every plot uses, in order.

Figures are made with :class:`matplotlib.figure.Figure`, not pyplot, so a
notebook shows each one once (as the value of a cell) and nothing is left
open.
"""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

__all__ = ["COLORS", "LINESTYLES", "MARKERS", "canvas", "new_axes", "plain_log_labels", "sorted_curve"]

#: Markers of successive curves.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

#: Line colours of successive curves (colour-blind safe, from Okabe & Ito).
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")

#: Line styles of successive stages of one curve (e.g. "truncated", "healed").
LINESTYLES = ("--", "-", ":", "-.")


def new_axes(ax: Axes | None, figsize: tuple) -> tuple:
    """``(figure, axes)`` to draw on: those of `ax`, or a new figure of `figsize` inches with one axes.

    Examples
    --------
    >>> fig, ax = new_axes(None, (4, 3))
    >>> fig.get_size_inches().tolist(), new_axes(ax, (9, 9))[1] is ax
    ([4.0, 3.0], True)
    """
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize)
    return fig, fig.add_subplot()


def canvas(width: float | None = None, height: float | None = None) -> tuple:
    """``(figure, axes)``: a new figure (``width`` x ``height`` inches, or matplotlib's default size)
    whose single axes fills it, for diagrams drawn in data units.

    Examples
    --------
    >>> fig, ax = canvas(6, 2)
    >>> fig.get_size_inches().tolist(), ax.get_position().bounds == (0, 0, 1, 1)
    ([6.0, 2.0], True)
    """
    fig = Figure() if width is None or height is None else Figure(figsize=(width, height))
    return fig, fig.add_axes((0, 0, 1, 1))


def sorted_curve(name: str, xs, ys, positive_x: bool = False, nonnegative_y: bool = False) -> tuple:
    """A curve's x and y values as float vectors sorted by x (ties keep their order).

    Parameters
    ----------
    name : str
        Names the curve in error messages.
    xs, ys : sequences of numbers
        As many y as x values, at least one.
    positive_x, nonnegative_y : bool
        Also require ``x > 0`` (e.g. on a log axis) or ``y >= 0``.

    Raises
    ------
    ValueError
        If the values do not make a curve.

    Examples
    --------
    >>> sorted_curve("a", [3, 1, 2], [30, 10, 20])
    (array([1., 2., 3.]), array([10., 20., 30.]))
    """
    try:
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"curve {name!r}: x and y values must be numbers") from None
    if xs.ndim != 1 or xs.shape != ys.shape or xs.size == 0:
        raise ValueError(f"curve {name!r}: need as many x as y values (two non-empty 1-d sequences of the "
                         f"same length), got shapes {xs.shape} and {ys.shape}")
    if positive_x and np.any(xs <= 0):
        raise ValueError(f"curve {name!r}: x values must be > 0")
    if nonnegative_y and np.any(ys < 0):
        raise ValueError(f"curve {name!r}: y values must be >= 0")
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def plain_log_labels(axis) -> None:
    """Label a log axis that spans about a decade with plain numbers (0.2, 0.3, 0.5, 1, 2 ... 20, 30),
    not 2e-1: every power of ten, and the minor ticks whose leading digit is 2, 3 or 5.

    Examples
    --------
    >>> fig, ax = new_axes(None, (3, 3))
    >>> ax.set_xscale("log"); plain_log_labels(ax.xaxis)
    >>> minor = ax.xaxis.get_minor_formatter()
    >>> [minor(v, 0) for v in (0.2, 0.4, 20, 30, 70)]
    ['0.2', '', '20', '30', '']
    """
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else ""))
