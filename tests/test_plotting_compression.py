"""Tests of tnnlib.plotting.compression (lessons 06-07's plots and figures)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from tnnlib import figures  # noqa: E402
from tnnlib.plotting import compression as cplot  # noqa: E402

RESULTS = {"TT": {"truncated": ([50, 10, 200], [60.0, 95.0, 30.0]), "healed": ([50, 10, 200], [99.1, 99.3, 98.0])},
           "CP": {"truncated": ([100], [20.0]), "healed": ([100], [98.5])}}


def _curve(ax, gid):
    return next(line for line in ax.get_lines() if line.get_gid() == gid)


def test_accuracy_vs_compression_one_sorted_line_per_format_and_stage():
    fig = cplot.plot_accuracy_vs_compression(RESULTS, baseline=99.36, target=(40, 0.3), title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    healed = _curve(ax, "curve:TT:healed")
    assert list(healed.get_xdata()) == [10, 50, 200]                 # sorted by compression
    assert list(healed.get_ydata()) == [99.3, 99.1, 98.0]
    truncated = _curve(ax, "curve:TT:truncated")
    assert truncated.get_linestyle() == "--" and healed.get_linestyle() == "-"
    assert truncated.get_color() == healed.get_color()                # one colour per format
    assert _curve(ax, "curve:CP:healed").get_color() != healed.get_color()
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    baseline = _curve(ax, "baseline")
    assert baseline.get_ydata()[0] == pytest.approx(99.36)
    target = next(p for p in ax.patches if p.get_gid() == "target")
    assert isinstance(target, Rectangle)
    assert target.get_x() == 40 and target.get_y() == pytest.approx(99.06) and target.get_height() == pytest.approx(0.3)


def test_accuracy_vs_compression_into_given_axes_and_single_stage_is_solid():
    fig = Figure()
    left, right = fig.subplots(1, 2)
    out = cplot.plot_accuracy_vs_compression({"TT": {"healed": ([2, 4], [99.0, 98.0])}}, ax=right)
    assert out is fig and not left.get_lines()
    assert _curve(right, "curve:TT:healed").get_linestyle() == "-"


@pytest.mark.parametrize("results, kwargs, match", [
    ({}, {}, "at least one format"),
    ({"TT": {}}, {}, "no stage"),
    ({"TT": {"h": ([1, 2], [99.0])}}, {}, "as many"),
    ({"TT": {"h": ([0, 2], [99.0, 98.0])}}, {}, "must be > 0"),
    ({"TT": {"h": 3}}, {}, "expected a pair"),
    ({"TT": {"h": ([1], [99.0])}}, {"target": (40, 0.3)}, "needs the baseline"),
])
def test_accuracy_vs_compression_rejects_bad_input(results, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cplot.plot_accuracy_vs_compression(results, **kwargs)


def test_layer_sensitivity_grouped_bars():
    table = {"conv1": {"e 0.8": 0.1, "e 0.4": 11.3}, "fc1": {"e 0.8": 0.0, "e 0.4": 0.75}}
    fig = cplot.plot_layer_sensitivity(table, title="s")
    ax = fig.axes[0]
    bars = {gid: [p for p in ax.patches if p.get_gid() == gid] for gid in ("bars:e 0.8", "bars:e 0.4")}
    assert [round(b.get_height(), 2) for b in bars["bars:e 0.4"]] == [11.3, 0.75]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "fc1"]
    assert ax.get_title() == "s"
    with pytest.raises(ValueError, match="at least one layer"):
        cplot.plot_layer_sensitivity({})
    with pytest.raises(ValueError, match="expected"):
        cplot.plot_layer_sensitivity({"a": {"x": 1.0}, "b": {"y": 2.0}})


def test_sweep_curves_groups_rows_by_method_in_percent():
    rows = [{"method": "tt", "compression": 50.0, "acc_truncated": 0.5, "acc_healed": 0.99},
            {"method": "cp", "compression": 75.0, "acc_truncated": 0.3, "acc_healed": 0.98},
            {"method": "tt", "compression": 20.0, "acc_truncated": 0.9, "acc_healed": 0.992}]
    curves = cplot.sweep_curves(rows)
    assert list(curves) == ["TT", "CP"]
    np.testing.assert_allclose(curves["TT"]["healed"][1], [99.0, 99.2])
    assert curves["TT"]["truncated"][0] == [50.0, 20.0]


def test_sweep_settings_reach_past_the_target():
    tt = [s for s in cplot.SWEEP_SETTINGS if s["method"] == "tt"]
    assert {(s["in_modes"], s["out_modes"]) for s in tt} == {cplot.TT_MODES}
    assert all("rank" in s for s in cplot.SWEEP_SETTINGS if s["method"] == "cp")
    assert {s["method"] for s in cplot.SWEEP_SETTINGS} == {"tt", "tucker", "cp"}


def test_figures_are_registered():
    assert {"conv_factorizations", "compression_tradeoff"} <= set(figures.registered())


def test_conv_factorizations_figure_lists_the_stages():
    fig = cplot.conv_factorizations()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for words in ["CP (Lebedev et al. 2015)", "Tucker-2 (Kim et al. 2016)", "depthwise", "1x1 conv"]:
        assert words in texts


def test_plot_sweep_has_a_zoomed_healed_panel():
    rows = [{"method": "tt", "compression": 50.0, "acc_truncated": 0.5, "acc_healed": 0.991},
            {"method": "tucker", "compression": 20.0, "acc_truncated": 0.98, "acc_healed": 0.992}]
    fig = cplot.plot_sweep(rows, 99.36, title="t")
    left, right = fig.axes
    assert left.get_title() == "t"
    assert {line.get_gid() for line in right.get_lines()} == {"curve:TT:healed", "curve:Tucker-2:healed", "baseline"}
    assert right.get_ylim() == pytest.approx((97.36, 99.66))
    # one legend under both panels, none inside them
    assert left.get_legend() is None and right.get_legend() is None and len(fig.legends) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["TT, truncated", "TT, healed"] and "dense (99.36%)" in labels
