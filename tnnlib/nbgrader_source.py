"""Make an nbgrader course folder from ``solutions/``.

    python -m tnnlib.nbgrader_source OUT [--lessons 00 01 ...] [--hidden FILE] [--solutions DIR]

writes::

    OUT/nbgrader_config.py                     course settings (fast mode and one thread for the kernels)
    OUT/source/<lesson>/<lesson>.ipynb         e.g. source/02_svd/02_svd.ipynb
    OUT/source/<lesson>/figures/*.png          the figures the notebook shows

Each solution notebook becomes an nbgrader source notebook: the code cell of
every exercise is an nbgrader *autograded answer* cell (its ``### BEGIN/END
SOLUTION`` region becomes nbgrader's stub), and right after it comes a locked
*autograded test* cell, worth the exercise's points (``metadata.nbgrader.points``
in ``solutions/``, else 1), that calls :func:`tnnlib.grade.nbgrader_check`: the
lesson's checker on the learner's function, found by name, so the scores agree
with ``python -m tnnlib.grade``. With ``--hidden FILE`` the test cells also hold
the instructor's hidden checks of that exercise between nbgrader's
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``, which nbgrader strips
from the students' version and puts back when it autogrades. Then, in ``OUT``::

    nbgrader generate_assignment 02_svd       # release/02_svd/02_svd.ipynb, for the students
    nbgrader autograde 02_svd                 # grade submitted/<student>/02_svd/

nbgrader is not a dependency of the course: ``pip install nbgrader`` where you
grade with it.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from .grade import lesson_specs, solution_exercises
from .lessons import REPO

CONFIG = '''"""nbgrader settings of the course (made by python -m tnnlib.nbgrader_source)."""
import os

# the graded kernels inherit these: the course's fast mode and one BLAS/OpenMP thread
for _name, _value in {{"TNN_FAST": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                      "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}}.items():
    os.environ.setdefault(_name, _value)

c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file
c.CourseDirectory.course_id = "tensorized-neural-networks"
c.Execute.timeout = 120               # seconds per cell
c.Execute.interrupt_on_timeout = True
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
'''

TEST_CELL = '''# Autograded test of exercise {number}: {title} ({points:g} point{plural}).
# It runs the lesson's checker on your function `{function}` (whatever the cell above did with it).
from tnnlib.grade import nbgrader_check

nbgrader_check({number!r}, {function!r}, globals())
'''

HIDDEN = '''### BEGIN HIDDEN TESTS
nbgrader_check({number!r}, {function!r}, globals(), hidden_checks=({kind!r}, {text!r}))
### END HIDDEN TESTS
'''


def _meta(grade_id: str, *, solution: bool, grade: bool, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": grade, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _hidden_sources(path: Path | None) -> tuple[str, str, dict] | tuple[None, None, dict]:
    """``(kind, text, per-exercise text)`` of a hidden-checks file; JSON is split by exercise."""
    if path is None:
        return None, None, {}
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() == ".json":
        spec = json.loads(text)
        return "json", text, {number: json.dumps({number: cases}) for number, cases in spec.items()}
    numbers = set(re.findall(r"""@hidden\(\s*["'](\d+\.\d+)["']\s*\)""", text))
    return "python", text, dict.fromkeys(numbers, text)


def source_notebook(solution: dict, points_by_number: dict, hidden_file: Path | None = None) -> dict:
    """The nbgrader source version of one solution notebook (a new dict)."""
    kind, _, hidden_text = _hidden_sources(hidden_file)
    exercises = {index: (number, title, function) for number, title, function, index, _ in
                 solution_exercises(solution)}
    cells = []
    for index, cell in enumerate(solution["cells"]):
        cell = json.loads(json.dumps(cell))
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = source
        if cell["cell_type"] == "markdown":
            cell["source"] = source.replace("](../figures/", "](figures/")
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.setdefault("metadata", {}).pop("nbgrader", None)
        cells.append(cell)
        if index not in exercises:
            continue
        number, title, function = exercises[index]
        cell["metadata"]["nbgrader"] = _meta(f"exercise_{number.replace('.', '_')}", solution=True, grade=False)
        points = points_by_number.get(number, 1)
        test = TEST_CELL.format(number=number, title=title, points=points, plural="" if points == 1 else "s",
                                function=function)
        if number in hidden_text:
            test += HIDDEN.format(number=number, function=function, kind=kind, text=hidden_text[number])
        cells.append({"cell_type": "code", "execution_count": None, "id": f"test-{number.replace('.', '-')}",
                      "outputs": [], "source": test,
                      "metadata": {"nbgrader": _meta(f"test_{number.replace('.', '_')}", solution=False,
                                                     grade=True, points=points)}})
    meta = {k: solution["metadata"][k] for k in ("kernelspec", "language_info") if k in solution.get("metadata", {})}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": solution.get("nbformat_minor", 5)}


def _dumps(notebook: dict) -> str:
    notebook = json.loads(json.dumps(notebook))
    for cell in notebook["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_course(out: Path, solutions: Path | None = None, lessons=None, hidden_file: Path | None = None) -> list:
    """Write the course folder; return the assignment names."""
    solutions = Path(solutions) if solutions else REPO / "solutions"
    specs = lesson_specs(solutions)
    out = Path(out)
    names = []
    for lesson, spec in specs.items():
        path = solutions / spec.notebook
        if (lessons and lesson not in lessons) or not path.is_file():
            continue
        solution = json.loads(path.read_text(encoding="utf-8"))
        notebook = source_notebook(solution, {ex.number: ex.points for ex in spec.exercises}, hidden_file)
        name = path.stem
        folder = out / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.ipynb").write_text(_dumps(notebook), encoding="utf-8")
        figures = sorted(set(re.findall(r"\]\(figures/([\w.-]+)\)", _dumps(notebook))))
        for figure in figures:
            src = solutions.parent / "figures" / figure
            if src.is_file():
                (folder / "figures").mkdir(exist_ok=True)
                shutil.copyfile(src, folder / "figures" / figure)
        names.append(name)
    (out / "nbgrader_config.py").write_text(CONFIG.format(), encoding="utf-8")
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tnnlib.nbgrader_source",
                                     description="Make an nbgrader course folder from solutions/.")
    parser.add_argument("out", type=Path, help="the course folder to write (created if missing)")
    parser.add_argument("--lessons", nargs="*", help="only these lessons (e.g. 00 02); default all")
    parser.add_argument("--hidden", type=Path, help="hidden checks (JSON or Python, as for python -m tnnlib.grade)")
    parser.add_argument("--solutions", type=Path, help="default: solutions/ of the checkout")
    args = parser.parse_args(argv)
    lessons = {f"{int(x):02d}" for x in args.lessons} if args.lessons else None
    try:
        names = write_course(args.out, args.solutions, lessons, args.hidden)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/nbgrader_config.py and {len(names)} assignment(s) in {args.out}/source/: "
          f"{', '.join(names)}")
    print(f"next: cd {args.out} && nbgrader generate_assignment {names[0] if names else 'NAME'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
