"""The learner's own copy of the lessons, ``my-lessons/``, which no course command overwrites.

``lessons/`` is generated from ``solutions/`` (``python -m tnnlib.lessons``) and belongs to the
course: a ``git pull`` or a regeneration may change it at any time. A learner works in
``my-lessons/`` instead, next to it (so the lessons' links to ``../figures/`` still resolve).
``python start.py`` calls :func:`sync_workspace` before opening JupyterLab:

- the first time, it copies every lesson into ``my-lessons/``;
- later, it copies only lessons that are new in ``lessons/`` (or whose copy was deleted);
- it never writes to a file that exists in ``my-lessons/``, edited or not. When ``lessons/``
  has a newer version of a lesson already copied, it says so and leaves the copy alone
  (delete or rename your copy to get the new version at the next start).

``my-lessons/`` is ignored by git and never collected by pytest. A class server can run the same
step for each learner: ``python -m tnnlib.workspace [--lessons DIR] [--workspace DIR]``.
Only the standard library is used here.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["WORKSPACE_NAME", "SyncReport", "sync_workspace", "lesson_files"]

WORKSPACE_NAME = "my-lessons"
MANIFEST_NAME = ".copied-from-lessons.json"  # what was copied, with the hash of the version copied
_SKIPPED_DIRS = {".ipynb_checkpoints", "__pycache__"}


@dataclass
class SyncReport:
    """What :func:`sync_workspace` did; paths are relative to the workspace, with ``/``."""

    workspace: Path
    created: bool = False
    copied: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    newer_in_lessons: list = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the terminal."""
        if self.created:
            lines = [f"Created {self.workspace.name}/ with {len(self.copied)} lessons: your own copy, work there."]
        elif self.copied:
            lines = [f"Copied {len(self.copied)} new lesson file(s) into {self.workspace.name}/: "
                     + ", ".join(self.copied)]
        else:
            lines = [f"{self.workspace.name}/ is up to date ({len(self.kept)} files, none touched)."]
        if self.newer_in_lessons:
            lines.append("lessons/ has a newer version of " + ", ".join(self.newer_in_lessons)
                         + "; your copies are kept (delete or rename one to get the new version next time).")
        return "\n".join(lines)


def lesson_files(lessons: Path) -> list:
    """The files of ``lessons`` to copy, relative paths in a stable order (no hidden files, no checkpoints)."""
    lessons = Path(lessons)
    files = []
    for path in sorted(lessons.rglob("*")):
        parts = path.relative_to(lessons).parts
        if path.is_file() and not any(p.startswith(".") or p in _SKIPPED_DIRS for p in parts):
            files.append(Path(*parts))
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_new(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target``, which must not exist: mode "xb" refuses to overwrite, even in a race."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, open(target, "xb") as dst:
        try:
            shutil.copyfileobj(src, dst)
        except BaseException:
            dst.close()
            target.unlink()  # never leave a truncated copy that a later start would keep
            raise


def sync_workspace(lessons: Path, workspace: Path) -> SyncReport:
    """Copy into ``workspace`` every file of ``lessons`` it does not have; never overwrite one.

    Parameters
    ----------
    lessons : Path
        The course's generated lessons (``lessons/``).
    workspace : Path
        The learner's folder (``my-lessons/``); created if missing.

    Returns
    -------
    SyncReport
        ``copied`` (new in the workspace), ``kept`` (already there, untouched) and
        ``newer_in_lessons`` (kept, although ``lessons/`` changed since it was copied).
    """
    lessons, workspace = Path(lessons), Path(workspace)
    if not lessons.is_dir():
        raise FileNotFoundError(f"no lessons folder at {lessons}")
    if workspace.resolve() == lessons.resolve():
        raise ValueError("the workspace must not be the lessons folder itself")
    report = SyncReport(workspace=workspace, created=not workspace.exists())
    workspace.mkdir(parents=True, exist_ok=True)
    manifest_path = workspace / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            manifest = {}
    except (OSError, ValueError):
        manifest = {}
    for relative in lesson_files(lessons):
        key = relative.as_posix()
        source, target = lessons / relative, workspace / relative
        if target.exists():
            report.kept.append(key)
            if key in manifest and manifest[key] != _sha256(source):
                report.newer_in_lessons.append(key)
            continue
        try:
            _copy_new(source, target)
        except FileExistsError:  # appeared meanwhile: the learner's, keep it
            report.kept.append(key)
            continue
        manifest[key] = _sha256(source)
        report.copied.append(key)
    if report.copied:
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return report


def main(argv=None) -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description="Create or complete a learner's copy of the lessons.")
    parser.add_argument("--lessons", type=Path, default=root / "lessons",
                        help="the course's lessons/ (default: %(default)s)")
    parser.add_argument("--workspace", type=Path, default=root / WORKSPACE_NAME,
                        help="the learner's folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        print(sync_workspace(args.lessons, args.workspace).summary())
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
