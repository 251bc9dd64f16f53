"""``sessionctl schema``: write the files' JSON Schemas, or check the committed ones.

The schemas are computed by ``shared.domain.schemas`` (pure); this module is the
file I/O around it. ``python -m sessionctl.schema --check`` fails when the
committed files differ from the code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.domain.schemas import encode, schemas


def write_schemas(out_dir: Path) -> list[Path]:
    """Write the schemas under ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = out_dir / name
        path.write_text(encode(schema), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(out_dir: Path) -> list[Path]:
    """The schema files under ``out_dir`` that are missing or differ from the models."""
    stale = []
    for name, schema in schemas().items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != encode(schema):
            stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    """Write the schemas, or with ``--check`` fail when they are stale."""
    parser = argparse.ArgumentParser(prog="sessionctl schema", description=__doc__)
    parser.add_argument("--out", default="schemas", help="directory of the schema files")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas(Path(args.out))
        for path in stale:
            print(f"stale: {path} (run: sessionctl schema --out {args.out})")
        return 1 if stale else 0
    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
