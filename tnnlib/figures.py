"""The figures of the course, and the command that regenerates them.

Every PNG in the repository's ``figures/`` folder is made by a function
registered here::

    python -m tnnlib.figures                  # regenerate all of figures/
    python -m tnnlib.figures --only mpo       # just figures/mpo.png
    python -m tnnlib.figures --out /tmp/figs  # somewhere else
    python -m tnnlib.figures --svg            # also write figures/NAME.svg
    python -m tnnlib.figures --list           # names of the figures

The command works in a checkout of the course: it refuses to write into an
installed copy of tnnlib (``site-packages``), which has no ``figures/``
folder; there, give another folder with ``--out``. It also refuses to
rewrite ``figures/`` in fast mode (``TNN_FAST=1``), where some figures are
reduced versions.

Adding a figure
---------------
Write a function that returns a :class:`matplotlib.figure.Figure` and
decorate it with :func:`figure`; the name given is the name of the PNG::

    from matplotlib.figure import Figure
    from tnnlib import diagrams as dg
    from tnnlib.figures import figure

    @figure("tensor_ring")
    def tensor_ring():
        ax = Figure().add_axes((0, 0, 1, 1))
        dg.draw_chain(5, ax=ax, kind="ring")
        return dg.fit_figure(ax)  # 1 data unit = dg.STYLE["scale"] inches

``fit_figure`` gives every diagram the same scale (nodes, legs and letters
of the same size in all figures); a figure of several plots can instead be
made with ``Figure(figsize=...)``.

Make the figure with ``matplotlib.figure.Figure`` rather than
``plt.figure`` (nothing is left open in pyplot, and a notebook shows it
once), and fix any random seed inside the function.  A module outside this
file that registers figures must be listed in :data:`FIGURE_MODULES` (one
line) so that the command finds it.

In a notebook, ``build("tensor_train")`` returns the figure to show.
"""
from __future__ import annotations

import argparse
import importlib
import re
import site
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import matplotlib
from matplotlib.figure import Figure

from tnnlib import diagrams as dg
from tnnlib.plotting.common import canvas
from tnnlib.runtime import fast_mode

#: Modules, besides this one, whose import registers figures.
#: A lesson that needs new figures adds one line here, e.g. "tnnlib.tt_figures".
FIGURE_MODULES: tuple = (
    "tnnlib.plotting.decompositions",  # lessons 04-05: tucker_cp_tt, tt_vs_ring, ttm_reshape
    "tnnlib.plotting.spectra",  # lesson 02: svd_network, singular_values, svd_photo_ranks
    "tnnlib.plotting.tt",  # lesson 03: tt_svd_steps, tt_canonical_forms, qtt_quadtree
    "tnnlib.plotting.compression",  # lessons 06-07: conv_factorizations, compression_tradeoff
)

#: Folder of the figures of the course: ``figures/`` at the repository root.
FIGURES_DIR = Path(__file__).resolve().parent.parent / "figures"

#: Resolution of every PNG, in dots per inch (a diagram's letters are then
#: about 30 pixels high, readable when a lesson is projected).
DPI = 160

#: Formats that ``save`` and the command can write (PNG always).
FORMATS = ("png", "svg")

_REGISTRY: dict[str, Callable[[], Figure]] = {}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


def figure(name: str):
    """Register the decorated function as the maker of ``figures/NAME.png``.

    Parameters
    ----------
    name : str
        File name without extension: lower case letters, digits, ``_``, ``-``.

    Raises
    ------
    ValueError
        If the name is malformed or already taken by another function.
    """
    if not _NAME.match(name):
        raise ValueError(f"bad figure name {name!r}: use lower case letters, digits, '_' or '-'")

    def register(func: Callable[[], Figure]) -> Callable[[], Figure]:
        old = _REGISTRY.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (func.__module__, func.__qualname__):
            raise ValueError(f"figure {name!r} is registered twice: by "
                             f"{old.__module__}.{old.__qualname__} and "
                             f"{func.__module__}.{func.__qualname__}")
        _REGISTRY[name] = func
        return func

    return register


def registered() -> dict[str, Callable[[], Figure]]:
    """All registered figures ``{name: function}``, sorted by name.

    Imports the modules of :data:`FIGURE_MODULES` first.
    """
    for module in FIGURE_MODULES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def build(name: str) -> Figure:
    """Make the registered figure `name` and return it.

    Raises
    ------
    KeyError
        If no figure of that name is registered.
    """
    figures = registered()
    if name not in figures:
        raise KeyError(f"no figure named {name!r}; registered: {', '.join(figures)}")
    fig = figures[name]()
    if not isinstance(fig, Figure):
        raise TypeError(f"figure {name!r} returned {type(fig).__name__}, not a Figure")
    return fig


def save(name: str, out_dir: Path | str = FIGURES_DIR, svg: bool = False) -> Path:
    """Build figure `name` and write it to ``out_dir/NAME.png`` (and ``NAME.svg`` if `svg`).

    The files are written without metadata (no software version or date),
    and SVG element ids are seeded, so that the same code and libraries give
    the same bytes.

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig = build(name)
    options = dict(bbox_inches="tight", pad_inches=0.08, facecolor="white")
    try:
        fig.savefig(path, dpi=DPI, metadata={"Software": None}, **options)
        if svg:
            with matplotlib.rc_context({"svg.hashsalt": f"tnnlib-{name}"}):
                fig.savefig(path.with_suffix(".svg"), metadata={"Date": None, "Creator": None}, **options)
    finally:
        _close(fig)
    return path


def _close(fig: Figure) -> None:
    """Release a figure, also from pyplot if it was made there (pyplot is then imported)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


# --------------------------------------------------------------------------
# Lesson 01: tensors, diagrams, contractions
# --------------------------------------------------------------------------

#: Sizes of the matrix chain A B C D of ``chain_order`` (matrix k is
#: dims[k] x dims[k+1]) and the two orders of contraction compared there.
CHAIN_DIMS = (100, 100, 100, 100, 5)
CHAIN_ORDERS = {"left to right": (1, 2, 3), "right to left": (3, 2, 1)}


def _canvas():
    """Axes filling a new figure; :func:`diagrams.fit_figure` sizes it at the end."""
    return canvas()[1]


@figure("tensor_orders")
def tensor_orders() -> Figure:
    """Scalar, vector, matrix and order-3 tensor, with their index notation."""
    ax = _canvas()
    panels = [(0, "a", "scalar", "$a$"), (1, "v", "vector", "$v_i$"),
              (2, "M", "matrix", "$M_{ij}$"), (3, "T", "tensor", "$T_{ijk}$")]
    xs = [0.0, 2.1, 4.8, 7.7]
    for (order, name, word, formula), x in zip(panels, xs):
        dg.draw_tensor(order, ax=ax, name=name, at=(x, 0.0))
        dg.draw_caption(ax, x, -1.4, f"{word}, order {order}")
        dg.draw_caption(ax, x, -1.85, formula, size=15)
    return dg.fit_figure(ax)


@figure("contraction")
def contraction() -> Figure:
    """Matrix-vector and matrix-matrix products as diagrams and einsum."""
    ax = _canvas()
    rows = [("matvec", r"$y_i = \sum_j \; A_{ij}\, x_j$", "x"),
            ("matmat", r"$C_{ik} = \sum_j \; A_{ij}\, B_{jk}$", "B")]
    x_text = 6.9
    for row, (kind, formula, second) in enumerate(rows):
        y = -2.0 * row
        dg.draw_contraction(ax=ax, kind=kind, at=(0.0, y))
        dg.draw_caption(ax, x_text, y + 0.55, formula, ha="left")
        dg.draw_caption(ax, x_text, y - 0.3,
                        f'np.einsum("{dg.contraction_einsum(kind)}", A, {second})',
                        mono=True, size=12, ha="left")
    return dg.fit_figure(ax)


@figure("tensor_train")
def tensor_train() -> Figure:
    """A tensor train (MPS) of 5 cores with its formula."""
    ax = _canvas()
    dg.draw_chain(5, ax=ax, kind="mps")
    centre = 2 * dg.STYLE["spacing"]
    dg.draw_caption(ax, centre, -1.35,
                    r"$T[i_1, i_2, i_3, i_4, i_5] = \sum_{r_1, \dots, r_4}"
                    r" G_1[i_1, r_1]\, G_2[r_1, i_2, r_2] \cdots G_5[r_4, i_5]$")
    dg.draw_caption(ax, centre, -2.1,
                    r"core $G_k$: $r_{k-1} \times n_k \times r_k$,  $r_0 = r_5 = 1$",
                    size=12, color="#555555")
    return dg.fit_figure(ax)


@figure("mpo")
def mpo() -> Figure:
    """A TT-matrix (MPO) of 4 cores: inputs j_k up, outputs i_k down."""
    ax = _canvas()
    dg.draw_chain(4, ax=ax, kind="mpo")
    centre = 1.5 * dg.STYLE["spacing"]
    dg.draw_caption(ax, centre, -1.5,
                    r"$W[i_1 i_2 i_3 i_4,\; j_1 j_2 j_3 j_4] ="
                    r" G_1[i_1, j_1]\, G_2[i_2, j_2]\, G_3[i_3, j_3]\, G_4[i_4, j_4]$")
    dg.draw_caption(ax, centre, -2.1,
                    r"inputs $j_k$ (size $n_k$) up, outputs $i_k$ (size $m_k$) down;"
                    r"  $G_k[i_k, j_k]$ is $r_{k-1} \times r_k$",
                    size=12, color="#555555")
    return dg.fit_figure(ax)


def _thousands(number: int) -> str:
    """``1000000`` -> ``1\\,000\\,000`` (mathtext thin spaces)."""
    return f"{number:,}".replace(",", r"\,")


@figure("chain_order")
def chain_order() -> Figure:
    """The matrix chain A B C D contracted in two orders, with their costs."""
    ax = _canvas()
    dims = CHAIN_DIMS
    spacing = 2.0
    for row, (how, order) in enumerate(CHAIN_ORDERS.items()):
        y = -3.2 * row
        steps = dg.matrix_chain_steps(dims, order)
        dg.draw_matrix_chain(dims, order, ax=ax, at=(0.0, y), spacing=spacing)
        dg.draw_caption(ax, 1.5 * spacing, y + 0.9,
                        f"{how}: ${steps[-1][0]}$", size=14, va="bottom")
        x_text = 3 * spacing + 2.4
        for k, (expr, sizes, cost) in enumerate(steps, start=1):
            y_k = y + 0.75 - 0.62 * k
            dg.draw_step_number(ax, x_text, y_k, k)
            product = sizes.replace("·", r" \cdot ")
            dg.draw_caption(ax, x_text + 0.3, y_k,
                            f"${expr}$:  ${product} = {_thousands(cost)}$",
                            ha="left", va="center")
        total = sum(s[2] for s in steps)
        dg.draw_caption(ax, x_text + 0.3, y + 0.75 - 0.62 * 4,
                        f"total: ${_thousands(total)}$ multiplications",
                        ha="left", va="center", color=dg.STYLE["bond_color"])
    return dg.fit_figure(ax)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the figures; see ``python -m tnnlib.figures --help``."""
    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(prog="python -m tnnlib.figures",
                                     description="Regenerate the figures of the course.")
    parser.add_argument("--out", type=Path, default=FIGURES_DIR,
                        help=f"output folder (default: {FIGURES_DIR})")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="regenerate only these figures")
    parser.add_argument("--svg", action="store_true", help="also write each figure as NAME.svg")
    parser.add_argument("--format", choices=FORMATS, action="append", dest="formats", metavar="FORMAT",
                        help="png (always written) or svg; --format svg is the same as --svg")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    args = parser.parse_args(argv)

    names = list(registered())
    if args.list:
        print("\n".join(names))
        return 0
    problem = _installed_copy_problem(args.out)
    if problem:
        parser.error(problem)
    if fast_mode() and args.out.resolve() == FIGURES_DIR.resolve():
        parser.error("fast mode is on (TNN_FAST=1), which makes some figures reduced versions; "
                     "unset TNN_FAST to regenerate figures/, or write elsewhere with --out")
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown figure(s) {', '.join(unknown)}; "
                         f"registered: {', '.join(names)}")
        names = [n for n in names if n in args.only]
    svg = args.svg or "svg" in (args.formats or ())
    for name in names:
        path = save(name, args.out, svg=svg)
        print(f"wrote {_display(path)}")
        if svg:
            print(f"wrote {_display(path.with_suffix('.svg'))}")
    return 0


def _site_packages() -> list:
    """The folders where this Python installs packages (site-packages, dist-packages)."""
    folders = [sysconfig.get_paths()[key] for key in ("purelib", "platlib")]
    folders += getattr(site, "getsitepackages", list)()
    user = getattr(site, "getusersitepackages", lambda: None)()
    folders += [user] if isinstance(user, str) else []
    return [Path(folder).resolve() for folder in folders]


def _inside_site_packages(path: Path) -> bool:
    """True if `path` is, or is inside, a folder where Python installs packages."""
    path = Path(path).resolve()
    return any(part in ("site-packages", "dist-packages") for part in path.parts) or any(
        folder == path or folder in path.parents for folder in _site_packages())


def _installed_copy_problem(out: Path) -> str | None:
    """Why the command must not write into `out` (an installed package folder), or None."""
    if not _inside_site_packages(out):
        return None
    installed = (f" (this tnnlib, {Path(__file__).resolve().parent}, is an installed copy, not a checkout)"
                 if _inside_site_packages(FIGURES_DIR) else "")
    return (f"refusing to write into {Path(out).resolve()}: it is inside an installed package folder "
            f"(site-packages){installed}. The figures belong in the figures/ folder of a checkout of the "
            "course: run the command in a git checkout (where tnnlib is installed with `pip install -e .`), "
            "or give another folder with --out DIR.")


def _display(path: Path) -> str:
    """`path` relative to the current folder when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    # Run the copy imported as ``tnnlib.figures``, whose registry the other
    # figure modules fill (this file also runs as ``__main__``).
    from tnnlib import figures as _figures

    sys.exit(_figures.main())
