"""The grader (`python -m tnnlib.grade`) on made-up submissions of the two fastest lessons, 00 and 01.

Two runs of the notebooks: a small mixed folder graded twice (the second time through the command
line, to compare the score files byte for byte), and a folder of lesson-00 notebooks that break in
every way a submission can. The rest (lesson identification, points, hidden checks, summary()) runs
in this process, without kernels.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tnnlib import checking, grade
from tnnlib.checks import lesson01
from tnnlib.grade import file_digest, make_submission, replace_solution
from tnnlib.tensor_ops import unfold as reference_unfold

REPO = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = 6      # the cells kept below take well under a second each (imports are done before)
TIMEOUT = 120


def _lesson00(kind: str) -> str:
    """A made-up lesson-00 submission cut after the cell that uses the exercise (the data cells are slow)."""
    text = make_submission(kind, "00")
    if kind in ("invalid-json", "other-lesson"):
        return text
    nb = json.loads(text)
    sources = ["".join(c["source"]) for c in nb["cells"]]
    exercise = next(k for k, src in enumerate(sources) if src.startswith("### Exercise 0.1"))
    cut = next(k for k in range(exercise, len(sources)) if sources[k].startswith("## "))
    nb["cells"] = nb["cells"][:cut]
    return json.dumps(nb, indent=1)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _partly_wrong_01() -> str:
    """Lesson 01 with exercises 1.4 and 1.5 wrong (the others, and the cells using them, are fine)."""
    nb = json.loads((REPO / "solutions" / "01_tensors.ipynb").read_text(encoding="utf-8"))
    nb = replace_solution(nb, "contraction_flops", ["return 0"])
    nb = replace_solution(nb, "best_chain_order", ["return 0, 'A'"])
    return json.dumps(nb, indent=1)


def _digests(folder: Path) -> dict:
    return {p.name: file_digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _by_name(scores: dict) -> dict:
    return {r["submission"]: r for r in scores["submissions"]}


def _table(record: dict) -> list:
    return [(e["exercise"], e["status"], e["points"]) for e in record["exercises"]]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Four submissions of lessons 00 and 01 graded twice: by grade_paths, then by the command."""
    root = tmp_path_factory.mktemp("mixed")
    subs = root / "submissions"
    _write(subs, "alice.ipynb", _lesson00("correct"))
    _write(subs, "bob.ipynb", _lesson00("stub"))
    _write(subs / "carol", "01_tensors.ipynb", _partly_wrong_01())
    _write(subs, "00_corrupt.ipynb", make_submission("invalid-json", "00"))
    before = _digests(subs)
    first = grade.grade_paths([subs], out=root / "run1", jobs=2, cell_timeout=CELL_TIMEOUT, timeout=TIMEOUT,
                              quiet=True)
    code = grade.main([str(subs), "--out", str(root / "run2"), "--cell-timeout", str(CELL_TIMEOUT),
                       "--timeout", str(TIMEOUT), "--jobs", "2"])
    return {"root": root, "subs": subs, "before": before, "scores": first, "code": code}


def test_correct_stub_partly_wrong_and_corrupt_scores(mixed):
    records = _by_name(mixed["scores"])
    assert sorted(records) == ["00_corrupt.ipynb", "alice.ipynb", "bob.ipynb", "carol/01_tensors.ipynb"]
    assert _table(records["alice.ipynb"]) == [("0.1", "passed", 1.0)]
    assert _table(records["bob.ipynb"]) == [("0.1", "not done", 0.0)]
    assert records["bob.ipynb"]["exercises"][0]["feedback"] == "not done yet"
    carol = records["carol/01_tensors.ipynb"]
    assert carol["lesson"] == "01"
    assert _table(carol) == [("1.1", "passed", 1.0), ("1.2", "passed", 1.0), ("1.3", "passed", 1.0),
                             ("1.4", "failed", 0.0), ("1.5", "failed", 0.0)]
    assert (carol["score"], carol["max_score"]) == (3.0, 5.0)
    assert "expected 48, got 0" in carol["exercises"][3]["feedback"]
    corrupt = records["00_corrupt.ipynb"]
    assert (corrupt["status"], corrupt["lesson"], corrupt["score"], corrupt["max_score"]) == ("invalid", "00", 0, 1)
    assert corrupt["reason"].startswith("not valid notebook JSON")


def test_rerun_writes_identical_score_files_and_submissions_are_unchanged(mixed):
    root = mixed["root"]
    assert mixed["code"] == 0
    for name in ("scores.csv", "totals.csv", "scores.json"):
        assert (root / "run1" / name).read_bytes() == (root / "run2" / name).read_bytes(), name
    assert json.loads((root / "run1" / "run.json").read_text())["submissions"] == 4
    assert _digests(mixed["subs"]) == mixed["before"]
    assert not [p for p in (root / "run1").iterdir() if p.name.startswith(".")], "no temporary files left"


def test_score_files_have_a_row_per_exercise(mixed):
    rows = (mixed["root"] / "run1" / "scores.csv").read_text().splitlines()
    assert rows[0] == "submission,lesson,exercise,function,status,points,max_points,feedback"
    assert len(rows) == 1 + 1 + 1 + 5 + 1
    assert "alice.ipynb,00,0.1,frobenius_norm,passed,1,1," in (mixed["root"] / "run1" / "scores.csv").read_text()
    totals = (mixed["root"] / "run1" / "totals.csv").read_text().splitlines()
    assert "carol/01_tensors.ipynb,01,graded,3,5," in totals


FAILURES = {  # kind of broken lesson-00 submission -> (status of exercise 0.1, a piece of its feedback)
    "wrong": ("failed", "values differ"),
    "raises": ("failed", "your code raised ValueError: something went wrong"),
    "loop": ("timeout", "took longer than"),
    "exit": ("crashed", "killed the kernel"),
    "renamed": ("missing", "no function named `frobenius_norm`"),
    "removed": ("missing", "no function named `frobenius_norm`"),
    "no-check-call": ("passed", "Checked on a vector"),
    "other-lesson": ("wrong lesson", "is lesson 01"),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    subs = root / "submissions"
    for kind in FAILURES:
        _write(subs, f"{kind}.ipynb", _lesson00(kind))
    before = _digests(subs)
    scores = grade.grade_paths([subs], out=root / "out", jobs=2, cell_timeout=CELL_TIMEOUT, timeout=TIMEOUT,
                               lesson="00", quiet=True)
    return {"scores": scores, "subs": subs, "before": before}


@pytest.mark.parametrize("kind", FAILURES)
def test_every_failure_mode_scores_and_says_why(broken, kind):
    record = _by_name(broken["scores"])[f"{kind}.ipynb"]
    status, said = FAILURES[kind]
    [exercise] = record["exercises"]
    assert (exercise["exercise"], exercise["status"]) == ("0.1", status)
    assert exercise["points"] == (1.0 if status == "passed" else 0.0)
    assert record["score"] == exercise["points"] and record["max_score"] == 1.0
    assert said in exercise["feedback"] + record["reason"]


def test_broken_submissions_are_unchanged(broken):
    assert _digests(broken["subs"]) == broken["before"]


def test_summary_table_names_every_submission_and_failure(broken):
    text = grade.format_summary(broken["scores"])
    for kind in FAILURES:
        assert f"{kind}.ipynb" in text
    assert "exit.ipynb: note: cell" in text and "killed the kernel" in text


# --- without kernels ---------------------------------------------------------------------------

def test_lessons_exercises_functions_and_default_points():
    specs = grade.lesson_specs()
    assert [ex.function for ex in specs["01"].exercises] == [
        "unfold", "fold", "mode_n_product", "contraction_flops", "best_chain_order"]
    assert all(ex.points == 1 for spec in specs.values() for ex in spec.exercises)
    assert specs["00"].max_score == 1


def test_points_come_from_nbgrader_metadata(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    for name in ("00_orientation.ipynb", "01_tensors.ipynb"):  # copies without their points metadata
        nb = json.loads((REPO / "solutions" / name).read_text())
        for cell in nb["cells"]:
            cell["metadata"].pop("nbgrader", None)
        (solutions / name).write_text(json.dumps(nb))
    changed = grade.write_points(solutions, {"1.2": 3})
    assert changed == ["00_orientation.ipynb", "01_tensors.ipynb"]
    assert grade.write_points(solutions) == [], "writing the same points again changes nothing"
    specs = grade.lesson_specs(solutions)
    assert [ex.points for ex in specs["01"].exercises] == [1, 3, 1, 1, 1]
    nb = json.loads((solutions / "01_tensors.ipynb").read_text())
    meta = [c["metadata"]["nbgrader"] for c in nb["cells"] if "nbgrader" in c["metadata"]]
    assert [m["grade_id"] for m in meta] == [f"exercise_1_{k}" for k in range(1, 6)]
    assert all(m["solution"] and not m["grade"] for m in meta)


@pytest.mark.parametrize("kind, lesson", [("correct", "01"), ("stub", "01"), ("correct", "00"), ("stub", "02")])
def test_identify_lesson_from_content(kind, lesson):
    nb = json.loads(make_submission(kind, lesson))
    assert grade.identify_lesson(nb, grade.lesson_specs(), "renamed.ipynb")[0] == lesson


def test_identify_lesson_metadata_and_file_name():
    specs = grade.lesson_specs()
    assert grade.identify_lesson({"cells": [], "metadata": {"tnnlib": {"lesson": 3}}}, specs)[0] == "03"
    assert grade.identify_lesson({"cells": []}, specs, "04_mine.ipynb")[0] == "04"
    assert grade.identify_lesson({"cells": []}, specs, "mine.ipynb")[0] is None


def _unfold(tensor, mode):
    return np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def test_grading_does_not_need_the_check_call_and_grades_a_stub_behind_the_reference():
    def stub(tensor, mode):
        raise NotImplementedError

    checking.OUTCOMES.pop("1.1", None)
    assert grade.check_exercise({"unfold": _unfold}, "1.1", "unfold")["status"] == "passed"
    result = grade.check_exercise({"unfold": reference_unfold}, "1.1", "unfold")
    assert result["status"] == "missing" and "reference" in result["feedback"]
    namespace = {"unfold": lesson01.unfold(stub)}        # the checker put the reference in its place
    assert namespace["unfold"] is not stub
    assert grade.check_exercise(namespace, "1.1", "unfold") == {"status": "not done", "feedback": "not done yet"}


HIDDEN_PY = '''
import numpy as np
from tnnlib.checking import expect_close
from tnnlib.grade import hidden


@hidden("1.1")
def order_five(answer):
    x = np.random.default_rng(5).standard_normal((2, 3, 2, 2, 3))
    expect_close(answer(x, 4), np.moveaxis(x, 4, 0).reshape(3, -1), "unfold of an order-5 tensor, mode 4")
    return "order 5"
'''


@pytest.mark.parametrize("suffix", [".json", ".py"])
def test_hidden_checks_run_after_the_checker(tmp_path, suffix):
    path = tmp_path / f"hidden{suffix}"
    path.write_text(HIDDEN_PY if suffix == ".py" else json.dumps(
        {"1.1": [{"args": [{"random": [2, 3, 2, 2, 3], "seed": 5}, 4]}]}))

    def fails_on_order_five(tensor, mode):
        return np.zeros((tensor.shape[mode], tensor.size // tensor.shape[mode])) if tensor.ndim == 5 \
            else _unfold(tensor, mode)

    assert grade.check_exercise({"unfold": _unfold}, "1.1", "unfold", path)["status"] == "passed"
    assert grade.check_exercise({"unfold": fails_on_order_five}, "1.1", "unfold")["status"] == "passed"
    result = grade.check_exercise({"unfold": fails_on_order_five}, "1.1", "unfold", path)
    assert result["status"] == "failed" and "hidden" in result["feedback"]


def test_summary_reports_each_exercise(capsys):
    def contraction_flops(subscripts, *shapes):
        return 2

    namespace = {"check": lesson01, "unfold": lesson01.unfold(_unfold), "contraction_flops": contraction_flops}
    capsys.readouterr()
    statuses = grade.summary(namespace=namespace)
    out = capsys.readouterr().out
    assert statuses == {"1.1": "passed", "1.2": "missing", "1.3": "missing", "1.4": "failed", "1.5": "missing"}
    assert out.startswith("Lesson 01: 1 of 5 exercises pass (1 of 5 points)")
    assert re.search(r"1\.4 .* failed: Exercise 1\.4", out)
