"""Data-parallel training on several processes: the loop of :mod:`tnnlib.train` under ``torchrun``.

Run, from the course folder::

    torchrun --standalone --nproc_per_node 2 -m tnnlib.distributed --epochs 1 --model tt --out ddp.json

``torchrun`` starts 2 processes (one per GPU; on a CPU, 2 CPU processes).
Each one runs :func:`main`: it joins the process group (NCCL on GPUs, gloo on
CPUs), builds the same small MLP for Fashion-MNIST (``--model tt``: its first
layer a :class:`~tnnlib.nn.TTLinear`; ``--model dense``: ``nn.Linear``) and
calls :func:`tnnlib.train.fit`, which wraps the model in
``DistributedDataParallel``: every process trains on its own share of each
epoch's shuffled examples, and after each backward pass the gradients are
averaged over the processes, so every replica takes the same step and the
parameters stay identical. At the end, process 0 writes a JSON report to
``--out``: the first and final loss, the test accuracy, and a checksum of the
parameters of every process (they must all agree).

Without ``torchrun`` (``python -m tnnlib.distributed ...``) the same script
trains in one process. ``--help`` lists the options.

Tensorized layers need nothing special under DDP: their factors are plain
``nn.Parameter``s, broadcast from process 0 when DDP wraps the model and
all-reduced like any other. The strategy planner's cache
(``TensorizedLinear.plan``) depends only on the shapes, the batch size,
device type and dtype - never on the values - so every process makes the same
choices; :func:`tnnlib.train.fit` gives all processes the same batch sizes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import torch
import torch.distributed as dist
from torch import nn

from .data import load_fashion_mnist
from .nn import TTLinear
from .train import evaluate, fit

__all__ = ["make_model", "parameter_checksum", "main"]


def make_model(kind: str = "tt", tt_rank: int = 8, hidden: int = 256) -> nn.Module:
    """A small MLP for 28 x 28 images: ``784 -> hidden -> 10``, its first layer tensorized when ``kind="tt"``.

    ``"tt"``: ``TTLinear(784, hidden, tt_rank)`` with modes ``(4, 7, 7, 4)`` -> ``(4, 4, 4, 4)`` (hidden = 256);
    ``"dense"``: ``nn.Linear(784, hidden)``.
    """
    if kind == "tt":
        if hidden != 256:
            raise ValueError("make_model: kind='tt' uses hidden=256 (out_modes 4 x 4 x 4 x 4)")
        first = TTLinear(784, hidden, tt_rank, in_modes=(4, 7, 7, 4), out_modes=(4, 4, 4, 4))
    elif kind == "dense":
        first = nn.Linear(784, hidden)
    else:
        raise ValueError(f"make_model: kind must be 'tt' or 'dense', got {kind!r}")
    return nn.Sequential(nn.Flatten(), first, nn.ReLU(), nn.Linear(hidden, 10))


def parameter_checksum(model: nn.Module) -> dict:
    """``{"sha256": ..., "sum": ...}`` of the model's parameters (bit-exact, and a readable float)."""
    digest = hashlib.sha256()
    total = 0.0
    for name, p in model.named_parameters():
        values = p.detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(values.numpy().tobytes())
        total += values.double().sum().item()
    return {"sha256": digest.hexdigest(), "sum": total}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tnnlib.distributed",
                                     description="Train a small (tensorized) MLP on Fashion-MNIST with DDP.")
    parser.add_argument("--model", choices=("tt", "dense"), default="tt")
    parser.add_argument("--tt-rank", type=int, default=8, help="TT rank of the first layer (--model tt)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    parser.add_argument("--n-train", type=int, default=None, help="training images (default: all 10,000)")
    parser.add_argument("--n-test", type=int, default=None, help="test images (default: all 2,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amp", choices=("bf16",), default=None, help="bfloat16 autocast")
    parser.add_argument("--device", default=None, help="default: cuda:LOCAL_RANK if there is a GPU, else cpu")
    parser.add_argument("--backend", choices=("nccl", "gloo"), default=None,
                        help="default: nccl on GPUs, gloo on CPUs")
    parser.add_argument("--out", default=None, help="write the JSON report here (process 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv=None) -> dict | None:
    """Train as ``parse_args(argv)`` says; return the report on process 0 (None on the others)."""
    args = parse_args(argv)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1   # set by torchrun
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(args.device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group(args.backend or ("nccl" if device.type == "cuda" else "gloo"))
    try:
        report = _train(args, device)
        if distributed:
            dist.barrier()  # all done before teardown: gloo aborts a process whose peer destroyed the group early
        return report
    finally:
        if distributed:
            dist.destroy_process_group()


def _train(args, device) -> dict | None:
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    torch.manual_seed(args.seed)                         # the same initial model everywhere (DDP broadcasts anyway)
    model = make_model(args.model, args.tt_rank).to(device)
    train = load_fashion_mnist("train", n=args.n_train)
    test = load_fashion_mnist("test", n=args.n_test)
    start = time.perf_counter()
    history = fit(model, train, epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                  lr=args.lr, seed=args.seed, amp=args.amp or False, progress=False if args.quiet else None)
    seconds = time.perf_counter() - start
    test_result = evaluate(model, test, amp=args.amp or False)

    # gather from every process: its first and last step's loss and its parameters' checksum
    mine = {"rank": rank, "first_loss": history.step_loss[0], "final_loss": history.step_loss[-1],
            **parameter_checksum(model)}
    everyone = [None] * world
    if world > 1:
        dist.all_gather_object(everyone, mine)
    else:
        everyone = [mine]
    if rank != 0:
        return None
    report = {
        "model": args.model, "tt_rank": args.tt_rank if args.model == "tt" else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "world_size": world, "backend": dist.get_backend() if dist.is_initialized() else None,
        "device": str(device), "torch": torch.__version__,
        "epochs": len(history.epoch), "steps": len(history.step_loss), "batch_size_per_process": args.batch_size,
        "first_loss": sum(r["first_loss"] for r in everyone) / world,    # averaged over the processes
        "final_loss": sum(r["final_loss"] for r in everyone) / world,
        "train_loss": history.train_loss, "test_loss": test_result["loss"],
        "test_accuracy": test_result["accuracy"], "train_seconds": round(seconds, 2),
        "checksums": everyone,
        "replicas_identical": len({r["sha256"] for r in everyone}) == 1,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    print(f"{world} process(es), {report['backend'] or 'no process group'}, {device}: "
          f"{report['steps']} steps, loss {report['first_loss']:.3f} -> {report['final_loss']:.3f}, "
          f"test accuracy {report['test_accuracy']:.3f}, {seconds:.1f} s, "
          f"replicas identical: {report['replicas_identical']}" + (f", report in {args.out}" if args.out else ""))
    return report


if __name__ == "__main__":
    main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # The work is done, the report written and the process group destroyed. Leave without running the C++
        # static destructors: now and then one of gloo's threads is still joinable when they run, and the process
        # then aborts ("terminate called without an active exception"), which torchrun reports as a failure.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
