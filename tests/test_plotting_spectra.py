"""Tests of tnnlib.plotting.spectra (lesson 02's plots and figures)."""
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from tnnlib import figures  # noqa: E402
from tnnlib.plotting.spectra import plot_rank_approximations, plot_spectra, show_image_rows  # noqa: E402
from tnnlib.svd import rank_for_energy  # noqa: E402


def _markers(ax):
    """(x, y) of the single-point marker lines of an axes."""
    return sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines if len(line.get_xdata()) == 1)


def test_spectra_plot_normalised_curves_and_a_legend():
    s = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
    fig = plot_spectra({"a": s, "b": np.ones(3)})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    left = fig.axes[0]
    np.testing.assert_allclose(left.lines[0].get_ydata(), s / s[0])      # normalised by s_1
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["a", "b"]


def test_spectra_mark_the_rank_of_each_energy_level():
    s = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
    right = plot_spectra({"a": s}, levels=(0.9, 0.99)).axes[1]
    left_out = 1 - np.cumsum(s ** 2) / (s ** 2).sum()
    dots = sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in right.lines if line.get_marker() == "o")
    expected = [(rank_for_energy(s, level), left_out[rank_for_energy(s, level) - 1]) for level in (0.9, 0.99)]
    np.testing.assert_allclose(dots, expected)
    assert [r for r, _ in expected] == [2, 4]       # kept: 20/21.3 = 0.94 >= 0.9; 21/21.3 = 0.985 < 0.99
    dashed = sorted(line.get_ydata()[0] for line in right.lines if line.get_linestyle() == "--")
    np.testing.assert_allclose(dashed, [0.01, 0.1])


@pytest.mark.parametrize("bad,match", [({}, "at least one"),
                                       ({"x": np.array([1.0, 2.0])}, "decreasing"),
                                       ({"x": np.array([1.0, -1.0])}, "non-negative"),
                                       ({"x": np.zeros(3)}, "all singular values are zero"),
                                       ({"x": np.ones((2, 2))}, "vector")])
def test_spectra_reject_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        plot_spectra(bad)


def test_rank_approximations_titles_give_error_and_storage():
    rng = np.random.default_rng(0)
    image = rng.random((12, 10))
    fig = plot_rank_approximations(image, [1, 3, None])
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 3
    # Eckart-Young: the error of rank r is the tail of the singular values
    s = np.linalg.svd(image, compute_uv=False)
    error_3 = np.sqrt((s[3:] ** 2).sum()) / np.sqrt((s ** 2).sum())
    assert titles[1].startswith(f"rank 3: error {error_3:.1%}")
    assert f"{3 * 22 / 120:.1%} of the numbers" in titles[1]
    assert titles[2].startswith("original") and "120 numbers" in titles[2]
    shown = fig.axes[2].images[0].get_array()
    np.testing.assert_allclose(shown, image)


@pytest.mark.parametrize("bad,ranks,match", [(np.zeros((2, 2, 2)), [1], "grayscale"),
                                             (np.zeros((4, 4)), [], "at least one rank")])
def test_rank_approximations_reject_bad_input(bad, ranks, match):
    with pytest.raises(ValueError, match=match):
        plot_rank_approximations(bad, ranks)


def test_image_rows_one_axes_per_image_and_a_label_per_row():
    rows = {"original": np.zeros((4, 16)), "rank 2": np.ones((4, 4, 4))}
    fig = show_image_rows(rows)
    assert len(fig.axes) == 8
    assert [fig.axes[0].get_ylabel(), fig.axes[4].get_ylabel()] == ["original", "rank 2"]


@pytest.mark.parametrize("rows,match", [({}, "at least one row"),
                                        ({"a": np.zeros((2, 15))}, "square"),
                                        ({"a": np.zeros((2, 4, 4)), "b": np.zeros((3, 4, 4))}, "same number")])
def test_image_rows_reject_bad_input(rows, match):
    with pytest.raises(ValueError, match=match):
        show_image_rows(rows)


def test_lesson_02_figures_are_registered():
    assert {"svd_network", "singular_values", "svd_photo_ranks"} <= set(figures.registered())
