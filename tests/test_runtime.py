import random

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
