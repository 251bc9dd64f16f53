"""Refuse a stale lock: every requirement of pyproject.toml must be pinned, hashed, in range.

``make setup`` runs it after installing from ``requirements/dev.txt`` so that an edit of
``pyproject.toml`` without ``make lock`` fails with one line naming the fix, instead of a
test failing later on a missing module. Both lock files are checked: ``runtime.txt`` (what
the functions are staged with) against ``[project.dependencies]``, ``dev.txt`` against
those plus the ``dev`` extra, and the two must pin shared packages to the same versions.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def read_lock(path: Path) -> dict[str, str]:
    """name -> pinned version; raises if a pin carries no hash."""
    pins: dict[str, str] = {}
    current: str | None = None
    hashed: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = match.group(2)
        elif current and line.strip().startswith("--hash=sha256:"):
            hashed.add(current)
    unhashed = sorted(set(pins) - hashed)
    if unhashed:
        raise ValueError(f"{path.name}: no --hash for {', '.join(unhashed)}")
    return pins


def _extra(project: dict, name: str, seen: set[str]) -> list[Requirement]:
    """The requirements of one extra, following ``<this project>[other]`` references."""
    seen.add(name)
    own = canonicalize_name(project["name"])
    out: list[Requirement] = []
    for line in project.get("optional-dependencies", {}).get(name, []):
        req = Requirement(line)
        if canonicalize_name(req.name) != own:
            out.append(req)
            continue
        for extra in sorted(req.extras - seen):
            out += _extra(project, extra, seen)
    return out


def lock_findings(repo: Path = REPO) -> list[str]:
    """One sentence per problem; empty when both locks fit pyproject.toml."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = [Requirement(r) for r in project.get("dependencies", [])]
    dev = runtime + _extra(project, "dev", set())
    findings: list[str] = []
    locks: dict[str, dict[str, str]] = {}
    for name, wanted in (("runtime.txt", runtime), ("dev.txt", dev)):
        path = repo / "requirements" / name
        try:
            pins = locks[name] = read_lock(path)
        except (OSError, ValueError) as exc:
            findings.append(str(exc))
            continue
        for req in wanted:
            version = pins.get(canonicalize_name(req.name))
            if version is None:
                findings.append(f"requirements/{name} does not pin {req.name}")
            elif not req.specifier.contains(version, prereleases=True):
                findings.append(
                    f"requirements/{name} pins {req.name}=={version}, outside {req.specifier}"
                )
    if len(locks) == 2:
        for pkg, version in sorted(locks["runtime.txt"].items()):
            other = locks["dev.txt"].get(pkg)
            if other != version:
                findings.append(f"dev.txt pins {pkg}=={other}, runtime.txt {version}")
    return findings


def main() -> int:
    findings = lock_findings()
    for finding in findings:
        print(f"lock: {finding}", file=sys.stderr)
    if findings:
        print("lock: pyproject.toml and requirements/ disagree: run `make lock`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
