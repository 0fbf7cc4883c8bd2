"""lessons/ is generated from solutions/, and the generator guards against mistakes."""
import base64
import json
import re
import shutil
from pathlib import Path

import pytest

import tnnlib.lessons as lessons_module
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
     r"bad\.ipynb, cell 1, line 2: '### BEGIN SOLUTION' without '### END SOLUTION'"),
    ([("markdown", "### Exercise 1.1"), ("code", "def f():\n    return 1\n    ### END SOLUTION")],
     r"cell 1, line 3: '### END SOLUTION' without"),
    ([("markdown", "### Exercise 1.1\n### BEGIN SOLUTION\nx\n### END SOLUTION")],
     r"cell 0: solution markers in a markdown cell"),
    ([("markdown", "### Exercise 1.1"), ("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")],
     r"cell 1, line 1: a solution region must be inside a function body"),
    ([("code", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")],
     r"cell 0: no 'Exercise N.M' heading"),
    ([("markdown", "### Exercise 1.1"),
      ("code", "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION")], r"again before"),
])
def test_malformed_solutions_name_notebook_and_cell(cells, match):
    with pytest.raises(LessonError, match=match):
        generate_notebook(notebook(*cells), "bad.ipynb")


def _exercise(code):
    return notebook(("markdown", "### Exercise 1.1"), ("code", code))


@pytest.mark.parametrize("begin, end", [
    ("### BEGIN SOLUTION", "### END SOLUTION"),
    ("### Begin Solution", "### End Solution"),
    ("###BEGIN SOLUTION", "###END SOLUTION"),
    ("# BEGIN SOLUTION", "# END SOLUTION"),
    ("#begin   solution  ", "## end solution"),
    ("### BEGIN SOLUTION", "### end Solution"),
])
def test_marker_spellings_are_all_replaced(begin, end):
    code = f"def f():\n    {begin}\n    return 'the answer'\n    {end}\n\ny = 1"
    source = generate_notebook(_exercise(code), "x.ipynb")["cells"][1]["source"]
    assert "the answer" not in source and "olution" not in source
    assert 'raise NotImplementedError("Exercise 1.1' in source and source.endswith("y = 1")


@pytest.mark.parametrize("line", [
    "    x = 1  # BEGIN SOLUTION",
    "    // BEGIN SOLUTION",
    "    # BEGIN SOLUTION here",
    "    ### BEGIN_SOLUTION",
    "    BEGIN SOLUTION",
    '    """END SOLUTION"""',
])
def test_near_miss_markers_are_refused_never_leaked(line):
    code = f"def f():\n{line}\n    return 'the answer'\n    ### END SOLUTION"
    with pytest.raises(LessonError, match=r"x\.ipynb, cell 1, line 2: .* looks like a solution marker"):
        generate_notebook(_exercise(code), "x.ipynb")


@pytest.mark.parametrize("text", ["the answer\n### Begin Solution\n42\n", "**end solution**", "x BEGIN SOLUTION y"])
def test_markers_in_any_spelling_are_refused_in_markdown(text):
    nb = notebook(("markdown", "### Exercise 1.1"), ("markdown", text))
    with pytest.raises(LessonError, match="cell 1: solution markers in a markdown cell"):
        generate_notebook(nb, "x.ipynb")


def test_prose_about_solutions_is_not_a_marker():
    nb = notebook(("markdown", "### Exercise 1.1\nIn the end, solutions are compared; we send solutions back."),
                  ("code", "def f():\n    # the solution ends here\n    ### BEGIN SOLUTION\n    return 1\n"
                           "    ### END SOLUTION"))
    lesson = generate_notebook(nb, "x.ipynb")
    assert "we send solutions back" in lesson["cells"][0]["source"] and "return 1" not in lesson["cells"][1]["source"]


@pytest.mark.parametrize("code", [
    "for i in range(3):\n    ### BEGIN SOLUTION\n    print(i)\n    ### END SOLUTION",
    "if True:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION",
    "with open('f') as f:\n    ### BEGIN SOLUTION\n    x = f.read()\n    ### END SOLUTION",
    "class A:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION",
    "try:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\nexcept ValueError:\n    pass",
    # the region starts in a function but its code goes on at the top level
    "def f():\n    ### BEGIN SOLUTION\n    return 1\nx = f()\n    ### END SOLUTION",
    # markers indented less than the body: the stub would land at the top level
    "def f():\n    x = 1\n### BEGIN SOLUTION\n    return x\n### END SOLUTION",
])
def test_region_outside_a_function_body_is_refused(code):
    with pytest.raises(LessonError, match="must be inside a function body"):
        generate_notebook(_exercise(code), "x.ipynb")


@pytest.mark.parametrize("code", [
    "for k in range(3):\n    def f(x):\n        ### BEGIN SOLUTION\n        return x + k\n        ### END SOLUTION",
    "class A:\n    def f(self):\n        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION",
    "%matplotlib inline\ndef f():\n    for i in range(2):\n        ### BEGIN SOLUTION\n        pass\n"
    "        ### END SOLUTION\n    return 1",
    "@check.add\ndef f(a,\n      b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
])
def test_region_inside_a_function_body_is_accepted(code):
    source = generate_notebook(_exercise(code), "x.ipynb")["cells"][1]["source"]
    assert "SOLUTION" not in source and "NotImplementedError" in source


def test_cell_that_is_not_python_is_refused():
    code = "def f(:\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    with pytest.raises(LessonError, match=r"x\.ipynb, cell 1: the cell is not valid Python"):
        generate_notebook(_exercise(code), "x.ipynb")


@pytest.mark.parametrize("content, match", [
    (b"[1, 2]", "not a Jupyter notebook"),
    (b'{"metadata": {}}', "not a Jupyter notebook"),
    (b'{"cells": [3], "nbformat": 4}', "cell 0: not a notebook cell"),
    (b'{"cells": [{"cell_type": "code", "source": 3}], "nbformat": 4}', "cell 0: the cell's source is not text"),
    (b'{"cells": [], "nbformat": 3}', "nbformat 3 is not supported"),
    (b"not json at all", "not valid notebook JSON"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "cannot be read as a notebook"),
])
def test_a_file_that_is_not_a_notebook_is_named_without_a_traceback(tmp_path, capsys, content, match):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "00_ok.ipynb").write_text(json.dumps(GOOD))
    (tmp_path / "solutions" / "01_odd.ipynb").write_bytes(content)
    args = ["--solutions", str(tmp_path / "solutions"), "--lessons", str(tmp_path / "lessons")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "01_odd.ipynb" in err and match in err and "Traceback" not in err
    assert not (tmp_path / "lessons").exists()
    assert main(["--check", *args]) == 2


def test_a_folder_named_like_a_notebook_is_refused(tmp_path, capsys):
    (tmp_path / "solutions" / "01_folder.ipynb").mkdir(parents=True)
    assert main(["--solutions", str(tmp_path / "solutions"), "--lessons", str(tmp_path / "lessons")]) == 2
    assert "01_folder.ipynb: cannot be read as a notebook" in capsys.readouterr().err


@pytest.fixture
def course_copy(tmp_path):
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    shutil.copytree(REPO / "lessons", tmp_path / "lessons")
    shutil.copytree(REPO / "figures", tmp_path / "figures")  # lessons embed the figures the solutions link
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


def test_solution_markers_in_another_spelling_do_not_leak(course_copy, capsys):
    args = ["--solutions", str(course_copy / "solutions"), "--lessons", str(course_copy / "lessons")]
    path = course_copy / "solutions" / "99_extra.ipynb"
    path.write_text(path.read_text().replace("### BEGIN SOLUTION", "### Begin Solution"))
    assert main(["--check", *args]) == 0          # the same lesson as with the canonical markers
    assert main(args) == 0
    assert "return a + b" not in (course_copy / "lessons" / "99_extra.ipynb").read_text()


def test_writing_is_all_or_nothing(course_copy, monkeypatch, capsys):
    lessons_dir = course_copy / "lessons"
    before = {p.name: p.read_bytes() for p in lessons_dir.iterdir()}
    for path in (course_copy / "solutions").glob("*.ipynb"):  # every lesson changes
        nb = json.loads(path.read_text())
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "one more cell"})
        path.write_text(json.dumps(nb))
    real_write_temp, calls = lessons_module._write_temp, []

    def failing_write_temp(folder, name, text):
        calls.append(name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_write_temp(folder, name, text)

    monkeypatch.setattr(lessons_module, "_write_temp", failing_write_temp)
    assert main(["--solutions", str(course_copy / "solutions"), "--lessons", str(lessons_dir)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in lessons_dir.iterdir()} == before   # no lesson and no temp file
    monkeypatch.setattr(lessons_module, "_write_temp", real_write_temp)
    assert main(["--solutions", str(course_copy / "solutions"), "--lessons", str(lessons_dir)]) == 0
    assert all("one more cell" in p.read_text() for p in lessons_dir.glob("*.ipynb"))
    assert not [p for p in lessons_dir.iterdir() if p.suffix != ".ipynb"]


@pytest.mark.parametrize("check", [True, False])
def test_installed_copy_without_solutions_says_what_is_wrong(tmp_path, monkeypatch, capsys, check):
    # an installed (non-editable) tnnlib: site-packages/tnnlib, and no solutions/ beside it
    site_packages = tmp_path / "site-packages"
    (site_packages / "lessons").mkdir(parents=True)
    (site_packages / "lessons" / "00_keep.ipynb").write_text("{}")
    monkeypatch.setattr(lessons_module, "REPO", site_packages)
    assert main(["--check"] if check else []) == 2
    captured = capsys.readouterr()
    assert "up to date" not in captured.out + captured.err
    assert "solutions does not exist" in captured.err and "not inside a checkout of the course" in captured.err
    assert (site_packages / "lessons" / "00_keep.ipynb").exists()   # nothing removed as "stale"


def test_empty_solutions_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    assert main(["--check", "--solutions", str(tmp_path / "solutions"), "--lessons", str(tmp_path)]) == 2
    assert "holds no notebook" in capsys.readouterr().err


def test_stale_lessons_are_removed(course_copy):
    (course_copy / "solutions" / "99_extra.ipynb").unlink()
    assert main(["--solutions", str(course_copy / "solutions"), "--lessons", str(course_copy / "lessons")]) == 0
    assert not (course_copy / "lessons" / "99_extra.ipynb").exists()


def _exercise_index(number):
    """``"3.12"`` -> 12."""
    return int(number.split(".")[1])


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
    assert sorted(headings, key=_exercise_index) == sorted(registered, key=_exercise_index)
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert code.count("### BEGIN SOLUTION") >= len(headings)
    for number in headings:
        assert all(n.startswith(f"{lesson}.") for n in [number]), f"{path.name}: exercise {number} in lesson {lesson}"
    assert len(re.findall(r"= check\.\w+\(", code)) >= len(headings), f"{path.name}: every exercise calls its checker"


def test_linked_figures_are_embedded_as_attachments(tmp_path):
    """A lesson opened outside the repository still shows its figures (the solutions keep links)."""
    png = b"\x89PNG\r\n\x1a\nnot really a picture"
    (tmp_path / "chain.png").write_bytes(png)
    nb = notebook(("markdown", "Look:\n\n![A chain](../figures/chain.png)"), ("code", "x = 1"))
    cell = generate_notebook(nb, "x.ipynb", figures=tmp_path)["cells"][0]
    assert cell["source"] == "Look:\n\n![A chain](attachment:chain.png)"
    assert base64.b64decode(cell["attachments"]["chain.png"]["image/png"]) == png
    assert "attachments" not in generate_notebook(nb, "x.ipynb")["cells"][0], "no figures folder: links kept"


def test_missing_linked_figure_is_named(tmp_path):
    nb = notebook(("markdown", "![gone](../figures/gone.png)"))
    with pytest.raises(LessonError, match="figures/gone.png"):
        generate_notebook(nb, "x.ipynb", figures=tmp_path)


def test_slide_types_and_tags_are_kept_other_metadata_dropped():
    nb = notebook(("markdown", "# Title"), ("code", "x = 1"))
    nb["cells"][0]["metadata"] = {"slideshow": {"slide_type": "slide"}, "collapsed": True}
    nb["cells"][1]["metadata"] = {"tags": ["nbval-ignore-output"], "scrolled": True}
    cells = generate_notebook(nb, "x.ipynb")["cells"]
    assert cells[0]["metadata"] == {"slideshow": {"slide_type": "slide"}}
    assert cells[1]["metadata"] == {"tags": ["nbval-ignore-output"]}


def test_committed_lessons_embed_every_linked_figure():
    for path in sorted((REPO / "lessons").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert "../figures/" not in text, f"{path.name} links ../figures/: regenerate with python -m tnnlib.lessons"
