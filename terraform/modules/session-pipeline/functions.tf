# The functions (2nd gen), their staged sources, and their settings.
#
# Sources: `sessionctl stage` (sessionctl/stage.py) writes
# build/functions/<name>.zip with main.py at the root, the shared package
# and pinned requirements. The archives are byte-identical for identical
# inputs, so the object name (content hash) changes, and the function is
# rebuilt, only when the code or its pins change.

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Holds build inputs only, reproducible from git; Cloud Audit Logs cover access.
  project                     = var.project_id
  name                        = "${var.project_id}-${local.prefix}fn-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # archives are rebuilt from git
  labels                      = local.labels
  versioning {
    enabled = true
  }
  lifecycle_rule {
    action {
      type = "Delete"
    }
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
  }
  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions
  bucket   = google_storage_bucket.sources.name
  name = format(
    "%s-%s.zip",
    each.key,
    filemd5("${var.function_source_dir}/${each.key}.zip"),
  )
  source = "${var.function_source_dir}/${each.key}.zip"
}

locals {
  # Every setting of shared.config.Settings the cloud needs, given to every
  # function so that none of them runs on a default that differs from this
  # environment's value. Names are the Settings fields upper-cased;
  # tests/terraform holds this map against the Settings class.
  environment = {
    ALLOW_TICK_NOW      = "false" # a tick's own "now" is for tests only
    BUCKET              = google_storage_bucket.files.name
    CLAIM_LEASE_SECONDS = tostring(var.pipeline.claim_lease_seconds)
    # CRM rules as JSON; credentials come as CRM__<CRM>__<FIELD> secrets.
    CRM = jsonencode(var.crm.settings)
    # The budget is per instance: split the deployment's among the crm instances.
    CRM_CALLS_PER_MINUTE = tostring(
      var.crm.calls_per_minute == 0 ? 0 : max(1, floor(
        var.crm.calls_per_minute / var.function_config.crm.max_instances
      ))
    )
    CRM_COLLECTION               = local.collections.crm_deliveries
    CRM_DEAD_LETTERS_COLLECTION  = local.collections.crm_dead_letters
    CRM_JOBS_TOPIC               = local.topics.crm_jobs
    CRM_RECORDS_COLLECTION       = local.collections.crm_records
    CRM_TIMEOUT_SECONDS          = tostring(var.crm.timeout_seconds)
    EVENTS_TOPIC                 = local.topics.events
    FINALIZED_TOPIC              = local.topics.finalized
    FINALIZE_BATCH_SIZE          = tostring(var.pipeline.finalize_batch_size)
    FINALIZE_DELAY_SECONDS       = tostring(var.pipeline.finalize_delay_seconds)
    FINALIZE_JOBS_TOPIC          = local.topics.finalize_jobs
    FINALIZE_JOB_SIZE            = tostring(var.pipeline.finalize_job_size)
    FINALIZE_ROUND_LEASE_SECONDS = tostring(var.pipeline.finalize_round_lease_seconds)
    FINALIZE_TICK_LIMIT          = tostring(var.pipeline.finalize_tick_limit)
    FIRESTORE_DATABASE           = google_firestore_database.this.name
    INCLUDE_END_USER_CONTACT     = tostring(var.pipeline.include_end_user_contact)
    INCLUDE_TRANSCRIPT           = tostring(var.pipeline.include_transcript)
    OBJECT_PREFIX                = var.pipeline.object_prefix
    PROJECT_ID                   = var.project_id
    QUARANTINE_COLLECTION        = local.collections.quarantine
    SESSIONS_COLLECTION          = local.collections.sessions
    STATE_RETENTION_DAYS         = tostring(var.pipeline.state_retention_days)
    STUCK_TIMEOUT_SECONDS        = tostring(var.pipeline.stuck_timeout_seconds)
    TICKS_TOPIC                  = local.topics.ticks
    TIMEZONE                     = var.pipeline.timezone
    WEBHOOK_URL                  = var.crm.webhook_url
  }

  function_uris = {
    for k, f in google_cloudfunctions2_function.this : k => f.service_config[0].uri
  }

  # Secret environment variables per function (see secrets.tf).
  function_secrets = {
    crm             = local.crm_secrets
    finalize        = {}
    finalize_worker = {}
    ingest          = {}
  }
}

resource "google_cloudfunctions2_function" "this" {
  for_each    = local.functions
  project     = var.project_id
  location    = var.region
  name        = "${local.prefix}${replace(each.key, "_", "-")}" # no "_" in service names
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime     = "python311"
    entry_point = each.value.entry_point
    service_account = (
      var.build_service_account == null
      ? null
      : "projects/${var.project_id}/serviceAccounts/${var.build_service_account}"
    )
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    available_cpu                    = var.function_config[each.key].cpu
    available_memory                 = var.function_config[each.key].memory
    timeout_seconds                  = var.function_config[each.key].timeout_seconds
    max_instance_count               = var.function_config[each.key].max_instances
    min_instance_count               = var.function_config[each.key].min_instances
    max_instance_request_concurrency = var.function_config[each.key].concurrency
    # Pub/Sub push from this project counts as internal traffic.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email
    environment_variables          = local.environment

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets[each.key]
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = data.google_secret_manager_secret.crm[secret_environment_variables.key].secret_id
        # A pinned version makes a rotation a deliberate new revision.
        version = lookup(
          var.secret_versions, secret_environment_variables.key, "latest"
        )
      }
    }
  }

  lifecycle {
    precondition {
      condition = length(setsubtract(
        var.crm.credentials, keys(local.crm_secret_names)
      )) == 0
      error_message = "crm.credentials may only name: ${join(", ", keys(local.crm_secret_names))}."
    }
    precondition {
      condition = (
        var.crm.webhook_url == "" || contains(var.crm.credentials, "WEBHOOK_SECRET")
      )
      error_message = "A webhook_url needs WEBHOOK_SECRET in crm.credentials."
    }
  }

  # The finalizer's query fails without its composite index, and an index
  # takes minutes to build: no function runs before the indexes and TTL
  # policies exist.
  depends_on = [
    google_project_service.this,
    google_project_iam_member.datastore_user,
    google_secret_manager_secret_iam_member.crm_accessor,
    google_firestore_index.sessions_pending_due_at,
    google_firestore_field.expire_at,
  ]
}
