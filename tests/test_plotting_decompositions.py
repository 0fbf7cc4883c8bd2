import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from tnnlib.figures import build, registered  # noqa: E402
from tnnlib.plotting.decompositions import plot_cost_curves, plot_cp_degeneracy, plot_error_vs_params  # noqa: E402


def _gids(ax):
    return [line.get_gid() for line in ax.lines]


def test_error_vs_params_one_curve_per_format_sorted_and_dense_line():
    results = {"Tucker": ([300, 100, 200], [0.1, 0.5, 0.3]), "CP": ([50, 500], [0.6, 0.05])}
    fig = plot_error_vs_params(results, n_entries=1000, title="t")
    ax = fig.axes[0]
    assert {"curve:Tucker", "curve:CP"} <= set(_gids(ax)) and "dense" in _gids(ax)
    tucker = next(line for line in ax.lines if line.get_gid() == "curve:Tucker")
    assert list(tucker.get_xdata()) == [100, 200, 300]            # sorted by parameters
    assert list(tucker.get_ydata()) == [0.5, 0.3, 0.1]            # errors follow their points
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Tucker", "CP"]


def test_error_vs_params_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        plot_error_vs_params({})
    with pytest.raises(ValueError, match="as many x as y"):
        plot_error_vs_params({"TT": ([1, 2], [0.1])})
    with pytest.raises(ValueError, match="not both"):
        plot_error_vs_params({"TT": ([1, 2], [0.2, 0.1])}, n_entries=10, full_size=10)


def test_error_vs_params_older_keyword_full_size_is_n_entries():
    results = {"TT": ([10, 20], [0.2, 0.1])}
    new, old = plot_error_vs_params(results, n_entries=100), plot_error_vs_params(results, full_size=100)
    for fig in (new, old):
        dense = next(line for line in fig.axes[0].lines if line.get_gid() == "dense")
        assert list(dense.get_xdata()) == [100, 100]


def test_error_vs_params_linear_axis_keeps_zero_errors_log_axis_drops_them():
    results = {"SVD": ([100, 1000], [0.5, 0.0])}
    linear = plot_error_vs_params(results, logy=False).axes[0]
    assert linear.get_yscale() == "linear" and list(linear.lines[0].get_ydata()) == [0.5, 0.0]
    log = plot_error_vs_params(results).axes[0]
    assert log.get_yscale() == "log" and list(log.lines[0].get_ydata()) == [0.5]


def test_error_vs_params_into_given_axes_leaves_the_layout_alone():
    fig = Figure(figsize=(8, 3))
    left, right = fig.subplots(1, 2)
    before = right.get_position().bounds
    assert plot_error_vs_params({"a": ([1, 2], [0.5, 0.25])}, ax=right, title="t") is fig
    assert right.get_position().bounds == before and not left.lines
    assert right.get_title() == "t"


def test_cp_degeneracy_two_panels_with_norm_reference():
    norms = np.array([[1.0, 1.1], [2.0, 2.0], [4.0, 4.0]])
    fig = plot_cp_degeneracy([0.5, 0.1, 0.05, 0.01], sweeps=[1, 2, 4], norms=norms, tensor_norm=1.7)
    left, right = fig.axes
    assert _gids(left) == ["errors"]
    assert {"norm:0", "norm:1", "tensor_norm"} <= set(_gids(right))
    assert list(left.lines[0].get_xdata()) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="shape"):
        plot_cp_degeneracy([0.1], sweeps=[1, 2], norms=np.ones((3, 2)))
    with pytest.raises(ValueError, match="error_sweeps"):
        plot_cp_degeneracy([0.1, 0.2], sweeps=[1], norms=np.ones((1, 2)), error_sweeps=[1])


def test_cost_curves_reference_as_number_or_curve():
    fig = plot_cost_curves([1, 10, 100], {"TT": [1, 2, 3]}, "batch", "FLOPs", reference=[10, 100, 1000])
    assert {"curve:TT", "reference"} <= set(_gids(fig.axes[0]))
    fig = plot_cost_curves([1, 2], {"a": [1, 2], "b": [2, 3]}, "rank", "params", reference=5.0, logx=False)
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and "reference" in _gids(ax)
    with pytest.raises(ValueError, match="3 values for 2 sizes"):
        plot_cost_curves([1, 2], {"a": [1, 2, 3]}, "x", "y")
    with pytest.raises(ValueError, match="empty"):
        plot_cost_curves([1], {}, "x", "y")


@pytest.mark.parametrize("name", ["tucker_cp_tt", "tt_vs_ring", "ttm_reshape"])
def test_lesson_figures_are_registered_and_build(name):
    assert name in registered()
    fig = build(name)
    assert fig.axes and fig.axes[0].texts
