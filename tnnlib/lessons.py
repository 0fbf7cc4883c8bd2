"""Generate the student notebooks in ``lessons/`` from ``solutions/``.

    python -m tnnlib.lessons            # regenerate lessons/ from solutions/
    python -m tnnlib.lessons --check    # fail if lessons/ differs from a fresh generation

The solution notebooks are the single source of the course. In them, exercise
code sits between nbgrader's markers, inside a function body::

    def unfold(tensor, mode):
        ### BEGIN SOLUTION
        return np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)
        ### END SOLUTION

Generation replaces every such region by a stub that raises
``NotImplementedError`` naming the exercise (the number comes from the nearest
``Exercise N.M`` heading above it), strips outputs and execution counts, and
keeps cell tags and slide types. Figures that a markdown cell links as
``../figures/NAME.png`` are embedded in the lesson as cell attachments, so a
lesson opened outside the repository (a class server, a hosted notebook
service) still shows them; the solutions keep the links.

A marker is a comment alone on its line: one or more ``#``, then ``BEGIN
SOLUTION`` or ``END SOLUTION`` in any case and spacing (``### Begin
Solution``, ``#BEGIN  SOLUTION`` ...). Any other line of a code cell that
mentions "begin solution" or "end solution" (``x = 1  # BEGIN SOLUTION``,
``// END SOLUTION``) is refused rather than guessed at, so a solution never
leaks into ``lessons/``. These are errors naming the notebook and cell, and
then nothing in ``lessons/`` is written:

* a file that is not a Jupyter notebook;
* a marker outside a code cell, a BEGIN without its END, nested regions;
* a region that is not inside a function body: at the top level of a cell,
  or in a top-level ``for``, ``if``, ``with``, ``class`` ... (its stub would
  stop the notebook when the cell runs);
* a cell that is not valid Python before or after the regions are replaced.

The lessons are written all or none: every changed notebook goes to a
temporary file first, and only when all are written are they renamed into
place.
"""
from __future__ import annotations

import argparse
import ast
import base64
import difflib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

#: The canonical markers (what the solution notebooks use).
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
#: A marker line, stripped: comment signs, then BEGIN/END SOLUTION in any case and spacing.
MARKER = re.compile(r"^#+\s*(BEGIN|END)\s*SOLUTION\s*$", re.IGNORECASE)
#: Anything in a code cell that looks like a marker; a line matching this but not `MARKER` is refused.
NEAR_MISS = re.compile(r"\b(BEGIN|END)[\W_]*SOLUTION", re.IGNORECASE)
#: A marker in a markdown or raw cell (refused): a line that starts like one, in any case, or
#: nbgrader's own delimiters anywhere in a line (nbgrader acts on those wherever they are).
TEXT_MARKER = re.compile(r"(?i:^\W*(?:BEGIN|END)[\W_]*SOLUTION\b)|BEGIN\s+SOLUTION|END\s+SOLUTION", re.MULTILINE)
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)", re.MULTILINE)
#: A figure linked from a markdown cell: ``![alt](../figures/NAME.png)``.
FIGURE_LINK = re.compile(r"\]\(\.\./figures/([\w.-]+\.png)\)")
#: Cell metadata kept in the lessons: tags (nbval, hygiene) and slide types (lecture decks).
KEPT_METADATA = ("tags", "slideshow")
REPO = Path(__file__).resolve().parent.parent
_CELL_TYPES = ("code", "markdown", "raw")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class LessonError(ValueError):
    """A solution notebook is malformed; the message names notebook and cell."""


def stub_lines(indent: str, number: str) -> list[str]:
    """The lines that replace a solution region."""
    return [f"{indent}# YOUR CODE HERE (exercise {number})\n",
            f'{indent}raise NotImplementedError("Exercise {number}: replace this line with your code")\n']


def _source(cell, where: str) -> str:
    src = cell.get("source", "")
    if isinstance(src, list) and all(isinstance(line, str) for line in src):
        return "".join(src)
    if isinstance(src, str):
        return src
    raise LessonError(f"{where}: the cell's source is not text (got {type(src).__name__})")


def _marker(line: str, where: str, number: int) -> str | None:
    """``"begin"``, ``"end"`` or None for one line of a code cell; refuse near-misses."""
    match = MARKER.match(line.strip())
    if match:
        return match.group(1).lower()
    if NEAR_MISS.search(line):
        raise LessonError(f"{where}, line {number}: {line.strip()!r} looks like a solution marker but is not "
                          f"one; write '{BEGIN}' or '{END}' alone on its line")
    return None


def _parse(source: str):
    """The AST of a code cell, with IPython magics and shell lines read as ``pass``."""
    lines = source.splitlines()
    for k, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines[k] = line[: len(line) - len(stripped)] + "pass"
    return ast.parse("\n".join(lines))


def _function_body_lines(tree) -> set[int]:
    """Line numbers (1-based) that lie in the body of some function (after its ``def`` line)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, _FUNCTIONS):
            lines.update(range(node.lineno + 1, node.end_lineno + 1))
    return lines


_NOT_IN_FUNCTION = ("a solution region must be inside a function body, not at the top level of a cell or in a "
                    "top-level block (for, if, with, class ...): its stub would stop the notebook when the cell runs")


def _check_regions_in_functions(source: str, regions: list, where: str) -> None:
    """Refuse a region whose BEGIN line or code is not inside a function body."""
    try:
        tree = _parse(source)
    except SyntaxError as err:
        raise LessonError(f"{where}: the cell is not valid Python ({err.msg}, line {err.lineno}), so it cannot "
                          "be checked that its solution regions are inside function bodies") from None
    inside = _function_body_lines(tree)
    lines = source.splitlines()
    for begin, end in regions:
        code = [k for k in range(begin + 1, end) if lines[k - 1].strip() and not lines[k - 1].lstrip().startswith("#")]
        outside = [k for k in [begin, *code] if k not in inside]
        if outside:
            raise LessonError(f"{where}, line {outside[0]}: {_NOT_IN_FUNCTION}")


def _check_stubs_in_functions(stripped: str, stubs: dict, where: str) -> None:
    """Refuse a lesson cell that is not valid Python or whose stub would run when the cell runs.

    ``stubs`` maps the line (1-based) of each stub's ``raise`` in `stripped`
    to the line of its BEGIN marker in the solution.
    """
    try:
        tree = _parse(stripped)
    except SyntaxError as err:
        raise LessonError(f"{where}: with its solution replaced by the stub the cell is not valid Python "
                          f"({err.msg}, line {err.lineno}); indent the markers like the code they enclose") from None
    inside = _function_body_lines(tree)
    for raise_line, begin in stubs.items():
        if raise_line not in inside:
            raise LessonError(f"{where}, line {begin}: {_NOT_IN_FUNCTION} (indent the markers like the code "
                              "they enclose)")


def strip_solutions(source: str, number: str | None, where: str) -> str:
    """Replace each BEGIN/END SOLUTION region of one code cell's source by a stub."""
    out, regions, stubs, begin = [], [], {}, None
    for k, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = _marker(line, where, k)
        if marker == "begin":
            if begin is not None:
                raise LessonError(f"{where}, line {k}: '{BEGIN}' again before '{END}'")
            if number is None:
                raise LessonError(f"{where}: no 'Exercise N.M' heading in a markdown cell above this solution")
            begin = k
            out += stub_lines(line[: len(line) - len(line.lstrip())], number)
            stubs[len(out)] = k  # the stub's last line, its raise
        elif marker == "end":
            if begin is None:
                raise LessonError(f"{where}, line {k}: '{END}' without '{BEGIN}'")
            regions.append((begin, k))
            begin = None
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise LessonError(f"{where}, line {begin}: '{BEGIN}' without '{END}'")
    if not regions:
        return source
    _check_regions_in_functions(source, regions, where)
    stripped = "".join(out)
    _check_stubs_in_functions(stripped, stubs, where)
    return stripped


def _check_notebook(solution, name: str) -> list:
    """The cells of a parsed notebook file; LessonError if it is not a notebook."""
    if not isinstance(solution, dict) or not isinstance(solution.get("cells"), list):
        raise LessonError(f"{name}: not a Jupyter notebook (expected a JSON object with a list of 'cells')")
    if solution.get("nbformat", 4) != 4:
        raise LessonError(f"{name}: nbformat {solution.get('nbformat')!r} is not supported (need 4)")
    for index, cell in enumerate(solution["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in _CELL_TYPES:
            raise LessonError(f"{name}, cell {index}: not a notebook cell (expected an object whose cell_type "
                              f"is one of {', '.join(_CELL_TYPES)})")
        if not isinstance(cell.get("metadata", {}), dict):
            raise LessonError(f"{name}, cell {index}: the cell's metadata is not an object")
    return solution["cells"]


def embed_figures(source: str, figures: Path, where: str) -> tuple[str, dict]:
    """Replace ``../figures/NAME.png`` links by ``attachment:NAME.png``; return the new source and
    the attachments (``{NAME: {"image/png": base64}}``). A missing figure is a LessonError."""
    attachments = {}
    for name in FIGURE_LINK.findall(source):
        path = Path(figures) / name
        if not path.is_file():
            raise LessonError(f"{where}: links figures/{name}, which does not exist "
                              "(draw it with `python -m tnnlib.figures`)")
        attachments[name] = {"image/png": base64.b64encode(path.read_bytes()).decode("ascii")}
    return FIGURE_LINK.sub(lambda m: f"](attachment:{m.group(1)})", source), attachments


def generate_notebook(solution: dict, name: str, figures: Path | None = None) -> dict:
    """The student version of one solution notebook (a new dict); with ``figures`` (the folder of
    the course's figures), linked figures are embedded as attachments (:func:`embed_figures`)."""
    cells, number = [], None
    for index, cell in enumerate(_check_notebook(solution, name)):
        where = f"{name}, cell {index}"
        source = _source(cell, where)
        kind = cell["cell_type"]
        if kind == "markdown":
            headings = EXERCISE_HEADING.findall(source)
            number = headings[-1] if headings else number
        if kind != "code":
            if TEXT_MARKER.search(source):
                raise LessonError(f"{where}: solution markers in a {kind} cell; they belong in code cells")
            new = {k: v for k, v in cell.items() if k != "outputs"}
            if kind == "markdown" and figures is not None:
                new["source"], attachments = embed_figures(source, figures, where)
                if attachments:
                    new["attachments"] = attachments
        else:
            new = dict(cell, source=strip_solutions(source, number, where), outputs=[], execution_count=None)
        metadata = cell.get("metadata", {})
        new["metadata"] = {key: metadata[key] for key in KEPT_METADATA if metadata.get(key)}
        new["source"] = new["source"] if isinstance(new["source"], str) else "".join(new["source"])
        cells.append(new)
    meta = solution.get("metadata", {})
    meta = meta if isinstance(meta, dict) else {}
    return {"cells": cells,
            "metadata": {k: meta[k] for k in ("kernelspec", "language_info") if k in meta},
            "nbformat": solution.get("nbformat", 4),
            "nbformat_minor": solution.get("nbformat_minor", 5)}


def dumps(notebook: dict) -> str:
    """Serialise like Jupyter does (indent 1, sorted keys), with lines split per cell."""
    notebook = json.loads(json.dumps(notebook))
    for cell in notebook["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def generate_all(solutions: Path) -> dict[str, str]:
    """Every lesson notebook's text, by file name; raises LessonError before anything is written."""
    texts = {}
    for path in sorted(Path(solutions).glob("*.ipynb")):
        try:
            solution = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise LessonError(f"{path.name}: not valid notebook JSON ({err})") from None
        except (OSError, UnicodeDecodeError) as err:
            raise LessonError(f"{path.name}: cannot be read as a notebook ({err})") from None
        lesson = generate_notebook(solution, path.name, figures=Path(solutions).parent / "figures")
        leaked = [line for cell in lesson["cells"] for line in cell["source"].splitlines() if TEXT_MARKER.search(line)]
        if leaked:  # cannot happen by construction; never write a solution marker into lessons/
            raise LessonError(f"{path.name}: the generated lesson still holds a solution marker: {leaked[0].strip()}")
        texts[path.name] = dumps(lesson)
    return texts


def _write_temp(folder: Path, name: str, text: str) -> Path:
    """Write `text` to a new hidden temporary file in `folder`; return its path."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_lessons(texts: dict[str, str], lessons: Path) -> list[str]:
    """Write the generated notebooks and remove lessons with no solution; return changes.

    All or none: the changed notebooks are written to temporary files first;
    if any write fails the temporary files are removed and ``lessons/`` is
    left as it was. Only then are they renamed over the old lessons.
    """
    lessons = Path(lessons)
    lessons.mkdir(exist_ok=True)
    changed = [name for name, text in texts.items()
               if not (lessons / name).exists() or (lessons / name).read_text(encoding="utf-8") != text]
    written = []
    try:
        for name in changed:
            written.append((_write_temp(lessons, name, texts[name]), lessons / name))
    except BaseException as err:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(f"cannot write {lessons / name}: {err}. Nothing in {lessons} was changed.") from err
        raise
    for tmp, target in written:
        os.replace(tmp, target)
    report = [f"wrote {lessons.name}/{name}" for name in changed]
    for stale in sorted({p.name for p in lessons.glob("*.ipynb")} - set(texts)):
        (lessons / stale).unlink()
        report.append(f"removed {lessons.name}/{stale} (no solution notebook)")
    return report


def check_lessons(texts: dict[str, str], lessons: Path) -> list[str]:
    """Differences between the committed lessons and a fresh generation."""
    problems = []
    for name, text in texts.items():
        target = lessons / name
        if not target.exists():
            problems.append(f"lessons/{name} is missing")
        elif target.read_text(encoding="utf-8") != text:
            diff = difflib.unified_diff(target.read_text(encoding="utf-8").splitlines(), text.splitlines(),
                                        f"lessons/{name} (committed)", f"lessons/{name} (generated)",
                                        lineterm="", n=1)
            problems.append(f"lessons/{name} differs from a fresh generation:\n" + "\n".join(list(diff)[:20]))
    for stale in sorted({p.name for p in lessons.glob("*.ipynb")} - set(texts)):
        problems.append(f"lessons/{stale} has no solutions/{stale}")
    return problems


def _missing_solutions(solutions: Path, default: bool) -> str | None:
    """Why `solutions` cannot be the source of the lessons, or None if it can."""
    if solutions.is_dir() and any(solutions.glob("*.ipynb")):
        return None
    found = "does not exist" if not solutions.exists() else "holds no notebook (*.ipynb)"
    if default:
        return (f"{solutions} {found}. tnnlib is imported from {REPO / 'tnnlib'}, which is not inside a "
                "checkout of the course (an installed copy of tnnlib has no solutions/ or lessons/). "
                "Run `python -m tnnlib.lessons` in a git checkout of the course, where tnnlib is installed "
                "with `pip install -e .`, or give the folders with --solutions DIR --lessons DIR.")
    return f"{solutions} {found}: give the folder of the solution notebooks with --solutions DIR."


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tnnlib.lessons", description="Generate lessons/ from solutions/.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    parser.add_argument("--solutions", type=Path, default=None, help="default: solutions/ of the checkout")
    parser.add_argument("--lessons", type=Path, default=None, help="default: lessons/ of the checkout")
    args = parser.parse_args(argv)
    solutions = args.solutions or REPO / "solutions"
    lessons = args.lessons or REPO / "lessons"
    problem = _missing_solutions(solutions, default=args.solutions is None)
    if problem:
        print(f"error: {problem}\nNothing was {'checked' if args.check else 'written'}.", file=sys.stderr)
        return 2
    try:
        texts = generate_all(solutions)
    except LessonError as err:
        print(f"error: {err}\nNothing was written.", file=sys.stderr)
        return 2
    if args.check:
        problems = check_lessons(texts, lessons)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("Run `python -m tnnlib.lessons` to regenerate lessons/ from solutions/.", file=sys.stderr)
            return 1
        print(f"lessons/ is up to date with solutions/ ({len(texts)} notebooks).")
        return 0
    try:
        report = write_lessons(texts, lessons)
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in report or ["lessons/ was already up to date."]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
