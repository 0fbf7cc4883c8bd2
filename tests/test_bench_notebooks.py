"""The notebooks timing suite (`python -m tnnlib.bench notebooks`): what a kernel sees, and what a row says."""
import nbformat
import pytest

from tnnlib.bench import notebooks


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def test_kernel_environment_sets_mode_and_threads_and_clears_blas(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = notebooks.kernel_environment(fast=False, threads=2)
    assert env["TNN_FAST"] == "0" and env["TNN_THREADS"] == "2" and "OMP_NUM_THREADS" not in env
    env = notebooks.kernel_environment(fast=True, threads=None)
    assert env["TNN_FAST"] == "1" and "TNN_THREADS" not in env


def test_time_notebook_runs_in_a_kernel_with_that_environment(tmp_path):
    path = _notebook(tmp_path / "01_probe.ipynb",
                     "import os\nassert os.environ['TNN_FAST'] == '0', os.environ['TNN_FAST']",
                     "from tnnlib.runtime import set_threads\nassert set_threads() == 1, 'TNN_THREADS=1 not seen'")
    row = notebooks.time_notebook(path, fast=False, threads=1, timeout=120)
    assert row["status"] == "ok", row
    assert row["lesson"] == "01_probe" and row["mode"] == "full" and row["threads"] == 1
    assert row["seconds"] > 0


def test_time_notebook_reports_the_error_that_stopped_it(tmp_path):
    path = _notebook(tmp_path / "02_broken.ipynb", "raise ValueError('lesson broke here')")
    row = notebooks.time_notebook(path, fast=True, threads=None, timeout=120)
    assert "lesson broke here" in row["status"] and row["threads"] == "default"


def test_keep_writes_the_executed_notebook_with_its_outputs(tmp_path):
    path = _notebook(tmp_path / "03_printer.ipynb", "print('the number is', 6 * 7)")
    row = notebooks.time_notebook(path, fast=True, threads=1, timeout=120, keep=tmp_path / "kept")
    assert row["status"] == "ok", row
    kept = nbformat.read(tmp_path / "kept" / "03_printer.ipynb", as_version=4)
    assert "the number is 42" in kept.cells[0].outputs[0]["text"]


def test_select_by_lesson_number():
    names = ["00_orientation.ipynb", "07_compression.ipynb", "08_training_on_gpu.ipynb"]
    assert notebooks.select(names, None) == names
    assert notebooks.select(names, "lesson=07+08") == names[1:]
    with pytest.raises(ValueError, match="lesson=NN"):
        notebooks.select(names, "shape=1024")
