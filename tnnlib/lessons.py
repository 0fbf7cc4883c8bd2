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
keeps cell tags. A region outside a code cell, a BEGIN without its END, or a
region at the top level of a cell (its stub would stop the notebook) is an
error naming the notebook and cell, and then nothing in ``lessons/`` is written.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)", re.MULTILINE)
REPO = Path(__file__).resolve().parent.parent


class LessonError(ValueError):
    """A solution notebook is malformed; the message names notebook and cell."""


def stub_lines(indent: str, number: str) -> list[str]:
    """The lines that replace a solution region."""
    return [f"{indent}# YOUR CODE HERE (exercise {number})\n",
            f'{indent}raise NotImplementedError("Exercise {number}: replace this line with your code")\n']


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def strip_solutions(source: str, number: str | None, where: str) -> str:
    """Replace each BEGIN/END SOLUTION region of one code cell's source by a stub."""
    out, inside, indent = [], False, ""
    for line in source.splitlines(keepends=True):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise LessonError(f"{where}: '{BEGIN}' again before '{END}'")
            indent = line[: len(line) - len(line.lstrip())]
            if not indent:
                raise LessonError(f"{where}: a solution region must be inside a function body "
                                  "(at the top level of a cell its stub would stop the notebook)")
            if number is None:
                raise LessonError(f"{where}: no 'Exercise N.M' heading in a markdown cell above this solution")
            inside = True
            out += stub_lines(indent, number)
        elif marker == END:
            if not inside:
                raise LessonError(f"{where}: '{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LessonError(f"{where}: '{BEGIN}' without '{END}'")
    return "".join(out)


def generate_notebook(solution: dict, name: str) -> dict:
    """The student version of one solution notebook (a new dict)."""
    cells, number = [], None
    for index, cell in enumerate(solution.get("cells", [])):
        where = f"{name}, cell {index}"
        source = _source(cell)
        kind = cell.get("cell_type")
        if kind == "markdown":
            headings = EXERCISE_HEADING.findall(source)
            number = headings[-1] if headings else number
        if kind != "code":
            if BEGIN in source or END in source:
                raise LessonError(f"{where}: solution markers in a {kind} cell; they belong in code cells")
            new = {k: v for k, v in cell.items() if k != "outputs"}
        else:
            new = dict(cell, source=strip_solutions(source, number, where), outputs=[], execution_count=None)
        tags = cell.get("metadata", {}).get("tags")
        new["metadata"] = {"tags": tags} if tags else {}
        new["source"] = new["source"] if isinstance(new["source"], str) else "".join(new["source"])
        cells.append(new)
    meta = solution.get("metadata", {})
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
    for path in sorted(solutions.glob("*.ipynb")):
        try:
            solution = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise LessonError(f"{path.name}: not valid notebook JSON ({err})") from None
        texts[path.name] = dumps(generate_notebook(solution, path.name))
    return texts


def write_lessons(texts: dict[str, str], lessons: Path) -> list[str]:
    """Write the generated notebooks and remove lessons with no solution; return changes."""
    lessons.mkdir(exist_ok=True)
    changed = []
    for name, text in texts.items():
        target = lessons / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            tmp = target.with_suffix(".ipynb.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
            changed.append(f"wrote {target.relative_to(lessons.parent)}")
    for stale in sorted(set(p.name for p in lessons.glob("*.ipynb")) - set(texts)):
        (lessons / stale).unlink()
        changed.append(f"removed lessons/{stale} (no solution notebook)")
    return changed


def check_lessons(texts: dict[str, str], lessons: Path) -> list[str]:
    """Differences between the committed lessons and a fresh generation."""
    problems = []
    for name, text in texts.items():
        target = lessons / name
        if not target.exists():
            problems.append(f"lessons/{name} is missing")
        elif target.read_text(encoding="utf-8") != text:
            diff = difflib.unified_diff(target.read_text(encoding="utf-8").splitlines(), text.splitlines(),
                                        f"lessons/{name} (committed)", f"lessons/{name} (generated)", lineterm="", n=1)
            problems.append(f"lessons/{name} differs from a fresh generation:\n" + "\n".join(list(diff)[:20]))
    for stale in sorted(set(p.name for p in lessons.glob("*.ipynb")) - set(texts)):
        problems.append(f"lessons/{stale} has no solutions/{stale}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate lessons/ from solutions/.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    parser.add_argument("--solutions", type=Path, default=REPO / "solutions")
    parser.add_argument("--lessons", type=Path, default=REPO / "lessons")
    args = parser.parse_args(argv)
    try:
        texts = generate_all(args.solutions)
    except LessonError as err:
        print(f"error: {err}\nNothing was written.", file=sys.stderr)
        return 2
    if args.check:
        problems = check_lessons(texts, args.lessons)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("Run `python -m tnnlib.lessons` to regenerate lessons/ from solutions/.", file=sys.stderr)
            return 1
        print(f"lessons/ is up to date with solutions/ ({len(texts)} notebooks).")
        return 0
    for line in write_lessons(texts, args.lessons) or ["lessons/ was already up to date."]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
