"""Plots of lesson 10 (MPS classifiers).

* :func:`draw_mps_classifier` - the tensor network of the classifier: pixel cores, the label core,
  and the feature vectors of one image;
* :func:`plot_feature_maps` - local feature maps, one panel per map, a curve per component;
* :func:`plot_pixel_orders` - the path a pixel order takes through the image;
* :func:`plot_accuracy_vs_bond_dim` - test accuracy against bond dimension;
* :func:`plot_chain_entropy` - entanglement entropy at each bond along the chain;
* :func:`plot_entropy_maps` - the same entropies drawn on the image, at the pixel where each bond starts.

Every function returns a :class:`matplotlib.figure.Figure` made without pyplot.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tnnlib import diagrams as dg
from tnnlib.plotting.common import COLORS, MARKERS, new_axes

__all__ = ["draw_mps_classifier", "plot_feature_maps", "plot_pixel_orders", "plot_accuracy_vs_bond_dim",
           "plot_chain_entropy", "plot_entropy_maps"]


def draw_mps_classifier(n_sites: int = 6, label_site: int | None = None, ax: Axes | None = None) -> Figure:
    """The MPS classifier as a diagram: ``n_sites`` pixel cores ``G``, the label core ``M`` with its open leg
    ``c`` (after ``label_site`` pixels, default the middle), and below each pixel core the feature vector
    ``phi(x_j)`` contracted with its physical leg ``s_j``.
    """
    if not isinstance(n_sites, int) or n_sites < 1:
        raise ValueError(f"draw_mps_classifier: n_sites must be a positive integer, got {n_sites!r}")
    label_site = n_sites // 2 if label_site is None else label_site
    if not 0 <= label_site <= n_sites:
        raise ValueError(f"draw_mps_classifier: label_site must be in [0, {n_sites}], got {label_site}")
    spacing = dg.STYLE["spacing"]
    nodes, edges, chain = [], [], []
    pixel = 0
    for k in range(n_sites + 1):
        x = k * spacing
        if k == label_site:
            nodes.append(dg.Node("M", x, 0.0, shape="circle", label="$M$", color=dg.STYLE["special_face"]))
            edges.append(dg.Edge("M", None, "$c$", direction="up"))
            chain.append("M")
            continue
        pixel += 1
        name = f"G{pixel}"
        nodes.append(dg.Node(name, x, 0.0, label=f"$G_{{{pixel}}}$"))
        nodes.append(dg.Node(f"phi{pixel}", x, -1.7, shape="circle", size=24,
                             label=rf"$\phi_{{{pixel}}}$", color="#ffffff"))
        edges.append(dg.Edge(name, f"phi{pixel}", f"$s_{{{pixel}}}$"))
        chain.append(name)
    for a, b in zip(chain, chain[1:]):
        edges.append(dg.Edge(a, b, None))
    new = ax is None
    if new:
        fig = Figure()
        ax = fig.add_axes((0, 0, 1, 1))
    dg.draw_network(nodes, edges, ax=ax)
    return dg.fit_figure(ax) if new else ax.figure


def plot_feature_maps(maps: Mapping[str, Callable], n_points: int = 101, size: float = 3.2) -> Figure:
    """One panel per local feature map: each component ``phi_s(x)`` against the pixel value ``x`` in [0, 1].

    ``maps``: ``{name: function}``, each function mapping a float64 tensor of pixel values ``(n,)`` to
    ``(n, d)`` (e.g. ``lambda x: trig_features(x, 3)``).
    """
    if not maps:
        raise ValueError("plot_feature_maps: give at least one feature map")
    fig = Figure(figsize=(size * len(maps), size * 0.85))
    axes = np.atleast_1d(fig.subplots(1, len(maps), sharey=True))
    x = torch.linspace(0, 1, n_points, dtype=torch.float64)
    for ax, (name, function) in zip(axes, maps.items()):
        with torch.no_grad():
            phi = torch.as_tensor(function(x)).detach().reshape(n_points, -1).double().numpy()
        for s in range(phi.shape[1]):
            ax.plot(x.numpy(), phi[:, s], color=COLORS[s % len(COLORS)], lw=2, label=rf"$\phi_{s}(x)$")
        ax.set(title=name, xlabel="pixel value $x$")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=9)
    axes[0].set_ylabel("component")
    fig.tight_layout()
    return fig


def _check_order(order, shape, name) -> np.ndarray:
    order = np.asarray(order.cpu() if isinstance(order, torch.Tensor) else order).astype(int).ravel()
    n = shape[0] * shape[1]
    if order.size != n or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"{name}: an order must be a permutation of the {n} pixels of a {shape} image")
    return order


def plot_pixel_orders(orders: Mapping[str, Sequence[int]], shape, image=None, size: float = 3.0) -> Figure:
    """The path each pixel order takes through an image of ``shape``: a line from site to site, the first
    site marked with a dot. ``orders``: ``{name: order}`` (``order[k]`` = row-major index of site ``k``);
    ``image``: an optional picture drawn underneath."""
    if not orders:
        raise ValueError("plot_pixel_orders: give at least one order")
    h, w = shape
    fig = Figure(figsize=(size * len(orders), size))
    axes = np.atleast_1d(fig.subplots(1, len(orders)))
    for ax, (name, order) in zip(axes, orders.items()):
        order = _check_order(order, shape, "plot_pixel_orders")
        if image is not None:
            ax.imshow(np.asarray(image).reshape(h, w), cmap="gray_r", vmin=0, vmax=1, alpha=0.5)
        rows, cols = order // w, order % w
        ax.plot(cols, rows, "-", color=COLORS[0], lw=1.0)
        ax.plot(cols[:1], rows[:1], "o", color=COLORS[1], ms=6)
        ax.set(title=name, xlim=(-0.5, w - 0.5), ylim=(h - 0.5, -0.5), aspect="equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_accuracy_vs_bond_dim(bond_dims: Sequence[int], accuracies: Sequence[float], epochs=None,
                              target: float | None = None, ax: Axes | None = None,
                              title: str | None = None) -> Figure:
    """Test accuracy (in %) against bond dimension (log 2 axis), each point labelled with its epochs
    (``epochs``, one per point, optional); ``target`` draws a dashed horizontal line (in %)."""
    dims, acc = np.asarray(bond_dims, dtype=float), 100 * np.asarray(accuracies, dtype=float)
    if dims.size == 0 or dims.shape != acc.shape or np.any(dims <= 0):
        raise ValueError("plot_accuracy_vs_bond_dim: give as many accuracies as positive bond dimensions")
    if np.any(acc < 0) or np.any(acc > 100):
        raise ValueError("plot_accuracy_vs_bond_dim: accuracies are fractions in [0, 1]")
    fig, ax = new_axes(ax, (5.5, 3.6))
    ax.plot(dims, acc, marker=MARKERS[0], color=COLORS[0], lw=2)
    if epochs is not None:
        if len(epochs) != len(dims):
            raise ValueError("plot_accuracy_vs_bond_dim: give one number of epochs per bond dimension")
        for d, a, e in zip(dims, acc, epochs):
            ax.annotate(f"{e} ep.", (d, a), xytext=(0, -14), textcoords="offset points", ha="center", fontsize=8)
    if target is not None:
        ax.axhline(target, color="#777777", ls="--", lw=1)
        ax.annotate(f"target {target:g}%", (dims.min(), target), xytext=(2, 3), textcoords="offset points",
                    fontsize=8, color="#555555")
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [f"{int(d)}" for d in dims])
    ax.set(xlabel="bond dimension $r$", ylabel="test accuracy (%)", title=title or "accuracy against bond dimension")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_chain_entropy(entropies: Mapping[str, Sequence[float]], ax: Axes | None = None, marks=None,
                       title: str | None = None, first_bond: int = 1, ylabel: str = "entropy $S_k$ (nats)") -> Figure:
    """Entanglement entropy (nats) at each bond along the chain, one curve per model.

    ``entropies``: ``{name: values}``, ``values[i]`` at bond ``first_bond + i`` (bond ``k`` lies between sites
    ``k`` and ``k + 1``); ``marks``: optional bond positions to mark with thin vertical lines (e.g. the end of
    each image row).
    """
    if not entropies:
        raise ValueError("plot_chain_entropy: give at least one curve")
    fig, ax = new_axes(ax, (9.0, 3.4))
    for (name, values), color in zip(entropies.items(), COLORS * 3):
        values = np.asarray(values, dtype=float)
        if values.ndim != 1 or values.size == 0 or np.any(values < -1e-12):
            raise ValueError(f"plot_chain_entropy: {name!r} must be a non-empty vector of entropies (>= 0)")
        ax.plot(np.arange(first_bond, first_bond + values.size), values, color=color, lw=1.4, label=name)
    for m in marks or ():
        ax.axvline(m, color="#bbbbbb", lw=0.6, zorder=0)
    ax.set(xlabel="bond $k$ along the chain", ylabel=ylabel, title=title)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


def plot_entropy_maps(maps: Mapping[str, tuple], shape, size: float = 3.0, vmax: float | None = None) -> Figure:
    """Each bond's entropy drawn on the image: the bond between sites ``k`` and ``k + 1`` at the pixel of
    site ``k``. ``maps``: ``{name: (entropies, order)}`` with ``len(entropies) == len(order) - 1`` (the
    last pixel of the chain has no bond after it and stays blank). One colour scale for all panels."""
    if not maps:
        raise ValueError("plot_entropy_maps: give at least one map")
    h, w = shape
    grids = {}
    for name, (entropies, order) in maps.items():
        order = _check_order(order, shape, "plot_entropy_maps")
        entropies = np.asarray(entropies, dtype=float).ravel()
        if entropies.size != order.size - 1:
            raise ValueError(f"plot_entropy_maps: {name!r} needs {order.size - 1} entropies (one per bond), "
                             f"got {entropies.size}")
        grid = np.full(h * w, np.nan)
        grid[order[:-1]] = entropies
        grids[name] = grid.reshape(h, w)
    top = vmax if vmax is not None else max(np.nanmax(g) for g in grids.values())
    fig = Figure(figsize=(size * len(maps) + 0.8, size))
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    image = None
    for ax, (name, grid) in zip(axes, grids.items()):
        image = ax.imshow(grid, cmap="magma", vmin=0, vmax=top)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=list(axes), label="entropy (nats)", shrink=0.85)
    return fig
