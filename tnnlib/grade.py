"""Grade learners' notebooks with the lessons' checkers.

    python -m tnnlib.grade PATH... [--lesson NN] [--out DIR] [--jobs N]
                                   [--cell-timeout S] [--timeout S] [--hidden FILE]
    python -m tnnlib.grade --bench 30 02        # time the grading of 30 made-up lesson-02 submissions
    python -m tnnlib.grade --write-points       # points metadata into solutions/ (instructors)
    python -m tnnlib.grade --nbgrader-source OUT   # = python -m tnnlib.nbgrader_source OUT

``PATH`` is a notebook or a folder (searched recursively for ``*.ipynb``, skipping
``.ipynb_checkpoints`` and hidden folders). Each submission is copied to a
temporary folder and run there in a fresh Jupyter kernel (nbclient) with
``TNN_FAST=1`` and one BLAS/OpenMP thread; the submission itself is never
written to. Then, in the same kernel, every exercise of the lesson is graded
*by the grader*: it looks up the learner's function by its name and calls the
lesson's checker on it, so it does not matter whether the learner kept the
``f = check.f(f)`` line. Where that line replaced a stub by the reference, the
grader grades the stub (the checker records what it was given, see
:data:`tnnlib.checking.OUTCOMES`).

Each exercise gets its points (``metadata.nbgrader.points`` of its cells in
``solutions/``, else 1) or 0, a status and the checker's feedback:

==============  ==================================================================
passed          the checker (and the hidden checks, if any) passed
failed          a wrong answer, or the learner's code raised: the checker's message
not done        the function is still the stub (raises NotImplementedError)
missing         no function of that name after running the notebook (renamed, removed,
                or its cell did not run: the reason says which)
timeout         checking it, or the cell that defines it, ran out of time
crashed         the kernel died (``os._exit``, a segfault, out of memory) while
                running the function's cell or checking it
error           the grader could not check it (the reason says why)
wrong lesson    the notebook is another lesson than ``--lesson``
invalid         the file is not a readable notebook
==============  ==================================================================

A notebook whose kernel dies is run again in a new kernel without the cell that
killed it (at most :data:`MAX_KERNEL_STARTS` kernels); a cell that runs past
``--cell-timeout`` is interrupted (its exercise function is then replaced by the
reference for the rest of the notebook, as the checker does for a stub, and is
graded on its own afterwards). ``--timeout`` bounds everything for one submission,
kernel restarts included.

Results go to ``--out`` (default ``grades/``): ``scores.csv`` (a row per
submission and exercise), ``totals.csv`` (a row per submission), ``scores.json``
(all of it) and ``run.json`` (timings: the only file that differs between two
runs). Each is written atomically. Everything is sorted, so grading the same
files twice writes identical score files.

**Hidden checks** (``--hidden FILE``) are extra cases the learners never see,
run after the lesson's checker has passed. A JSON file maps exercise numbers to
cases; each case calls the learner's function and the reference on the same
arguments and compares the results (arrays to ``rtol``)::

    {"2.4": [{"args": [100, 50, 3]}, {"args": [7, 9, 2]}],
     "2.1": [{"args": [{"random": [9, 6], "seed": 11}, 3], "rtol": 1e-6}]}

An argument ``{"random": SHAPE, "seed": S}`` is a standard normal NumPy array,
``{"array": NESTED_LIST}`` an array and ``{"tuple": [...]}`` a tuple. Where answers
are not unique (signs of singular vectors, gauges of a tensor train) write a
Python file instead: its functions, decorated with ``@hidden("N.M")``, receive the
learner's function and test it with the ``tnnlib.checking.expect*`` helpers::

    from tnnlib.checking import expect_close
    from tnnlib.grade import hidden

    @hidden("2.1")
    def larger_matrix(answer):
        ...

This is not a sandbox: learner code runs with the grader's rights. Grade
untrusted submissions in a container.

In a lesson, ``summary()`` prints which of the lesson's exercises pass.
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import atexit
import contextlib
import copy
import csv
import hashlib
import io
import json
import os
import queue
import re
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import checking
from .checking import REGISTRY, ExerciseFailed, LearnerFunction, describe, expect, expect_close, expect_equal
from .checks import load_all
from .lessons import EXERCISE_HEADING, MARKER, REPO
from .runtime import seed_everything

__all__ = ["grade_paths", "lesson_specs", "identify_lesson", "check_exercise", "summary", "hidden",
           "nbgrader_check", "main"]

#: a submission is run in at most this many kernels (a kernel that dies is replaced)
MAX_KERNEL_STARTS = 4
STATUSES = ("passed", "failed", "not done", "missing", "timeout", "crashed", "error", "wrong lesson", "invalid")
#: environment of the graded kernels
KERNEL_ENV = {"TNN_FAST": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
_LESSON_IMPORT = re.compile(r"\btnnlib\.checks(?:\s+import\s+|\.)lesson(\d+)")
_PROBE_TIMEOUT = 10
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_OUTPUTS = 200          # outputs kept per cell: a cell printing in a loop cannot eat the memory
_MAX_TEXT = 20_000          # characters kept per stream output


def _exercise_key(number: str) -> tuple:
    return tuple(int(part) for part in number.split("."))


def _lesson_of(number: str) -> str:
    return f"{int(number.split('.')[0]):02d}"


# ----------------------------------------------------------------------------------------------
# The lessons: exercises, function names and points, from solutions/
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExerciseSpec:
    """One graded exercise of a lesson."""

    number: str
    title: str
    function: str
    points: float


@dataclass(frozen=True)
class LessonSpec:
    """What grading needs to know about one lesson."""

    lesson: str                      # "02"
    notebook: str                    # "02_svd.ipynb"
    exercises: tuple[ExerciseSpec, ...]

    @property
    def max_score(self) -> float:
        return sum(ex.points for ex in self.exercises)

    @property
    def module(self) -> str:
        return f"tnnlib.checks.lesson{self.lesson}"


def _cell_source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _points(cell) -> float | None:
    meta = cell.get("metadata", {}) if isinstance(cell.get("metadata"), dict) else {}
    nbgrader = meta.get("nbgrader", {}) if isinstance(meta.get("nbgrader"), dict) else {}
    points = nbgrader.get("points")
    return points if isinstance(points, (int, float)) and not isinstance(points, bool) else None


def _region_function(source: str) -> str | None:
    """The name of the top-level function whose body holds the cell's first solution marker."""
    lines = source.splitlines()
    marker = next((k for k, line in enumerate(lines, start=1) if MARKER.match(line.strip())), None)
    if marker is None:
        return None
    code = "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in lines)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno < marker <= node.end_lineno:
            return node.name
    return None


def solution_exercises(notebook: dict) -> list[tuple[str, str, str, int, float | None]]:
    """``(number, heading title, function, cell index, points)`` for each exercise of a solution notebook."""
    found, number, titles, heading_points = {}, None, {}, {}
    for index, cell in enumerate(notebook.get("cells", [])):
        source = _cell_source(cell)
        if cell.get("cell_type") == "markdown":
            for match in re.finditer(r"^#+\s*Exercise\s+(\d+\.\d+)\s*:?\s*(.*)$", source, re.MULTILINE):
                number = match.group(1)
                titles[number] = match.group(2).strip()
                heading_points[number] = _points(cell)
        elif cell.get("cell_type") == "code" and number and number not in found:
            function = _region_function(source)
            if function:
                points = _points(cell)
                found[number] = (number, titles.get(number, ""), function, index,
                                 points if points is not None else heading_points.get(number))
    return [found[n] for n in sorted(found, key=_exercise_key)]


def lesson_specs(solutions: Path | None = None) -> dict[str, LessonSpec]:
    """Every lesson's exercises, by lesson ("02"): from the solution notebooks, else from the checkers.

    Function names and points come from ``solutions/`` (the function that holds
    an exercise's solution region; ``metadata.nbgrader.points`` of its code or
    heading cell, 1 where absent). Exercises with a checker but no solution
    notebook (an installed ``tnnlib`` without the course's folders) are graded
    with the checker's name as the function's name, for 1 point each.
    """
    load_all()
    folder = Path(solutions) if solutions else REPO / "solutions"
    specs: dict[str, LessonSpec] = {}
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        exercises = []
        for number, heading, function, _, points in solution_exercises(notebook):
            title = REGISTRY[number].title if number in REGISTRY else heading
            exercises.append(ExerciseSpec(number, title, function, 1.0 if points is None else float(points)))
        if exercises:
            lesson = _lesson_of(exercises[0].number)
            specs[lesson] = LessonSpec(lesson, path.name, tuple(exercises))
    by_lesson: dict[str, list] = {}
    for number, ex in REGISTRY.items():
        by_lesson.setdefault(_lesson_of(number), []).append(ex)
    for lesson, exercises in by_lesson.items():
        if lesson not in specs:
            specs[lesson] = LessonSpec(lesson, f"lesson{lesson}", tuple(
                ExerciseSpec(ex.number, ex.title, ex.check.__name__, 1.0)
                for ex in sorted(exercises, key=lambda e: _exercise_key(e.number))))
    return dict(sorted(specs.items()))


def identify_lesson(notebook: dict, specs: dict[str, LessonSpec], filename: str = "") -> tuple[str | None, str]:
    """Which lesson a (learner's) notebook is, and how that was decided.

    In order: ``metadata.tnnlib.lesson``; else a vote of the checker import
    (``from tnnlib.checks import lessonNN``, 3 votes), the ``Exercise N.M``
    headings and the exercise functions it defines (1 vote each); else the file
    name's ``NN_`` prefix. ``(None, why)`` when it cannot be told.
    """
    meta = notebook.get("metadata", {})
    declared = meta.get("tnnlib", {}).get("lesson") if isinstance(meta, dict) and isinstance(
        meta.get("tnnlib"), dict) else None
    if declared is not None and f"{int(declared):02d}" in specs:
        return f"{int(declared):02d}", "notebook metadata"
    votes: dict[str, int] = {}
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict):
            continue
        source = _cell_source(cell)
        if cell.get("cell_type") == "code":
            for lesson in _LESSON_IMPORT.findall(source):
                votes[f"{int(lesson):02d}"] = votes.get(f"{int(lesson):02d}", 0) + 3
            defined = set(re.findall(r"^def\s+(\w+)\s*\(", source, re.MULTILINE))
            for lesson, spec in specs.items():
                hits = sum(ex.function in defined for ex in spec.exercises)
                votes[lesson] = votes.get(lesson, 0) + hits
        elif cell.get("cell_type") == "markdown":
            for number in EXERCISE_HEADING.findall(source):
                votes[_lesson_of(number)] = votes.get(_lesson_of(number), 0) + 1
    votes = {lesson: n for lesson, n in votes.items() if n > 0 and lesson in specs}
    if votes:
        best = max(votes.values())
        winners = sorted(lesson for lesson, n in votes.items() if n == best)
        if len(winners) == 1:
            return winners[0], "its checker import, exercise headings and functions"
        return None, f"it looks equally like lessons {' and '.join(winners)}"
    prefix = re.match(r"(\d\d)_", Path(filename).name)
    if prefix and prefix.group(1) in specs:
        return prefix.group(1), "its file name"
    return None, "no checker import, exercise heading or exercise function of any lesson in it"


# ----------------------------------------------------------------------------------------------
# Inside the kernel: find the learner's function, check it, hidden checks, summary()
# ----------------------------------------------------------------------------------------------

#: learner functions set aside after their cell timed out (their name then holds the reference)
_PARKED: dict[str, Callable] = {}
_HIDDEN_LOADING: dict[str, list] | None = None
_HIDDEN_CACHE: dict[str, tuple] = {}


def hidden(number: str):
    """Mark a function of a hidden-checks file as an extra check of exercise ``number`` ("2.1")."""
    def decorate(function):
        if _HIDDEN_LOADING is not None:
            _HIDDEN_LOADING.setdefault(number, []).append(function)
        function.hidden_exercise = number
        return function
    return decorate


def _value(x):
    """A JSON case argument as a Python value (see the module docstring)."""
    if isinstance(x, dict):
        if "random" in x:
            return np.random.default_rng(int(x.get("seed", 0))).standard_normal(tuple(x["random"]))
        if "array" in x:
            return np.array(x["array"], dtype=x.get("dtype"))
        if "tuple" in x:
            return tuple(_value(v) for v in x["tuple"])
        return {k: _value(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_value(v) for v in x]
    return x


def _compare(got, expected, what: str, rtol: float, atol: float) -> None:
    if isinstance(expected, (np.ndarray, torch.Tensor, float, np.floating, complex)):
        expect_close(got, expected, what, rtol=rtol, atol=atol)
    elif isinstance(expected, (tuple, list)):
        expect(isinstance(got, (tuple, list)) and len(got) == len(expected),
               f"{what}: expected a sequence of {len(expected)} values, got {describe(got)}")
        for k, (g, e) in enumerate(zip(got, expected)):
            _compare(g, e, f"{what}[{k}]", rtol, atol)
    else:
        expect_equal(got, expected, what)


def _json_check(number: str, cases: list):
    def check(answer):
        ex = REGISTRY[number]
        for k, case in enumerate(cases, start=1):
            args, kwargs = _value(case.get("args", [])), _value(case.get("kwargs", {}))
            shown = ", ".join([describe(a) for a in args] + [f"{key}={describe(v)}" for key, v in kwargs.items()])
            expected = ex.reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
            got = answer(*copy.deepcopy(args), **copy.deepcopy(kwargs))
            _compare(got, expected, f"hidden case {k}: {answer.__name__}({shown})",
                     float(case.get("rtol", 1e-6)), float(case.get("atol", 1e-9)))
        return f"{len(cases)} hidden case(s)"
    check.__name__ = f"hidden cases of {number}"
    return check


def load_hidden(path) -> dict[str, list]:
    """The hidden checks of an instructor's file (JSON or Python), by exercise number."""
    global _HIDDEN_LOADING
    path = Path(path)
    stamp = (path.stat().st_mtime_ns, path.stat().st_size)
    cached = _HIDDEN_CACHE.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    if path.suffix.lower() == ".json":
        spec = json.loads(path.read_text(encoding="utf-8"))
        checks = {number: [_json_check(number, cases if isinstance(cases, list) else cases.get("cases", []))]
                  for number, cases in spec.items()}
    else:
        _HIDDEN_LOADING = {}
        try:
            namespace = runpy.run_path(str(path), run_name="tnnlib_hidden_checks")
            checks = _HIDDEN_LOADING
        finally:
            _HIDDEN_LOADING = None
        for number, functions in (namespace.get("HIDDEN") or {}).items():
            checks.setdefault(number, []).extend(functions if isinstance(functions, (list, tuple)) else [functions])
    _HIDDEN_CACHE[str(path)] = (stamp, checks)
    return checks


def _exercise(number: str):
    __import__(f"tnnlib.checks.lesson{_lesson_of(number)}")
    return REGISTRY[number]


def find_answer(namespace: dict, number: str, function: str) -> tuple[object, str | None]:
    """The learner's function for exercise ``number`` in ``namespace``, or ``(None, why not)``."""
    ex = _exercise(number)
    answer = namespace.get(function)
    if answer is None:
        return None, f"no function named `{function}` in the notebook (renamed or removed?)"
    if answer is ex.reference:
        recorded = checking.OUTCOMES.get(number)
        if number in _PARKED:
            return _PARKED[number], None
        if recorded is not None and recorded.status == "not done":
            return recorded.answer, None   # the checker replaced the stub by the reference: grade the stub
        return None, f"`{function}` is the course's reference {ex.reference_name}, not your own code"
    if not callable(answer):
        return None, f"`{function}` should be your function, got {describe(answer)}"
    return answer, None


def check_exercise(namespace: dict, number: str, function: str, hidden_file=None) -> dict:
    """Grade one exercise in ``namespace``: ``{"status", "feedback"}`` (statuses: see the module docstring)."""
    ex = _exercise(number)
    answer, problem = find_answer(namespace, number, function)
    if problem:
        return {"status": "missing", "feedback": problem}
    checks = [("", ex.check)]
    if hidden_file:
        checks += [("hidden check: ", check) for check in load_hidden(hidden_file).get(number, [])]
    said = []
    for prefix, check in checks:
        seed_everything(0)
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                said.append(check(LearnerFunction(answer, ex)) or "")
        except checking._NotDoneYet:
            return {"status": "not done", "feedback": "not done yet"}
        except ExerciseFailed as failure:
            return {"status": "failed", "feedback": f"Exercise {number} ({ex.title}): {prefix}{failure}"}
        except Exception as error:  # the checker itself could not cope with what the function returned
            return {"status": "error", "feedback": f"Exercise {number} ({ex.title}): {prefix}the checker could not "
                                                   f"test your function: {type(error).__name__}: {error}"}
    return {"status": "passed", "feedback": " ".join(s for s in said if s)}


def grade_exercise(namespace: dict, number: str, function: str, hidden_file=None, result_file=None) -> dict:
    """:func:`check_exercise` in the grader's kernel; the result is written (atomically) to ``result_file``.

    (A file, not the cell's output: after an interrupted cell, ipykernel 7 can
    send a later cell's output with the wrong parent, and nbclient drops it.)
    """
    result = check_exercise(namespace, number, function, hidden_file)
    if result_file:
        _write_atomic(Path(result_file), json.dumps(result, sort_keys=True))
    return result


def _park(namespace: dict, exercises: dict) -> None:
    """After a cell timed out: set its exercise functions aside and use the references below it."""
    for number, function in exercises.items():
        ex = _exercise(number)
        answer = namespace.get(function)
        if callable(answer) and answer is not ex.reference:
            _PARKED[number] = answer
            namespace[function] = ex.reference


def nbgrader_check(number: str, function: str, namespace: dict, hidden_checks=None) -> None:
    """An nbgrader autograded test cell: raise (0 points) unless exercise ``number`` passes.

    ``hidden_checks``: ``("json" | "python", text)``, an instructor's hidden-checks file's content.
    """
    hidden_file = None
    if hidden_checks:
        kind, text = hidden_checks
        fd, hidden_file = tempfile.mkstemp(suffix=".json" if kind == "json" else ".py")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    try:
        result = check_exercise(namespace, number, function, hidden_file)
    finally:
        if hidden_file:
            os.unlink(hidden_file)
    print(f"Exercise {number}: {result['status']}. {result['feedback']}".rstrip())
    if result["status"] != "passed":
        raise AssertionError(result["feedback"])


def summary(lesson: str | int | None = None, namespace: dict | None = None) -> dict[str, str]:
    """Print which exercises of a lesson pass; return ``{number: status}``.

    Call it in a lesson's last cell: ``summary()``. The lesson is the one of the
    ``check`` module imported in the notebook (or give it: ``summary("02")``).
    An exercise whose checker already ran on the function now bearing its name
    is not checked again.
    """
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    if lesson is None:
        module = getattr(namespace.get("check"), "__name__", "")
        match = re.search(r"lesson(\d+)$", module)
        if not match:
            raise ValueError("summary(): give the lesson, e.g. summary('02') (no `check` module imported here)")
        lesson = match.group(1)
    lesson = f"{int(lesson):02d}"
    spec = lesson_specs().get(lesson)
    if spec is None:
        raise ValueError(f"summary(): no lesson {lesson}")
    statuses, lines = {}, []
    for ex in spec.exercises:
        answer, recorded = namespace.get(ex.function), checking.OUTCOMES.get(ex.number)
        reference = _exercise(ex.number).reference
        if recorded is not None and answer is not None and (
                recorded.answer is answer or (answer is reference and recorded.status == "not done")):
            status, feedback = recorded.status, recorded.message
        else:
            result = check_exercise(namespace, ex.number, ex.function)
            status, feedback = result["status"], result["feedback"]
        statuses[ex.number] = status
        first = feedback.splitlines()[0] if feedback and status != "passed" else ""
        shown = {"not done": "not done yet"}.get(status, status)
        lines.append(f"  {ex.number:>5}  {ex.title[:44]:<44}  {shown}" + (f": {first[:160]}" if
                                                                         first and status != "not done" else ""))
    passed = sum(s == "passed" for s in statuses.values())
    points = sum(ex.points for ex in spec.exercises if statuses[ex.number] == "passed")
    print(f"Lesson {lesson}: {passed} of {len(spec.exercises)} exercises pass "
          f"({points:g} of {spec.max_score:g} points)")
    print("\n".join(lines))
    return statuses


# ----------------------------------------------------------------------------------------------
# The worker: one submission in a kernel
# ----------------------------------------------------------------------------------------------

def _defining_cells(cells, function: str) -> list[int]:
    pattern = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(function)}\s*\(", re.MULTILINE)
    return [i for i, c in enumerate(cells) if c.cell_type == "code" and pattern.search(c.source)]


def _error_of(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            value = str(out.get("evalue", "")).strip().splitlines()
            return f"{out.get('ename', 'Error')}: {value[0][:300] if value else ''}".rstrip(": ")
    return None


def _grading_source(number: str, function: str, hidden_file, result_file) -> str:
    return (f"__import__('tnnlib.grade', fromlist=['grade_exercise']).grade_exercise("
            f"globals(), {number!r}, {function!r}, {str(hidden_file) if hidden_file else None!r}, "
            f"{str(result_file)!r});")


async def _grade_notebook(job: dict) -> dict:
    """Run one submission in a kernel and grade its exercises (cells are counted from 1 in the reasons)."""
    import nbformat  # noqa: PLC0415 - the worker's and the CLI's dependencies, not the kernel's
    from nbclient import NotebookClient  # noqa: PLC0415
    from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: PLC0415
    from nbclient.util import ensure_async  # noqa: PLC0415

    class Client(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):
            if len(outs) >= _MAX_OUTPUTS and msg["msg_type"] in ("stream", "display_data"):
                return None
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None and out.get("output_type") == "stream" and len(out.get("text", "")) > _MAX_TEXT:
                out["text"] = out["text"][:_MAX_TEXT] + "\n[... cut by the grader]\n"
            return out

    path, workdir = Path(job["notebook"]), Path(job["workdir"])
    exercises = [ExerciseSpec(**ex) for ex in job["exercises"]]
    cell_timeout, start = float(job["cell_timeout"]), time.monotonic()
    deadline = start + float(job["timeout"])
    reserve = min(len(exercises) * cell_timeout, float(job["timeout"]) / 3)
    results: dict[str, dict] = {}
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as error:
        return {"status": "invalid", "reason": f"not a readable notebook ({type(error).__name__}: "
                                               f"{str(error).splitlines()[0][:200] if str(error) else ''})"}
    nb.cells = [c for c in nb.cells if c.get("cell_type") in ("code", "markdown", "raw")]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    skipped: dict[int, str] = {}         # cell -> "crashed" | "timeout": not run again in a new kernel
    timed_out: set[int] = set()
    stopped_at: int | None = None
    errors: dict[int, str] = {}

    def cell_problem(function: str) -> tuple[str, str]:
        """Status and reason for an exercise whose function is missing after the run."""
        cells = _defining_cells(nb.cells[:len_learner], function)
        for i in cells:
            if skipped.get(i) == "crashed":
                return "crashed", (f"cell {i + 1}, which defines `{function}`, killed the kernel (os._exit, a crash or "
                                   "running out of memory); it was left out when the notebook was run again")
            if skipped.get(i) == "timeout":
                return "timeout", (f"cell {i + 1}, which defines `{function}`, ran longer than {cell_timeout:g} s and "
                                   "did not stop when interrupted")
            if stopped_at is not None and i >= stopped_at:
                return "timeout", (f"the notebook ran out of time (--timeout {job['timeout']:g} s) before "
                                   f"cell {i + 1}, which defines `{function}`")
            if i in errors:
                return "missing", f"cell {i + 1}, which should define `{function}`, raised {errors[i]}"
        if cells:
            return "missing", f"`{function}` is not defined after running the notebook (cell {cells[0] + 1} defines it)"
        return "missing", f"no function named `{function}` in the notebook (renamed or removed?)"

    len_learner = len(nb.cells)
    starts = 0
    while len(results) < len(exercises):
        starts += 1
        if starts > MAX_KERNEL_STARTS:
            for ex in exercises:
                results.setdefault(ex.number, {"status": "crashed", "feedback": (
                    f"the kernel died {MAX_KERNEL_STARTS} times; gave up on the notebook")})
            break
        if time.monotonic() >= deadline:
            for ex in exercises:
                results.setdefault(ex.number, {"status": "timeout", "feedback": (
                    f"the notebook ran out of time (--timeout {job['timeout']:g} s) before this was checked")})
            break
        run_nb = copy.deepcopy(nb)
        client = Client(run_nb, timeout=int(cell_timeout), kernel_name="python3", allow_errors=True,
                        interrupt_on_timeout=False, startup_timeout=60, shutdown_kernel="immediate",
                        resources={"metadata": {"path": str(workdir)}})
        restart = False
        try:
            async with client.async_setup_kernel(env=dict(os.environ, **KERNEL_ENV), stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL):
                with contextlib.suppress(Exception):
                    job["kernel_pid"] = client.km.provisioner.process.pid

                async def run(cell, index, seconds, client=client, run_nb=run_nb):
                    """Execute one cell: "ok", "timeout" (interrupted, kernel fine) or "hung"; DeadKernelError."""
                    client.timeout = max(1, int(seconds))
                    try:
                        await client.async_execute_cell(cell, index)
                        return "ok"
                    except CellTimeoutError:
                        await ensure_async(client.km.interrupt_kernel())
                        # new channels: nbclient's cancelled output poller can leave a receive pending on the
                        # old ones, which then eats a later cell's messages (4 s iopub waits, lost outputs)
                        client.kc.stop_channels()
                        client.kc = client.km.client()
                        await ensure_async(client.kc.start_channels())
                        try:
                            await ensure_async(client.kc.wait_for_ready(timeout=_PROBE_TIMEOUT))
                        except RuntimeError:
                            return "hung"
                        probe = nbformat.v4.new_code_cell("pass")
                        run_nb.cells.append(probe)
                        client.timeout = _PROBE_TIMEOUT
                        try:
                            await client.async_execute_cell(probe, len(run_nb.cells) - 1)
                        except CellTimeoutError:
                            return "hung"
                        return "timeout"

                # import the grader (and torch) first, with time to spare: an import cut short by a
                # timeout leaves the modules half-imported for the rest of the kernel's life
                prelude = nbformat.v4.new_code_cell("__import__('tnnlib.grade')")
                run_nb.cells.append(prelude)
                await run(prelude, len(run_nb.cells) - 1, max(60.0, cell_timeout))
                for i in code_cells:
                    if i in skipped:
                        continue
                    left = deadline - reserve - time.monotonic()
                    if left <= 0:
                        stopped_at = i
                        break
                    try:
                        outcome = await run(run_nb.cells[i], i, min(cell_timeout, left))
                    except DeadKernelError:
                        skipped[i], restart = "crashed", True
                        break
                    if outcome == "hung":
                        skipped[i], restart = "timeout", True
                        break
                    if outcome == "timeout":
                        timed_out.add(i)
                        if left < cell_timeout:
                            stopped_at = i
                            break
                        defined = {ex.number: ex.function for ex in exercises
                                   if i in _defining_cells([run_nb.cells[k] for k in range(len_learner)], ex.function)}
                        if defined:
                            park = nbformat.v4.new_code_cell(
                                f"__import__('tnnlib.grade', fromlist=['_park'])._park(globals(), {defined!r})")
                            run_nb.cells.append(park)
                            await run(park, len(run_nb.cells) - 1, _PROBE_TIMEOUT)
                    error = _error_of(run_nb.cells[i])
                    if error and outcome == "ok":
                        errors[i] = error
                if restart:
                    continue
                for ex in exercises:
                    if ex.number in results:
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        results[ex.number] = {"status": "timeout", "feedback": (
                            f"the notebook ran out of time (--timeout {job['timeout']:g} s) before this was checked")}
                        continue
                    result_file = workdir / f".grade-{ex.number}-{starts}.json"
                    cell = nbformat.v4.new_code_cell(_grading_source(ex.number, ex.function, job.get("hidden"),
                                                                     result_file))
                    run_nb.cells.append(cell)
                    try:
                        outcome = await run(cell, len(run_nb.cells) - 1, min(cell_timeout, left))
                    except DeadKernelError:
                        results[ex.number] = {"status": "crashed", "feedback": (
                            f"checking `{ex.function}` killed the kernel (os._exit, a crash or running out of memory)")}
                        restart = True
                        break
                    if outcome != "ok":
                        results[ex.number] = {"status": "timeout", "feedback": (
                            f"checking `{ex.function}` took longer than "
                            f"{cell_timeout if left >= cell_timeout else left:.0f} s (an endless loop?)")}
                        if outcome == "hung":
                            restart = True
                            break
                        continue
                    try:
                        found = json.loads(result_file.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        found = None
                    if isinstance(found, dict) and found.get("status") in STATUSES:
                        result = {"status": found["status"], "feedback": str(found.get("feedback", ""))}
                        if result["status"] == "missing":
                            result["status"], result["feedback"] = cell_problem(ex.function)
                        results[ex.number] = result
                    else:
                        results[ex.number] = {"status": "error", "feedback": (
                            f"the grader could not check `{ex.function}`: {_error_of(cell) or 'no result'}")}
        except DeadKernelError:
            restart = True
        except Exception as error:  # the kernel did not start, or nbclient failed
            if not restart:
                for ex in exercises:
                    results.setdefault(ex.number, {"status": "error", "feedback": (
                        f"the notebook could not be run: {type(error).__name__}: {error}")})
        finally:
            atexit.unregister(client._cleanup_kernel)
        if not restart:
            break
    for i in sorted(skipped):
        notes.append(f"cell {i + 1} {'killed the kernel' if skipped[i] == 'crashed' else 'hung'}; "
                     "the notebook was run again without it")
    for i in sorted(timed_out - set(skipped)):
        notes.append(f"cell {i + 1} ran longer than {cell_timeout:g} s and was interrupted")
    if stopped_at is not None:
        notes.append(f"the notebook ran out of time at cell {stopped_at + 1}; the cells from there on did not run")
    return {"status": "graded", "reason": "", "notes": notes, "exercises": results}


# ----------------------------------------------------------------------------------------------
# The CLI: find submissions, dispatch them to workers, collect, write, print
# ----------------------------------------------------------------------------------------------

def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def find_submissions(paths) -> list[tuple[str, Path]]:
    """``(name, path)`` of every notebook under ``paths``, sorted by name; names are unique."""
    found: dict[str, Path] = {}
    for given in paths:
        given = Path(given)
        if given.is_dir():
            for path in sorted(given.rglob("*.ipynb")):
                rel = path.relative_to(given)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                name = rel.as_posix() if len(paths) == 1 else f"{given.name}/{rel.as_posix()}"
                found[name] = path
        else:
            found[given.name if given.name not in found else given.as_posix()] = given
    return sorted(found.items())


def _result_rows(spec: LessonSpec, exercises: dict, status: str = "", reason: str = "") -> list[dict]:
    rows = []
    for ex in spec.exercises:
        got = exercises.get(ex.number) or {"status": status if status in STATUSES else "error",
                                           "feedback": reason or "not graded"}
        passed = got["status"] == "passed"
        feedback = _ADDRESS.sub(" at 0x...", str(got.get("feedback", "")))  # the same text in every run
        rows.append({"exercise": ex.number, "function": ex.function, "title": ex.title, "status": got["status"],
                     "points": ex.points if passed else 0.0, "max_points": ex.points, "feedback": feedback})
    return rows


async def _grade_one(name: str, path: Path, specs: dict, args, tmp_root: Path, slots) -> tuple[dict, float]:
    """Grade one submission; returns its record and the seconds it took."""
    t0 = time.monotonic()
    record = {"submission": name, "lesson": None, "status": "graded", "reason": "", "notes": [],
              "score": 0.0, "max_score": 0.0, "exercises": []}
    expected = specs.get(args.lesson) if args.lesson else None
    try:
        data = path.read_bytes()
        notebook = json.loads(data.decode("utf-8"))
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise ValueError("not a Jupyter notebook: no list of cells")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = (f"not valid notebook JSON ({error})" if isinstance(error, json.JSONDecodeError)
                  else f"cannot be read as a notebook ({error})")
        record.update(status="invalid", reason=reason)
        prefix = re.match(r"(\d\d)_", path.name)
        guess = expected or (specs.get(prefix.group(1)) if prefix else None)
        if guess:
            record.update(lesson=guess.lesson, exercises=_result_rows(guess, {}, "invalid", reason))
        return _finish(record), time.monotonic() - t0
    lesson, how = identify_lesson(notebook, specs, path.name)
    if expected and lesson != expected.lesson:
        reason = (f"this notebook is lesson {lesson} (from {how}), not lesson {expected.lesson}" if lesson
                  else f"cannot tell which lesson this notebook is ({how}); expected lesson {expected.lesson}")
        record.update(lesson=expected.lesson, status="wrong lesson", reason=reason,
                      exercises=_result_rows(expected, {}, "wrong lesson", reason))
        return _finish(record), time.monotonic() - t0
    if lesson is None:
        record.update(status="error", reason=f"cannot tell which lesson this notebook is ({how}); "
                                             "give it with --lesson NN")
        return _finish(record), time.monotonic() - t0
    spec = specs[lesson]
    record["lesson"] = lesson
    async with slots:
        t0 = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix="sub-", dir=tmp_root))
        copy_path = work / "submission.ipynb"
        copy_path.write_bytes(data)
        job = {"notebook": str(copy_path), "workdir": str(work), "exercises": [asdict(ex) for ex in spec.exercises],
               "cell_timeout": args.cell_timeout, "timeout": args.timeout,
               "hidden": str(Path(args.hidden).resolve()) if args.hidden else None}
        hard_limit = args.timeout + (len(spec.exercises) + MAX_KERNEL_STARTS) * (_PROBE_TIMEOUT + 30) + 60
        try:
            result = await asyncio.wait_for(_grade_notebook(job), hard_limit)
        except Exception as error:
            message = (f"the grader gave up after {hard_limit:.0f} s" if isinstance(error, asyncio.TimeoutError)
                       else f"the grader failed: {type(error).__name__}: {error}")
            result = {"status": "error", "reason": message}
        finally:
            _kill_kernel(job.get("kernel_pid"))
            shutil.rmtree(work, ignore_errors=True)
    record.update(status=result.get("status", "error"), reason=result.get("reason", ""),
                  notes=result.get("notes", []),
                  exercises=_result_rows(spec, result.get("exercises", {}), result.get("status", "error"),
                                         result.get("reason", "")))
    return _finish(record), time.monotonic() - t0


def _finish(record: dict) -> dict:
    record["score"] = float(sum(e["points"] for e in record["exercises"]))
    record["max_score"] = float(sum(e["max_points"] for e in record["exercises"]))
    return record


def _kill_kernel(pid) -> None:
    """Kill a kernel's process group if it is still there (a last resort: nbclient shuts kernels down)."""
    if pid and hasattr(os, "killpg"):
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)


def _quiet_exceptions(loop, context) -> None:
    """Drop the 'Task exception was never retrieved' of nbclient's output pollers cut short by a timeout."""
    if isinstance(context.get("exception"), queue.Empty):
        return
    loop.default_exception_handler(context)


async def _grade_all(submissions, specs, args, jobs: int) -> list:
    asyncio.get_running_loop().set_exception_handler(_quiet_exceptions)
    slots = asyncio.Semaphore(max(1, jobs))
    with tempfile.TemporaryDirectory(prefix="tnnlib-grade-") as tmp:
        return await asyncio.gather(*[_grade_one(name, path, specs, args, Path(tmp), slots)
                                      for name, path in submissions])


def grade_paths(paths, out: Path | None = None, jobs: int | None = None, cell_timeout: float = 60,
                timeout: float = 600, hidden_file=None, lesson: str | None = None, solutions=None,
                quiet: bool = False) -> dict:
    """Grade the notebooks under ``paths``; write the score files to ``out``; return the scores' JSON."""
    args = argparse.Namespace(cell_timeout=float(cell_timeout), timeout=float(timeout), hidden=hidden_file,
                              lesson=f"{int(lesson):02d}" if lesson is not None else None)
    specs = lesson_specs(solutions)
    if args.lesson and args.lesson not in specs:
        raise ValueError(f"no lesson {args.lesson}; lessons: {', '.join(specs)}")
    if hidden_file:
        load_hidden(hidden_file)  # fail now, not in every kernel
    submissions = find_submissions([Path(p) for p in paths])
    jobs = jobs or min(2, os.cpu_count() or 1)
    t0 = time.time()
    done = asyncio.run(_grade_all(submissions, specs, args, jobs))
    records = [record for record, _ in done]
    used = sorted({r["lesson"] for r in records if r["lesson"]})
    scores = {
        "lessons": {ls: {"notebook": specs[ls].notebook, "max_score": specs[ls].max_score,
                         "exercises": [asdict(ex) for ex in specs[ls].exercises]} for ls in used},
        "settings": {"cell_timeout": args.cell_timeout, "timeout": args.timeout, "lesson": args.lesson,
                     "hidden": Path(hidden_file).name if hidden_file else None},
        "submissions": records,
    }
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t0)), "seconds": round(time.time() - t0, 2),
           "jobs": jobs, "cpus": os.cpu_count(), "submissions": len(records),
           "seconds_per_submission": {r["submission"]: round(s, 2) for r, s in done}}
    if out is not None:
        _write_outputs(Path(out), scores, run)
    if not quiet:
        print(format_summary(scores))
    return scores


def _write_outputs(out: Path, scores: dict, run: dict) -> None:
    rows, totals = io.StringIO(), io.StringIO()
    w = csv.writer(rows, lineterminator="\n")
    w.writerow(["submission", "lesson", "exercise", "function", "status", "points", "max_points", "feedback"])
    t = csv.writer(totals, lineterminator="\n")
    t.writerow(["submission", "lesson", "status", "score", "max_score", "reason"])
    for r in scores["submissions"]:
        t.writerow([r["submission"], r["lesson"] or "", r["status"], f"{r['score']:g}", f"{r['max_score']:g}",
                    r["reason"]])
        for e in r["exercises"]:
            w.writerow([r["submission"], r["lesson"], e["exercise"], e["function"], e["status"], f"{e['points']:g}",
                        f"{e['max_points']:g}", e["feedback"]])
    _write_atomic(out / "scores.csv", rows.getvalue())
    _write_atomic(out / "totals.csv", totals.getvalue())
    _write_atomic(out / "scores.json", json.dumps(scores, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    _write_atomic(out / "run.json", json.dumps(run, indent=1, sort_keys=True) + "\n")


_SHORT = {"passed": "ok", "failed": "FAIL", "not done": "todo", "missing": "MISS", "timeout": "TIME",
          "crashed": "DEAD", "error": "ERR", "wrong lesson": "WRONG", "invalid": "BAD"}


def format_summary(scores: dict) -> str:
    """The readable table: a row per submission, a column per exercise, then the feedback of each failure."""
    lines = []
    records = scores["submissions"]
    width = max([len(r["submission"]) for r in records] + [10])
    for lesson in [*scores["lessons"], None]:
        group = [r for r in records if r["lesson"] == lesson]
        if not group:
            continue
        if lesson is None:
            lines.append("\nNot graded (lesson unknown):")
            lines += [f"  {r['submission']:<{width}}  {r['reason']}" for r in group]
            continue
        info = scores["lessons"][lesson]
        numbers = [ex["number"] for ex in info["exercises"]]
        lines.append(f"\nLesson {lesson} ({info['notebook']}): {len(group)} submission(s), "
                     f"{len(numbers)} exercises, {info['max_score']:g} points")
        lines.append(f"  {'submission':<{width}}  " + "  ".join(f"{n:>5}" for n in numbers) + "   score")
        for r in group:
            marks = {e["exercise"]: _SHORT.get(e["status"], e["status"]) for e in r["exercises"]}
            lines.append(f"  {r['submission']:<{width}}  " + "  ".join(f"{marks.get(n, ''):>5}" for n in numbers)
                         + f"   {r['score']:g}/{r['max_score']:g}" + (f"  ({r['status']})" if r["status"] != "graded"
                                                                      else ""))
    feedback = []
    for r in records:
        if r["reason"]:
            feedback.append(f"{r['submission']}: {r['reason']}")
        for note in r.get("notes", []):
            feedback.append(f"{r['submission']}: note: {note}")
        for e in r["exercises"]:
            if e["status"] != "passed" and not (r["reason"] and e["feedback"] == r["reason"]):
                text = e["feedback"].strip().splitlines()
                shown = "\n      ".join(text[:6]) + ("\n      ..." if len(text) > 6 else "")
                feedback.append(f"{r['submission']} {e['exercise']} ({e['status']}): {shown}")
    if feedback:
        lines.append("\nFeedback:")
        lines += [f"  {f}" for f in feedback]
    lines.append(f"\nTotal: {len(records)} submission(s). Legend: " + ", ".join(
        f"{v} {k}" for k, v in _SHORT.items()))
    return "\n".join(lines).lstrip("\n")


# ----------------------------------------------------------------------------------------------
# Made-up submissions (the benchmark and the tests), and points metadata for solutions/
# ----------------------------------------------------------------------------------------------

#: kinds of made-up submissions: how the first (or a given) exercise is broken
BROKEN_KINDS = ("wrong", "raises", "loop", "exit", "renamed", "removed", "no-check-call", "invalid-json",
                "other-lesson")


def replace_solution(notebook: dict, function: str, body: list[str]) -> dict:
    """A copy of ``notebook`` whose solution region (or stub) in ``function`` is replaced by ``body`` lines."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook["cells"]:
        source = _cell_source(cell)
        if cell["cell_type"] != "code" or not re.search(rf"^def {re.escape(function)}\(", source, re.MULTILINE):
            continue
        lines, out, inside, done = source.splitlines(keepends=True), [], False, False
        for k, line in enumerate(lines):
            stripped = line.strip()
            if MARKER.match(stripped):
                inside = MARKER.match(stripped).group(1).lower() == "begin"
                if inside:
                    indent = line[: len(line) - len(line.lstrip())]
                    out += [f"{indent}{b}\n" for b in body]
                    done = True
                continue
            if not done and re.match(r"\s*(# YOUR CODE HERE|raise NotImplementedError)", line) and k > 0:
                indent = line[: len(line) - len(line.lstrip())]
                if stripped.startswith("raise"):
                    out += [f"{indent}{b}\n" for b in body]
                    done = True
                continue
            if not inside:
                out.append(line)
        cell["source"] = "".join(out)
        return notebook
    raise ValueError(f"no cell defines {function}()")


def make_submission(kind: str, lesson: str, solutions: Path | None = None, lessons: Path | None = None,
                    exercise: str | None = None) -> str:
    """The text of a made-up submission of ``lesson``: "correct", "stub" or one of :data:`BROKEN_KINDS`."""
    specs = lesson_specs(solutions)
    spec = specs[lesson]
    solutions = Path(solutions) if solutions else REPO / "solutions"
    lessons = Path(lessons) if lessons else REPO / "lessons"
    solution = json.loads((solutions / spec.notebook).read_text(encoding="utf-8"))
    ex = next(e for e in spec.exercises if exercise in (None, e.number))
    if kind == "correct":
        nb = solution
    elif kind == "stub":
        nb = json.loads((lessons / spec.notebook).read_text(encoding="utf-8"))
    elif kind == "wrong":
        nb = replace_solution(solution, ex.function, ["return 0"])
    elif kind == "raises":
        nb = replace_solution(solution, ex.function, ["raise ValueError('something went wrong')"])
    elif kind == "loop":
        nb = replace_solution(solution, ex.function, ["while True:", "    pass"])
    elif kind == "exit":
        nb = replace_solution(solution, ex.function, ["import os", "os._exit(3)"])
    elif kind in ("renamed", "removed", "no-check-call"):
        nb = copy.deepcopy(solution)
        for cell in nb["cells"]:
            source = _cell_source(cell)
            if cell["cell_type"] == "code" and re.search(rf"^def {re.escape(ex.function)}\(", source, re.MULTILINE):
                if kind == "renamed":
                    source = re.sub(rf"(?<!\.)\b{re.escape(ex.function)}\b(?!\s*=\s*check)", f"my_{ex.function}",
                                    source)
                    source = re.sub(rf"^{re.escape(ex.function)} = check\.\w+\(my_{re.escape(ex.function)}\)",
                                    f"my_{ex.function} = check.{ex.function}(my_{ex.function})", source,
                                    flags=re.MULTILINE)
                elif kind == "removed":
                    source = ""
                else:
                    source = re.sub(rf"^{re.escape(ex.function)} = check\.\w+\(.*$", "", source, flags=re.MULTILINE)
                cell["source"] = source
    elif kind == "invalid-json":
        return json.dumps(solution, indent=1)[:500]
    elif kind == "other-lesson":
        other = next(s for s in sorted(specs) if s != lesson)
        nb = json.loads((solutions / specs[other].notebook).read_text(encoding="utf-8"))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def bench(n: int, lesson: str, jobs: int | None, cell_timeout: float, timeout: float) -> float:
    """Grade ``n`` made-up submissions of ``lesson`` (40% correct, 30% stubs, 30% broken); print the time."""
    lesson = f"{int(lesson):02d}"
    kinds = []
    for k in range(n):
        share = k % 10
        kinds.append("correct" if share < 4 else "stub" if share < 7 else BROKEN_KINDS[(k // 10 * 3 + share - 7)
                                                                                     % len(BROKEN_KINDS)])
    with tempfile.TemporaryDirectory(prefix="tnnlib-grade-bench-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        for k, kind in enumerate(kinds):
            (folder / f"student{k:02d}_{kind}.ipynb").write_text(make_submission(kind, lesson), encoding="utf-8")
        t0 = time.monotonic()
        scores = grade_paths([folder], out=Path(tmp) / "grades", jobs=jobs, cell_timeout=cell_timeout,
                             timeout=timeout, lesson=lesson, quiet=True)
        seconds = time.monotonic() - t0
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    jobs = jobs or min(2, os.cpu_count() or 1)
    print(f"graded {n} submissions of lesson {lesson} ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})"
          f" in {seconds:.1f} s with --jobs {jobs} on {os.cpu_count()} CPUs (--cell-timeout {cell_timeout:g}, "
          f"{seconds / n:.2f} s per submission)")
    print("scores:", ", ".join(f"{r['submission'].split('_', 1)[1][:-6]} {r['score']:g}/{r['max_score']:g}"
                               for r in scores["submissions"]))
    return seconds


def write_points(solutions: Path | None = None, points: dict[str, float] | None = None) -> list[str]:
    """Write nbgrader metadata with points into every exercise's solution cell of ``solutions/``.

    The cell becomes an nbgrader "autograded answer" (``solution: true``) with
    ``grade_id`` ``exercise_N_M`` and ``points``: ``points[number]`` if given,
    else the cell's current points, else 1. Other cells and the file's format
    are left as they are. Returns the notebooks changed.
    """
    folder = Path(solutions) if solutions else REPO / "solutions"
    points = points or {}
    changed = []
    for path in sorted(folder.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        notebook = json.loads(text)
        for number, _, _, index, current in solution_exercises(notebook):
            meta = notebook["cells"][index].setdefault("metadata", {})
            meta["nbgrader"] = {"grade": False, "grade_id": f"exercise_{number.replace('.', '_')}",
                                "locked": False, "points": points.get(number, current if current is not None else 1),
                                "schema_version": 3, "solution": True, "task": False}
        new = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        if new != text:
            _write_atomic(path, new)
            changed.append(path.name)
    return changed


#: the last cells of a lesson: which exercises pass (``python -m tnnlib.grade --add-summary-cell``)
SUMMARY_CELLS = (
    ("markdown", "summary-heading", "## Your progress\n\nWhich exercises of this lesson pass (the checkers run again "
                                    "only on functions changed since their cell ran):"),
    ("code", "summary-cell", "from tnnlib.grade import summary\n\nsummary()"),
)


def add_summary_cells(solutions: Path | None = None) -> list[str]:
    """Append :data:`SUMMARY_CELLS` to every solution notebook that lacks them; return those changed."""
    folder = Path(solutions) if solutions else REPO / "solutions"
    changed = []
    for path in sorted(folder.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        notebook = json.loads(text)
        if any("from tnnlib.grade import summary" in _cell_source(c) for c in notebook["cells"]):
            continue
        for kind, cell_id, source in SUMMARY_CELLS:
            cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source.splitlines(keepends=True)}
            if kind == "code":
                cell.update(execution_count=None, outputs=[])
            notebook["cells"].append(cell)
        _write_atomic(path, json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        changed.append(path.name)
    return changed


def file_digest(path) -> str:
    """SHA-256 of a file (the tests check that grading never changes a submission)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tnnlib.grade", description=(
        "Grade notebooks with the lessons' checkers: a score per exercise per submission."))
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks, or folders searched for *.ipynb")
    parser.add_argument("--lesson", help="the lesson the submissions should be (e.g. 02); others score 0. "
                                         "Default: each notebook's own lesson")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="folder of the score files (default grades/)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default min(2, cores))")
    parser.add_argument("--cell-timeout", type=float, default=None, help="seconds for one cell or one exercise's "
                                                                         "check (default 60; 30 with --bench)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for one submission, all included "
                                                                   "(default 600)")
    parser.add_argument("--hidden", type=Path, help="instructor's hidden checks, JSON or Python (see the docs)")
    parser.add_argument("--solutions", type=Path, help="solution notebooks (points, function names); "
                                                       "default solutions/ of the checkout")
    parser.add_argument("--quiet", action="store_true", help="no summary table")
    parser.add_argument("--bench", type=int, metavar="N", help="time grading N made-up submissions of the lesson "
                                                               "given as PATH (e.g. --bench 30 02)")
    parser.add_argument("--write-points", action="store_true", help="write nbgrader points metadata into the "
                                                                    "solution notebooks (1 point where absent)")
    parser.add_argument("--add-summary-cell", action="store_true", help="append the summary() cell to every "
                                                                        "solution notebook that lacks it")
    parser.add_argument("--points", default="", help="with --write-points: N.M=P,... (e.g. 2.1=2,2.3=3)")
    parser.add_argument("--nbgrader-source", type=Path, metavar="OUT",
                        help="write an nbgrader course folder (same as python -m tnnlib.nbgrader_source OUT)")
    args = parser.parse_args(argv)
    if args.nbgrader_source:
        from . import nbgrader_source  # noqa: PLC0415 - a separate command

        return nbgrader_source.main([str(args.nbgrader_source)] + (
            ["--solutions", str(args.solutions)] if args.solutions else []) + (
            ["--hidden", str(args.hidden)] if args.hidden else []))
    if args.add_summary_cell:
        changed = add_summary_cells(args.solutions)
        print("\n".join(f"added the summary cell to {name}" for name in changed) or "every notebook has it")
        return 0
    if args.write_points:
        points = {k.strip(): float(v) for k, v in (p.split("=") for p in args.points.split(",") if p.strip())}
        changed = write_points(args.solutions, points)
        print("\n".join(f"wrote points into {name}" for name in changed) or "points were already in place")
        return 0
    if args.bench:
        if len(args.paths) != 1:
            parser.error("--bench N takes one lesson, e.g. --bench 30 02")
        bench(args.bench, str(args.paths[0]), args.jobs, args.cell_timeout or 30, args.timeout)
        return 0
    if not args.paths:
        parser.error("give notebooks or folders to grade")
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        parser.error(f"no such file or folder: {', '.join(missing)}")
    try:
        grade_paths(args.paths, out=args.out, jobs=args.jobs, cell_timeout=args.cell_timeout or 60,
                    timeout=args.timeout, hidden_file=args.hidden, lesson=args.lesson, solutions=args.solutions,
                    quiet=args.quiet)
    except (ValueError, OSError, SyntaxError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\nScores written to {args.out}/ (scores.csv, totals.csv, scores.json; timings in run.json).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
