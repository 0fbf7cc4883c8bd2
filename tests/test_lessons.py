"""lessons/ is generated from solutions/, and the generator guards against mistakes."""
import json
import re
import shutil
from pathlib import Path

import pytest

from tnnlib.checking import REGISTRY
from tnnlib.checks import load_all
from tnnlib.lessons import EXERCISE_HEADING, LessonError, check_lessons, generate_all, generate_notebook, main

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((REPO / "solutions").glob("*.ipynb"))


def notebook(*cells):
    out = []
    for kind, source, *tags in cells:
        cell = {"cell_type": kind, "metadata": {"tags": tags} if tags else {}, "source": source}
        if kind == "code":
            cell.update(outputs=[{"output_type": "stream", "name": "stdout", "text": "hi"}], execution_count=3)
        out.append(cell)
    return {"cells": out, "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


GOOD = notebook(
    ("markdown", "### Exercise 3.1: add"),
    ("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n\nadd = check.add(add)",
     "nbval-ignore-output"),
)


def test_committed_lessons_are_a_fresh_generation():
    problems = check_lessons(generate_all(REPO / "solutions"), REPO / "lessons")
    assert not problems, "\n".join(problems)


def test_region_becomes_a_numbered_stub_and_outputs_go():
    lesson = generate_notebook(GOOD, "03_x.ipynb")
    code = lesson["cells"][1]
    assert "return a + b" not in code["source"]
    assert '    raise NotImplementedError("Exercise 3.1: replace this line with your code")' in code["source"]
    assert code["source"].endswith("add = check.add(add)")
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"] == {"tags": ["nbval-ignore-output"]}


@pytest.mark.parametrize("cells,match", [
    ([("markdown", "### Exercise 1.1"), ("code", "def f():\n    ### BEGIN SOLUTION\n    return 1")],
     r"bad\.ipynb, cell 1: '### BEGIN SOLUTION' without '### END SOLUTION'"),
    ([("markdown", "### Exercise 1.1"), ("code", "def f():\n    return 1\n    ### END SOLUTION")],
     r"cell 1: '### END SOLUTION' without"),
    ([("markdown", "### Exercise 1.1\n### BEGIN SOLUTION\nx\n### END SOLUTION")], r"cell 0: solution markers in a markdown cell"),
    ([("markdown", "### Exercise 1.1"), ("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")],
     r"cell 1: a solution region must be inside a function body"),
    ([("code", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")], r"cell 0: no 'Exercise N.M' heading"),
    ([("markdown", "### Exercise 1.1"),
      ("code", "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION")], r"again before"),
])
def test_malformed_solutions_name_notebook_and_cell(cells, match):
    with pytest.raises(LessonError, match=match):
        generate_notebook(notebook(*cells), "bad.ipynb")


@pytest.fixture
def course_copy(tmp_path):
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    shutil.copytree(REPO / "lessons", tmp_path / "lessons")
    (tmp_path / "solutions" / "99_extra.ipynb").write_text(json.dumps(GOOD))
    assert main(["--solutions", str(tmp_path / "solutions"), "--lessons", str(tmp_path / "lessons")]) == 0
    return tmp_path


def test_editing_a_solution_without_regenerating_fails_the_check(course_copy, capsys):
    args = ["--check", "--solutions", str(course_copy / "solutions"), "--lessons", str(course_copy / "lessons")]
    assert main(args) == 0
    path = course_copy / "solutions" / "99_extra.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] = "### Exercise 3.1: add two numbers"
    path.write_text(json.dumps(nb))
    capsys.readouterr()
    assert main(args) == 1
    assert "lessons/99_extra.ipynb differs from a fresh generation" in capsys.readouterr().err


def test_a_failed_generation_writes_nothing(course_copy, capsys):
    before = {p.name: p.read_text() for p in (course_copy / "lessons").glob("*.ipynb")}
    bad = notebook(("markdown", "### Exercise 1.1"), ("code", "def f():\n    ### BEGIN SOLUTION\n    return 1"))
    (course_copy / "solutions" / "00a_bad.ipynb").write_text(json.dumps(bad))
    (course_copy / "solutions" / "99_extra.ipynb").write_text(json.dumps(notebook(("markdown", "changed"))))
    assert main(["--solutions", str(course_copy / "solutions"), "--lessons", str(course_copy / "lessons")]) == 2
    assert "00a_bad.ipynb, cell 1" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in (course_copy / "lessons").glob("*.ipynb")} == before


def test_stale_lessons_are_removed(course_copy):
    (course_copy / "solutions" / "99_extra.ipynb").unlink()
    assert main(["--solutions", str(course_copy / "solutions"), "--lessons", str(course_copy / "lessons")]) == 0
    assert not (course_copy / "lessons" / "99_extra.ipynb").exists()


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_exercise_has_one_region_and_a_registered_checker(path):
    load_all()
    nb = json.loads(path.read_text())
    lesson = int(path.name[:2])
    headings = [n for c in nb["cells"] if c["cell_type"] == "markdown"
                for n in EXERCISE_HEADING.findall("".join(c["source"]))]
    assert 3 <= len(headings) <= 6 or lesson == 0, f"{path.name}: a lesson has 3-6 graded exercises"
    assert len(headings) == len(set(headings)), f"{path.name}: exercise numbers repeat"
    registered = sorted(n for n in REGISTRY if int(n.split(".")[0]) == lesson)
    assert sorted(headings, key=lambda n: int(n.split(".")[1])) == sorted(registered, key=lambda n: int(n.split(".")[1]))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert code.count("### BEGIN SOLUTION") >= len(headings)
    for number in headings:
        assert all(n.startswith(f"{lesson}.") for n in [number]), f"{path.name}: exercise {number} in lesson {lesson}"
    assert len(re.findall(r"= check\.\w+\(", code)) >= len(headings), f"{path.name}: every exercise calls its checker"
