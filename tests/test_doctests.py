"""The examples in the docstrings of every tnnlib module run and print what they show.

One test per module (found on disk, so a new module is covered at once); each
runs all the examples of the module with doctest, comparing output with
NORMALIZE_WHITESPACE and ELLIPSIS. ``__main__`` modules (entry points run with
``python -m``) are left out. Mark an example that cannot run in a test (slow,
random, needs a download) with ``# doctest: +SKIP``.
"""
import doctest
import importlib
import io
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tnnlib"
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _module_names():
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _module_names()


def test_every_package_is_collected():
    assert {"tnnlib", "tnnlib.data", "tnnlib.plotting.common", "tnnlib.nn"} <= set(MODULES)
    assert not [name for name in MODULES if name.endswith("__main__")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name) if t.examples]
    if not tests:
        pytest.skip(f"{name} has no docstring examples")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    results = [runner.run(test, out=report.write) for test in tests]
    failed, attempted = sum(r.failed for r in results), sum(r.attempted for r in results)
    assert failed == 0, f"{failed} of {attempted} examples failed in {name}:\n{report.getvalue()}"
