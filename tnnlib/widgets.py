"""Interactive figures for the lessons that never stall a headless run.

Every slider-with-a-plot of the course is built by :func:`interactive_figure`:

>>> import ipywidgets as widgets
>>> import matplotlib.pyplot as plt
>>> from tnnlib.widgets import interactive_figure
>>> def draw(rank):
...     fig, ax = plt.subplots()
...     ax.bar(range(rank), [1.0] * rank)
...     return fig
>>> view = interactive_figure(draw, rank=widgets.IntSlider(value=3, min=1, max=10, continuous_update=False))

``draw`` receives the controls' values as keyword arguments and returns a
matplotlib ``Figure``; the figure is rendered to PNG and shown in an
``ipywidgets.Image``, redrawn whenever a control changes.

Why not ``ipywidgets.interact``
-------------------------------
``interact`` (and ``interactive_output``, or any ``with Output():`` block)
captures the figure into an ``Output`` widget while the cell executes. A
headless runner built on nbclient (``jupyter nbconvert --execute``, nbgrader,
papermill, ``nbclient`` itself) imitates a front end for that widget: for every
captured output it sends a ``comm_msg`` back to the kernel on its *shell*
socket, from the task that reads IOPub, while another task awaits the
``execute_reply`` on that same asyncio socket. Now and then that wait misses
the reply: the reply sits readable in the socket while nbclient's poll keeps
waiting (a lost wake-up; pyzmq's asyncio sockets rely on libzmq's
edge-triggered ``ZMQ_FD``) until the cell's timeout, and then nbclient carries
on without an error. Measured on 2 cores: about 1 ``interact`` cell in 20-50
stalls; none when that send is suppressed or made on a separate socket. nbval
answers no widget and is not affected. Here nothing is captured into an
``Output`` widget: the PNG goes into an ``Image`` widget's state, which a
runner only records, never answers.

Headless runs and static views
------------------------------
The widget's display also carries the first figure as ``image/png``. JupyterLab
(and VS Code) render the live widget; a static view of an executed notebook
(nbconvert HTML without widget state, GitHub, an untrusted notebook) falls back
to that picture instead of "interactive(...)".
"""
from __future__ import annotations

import base64
import io
import sys
import traceback
from typing import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

__all__ = ["InteractiveFigure", "interactive_figure", "figure_png"]


def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """The figure as PNG bytes, cropped like the inline backend does (``bbox_inches="tight"``).

    A figure managed by pyplot is closed afterwards, so that ``%matplotlib inline``
    does not show it a second time at the end of the cell.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"draw must return a matplotlib Figure, got {type(fig).__name__}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)  # no-op for a figure pyplot does not manage
    return buffer.getvalue()


class InteractiveFigure(widgets.VBox):
    """Controls above a figure that is redrawn when they change (built by :func:`interactive_figure`).

    Attributes
    ----------
    controls : dict of str to ipywidgets.ValueWidget
        The controls by the name of the keyword argument of ``draw`` they set.
    image : ipywidgets.Image
        The current figure as PNG.
    message : ipywidgets.HTML
        Empty, or the error raised by ``draw`` for the values chosen last.
    """

    def __init__(self, draw: Callable[..., Figure], controls: dict, dpi: float | None = None, **kwargs):
        self._draw = draw
        self._dpi = dpi
        self.controls = dict(controls)
        self.image = widgets.Image(format="png")
        self.message = widgets.HTML()
        self.png = b""
        super().__init__(children=[*self.controls.values(), self.image, self.message], **kwargs)
        self.redraw()  # errors of the first drawing propagate: the cell fails loudly
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    @property
    def values(self) -> dict:
        """The controls' current values, as passed to ``draw``."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> bytes:
        """Draw the figure for the current values, show it, and return its PNG."""
        self.png = figure_png(self._draw(**self.values), dpi=self._dpi)
        self.image.value = self.png
        self.message.value = ""
        return self.png

    def _on_change(self, change) -> None:
        # Runs in a comm handler of the kernel, where an exception would only reach the
        # kernel's log: show it under the figure instead, and keep the last good figure.
        try:
            self.redraw()
        except Exception as error:  # noqa: BLE001 - anything draw raises is the learner's to see
            last = traceback.format_exception_only(type(error), error)[-1].strip()
            self.message.value = (f"<pre style='color: #b00'>draw({_format_values(self.values)}) "
                                  f"failed: {_escape(last)}</pre>")

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data is not None and self.png:
            data["image/png"] = base64.b64encode(self.png).decode("ascii")
        return data


def interactive_figure(draw: Callable[..., Figure], *, dpi: float | None = None, **controls) -> InteractiveFigure:
    """Controls and a figure that follows them, safe in headless runs (nbclient, nbval, nbgrader).

    Parameters
    ----------
    draw : callable
        ``draw(**values)`` returns a matplotlib ``Figure`` (``matplotlib.figure.Figure``,
        or a pyplot figure, which is then closed). It is called once at once, and again
        whenever a control changes.
    dpi : float, optional
        Resolution of the PNG (default: the figure's own).
    **controls
        One per keyword argument of ``draw``: an ipywidgets control (``IntSlider``,
        ``FloatSlider``, ``Dropdown``, ...) or an abbreviation as in ``interact``
        (``(1, 200)``, ``(0.0, 1.0, 0.1)``, a list of options, a bool). Sliders made
        from abbreviations redraw on release only (``continuous_update=False``).

    Returns
    -------
    InteractiveFigure
        An ``ipywidgets.VBox``; make it the last expression of the cell (or pass it to
        ``display``). In a static view of the notebook it shows as the first figure.
    """
    if not controls:
        raise ValueError("give at least one control, e.g. rank=widgets.IntSlider(value=20, min=1, max=200)")
    built = {}
    for name, abbrev in controls.items():
        control = widgets.interactive.widget_from_abbrev(abbrev)
        if control is None or not isinstance(control, widgets.ValueWidget):
            raise ValueError(f"cannot make a control for {name}={abbrev!r}")
        if control is not abbrev and hasattr(control, "continuous_update"):
            control.continuous_update = False
        if not control.description:
            control.description = name
        built[name] = control
    return InteractiveFigure(draw, built, dpi=dpi)


def _format_values(values: dict) -> str:
    return _escape(", ".join(f"{name}={value!r}" for name, value in values.items()))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
