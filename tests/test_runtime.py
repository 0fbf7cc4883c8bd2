import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tnnlib import runtime


def draw():
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_seed_everything_makes_every_generator_repeat():
    runtime.seed_everything(7)
    first = draw()
    runtime.seed_everything(7)
    assert draw() == first
    runtime.seed_everything(8)
    assert draw() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "0"])
def test_seed_must_be_a_non_negative_int(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        runtime.seed_everything(bad)


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("on", True), ("0", False), ("", False)])
def test_fast_mode_follows_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("TNN_FAST", value)
    assert runtime.fast_mode() is expected
    assert runtime.pick(fast="small", full="big") == ("small" if expected else "big")


def test_tests_run_in_fast_mode():
    assert runtime.fast_mode(), "conftest.py sets TNN_FAST=1 for tests and notebooks"


def test_device_order_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("TNN_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)
    assert runtime.get_device() == torch.device("cpu")
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)
    assert runtime.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.get_device() == torch.device("cuda")


def test_forced_device(monkeypatch):
    monkeypatch.setenv("TNN_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        runtime.get_device("cuda")


def test_environment_report(capsys):
    report = runtime.environment_report()
    assert {"python", "numpy", "torch", "device chosen", "fast mode (TNN_FAST)"} <= set(report)
    runtime.print_environment_report()
    assert "torch" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def threads(monkeypatch):
    """A clean thread setting: no TNN_THREADS / OMP_NUM_THREADS, torch's count restored afterwards."""
    before = torch.get_num_threads()
    for var in ("TNN_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(runtime, "_threads_chosen", None)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores,expected", [(1, 1), (2, 2), (4, 4), (64, 4)])
def test_default_threads_is_min_4_cores(monkeypatch, cores, expected):
    monkeypatch.setattr(runtime, "usable_cores", lambda: cores)
    assert runtime.default_threads() == expected


def test_usable_cores_is_positive_and_at_most_the_cpu_count():
    assert 1 <= runtime.usable_cores() <= (os.cpu_count() or 1)


def test_set_threads_explicit_env_all_and_default(threads, monkeypatch):
    assert runtime.set_threads(1) == 1 == torch.get_num_threads()
    monkeypatch.setenv("TNN_THREADS", "2")
    assert runtime.set_threads() == 2 == torch.get_num_threads()
    assert runtime.set_threads(1) == 1  # an explicit count wins over the environment
    monkeypatch.setenv("TNN_THREADS", "all")
    monkeypatch.setattr(runtime, "usable_cores", lambda: 2)
    assert runtime.set_threads() == 2
    monkeypatch.delenv("TNN_THREADS")
    monkeypatch.setattr(runtime, "usable_cores", lambda: 64)
    assert runtime.set_threads() == 4 == torch.get_num_threads()


def test_set_threads_leaves_an_omp_setting_alone(threads, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what conftest.py sets for the tests and notebooks
    monkeypatch.setattr(runtime, "usable_cores", lambda: 64)
    assert runtime.set_threads() == 1 == torch.get_num_threads()
    monkeypatch.setenv("TNN_THREADS", "2")  # TNN_THREADS is the course's own knob and wins
    assert runtime.set_threads() == 2


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_tnn_threads_is_a_clear_error(threads, monkeypatch, bad):
    monkeypatch.setenv("TNN_THREADS", bad)
    with pytest.raises(ValueError, match="TNN_THREADS must be a positive integer or 'all'"):
        runtime.set_threads()


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "2"])
def test_bad_thread_count_is_a_clear_error(threads, bad):
    with pytest.raises(ValueError, match="positive integer"):
        runtime.set_threads(bad)


def test_seed_everything_applies_the_thread_setting_once(threads, monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "usable_cores", lambda: 64)
    real = runtime.set_threads
    monkeypatch.setattr(runtime, "set_threads", lambda n=None: calls.append(n) or real(n))
    runtime.seed_everything(0)
    assert calls == [None] and torch.get_num_threads() == 4
    runtime.seed_everything(1)
    assert calls == [None]  # once per process
    monkeypatch.setattr(runtime, "_threads_chosen", None)
    real(1)  # a learner's explicit choice stays
    runtime.seed_everything(2)
    assert torch.get_num_threads() == 1


def test_threads_do_not_change_what_seed_everything_draws(threads):
    runtime.seed_everything(7)
    first = draw()
    torch.set_num_threads(1)
    runtime.seed_everything(7)
    assert draw() == first


def test_gpu_error_points_to_where_using_a_gpu_is_explained(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError) as error:
        runtime.get_device("cuda")
    assert "lesson 00, 'Using a GPU'" in str(error.value)
    lesson00 = (Path(__file__).resolve().parent.parent / "solutions" / "00_orientation.ipynb").read_text()
    assert "## Using a GPU" in lesson00
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "PyTorch: CPU or GPU" in readme
