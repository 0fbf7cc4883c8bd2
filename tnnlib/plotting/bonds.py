"""Plots of lesson 09 (bond spaces), and an explorer of the bonds of a trained TT network.

Every function returns a :class:`matplotlib.figure.Figure` (or draws into
the ``ax`` it is given) and reads the objects of :mod:`tnnlib.bonds`:

* :func:`plot_bond_cut` -- the diagram: a TT-matrix cut at one bond, and the
  Schmidt decomposition of the cut;
* :func:`plot_layer_spectra` -- the spectra of every bond, one panel per
  layer (:func:`tnnlib.plotting.tt.plot_bond_spectra`);
* :func:`plot_spectrum_comparison` -- several spectra on one axes (e.g. a
  raw core against the canonical form, before and after a gauge change);
* :func:`plot_entropy_profile` -- entropy against bond, one line per profile,
  with the bound ``log r_k``;
* :func:`plot_entropy_history`, :func:`plot_spectrum_history` -- what a
  :class:`~tnnlib.bonds.BondTracker` recorded during training;
* :func:`plot_probe_accuracy` -- held-out accuracy of a linear probe per bond;
* :func:`plot_components` -- bond features on their first two principal components;
* :func:`plot_class_means` -- class-conditional means of bond features;
* :func:`plot_truncation` -- accuracy against parameters of truncated layers;
* :func:`draw_bond_view` and :func:`bond_explorer` -- four views of one bond
  (spectrum, entropy during training, components, class means) for a
  chosen layer, bond, class and training step: a static figure, and the same
  with ipywidgets controls (:func:`tnnlib.widgets.interactive_figure`, safe
  in headless runs, shown as a picture without a kernel).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tnnlib import diagrams as dg
from tnnlib.bonds import BondProfile, BondTracker, class_means, principal_components
from tnnlib.plotting.common import COLORS, MARKERS, canvas, new_axes
from tnnlib.plotting.tt import plot_bond_spectra
from tnnlib.widgets import InteractiveFigure, interactive_figure

__all__ = ["plot_bond_cut", "plot_layer_spectra", "plot_spectrum_comparison", "plot_entropy_profile",
           "plot_entropy_history", "plot_spectrum_history", "plot_probe_accuracy", "plot_components",
           "plot_class_means", "plot_truncation", "draw_bond_view", "bond_explorer"]

_CLASS_COLORS = matplotlib.colormaps["tab10"]


def _profiles(profiles, where: str) -> dict:
    if isinstance(profiles, BondProfile):
        profiles = {"": profiles}
    if not isinstance(profiles, Mapping) or not profiles:
        raise ValueError(f"{where}: give a BondProfile or a non-empty mapping label -> BondProfile")
    for label, p in profiles.items():
        if not isinstance(p, BondProfile):
            raise TypeError(f"{where}: {label!r} is a {type(p).__name__}, not a BondProfile")
    return dict(profiles)


def _alpha_label(alpha: float) -> str:
    return "von Neumann entropy $S$" if alpha == 1 else \
        (r"Renyi entropy $S_\infty$" if math.isinf(alpha) else f"Renyi entropy $S_{{{alpha:g}}}$")


# --------------------------------------------------------------------------
# The diagram
# --------------------------------------------------------------------------

def plot_bond_cut(d: int = 4, bond: int = 2) -> Figure:
    """A TT-matrix of ``d`` cores cut at ``bond``, and what the cut means.

    Above: the chain ``G_1 .. G_d`` (inputs ``j_k`` up, outputs ``i_k`` down)
    with a dashed line through bond ``r_bond``. Below: the unfolding at the
    cut and its Schmidt decomposition.
    """
    if not 1 <= bond < d:
        raise ValueError(f"bond must be in [1, {d - 1}] for {d} cores, got {bond}")
    spacing = dg.STYLE["spacing"]
    fig, ax = canvas(1.9 * d + 1.0, 3.7)
    dg.draw_chain(d, ax=ax, kind="mpo")
    x_cut = (bond - 0.5) * spacing + 0.3
    ax.plot([x_cut, x_cut], [-1.35, 1.35], linestyle="--", color="#b23a1c", linewidth=1.6, gid="cut")
    ax.text(x_cut - 0.12, 1.25, f"left: $G_1 \\cdots G_{{{bond}}}$", ha="right", va="center", fontsize=11)
    ax.text(x_cut + 0.12, 1.25, f"right: $G_{{{bond + 1}}} \\cdots G_{{{d}}}$", ha="left", va="center",
            fontsize=11)
    formula = (rf"$W_{{\langle {bond}\rangle}} = \sum_{{a=1}}^{{r_{{{bond}}}}} s_a\, u_a v_a^{{T}}$,   "
               rf"$p_a = s_a^2 / \sum_b s_b^2$,   $S = -\sum_a p_a \log p_a \leq \log r_{{{bond}}}$")
    dg.draw_caption(ax, (d - 1) * spacing / 2, -1.55, formula, size=12)
    ax.set_ylim(-2.4, 1.6)
    return fig


# --------------------------------------------------------------------------
# Spectra and entropies
# --------------------------------------------------------------------------

def plot_layer_spectra(profiles, normalize: bool = True, title: str | None = None) -> Figure:
    """The spectra of every bond, one panel per profile (``{label: BondProfile}`` or one profile)."""
    profiles = _profiles(profiles, "plot_layer_spectra")
    fig = Figure(figsize=(5.2 * len(profiles), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(profiles)))
    for ax, (label, profile) in zip(axes, profiles.items()):
        plot_bond_spectra(profile.spectra, ax=ax, normalize=normalize, title=label or None)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def plot_spectrum_comparison(spectra: Mapping[str, Sequence[float]], ax: Axes | None = None,
                             normalize: bool = True, title: str | None = None) -> Figure:
    """Several spectra on one log axis, one line per label (zeros are not drawn).

    ``normalize``: divide each by its norm, so that spectra of differently scaled
    objects can be compared.
    """
    if not spectra:
        raise ValueError("plot_spectrum_comparison: give at least one spectrum")
    fig, ax = new_axes(ax, (6.0, 3.6))
    for k, (label, s) in enumerate(spectra.items()):
        s = np.asarray(s, dtype=float).ravel()
        if s.size == 0 or np.any(s < 0) or not np.any(s > 0):
            raise ValueError(f"plot_spectrum_comparison: {label!r} needs non-negative values, not all zero")
        if normalize:
            s = s / np.linalg.norm(s)
        s = s[s > 0]
        ax.semilogy(np.arange(1, s.size + 1), s, marker=MARKERS[k % len(MARKERS)], markersize=4,
                    color=COLORS[k % len(COLORS)], linestyle="-" if k % 2 == 0 else "--", label=label)
    ax.set_xlabel("index of the singular value")
    ax.set_ylabel("singular value" + (" / norm" if normalize else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def plot_entropy_profile(profiles, alpha: float = 1.0, ax: Axes | None = None, bound: bool = True,
                         title: str | None = None) -> Figure:
    """Entropy of each bond, one line per profile; dotted: ``log r_k`` of the first profile (a flat spectrum)."""
    profiles = _profiles(profiles, "plot_entropy_profile")
    fig, ax = new_axes(ax, (5.6, 3.6))
    first = next(iter(profiles.values()))
    bonds = np.arange(1, first.n_bonds + 1)
    for k, (label, profile) in enumerate(profiles.items()):
        if profile.n_bonds != first.n_bonds:
            raise ValueError("plot_entropy_profile: all profiles need the same number of bonds")
        ax.plot(bonds, profile.entropies(alpha), marker=MARKERS[k % len(MARKERS)], color=COLORS[k % len(COLORS)],
                label=label or None, gid=f"entropy:{label}")
    if bound:
        ax.plot(bonds, np.log(first.rank[1:-1]), linestyle=":", color="0.4", marker="_", markersize=14,
                label=r"$\log r_k$ (flat spectrum)", gid="bound")
    ax.set_xticks(bonds)
    ax.set_xlabel("bond $k$")
    ax.set_ylabel(_alpha_label(alpha) + " (nats)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def _check_tracker(tracker, where: str) -> BondTracker:
    if not isinstance(tracker, BondTracker):
        raise TypeError(f"{where}: expected a BondTracker, got {type(tracker).__name__}")
    if not tracker.steps:
        raise ValueError(f"{where}: the tracker has recorded nothing (pass it to fit(callbacks=[...]))")
    return tracker


def plot_entropy_history(tracker: BondTracker, layers=None, alpha: float = 1.0, title: str | None = None) -> Figure:
    """Entropy of every bond against the training step, one panel per layer (``layers``: names; default all)."""
    tracker = _check_tracker(tracker, "plot_entropy_history")
    layers = tracker.names if layers is None else list(layers)
    fig = Figure(figsize=(4.8 * len(layers), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(layers), sharey=True))
    for ax, name in zip(axes, layers):
        entropies = tracker.entropies(name, alpha)
        for b in range(entropies.shape[1]):
            ax.plot(tracker.steps, entropies[:, b], marker=".", color=COLORS[b % len(COLORS)],
                    label=f"bond {b + 1} ($r_{{{b + 1}}}$ = {tracker.profiles[name][0].rank[b + 1]})")
        ax.set_xlabel("training step")
        ax.set_title(f"layer {name}", fontsize=11)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    axes[0].set_ylabel(_alpha_label(alpha) + " (nats)")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def plot_spectrum_history(tracker: BondTracker, layer: str | None = None, bond: int = 1, normalize: bool = True,
                          ax: Axes | None = None, title: str | None = None) -> Figure:
    """The singular values of one bond against the training step: one line per index, darker = larger."""
    tracker = _check_tracker(tracker, "plot_spectrum_history")
    spectra = tracker.spectra(layer, bond)
    if normalize:
        spectra = spectra / np.linalg.norm(spectra, axis=1, keepdims=True)
    fig, ax = new_axes(ax, (5.6, 3.6))
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, spectra.shape[1]))
    for a in range(spectra.shape[1]):
        ax.semilogy(tracker.steps, np.where(spectra[:, a] > 0, spectra[:, a], np.nan), color=colors[a],
                    linewidth=1.2 if a < 3 else 0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("singular value" + (" / norm" if normalize else ""))
    ax.grid(True, alpha=0.3)
    name = tracker.layer_name(layer)
    ax.set_title(title or f"layer {name}, bond {bond}: {spectra.shape[1]} singular values", fontsize=11)
    return fig


# --------------------------------------------------------------------------
# Features: probes, components, class means
# --------------------------------------------------------------------------

def plot_probe_accuracy(results: Mapping[str, Sequence[float]], bond_labels: Sequence[str] | None = None,
                        chance: float | None = None, references: Mapping[str, float] | None = None,
                        ax: Axes | None = None, title: str | None = None) -> Figure:
    """Held-out accuracy of a linear probe per bond (fractions in [0, 1], drawn in %): grouped bars.

    ``results``: ``{series label: one accuracy per bond}``, every series the same
    length; ``bond_labels``: the x tick labels; ``chance`` and ``references``
    (``{label: accuracy}``, e.g. a probe on the pixels) are horizontal lines.
    """
    if not results:
        raise ValueError("plot_probe_accuracy: give at least one series")
    lengths = {len(v) for v in results.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError("plot_probe_accuracy: every series needs the same, non-zero number of bonds")
    n = lengths.pop()
    bond_labels = [f"bond {k + 1}" for k in range(n)] if bond_labels is None else list(bond_labels)
    if len(bond_labels) != n:
        raise ValueError(f"plot_probe_accuracy: {n} bonds but {len(bond_labels)} labels")
    fig, ax = new_axes(ax, (max(5.5, 0.9 * n * len(results) + 2), 3.8))
    width = 0.8 / len(results)
    for k, (label, values) in enumerate(results.items()):
        values = 100 * np.asarray(values, dtype=float)
        ax.bar(np.arange(n) + (k - (len(results) - 1) / 2) * width, values, width * 0.95, label=label,
               color=COLORS[k % len(COLORS)], gid=f"probe:{label}")
    lines = ({} if chance is None else {"chance": chance}) | dict(references or {})
    for k, (label, value) in enumerate(lines.items()):
        ax.axhline(100 * value, color="0.3", linestyle=[":", "--", "-."][k % 3], linewidth=1.2,
                   label=f"{label} ({100 * value:.1f}%)", gid=f"reference:{label}")
    ax.set_xticks(np.arange(n))
    ax.set_xticklabels(bond_labels, fontsize=9)
    ax.set_ylabel("held-out accuracy of the probe (%)")
    ax.set_ylim(0, 119)
    ax.set_yticks(range(0, 101, 20))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", ncol=4)
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_components(features, labels, class_names: Sequence[str] | None = None, highlight: int | None = None,
                    ax: Axes | None = None, title: str | None = None, max_points: int = 2000,
                    legend: bool = True) -> Figure:
    """Features ``(N, r)`` on their first two principal components, coloured by class.

    ``highlight``: a class drawn on top in full colour, the others faded. At
    most ``max_points`` examples are drawn (the first ones).
    """
    labels = np.asarray(labels)
    pca = principal_components(features, 2)
    scores = pca.scores if pca.scores.shape[1] == 2 else np.column_stack([pca.scores, np.zeros(len(labels))])
    scores, labels = scores[:max_points], labels[:max_points]
    fig, ax = new_axes(ax, (5.0, 4.2))
    classes = np.unique(labels)
    order = [c for c in classes if c != highlight] + ([highlight] if highlight in classes else [])
    for c in order:
        mask = labels == c
        faded = highlight is not None and c != highlight
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(scores[mask, 0], scores[mask, 1], s=6 if faded else 9, alpha=0.15 if faded else 0.8,
                   color=_CLASS_COLORS(int(c) % 10), label=name, gid=f"class:{c}", rasterized=True)
    ratio = pca.explained_variance_ratio
    ax.set_xlabel(f"component 1 ({100 * ratio[0]:.0f}% of the variance)")
    ax.set_ylabel(f"component 2 ({100 * ratio[1]:.0f}%)" if len(ratio) > 1 else "component 2")
    if legend:
        ax.legend(fontsize=7, frameon=False, markerscale=2, ncol=2, loc="best")
    ax.grid(True, alpha=0.2)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def plot_class_means(means, class_names: Sequence[str] | None = None, ax: Axes | None = None,
                     title: str | None = None, standardize: bool = True) -> Figure:
    """Class-conditional means ``(C, r)`` as a heat map: classes down, bond channels across.

    ``standardize``: subtract each channel's mean over the classes and divide
    by its std, so that every channel shows which classes excite it more or less.
    """
    means = np.asarray(means, dtype=float)
    if means.ndim != 2 or means.size == 0:
        raise ValueError(f"plot_class_means: means must be (classes, channels), got shape {means.shape}")
    if standardize:
        means = (means - np.nanmean(means, axis=0)) / np.maximum(np.nanstd(means, axis=0), 1e-12)
    fig, ax = new_axes(ax, (0.28 * means.shape[1] + 3.0, 3.8))
    limit = float(np.nanmax(np.abs(means))) or 1.0
    image = ax.imshow(means, cmap="RdBu_r" if standardize else "viridis", aspect="auto",
                      vmin=-limit if standardize else None, vmax=limit if standardize else None,
                      interpolation="nearest")
    ax.set_yticks(np.arange(means.shape[0]))
    ax.set_yticklabels(class_names if class_names is not None else [str(c) for c in range(means.shape[0])],
                       fontsize=8)
    ax.set_xlabel("bond channel $a$ (in the canonical gauge: decreasing $s_a$)")
    ax.figure.colorbar(image, ax=ax, label="z-score over classes" if standardize else "mean feature")
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def plot_truncation(params: Sequence[int], accuracies: Sequence[float], baseline: tuple,
                    labels: Sequence[str] | None = None, chosen: int | None = None, max_drop: float | None = None,
                    ax: Axes | None = None, title: str | None = None) -> Figure:
    """Test accuracy (fractions, drawn in %) of truncated layers against their parameters.

    ``baseline``: ``(params, accuracy)`` of the untruncated layer (a star and a
    horizontal line); ``labels``: one per point (e.g. the eps of the rule);
    ``chosen``: index of the point the rule picked (circled); ``max_drop``: shade
    the band within that many points of the baseline.
    """
    params, acc = np.asarray(params, dtype=float), 100 * np.asarray(accuracies, dtype=float)
    if params.ndim != 1 or params.shape != acc.shape or params.size == 0:
        raise ValueError("plot_truncation: need as many accuracies as parameter counts")
    base_params, base_acc = baseline[0], 100 * baseline[1]
    fig, ax = new_axes(ax, (6.0, 3.8))
    order = np.argsort(params)
    ax.plot(params[order], acc[order], marker="o", color=COLORS[0], label="truncated layer", gid="truncated")
    ax.plot([base_params], [base_acc], marker="*", markersize=14, color=COLORS[1], linestyle="none",
            label=f"trained, untruncated ({base_acc:.2f}%)", gid="baseline")
    ax.axhline(base_acc, color=COLORS[1], linewidth=0.8, linestyle="--")
    if max_drop is not None:
        ax.axhspan(base_acc - max_drop, base_acc, color="C2", alpha=0.12, label=f"within {max_drop:g} points",
                   gid="band")
    if labels is not None:
        for x, y, text in zip(params, acc, labels):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, -12), fontsize=8)
    if chosen is not None:
        ax.plot([params[chosen]], [acc[chosen]], marker="o", markersize=14, markerfacecolor="none",
                markeredgecolor="k", linestyle="none", label="the rule's choice", gid="chosen")
    ax.set_xlabel("parameters of the layer")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# One bond, four views; and the explorer
# --------------------------------------------------------------------------

def draw_bond_view(tracker: BondTracker, features: Mapping[str, Sequence], labels, *, layer: str, bond: int,
                   cls: int, step: int, class_names: Sequence[str] | None = None) -> Figure:
    """Four views of bond ``bond`` of layer ``layer`` for class ``cls`` at record ``step`` of ``tracker``.

    Top left: the bond's spectrum at that record (and, faded, before and after
    training). Top right: the entropy of every bond of the layer during
    training, this bond bold, the record marked. Bottom left: the layer's bond
    features (``features[layer][bond - 1]``, ``(N, r_k)`` with ``labels``, as
    :func:`tnnlib.bonds.collect_features` gives them, for the trained network)
    on their first two principal components, class ``cls`` highlighted.
    Bottom right: per channel, how far the mean feature of class ``cls`` lies
    from the mean over all examples, in standard deviations of the channel.
    ``step`` is an index into ``tracker.steps``; a ``bond`` beyond the layer's
    last bond is clamped to it.
    """
    tracker = _check_tracker(tracker, "draw_bond_view")
    if layer not in features:
        raise KeyError(f"draw_bond_view: no features for layer {layer!r}; have {list(features)}")
    n_bonds = tracker.profiles[layer][0].n_bonds
    bond = min(max(int(bond), 1), n_bonds)
    step = min(max(int(step), 0), len(tracker.steps) - 1)
    labels = np.asarray(labels)
    name = class_names[cls] if class_names is not None else str(cls)
    fig = Figure(figsize=(10.5, 7.0))
    (ax_s, ax_e), (ax_p, ax_m) = fig.subplots(2, 2)

    spectra = tracker.spectra(layer, bond)
    spectra = spectra / np.linalg.norm(spectra, axis=1, keepdims=True)
    index = np.arange(1, spectra.shape[1] + 1)
    for row, style, label in ((0, ":", "before training"), (-1, "--", "after training")):
        ax_s.semilogy(index, spectra[row], linestyle=style, color="0.55", label=label)
    ax_s.semilogy(index, spectra[step], marker="o", markersize=3, color=COLORS[0],
                  label=f"step {tracker.steps[step]}", gid="spectrum")
    ax_s.set(xlabel="index $a$", ylabel="$s_a$ / norm", title=f"layer {layer}, bond {bond}: spectrum")
    ax_s.legend(fontsize=8, frameon=False)
    ax_s.grid(True, alpha=0.3)

    entropies = tracker.entropies(layer)
    for b in range(n_bonds):
        ax_e.plot(tracker.steps, entropies[:, b], color=COLORS[b % len(COLORS)],
                  linewidth=2.4 if b + 1 == bond else 1.0, label=f"bond {b + 1}")
    ax_e.axvline(tracker.steps[step], color="k", linewidth=0.8, gid="step")
    ax_e.plot([tracker.steps[step]], [entropies[step, bond - 1]], marker="o", color="k")
    ax_e.set(xlabel="training step", ylabel="entropy $S$ (nats)", title="entropy of the bonds during training")
    ax_e.legend(fontsize=8, frameon=False)
    ax_e.grid(True, alpha=0.3)

    f = np.asarray(features[layer][bond - 1])
    plot_components(f, labels, class_names, highlight=cls, ax=ax_p, legend=False,
                    title=f"bond features (trained), class {name} highlighted")

    means = class_means(f, labels)
    spread = np.maximum(f.std(axis=0), 1e-12)
    contrast = (means[cls] - f.mean(axis=0)) / spread
    channels = np.arange(1, f.shape[1] + 1)
    ax_m.bar(channels, contrast, 0.7, color=_CLASS_COLORS(cls % 10), gid="class-mean")
    ax_m.axhline(0, color="k", linewidth=0.8)
    ax_m.set(xlabel="bond channel $a$", ylabel="(class mean - mean) / std",
             title=f"class {name}: which channels it excites")
    ax_m.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def bond_explorer(tracker: BondTracker, features: Mapping[str, Sequence], labels,
                  class_names: Sequence[str] | None = None, dpi: float | None = 80) -> InteractiveFigure:
    """:func:`draw_bond_view` with controls for the layer, the bond, the class and the training step.

    Built on :func:`tnnlib.widgets.interactive_figure`: it draws at once, redraws
    when a control changes, never stalls a headless run, and shows as its first
    picture where no kernel runs. Make it the last expression of a cell.
    """
    tracker = _check_tracker(tracker, "bond_explorer")
    layers = [name for name in tracker.names if name in features]
    if not layers:
        raise ValueError("bond_explorer: the features and the tracker share no layer")
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    most_bonds = max(tracker.profiles[name][0].n_bonds for name in layers)
    draw = functools.partial(draw_bond_view, tracker, features, labels, class_names=class_names)
    return interactive_figure(
        draw, dpi=dpi,
        layer=widgets.Dropdown(options=layers, value=layers[0], description="layer"),
        bond=widgets.IntSlider(value=1, min=1, max=most_bonds, description="bond", continuous_update=False),
        cls=widgets.Dropdown(options=[(n, c) for c, n in enumerate(names)], value=0, description="class"),
        step=widgets.IntSlider(value=len(tracker.steps) - 1, min=0, max=len(tracker.steps) - 1,
                               description="record", continuous_update=False),
    )
