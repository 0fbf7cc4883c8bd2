"""Penrose-style tensor-network diagrams drawn with matplotlib.

A tensor is drawn as a *node* and each of its indices as a line, a *leg*.
An **open leg** ends free and carries the name of its index; a **bond**
joins two nodes and stands for an index that is summed over (contracted).
The number of legs of a node is the order of the tensor::

    scalar   vector     matrix        order-3 tensor
      (a)    i--(v)   i--(A)--j     i--(T)--j
                                       |
                                       k

The module has one general function, :func:`draw_network`, and builders for
the pictures the course uses again and again: :func:`draw_tensor`,
:func:`draw_contraction`, :func:`draw_chain` (tensor train / MPS, TT-matrix
/ MPO, tensor ring), :func:`draw_tucker`, :func:`draw_cp` and
:func:`draw_matrix_chain` (order of contraction of a matrix product).

Notation used across the course
-------------------------------
* ``i, j, k`` are open indices, ``d`` is the order of a tensor and ``n_k``
  the size of mode ``k``;
* ``r_k`` are bond dimensions (TT ranks), ``G_k`` the TT cores;
* a TT-matrix core ``G_k`` has an input index ``j_k`` (leg up) and an output
  index ``i_k`` (leg down).

Labels are written in matplotlib *mathtext*: ``"r_1"`` is shown as
:math:`r_1` (see :func:`tex`). Every artist carries a ``gid`` (``"tn-node"``,
``"tn-bond"``, ``"tn-leg"``, ``"tn-label"``), so a drawing can be checked
with :func:`diagram_summary`.

Examples
--------
>>> from tnnlib.diagrams import draw_network
>>> ax = draw_network({"A": (0, 0), "x": (1.6, 0)},
...                   [("A", "x", "j"), ("A", None, "i", "left")])
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch
from matplotlib.path import Path

__all__ = [
    "STYLE",
    "Node",
    "Edge",
    "DiagramSummary",
    "tex",
    "draw_network",
    "draw_caption",
    "fit_figure",
    "diagram_summary",
    "draw_tensor",
    "draw_contraction",
    "draw_chain",
    "draw_tucker",
    "draw_cp",
    "draw_matrix_chain",
    "matrix_chain_steps",
    "draw_step_number",
]

# --------------------------------------------------------------------------
# Style
# --------------------------------------------------------------------------

#: Colours and sizes shared by every diagram of the course.  Sizes of nodes
#: and fonts are in points, lengths of legs and spacings in data units.
STYLE = {
    "line_color": "#1d3557",
    "line_width": 2.2,
    "node_face": "#d7e8f7",
    "node_edge": "#1d3557",
    "special_face": "#fbe3c4",   # cores of Tucker, results, ...
    "delta_face": "#1d3557",     # the "copy" / superdiagonal tensor of CP
    "node_size": 34,
    "node_font": 14,
    "leg_font": 14,
    "leg_color": "#1d3557",
    "bond_font": 13,
    "bond_color": "#b23a1c",
    "caption_font": 13,
    "title_font": 14,
    "leg_length": 0.8,
    "spacing": 1.7,
    "scale": 0.75,            # inches per data unit of a figure made here
    "math_font": "cm",        # mathtext in Computer Modern, like LaTeX
    "text_font": "cmr10",     # prose in Computer Modern too
    "code_font": "cmtt10",    # code (einsum strings) in CM typewriter
}

#: Direction names accepted for open legs, as angles in degrees.
DIRECTIONS = {
    "right": 0.0, "upright": 45.0, "up": 90.0, "upleft": 135.0,
    "left": 180.0, "downleft": 225.0, "down": 270.0, "downright": 315.0,
}

# matplotlib markers for each node shape
_SHAPES = {
    "circle": "o",
    "triangle": "^",
    "triangle_up": "^",
    "triangle_down": "v",
    "triangle_left": "<",
    "triangle_right": ">",
    "diamond": "D",
    "dot": "o",
}


def _rounded_square() -> Path:
    """Path of a square with rounded corners, used as a marker."""
    box = FancyBboxPatch((-0.5, -0.5), 1.0, 1.0,
                         boxstyle="round,pad=0,rounding_size=0.22")
    return box.get_path()


_SHAPES["box"] = _rounded_square()


def tex(text) -> str:
    """Return `text` as mathtext, e.g. ``"r_1"`` -> ``"$r_1$"``.

    Strings that already contain ``$`` or contain a space (ordinary prose)
    are returned unchanged; numbers are converted to strings.

    Examples
    --------
    >>> tex("r_1"), tex("$G_1$"), tex(16), tex("order 3")
    ('$r_1$', '$G_1$', '$16$', 'order 3')
    """
    text = str(text)
    if not text or "$" in text or " " in text:
        return text
    return f"${text}$"


def _sub(letter: str, k) -> str:
    """Mathtext for ``letter`` with subscript ``k`` (braces when needed)."""
    return f"${letter}_{{{k}}}$"


def _text_kw(size: float, color: str) -> dict:
    """Keyword arguments shared by the texts of a diagram."""
    return dict(fontsize=size, color=color, family=STYLE["text_font"],
                math_fontfamily=STYLE["math_font"])


# --------------------------------------------------------------------------
# Nodes and edges
# --------------------------------------------------------------------------

@dataclass
class Node:
    """A tensor drawn at ``(x, y)``.

    Parameters
    ----------
    name : str
        Identifier used by the edges.
    x, y : float
        Position in data units.
    shape : str
        ``"circle"`` (a tensor), ``"box"`` (rounded square, e.g. a core),
        ``"triangle"`` / ``"triangle_down"`` / ``"triangle_left"`` /
        ``"triangle_right"`` (isometries), ``"diamond"`` or ``"dot"`` (the
        small black copy tensor of CP).
    label : str, optional
        Text written in the node; defaults to ``tex(name)``.
    size : float, optional
        Diameter in points; defaults to ``STYLE["node_size"]``.
    color : str, optional
        Fill colour; defaults to ``STYLE["node_face"]``.
    """

    name: str
    x: float
    y: float
    shape: str = "circle"
    label: str | None = None
    size: float | None = None
    color: str | None = None

    def __post_init__(self):
        if self.shape not in _SHAPES:
            raise ValueError(f"node {self.name!r}: unknown shape {self.shape!r}; "
                             f"choose one of {sorted(_SHAPES)}")


@dataclass
class Edge:
    """A bond between two nodes, or an open leg of one node.

    Parameters
    ----------
    a : str
        Name of the first node.
    b : str or None
        Name of the second node, or ``None`` for an open leg.
    label : str, optional
        Index name, written in mathtext (``"r_1"`` shows as :math:`r_1`).
    direction : str or float, optional
        For an open leg: a name of :data:`DIRECTIONS` (``"up"``,
        ``"downleft"``, ...) or an angle in degrees.
    dim : str or int, optional
        Dimension of the index, written after the label: ``i (n_1)``.
    bend : float
        For a bond: curvature, as the offset of the middle of the curve
        from the straight line, in units of its length (positive: to the
        left when going from `a` to `b`).
    side : {+1, -1}, optional
        Side of the bond where its label goes (+1: left of ``a -> b``);
        by default above (or to the right of a vertical bond), and on the
        outer side of a bent bond.
    length : float, optional
        Length of an open leg in data units (default ``STYLE["leg_length"]``).
    """

    a: str
    b: str | None = None
    label: str | None = None
    direction: str | float | None = None
    dim: str | int | None = None
    bend: float = 0.0
    side: int | None = None
    length: float | None = None

    @property
    def is_leg(self) -> bool:
        """True for an open leg, False for a bond."""
        return self.b is None


@dataclass
class DiagramSummary:
    """What a diagram contains: names of nodes, bonds, legs and all labels."""

    nodes: list = field(default_factory=list)
    bonds: list = field(default_factory=list)
    legs: list = field(default_factory=list)
    labels: list = field(default_factory=list)


NodeSpec = Union[Node, Sequence]
EdgeSpec = Union[Edge, Sequence]


def _as_nodes(nodes) -> dict:
    """Normalise nodes given as a dict ``{name: (x, y[, shape])}`` or Nodes."""
    if isinstance(nodes, Mapping):
        items = []
        for name, spec in nodes.items():
            if isinstance(spec, Node):
                items.append(spec)
            else:
                items.append(Node(name, *spec))
    else:
        items = list(nodes)
    out = {}
    for node in items:
        if not isinstance(node, Node):
            raise TypeError(f"expected a Node, got {node!r}")
        if node.name in out:
            raise ValueError(f"duplicate node name {node.name!r}")
        out[node.name] = node
    return out


def _as_edge(spec: EdgeSpec) -> Edge:
    """Normalise ``(a, b, label)`` or ``(a, None, label, direction)``."""
    if isinstance(spec, Edge):
        return spec
    spec = tuple(spec)
    if len(spec) == 4 and spec[1] is None:
        return Edge(spec[0], None, spec[2], direction=spec[3])
    if len(spec) in (2, 3) and spec[1] is not None:
        return Edge(*spec)
    raise ValueError(f"cannot read edge {spec!r}: use (node_a, node_b, label) "
                     "for a bond, (node, None, label, direction) for an open "
                     "leg, or an Edge(...)")


def _check_edge(edge: Edge, nodes: Mapping) -> None:
    """Raise ValueError when `edge` is inconsistent with `nodes`."""
    for end in (edge.a, edge.b):
        if end is not None and end not in nodes:
            raise ValueError(f"edge {edge.a!r}-{edge.b!r} ({edge.label!r}) names "
                             f"unknown node {end!r}; known nodes: {sorted(nodes)}")
    if edge.is_leg and edge.direction is None:
        raise ValueError(f"open leg {edge.label!r} of node {edge.a!r} needs a "
                         "direction ('up', 'left', ... or an angle in degrees)")
    if edge.a == edge.b:
        raise ValueError(f"bond {edge.label!r} joins node {edge.a!r} to itself")


def _unit_vector(direction) -> tuple:
    """Unit vector of a direction name or an angle in degrees."""
    if isinstance(direction, str):
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}; use an angle in "
                             f"degrees or one of {sorted(DIRECTIONS)}")
        direction = DIRECTIONS[direction]
    angle = math.radians(float(direction))
    return math.cos(angle), math.sin(angle)


def _full_label(edge: Edge) -> str:
    """Label of an edge with its dimension, e.g. ``$i\\,(n_1)$``."""
    label = tex(edge.label) if edge.label is not None else ""
    if edge.dim is None:
        return label
    dim = tex(edge.dim)
    if label.count("$") == 2 and dim.count("$") == 2 and label[0] == dim[0] == "$":
        return f"${label[1:-1]}\\,({dim[1:-1]})$"
    return f"{label} ({dim})"


# --------------------------------------------------------------------------
# Drawing primitives
# --------------------------------------------------------------------------

def _draw_node(ax: Axes, node: Node) -> None:
    """Draw one node and the label inside it."""
    dot = node.shape == "dot"
    size = node.size or (0.3 * STYLE["node_size"] if dot else STYLE["node_size"])
    if node.shape.startswith("triangle"):
        size *= 1.25  # a triangle looks smaller than a circle of same size
    face = node.color or (STYLE["delta_face"] if dot else STYLE["node_face"])
    ax.plot([node.x], [node.y], linestyle="none", marker=_SHAPES[node.shape],
            markersize=size, markerfacecolor=face,
            markeredgecolor=STYLE["node_edge"], markeredgewidth=1.8,
            zorder=3, gid=f"tn-node:{node.name}")
    label = tex(node.name) if node.label is None else node.label
    if label and not dot:
        ax.text(node.x, node.y, label, ha="center", va="center", zorder=4,
                gid=f"tn-label:node:{node.name}",
                **_text_kw(STYLE["node_font"], "black"))


def _draw_line(ax: Axes, xs, ys, gid: str) -> None:
    """Draw a leg or a bond (under the nodes)."""
    ax.plot(xs, ys, color=STYLE["line_color"], linewidth=STYLE["line_width"],
            solid_capstyle="round", zorder=1, gid=gid)


def _draw_leg(ax: Axes, node: Node, edge: Edge) -> list:
    """Draw an open leg and its label; return the points it covers."""
    ux, uy = _unit_vector(edge.direction)
    length = edge.length or STYLE["leg_length"]
    tip = (node.x + length * ux, node.y + length * uy)
    _draw_line(ax, [node.x, tip[0]], [node.y, tip[1]],
               gid=f"tn-leg:{node.name}:{edge.label}")
    label = _full_label(edge)
    if label:
        ha = "left" if ux > 0.3 else "right" if ux < -0.3 else "center"
        va = "bottom" if uy > 0.3 else "top" if uy < -0.3 else "center"
        ax.annotate(label, tip, xytext=(5 * ux, 5 * uy), textcoords="offset points",
                    ha=ha, va=va, zorder=5, gid=f"tn-label:leg:{node.name}",
                    **_text_kw(STYLE["leg_font"], STYLE["leg_color"]))
    return [tip]


def _bond_geometry(p, q, bend: float):
    """Points of a (possibly bent) bond, its middle and its left normal."""
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy)
    nx, ny = -dy / length, dx / length          # left of p -> q
    # quadratic Bezier whose middle lies `bend * length` away from the chord
    cx = (x0 + x1) / 2 + 2 * bend * length * nx
    cy = (y0 + y1) / 2 + 2 * bend * length * ny
    ts = [t / 40 for t in range(41)]
    xs = [(1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t ** 2 * x1 for t in ts]
    ys = [(1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t ** 2 * y1 for t in ts]
    return xs, ys, (xs[20], ys[20]), (nx, ny)


def _draw_bond(ax: Axes, a: Node, b: Node, edge: Edge) -> list:
    """Draw a bond and its label; return the points it covers."""
    xs, ys, mid, (nx, ny) = _bond_geometry((a.x, a.y), (b.x, b.y), edge.bend)
    _draw_line(ax, xs, ys, gid=f"tn-bond:{a.name}:{b.name}")
    label = _full_label(edge)
    if label:
        if edge.side is not None:
            side = edge.side
        elif edge.bend:
            side = 1 if edge.bend > 0 else -1
        else:  # above, or to the right of a vertical bond
            side = 1 if (ny > 1e-9 or (abs(ny) <= 1e-9 and nx > 0)) else -1
        ox, oy = side * nx, side * ny
        ha = "left" if ox > 0.3 else "right" if ox < -0.3 else "center"
        va = "bottom" if oy > 0.3 else "top" if oy < -0.3 else "center"
        ax.annotate(label, mid, xytext=(6 * ox, 6 * oy), textcoords="offset points",
                    ha=ha, va=va, zorder=5, gid=f"tn-label:bond:{a.name}:{b.name}",
                    **_text_kw(STYLE["bond_font"], STYLE["bond_color"]))
    return list(zip(xs, ys))


def fit_figure(ax: Axes, scale: float | None = None):
    """Resize the figure of `ax` so that one data unit is `scale` inches.

    Use it once a figure made of one axes is drawn: every diagram of the
    course then has the same size of nodes, legs and letters.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The only axes of its figure.
    scale : float, optional
        Inches per data unit (default ``STYLE["scale"]``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    scale = scale or STYLE["scale"]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fig = ax.figure
    fig.set_size_inches(scale * abs(x1 - x0), scale * abs(y1 - y0))
    ax.set_position((0, 0, 1, 1))
    return fig


def _extend_limits(ax: Axes, points: Iterable, pad: float = 0.5) -> None:
    """Grow the data limits of `ax` to show `points` with a margin."""
    xs, ys = zip(*points)
    ax.update_datalim([(min(xs) - pad, min(ys) - pad), (max(xs) + pad, max(ys) + pad)])
    ax.autoscale_view()


def _finish_axes(ax: Axes, title: str | None) -> None:
    """Equal aspect, no ticks, no frame, optional title."""
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    if title:
        ax.set_title(title, **_text_kw(STYLE["title_font"], "black"))


def _shift(nodes: dict, at) -> dict:
    """Translate a dict of nodes by ``at = (dx, dy)``."""
    dx, dy = at
    for node in nodes.values():
        node.x += dx
        node.y += dy
    return nodes


# --------------------------------------------------------------------------
# The general function
# --------------------------------------------------------------------------

def draw_network(nodes, edges, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Draw a tensor network.

    Parameters
    ----------
    nodes : dict or list of Node
        ``{name: (x, y)}``, ``{name: (x, y, shape)}``, or :class:`Node`
        objects (for labels, sizes and colours).
    edges : list
        ``(node_a, node_b, label)`` for a bond, ``(node, None, label,
        direction)`` for an open leg, or :class:`Edge` objects.
    ax : matplotlib.axes.Axes, optional
        Where to draw.  When omitted, a new (pyplot) figure is made and
        sized by :func:`fit_figure`.  Several networks can be drawn on the
        same axes (the limits grow to show all); the drawing is meant to be
        seen at about ``STYLE["scale"]`` inches per data unit (the
        distance between two cores is ``STYLE["spacing"]`` units).
    title : str, optional
        Title of the axes.

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with equal aspect and no ticks.

    Raises
    ------
    ValueError
        If an edge names a node that is not in `nodes`, if an open leg has
        no direction, or if a bond joins a node to itself.
    """
    nodes = _as_nodes(nodes)
    edges = [_as_edge(e) for e in edges]
    for edge in edges:
        _check_edge(edge, nodes)
    points = [(n.x, n.y) for n in nodes.values()]
    points += [(nodes[e.a].x + (e.length or STYLE["leg_length"]) * _unit_vector(e.direction)[0],
                nodes[e.a].y + (e.length or STYLE["leg_length"]) * _unit_vector(e.direction)[1])
               for e in edges if e.is_leg]
    new = ax is None
    if new:
        ax = plt.figure().add_axes((0, 0, 1, 1))
    for edge in edges:
        if edge.is_leg:
            points += _draw_leg(ax, nodes[edge.a], edge)
        else:
            points += _draw_bond(ax, nodes[edge.a], nodes[edge.b], edge)
    for node in nodes.values():
        _draw_node(ax, node)
    _extend_limits(ax, points)
    _finish_axes(ax, title)
    if new:
        fit_figure(ax)
    return ax


def draw_caption(ax: Axes, x: float, y: float, text: str, mono: bool = False,
                 size: float | None = None, ha: str = "center", **kwargs):
    """Write a caption whose top is at ``(x, y)``; keep it inside the limits.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x, y : float
        Position of the top of the text, in data units.
    text : str
        Mathtext or prose; ``mono=True`` writes code in a monospace font.
    size : float, optional
        Font size in points (default ``STYLE["caption_font"]``).
    ha : {"center", "left", "right"}
        Horizontal alignment with respect to `x`.
    **kwargs
        Passed on to :meth:`matplotlib.axes.Axes.text`.

    Returns
    -------
    matplotlib.text.Text
    """
    kw = _text_kw(size or STYLE["caption_font"], kwargs.pop("color", "#222222"))
    if mono:
        kw["family"] = STYLE["code_font"]
    kw.update(kwargs)
    text = ax.text(x, y, text, ha=ha, va=kw.pop("va", "top"), gid="tn-caption", **kw)
    _extend_limits(ax, [(x, y)], pad=0.3)
    return text


def diagram_summary(ax: Axes) -> DiagramSummary:
    """List the nodes, bonds, open legs and labels drawn on `ax`.

    Returns
    -------
    DiagramSummary
        ``nodes``: node names; ``bonds``: ``(a, b)`` pairs; ``legs``:
        ``(node, index)`` pairs; ``labels``: texts of all labels.

    Examples
    --------
    >>> s = diagram_summary(draw_tensor(3))
    >>> len(s.nodes), len(s.legs), len(s.bonds)
    (1, 3, 0)
    """
    summary = DiagramSummary()
    for line in ax.lines:
        kind, _, rest = (line.get_gid() or "").partition(":")
        if kind == "tn-node":
            summary.nodes.append(rest)
        elif kind == "tn-bond":
            summary.bonds.append(tuple(rest.split(":", 1)))
        elif kind == "tn-leg":
            summary.legs.append(tuple(rest.split(":", 1)))
    summary.labels = [t.get_text() for t in ax.texts
                      if (t.get_gid() or "").startswith("tn-label")]
    return summary


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------

_DEFAULT_INDICES = "ijkl"


def _leg_directions(order: int) -> list:
    """Directions of the legs of a lone tensor of the given order."""
    table = {1: ["right"], 2: ["left", "right"], 3: ["left", "right", "down"],
             4: ["left", "right", "down", "up"]}
    if order in table:
        return table[order]
    return [180.0 - 360.0 * k / order for k in range(order)]


def draw_tensor(order: int, ax: Axes | None = None, name: str = "T",
                labels: Sequence | None = None, dims: Sequence | None = None,
                at=(0.0, 0.0), title: str | None = None) -> Axes:
    """Draw one tensor of the given order: a node with `order` open legs.

    Parameters
    ----------
    order : int
        0 (scalar, no leg), 1 (vector), 2 (matrix), 3, ... (``d >= 5`` legs
        are spread evenly around the node).
    ax : matplotlib.axes.Axes, optional
    name : str
        Name written in the node.
    labels : sequence of str, optional
        Index names; default ``i, j, k, l`` up to order 4, else
        ``i_1, ..., i_d``.
    dims : sequence, optional
        Dimensions written after the index names, e.g. ``["n_1", "n_2"]``.
    at : (float, float)
        Position of the node.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    if labels is None:
        labels = (list(_DEFAULT_INDICES[:order]) if order <= 4
                  else [_sub("i", k + 1) for k in range(order)])
    if len(labels) != order or (dims is not None and len(dims) != order):
        raise ValueError(f"a tensor of order {order} needs {order} labels/dims")
    nodes = _shift({name: Node(name, 0.0, 0.0)}, at)
    edges = [Edge(name, None, lab, direction=d, dim=None if dims is None else dims[k])
             for k, (lab, d) in enumerate(zip(labels, _leg_directions(order)))]
    return draw_network(nodes, edges, ax=ax, title=title)


#: The contractions known to :func:`draw_contraction`:
#: (names, shapes as index strings, result name).
CONTRACTIONS = {
    "matvec": (("A", "x"), ("ij", "j"), "y"),
    "matmat": (("A", "B"), ("ij", "jk"), "C"),
    "inner": (("x", "y"), ("i", "i"), "s"),
}


def contraction_einsum(kind: str) -> str:
    """The einsum string of a contraction of :data:`CONTRACTIONS`.

    Examples
    --------
    >>> contraction_einsum("matvec")
    'ij,j->i'
    """
    _, (sa, sb), _ = CONTRACTIONS[kind]
    out = "".join(c for c in sa + sb if (sa + sb).count(c) == 1)
    return f"{sa},{sb}->{out}"


def draw_contraction(ax: Axes | None = None, kind: str = "matvec", at=(0.0, 0.0),
                     result: bool = True, title: str | None = None) -> Axes:
    """Draw a contraction of two tensors over their shared index.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
    kind : {"matvec", "matmat", "inner"}
        ``A_ij x_j`` (matrix-vector), ``A_ij B_jk`` (matrix-matrix) or
        ``x_i y_i`` (inner product).
    at : (float, float)
        Position of the first tensor.
    result : bool
        Also draw ``= result`` on the right (a vector, a matrix, a scalar).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if kind not in CONTRACTIONS:
        raise ValueError(f"unknown contraction {kind!r}; choose one of {sorted(CONTRACTIONS)}")
    (na, nb), (sa, sb), nres = CONTRACTIONS[kind]
    step = STYLE["spacing"]
    shared = next(c for c in sa if c in sb)
    nodes = {na: Node(na, 0.0, 0.0), nb: Node(nb, step, 0.0)}
    edges = [Edge(na, nb, shared)]
    edges += [Edge(na, None, c, direction="left") for c in sa if c != shared]
    edges += [Edge(nb, None, c, direction="right") for c in sb if c != shared]
    if result:
        free = [c for c in sa + sb if c != shared]
        leg = STYLE["leg_length"]
        x_eq = step + (leg + 0.75 if len(sb) > 1 else 0.75)
        x_res = x_eq + 0.75 + (leg if len(free) > 0 else 0.0)
        nodes[nres] = Node(nres, x_res, 0.0, color=STYLE["special_face"])
        edges += [Edge(nres, None, c, direction=d)
                  for c, d in zip(free, ["left", "right"])]
    ax = draw_network(_shift(nodes, at), edges, ax=ax, title=title)
    if result:
        ax.text(at[0] + x_eq, at[1], "$=$", ha="center", va="center", gid="tn-equals",
                **_text_kw(STYLE["node_font"] + 4, "black"))
    return ax


def _chain_positions(n: int, kind: str, spacing: float) -> list:
    """Positions of the cores: a row, or a circle for a tensor ring."""
    if kind != "ring":
        return [(k * spacing, 0.0) for k in range(n)]
    radius = max(1.0, n * spacing / (2 * math.pi))
    angles = [math.pi / 2 - 2 * math.pi * k / n for k in range(n)]  # clockwise
    return [(radius * math.cos(a), radius * math.sin(a)) for a in angles]


def draw_chain(n: int, ax: Axes | None = None, kind: str = "mps", core: str = "G",
               dims: bool = False, at=(0.0, 0.0), title: str | None = None) -> Axes:
    """Draw a tensor train (MPS), a TT-matrix (MPO) or a tensor ring.

    Parameters
    ----------
    n : int
        Number of cores ``d``.
    ax : matplotlib.axes.Axes, optional
    kind : {"mps", "mpo", "ring"}
        ``"mps"``: cores ``G_1..G_d`` in a row, physical legs ``i_k`` down,
        bonds ``r_1..r_{d-1}``.
        ``"mpo"``: TT-matrix, input legs ``j_k`` up and output legs ``i_k``
        down.
        ``"ring"``: tensor ring, cores on a circle (clockwise from the top),
        legs outwards, and a closing bond ``r_0 = r_d`` between ``G_d`` and
        ``G_1``.
    core : str
        Letter of the cores.
    dims : bool
        Write mode sizes after the indices: ``n_k`` for ``i_k`` (MPS, ring);
        ``n_k`` for inputs ``j_k`` and ``m_k`` for outputs ``i_k`` (MPO).
    at : (float, float)
        Position of the first core (centre of the ring).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if kind not in ("mps", "mpo", "ring"):
        raise ValueError(f"unknown kind {kind!r}; choose 'mps', 'mpo' or 'ring'")
    if n < (2 if kind == "ring" else 1):
        raise ValueError(f"a {kind} needs at least {2 if kind == 'ring' else 1} cores, got {n}")
    positions = _chain_positions(n, kind, STYLE["spacing"])
    names = [f"{core}{k}" for k in range(1, n + 1)]
    nodes = {name: Node(name, x, y, label=_sub(core, k))
             for k, (name, (x, y)) in enumerate(zip(names, positions), start=1)}
    edges = [Edge(names[k - 1], names[k], _sub("r", k), bend=_ring_bend(n, kind))
             for k in range(1, n)]
    for k, name in enumerate(names, start=1):
        if kind == "ring":
            x, y = positions[k - 1]
            edges.append(Edge(name, None, _sub("i", k), direction=math.degrees(math.atan2(y, x)),
                              dim=_sub("n", k) if dims else None))
        else:
            edges.append(Edge(name, None, _sub("i", k), direction="down",
                              dim=_sub("m" if kind == "mpo" else "n", k) if dims else None))
        if kind == "mpo":
            edges.append(Edge(name, None, _sub("j", k), direction="up",
                              dim=_sub("n", k) if dims else None))
    if kind == "ring":
        edges.append(Edge(names[-1], names[0], "$r_0$", bend=_ring_bend(n, kind)))
    for edge in edges:  # labels of ring bonds inside the ring
        if kind == "ring" and not edge.is_leg:
            edge.side = -1
    return draw_network(_shift(nodes, at), edges, ax=ax, title=title)


def _ring_bend(n: int, kind: str) -> float:
    """Bend that makes the bonds of a ring of `n` cores follow the circle."""
    if kind != "ring":
        return 0.0
    # a chord seen under 2*pi/n from the centre is 2 sin(pi/n) R long and the
    # arc rises R (1 - cos(pi/n)) above it; walking clockwise, outwards is left
    return math.tan(math.pi / (2 * n)) / 2


def _star_angles(order: int) -> list:
    """Angles (degrees) of the factors around a Tucker / CP core."""
    table = {1: [270.0], 2: [180.0, 0.0], 3: [180.0, 0.0, 270.0],
             4: [180.0, 90.0, 0.0, 270.0]}
    return table.get(order, [180.0 - 360.0 * k / order for k in range(order)])


def _draw_star(order: int, center: Node, factor: str, bond_label, ax, at, title,
               radius: float) -> Axes:
    """A core with `order` factor matrices around it, each with a leg."""
    nodes = {center.name: center}
    edges = []
    for k, angle in enumerate(_star_angles(order), start=1):
        ux, uy = _unit_vector(angle)
        name = f"{factor}{k}"
        nodes[name] = Node(name, radius * ux, radius * uy, label=_sub(factor, k))
        edges.append(Edge(center.name, name, bond_label(k)))
        edges.append(Edge(name, None, _sub("i", k), direction=angle))
    return draw_network(_shift(nodes, at), edges, ax=ax, title=title)


def draw_tucker(order: int = 3, ax: Axes | None = None, at=(0.0, 0.0),
                title: str | None = None) -> Axes:
    """Draw a Tucker decomposition: a core with one factor matrix per mode.

    The core :math:`\\mathcal{G}` (a box) has bonds ``r_k`` to the factor
    matrices ``U_k`` (size ``n_k x r_k``), which carry the open legs ``i_k``.

    Parameters
    ----------
    order : int
        Order ``d`` of the tensor.
    ax : matplotlib.axes.Axes, optional
    at : (float, float)
        Position of the core.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    core = Node("core", 0.0, 0.0, shape="box", label=r"$\mathcal{G}$",
                size=1.2 * STYLE["node_size"], color=STYLE["special_face"])
    return _draw_star(order, core, "U", lambda k: _sub("r", k), ax, at, title,
                      radius=1.2 * STYLE["spacing"])


def draw_cp(order: int = 3, ax: Axes | None = None, at=(0.0, 0.0),
            title: str | None = None) -> Axes:
    """Draw a CP decomposition: factor matrices ``A_k`` joined by a copy tensor.

    The small black dot is the superdiagonal (copy) tensor
    :math:`\\delta_{r r \\dots r}`: all bonds carry the same rank index ``r``.

    Parameters
    ----------
    order : int
        Order ``d`` of the tensor.
    ax : matplotlib.axes.Axes, optional
    at : (float, float)
        Position of the copy tensor.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    delta = Node("delta", 0.0, 0.0, shape="dot")
    return _draw_star(order, delta, "A", lambda k: "$r$", ax, at, title,
                      radius=STYLE["spacing"])


# --------------------------------------------------------------------------
# Order of contraction of a matrix chain
# --------------------------------------------------------------------------

def _parenthesized(group) -> str:
    """Expression of a group of matrices, in parentheses unless it is one."""
    first, last, expr = group
    return expr if first == last else f"({expr})"


def matrix_chain_steps(dims: Sequence[int], order: Sequence[int], names: str = "ABCDEFGH"):
    """Cost of contracting a chain of matrices bond by bond.

    Matrix ``k`` (0-based) has shape ``dims[k] x dims[k+1]``; bond ``b``
    (1-based) is the index of size ``dims[b]`` shared by matrices ``b-1``
    and ``b``.

    Parameters
    ----------
    dims : sequence of int
        ``d+1`` sizes for a chain of ``d`` matrices.
    order : sequence of int
        The bonds ``1..d-1`` in the order they are contracted.
    names : str
        Names of the matrices.

    Returns
    -------
    steps : list of (str, str, int)
        For each step: the product formed (e.g. ``"(AB)C"``), its cost as a
        product of sizes (``"10·100·5"``) and the number of multiplications.

    Examples
    --------
    >>> [s[2] for s in matrix_chain_steps([10, 100, 5, 50], [1, 2])]
    [5000, 2500]
    """
    n = len(dims) - 1
    if sorted(order) != list(range(1, n)):
        raise ValueError(f"order must be a permutation of the bonds 1..{n - 1}, got {list(order)}")
    groups = [(k, k, names[k]) for k in range(n)]  # (first, last, expression)
    steps = []
    for b in order:
        left = next(g for g in groups if g[1] == b - 1)
        right = next(g for g in groups if g[0] == b)
        expr = _parenthesized(left) + _parenthesized(right)
        sizes = (dims[left[0]], dims[b], dims[right[1] + 1])
        steps.append((expr, "·".join(map(str, sizes)), math.prod(sizes)))
        groups = [g for g in groups if g not in (left, right)] + [(left[0], right[1], expr)]
    return steps


def draw_matrix_chain(dims: Sequence[int], order: Sequence[int] | None = None,
                      ax: Axes | None = None, names: str = "ABCDEFGH", at=(0.0, 0.0),
                      spacing: float = 2.0, title: str | None = None) -> Axes:
    """Draw a chain of matrices, numbering the bonds in contraction order.

    Parameters
    ----------
    dims : sequence of int
        ``d+1`` sizes for a chain of ``d`` matrices (matrix ``k`` is
        ``dims[k] x dims[k+1]``); they are written after the index names.
    order : sequence of int, optional
        The bonds ``1..d-1`` in the order they are contracted: each bond
        gets a circled step number under it.
    ax : matplotlib.axes.Axes, optional
    names : str
        Names of the matrices.
    at : (float, float)
        Position of the first matrix.
    spacing : float
        Distance between matrices (room for the sizes on the bonds).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    See Also
    --------
    matrix_chain_steps : the cost of each step.
    """
    n = len(dims) - 1
    letters = "ijklmnopq"
    nodes = {names[k]: Node(names[k], k * spacing, 0.0) for k in range(n)}
    edges = [Edge(names[0], None, letters[0], direction="left", dim=dims[0]),
             Edge(names[n - 1], None, letters[n], direction="right", dim=dims[n])]
    edges += [Edge(names[b - 1], names[b], letters[b], dim=dims[b]) for b in range(1, n)]
    ax = draw_network(_shift(nodes, at), edges, ax=ax, title=title)
    if order is not None:
        matrix_chain_steps(dims, order, names)  # validates `order`
        for step, b in enumerate(order, start=1):
            draw_step_number(ax, at[0] + (b - 0.5) * spacing, at[1] - 0.45, step)
    return ax


def draw_step_number(ax: Axes, x: float, y: float, number: int):
    """Draw a step number in a small filled circle centred at ``(x, y)``.

    Returns
    -------
    matplotlib.text.Text
    """
    return ax.text(x, y, str(number), ha="center", va="center", zorder=6,
                   gid="tn-step", fontsize=STYLE["bond_font"] - 2, color="white",
                   fontweight="bold",
                   bbox=dict(boxstyle="circle,pad=0.3", facecolor=STYLE["bond_color"],
                             edgecolor="none"))
