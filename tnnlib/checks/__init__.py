"""Exercise checkers, one module per lesson (``lesson01`` checks lesson 01).

Importing a module registers its exercises in :data:`tnnlib.checking.REGISTRY`.
:func:`load_all` imports every lesson's module (the tests use it).
"""
import importlib
import pkgutil


def load_all():
    """Import every ``tnnlib.checks.lessonNN`` module; return their names."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names
