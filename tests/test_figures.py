"""Tests of the tensor-network diagrams and of the figure registry."""
import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.image

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tnnlib import diagrams as dg  # noqa: E402
from tnnlib import figures  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIGURE_REF = re.compile(r"figures/([A-Za-z0-9_\-]+\.png)")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def counts(ax):
    """(nodes, bonds, legs) drawn on `ax`."""
    s = dg.diagram_summary(ax)
    return len(s.nodes), len(s.bonds), len(s.legs)


# --------------------------------------------------------------------------
# draw_network
# --------------------------------------------------------------------------

def test_draw_network_draws_nodes_bonds_and_legs():
    ax = dg.draw_network({"A": (0, 0), "x": (1.7, 0)},
                         [("A", "x", "j"), ("A", None, "i", "left")], title="A x")
    s = dg.diagram_summary(ax)
    assert sorted(s.nodes) == ["A", "x"]
    assert s.bonds == [("A", "x")]
    assert s.legs == [("A", "i")]
    assert {"$j$", "$i$", "$A$", "$x$"} <= set(s.labels)
    assert ax.get_aspect() == 1.0
    assert not ax.axison
    assert ax.get_title() == "A x"


def test_draw_network_accepts_node_and_edge_objects():
    nodes = [dg.Node("core", 0, 0, shape="box", label=r"$\mathcal{G}$"),
             dg.Node("U", 2, 0, shape="triangle_left")]
    edges = [dg.Edge("core", "U", "r", dim="r_1", bend=0.2),
             dg.Edge("U", None, "i", direction=30, dim=16)]
    ax = dg.draw_network(nodes, edges)
    s = dg.diagram_summary(ax)
    assert counts(ax) == (2, 1, 1)
    assert r"$r\,(r_1)$" in s.labels and r"$i\,(16)$" in s.labels


def test_draw_network_rejects_unknown_node():
    with pytest.raises(ValueError, match="unknown node 'Z'"):
        dg.draw_network({"A": (0, 0)}, [("A", "Z", "j")])
    with pytest.raises(ValueError, match="unknown node 'B'"):
        dg.draw_network({"A": (0, 0)}, [("B", None, "i", "up")])


@pytest.mark.parametrize("edge, message", [
    (("A", None, "i"), "cannot read edge"),
    (dg.Edge("A", None, "i"), "needs a direction"),
    (("A", None, "i", "sideways"), "unknown direction"),
    (("A", "A", "j"), "to itself"),
])
def test_draw_network_rejects_bad_edges(edge, message):
    with pytest.raises(ValueError, match=message):
        dg.draw_network({"A": (0, 0)}, [edge])


def test_bad_node_shape_and_duplicate_names():
    with pytest.raises(ValueError, match="unknown shape"):
        dg.Node("A", 0, 0, shape="hexagon")
    with pytest.raises(ValueError, match="duplicate"):
        dg.draw_network([dg.Node("A", 0, 0), dg.Node("A", 1, 0)], [])


def test_several_networks_share_one_axes():
    ax = dg.draw_tensor(2, at=(0, 0))
    dg.draw_tensor(3, ax=ax, at=(4, 0))
    assert counts(ax) == (2, 0, 5)
    x0, x1 = ax.get_xlim()
    assert x0 < -0.8 and x1 > 4.8


def test_tex():
    assert dg.tex("r_1") == "$r_1$"
    assert dg.tex("$G_1$") == "$G_1$"
    assert dg.tex(16) == "$16$"
    assert dg.tex("order 3") == "order 3"


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------

@pytest.mark.parametrize("order", [0, 1, 2, 3, 4, 6])
def test_draw_tensor_has_one_leg_per_index(order):
    ax = dg.draw_tensor(order)
    assert counts(ax) == (1, 0, order)


def test_draw_tensor_labels_and_dims():
    s = dg.diagram_summary(dg.draw_tensor(2, name="W", labels=["a", "b"], dims=[3, 4]))
    assert s.nodes == ["W"]
    assert {r"$a\,(3)$", r"$b\,(4)$"} <= set(s.labels)
    with pytest.raises(ValueError):
        dg.draw_tensor(2, labels=["i"])
    with pytest.raises(ValueError):
        dg.draw_tensor(-1)


@pytest.mark.parametrize("kind, result, expected", [
    ("matvec", True, (3, 1, 2)),   # A -j- x  =  y  (legs: i of A, i of y)
    ("matvec", False, (2, 1, 1)),
    ("matmat", True, (3, 1, 4)),
    ("inner", True, (3, 1, 0)),
])
def test_draw_contraction(kind, result, expected):
    ax = dg.draw_contraction(kind=kind, result=result)
    assert counts(ax) == expected
    assert "$j$" in dg.diagram_summary(ax).labels or kind == "inner"


def test_contraction_einsum_strings():
    assert dg.contraction_einsum("matvec") == "ij,j->i"
    assert dg.contraction_einsum("matmat") == "ij,jk->ik"
    assert dg.contraction_einsum("inner") == "i,i->"
    with pytest.raises(ValueError):
        dg.draw_contraction(kind="outer")


def test_draw_chain_mps():
    ax = dg.draw_chain(5)
    s = dg.diagram_summary(ax)
    assert counts(ax) == (5, 4, 5)
    assert [f"$r_{{{k}}}$" for k in range(1, 5)] == [t for t in s.labels if t.startswith("$r")]
    assert all(leg.startswith("G") for leg, _ in s.legs)


def test_draw_chain_mpo_has_inputs_and_outputs():
    ax = dg.draw_chain(4, kind="mpo", dims=True)
    s = dg.diagram_summary(ax)
    assert counts(ax) == (4, 3, 8)
    assert r"$j_{1}\,(n_{1})$" in s.labels and r"$i_{4}\,(m_{4})$" in s.labels


def test_draw_chain_ring_closes():
    ax = dg.draw_chain(5, kind="ring")
    assert counts(ax) == (5, 5, 5)
    assert "$r_0$" in dg.diagram_summary(ax).labels
    with pytest.raises(ValueError):
        dg.draw_chain(1, kind="ring")
    with pytest.raises(ValueError):
        dg.draw_chain(3, kind="peps")


@pytest.mark.parametrize("order", [2, 3, 4])
def test_draw_tucker_and_cp(order):
    assert counts(dg.draw_tucker(order)) == (order + 1, order, order)
    assert counts(dg.draw_cp(order)) == (order + 1, order, order)


def test_matrix_chain_steps_and_drawing():
    steps = dg.matrix_chain_steps([10, 100, 5, 50], [1, 2])
    assert steps == [("AB", "10·100·5", 5000), ("(AB)C", "10·5·50", 2500)]
    steps = dg.matrix_chain_steps([10, 100, 5, 50], [2, 1])
    assert [s[0] for s in steps] == ["BC", "A(BC)"] and sum(s[2] for s in steps) == 75000
    with pytest.raises(ValueError):
        dg.matrix_chain_steps([10, 100, 5, 50], [1, 1])
    ax = dg.draw_matrix_chain([2, 3, 4, 5, 6], order=[2, 1, 3])
    assert counts(ax) == (4, 3, 2)
    assert [t.get_text() for t in ax.texts if t.get_gid() == "tn-step"] == ["1", "2", "3"]


# --------------------------------------------------------------------------
# Registry and command line
# --------------------------------------------------------------------------

REGISTERED = list(figures.registered())


def test_lesson_01_figures_are_registered():
    assert {"tensor_orders", "contraction", "tensor_train", "mpo",
            "chain_order"} <= set(REGISTERED)


@pytest.mark.parametrize("name", REGISTERED)
def test_every_registered_figure_builds(name):
    fig = figures.build(name)
    assert isinstance(fig, Figure)
    assert fig.axes


def test_registry_rejects_bad_and_duplicate_names():
    before = figures.registered()
    with pytest.raises(ValueError, match="bad figure name"):
        figures.figure("Has Spaces")
    with pytest.raises(ValueError, match="registered twice"):
        @figures.figure("mpo")
        def another_mpo():  # pragma: no cover - never called
            return Figure()
    assert figures.registered() == before
    with pytest.raises(KeyError):
        figures.build("no_such_figure")


def test_saved_png_is_deterministic(tmp_path):
    a = figures.save("tensor_orders", tmp_path / "a").read_bytes()
    b = figures.save("tensor_orders", tmp_path / "b").read_bytes()
    assert a == b
    assert b"Software" not in a and b"matplotlib" not in a.lower()


def test_command_writes_one_png_per_figure(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tnnlib.figures", "--out", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO, check=True)
    written = sorted(p.stem for p in tmp_path.glob("*.png"))
    assert written == sorted(REGISTERED)
    assert out.stdout.count("wrote") == len(REGISTERED)


def test_command_only_and_unknown_names(tmp_path, capsys):
    assert figures.main(["--out", str(tmp_path), "--only", "mpo"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["mpo.png"]
    with pytest.raises(SystemExit) as exc:
        figures.main(["--out", str(tmp_path), "--only", "nope"])
    assert exc.value.code == 2
    assert "unknown figure" in capsys.readouterr().err


# --------------------------------------------------------------------------
# figures/ is complete and in sync with the registry
# --------------------------------------------------------------------------

def _referencing_files():
    """README.md and the notebooks of solutions/ and lessons/."""
    files = [REPO / "README.md"] if (REPO / "README.md").exists() else []
    for folder in ("solutions", "lessons"):
        files += sorted((REPO / folder).rglob("*.ipynb"))
    return [f for f in files if ".ipynb_checkpoints" not in f.parts]


def _referenced_figures():
    """{png name: [files referencing figures/NAME.png]}."""
    refs = {}
    for path in _referencing_files():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":  # look in the sources, not the outputs
            cells = json.loads(text).get("cells", [])
            text = "\n".join("".join(c.get("source", "")) for c in cells)
        for name in FIGURE_REF.findall(text):
            refs.setdefault(name, []).append(str(path.relative_to(REPO)))
    return refs


def test_referenced_figures_exist():
    refs = _referenced_figures()
    if not refs:
        pytest.skip("no README.md or notebook references figures/*.png yet")
    missing = {name: where for name, where in refs.items()
               if not (REPO / "figures" / name).exists()}
    assert not missing, (f"figures referenced but missing from figures/: {missing}; "
                         "register them in tnnlib/figures.py and run "
                         "`python -m tnnlib.figures`")


def test_figures_folder_matches_registry():
    on_disk = {p.stem for p in (REPO / "figures").glob("*.png")}
    assert not set(REGISTERED) - on_disk, \
        "run `python -m tnnlib.figures` to write the missing figures"
    assert not on_disk - set(REGISTERED), \
        "every PNG in figures/ must be made by a figure registered in tnnlib/figures.py"


def test_command_refuses_to_write_reduced_figures_into_the_repository(tmp_path, monkeypatch, capsys):
    # tests run with TNN_FAST=1, where some figures are reduced versions; the figures folder is
    # redirected so that a regression writes into tmp_path, never into the repository's figures/
    monkeypatch.setattr(figures, "FIGURES_DIR", tmp_path)
    with pytest.raises(SystemExit):
        figures.main(["--only", "tensor_orders"])
    assert "fast mode is on" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_svg_is_written_next_to_the_png_and_is_deterministic(tmp_path, capsys):
    assert figures.main(["--out", str(tmp_path / "a"), "--only", "mpo", "--svg"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["mpo.png", "mpo.svg"]
    assert "wrote" in capsys.readouterr().out
    assert figures.main(["--out", str(tmp_path / "b"), "--only", "mpo", "--format", "svg"]) == 0
    svg = (tmp_path / "a" / "mpo.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<dc:date>" not in svg
    assert svg == (tmp_path / "b" / "mpo.svg").read_text()
    assert figures.main(["--out", str(tmp_path / "c"), "--only", "mpo"]) == 0
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["mpo.png"]


@pytest.mark.parametrize("where", ["lib/python3.11/site-packages", "usr/lib/python3/dist-packages"])
def test_command_refuses_to_write_into_an_installed_copy(tmp_path, monkeypatch, capsys, where):
    # an installed (non-editable) tnnlib: its figures/ "folder" would be inside site-packages
    installed = tmp_path / where / "figures"
    monkeypatch.setattr(figures, "FIGURES_DIR", installed)
    for argv in (["--only", "mpo"], ["--out", str(installed), "--only", "mpo"]):
        with pytest.raises(SystemExit) as exc:
            figures.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "refusing to write into" in err and "site-packages" in err and "--out" in err
    assert not (tmp_path / where).exists()
    assert figures.main(["--list"]) == 0                      # listing writes nothing: allowed
    assert figures.main(["--out", str(tmp_path / "elsewhere"), "--only", "mpo"]) == 0


def test_png_resolution_is_readable_when_projected(tmp_path):
    height, width = matplotlib.image.imread(figures.save("mpo", tmp_path)).shape[:2]
    assert figures.DPI >= 150 and width >= 800, (width, height)
