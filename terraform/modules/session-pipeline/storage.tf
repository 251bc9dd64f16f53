# The bucket of metadata-{id}.json and datastream-{id}.json files.
#
# No bucket retention policy (Bucket Lock) is offered: the finalizer
# overwrites a session's files when late events arrive, which a retention
# policy forbids, and a retention policy excludes object versioning.
# Retention is expressed with lifecycle rules and soft delete instead.

resource "google_storage_bucket" "files" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (data access logs); legacy usage logs would need a second bucket.
  project = var.project_id
  name = coalesce(
    var.files_bucket.name, "${var.project_id}-${local.prefix}session-files"
  )
  location                    = coalesce(var.files_bucket.location, var.region)
  storage_class               = var.files_bucket.storage_class
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels
  # Late events make the finalizer overwrite a session's files: the
  # replaced versions are kept for noncurrent_delete_after_days.
  versioning {
    enabled = true
  }
  soft_delete_policy {
    retention_duration_seconds = (
      var.files_bucket.soft_delete_retention_days * 86400
    )
  }
  dynamic "lifecycle_rule" {
    for_each = var.files_bucket.delete_after_days == null ? [] : [""]
    content {
      action {
        type = "Delete"
      }
      condition {
        age        = var.files_bucket.delete_after_days
        with_state = "LIVE"
      }
    }
  }
  lifecycle_rule {
    action {
      type = "Delete"
    }
    condition {
      days_since_noncurrent_time = (
        var.files_bucket.noncurrent_delete_after_days
      )
      with_state = "ARCHIVED"
    }
  }
  depends_on = [google_project_service.this]
}
