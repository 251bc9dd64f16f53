"""Stage each Cloud Function's source the way the Python runtime wants it.

``build/functions/<name>/`` gets ``main.py`` at the root (the runtime loads
it from there), a copy of the ``shared`` package, and ``requirements.txt``:
the hashed runtime lock ``requirements/runtime.txt``, the same versions the
tests install from ``requirements/dev.txt``. ``build/functions/<name>.zip`` is the same
tree zipped deterministically: sorted entries, fixed timestamps and modes,
so identical inputs give byte-identical archives and Terraform, which names
the uploaded object after the archive's hash, redeploys only on a change.

One command serves Cloud Build and a local ``terraform plan`` alike::

    sessionctl stage --out build/functions
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "shared"
# The hashed lock of [project.dependencies] and all they pull in: the functions install
# exactly what the tests ran with (pip checks every hash).
RUNTIME_LOCK = "requirements/runtime.txt"
_IGNORED = ("__pycache__", "*.pyc", "*.pyo", ".*")
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can carry


class StageError(RuntimeError):
    """The sources cannot be staged as asked."""


def function_names(repo_root: Path = REPO_ROOT) -> list[str]:
    """Every ``functions/<name>/`` holding a ``main.py``."""
    return sorted(p.parent.name for p in (repo_root / "functions").glob("*/main.py"))


def pinned_requirements(repo_root: Path = REPO_ROOT) -> str:
    """requirements.txt: the hashed runtime lock, every dependency pinned (``make lock``)."""
    lock = repo_root / RUNTIME_LOCK
    try:
        return lock.read_text(encoding="utf-8")
    except OSError as exc:
        raise StageError(f"cannot read {RUNTIME_LOCK}: {exc}; run `make lock`") from exc


def _files(root: Path) -> Iterable[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def write_zip(source_dir: Path, archive: Path) -> Path:
    """Zip ``source_dir`` so that the same files always give the same bytes."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(archive.suffix + ".partial")
    with zipfile.ZipFile(partial, "w") as zf:
        for path in _files(source_dir):
            info = zipfile.ZipInfo(path.relative_to(source_dir).as_posix(), _ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            info.create_system = 3  # unix, whatever this machine is
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(archive)
    return archive


def stage_functions(
    out_dir: Path,
    *,
    names: Iterable[str] | None = None,
    zip_archives: bool = True,
    repo_root: Path = REPO_ROOT,
) -> list[Path]:
    """Stage every function (or ``names``) under ``out_dir``; return the staged directories.

    With ``zip_archives``, ``out_dir/<name>.zip`` is written next to each directory.
    """
    out_dir = Path(out_dir)
    available = function_names(repo_root)
    chosen = available if names is None else sorted(names)
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise StageError(f"no functions/<name>/main.py for {unknown}; have {available}")
    if not chosen:
        raise StageError(f"no functions under {repo_root / 'functions'}")
    requirements = pinned_requirements(repo_root)
    staged = []
    for name in chosen:
        target = out_dir / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copy2(repo_root / "functions" / name / "main.py", target / "main.py")
        shutil.copytree(
            repo_root / PACKAGE, target / PACKAGE, ignore=shutil.ignore_patterns(*_IGNORED)
        )
        (target / "requirements.txt").write_text(requirements, encoding="utf-8")
        if zip_archives:
            write_zip(target, out_dir / f"{name}.zip")
        staged.append(target)
    return staged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sessionctl stage",
        description="Stage each function's deployable source (main.py, shared/, requirements).",
    )
    parser.add_argument("--out", default="build/functions", help="output directory")
    parser.add_argument("--no-zip", action="store_true", help="stage directories only")
    parser.add_argument(
        "names", nargs="*", help="functions to stage (default: every functions/<name>/main.py)"
    )
    args = parser.parse_args(argv)
    try:
        staged = stage_functions(
            Path(args.out), names=args.names or None, zip_archives=not args.no_zip
        )
    except StageError as exc:
        print(f"stage: {exc}", file=sys.stderr)
        return 1
    for path in staged:
        suffix = "" if args.no_zip else f" + {path.name}.zip"
        print(f"staged {path}{suffix}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
