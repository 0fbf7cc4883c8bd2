"""Tests of tnnlib.plotting.mps (lesson 10's plots)."""
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from tnnlib import diagrams as dg  # noqa: E402
from tnnlib.mps import pixel_order, trig_features  # noqa: E402
from tnnlib.plotting.mps import (  # noqa: E402
    draw_mps_classifier,
    plot_accuracy_vs_bond_dim,
    plot_chain_entropy,
    plot_entropy_maps,
    plot_feature_maps,
    plot_pixel_orders,
)


def test_the_diagram_has_pixel_cores_a_label_core_and_feature_vectors():
    fig = draw_mps_classifier(4, label_site=2)
    summary = dg.diagram_summary(fig.axes[0])
    assert sorted(summary.nodes) == sorted(["G1", "G2", "G3", "G4", "M", "phi1", "phi2", "phi3", "phi4"])
    assert ("M", "$c$") in summary.legs
    assert ("G2", "M") in summary.bonds and ("M", "G3") in summary.bonds and ("G1", "phi1") in summary.bonds
    with pytest.raises(ValueError, match="label_site"):
        draw_mps_classifier(3, label_site=5)


def test_feature_maps_one_panel_per_map_one_curve_per_component():
    fig = plot_feature_maps({"d = 2": trig_features, "d = 3": lambda x: trig_features(x, 3)})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 3
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata()[-1], 1.0)        # sin(pi / 2)
    with pytest.raises(ValueError, match="at least one"):
        plot_feature_maps({})


def test_pixel_orders_draw_the_path():
    fig = plot_pixel_orders({"row": pixel_order((3, 4)), "snake": pixel_order((3, 4), "snake")}, (3, 4))
    path = fig.axes[1].lines[0]
    np.testing.assert_array_equal(path.get_xdata()[:6], [0, 1, 2, 3, 3, 2])
    np.testing.assert_array_equal(path.get_ydata()[:6], [0, 0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="permutation"):
        plot_pixel_orders({"bad": [0, 0, 1]}, (1, 3))


def test_accuracy_plot_in_percent_with_epochs_and_target():
    fig = plot_accuracy_vs_bond_dim([2, 4, 8], [0.8, 0.9, 0.95], epochs=[2, 2, 4], target=97.5)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [80, 90, 95])
    assert ax.get_xscale() == "log"
    assert any(t.get_text() == "4 ep." for t in ax.texts) and any("97.5" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="fractions"):
        plot_accuracy_vs_bond_dim([2], [97.0])
    with pytest.raises(ValueError, match="as many"):
        plot_accuracy_vs_bond_dim([2, 4], [0.9])


def test_chain_entropy_curves_and_marks():
    fig = plot_chain_entropy({"a": [0.1, 0.5, 0.2], "b": np.zeros(3)}, marks=[2])
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="entropies"):
        plot_chain_entropy({"a": [-1.0]})


def test_entropy_maps_put_bond_k_on_the_pixel_of_site_k():
    order = torch.tensor([3, 0, 1, 2])
    fig = plot_entropy_maps({"x": ([1.0, 2.0, 3.0], order)}, (2, 2))
    grid = fig.axes[0].images[0].get_array()
    assert grid[1, 1] == 1.0 and grid[0, 0] == 2.0 and grid[0, 1] == 3.0
    assert np.isnan(np.ma.filled(grid.astype(float), np.nan)[1, 0])      # the last site has no bond after it
    with pytest.raises(ValueError, match="one per bond"):
        plot_entropy_maps({"x": ([1.0], order)}, (2, 2))
