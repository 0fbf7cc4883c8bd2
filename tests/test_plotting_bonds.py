"""Plots and the explorer of lesson 09 (tnnlib.plotting.bonds)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from tnnlib import bonds  # noqa: E402
from tnnlib import diagrams as dg  # noqa: E402
from tnnlib.nn import TTLinear  # noqa: E402
from tnnlib.plotting import bonds as bplot  # noqa: E402
from tnnlib.train import fit  # noqa: E402
from tnnlib.widgets import InteractiveFigure  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    """A two-layer TT network trained for a few steps with a tracker, and its bond features."""
    torch.manual_seed(0)
    model = nn.Sequential(TTLinear(64, 32, 6, in_modes=(4, 4, 4), out_modes=(2, 4, 4)), nn.ReLU(),
                          TTLinear(32, 16, 4, in_modes=(2, 4, 4), out_modes=(2, 2, 4)), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(300, 64, generator=torch.Generator().manual_seed(1))
    y = x[:, :3].argmax(1)
    tracker = bonds.BondTracker(model, every_steps=2)
    fit(model, (x, y), epochs=2, batch_size=64, lr=1e-2, progress=False, callbacks=[tracker])
    return tracker, bonds.collect_features(model, x), y.numpy()


def test_bond_cut_draws_the_chain_and_the_cut():
    fig = bplot.plot_bond_cut(4, 2)
    ax = fig.axes[0]
    s = dg.diagram_summary(ax)
    assert s.nodes == ["G1", "G2", "G3", "G4"] and len(s.bonds) == 3 and len(s.legs) == 8
    cut = [line for line in ax.get_lines() if line.get_gid() == "cut"][0]
    assert dg.STYLE["spacing"] < cut.get_xdata()[0] < 2 * dg.STYLE["spacing"]     # between G_2 and G_3
    with pytest.raises(ValueError):
        bplot.plot_bond_cut(4, 4)


def test_layer_spectra_one_panel_per_profile(trained):
    tracker, _, _ = trained
    fig = bplot.plot_layer_spectra({"first": tracker.profiles["0"][-1], "second": tracker.profiles["2"][-1]})
    assert isinstance(fig, Figure) and [ax.get_title() for ax in fig.axes] == ["first", "second"]
    assert len(fig.axes[0].get_lines()) == 2                        # two bonds
    with pytest.raises(TypeError):
        bplot.plot_layer_spectra({"a": [1.0, 2.0]})
    with pytest.raises(ValueError):
        bplot.plot_layer_spectra({})


def test_spectrum_comparison_normalises_and_drops_zeros():
    fig = bplot.plot_spectrum_comparison({"a": [3.0, 4.0], "b": [2.0, 0.0]})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert np.allclose(lines[0].get_ydata(), [0.6, 0.8]) and np.allclose(lines[1].get_ydata(), [1.0])
    with pytest.raises(ValueError):
        bplot.plot_spectrum_comparison({"a": [0.0]})


def test_entropy_profile_lines_and_bound(trained):
    tracker, _, _ = trained
    first, last = tracker.profiles["0"][0], tracker.profiles["0"][-1]
    fig = bplot.plot_entropy_profile({"before": first, "after": last}, alpha=2)
    ax = fig.axes[0]
    by_gid = {line.get_gid(): line for line in ax.get_lines()}
    assert np.allclose(by_gid["entropy:after"].get_ydata(), last.entropies(2))
    assert np.allclose(by_gid["bound"].get_ydata(), np.log([6, 6]))
    assert "S_{2}" in ax.get_ylabel()
    with pytest.raises(ValueError, match="same number of bonds"):
        bplot.plot_entropy_profile({"a": first, "b": tracker.profiles["2"][0].__class__(
            spectra=(np.ones(2),), rank=(1, 2, 1), max_rank=(1, 2, 1))})


def test_histories_follow_the_tracker(trained):
    tracker, _, _ = trained
    fig = bplot.plot_entropy_history(tracker)
    assert len(fig.axes) == 2
    line = fig.axes[0].get_lines()[1]
    assert list(line.get_xdata()) == tracker.steps and np.allclose(line.get_ydata(), tracker.entropies("0")[:, 1])
    fig = bplot.plot_spectrum_history(tracker, "2", bond=2)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4 and fig.axes[0].get_yscale() == "log"
    spectra = tracker.spectra("2", 2)
    assert np.allclose(lines[0].get_ydata(), spectra[:, 0] / np.linalg.norm(spectra, axis=1))
    with pytest.raises(TypeError):
        bplot.plot_entropy_history("not a tracker")
    with pytest.raises(ValueError, match="recorded nothing"):
        bplot.plot_entropy_history(bonds.BondTracker(nn.Sequential(TTLinear(4, 4, 2, in_modes=(2, 2),
                                                                             out_modes=(2, 2)))))


def test_probe_accuracy_bars_and_references():
    fig = bplot.plot_probe_accuracy({"trained": [0.5, 0.9], "untrained": [0.4, 0.6]}, ["b1", "b2"], chance=0.1,
                                    references={"pixels": 0.8}, title="t")
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_gid() == "probe:trained"]
    assert [round(b.get_height(), 6) for b in bars] == [50.0, 90.0]
    gids = {line.get_gid() for line in ax.get_lines()}
    assert {"reference:chance", "reference:pixels"} <= gids
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b1", "b2"] and ax.get_title() == "t"
    with pytest.raises(ValueError):
        bplot.plot_probe_accuracy({"a": [0.1], "b": [0.1, 0.2]})
    with pytest.raises(ValueError):
        bplot.plot_probe_accuracy({"a": [0.1]}, ["x", "y"])


def test_components_and_class_means(trained):
    _, features, labels = trained
    f = features["0"][1]
    fig = bplot.plot_components(f, labels, ["a", "b", "c"], highlight=1)
    ax = fig.axes[0]
    groups = {c.get_gid(): c for c in ax.collections}
    assert set(groups) == {"class:0", "class:1", "class:2"}
    assert ax.collections[-1].get_gid() == "class:1"                 # highlighted class on top
    assert len(groups["class:1"].get_offsets()) == int(np.sum(labels == 1))
    assert "variance" in ax.get_xlabel()
    means = bonds.class_means(f, labels)
    fig = bplot.plot_class_means(means, ["a", "b", "c"])
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == means.shape and np.allclose(np.asarray(image).mean(axis=0), 0, atol=1e-12)
    with pytest.raises(ValueError):
        bplot.plot_class_means(np.zeros(3))


def test_truncation_marks_baseline_and_choice():
    fig = bplot.plot_truncation([300, 100, 200], [0.97, 0.90, 0.95], (400, 0.975), labels=["a", "b", "c"],
                                chosen=2, max_drop=0.5)
    ax = fig.axes[0]
    lines = {line.get_gid(): line for line in ax.get_lines()}
    assert list(lines["truncated"].get_xdata()) == [100, 200, 300]
    assert list(lines["chosen"].get_xdata()) == [200] and list(lines["baseline"].get_ydata()) == [97.5]
    with pytest.raises(ValueError):
        bplot.plot_truncation([1, 2], [0.5], (3, 0.6))


def test_bond_view_shows_the_chosen_bond_class_and_step(trained):
    tracker, features, labels = trained
    fig = bplot.draw_bond_view(tracker, features, labels, layer="2", bond=2, cls=1, step=1, class_names="abc")
    spectrum_ax, entropy_ax, pca_ax, means_ax = fig.axes[:4]
    spectrum = [line for line in spectrum_ax.get_lines() if line.get_gid() == "spectrum"][0]
    expected = tracker.spectra("2", 2)[1]
    assert np.allclose(spectrum.get_ydata(), expected / np.linalg.norm(expected))
    step_line = [line for line in entropy_ax.get_lines() if line.get_gid() == "step"][0]
    assert step_line.get_xdata()[0] == tracker.steps[1]
    assert pca_ax.collections[-1].get_gid() == "class:1"
    assert len([p for p in means_ax.patches if p.get_gid() == "class-mean"]) == 4
    clamped = bplot.draw_bond_view(tracker, features, labels, layer="2", bond=9, cls=0, step=99)
    assert "bond 2" in clamped.axes[0].get_title()
    with pytest.raises(KeyError):
        bplot.draw_bond_view(tracker, {}, labels, layer="2", bond=1, cls=0, step=0)


def test_explorer_builds_and_redraws_when_a_control_changes(trained):
    tracker, features, labels = trained
    view = bplot.bond_explorer(tracker, features, labels, class_names=["a", "b", "c"])
    assert isinstance(view, InteractiveFigure)
    assert set(view.controls) == {"layer", "bond", "cls", "step"}
    assert view.values == {"layer": "0", "bond": 1, "cls": 0, "step": len(tracker.steps) - 1}
    first = bytes(view.image.value)
    assert first.startswith(PNG_MAGIC)
    for name, value in (("bond", 2), ("cls", 2), ("step", 0), ("layer", "2")):
        before = view.png
        view.controls[name].value = value
        assert view.message.value == "" and view.png != before, f"changing {name} did not redraw"
    assert "image/png" in view._repr_mimebundle_()
    with pytest.raises(ValueError, match="share no layer"):
        bplot.bond_explorer(tracker, {"other": []}, labels)
