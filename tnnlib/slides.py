"""Lecture slides from the lessons: one reveal.js deck per lesson.

    python -m tnnlib.slides [--out DIR] [--lessons 00 02 ...] [--execute] [--reveal-prefix URL|DIR]
    python -m tnnlib.slides --annotate      # write the slide types into solutions/*.ipynb (instructors)

A deck is ``jupyter nbconvert --to slides`` of a solution notebook (nbconvert's
``SlidesExporter``, run here through its Python API), written to
``DIR/NN_name.slides.html`` (default ``DIR`` = ``slides/``). Each cell's slide type
is ``metadata.slideshow.slide_type`` if the notebook has one (``--annotate``
writes them), else the rule of :func:`slide_types`:

* ``slide`` for a ``#`` or ``##`` heading;
* ``subslide`` for other headings, key figures (a markdown image or a code cell
  that draws), and where the current slide would grow past about 20 lines;
* ``skip`` for the exercises (from their heading to their code cell, which
  holds the solution), the setup cell, the "Your progress" cells at the end
  (``tnnlib.grade.summary()``), and code cells longer than 25 lines;
* ``notes`` (speaker notes, shown in reveal.js's speaker view, key ``s``) for long
  derivations: a markdown cell of more than 14 lines or with 3 or more ``$$``
  display formulas that is not a heading;
* ``-`` (on the current slide) for everything else.

Skipped cells are left out of the HTML altogether, so no solution is in a deck.
Markdown images (``../figures/*.png``) are embedded, so a deck is one file.
Without ``--execute`` code cells show no output; with it each notebook is run
first (fast mode, ``TNN_FAST=1``) so plots drawn by code appear on the slides.

**Offline.** nbconvert builds the deck offline, but the HTML loads reveal.js
(``https://unpkg.com/reveal.js@4.0.2``), require.js and MathJax from CDNs when it
is opened. Offline, the deck opens as one long page with the formulas as TeX
source and no slide navigation. No Python package installed with the course
ships reveal.js, so the default stays nbconvert's CDN; ``--reveal-prefix DIR``
copies a local reveal.js 4 (a folder with ``dist/reveal.js``, e.g. the npm
package ``reveal.js@4.0.2`` unpacked) to ``OUT/reveal.js`` and points the decks at
it, and ``--require-js FILE`` / ``--mathjax-url URL`` do the same for require.js and
MathJax, for fully offline decks.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

from .lessons import EXERCISE_HEADING, MARKER, REPO

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
_MAX_LINES = 20          # lines on one (sub)slide before a new subslide starts
_LONG_CODE = 25          # a code cell longer than this is skipped
_LONG_TEXT = 14          # a markdown cell longer than this (not a heading) goes to the speaker notes
_DRAWS = re.compile(r"\bplt\.|\bshow_\w+\(|\bplot_\w+\(|\bdiagrams\.draw|\bdisplay\(|\.imshow\(")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _lines(text: str) -> int:
    return len([line for line in text.splitlines() if line.strip()])


def slide_types(notebook: dict) -> list[str]:
    """The slide type of each cell of a lesson notebook, by the rule in the module docstring."""
    types: list[str] = []
    in_exercise = False
    on_slide = 0
    first_code = next((k for k, c in enumerate(notebook["cells"]) if c.get("cell_type") == "code"), None)
    for index, cell in enumerate(notebook["cells"]):
        kind, text = cell.get("cell_type"), _source(cell)
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        heading = re.match(r"(#+)\s", first) if kind == "markdown" else None
        if heading:
            in_exercise = bool(EXERCISE_HEADING.match(first.strip()))
        exercise_code = kind == "code" and (any(MARKER.match(line.strip()) for line in text.splitlines())
                                            or re.search(r"^\w+ = check\.\w+\(", text, re.MULTILINE))
        progress = kind == "code" and "import summary" in text or (kind == "markdown" and first == "## Your progress")
        if kind == "raw" or not text.strip() or index == first_code or exercise_code or progress:
            slide_type = "skip"
            in_exercise = in_exercise and not exercise_code   # the text after an exercise's code is shown
        elif in_exercise and not heading:
            slide_type = "skip"
        elif heading and in_exercise:
            slide_type = "skip"
        elif heading and len(heading.group(1)) <= 2:
            slide_type = "slide"
        elif heading:
            slide_type = "subslide"
        elif kind == "markdown" and (_lines(text) > _LONG_TEXT or text.count("$$") >= 6):
            slide_type = "notes"
        elif kind == "code" and _lines(text) > _LONG_CODE:
            slide_type = "skip"
        elif (kind == "markdown" and "![" in text) or (kind == "code" and _DRAWS.search(text)):
            slide_type = "subslide"
        elif on_slide + _lines(text) > _MAX_LINES:
            slide_type = "subslide"
        else:
            slide_type = "-"
        if slide_type in ("slide", "subslide"):
            on_slide = _lines(text)
        elif slide_type in ("-", "fragment"):
            on_slide += _lines(text)
        types.append(slide_type)
    return types


def annotate(notebook: dict) -> dict:
    """``notebook`` with ``metadata.slideshow.slide_type`` set on every cell (a new dict)."""
    notebook = json.loads(json.dumps(notebook))
    for cell, slide_type in zip(notebook["cells"], slide_types(notebook)):
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": slide_type}
    return notebook


def annotate_folder(folder: Path) -> list[str]:
    """Write slide types into every notebook of ``folder``, keeping its JSON format; return those changed."""
    changed = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        new = json.dumps(annotate(json.loads(text)), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        if new != text:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(new, encoding="utf-8")
            os.replace(tmp, path)
            changed.append(path.name)
    return changed


def deck_notebook(notebook: dict) -> dict:
    """The notebook as it goes into the deck: slide types (stored or by the rule), skipped cells removed."""
    rule = slide_types(notebook)
    cells = []
    for cell, default in zip(notebook["cells"], rule):
        cell = json.loads(json.dumps(cell))
        meta = cell.setdefault("metadata", {})
        slide_type = meta.get("slideshow", {}).get("slide_type") or default
        if slide_type == "skip":
            continue
        meta["slideshow"] = {"slide_type": slide_type}
        cells.append(cell)
    return dict(notebook, cells=cells)


def count_slides(types: list[str]) -> tuple[int, int]:
    """``(slides, subslides)`` that reveal.js shows for these slide types (the first shown cell starts a slide)."""
    shown = [t for t in types if t not in ("skip", "notes")]
    if not shown:
        return 0, 0
    slides = 1 + shown[1:].count("slide")
    return slides, slides + shown[1:].count("subslide")


def build_deck(path: Path, out: Path, execute: bool = False, reveal_prefix: str | None = None,
               require_js_url: str | None = None, mathjax_url: str | None = None) -> Path:
    """Write the deck of one notebook; return the HTML file's path."""
    import nbformat  # noqa: PLC0415 - nbconvert and nbformat are needed only to build decks
    from nbconvert import SlidesExporter  # noqa: PLC0415
    from nbconvert.preprocessors import ExecutePreprocessor  # noqa: PLC0415

    path, out = Path(path), Path(out)
    nb = nbformat.reads(json.dumps(deck_notebook(json.loads(path.read_text(encoding="utf-8")))), as_version=4)
    resources = {"metadata": {"path": str(path.parent), "name": path.stem}}
    if execute:
        os.environ.setdefault("TNN_FAST", "1")
        ExecutePreprocessor(timeout=600, kernel_name="python3", allow_errors=True).preprocess(nb, resources)
    exporter = SlidesExporter()
    exporter.embed_images = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    if reveal_prefix:
        exporter.reveal_url_prefix = reveal_prefix
    if require_js_url:
        exporter.require_js_url = require_js_url
    if mathjax_url:
        exporter.mathjax_url = mathjax_url
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{path.stem}.slides.html"
    target.write_text(html, encoding="utf-8")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tnnlib.slides", description="Lecture slides from the lessons.")
    parser.add_argument("--out", type=Path, default=Path("slides"), help="folder of the decks (default slides/)")
    parser.add_argument("--lessons", nargs="*", help="only these lessons (e.g. 00 02); default all")
    parser.add_argument("--solutions", type=Path, default=REPO / "solutions", help="default: solutions/")
    parser.add_argument("--execute", action="store_true", help="run each notebook first, so code-drawn plots show")
    parser.add_argument("--reveal-prefix", help="URL of reveal.js, or a local reveal.js 4 folder to copy next to "
                                                "the decks (default: nbconvert's CDN)")
    parser.add_argument("--require-js", help="URL of require.js, or a local file to copy next to the decks")
    parser.add_argument("--mathjax-url", help="URL of MathJax (default: nbconvert's CDN)")
    parser.add_argument("--annotate", action="store_true", help="write the slide types into the solution notebooks "
                                                                "instead of building decks")
    args = parser.parse_args(argv)
    if args.annotate:
        changed = annotate_folder(args.solutions)
        print("\n".join(f"wrote slide types into {name}" for name in changed) or "slide types were already in place")
        return 0
    wanted = {f"{int(x):02d}" for x in args.lessons} if args.lessons else None
    paths = [p for p in sorted(args.solutions.glob("*.ipynb")) if wanted is None or p.name[:2] in wanted]
    if not paths:
        print(f"error: no notebooks in {args.solutions}", file=sys.stderr)
        return 2
    reveal, require = args.reveal_prefix, args.require_js
    if reveal and Path(reveal).is_dir():
        if not (Path(reveal) / "dist" / "reveal.js").is_file():
            print(f"error: {reveal} has no dist/reveal.js (give a reveal.js 4 folder)", file=sys.stderr)
            return 2
        shutil.copytree(reveal, args.out / "reveal.js", dirs_exist_ok=True)
        reveal = "reveal.js"
    if require and Path(require).is_file():
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(require, args.out / "require.js")
        require = "require.js"
    for path in paths:
        target = build_deck(path, args.out, args.execute, reveal, require, args.mathjax_url)
        slides, subslides = count_slides([c["metadata"]["slideshow"]["slide_type"]
                                          for c in deck_notebook(json.loads(path.read_text()))["cells"]])
        print(f"{target}: {slides} slides, {subslides} in all with the vertical ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
