"""The helpers shared by the plotting modules (tnnlib.plotting.common)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from tnnlib.plotting import common, compression, decompositions, spectra, tt  # noqa: E402

PLOTTING_MODULES = [compression, decompositions, spectra, tt]


def test_new_axes_reuses_the_given_axes_or_makes_a_figure():
    fig, ax = common.new_axes(None, (5, 2))
    assert isinstance(fig, Figure) and ax.figure is fig and len(fig.axes) == 1
    assert fig.get_size_inches().tolist() == [5.0, 2.0]
    assert common.new_axes(ax, (9, 9)) == (fig, ax)


def test_canvas_axes_fill_the_figure():
    fig, ax = common.canvas(6.0, 2.5)
    assert ax.get_position().bounds == (0.0, 0.0, 1.0, 1.0)
    assert fig.get_size_inches().tolist() == [6.0, 2.5]
    assert common.canvas()[1].get_position().bounds == (0.0, 0.0, 1.0, 1.0)


def test_sorted_curve_sorts_by_x_and_checks_values():
    xs, ys = common.sorted_curve("c", [3, 1, 2, 1], [30, 10, 20, 11])
    assert xs.tolist() == [1, 1, 2, 3] and ys.tolist() == [10, 11, 20, 30]   # stable for ties
    with pytest.raises(ValueError, match="'c': need as many x as y"):
        common.sorted_curve("c", [1, 2], [1])
    with pytest.raises(ValueError, match="need as many x as y"):
        common.sorted_curve("c", [], [])
    with pytest.raises(ValueError, match="x values must be > 0"):
        common.sorted_curve("c", [0, 1], [1, 2], positive_x=True)
    with pytest.raises(ValueError, match="y values must be >= 0"):
        common.sorted_curve("c", [1, 2], [-1, 2], nonnegative_y=True)
    with pytest.raises(ValueError, match="must be numbers"):
        common.sorted_curve("c", ["a"], [1])


def test_plain_log_labels():
    fig, ax = common.new_axes(None, (3, 3))
    ax.set_yscale("log")
    common.plain_log_labels(ax.yaxis)
    major = ax.yaxis.get_major_formatter()
    assert isinstance(major, FuncFormatter) and major(0.2, 0) == "0.2" and major(1000, 0) == "1000"
    minor = ax.yaxis.get_minor_formatter()
    assert [minor(v, 0) for v in (0.03, 0.04, 0.5, 20, 300, 700)] == ["0.03", "", "0.5", "20", "300", ""]


def test_no_module_keeps_its_own_copy_of_the_helpers():
    for module in PLOTTING_MODULES:
        for name in ("_new_figure", "_axes", "_canvas", "_as_curve", "_plain_log_labels", "_MARKERS", "_LINESTYLES"):
            assert not hasattr(module, name), f"{module.__name__}.{name}: use tnnlib.plotting.common"


def test_one_plot_error_vs_params():
    assert tt.plot_error_vs_params is decompositions.plot_error_vs_params
    fig = tt.plot_error_vs_params({"a": (np.array([1, 10]), np.array([0.5, 0.1]))}, n_entries=100)
    assert [line.get_gid() for line in fig.axes[0].lines] == ["curve:a", "dense"]
