"""Plotting helpers of the course, one module per kind of plot.

``images`` draws grids of images; lesson modules add their own (spectra,
compression curves...). Figures that the README and lessons embed are
registered in :mod:`tnnlib.figures`.
"""
