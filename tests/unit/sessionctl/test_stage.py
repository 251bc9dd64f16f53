"""sessionctl stage: each function's source laid out the way the runtime loads it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts import check_lock
from sessionctl import stage

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("functions")
    stage.stage_functions(out)
    return out


def test_every_function_is_staged_with_main_py_at_the_root(staged: Path) -> None:
    names = sorted(p.parent.name for p in (REPO / "functions").glob("*/main.py"))
    assert names, "the repository has functions to stage"
    for name in names:
        assert (staged / name / "main.py").read_bytes() == (
            REPO / "functions" / name / "main.py"
        ).read_bytes()
        assert (staged / name / "shared" / "__init__.py").is_file()
        assert (staged / f"{name}.zip").is_file()


def test_the_shared_package_is_copied_without_caches(staged: Path) -> None:
    for name in stage.function_names():
        copied = {
            p.relative_to(staged / name / "shared")
            for p in (staged / name / "shared").rglob("*.py")
        }
        source = {
            p.relative_to(REPO / "shared")
            for p in (REPO / "shared").rglob("*.py")
            if "__pycache__" not in p.parts
        }
        assert copied == source
        assert not list((staged / name).rglob("__pycache__"))
        assert not list((staged / name).rglob("*.pyc"))


def test_requirements_are_the_hashed_runtime_lock(staged: Path) -> None:
    lock = (REPO / "requirements" / "runtime.txt").read_text()
    for name in stage.function_names():
        assert (staged / name / "requirements.txt").read_text() == lock
    pins = check_lock.read_lock(REPO / "requirements" / "runtime.txt")
    assert {"functions-framework", "google-cloud-firestore", "pydantic-settings"} <= set(pins)
    assert {"grpcio", "protobuf", "google-auth"} <= set(pins), "transitive ones are pinned too"


def test_the_lock_fits_pyproject() -> None:
    assert check_lock.lock_findings() == []


def test_a_stale_or_unhashed_lock_is_reported(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    project = (REPO / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(
        project.replace('"orjson>=3.9,<4",', '"orjson>=3.9,<4",\n  "left-pad>=1",')
    )
    runtime = (REPO / "requirements" / "runtime.txt").read_text()
    (tmp_path / "requirements" / "runtime.txt").write_text(
        runtime.replace("httpx==0.28.1", "httpx==0.26.0")
    )
    dev = (REPO / "requirements" / "dev.txt").read_text()
    unhashed = re.sub(r"(ruff==[^ ]+) \\\n(\s+--hash=sha256:\w+( \\)?\n)+", r"\1\n", dev)
    assert unhashed != dev
    (tmp_path / "requirements" / "dev.txt").write_text(unhashed)
    findings = check_lock.lock_findings(tmp_path)
    assert any("runtime.txt does not pin left-pad" in f for f in findings), findings
    assert any("httpx==0.26.0, outside" in f for f in findings), findings
    assert any("dev.txt: no --hash for ruff" in f for f in findings), findings


def test_the_staged_function_imports_its_own_shared_copy(staged: Path) -> None:
    probe = (
        "import main, shared, pathlib; "
        "print(pathlib.Path(shared.__file__).resolve().parent); "
        "print(callable(getattr(main, 'finalize')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=staged / "finalize",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shared_dir, has_entry_point = done.stdout.split()
    assert Path(shared_dir) == (staged / "finalize" / "shared").resolve()
    assert has_entry_point == "True"


def test_archives_are_byte_identical_on_two_runs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "functions", repo / "functions")
    shutil.copytree(REPO / "shared", repo / "shared")
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    shutil.copytree(REPO / "requirements", repo / "requirements")
    stage.stage_functions(tmp_path / "one", names=["ingest"], repo_root=repo)
    os.utime(repo / "functions" / "ingest" / "main.py", (0, 0))  # mtimes must not matter
    os.utime(repo / "shared" / "config.py", (0, 0))
    stage.stage_functions(tmp_path / "two", names=["ingest"], repo_root=repo)
    one, two = (tmp_path / d / "ingest.zip" for d in ("one", "two"))
    assert one.read_bytes() == two.read_bytes()


def test_an_archive_holds_the_staged_tree(staged: Path) -> None:
    with zipfile.ZipFile(staged / "crm.zip") as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert "main.py" in names and "requirements.txt" in names
        assert "shared/config.py" in names
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    on_disk = sorted(
        p.relative_to(staged / "crm").as_posix() for p in (staged / "crm").rglob("*") if p.is_file()
    )
    assert names == on_disk


def test_main_stages_into_the_given_directory(tmp_path: Path, capsys) -> None:
    assert stage.main(["--out", str(tmp_path / "out"), "--no-zip", "crm"]) == 0
    assert (tmp_path / "out" / "crm" / "main.py").is_file()
    assert not (tmp_path / "out" / "crm.zip").exists()
    assert "staged" in capsys.readouterr().out


def test_main_refuses_an_unknown_function(tmp_path: Path, capsys) -> None:
    assert stage.main(["--out", str(tmp_path), "nosuch"]) == 1
    assert "nosuch" in capsys.readouterr().err
