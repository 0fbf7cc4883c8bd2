"""Data-parallel training (tnnlib.distributed): two CPU processes under torchrun stay identical and learn."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from tnnlib.distributed import main, make_model, parameter_checksum

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is not available")


def test_two_processes_under_torchrun_keep_identical_replicas_and_learn(tmp_path):
    out = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TNN_QUIET": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("PYTEST_CURRENT_TEST", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tnnlib.distributed", "--model", "tt", "--tt-rank", "4", "--epochs", "2", "--n-train", "1024",
               "--n-test", "500", "--lr", "0.01", "--out", str(out)]   # 1024 / 2 processes / 64 = 8 steps an epoch
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["world_size"] == 2 and report["backend"] == "gloo"
    assert [c["rank"] for c in report["checksums"]] == [0, 1]
    assert report["replicas_identical"]
    assert report["checksums"][0]["sha256"] == report["checksums"][1]["sha256"]
    assert report["steps"] == 16 and report["epochs"] == 2
    assert report["final_loss"] < 0.8 * report["first_loss"]
    assert report["train_loss"][1] < report["train_loss"][0]
    assert "replicas identical: True" in done.stdout


def test_without_torchrun_it_trains_in_one_process(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    out = tmp_path / "one.json"
    report = main(["--model", "dense", "--n-train", "512", "--n-test", "100", "--max-steps", "6",
                   "--device", "cpu", "--quiet", "--out", str(out)])
    assert report["world_size"] == 1 and report["backend"] is None and report["steps"] == 6
    assert json.loads(out.read_text())["checksums"] == report["checksums"]


def test_checksum_sees_every_parameter():
    model = make_model("dense", hidden=8)
    before = parameter_checksum(model)
    model[3].bias.data[0] += 1e-6
    assert parameter_checksum(model)["sha256"] != before["sha256"]
    assert parameter_checksum(make_model("dense", hidden=8)) != before      # another random init
