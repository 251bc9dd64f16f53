"""Every resource type, argument and block in terraform/ exists in the Google provider's schema.

Offline: the schema comes from the provider's npm package (see provider_schema.py),
installed by ``make setup``. Each kind of mistake is also made on purpose in a copy
of terraform/ and must be reported, so a checker that stopped looking fails here.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.terraform import provider_schema

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULE = "modules/session-pipeline"


@pytest.fixture
def broken(tmp_path: Path):
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, symlinks=True)

    def edit(relative: str, old: str, new: str) -> Path:
        path = copy / relative
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(" +".join(re.escape(part) for part in old.split(" ")))
        assert pattern.search(text), f"the break {old!r} no longer applies to {relative}"
        path.write_text(pattern.sub(lambda _: new, text, count=1), encoding="utf-8")
        return copy

    return edit


def _findings(tf: Path) -> list[str]:
    findings, _ = provider_schema.schema_findings(tf)
    return findings


def test_terraform_fits_the_provider_schema() -> None:
    findings, checked = provider_schema.schema_findings(TERRAFORM)
    assert findings == []
    blocks = sum(
        len(named)
        for path in TERRAFORM.rglob("*.tf")
        if not path.is_symlink()
        for kind in ("resource", "data", "provider")
        for entry in provider_schema._parse(path).get(kind, [])
        for named in (entry.values() if kind != "provider" else [entry])
    )
    assert checked == blocks > 30, "every resource, data source and provider block was checked"


def test_the_schema_is_the_provider_version_terraform_asks_for() -> None:
    version = tuple(int(p) for p in provider_schema.provider_version().split("."))
    for path in TERRAFORM.rglob("versions.tf"):
        if path.is_symlink():
            continue
        constraint = re.search(r'version\s*=\s*"([^"]+)"', path.read_text()).group(1)
        for clause in constraint.split(","):
            op, wanted = re.match(r"\s*(>=|<|<=|>|=|~>)?\s*([\d.]+)", clause).groups()
            bound = tuple(int(p) for p in wanted.split("."))
            ok = {
                ">=": version >= bound,
                ">": version > bound,
                "<": version < bound,
                "<=": version <= bound,
                None: version == bound,
                "=": version == bound,
                "~>": version >= bound and version[: len(bound) - 1] == bound[:-1],
            }[op]
            assert ok, f"{path}: provider {version} outside {constraint!r}"


def test_an_unknown_resource_type_is_reported(broken) -> None:
    tf = broken(
        f"{MODULE}/scheduler.tf",
        'resource "google_cloud_scheduler_job" "tick"',
        'resource "google_cloud_scheduler_jobs" "tick"',
    )
    assert any("no resource type 'google_cloud_scheduler_jobs'" in f for f in _findings(tf))


def test_an_unknown_data_source_is_reported(broken) -> None:
    tf = broken(f"{MODULE}/main.tf", 'data "google_project" "this"', 'data "google_projekt" "this"')
    assert any("no data type 'google_projekt'" in f for f in _findings(tf))


def test_a_misspelt_argument_is_reported(broken) -> None:
    tf = broken(f"{MODULE}/pubsub.tf", "ack_deadline_seconds = min(", "ack_deadline_secs = min(")
    assert any(
        "google_pubsub_subscription.push" in f and "'ack_deadline_secs': no such argument" in f
        for f in _findings(tf)
    )


def test_a_computed_only_attribute_set_is_reported(broken) -> None:
    tf = broken(
        f"{MODULE}/functions.tf",
        "ingress_settings               =",
        'uri = "https://example.invalid"\n    ingress_settings =',
    )
    assert any("service_config" in f and "'uri': no such argument" in f for f in _findings(tf))


def test_an_argument_in_the_wrong_block_is_reported(broken) -> None:
    tf = broken(
        f"{MODULE}/pubsub.tf",
        "maximum_backoff = local.delivery[each.key].maximum_backoff",
        "maximum_backoff = local.delivery[each.key].maximum_backoff\n    max_delivery_attempts = 5",
    )
    assert any(
        "push.retry_policy" in f and "'max_delivery_attempts': no such argument" in f
        for f in _findings(tf)
    )


def test_an_unknown_nested_block_is_reported(broken) -> None:
    tf = broken(f"{MODULE}/storage.tf", "soft_delete_policy {", "soft_delete {")
    assert any("'soft_delete': no such block" in f for f in _findings(tf))


def test_a_block_written_as_an_argument_is_reported(broken) -> None:
    tf = broken(f"{MODULE}/firestore.tf", "ttl_config {}", "ttl_config = {}")
    assert any("'ttl_config': a block, not an argument" in f for f in _findings(tf))


def test_a_wrong_dynamic_block_is_reported(broken) -> None:
    tf = broken(
        f"{MODULE}/functions.tf",
        'dynamic "secret_environment_variables"',
        'dynamic "secret_env_vars"',
    )
    assert any("dynamic block 'secret_env_vars'" in f for f in _findings(tf))


def test_a_wrong_argument_inside_a_dynamic_block_is_reported(broken) -> None:
    tf = broken(f"{MODULE}/monitoring.tf", "comparison      =", "comparator =")
    assert any("conditions.condition_threshold" in f and "'comparator'" in f for f in _findings(tf))


def test_a_missing_required_argument_is_reported(broken) -> None:
    tf = broken(
        f"{MODULE}/pubsub.tf", "topic    = google_pubsub_topic.this[each.value.topic].id\n", ""
    )
    assert any(
        "google_pubsub_subscription.push" in f and "required 'topic' is not set" in f
        for f in _findings(tf)
    )


def test_a_wrong_provider_argument_is_reported(broken) -> None:
    tf = broken(
        "environments/_shared/versions.tf", "region  = var.region", "zone_name = var.region"
    )
    assert any("provider google" in f and "'zone_name'" in f for f in _findings(tf))


def test_a_missing_package_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(provider_schema.SchemaUnavailable, match="make setup"):
        provider_schema.schema_findings(TERRAFORM, package=tmp_path / "nothing")
