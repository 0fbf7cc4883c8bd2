"""Plots and registered diagrams of lesson 03 (tnnlib.plotting.tt)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tnnlib import diagrams as dg  # noqa: E402
from tnnlib import figures  # noqa: E402
from tnnlib.plotting import decompositions  # noqa: E402
from tnnlib.plotting import tt as ttplot  # noqa: E402


def test_error_vs_params_draws_one_sorted_line_per_curve():
    fig = ttplot.plot_error_vs_params({"QTT": ([300, 100, 200], [0.1, 0.3, 0.2]),
                                       "SVD": ([100, 1000], [0.5, 0.0])}, full_size=2000, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in ("QTT", "SVD")]
    assert [line.get_label() for line in lines] == ["QTT", "SVD"]
    assert list(lines[0].get_xdata()) == [100, 200, 300]          # sorted by parameters
    assert list(lines[0].get_ydata()) == [0.3, 0.2, 0.1]
    assert list(lines[1].get_xdata()) == [100]                     # an error of 0 is not drawn
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_title() == "t"


def test_error_vs_params_draws_into_given_axes():
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert ttplot.plot_error_vs_params({"a": ([1, 2], [0.5, 0.25])}, ax=right) is fig
    assert len(right.get_lines()) == 1 and not left.get_lines()


def test_error_vs_params_is_the_one_of_lessons_04_and_05():
    assert ttplot.plot_error_vs_params is decompositions.plot_error_vs_params


@pytest.mark.parametrize("curves, match", [
    ({}, "empty"),
    ({"a": ([1, 2], [0.1])}, "same length"),
    ({"a": ([0, 2], [0.1, 0.2])}, "must be > 0"),
    ({"a": ([1, 2], [-0.1, 0.2])}, "must be >= 0"),
    ({"a": 3}, "expected a pair"),
])
def test_error_vs_params_rejects_bad_curves(curves, match):
    with pytest.raises(ValueError, match=match):
        ttplot.plot_error_vs_params(curves)


def test_bond_spectra_one_normalised_line_per_bond():
    spectra = [np.array([3.0, 4.0]), np.array([5.0, 0.0]), np.array([4.0, 2.0, 1.0])]
    fig = ttplot.plot_bond_spectra(spectra)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["$r_{1}$ (2)", "$r_{2}$ (1)", "$r_{3}$ (3)"]
    assert np.allclose(lines[0].get_ydata(), [0.6, 0.8])           # divided by the norm 5
    assert np.allclose(lines[1].get_ydata(), [1.0])                 # the zero is dropped
    raw = ttplot.plot_bond_spectra(spectra, normalize=False).axes[0].get_lines()
    assert np.allclose(raw[0].get_ydata(), [3.0, 4.0])


@pytest.mark.parametrize("spectra", [[], [np.array([])], [np.zeros(3)], [np.array([1.0, -1.0])]])
def test_bond_spectra_rejects_bad_input(spectra):
    with pytest.raises(ValueError):
        ttplot.plot_bond_spectra(spectra)


def test_show_image_row_titles_and_clipping():
    images = [np.full((4, 4), 1.5), np.zeros((4, 4))]
    fig = ttplot.show_image_row(images, titles=["over", "zero"])
    assert [ax.get_title() for ax in fig.axes] == ["over", "zero"]
    assert fig.axes[0].get_images()[0].get_array().max() == 1.0     # clipped for display
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        ttplot.show_image_row(images, titles=["one"])
    with pytest.raises(ValueError, match="2-d images"):
        ttplot.show_image_row([np.zeros(3)])


def test_lesson_03_figures_are_registered_and_build():
    names = figures.registered()
    for name in ("tt_svd_steps", "tt_canonical_forms", "qtt_quadtree"):
        assert name in names
        fig = figures.build(name)
        assert isinstance(fig, Figure)
        figures._close(fig)


def test_tt_svd_steps_draws_the_final_train():
    fig = ttplot.tt_svd_steps()
    s = dg.diagram_summary(fig.axes[0])
    d = ttplot.SVD_STEPS_ORDER
    # rows 0..d-1 hold 1, 2, ..., d nodes (the tensor, then cores and the rest)
    assert len(s.nodes) == d * (d + 1) // 2
    assert s.nodes.count(f"G{d}") == 1 and s.nodes.count("C0") == 1
    # every row has d open legs, one per mode
    assert len(s.legs) == d * d


def test_canonical_forms_has_three_trains_and_the_identity():
    fig = ttplot.tt_canonical_forms()
    s = dg.diagram_summary(fig.axes[0])
    assert s.nodes.count("G3") == 3 and "Gc" in s.nodes
    gids = [line.get_gid() for line in fig.axes[0].get_lines()]
    assert "tn-bond:identity" in gids


def test_qtt_quadtree_digits():
    fig = ttplot.qtt_quadtree()
    k = ttplot.QUADTREE_BITS
    assert len(fig.axes) == k
    # pixel (row 0, col 7) of the 8 x 8 grid: row bits 000, col bits 111 -> digit 1 in every panel
    for ax in fig.axes:
        image = ax.get_images()[0].get_array()
        assert image[0, 2 ** k - 1] == 1 and image[2 ** k - 1, 0] == 2 and image[-1, -1] == 3
