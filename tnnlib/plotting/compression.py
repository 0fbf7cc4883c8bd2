"""Plots and figures of lessons 06 (tensorized layers) and 07 (compressing a trained network).

Plots (each returns a :class:`matplotlib.figure.Figure`):

* :func:`plot_accuracy_vs_compression` -- test accuracy against the
  compression of a layer, one colour per format, one line style per stage
  ("truncated", "healed"), with the dense network's accuracy and a target
  region;
* :func:`plot_layer_sensitivity` -- accuracy drop when one layer at a time is
  compressed, grouped bars per layer;
* :func:`plot_sweep` -- the rows of :func:`tnnlib.compress.compression_sweep`
  as two panels (all curves; the healed ones zoomed near the dense accuracy).

Static figures registered for the lessons (``python -m tnnlib.figures``):

* ``conv_factorizations`` -- a d x d convolution, its CP factorisation
  (Lebedev et al. 2015: 1x1 -> d x 1 -> 1 x d -> 1x1) and its Tucker-2
  factorisation (Kim et al. 2016: 1x1 -> d x d -> 1x1), with channels and
  parameter counts;
* ``compression_tradeoff`` -- lesson 07's experiment: the reference CNN's
  large fully connected layer compressed as TT, Tucker and CP at a range of
  ranks, test accuracy before and after healing
  (:func:`tnnlib.compress.compression_sweep`).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from tnnlib.compress import ClassifierHead, cached_features, compression_sweep
from tnnlib.data import load_mnist
from tnnlib.figures import figure
from tnnlib.models import accuracy, load_reference_cnn
from tnnlib.plotting.common import LINESTYLES, MARKERS, canvas, new_axes, sorted_curve
from tnnlib.runtime import fast_mode

__all__ = ["plot_accuracy_vs_compression", "plot_layer_sensitivity", "sweep_curves", "plot_sweep"]

#: Font size of legends (readable when projected).
_LEGEND_SIZE = 10


def _curve(method: str, stage: str, points) -> tuple:
    """Compressions (> 0, the x axis) and accuracies of one format and stage, sorted by compression."""
    try:
        xs, ys = points
    except (TypeError, ValueError):
        raise ValueError(f"{method!r}/{stage!r}: expected a pair (compressions, accuracies), got {points!r}") from None
    return sorted_curve(f"{method}/{stage}", np.ravel(xs), np.ravel(ys), positive_x=True)


def plot_accuracy_vs_compression(results: Mapping[str, Mapping[str, tuple]], baseline: float | None = None,
                                 target: tuple | None = None, ax=None, title: str | None = None,
                                 xlabel: str = "compression of the layer (dense parameters / parameters)",
                                 ylabel: str = "test accuracy (%)", ylim: tuple | None = None) -> Figure:
    """Accuracy against compression: one colour per format, one line style per stage.

    Parameters
    ----------
    results : mapping format -> mapping stage -> (compressions, accuracies)
        E.g. ``{"TT": {"truncated": ([12, 40], [97.0, 80.5]), "healed": ([12, 40], [99.1, 98.9])}}``.
        Compressions are ``dense parameters / parameters`` (x axis, log
        scale); accuracies in percent. The stages of the first format fix
        the line styles: the first stage dashed with hollow markers, the
        next solid.
    baseline : float, optional
        Accuracy of the uncompressed network: a horizontal line.
    target : (min_compression, max_drop), optional
        Shade the region "at least ``min_compression`` x smaller and at most
        ``max_drop`` points below ``baseline``" (needs ``baseline``).
    ax : matplotlib.axes.Axes, optional
    title, xlabel, ylabel : str, optional
    ylim : (low, high), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not results:
        raise ValueError("results is empty: give at least one format")
    if target is not None and baseline is None:
        raise ValueError("a target (min_compression, max_drop) needs the baseline accuracy")
    fig, ax = new_axes(ax, (7.0, 4.3))
    stages = []
    for stages_of in results.values():
        for stage in stages_of:
            if stage not in stages:
                stages.append(stage)
    all_x = []
    for k, (method, stages_of) in enumerate(results.items()):
        if not stages_of:
            raise ValueError(f"format {method!r} has no stage")
        color = f"C{k}"
        for stage, points in stages_of.items():
            xs, ys = _curve(method, stage, points)
            all_x.extend(xs)
            s = stages.index(stage)
            hollow = s == 0 and len(stages) > 1
            ax.plot(xs, ys, linestyle=LINESTYLES[s % len(LINESTYLES)] if len(stages) > 1 else "-",
                    marker=MARKERS[k % len(MARKERS)], color=color,
                    markerfacecolor="white" if hollow else color, label=f"{method}, {stage}",
                    gid=f"curve:{method}:{stage}")
    if baseline is not None:
        ax.axhline(baseline, color="k", linewidth=1.2, linestyle="-.", label=f"dense ({baseline:.2f}%)",
                   gid="baseline")
    ax.set_xscale("log")
    if target is not None:
        min_compression, max_drop = target
        right = max(max(all_x) * 1.5, min_compression * 2)
        ax.add_patch(Rectangle((min_compression, baseline - max_drop), right - min_compression, max_drop,
                               facecolor="C2", alpha=0.15, edgecolor="C2", gid="target",
                               label=f"target: >= {min_compression:g}x, drop <= {max_drop:g} points"))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=_LEGEND_SIZE, loc="lower left")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_layer_sensitivity(table: Mapping[str, Mapping[str, float]], ax=None, title: str | None = None,
                           ylabel: str = "accuracy drop (points)") -> Figure:
    """Grouped bars: for each layer (group), the accuracy drop under each setting (bar).

    Parameters
    ----------
    table : mapping layer -> mapping setting -> drop
        E.g. ``{"conv1": {"energy 0.9": 0.1, "energy 0.7": 2.3}, "fc1": {...}}``.
        Every layer must have the same settings.
    ax : matplotlib.axes.Axes, optional
    title, ylabel : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not table:
        raise ValueError("table is empty: give at least one layer")
    layers = list(table)
    settings = list(table[layers[0]])
    for layer in layers:
        if list(table[layer]) != settings:
            raise ValueError(f"layer {layer!r} has settings {list(table[layer])}, expected {settings}")
    fig, ax = new_axes(ax, (7.0, 3.8))
    width = 0.8 / max(len(settings), 1)
    x = np.arange(len(layers))
    for s, setting in enumerate(settings):
        values = [float(table[layer][setting]) for layer in layers]
        bars = ax.bar(x + (s - (len(settings) - 1) / 2) * width, values, width, label=setting,
                      color=f"C{s}", gid=f"bars:{setting}")
        for bar, value in zip(bars, values):
            ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, max(value, 0)),
                        ha="center", va="bottom", fontsize=7, xytext=(0, 1), textcoords="offset points")
    ax.set_xticks(x, layers)
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=_LEGEND_SIZE)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# Static figures
# --------------------------------------------------------------------------

def _box(ax, x, y, w, h, text, face="#d7e8f7", edge="#1d3557", size=10):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=face, edgecolor=edge, linewidth=1.6))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, color="#1d3557")


def _arrow(ax, x0, x1, y, label=None):
    ax.annotate("", xy=(x1, y), xytext=(x0, y), arrowprops=dict(arrowstyle="->", color="0.35", linewidth=1.4))
    if label:
        ax.text((x0 + x1) / 2, y + 0.28, label, ha="center", va="bottom", fontsize=9, color="#555555")


def _pipeline(ax, y, title, stages, params, x0=0.0, width=2.35, gap=0.75):
    """One row: a title, boxes joined by arrows labelled with channel counts, a parameter count."""
    ax.text(x0 - 0.2, y + 0.75, title, ha="left", va="bottom", fontsize=12, fontweight="bold", color="#1d3557")
    x = x0 + 0.6
    _arrow(ax, x - 0.6, x, y, stages[0][0])
    x += width / 2
    for k, (_, text, face) in enumerate(stages):
        _box(ax, x, y, width, 0.9, text, face=face)
        out_label = stages[k + 1][0] if k + 1 < len(stages) else params[0]
        _arrow(ax, x + width / 2, x + width / 2 + gap, y, out_label)
        x += width + gap
    ax.text(x - width / 2 + 0.25, y, params[1], ha="left", va="center", fontsize=10, color="#555555")


@figure("conv_factorizations")
def conv_factorizations() -> Figure:
    """A d x d convolution, its CP (Lebedev et al. 2015) and Tucker-2 (Kim et al. 2016) factorisations."""
    fig, ax = canvas(13.0, 5.2)
    one_by_one, spatial = "#e8f4e2", "#fbe3c4"
    _pipeline(ax, 4.4, "dense convolution", [("C", r"$d \times d$ conv" + "\nC -> S", spatial)],
              ("S", r"$S\,C\,d^2$ parameters"))
    _pipeline(ax, 2.3, "CP (Lebedev et al. 2015)",
              [("C", "1x1 conv\nC -> R", one_by_one),
               ("R", r"$d \times 1$ depthwise" + "\nR -> R", spatial),
               ("R", r"$1 \times d$ depthwise" + "\nR -> R", spatial),
               ("R", "1x1 conv\nR -> S", one_by_one)],
              ("S", r"$R\,(C + 2d + S)$ parameters"))
    _pipeline(ax, 0.2, "Tucker-2 (Kim et al. 2016)",
              [("C", r"1x1 conv" + "\n" + r"C -> $R_C$", one_by_one),
               (r"$R_C$", r"$d \times d$ conv (core)" + "\n" + r"$R_C$ -> $R_S$", spatial),
               (r"$R_S$", r"1x1 conv" + "\n" + r"$R_S$ -> S", one_by_one)],
              ("S", r"$C R_C + R_S R_C d^2 + S R_S$ parameters"))
    ax.text(0.0, -1.25, r"kernel $K[s, c, h, w]$ (S outputs, C inputs, $d \times d$):  "
            r"CP $K = \sum_{r=1}^{R} a^{(S)}_{s r}\, a^{(C)}_{c r}\, a^{(h)}_{h r}\, a^{(w)}_{w r}$;  "
            r"Tucker-2 $K = \mathcal{G} \times_1 U^{(S)} \times_2 U^{(C)}$, core $R_S \times R_C \times d \times d$",
            ha="left", va="center", fontsize=11, color="#333333")
    ax.set_xlim(-0.4, 15.3)
    ax.set_ylim(-1.7, 5.5)
    ax.axis("off")
    return fig


#: Settings of lesson 07's accuracy-compression experiment on ``fc1`` (also run, larger, by the lesson off fast mode).
TT_MODES = ((5, 10, 4, 4), (5, 5, 4, 5))  # (in_modes, out_modes): 800 = 5 * 10 * 4 * 4, 500 = 5 * 5 * 4 * 5
SWEEP_SETTINGS = ([dict(method="tt", max_rank=r, in_modes=TT_MODES[0], out_modes=TT_MODES[1])
                   for r in (4, 6, 8, 10, 16)]
                  + [dict(method="tucker", max_rank=r) for r in (4, 8, 16, 32)]
                  + [dict(method="cp", rank=r) for r in (20, 50, 100)])
SWEEP_STEPS = 1000
_LABELS = {"tt": "TT", "tucker": "Tucker-2", "cp": "CP"}


def sweep_curves(rows) -> dict:
    """Rows of :func:`tnnlib.compress.compression_sweep` -> the ``results`` of :func:`plot_accuracy_vs_compression`."""
    curves = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        chosen = [r for r in rows if r["method"] == method]
        x = [r["compression"] for r in chosen]
        curves[_LABELS.get(method, method)] = {"truncated": (x, [100 * r["acc_truncated"] for r in chosen]),
                                               "healed": (x, [100 * r["acc_healed"] for r in chosen])}
    return curves


def plot_sweep(rows, baseline: float, title: str | None = None, zoom: float = 2.0,
               target: tuple | None = (40, 0.3)) -> Figure:
    """Two panels of a :func:`tnnlib.compress.compression_sweep`: all curves, and the healed ones zoomed.

    Parameters
    ----------
    rows : list of dicts with ``method``, ``compression``, ``acc_truncated``, ``acc_healed``
    baseline : float
        The dense network's accuracy, in percent.
    title : str, optional
        Title of the left panel.
    zoom : float
        The right panel shows ``[baseline - zoom, baseline + 0.3]`` percent.
    target : (min_compression, max_drop) or None
    """
    curves = sweep_curves(rows)
    fig = Figure(figsize=(11.5, 5.0))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    plot_accuracy_vs_compression(curves, baseline=baseline, target=target, ax=left, title=title)
    plot_accuracy_vs_compression({k: {"healed": v["healed"]} for k, v in curves.items()}, baseline=baseline,
                                 target=target, ax=right, ylim=(baseline - zoom, baseline + 0.3),
                                 title="after healing, zoomed")
    # one legend for both panels, under them, so that it hides no point
    handles, labels = left.get_legend_handles_labels()
    for ax in (left, right):
        ax.get_legend().remove()
    n_cols = 4
    fig.legend(handles, labels, loc="lower center", ncol=n_cols, fontsize=_LEGEND_SIZE, frameon=False)
    legend_rows = -(-len(labels) // n_cols)
    fig.tight_layout(rect=(0, 0.06 * legend_rows, 1, 1))
    return fig


@figure("compression_tradeoff")
def compression_tradeoff() -> Figure:
    """Lesson 07's experiment: fc1 of the reference CNN as TT, Tucker-2 and CP, truncated and healed.

    Healing: the factors only, :data:`SWEEP_STEPS` steps of distillation from
    the dense network on the 10,000 shipped training images; accuracy on the
    10,000 official test images. About a minute on one CPU core. In fast mode
    (``TNN_FAST=1``, the tests) a reduced version (two settings, a few steps,
    2,000 images) that says so in its title, so that the test suite stays fast.
    """
    fast = fast_mode()
    settings = [SWEEP_SETTINGS[0], SWEEP_SETTINGS[5]] if fast else SWEEP_SETTINGS
    steps, n = (10, 2000) if fast else (SWEEP_STEPS, None)
    torch.manual_seed(0)
    model = load_reference_cnn("cpu")
    (x_train, y_train), (x_test, y_test) = load_mnist("train", n=n), load_mnist("test", n=n)
    head = ClassifierHead(model)
    train = (cached_features(model, x_train), torch.from_numpy(y_train))
    test = (cached_features(model, x_test), torch.from_numpy(y_test))
    baseline = 100 * accuracy(head, *test)
    rows = compression_sweep(head, "fc1", settings, train, test, steps=steps)
    where = "fast mode, reduced" if fast else "MNIST test set"
    fig = plot_sweep(rows, baseline, title=f"fc1 (800 -> 500) of the reference CNN, {where}")
    fig.axes[1].set_title(f"after healing ({steps} steps of distillation), zoomed")
    return fig
