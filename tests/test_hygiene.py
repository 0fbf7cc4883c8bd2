"""Every notebook of the course is clean, seeded, offline and uses only known nbval markers."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "lessons").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))
IDS = [f"{p.parent.name}/{p.name}" for p in NOTEBOOKS]

NBVAL_TAGS = {"nbval-ignore-output", "nbval-check-output", "nbval-raises-exception", "nbval-skip", "raises-exception"}
NBVAL_COMMENTS = {"NBVAL_IGNORE_OUTPUT", "NBVAL_CHECK_OUTPUT", "NBVAL_RAISES_EXCEPTION", "NBVAL_SKIP"}
NETWORK = re.compile(r"urllib|requests\.|import requests|http\.client|socket\.|wget|curl |pip install|"
                     r"download\s*=\s*True|hf_hub|from_pretrained|load_dataset|https?://")


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(params=NOTEBOOKS, ids=IDS)
def nb(request):
    return nbformat.read(request.param, as_version=4), request.param


def test_there_are_notebooks():
    assert {p.name for p in (REPO / "lessons").glob("*.ipynb")} >= {"00_orientation.ipynb", "01_tensors.ipynb"}


def test_valid_notebook_with_python3_kernel(nb):
    notebook, path = nb
    nbformat.validate(notebook)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernel spec python3"


def test_no_stored_outputs(nb):
    notebook, path = nb
    for i, cell in enumerate(code_cells(notebook)):
        assert not cell.outputs and cell.execution_count is None, f"{path.name}: code cell {i} holds outputs"


def test_seeds(nb):
    notebook, path = nb
    assert any("seed_everything(" in c.source for c in code_cells(notebook)), f"{path.name} never seeds"


def test_figures_display_inline(nb):
    # a matplotlib Figure returned by a tnnlib plotting function shows as "<Figure size ...>" text
    # in a fresh kernel unless the inline backend is switched on first
    notebook, path = nb
    assert "%matplotlib inline" in code_cells(notebook)[0].source.splitlines(), \
        f"{path.name}: the setup cell must switch on %matplotlib inline"


def test_offline(nb):
    notebook, path = nb
    for i, cell in enumerate(code_cells(notebook)):
        match = NETWORK.search(cell.source)
        assert not match, f"{path.name}: code cell {i} looks like network access: {match.group(0)!r}"


def test_only_known_nbval_markers(nb):
    notebook, path = nb
    for i, cell in enumerate(notebook.cells):
        tags = set(cell.metadata.get("tags", []))
        assert tags <= NBVAL_TAGS, f"{path.name}: cell {i} has unknown tags {tags - NBVAL_TAGS}"
        comments = set(re.findall(r"#\s*(NBVAL_\w+)", cell.source)) if cell.cell_type == "code" else set()
        assert comments <= NBVAL_COMMENTS, f"{path.name}: cell {i} has unknown markers {comments - NBVAL_COMMENTS}"


def test_lessons_hold_no_solutions():
    for path in sorted((REPO / "lessons").glob("*.ipynb")):
        text = path.read_text()
        assert "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text, path.name


def test_figures_referenced_by_notebooks_exist():
    for path in NOTEBOOKS:
        for name in re.findall(r"\.\./figures/([\w.-]+\.png)", path.read_text()):
            assert (REPO / "figures" / name).exists(), f"{path.name} shows figures/{name}, which is missing"


GUARD = ('try:\n    import tnnlib  # noqa: F401\nexcept ImportError as error:  # opened outside the course folder\n'
         '    raise ImportError("This lesson needs the course\'s library tnnlib: run `python start.py` in the course '
         'folder "\n                      "(`python start.py --no-lab` only installs), then restart the kernel.") '
         'from error\n')


def test_setup_cell_starts_with_the_install_guard(nb):
    """A lesson opened outside the course folder says in one line how to get tnnlib, not a bare ImportError."""
    notebook, path = nb
    first = code_cells(notebook)[0].source
    assert first.startswith(GUARD), f"{path.name}: the setup cell must start with the guard of lesson 00"


def test_every_assertion_says_what_it_expected(nb):
    """After a wrong answer, a later cell that fails explains itself: no assert without a message."""
    notebook, path = nb
    bare = []
    for index, cell in enumerate(code_cells(notebook)):
        python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
        bare += [f"code cell {index}, line {node.lineno}" for node in ast.walk(ast.parse(python))
                 if isinstance(node, ast.Assert) and node.msg is None]
    assert not bare, f"{path.name}: asserts without a message: {bare}"
