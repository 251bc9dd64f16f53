"""The release path holds: pinned images on the runtime's Python, plan -> saved plan -> apply."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILDS = ["cloudbuild.yaml", "cloudbuild-apply.yaml"]
# An exact version (x.y.z, possibly with a suffix) or a digest; never latest/stable/emulators alone.
PINNED = re.compile(r"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$")


def _substitutions(name: str) -> dict[str, str]:
    text = (REPO / name).read_text()
    block = re.search(r"^substitutions:\n((?:  .*\n)+)", text, re.M).group(1)
    return {
        k: v.strip().strip('"')
        for k, v in re.findall(r"^  (\w+):\s*(.*?)\s*(?:#.*)?$", block, re.M)
    }


@pytest.mark.parametrize("name", BUILDS)
def test_every_image_is_pinned_to_an_exact_version(name: str) -> None:
    subs = _substitutions(name)
    images = re.findall(r"^\s+name: (\S+)$", (REPO / name).read_text(), re.M)
    assert images
    for image in images:
        resolved = re.sub(r"\$\{(_\w+)\}", lambda m: subs[m.group(1)], image)
        assert PINNED.match(resolved), f"{name}: {resolved} is not pinned"


def test_the_build_runs_the_functions_python() -> None:
    runtime = re.search(
        r'runtime\s*=\s*"python(\d)(\d+)"',
        (REPO / "terraform/modules/session-pipeline/functions.tf").read_text(),
    )
    ci = re.search(
        r"PYTHON_VERSION:-(\d+)\.(\d+)\.\d+", (REPO / "scripts/ci_python.sh").read_text()
    )
    assert runtime.groups() == ci.groups() == ("3", "11")
    assert 'target-version = "py311"' in (REPO / "pyproject.toml").read_text()
    assert "--python-version 3.11" in (REPO / "Makefile").read_text()


def test_apply_is_off_unless_a_trigger_turns_it_on() -> None:
    assert _substitutions("cloudbuild.yaml")["_APPLY"] == "false"


def test_prod_applies_only_a_saved_plan() -> None:
    plan = (REPO / "cloudbuild.yaml").read_text()
    assert "-out=tfplan" in plan and "apply -input=false -lock-timeout=300s tfplan" in plan
    assert 'if [ "${_ENV}" = prod ] && [ "${_APPLY}" = true ]' in plan
    assert "SHA256SUMS" in plan and "${COMMIT_SHA}" in plan
    apply = (REPO / "cloudbuild-apply.yaml").read_text()
    assert "sha256sum -c --quiet SHA256SUMS" in apply
    assert '"$$(cat COMMIT)" != "${COMMIT_SHA}"' in apply
    assert "-lockfile=readonly" in apply
    assert re.search(r"terraform apply [^\n]* tfplan\n", apply)
    assert "terraform plan" not in apply, "the apply build never plans anew"


@pytest.mark.parametrize("name", BUILDS)
def test_the_last_step_is_the_smoke_test(name: str) -> None:
    steps = re.findall(r"^  - id: (\S+)$", (REPO / name).read_text(), re.M)
    assert steps[-1] == "smoke"
    assert "sessionctl --outputs build/operator.json smoke" in (REPO / name).read_text()


def test_the_secret_script_names_secrets_as_terraform_reads_them() -> None:
    secrets_tf = (REPO / "terraform/modules/session-pipeline/secrets.tf").read_text()
    names = dict(re.findall(r"^\s+(\w+)\s+= \"([a-z-]+)\"", secrets_tf, re.M))
    assert len(names) >= 6
    script = (REPO / "scripts/crm_secret.sh").read_text()
    accepted = re.search(r"case \"\$\{var\}\" in\n(.*?)\) ;;", script, re.S).group(1)
    assert set(re.findall(r"\b[A-Z][A-Z_]+\b", accepted)) == set(names)
    for var, name in names.items():  # the script's rule: lower case, runs of _ -> -
        assert re.sub("_+", "-", var.lower()) == name
