"""nbgrader out of the box: the course folder made by `python -m tnnlib.nbgrader_source` works with
nbgrader's own commands, and nbgrader's scores agree with `python -m tnnlib.grade`'s.

Skipped where nbgrader is not installed (it is not a dependency of the course: `pip install nbgrader`).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tnnlib import grade, nbgrader_source

nbgrader_api = pytest.importorskip("nbgrader.api")

LESSON = "01_tensors"
HIDDEN = {"1.1": [{"args": [{"random": [2, 3, 2, 2, 3], "seed": 5}, 4]}]}


def _nbgrader(course: Path, *args):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def _submission(course: Path) -> dict:
    """The released notebook with 1.1 and 1.2 solved, 1.4 solved wrong, 1.3 and 1.5 left as stubs."""
    release = json.loads((course / "release" / LESSON / f"{LESSON}.ipynb").read_text())
    source = json.loads((course / "source" / LESSON / f"{LESSON}.ipynb").read_text())
    solved = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
              for c in source["cells"] if "nbgrader" in c["metadata"]}
    for cell in release["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in ("exercise_1_1", "exercise_1_2", "exercise_1_4"):
            cell["source"] = solved[grade_id]
        if grade_id == "exercise_1_4":
            cell["source"] = cell["source"].replace("flops = 2\n", "flops = 3\n")
    return release


def test_nbgrader_autograde_agrees_with_tnnlib_grade(tmp_path):
    course = tmp_path / "course"
    hidden = tmp_path / "hidden.json"
    hidden.write_text(json.dumps(HIDDEN))
    assert nbgrader_source.main([str(course), "--lessons", "01", "--hidden", str(hidden)]) == 0
    assert (course / "nbgrader_config.py").is_file()
    assert (course / "source" / LESSON / "figures" / "tensor_orders.png").is_file()

    _nbgrader(course, "generate_assignment", LESSON, "--force")
    released = (course / "release" / LESSON / f"{LESSON}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released and "hidden_checks" not in released
    assert released.count("nbgrader_check(") == 5

    submitted = course / "submitted" / "alice" / LESSON / f"{LESSON}.ipynb"
    submitted.parent.mkdir(parents=True)
    submitted.write_text(json.dumps(_submission(course), indent=1))
    _nbgrader(course, "autograde", LESSON, "--create")
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(LESSON, LESSON, "alice")
        by_nbgrader = {g.name.replace("test_", "").replace("_", "."): g.score for g in notebook.grades}

    scores = grade.grade_paths([submitted], out=None, jobs=1, cell_timeout=30, timeout=200, hidden_file=hidden,
                               quiet=True)
    [record] = scores["submissions"]
    by_tnnlib = {e["exercise"]: e["points"] for e in record["exercises"]}
    assert by_tnnlib == {"1.1": 1, "1.2": 1, "1.3": 0, "1.4": 0, "1.5": 0}
    assert by_nbgrader == by_tnnlib
