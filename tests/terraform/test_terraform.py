"""The Terraform configuration against the code: offline, from the HCL alone.

Each assertion runs twice: on the real ``terraform/`` (must be clean), and on
a copy broken on purpose (must be reported), so a checker that silently
stopped looking would fail here.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from shared.adapters.firestore_schedule import COMPOSITE_INDEXES
from shared.config import Settings
from tests.terraform import checks

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
FUNCTIONS = REPO / "functions"
MODULE = Path("modules/session-pipeline")

# Settings whose code default is right in the cloud, so Terraform need not set
# them: env name (or a nested group's prefix ending in "__") -> why.
# Everything else in shared.config.Settings must be set by Terraform.
ALLOWED_DEFAULTS: dict[str, str] = {}

# The only roles Terraform may grant, and the resource types they may be
# granted on (narrowest resource that takes the role).
ALLOWED_ROLES: dict[str, set[str]] = {
    # Firestore has no IAM below the project.
    "roles/datastore.user": {"google_project_iam_member"},
    # finalize: read back and overwrite its files (generation preconditions).
    "roles/storage.objectUser": {"google_storage_bucket_iam_member"},
    # crm: read the files.
    "roles/storage.objectViewer": {"google_storage_bucket_iam_member"},
    # finalize -> finalized topic, ingest -> crm-jobs, the platform -> events,
    # Pub/Sub agent -> dead-letter topics.
    "roles/pubsub.publisher": {"google_pubsub_topic_iam_member"},
    # Pub/Sub agent acknowledges what it dead-letters, on the source subscriptions.
    "roles/pubsub.subscriber": {"google_pubsub_subscription_iam_member"},
    # crm: its credentials, one secret at a time.
    "roles/secretmanager.secretAccessor": {"google_secret_manager_secret_iam_member"},
    # The push identity invokes each function's Cloud Run service.
    "roles/run.invoker": {
        "google_cloud_run_service_iam_member",
        "google_cloud_run_v2_service_iam_member",
    },
    # Pub/Sub agent mints the push identity's OIDC tokens.
    "roles/iam.serviceAccountTokenCreator": {"google_service_account_iam_member"},
}


@pytest.fixture
def broken(tmp_path: Path):
    """A copy of terraform/ and an editor that must find what it replaces."""
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))

    def edit(relative: str, old: str, new: str) -> Path:
        """Replace ``old`` once; runs of spaces in ``old`` match any alignment."""
        path = copy / MODULE / relative
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(" +".join(re.escape(part) for part in old.split(" ")))
        assert pattern.search(text), f"the break {old!r} no longer applies to {relative}"
        path.write_text(pattern.sub(lambda _: new, text, count=1), encoding="utf-8")
        return copy

    def append(relative: str, hcl: str) -> Path:
        path = copy / MODULE / relative
        path.write_text(path.read_text(encoding="utf-8") + "\n" + hcl, encoding="utf-8")
        return copy

    def remove_block(relative: str, header: str) -> Path:
        path = copy / MODULE / relative
        text = path.read_text(encoding="utf-8")
        start = text.index(header)
        end = text.index("\n}\n", start) + len("\n}\n")
        path.write_text(text[:start] + text[end:], encoding="utf-8")
        return copy

    edit.append = append  # type: ignore[attr-defined]
    edit.remove_block = remove_block  # type: ignore[attr-defined]
    edit.root = copy  # type: ignore[attr-defined]
    return edit


def _mentions(findings: list[str], *words: str) -> bool:
    return any(all(word in finding for word in words) for finding in findings)


# --- every function in functions/ is deployed with the right entry point -------------------


def test_every_function_is_deployed_from_its_own_source_with_its_entry_point() -> None:
    assert checks.function_findings(TERRAFORM, FUNCTIONS) == []


def test_a_wrong_entry_point_is_reported(broken) -> None:
    tf = broken("main.tf", 'entry_point = "ingest"', 'entry_point = "ingest_main"')
    findings = checks.function_findings(tf, FUNCTIONS)
    assert _mentions(findings, "ingest_main", "functions/ingest/main.py")


def test_a_function_that_is_not_deployed_is_reported(broken, tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    shutil.copytree(FUNCTIONS, functions, ignore=shutil.ignore_patterns("__pycache__"))
    (functions / "replay").mkdir()
    (functions / "replay" / "main.py").write_text(
        "import functions_framework\n\n\n"
        "@functions_framework.cloud_event\n"
        "def replay(cloud_event):\n"
        "    pass\n",
        encoding="utf-8",
    )
    findings = checks.function_findings(broken.root, functions)
    assert _mentions(findings, "functions/replay", "not deployed")


def test_a_function_deployed_from_another_functions_source_is_reported(broken) -> None:
    tf = broken(
        "functions.tf",
        "object = google_storage_bucket_object.source[each.key].name",
        'object = google_storage_bucket_object.source["ingest"].name',
    )
    findings = checks.function_findings(tf, FUNCTIONS)
    assert _mentions(findings, "entry_point", "functions/ingest/main.py")
    assert _mentions(findings, "functions/crm", "not deployed")


# --- the environment is exactly what shared.config.Settings reads --------------------------


def test_terraform_sets_exactly_the_settings_the_code_reads() -> None:
    assert checks.env_findings(TERRAFORM, Settings, ALLOWED_DEFAULTS) == []


def test_an_env_var_the_code_does_not_read_is_reported(broken) -> None:
    tf = broken(
        "functions.tf",
        'ALLOW_TICK_NOW = "false"',
        'ALLOW_TICK_NOW = "false"\n    FINALISE_DELAY = "60"',
    )
    findings = checks.env_findings(tf, Settings, ALLOWED_DEFAULTS)
    assert _mentions(findings, "FINALISE_DELAY", "does not read")


def test_a_setting_terraform_does_not_set_is_reported(broken) -> None:
    tf = broken("functions.tf", "TIMEZONE = var.pipeline.timezone\n", "")
    findings = checks.env_findings(tf, Settings, ALLOWED_DEFAULTS)
    assert _mentions(findings, "TIMEZONE", "no function gets it")
    # ...unless its default is allowed, with a reason.
    allowed = {**ALLOWED_DEFAULTS, "TIMEZONE": "files are stamped in UTC everywhere"}
    assert checks.env_findings(tf, Settings, allowed) == []


def test_a_nested_settings_group_left_unset_is_reported(broken) -> None:
    tf = broken("functions.tf", "CRM = jsonencode(var.crm.settings)\n", "")
    findings = checks.env_findings(tf, Settings, ALLOWED_DEFAULTS)
    assert _mentions(findings, "CRM__KIND", "no function gets it")
    assert not _mentions(findings, "CRM__ZENDESK__API_TOKEN")  # still a secret env var


def test_a_secret_env_var_the_code_does_not_read_is_reported(broken) -> None:
    tf = broken(
        "secrets.tf",
        'WEBHOOK_SECRET = "webhook-secret"',
        'WEBHOOK_SECRET = "webhook-secret"\n    CRM_PASSWORD = "crm-password"',
    )
    findings = checks.env_findings(tf, Settings, ALLOWED_DEFAULTS)
    assert _mentions(findings, "CRM_PASSWORD", "does not read")


def test_allow_tick_now_on_in_the_cloud_is_reported(broken) -> None:
    tf = broken("functions.tf", 'ALLOW_TICK_NOW = "false"', 'ALLOW_TICK_NOW = "true"')
    findings = checks.env_findings(tf, Settings, ALLOWED_DEFAULTS)
    assert _mentions(findings, "ALLOW_TICK_NOW must be false")


def test_a_stale_allowed_default_is_reported() -> None:
    findings = checks.env_findings(TERRAFORM, Settings, {"NO_SUCH_SETTING": "gone"})
    assert _mentions(findings, "NO_SUCH_SETTING", "not a setting")


# --- every composite query has its index ----------------------------------------------------


def test_every_composite_query_of_the_code_has_its_index() -> None:
    assert COMPOSITE_INDEXES, "the code declares its composite queries"
    assert checks.index_findings(TERRAFORM, COMPOSITE_INDEXES) == []


def test_a_missing_index_is_reported(broken) -> None:
    tf = broken.remove_block(
        "firestore.tf", 'resource "google_firestore_index" "sessions_pending_due_at"'
    )
    assert checks.declared_indexes(tf) == ([], [])
    findings = checks.index_findings(tf, COMPOSITE_INDEXES)
    assert _mentions(findings, "'sessions'", "pending ASCENDING, due_at ASCENDING")


def test_an_index_on_other_fields_is_reported(broken) -> None:
    tf = broken("firestore.tf", 'field_path = "due_at"', 'field_path = "finalize_after"')
    findings = checks.index_findings(tf, COMPOSITE_INDEXES)
    assert _mentions(findings, "'sessions'", "due_at ASCENDING")


def test_an_index_in_the_wrong_order_is_reported(broken) -> None:
    tf = broken(
        "firestore.tf",
        'field_path = "due_at"\n    order      = "ASCENDING"',
        'field_path = "due_at"\n    order      = "DESCENDING"',
    )
    findings = checks.index_findings(tf, COMPOSITE_INDEXES)
    assert _mentions(findings, "'sessions'", "pending ASCENDING, due_at ASCENDING")


# --- no role outside the allowed list --------------------------------------------------------


def test_only_allowed_roles_are_granted_on_allowed_resources() -> None:
    assert checks.role_findings(TERRAFORM, ALLOWED_ROLES) == []


@pytest.mark.parametrize("role", ["roles/owner", "roles/editor", "roles/datastore.owner"])
def test_a_role_outside_the_list_is_reported(broken, role: str) -> None:
    tf = broken.append(
        "iam.tf",
        f'resource "google_project_iam_member" "too_much" {{\n'
        f"  project = var.project_id\n"
        f'  role    = "{role}"\n'
        f'  member  = google_service_account.function["ingest"].member\n'
        f"}}\n",
    )
    findings = checks.role_findings(tf, ALLOWED_ROLES)
    assert _mentions(findings, "too_much", role, "not an allowed role")


def test_an_allowed_role_on_too_wide_a_resource_is_reported(broken) -> None:
    tf = broken.append(
        "iam.tf",
        'resource "google_project_iam_member" "all_buckets" {\n'
        "  project = var.project_id\n"
        '  role    = "roles/storage.objectUser"\n'
        '  member  = google_service_account.function["finalize"].member\n'
        "}\n",
    )
    findings = checks.role_findings(tf, ALLOWED_ROLES)
    assert _mentions(findings, "all_buckets", "allowed only on")


# --- nothing is public ---------------------------------------------------------------------------


def test_no_resource_is_public() -> None:
    assert checks.public_findings(TERRAFORM) == []


def test_a_public_member_is_reported(broken) -> None:
    tf = broken.append(
        "iam.tf",
        'resource "google_storage_bucket_iam_member" "world" {\n'
        "  bucket = google_storage_bucket.files.name\n"
        '  role   = "roles/storage.objectViewer"\n'
        '  member = "allUsers"\n'
        "}\n",
    )
    assert _mentions(checks.public_findings(tf), "world", "allUsers")


def test_a_publicly_invokable_function_is_reported(broken) -> None:
    tf = broken(
        "iam.tf",
        "member   = google_service_account.push.member",
        'member   = "allAuthenticatedUsers"',
    )
    assert _mentions(checks.public_findings(tf), "push_invoker", "allAuthenticatedUsers")


def test_a_bucket_without_public_access_prevention_is_reported(broken) -> None:
    tf = broken(
        "storage.tf",
        'public_access_prevention    = "enforced"',
        'public_access_prevention    = "inherited"',
    )
    assert _mentions(checks.public_findings(tf), "google_storage_bucket.files", "inherited")


def test_a_function_open_to_all_ingress_is_reported(broken) -> None:
    tf = broken("functions.tf", '"ALLOW_INTERNAL_ONLY"', '"ALLOW_ALL"')
    assert _mentions(checks.public_findings(tf), "google_cloudfunctions2_function", "ALLOW_ALL")
