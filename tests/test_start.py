"""start.py and tnnlib.workspace: the install commands (pip is never run) and the learner's my-lessons/."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tnnlib import workspace
from tnnlib.workspace import WORKSPACE_NAME, lesson_files, sync_workspace

REPO = Path(__file__).resolve().parent.parent


def load_start():
    spec = importlib.util.spec_from_file_location("start_under_test", REPO / "start.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def start(monkeypatch):
    """start.py with pip and subprocess recorded instead of run; torch "missing", no GPU, Linux."""
    module = load_start()
    module.pip_calls, module.pip_results, module.launched = [], [], []

    def fake_pip(*args):
        module.pip_calls.append(list(args))
        return module.pip_results.pop(0) if module.pip_results else 0

    monkeypatch.setattr(module, "pip", fake_pip)
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(module.platform, "system", lambda: "Linux")
    monkeypatch.setattr(module, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(module.subprocess, "call", lambda command: module.launched.append(command) or 0)
    return module


@pytest.fixture
def course(tmp_path, monkeypatch, start):
    """A course folder with two lessons, as start.py's REPO."""
    lessons = tmp_path / "course" / "lessons"
    lessons.mkdir(parents=True)
    (lessons / "00_orientation.ipynb").write_text('{"cells": ["00"]}')
    (lessons / "01_tensors.ipynb").write_text('{"cells": ["01"]}')
    (tmp_path / "course" / "tnnlib").mkdir()
    (tmp_path / "course" / "tnnlib" / "workspace.py").write_text((REPO / "tnnlib" / "workspace.py").read_text())
    monkeypatch.setattr(start, "REPO", tmp_path / "course")
    monkeypatch.chdir(tmp_path)  # main() changes directory; monkeypatch changes it back
    return tmp_path / "course"


# --------------------------------------------------------------------------------------------------
# Installing torch
# --------------------------------------------------------------------------------------------------

def test_cpu_build_tries_the_local_cpu_wheel_first(start):
    start.install_torch("cpu")
    assert start.pip_calls == [["torch==2.13.0+cpu"]]


def test_cpu_build_then_adds_pytorchs_cpu_index_to_pips_own(start):
    start.pip_results = [1, 0]
    start.install_torch("cpu")
    assert start.pip_calls == [["torch==2.13.0+cpu"],
                               ["torch==2.13.0+cpu", "--extra-index-url", "https://download.pytorch.org/whl/cpu"]]
    flat = " ".join(" ".join(call) for call in start.pip_calls)
    assert "--index-url" not in flat.replace("--extra-index-url", "")  # pip's configured index is kept
    assert "pypi.org" not in flat


def test_cpu_build_failing_twice_exits_with_a_pointer(start):
    start.pip_results = [1, 1]
    with pytest.raises(SystemExit, match="Installing PyTorch yourself"):
        start.install_torch("cpu")


@pytest.mark.parametrize("system,build", [("Linux", "gpu"), ("Darwin", "cpu"), ("Windows", "cpu")])
def test_default_build_comes_from_pips_index(start, monkeypatch, system, build):
    monkeypatch.setattr(start.platform, "system", lambda: system)
    start.install_torch(build)
    assert start.pip_calls == [["torch==2.13.0"]]


def test_an_installed_torch_is_kept(start, monkeypatch):
    monkeypatch.setattr(start.importlib.util, "find_spec", lambda name: object())
    start.install_torch("cpu")
    assert start.pip_calls == []


def test_pip_runs_this_interpreter(monkeypatch, capsys):
    module = load_start()
    seen = []
    monkeypatch.setattr(module.subprocess, "call", lambda command: seen.append(command) or 0)
    assert module.pip("torch==2.13.0+cpu") == 0
    assert seen == [[sys.executable, "-m", "pip", "install", "torch==2.13.0+cpu"]]
    assert "pip install torch==2.13.0+cpu" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# main: install, my-lessons/, JupyterLab
# --------------------------------------------------------------------------------------------------

def test_no_lab_installs_only(start, course):
    assert start.main(["--no-lab"]) == 0
    assert start.pip_calls == [["torch==2.13.0+cpu"], ["-r", "requirements.txt"]]
    assert start.launched == []
    assert not (course / WORKSPACE_NAME).exists()


def test_start_copies_the_lessons_and_opens_the_learners_copy(start, course, monkeypatch, capsys):
    monkeypatch.setattr(start.os, "geteuid", lambda: 1000, raising=False)
    assert start.main([]) == 0
    assert start.pip_calls == [["torch==2.13.0+cpu"], ["-r", "requirements.txt"]]
    assert (course / WORKSPACE_NAME / "01_tensors.ipynb").read_text() == '{"cells": ["01"]}'
    assert start.launched == [[sys.executable, "-m", "jupyter", "lab", "my-lessons/00_orientation.ipynb"]]
    assert "Created my-lessons/ with 2 lessons" in capsys.readouterr().out


def test_second_start_keeps_edits_and_adds_new_lessons(start, course, capsys):
    start.main([])
    mine = course / WORKSPACE_NAME / "01_tensors.ipynb"
    mine.write_text("my work")
    (course / "lessons" / "02_svd.ipynb").write_text('{"cells": ["02"]}')
    start.main([])
    assert mine.read_text() == "my work"
    assert (course / WORKSPACE_NAME / "02_svd.ipynb").read_text() == '{"cells": ["02"]}'
    assert "Copied 1 new lesson file(s) into my-lessons/: 02_svd.ipynb" in capsys.readouterr().out


def test_root_gets_allow_root(start, course, monkeypatch):
    monkeypatch.setattr(start.os, "geteuid", lambda: 0, raising=False)
    start.main([])
    assert start.launched[-1][-1] == "--allow-root"


def test_failing_requirements_stop_before_the_workspace(start, course):
    start.pip_results = [0, 1]
    assert start.main([]) == 1
    assert start.launched == [] and not (course / WORKSPACE_NAME).exists()


def test_start_defaults_match_the_library():
    module = load_start()
    assert module.WORKSPACE == WORKSPACE_NAME
    assert (REPO / "lessons" / module.FIRST_LESSON).is_file()


# --------------------------------------------------------------------------------------------------
# tnnlib.workspace
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def lessons(tmp_path):
    folder = tmp_path / "lessons"
    folder.mkdir()
    for name in ["00_a.ipynb", "01_b.ipynb"]:
        (folder / name).write_text(f"lesson {name}")
    return folder


def test_first_sync_copies_everything(lessons, tmp_path):
    mine = tmp_path / WORKSPACE_NAME
    report = sync_workspace(lessons, mine)
    assert report.created and report.copied == ["00_a.ipynb", "01_b.ipynb"] and report.kept == []
    assert (mine / "01_b.ipynb").read_text() == "lesson 01_b.ipynb"


def test_second_sync_touches_nothing(lessons, tmp_path):
    mine = tmp_path / WORKSPACE_NAME
    sync_workspace(lessons, mine)
    stamps = {p: p.stat().st_mtime_ns for p in mine.iterdir()}
    report = sync_workspace(lessons, mine)
    assert not report.created and report.copied == [] and report.kept == ["00_a.ipynb", "01_b.ipynb"]
    assert {p: p.stat().st_mtime_ns for p in mine.iterdir()} == stamps
    assert "is up to date" in report.summary()


def test_an_edited_lesson_is_never_overwritten_even_when_lessons_changes(lessons, tmp_path):
    mine = tmp_path / WORKSPACE_NAME
    sync_workspace(lessons, mine)
    (mine / "00_a.ipynb").write_text("my answers")
    (lessons / "00_a.ipynb").write_text("lesson 00, regenerated")
    (lessons / "01_b.ipynb").write_text("lesson 01, regenerated")  # an unedited copy is kept too
    report = sync_workspace(lessons, mine)
    assert (mine / "00_a.ipynb").read_text() == "my answers"
    assert (mine / "01_b.ipynb").read_text() == "lesson 01_b.ipynb"
    assert report.newer_in_lessons == ["00_a.ipynb", "01_b.ipynb"]
    assert "newer version of 00_a.ipynb, 01_b.ipynb" in report.summary()


def test_a_new_lesson_is_added_and_a_deleted_copy_restored(lessons, tmp_path):
    mine = tmp_path / WORKSPACE_NAME
    sync_workspace(lessons, mine)
    (lessons / "02_c.ipynb").write_text("lesson 02")
    (mine / "00_a.ipynb").unlink()
    (lessons / "00_a.ipynb").write_text("lesson 00, new")
    report = sync_workspace(lessons, mine)
    assert report.copied == ["00_a.ipynb", "02_c.ipynb"] and report.newer_in_lessons == []
    assert (mine / "00_a.ipynb").read_text() == "lesson 00, new"
    assert (mine / "02_c.ipynb").read_text() == "lesson 02"


def test_learners_own_files_are_left_alone(lessons, tmp_path):
    mine = tmp_path / WORKSPACE_NAME
    sync_workspace(lessons, mine)
    (mine / "notes.ipynb").write_text("mine")
    report = sync_workspace(lessons, mine)
    assert (mine / "notes.ipynb").read_text() == "mine" and "notes.ipynb" not in report.kept


def test_checkpoints_and_hidden_files_are_not_copied_subfolders_are(lessons, tmp_path):
    (lessons / ".ipynb_checkpoints").mkdir()
    (lessons / ".ipynb_checkpoints" / "00_a-checkpoint.ipynb").write_text("x")
    (lessons / ".hidden").write_text("x")
    (lessons / "extra").mkdir()
    (lessons / "extra" / "data.csv").write_text("1,2")
    assert [p.as_posix() for p in lesson_files(lessons)] == ["00_a.ipynb", "01_b.ipynb", "extra/data.csv"]
    sync_workspace(lessons, tmp_path / WORKSPACE_NAME)
    assert (tmp_path / WORKSPACE_NAME / "extra" / "data.csv").read_text() == "1,2"
    assert not (tmp_path / WORKSPACE_NAME / ".ipynb_checkpoints").exists()


def test_a_failed_copy_leaves_no_truncated_file(lessons, tmp_path, monkeypatch):
    def broken(src, dst):
        dst.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(workspace.shutil, "copyfileobj", broken)
    with pytest.raises(OSError, match="disk full"):
        sync_workspace(lessons, tmp_path / WORKSPACE_NAME)
    assert not (tmp_path / WORKSPACE_NAME / "00_a.ipynb").exists()


def test_a_damaged_manifest_only_loses_the_notices(lessons, tmp_path):
    mine = tmp_path / WORKSPACE_NAME
    sync_workspace(lessons, mine)
    (mine / workspace.MANIFEST_NAME).write_text("{not json")
    (lessons / "00_a.ipynb").write_text("changed")
    report = sync_workspace(lessons, mine)
    assert report.kept == ["00_a.ipynb", "01_b.ipynb"] and report.newer_in_lessons == []
    assert json.loads(json.dumps(report.kept))  # plain strings


def test_bad_folders(lessons, tmp_path):
    with pytest.raises(FileNotFoundError):
        sync_workspace(tmp_path / "nothing", tmp_path / WORKSPACE_NAME)
    with pytest.raises(ValueError, match="must not be the lessons folder"):
        sync_workspace(lessons, lessons)


def test_command_line(lessons, tmp_path, capsys):
    assert workspace.main(["--lessons", str(lessons), "--workspace", str(tmp_path / "w")]) == 0
    assert "Created w/ with 2 lessons" in capsys.readouterr().out
    assert workspace.main(["--lessons", str(tmp_path / "none"), "--workspace", str(tmp_path / "w")]) == 1


# --------------------------------------------------------------------------------------------------
# Nothing in my-lessons/ reaches git or the test suite
# --------------------------------------------------------------------------------------------------

def test_git_ignores_the_workspace_and_virtual_environments():
    lines = (REPO / ".gitignore").read_text().split()
    assert f"/{WORKSPACE_NAME}/" in lines and ".venv/" in lines
    if (REPO / ".git").exists() and subprocess.run(["git", "--version"], capture_output=True).returncode == 0:
        for path in [f"{WORKSPACE_NAME}/00_orientation.ipynb", ".venv/bin/python"]:
            assert subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", path]).returncode == 0, path


def test_pytest_never_collects_the_workspace(pytestconfig):
    testpaths = pytestconfig.getini("testpaths")
    assert not any(WORKSPACE_NAME in path for path in testpaths)
    assert WORKSPACE_NAME in pytestconfig.getini("norecursedirs"), \
        'pyproject.toml [tool.pytest.ini_options] needs norecursedirs with "my-lessons"'


# --------------------------------------------------------------------------------------------------
# Repository files
# --------------------------------------------------------------------------------------------------

def test_license_citation_changelog_contributing():
    license_text = (REPO / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    assert "Copyright (c) 2026 The tensorized neural networks course authors" in license_text
    citation = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    assert "cff-version: 1.2.0" in citation and "license: MIT" in citation
    assert "arXiv:2505.20132" in citation and "Tensorization is a powerful but underexplored tool" in citation
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(citation)
    assert {"cff-version", "message", "title", "authors"} <= set(data)
    assert all({"type", "title", "authors"} <= set(ref) for ref in data["references"])
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert "## Unreleased" in changelog and "## 0.1.0" in changelog
    assert "## Vocabulary" in (REPO / "CONTRIBUTING.md").read_text()
