"""Run the benchmarks: ``python -m tnnlib.bench [SUITE ...] [--quick] [--only FILTERS] [--threads N] [--full]``.

``--full`` and ``--keep DIR`` are options of the notebooks suite.

Suites are the modules listed in ``SUITES``; with no names, all but ``notebooks`` run
(it runs every lesson, which takes minutes in fast mode and hours at full size).
``--quick`` shrinks repeats (a smoke run, not numbers to report).
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform

import torch

from . import format_table

SUITES = {
    # name: module of tnnlib.bench with a run(args) -> list[dict] function
    "decompositions": "decompositions",
    "tt": "tt",
    "layers": "layers",
    "notebooks": "notebooks",  # time to run each lesson top to bottom (fast mode, or --full)
}
DEFAULT_SUITES = ("decompositions", "tt", "layers")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"which suites (default: all but notebooks): {', '.join(SUITES)}")
    parser.add_argument("--quick", action="store_true", help="one repeat, no warm-up: a smoke run")
    parser.add_argument("--only", help="layers suite: filters, e.g. shape=4096,rank=16,batch=512,layer=TTLinear; "
                        "notebooks suite: lesson=07 or lesson=07+08")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads before running (default: torch's); "
                        "notebooks suite: the kernels' TNN_THREADS (default: the course's, min(4, cores))")
    parser.add_argument("--full", action="store_true", help="notebooks suite: full size (default: fast mode)")
    parser.add_argument("--keep", metavar="DIR", help="notebooks suite: also write the executed notebooks, with "
                        "their outputs, to DIR")
    args = parser.parse_args(argv)
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s) {sorted(unknown)}; choose from {sorted(SUITES)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"# tnnlib benchmarks on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, CUDA {'yes' if torch.cuda.is_available() else 'no'}")
    for name in args.suites or DEFAULT_SUITES:
        module = importlib.import_module(f".{SUITES[name]}", __package__)
        print(f"\n## {name}\n")
        print(format_table(module.run(args)))


if __name__ == "__main__":
    main()
