"""Lecture slides (`python -m tnnlib.slides`): the slide-type rule, --annotate, and a deck built with nbconvert."""
import json
import re
import shutil
from pathlib import Path

import pytest

from tnnlib import slides

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("nbconvert")


def _md(text):
    return {"cell_type": "markdown", "id": f"md-{abs(hash(text))}", "metadata": {}, "source": text}


def _code(text):
    return {"cell_type": "code", "id": f"code-{abs(hash(text))}", "metadata": {}, "source": text, "outputs": [],
            "execution_count": None}


TOY = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                        "language": "python"}},
       "cells": [
           _md("# Lesson 99: a toy\n\nWhat it is about."),                      # slide
           _code("%matplotlib inline\nimport numpy as np"),                      # skip: the setup cell
           _md("## 1. A section\n\nSome text."),                                  # slide
           _code("x = np.ones(3)\nprint(x)"),                                     # - (on the same slide)
           _md("### A smaller heading"),                                         # subslide
           _code("import matplotlib.pyplot as plt\nplt.plot(x);"),                # subslide: draws
           _md("### Exercise 99.1: twice\n\nWrite `twice`."),                   # skip: the exercise
           _code("def twice(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n\n"
                 "twice = check.twice(twice)"),                                   # skip: its solution
           _md("Derivation:\n\n$$a$$\n\n$$b$$\n\n$$c$$"),                         # notes: a long derivation
           _md("## Summary\n\n- done"),                                           # slide
       ]}
TOY_TYPES = ["slide", "skip", "slide", "-", "subslide", "subslide", "skip", "skip", "notes", "slide"]


def test_slide_type_rule_on_a_toy_notebook():
    assert slides.slide_types(TOY) == TOY_TYPES
    assert slides.count_slides(TOY_TYPES) == (3, 5)


def test_toy_deck_has_the_expected_slides_and_no_solution(tmp_path):
    path = tmp_path / "99_toy.ipynb"
    path.write_text(json.dumps(TOY))
    html = slides.build_deck(path, tmp_path / "out").read_text()
    # reveal.js: a <section> per slide holding a <section> per vertical (sub)slide
    assert html.count("<section") == 3 + 5
    assert html.count('<aside class="notes">') == 1
    assert "return 2 * x" not in html and "BEGIN SOLUTION" not in html and "Write `twice`" not in html


def test_annotate_a_solution_copy_then_build_its_deck(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    source = REPO / "solutions" / "00_orientation.ipynb"
    shutil.copyfile(source, solutions / source.name)
    shutil.copytree(REPO / "figures", tmp_path / "figures")
    assert slides.main(["--annotate", "--solutions", str(solutions)]) == 0
    nb = json.loads((solutions / source.name).read_text())
    types = [cell["metadata"]["slideshow"]["slide_type"] for cell in nb["cells"]]
    assert types == slides.slide_types(nb) and set(types) <= set(slides.SLIDE_TYPES)
    assert types[0] == "slide" and "skip" in types
    assert slides.annotate_folder(solutions) == [], "annotating twice changes nothing"
    assert slides.main(["--solutions", str(solutions), "--out", str(tmp_path / "decks")]) == 0
    html = (tmp_path / "decks" / "00_orientation.slides.html").read_text()
    n_slides, n_all = slides.count_slides(types)
    assert n_slides >= 4 and html.count("<section") == n_slides + n_all
    assert "BEGIN SOLUTION" not in html and "np.sqrt(np.sum(np.abs(x) ** 2))" not in html
    assert not re.search(r'src="\.\./figures/', html), "figures are embedded"
