"""Plotting helpers of the course, one module per kind of plot.

``images`` draws grids of images; lesson modules add their own (``spectra``
for lesson 02, ``tt`` for 03, ``decompositions`` for 04-05, ``compression``
for 06-07). The small helpers they share (new axes, a full-figure canvas,
checking and sorting a curve, marker and colour cycles) live in ``common``,
and the one plot of error against parameters is
:func:`tnnlib.plotting.decompositions.plot_error_vs_params` (also importable
from ``tnnlib.plotting.tt``). Figures that the README and lessons embed are
registered in :mod:`tnnlib.figures`.
"""
